import Foundation
import Logging
import Testing
@testable import Delivery
import MailMessage
import PostgresTestSupport
import Rules
@testable import TicketStore

/// The stores the tests run against.


/// A fresh database per test (a SQLite file, or a schema on the test PostgreSQL server), and
/// deliveries the way wt-deliver makes them.
final class Desk {
    let dir: URL
    let store: SQLStore
    let postgres: TestPostgres.Database?
    var path: String { dir.appendingPathComponent("wt.db").path }

    init(_ backend: Backend = .sqlite) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("wt-delivery-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        (store, postgres) = try freshStore(backend, sqlitePath: dir.appendingPathComponent("wt.db").path)
    }

    deinit { try? FileManager.default.removeItem(at: dir) }

    @discardableResult
    func deliver(_ bytes: [UInt8], sender: String? = "ann@example.org", recipient: String? = "helpdesk@wt.test") throws -> DeliveryReport {
        try Deliverer(store: store, logger: Logger(label: "test")).deliver(
            ByteBuffer(bytes), envelope: Envelope(sender: sender, recipient: recipient, receivedAt: 1_800_000_000))
    }

    func scalar(_ sql: String) throws -> String? {
        try store.db.scalar(sql)?.text
    }
}

func mail(subject: String = "Printer on fire", from: String = "Ann Example <ann@example.org>", headers: String = "",
          body: String = "The printer in room 2 is on fire.") -> [UInt8] {
    Array("From: \(from)\r\nTo: helpdesk@wt.test\r\nSubject: \(subject)\r\nMessage-ID: <\(UUID().uuidString)@example.org>\r\n\(headers)\r\n\(body)\r\n".utf8)
}

@Suite struct RulesThroughDeliveryTests {
    func desk(_ rules: [RuleRecord], _ backend: Backend = .sqlite) throws -> Desk {
        let d = try Desk(backend)
        try d.store.addTicketType(TicketTypeRecord(name: "Network", technician: nil, notifyEmails: []))
        for r in rules { try d.store.addRule(r) }
        return d
    }

    func rule(_ name: String, _ text: String, order: Int, priority: String = "High") -> RuleRecord {
        RuleRecord(name: name, textToMatch: text, ticketType: "Network", priority: priority, order: order, enabled: true)
    }

    @Test(arguments: Backend.allCases) func tiesInOrderGoToTheOldestRule(_ backend: Backend) throws {
        // Both match; both have order 3; the one added first wins, whatever their names or ids.
        let d = try desk([rule("zz added first", "disk", order: 3, priority: "Urgent"), rule("aa added second", "disk full", order: 3)], backend)
        let r = try d.deliver(mail(subject: "Disk full on srv1"))
        #expect(r.matchedRule == "zz added first")
        #expect(try d.scalar("SELECT priority FROM tickets") == "Urgent")
        // Moving the older rule's order past the other's changes the winner.
        try d.store.updateRule(named: "zz added first", to: rule("zz added first", "disk", order: 4, priority: "Urgent"))
        #expect(try d.deliver(mail(subject: "Disk full on srv2")).matchedRule == "aa added second")
    }

    @Test func lowerOrderWinsAndTheMatchIsRecorded() throws {
        let d = try desk([rule("Internet Problem 2", "Internet Down", order: 5, priority: "Urgent"), rule("Internet Problem", "Internet", order: 2)])
        try d.deliver(mail(subject: "hello", body: "Since 8:00 the INTERNET DOWN again"))
        #expect(try d.scalar("SELECT priority FROM tickets") == "High")
        #expect(try d.scalar("SELECT detail FROM ticket_events")?.contains("rule: Internet Problem (body: \"INTERNET\")") == true)
    }

    @Test func aRuleTextAtTheEndOfALongBodyIsLocatedInOnePass() throws {
        // 5 MB of body, the 60-character text on its last line: the match and where it stands.
        let text = "escalate to the network operations centre at once, please!!"
        let d = try desk([rule("noc", text, order: 1)])
        let body = String(repeating: "lorem ipsum dolor sit amet consectetur\r\n", count: 130_000) + text.uppercased()
        let r = try d.deliver(mail(body: body))
        #expect(r.matchedRule == "noc")
        #expect(try d.scalar("SELECT detail FROM ticket_events")?.contains("(body: \"\(text.uppercased())\")") == true)
    }

    @Test func aDamagedStoredIndexIsRebuiltNotTrusted() throws {
        let d = try desk([rule("vpn", "vpn", order: 1)])
        try d.deliver(mail(subject: "VPN down"))
        #expect(try d.scalar("SELECT count(*) FROM rule_index") == "1")
        // Damage the stored index: node and edge indexes far outside it.
        try (d.store as! SQLiteStore).connection.execute("UPDATE rule_index SET image = CAST(substr(image, 1, 24) || randomblob(length(image) - 24) AS BLOB)")
        let r = try d.deliver(mail(subject: "VPN still down"))
        #expect(r.matchedRule == "vpn")
        // The next delivery finds a good index again.
        let image = try #require(try d.store.configuration().storedRulesIndex)
        let c = try #require(CompiledRules(image: image.bytes, owner: image))
        #expect(try c.firstRule(in: "a vpn")?.position == 0)
    }

    @Test func aDamagedCopyBesideTheDatabaseIsCaughtAndRebuilt() throws {
        let d = try desk([rule("vpn", "vpn", order: 1)])
        try d.deliver(mail(subject: "VPN down"))
        // Keep the header (right database, right version), damage every node and edge.
        var copy = try #require(FileManager.default.contents(atPath: d.path + "-rules"))
        for i in 32 + 24 + 12 + 1024..<copy.count { copy[i] = 0xEE }
        _ = FileManager.default.createFile(atPath: d.path + "-rules", contents: copy)
        #expect(try d.deliver(mail(subject: "VPN still down")).matchedRule == "vpn")
        #expect(FileManager.default.contents(atPath: d.path + "-rules") != copy)
        #expect(try d.deliver(mail(subject: "Printer jam")).matchedRule == nil)
    }

    @Test func aRuleFileInAnOlderFormatIsNotRead() throws {
        // Older versions cached the index in "wt.db-rules" under another layout; a planted one changes nothing.
        let d = try desk([rule("vpn", "vpn", order: 1)])
        let other = CompiledRules.compile(texts: ["printer"], ids: [999], version: 2)
        _ = FileManager.default.createFile(atPath: d.path + "-rules", contents: Data(repeating: 0xFF, count: 24) + Data(other))
        #expect(try d.deliver(mail(subject: "VPN down")).matchedRule == "vpn")
        #expect(try d.deliver(mail(subject: "Printer jam")).matchedRule == nil)
    }

    @Test func aDisabledRuleIsSkippedByDelivery() throws {
        let d = try desk([RuleRecord(name: "off", textToMatch: "vpn", ticketType: "Network", priority: "Urgent", order: 1, enabled: false),
                          rule("on", "vpn", order: 2)])
        #expect(try d.deliver(mail(subject: "VPN")).matchedRule == "on")
    }
}

@Suite struct ExactlyOnceTests {
    @Test(arguments: Backend.allCases) func theSameBytesToAnotherRecipientAreASecondTicket(_ backend: Backend) throws {
        let d = try Desk(backend)
        let m = mail()
        #expect(try d.deliver(m, recipient: "helpdesk@wt.test").outcome.action == .created)
        #expect(try d.deliver(m, recipient: "helpdesk@wt.test").outcome.action == .duplicate)
        #expect(try d.deliver(m, recipient: "billing@wt.test").outcome.action == .created)
        #expect(try d.store.count(.tickets) == 2)
        #expect(try d.store.count(.rawMessages) == 2)
    }
}

@Suite struct AutomaticMailTests {
    /// Mail that no automatic reply may answer (RFC 3834) is marked so, with the reason: the
    /// notifier never writes to its sender.
    @Test(arguments: [
        ("Auto-Submitted: auto-replied\r\n", "ann@example.org", "Ann <ann@example.org>"),
        ("Auto-Submitted: auto-generated\r\n", "ann@example.org", "Ann <ann@example.org>"),
        ("Precedence: bulk\r\n", "ann@example.org", "Ann <ann@example.org>"),
        ("Precedence: junk\r\n", "ann@example.org", "Ann <ann@example.org>"),
        ("Precedence: list\r\n", "ann@example.org", "Ann <ann@example.org>"),
        ("List-Id: <staff.example.org>\r\n", "ann@example.org", "Ann <ann@example.org>"),
        ("X-Auto-Response-Suppress: All\r\n", "ann@example.org", "Ann <ann@example.org>"),
        ("", "", "Ann <ann@example.org>"),
        ("", "<>", "Ann <ann@example.org>"),
        ("", "bounces@example.org", "Mail Delivery System <MAILER-DAEMON@mx.example.org>"),
        ("", "bounces@example.org", "postmaster@example.org"),
        ("", "bounces@example.org", "MAILER-DAEMON"),
        ("", "bounces@example.org", "\"Mail System\" <MAILER-DAEMON>"),
    ])
    func automaticMailIsMarkedSoThatNothingAnswersIt(headers: String, sender: String, from: String) throws {
        let d = try Desk()
        try d.deliver(mail(from: from, headers: headers), sender: sender)
        #expect(try d.store.count(.tickets) == 1)
        #expect(try d.scalar("SELECT automatic FROM tickets") == "1")
        #expect(try d.scalar("SELECT automatic FROM ticket_events") == "1")
        #expect(try d.scalar("SELECT reasons FROM ticket_events")?.isEmpty == false)
    }

    @Test(arguments: ["", "Auto-Submitted: no\r\n", "Precedence: first-class\r\n"])
    func personalMailIsNotAutomatic(headers: String) throws {
        let d = try Desk()
        try d.deliver(mail(headers: headers))
        #expect(try d.store.count(.outbox) == 1)
        #expect(try d.scalar("SELECT automatic FROM tickets") == "0")
    }
}

@Suite struct HostileHeaderTests {
    @Test(arguments: Backend.allCases) func aSubjectLineOfTenMegabytesIsCappedInTheTicket(_ backend: Backend) throws {
        let d = try Desk(backend)
        let subject = String(repeating: "A", count: 10_000_000)
        let m = mail(subject: subject)
        try d.deliver(m)
        let stored = try #require(try d.scalar("SELECT subject FROM tickets"))
        #expect(stored.count <= Deliverer.maxSubject)
        #expect(try d.scalar("SELECT length(subject) FROM ticket_events") == String(stored.count))
        // The raw message keeps everything.
        #expect(try d.scalar("SELECT size FROM raw_messages") == String(m.count))
    }

    @Test(arguments: Backend.allCases) func aHugeDisplayNameIsCappedAndAHugeAddressIsNotAnAddress(_ backend: Backend) throws {
        let d = try Desk(backend)
        try d.deliver(mail(from: "\"\(String(repeating: "N", count: 50_000))\" <ann@example.org>"))
        let name = try #require(try d.scalar("SELECT display_name FROM users"))
        #expect(name.count <= Deliverer.maxName)
        let long = String(repeating: "x", count: 400) + "@example.org"
        try d.deliver(mail(subject: "second", from: long), sender: "")
        #expect(try d.scalar("SELECT requester_id FROM tickets WHERE subject = 'second'") == nil)
    }

    /// A From with no domain (a bounce written by a local mailer) still names the requester.
    @Test(arguments: Backend.allCases) func aSenderWithoutDomainIsTheRequester(_ backend: Backend) throws {
        let d = try Desk(backend)
        try d.deliver(mail(from: "MAILER-DAEMON"), sender: "")
        #expect(try d.scalar("SELECT address FROM user_addresses u JOIN tickets t ON t.requester_id = u.user_id") == "MAILER-DAEMON")
        // The envelope's full address says more than a From without a domain.
        try d.deliver(mail(subject: "second", from: "jsmith"), sender: "jsmith@corp.example")
        #expect(try d.scalar("SELECT address FROM user_addresses u JOIN tickets t ON t.requester_id = u.user_id WHERE t.id = 2") == "jsmith@corp.example")
    }

    @Test(arguments: Backend.allCases) func aMessageWithBareCRLineEndsIsStoredByteForByte(_ backend: Backend) throws {
        let d = try Desk(backend)
        let m = Array("From: Old Mac <mac@example.org>\rSubject: Classic\r\rLine one\rLine two\r".utf8)
        let r = try d.deliver(m)
        let raw = try #require(try d.store.rawMessage(id: 1))
        #expect(raw == m)
        #expect(try d.scalar("SELECT subject FROM tickets") == "Classic")
        #expect(try d.scalar("SELECT body FROM tickets")?.hasPrefix("Line one\nLine two") == true)
        // The delivery key is that of the bytes as received: the same bytes again add nothing.
        #expect(r.outcome.action == .created)
        #expect(try d.deliver(m).outcome.action == .duplicate)
    }

    @Test(arguments: Backend.allCases) func anAttachmentOfABareCRMessageReadsBackWithItsDigest(_ backend: Backend) throws {
        let d = try Desk(backend)
        let m = Array(("From: mac@example.org\rSubject: file\rMIME-Version: 1.0\rContent-Type: multipart/mixed; boundary=b\r\r"
            + "--b\rContent-Type: text/plain\r\rsee file\r--b\rContent-Type: text/plain; name=notes.txt\r"
            + "Content-Disposition: attachment; filename=notes.txt\r\rone\rtwo\r--b--\r").utf8)
        try d.deliver(m)
        let ticket = try #require(try d.store.ticket(number: 1))
        let att = try #require(ticket.attachments.first)
        #expect(att.filename == "notes.txt")
        let (_, content) = try #require(try d.store.attachment(id: att.id))
        guard case .decoded(let bytes) = content else { Issue.record("stored as a range of bytes the parser did not read"); return }
        var h = SHA256()
        h.update(bytes)
        #expect(SHA256.hex(h.finalize()) == att.sha256)
    }
}

@Suite struct StoredAttachmentTests {
    /// A list's footer after an attachment's base64: the file kept is the sender's (stored as
    /// a range of the raw message, decoded again by `wt-admin attachment save`), and the
    /// footer's bytes are not part of it.
    @Test(arguments: Backend.allCases) func aFooterAfterBase64IsNotPartOfTheStoredFile(_ backend: Backend) throws {
        let d = try Desk(backend)
        let file = Array("Quarterly figures, final.\n".utf8) + (0..<40).map { UInt8($0 * 5) }
        let encoded = Data(file).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        let m = Array(("From: Ann <ann@example.org>\r\nSubject: figures\r\nMIME-Version: 1.0\r\n"
            + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n"
            + "--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=q3.bin\r\n"
            + "Content-Transfer-Encoding: base64\r\n\r\n" + encoded + "\r\n"
            + "_______________________________________________\r\nStaff mailing list\r\nhttps://lists.example.org/listinfo/staff\r\n"
            + "--b--\r\n").utf8)
        try d.deliver(m)
        let att = try #require(try d.store.ticket(number: 1)?.attachments.first)
        #expect(att.size == Int64(file.count))
        #expect(att.sha256 == sha256Hex(file))
        let (_, content) = try #require(try d.store.attachment(id: att.id))
        guard case .encoded(let bytes, let encoding) = content else { Issue.record("not stored as a range of the message"); return }
        #expect(TransferEncoding(name: encoding).decode(bytes) == file)
        #expect(try d.scalar("SELECT detail FROM ticket_events")?.contains("text-after-base64") == true)
    }

    /// Parts without a file name are stored under the names `--explain` shows: from the
    /// description or the type, numbered where a name is taken (the sender's "scan.png" first).
    @Test(arguments: Backend.allCases) func unnamedPartsAreStoredUnderTheNamesExplainShows(_ backend: Backend) throws {
        let d = try Desk(backend)
        func part(_ headers: String, _ body: String) -> String { "--b\r\n\(headers)\r\n\r\n\(body)\r\n" }
        let m = Array(("From: Ann <ann@example.org>\r\nSubject: scans\r\nMIME-Version: 1.0\r\n"
            + "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
            + part("Content-Type: text/plain", "three scans and the report")
            + part("Content-Type: image/png\r\nContent-Disposition: attachment", "PNG one")
            + part("Content-Type: image/png\r\nContent-Disposition: attachment", "PNG two")
            + part("Content-Type: image/png; name=image.png\r\nContent-Disposition: attachment", "PNG three")
            + part("Content-Type: message/delivery-status", "Action: failed")
            + part("Content-Type: application/pdf\r\nContent-Description: Quarterly report", "%PDF-1.4")
            + "--b--\r\n").utf8)
        try d.deliver(m)
        let stored = try #require(try d.store.ticket(number: 1)).attachments.map(\.filename)
        #expect(stored == ["image-2.png", "image-3.png", "image.png", "delivery-status.txt", "Quarterly report.pdf"])
        #expect(Message.parse(m).content().attachments.map(\.filename) == stored)
    }
}

func sha256Hex(_ bytes: [UInt8]) -> String {
    var h = SHA256()
    h.update(bytes)
    return SHA256.hex(h.finalize())
}

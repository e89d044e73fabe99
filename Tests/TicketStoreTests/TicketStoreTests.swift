import Foundation
import Testing
@testable import TicketStore

/// A fresh database file per test.
final class TempDB {
    let dir: URL
    var path: String { dir.appendingPathComponent("wt.db").path }

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("wt-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: dir) }
}

func plan(subject: String = "Printer on fire", address: String? = "ann@example.org", name: String? = "Ann",
          type: String = "General", attachments: [TicketPlan.Attachment] = []) -> TicketPlan {
    TicketPlan(subject: subject, body: "It burns.", requesterAddress: address, requesterName: name, ticketType: type,
               priority: "High", messageID: "m1@example.org", flagged: false, detail: "", attachments: attachments, notify: true)
}

func deliver(_ store: SQLiteStore, key: String, raw: String = "raw message", _ p: TicketPlan = plan()) throws -> DeliveryOutcome {
    let bytes = Array(raw.utf8)
    return try bytes.withUnsafeBytes { b in
        try store.deliver(key: key, raw: b, rawSHA256: "digest", envelope: Envelope(sender: "ann@example.org", recipient: "helpdesk@wt.test", receivedAt: 1_800_000_000)) { _ in p }
    }
}

@Suite struct TicketStoreTests {
    @Test func createsTheSchemaInWALMode() throws {
        let t = try TempDB()
        let store = try SQLiteStore(path: t.path)
        #expect(try store.connection.scalar("PRAGMA journal_mode")?.text == "wal")
        #expect(try store.connection.scalar("PRAGMA user_version")?.int == Int64(SQLiteStore.schemaVersion))
        #expect(try store.configuration().setting("default_priority") == "Medium")
        #expect(try store.configuration().ticketTypes.map(\.name) == ["General"])
        // Opening again changes nothing.
        _ = try SQLiteStore(path: t.path)
        #expect(try store.count(.tickets) == 0)
    }

    @Test func deliversATicketWithEverythingInOneTransaction() throws {
        let t = try TempDB()
        let store = try SQLiteStore(path: t.path)
        let pdf = Array("%PDF-1.4 tiny".utf8)
        let att = TicketPlan.Attachment(filename: "../../etc/passwd", contentType: "application/pdf", size: pdf.count,
                                        sha256: "abc", inline: false, contentID: nil, data: { sink in pdf.withUnsafeBufferPointer { sink($0) } })
        let out = try deliver(store, key: "k1", plan(attachments: [att]))
        #expect(out == DeliveryOutcome(action: .created, ticketNumber: 1))
        let detail = try #require(try store.ticket(number: 1))
        #expect(detail.summary.subject == "Printer on fire")
        #expect(detail.summary.priority == "High")
        #expect(detail.summary.requester == "Ann")
        #expect(detail.requesterAddress == "ann@example.org")
        #expect(detail.events.map(\.kind) == ["created"])
        #expect(detail.attachments.map(\.filename) == ["passwd"])
        #expect(try store.attachment(id: detail.attachments[0].id)?.1 == .decoded(pdf))
        #expect(try store.rawMessage(id: detail.events[0].rawMessageID!) == Array("raw message".utf8))
        #expect(try store.count(.outbox) == 1)
        #expect(try store.count(.deliveries) == 1)
    }

    @Test func sameKeyTwiceIsADuplicateAndWritesNothing() throws {
        let t = try TempDB()
        let store = try SQLiteStore(path: t.path)
        _ = try deliver(store, key: "k1")
        let again = try deliver(store, key: "k1", raw: "raw message")
        #expect(again == DeliveryOutcome(action: .duplicate, ticketNumber: 1))
        #expect(try store.count(.tickets) == 1)
        #expect(try store.count(.rawMessages) == 1)
    }

    @Test func aFailingPlanRollsEverythingBack() throws {
        struct Boom: Error {}
        let t = try TempDB()
        let store = try SQLiteStore(path: t.path)
        #expect(throws: Boom.self) {
            try Array("raw".utf8).withUnsafeBytes { b in
                _ = try store.deliver(key: "k", raw: b, rawSHA256: "d", envelope: Envelope(sender: nil, recipient: nil, receivedAt: 0)) { _ in throw Boom() }
            }
        }
        #expect(try store.count(.rawMessages) == 0)
        #expect(try store.count(.deliveries) == 0)
        // The connection is usable after the rollback.
        _ = try deliver(store, key: "k2")
        #expect(try store.count(.tickets) == 1)
    }

    @Test func attachmentBytesAreStoredOncePerDigest() throws {
        let t = try TempDB()
        let store = try SQLiteStore(path: t.path)
        var produced = 0
        let bytes = Array(repeating: UInt8(7), count: 1000)
        func att() -> TicketPlan.Attachment {
            TicketPlan.Attachment(filename: "a.bin", contentType: "application/octet-stream", size: 1000, sha256: "same",
                                  inline: false, contentID: nil, data: { sink in produced += 1; bytes.withUnsafeBufferPointer { sink($0) } })
        }
        _ = try deliver(store, key: "k1", plan(attachments: [att()]))
        _ = try deliver(store, key: "k2", plan(attachments: [att()]))
        #expect(produced == 1)
        #expect(try store.connection.scalar("SELECT count(*) FROM blobs")?.int == 1)
        #expect(try store.count(.attachments) == 2)
    }

    @Test func attachmentsInTheRawMessageAreStoredAsARange() throws {
        let t = try TempDB()
        let store = try SQLiteStore(path: t.path)
        var produced = 0
        let att = TicketPlan.Attachment(filename: "a.txt", contentType: "text/plain", size: 7, sha256: "d", inline: false, contentID: nil,
                                        rawRange: (4..<11, "identity"), data: { _ in produced += 1 })
        _ = try deliver(store, key: "k1", raw: "raw message", plan(attachments: [att]))
        #expect(produced == 0)
        #expect(try store.connection.scalar("SELECT count(*) FROM blobs")?.int == 0)
        let id = try #require(try store.ticket(number: 1)?.attachments.first?.id)
        #expect(try store.attachment(id: id)?.1 == .encoded(Array("message".utf8), encoding: "identity"))
    }

    @Test func requesterIsMatchedAcrossAddressListsAnyCase() throws {
        let t = try TempDB()
        let store = try SQLiteStore(path: t.path)
        try store.connection.execute("""
            INSERT INTO users (id, name, role, emails, created_at) VALUES (7, 'Jane Doe', 'end_user', 'jdoe@corp.example;jane@home.example', 0);
            INSERT INTO user_addresses (address, user_id) VALUES ('jdoe@corp.example', 7), ('jane@home.example', 7);
            """)
        _ = try deliver(store, key: "k1", plan(address: "JANE@Home.Example", name: "J."))
        #expect(try store.ticket(number: 1)?.summary.requester == "Jane Doe")
        #expect(try store.count(.users) == 1)
    }

    @Test func unknownSendersBecomeEndUsersUnlessTurnedOff() throws {
        let t = try TempDB()
        let store = try SQLiteStore(path: t.path)
        _ = try deliver(store, key: "k1", plan(address: "new@example.org", name: nil))
        #expect(try store.ticket(number: 1)?.summary.requester == "new@example.org")
        try store.connection.execute("UPDATE settings SET value = 'false' WHERE key = 'create_unknown_users'")
        _ = try deliver(store, key: "k2", plan(address: "other@example.org", name: "Other"))
        #expect(try store.ticket(number: 2)?.summary.requester == nil)
        #expect(try store.count(.users) == 1)
    }

    @Test func aMissingFolderIsATransientError() throws {
        let e = try #require(throws: StoreError.self) { try SQLiteStore(path: "/nonexistent/dir/wt.db") }
        #expect(e.isTransient)
        #expect(e.description.contains("unable to open database file"))
    }

    @Test(arguments: [
        (Int32(5), true), (Int32(6), true), (Int32(13), true), (Int32(10), true), (Int32(10 | (4 << 8)), true),
        (Int32(14), true), (Int32(8), true), (Int32(11), true), (Int32(7), true), (Int32(19), false), (Int32(1), false),
    ])
    func errorsAreClassifiedByPrimaryCode(code: Int32, transient: Bool) {
        #expect(StoreError(code: code, message: "", context: "").isTransient == transient)
    }

    @Test(arguments: [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\TEMP\\x.png", "x.png"),
        ("dir/", "dir"),
        ("a\u{0}b\u{7}c\u{2028}.txt", "abc.txt"),
        ("report..final.pdf", "report.final.pdf"),
        ("..", "attachment"),
        ("", "attachment"),
        ("   ", "attachment"),
        (".hidden", "hidden"),
    ])
    func filenamesNeverBecomePaths(name: String, expected: String) {
        #expect(sanitizeFilename(name) == expected)
    }

    @Test func longFilenamesAreCutKeepingTheExtension() {
        let name = String(repeating: "é", count: 300) + ".pdf"
        let s = sanitizeFilename(name)
        #expect(s.utf8.count <= 255)
        #expect(s.hasSuffix(".pdf"))
    }
}

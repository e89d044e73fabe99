import Foundation
import Logging
import Testing
@testable import Delivery
import MailCompose
import MailMessage
import MailTransport
@testable import Notify
import PostgresStore
import PostgresTestSupport
@testable import TicketStore

/// The stores the tests run against.


/// Keeps what it is given, as a mail server would, and fails on demand. The transports
/// themselves are tested against real servers in their own suite.
final class RecordingTransport: MailTransport {
    var sent: [(bytes: [UInt8], from: String, to: [String])] = []
    var failNext: [TransportError.Kind] = []
    var closed = 0

    func send(_ message: [UInt8], from sender: String, to recipients: [String]) throws(TransportError) {
        if !failNext.isEmpty {
            let kind = failNext.removeFirst()
            throw TransportError(kind: kind, message: kind == .permanent ? "550 no such user" : "451 try later", smtpCode: kind == .permanent ? 550 : 451)
        }
        sent.append((message, sender, recipients))
    }
    func close() { closed += 1 }
}

final class NotifyDesk {
    let dir: URL
    let store: SQLStore
    /// The PostgreSQL database, kept while the desk lives.
    let postgres: TestPostgres.Database?
    let transport = RecordingTransport()
    var now: Int64 = 1_800_000_000

    init(_ backend: Backend = .sqlite) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("wt-notify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        (store, postgres) = try freshStore(backend, sqlitePath: dir.appendingPathComponent("wt.db").path)
        try store.addUser(UserRecord(name: "Tom Tech", role: .technician, emails: ["tom@helpdesk.example.com"]))
        try store.updateTicketType(named: "General", to: TicketTypeRecord(name: "General", technician: "Tom Tech", notifyEmails: ["noc@helpdesk.example.com"]))
        _ = try store.setSetting("from_email", "helpdesk@helpdesk.example.com")
        _ = try store.setSetting("root_url", "https://desk.example.com")
    }

    deinit { try? FileManager.default.removeItem(at: dir) }

    func notifier(_ worker: String = "test") -> Notifier {
        Notifier(store: store, logger: Logger(label: "test"), worker: worker, clock: { [unowned self] in self.now }, makeTransport: { _ in self.transport })
    }

    @discardableResult
    func deliver(_ text: String, sender: String = "ann@customer.example.org") throws -> DeliveryReport {
        try Deliverer(store: store, logger: Logger(label: "test")).deliver(
            ByteBuffer(Array(text.utf8)), envelope: Envelope(sender: sender, recipient: "helpdesk@helpdesk.example.com", receivedAt: now))
    }

    func sentTo() -> [String] { transport.sent.flatMap(\.to).sorted() }
}

let newTicket = "From: Ann Customer <ann@customer.example.org>\r\nTo: helpdesk@helpdesk.example.com\r\nSubject: Printer on fire\r\nMessage-ID: <ticket-1@customer.example.org>\r\n\r\nIt burns.\r\n"

@Suite struct NotifierTests {
    @Test(arguments: Backend.allCases) func aNewTicketIsMailedToItsTechnicianRequesterAndTypeAddresses(_ backend: Backend) throws {
        let d = try NotifyDesk(backend)
        try d.deliver(newTicket)
        let r = try d.notifier().runOnce()
        #expect(r.sent == 3)
        #expect(d.sentTo() == ["ann@customer.example.org", "noc@helpdesk.example.com", "tom@helpdesk.example.com"])
        let m = Message.parse(d.transport.sent[0].bytes)
        #expect(m.subject == "Service Desk Ticket [#1] Printer on fire")
        #expect(m.headers.text("auto-submitted") == "auto-generated")
        #expect(m.headers.text("x-loop") == "helpdesk@helpdesk.example.com")
        #expect(m.inReplyTo == ["ticket-1@customer.example.org"])
        let id = try #require(m.messageID)
        #expect(NotificationID.verify(id, key: try d.store.messageIDKey())?.ticket == 1)
        #expect(m.bodyText().contains("https://desk.example.com/tickets/1"))
        #expect(d.transport.sent.allSatisfy { $0.from == "helpdesk@helpdesk.example.com" })
        // Nothing is sent twice.
        #expect(try d.notifier().runOnce().sent == 0)
        #expect(try d.store.countNotifications(state: "sent") == 3)
    }

    @Test(arguments: Backend.allCases) func settingsDecideWhoIsTold(_ backend: Backend) throws {
        let d = try NotifyDesk(backend)
        _ = try d.store.setSetting("email_end_user_on_create", "false")
        _ = try d.store.setSetting("email_technician_on_create", "false")
        try d.deliver(newTicket)
        _ = try d.notifier().runOnce()
        #expect(d.sentTo() == ["noc@helpdesk.example.com"])
    }

    @Test(arguments: Backend.allCases) func theSenderOfAFollowUpIsNotToldUnlessSelfNotify(_ backend: Backend) throws {
        let d = try NotifyDesk(backend)
        try d.deliver(newTicket)
        _ = try d.notifier().runOnce()
        d.transport.sent = []
        try d.deliver(newTicket.replacingOccurrences(of: "Message-ID: <ticket-1@", with: "In-Reply-To: <ticket-1@customer.example.org>\r\nMessage-ID: <r1@"))
        _ = try d.notifier().runOnce()
        #expect(d.sentTo() == ["tom@helpdesk.example.com"])
        _ = try d.store.setSetting("self_notify", "true")
        d.transport.sent = []
        try d.deliver(newTicket.replacingOccurrences(of: "Message-ID: <ticket-1@", with: "In-Reply-To: <ticket-1@customer.example.org>\r\nMessage-ID: <r2@"))
        _ = try d.notifier().runOnce()
        #expect(d.sentTo() == ["ann@customer.example.org", "tom@helpdesk.example.com"])
    }

    @Test(arguments: Backend.allCases) func aTechniciansAnswerReachesTheRequesterWithItsText(_ backend: Backend) throws {
        let d = try NotifyDesk(backend)
        try d.deliver(newTicket)
        _ = try d.notifier().runOnce()
        d.transport.sent = []
        try d.store.replyToTicket(1, as: nil, text: "Switch it off & unplug <it>.")
        _ = try d.notifier().runOnce()
        #expect(d.sentTo() == ["ann@customer.example.org"])
        let body = Message.parse(d.transport.sent[0].bytes).bodyText()
        #expect(body.hasPrefix("Switch it off & unplug <it>."))
    }

    @Test(arguments: Backend.allCases) func automaticMailIsNeverAnswered(_ backend: Backend) throws {
        let d = try NotifyDesk(backend)
        try d.deliver(newTicket.replacingOccurrences(of: "Subject:", with: "Auto-Submitted: auto-generated\r\nSubject:"))
        _ = try d.notifier().runOnce()
        #expect(d.sentTo() == ["noc@helpdesk.example.com", "tom@helpdesk.example.com"])
        #expect(try d.store.notifications(state: "suppressed").map(\.address) == ["ann@customer.example.org"])
    }

    @Test(arguments: Backend.allCases) func bouncingAddressesReceiveNothing(_ backend: Backend) throws {
        let d = try NotifyDesk(backend)
        try d.store.db.execute("INSERT INTO bouncing_addresses (address, first_at, last_at) VALUES ('ANN@customer.example.org', 0, 0)")
        try d.deliver(newTicket)
        _ = try d.notifier().runOnce()
        #expect(!d.sentTo().contains("ann@customer.example.org"))
        #expect(try d.store.notifications(state: "suppressed").first?.reason.contains("bouncing") == true)
    }

    @Test(arguments: Backend.allCases) func limitsHoldMailBackAndRecordIt(_ backend: Backend) throws {
        let d = try NotifyDesk(backend)
        _ = try d.store.setSetting("max_mails_per_recipient_per_day", "2")
        for i in 1...3 {
            try d.deliver(newTicket.replacingOccurrences(of: "ticket-1@", with: "ticket-\(i)@").replacingOccurrences(of: "on fire", with: "on fire \(i)"))
        }
        let r = try d.notifier().runOnce()
        #expect(r.held == 3)  // the third ticket's mail to each of the three addresses
        let held = try d.store.notifications(state: "held")
        #expect(held.allSatisfy { $0.ticket == 3 && $0.reason.contains("max_mails_per_recipient_per_day") })
        // An administrator lets one through.
        try d.store.retryNotification(held[0].id)
        #expect(try d.notifier().runOnce().sent == 1)
    }

    @Test(arguments: Backend.allCases) func temporaryFailuresWaitAndPermanentOnesAreKept(_ backend: Backend) throws {
        let d = try NotifyDesk(backend)
        try d.deliver(newTicket)
        d.transport.failNext = [.temporary, .permanent]
        let r = try d.notifier().runOnce()
        #expect(r.retried == 1 && r.failed == 1 && r.sent == 1)
        let failed = try #require(try d.store.notifications(state: "failed").first)
        #expect(failed.lastError == "550 no such user")
        // Not yet due; then due.
        #expect(try d.notifier().runOnce().sent == 0)
        d.now += 3600
        #expect(try d.notifier().runOnce().sent == 1)
        #expect(try d.store.countNotifications(state: "queued") == 0)
    }

    @Test(arguments: Backend.allCases) func twoNotifiersNeverClaimTheSameMail(_ backend: Backend) throws {
        let d = try NotifyDesk(backend)
        for i in 1...20 { try d.deliver(newTicket.replacingOccurrences(of: "ticket-1@", with: "ticket-\(i)@")) }
        let a = d.notifier("a"), b = d.notifier("b")
        a.batch = 7
        b.batch = 5
        // Interleaved claims, as two processes would make them.
        var report = NotifyReport()
        try a.expandAll(&report)
        let first = try d.store.claimNotifications(worker: "a", now: d.now, lease: 300, limit: 30)
        let second = try d.store.claimNotifications(worker: "b", now: d.now, lease: 300, limit: 100)
        #expect(Set(first.map(\.id)).isDisjoint(with: second.map(\.id)))
        #expect(first.count + second.count == 60)
        // A notifier that died: its lease runs out and another takes its mails.
        d.now += 301
        let third = try d.store.claimNotifications(worker: "b", now: d.now, lease: 300, limit: 100)
        #expect(third.count == 60)
        _ = b
    }
}

@Suite struct SharedNotifierTests {
    /// Two notifiers, each on a connection of its own as on two hosts, running at once.
    @Test func twoNotifiersOnTwoHostsSendEveryMailOnce() throws {
        let d = try NotifyDesk(.postgres)
        for i in 1...20 { try d.deliver(newTicket.replacingOccurrences(of: "ticket-1@", with: "ticket-\(i)@")) }
        let url = try #require(d.postgres?.url)
        let now = d.now
        let lock = NSLock()
        nonisolated(unsafe) var sent: [[UInt8]] = []
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let store = try! PostgresStore(url: url)
            let transport = RecordingTransport()
            let n = Notifier(store: store, logger: Logger(label: "test"), worker: "host\(i)", clock: { now }, makeTransport: { _ in transport })
            n.batch = 3
            _ = try! n.runOnce()
            lock.lock()
            sent += transport.sent.map(\.bytes)
            lock.unlock()
        }
        #expect(sent.count == 60)
        let ids = sent.compactMap { Message.parse($0).messageID }
        #expect(Set(ids).count == 60)
        #expect(try d.store.countNotifications(state: "sent") == 60)
    }

    @Test func aClaimSkipsRowsAnotherNotifierIsClaimingInsteadOfWaiting() throws {
        let d = try NotifyDesk(.postgres)
        try d.deliver(newTicket)
        var report = NotifyReport()
        try d.notifier().expandAll(&report)
        let other = try PostgresStore(url: try #require(d.postgres?.url))
        // Without SKIP LOCKED the second claim would wait; it must not get there.
        try other.db.execute("SET lock_timeout = '3s'")
        let claimedInside = try d.store.db.transaction(.readCommitted) {
            let locked = try d.store.db.query("SELECT id FROM notifications WHERE state = 'queued' FOR UPDATE")
            #expect(locked.count == 3)
            return try other.claimNotifications(worker: "b", now: d.now, lease: 300, limit: 100)
        }
        #expect(claimedInside.isEmpty)
        #expect(try other.claimNotifications(worker: "b", now: d.now, lease: 300, limit: 100).count == 3)
    }
}

@Suite struct RenderTests {
    @Test func fieldsLinkAndHTMLFollowTheSettings() throws {
        let d = try NotifyDesk()
        _ = try d.store.setSetting("html_email", "true")
        _ = try d.store.setSetting("linkback_position", "Top")
        _ = try d.store.setSetting("email_fields", "number;subject;requester;body")
        try d.deliver(newTicket.replacingOccurrences(of: "It burns.", with: "It burns <b>bright</b> & hot."))
        let t = try #require(try d.store.ticket(number: 1))
        let r = NotificationRenderer.render(kind: "ticket_created", ticket: t, event: t.events.first, config: try d.store.configuration())
        #expect(r.text.hasPrefix("https://desk.example.com/tickets/1\n\nA new ticket has been created."))
        #expect(r.text.contains("Ticket: #1\nSubject: Printer on fire\n"))
        #expect(!r.text.contains("Status:"))
        let html = try #require(r.html)
        #expect(html.contains("It burns &lt;b&gt;bright&lt;/b&gt; &amp; hot."))
        #expect(!html.contains("<b>bright"))
        _ = try d.store.setSetting("linkback_position", "Exclude")
        #expect(!NotificationRenderer.render(kind: "ticket_created", ticket: t, event: nil, config: try d.store.configuration()).text.contains("https://"))
    }
}

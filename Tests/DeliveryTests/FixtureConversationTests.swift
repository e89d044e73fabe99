import Foundation
import Testing
@testable import Delivery
import MailMessage
@testable import TicketStore

/// The conversation fixtures (Tests/MailMessageTests/Fixtures/conv-*.eml), delivered: replies,
/// out-of-office answers, bounces, spam and DMARC failures as real mailers write them. They
/// name the notification they answer `<wt-notification-1@helpdesk.example.com>` and tag the
/// subject `[Ticket #1]`; both are made ours here, as our notifier writes them.
enum ConversationFixture {
    static let directory: String = {
        var path = "\(#filePath)"
        while let last = path.last, last != "/" { path.removeLast() }
        return path + "../MailMessageTests/Fixtures/"
    }()

    static func bytes(_ name: String, key: [UInt8], prepend: String = "") throws -> [UInt8] {
        let data = try #require(FileManager.default.contents(atPath: directory + name), "fixture \(name)")
        var text = String(decoding: data, as: UTF8.self)
        text = text.replacingOccurrences(of: "wt-notification-1@helpdesk.example.com",
                                         with: NotificationID.make(ticket: 1, event: 1, key: key, domain: "helpdesk.example.com"))
        text = text.replacingOccurrences(of: "[Ticket #1]", with: "Service Desk Ticket [#1]")
        return Array((prepend + text).utf8)
    }

    /// A desk whose ticket 1 is conv-new-request.eml, from Ann.
    static func desk() throws -> Desk {
        let d = try Desk()
        try d.store.addUser(UserRecord(name: "Tom Tech", role: .technician, emails: ["tom@helpdesk.example.com"]))
        try d.store.updateTicketType(named: "General", to: TicketTypeRecord(name: "General", technician: "Tom Tech", notifyEmails: []))
        _ = try d.store.setSetting("from_email", "helpdesk@helpdesk.example.com")
        try d.deliver(try bytes("conv-new-request.eml", key: []), sender: "ann@customer.example.org", recipient: "helpdesk@helpdesk.example.com")
        #expect(try d.store.count(.tickets) == 1)
        return d
    }
}

@Suite struct FixtureConversationTests {
    @Test(arguments: ["conv-reply-outlook.eml", "conv-reply-outlook-de.eml", "conv-reply-gmail.eml", "conv-reply-apple.eml",
                      "conv-reply-thunderbird.eml"])
    func aReplyFromAnyMailClientIsAFollowUpWithItsQuoteMarked(fixture: String) throws {
        let d = try ConversationFixture.desk()
        let r = try d.deliver(try ConversationFixture.bytes(fixture, key: try d.key()), sender: "ann@customer.example.org")
        #expect(r.outcome == DeliveryOutcome(action: .followUp, ticketNumber: 1))
        let e = try #require(try d.store.ticket(number: 1)?.events.last)
        #expect(e.kind == "followup")
        #expect(e.quotedAt != nil, "the quoted part is marked")
        #expect(!e.newText.isEmpty && !e.newText.contains("on fire."))
        #expect(try d.scalar("SELECT kind FROM outbox ORDER BY id DESC LIMIT 1") == "ticket_updated")
    }

    @Test(arguments: ["conv-ooo-exchange.eml", "conv-ooo-gmail.eml"])
    func anOutOfOfficeReplyThreadsAsAutomaticAndReopensNothing(fixture: String) throws {
        let d = try ConversationFixture.desk()
        try d.store.updateTicket(1, TicketChanges(status: "Closed"), as: nil)
        let r = try d.deliver(try ConversationFixture.bytes(fixture, key: try d.key()), sender: "ann@customer.example.org")
        #expect(r.outcome == DeliveryOutcome(action: .followUp, ticketNumber: 1))
        #expect(try d.store.ticket(number: 1)?.summary.status == "Closed")
        #expect(try d.store.ticket(number: 1)?.events.last?.automatic == true)
    }

    @Test(arguments: ["conv-dsn-postfix.eml", "conv-dsn-exim.eml", "conv-dsn-qmail.eml", "conv-dsn-exchange.eml",
                      "conv-dsn-gmail.eml", "conv-dsn-gmail-legacy.eml", "conv-dsn-postfix-delayed.eml"])
    func aDeliveryStatusNotificationAttachesToItsTicket(fixture: String) throws {
        let d = try ConversationFixture.desk()
        let outbox = try d.store.count(.outbox)
        let r = try d.deliver(try ConversationFixture.bytes(fixture, key: try d.key()), sender: "")
        #expect(r.outcome == DeliveryOutcome(action: .bounce, ticketNumber: 1))
        #expect(try d.store.count(.tickets) == 1)
        #expect(try d.store.ticket(number: 1)?.events.last?.kind == "bounce")
        #expect(try d.store.count(.outbox) == outbox, "no notification for a bounce")
    }

    @Test func aBounceOfOurNotificationMarksTheFailedAddress() throws {
        let d = try ConversationFixture.desk()
        try d.deliver(try ConversationFixture.bytes("conv-dsn-gmail.eml", key: try d.key()), sender: "")
        let marked = try d.store.bouncingAddresses().map(\.address)
        #expect(!marked.isEmpty)
        #expect(marked.allSatisfy { $0.contains("@") })
        // The mark comes off by hand.
        try d.store.clearBounce(marked[0])
        #expect(try d.store.bouncingAddresses().count == marked.count - 1)
    }

    @Test func aForgedReportMarksNothing() throws {
        // The same report, but from an ordinary sender, not a mail system.
        let d = try ConversationFixture.desk()
        let r = try d.deliver(try ConversationFixture.bytes("conv-dsn-gmail.eml", key: try d.key()), sender: "mallory@elsewhere.example")
        #expect(r.outcome.action == .bounce)
        #expect(try d.store.bouncingAddresses().isEmpty)
        // And one about no message of ours is a flagged ticket: nothing is lost.
        let other = try ConversationFixture.bytes("conv-dsn-postfix.eml", key: Array("another desk".utf8))
            .split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }.map { $0.replacingOccurrences(of: "ticket-1-original", with: "unknown-original") }
            .joined(separator: "\n")
        let r2 = try d.deliver(Array(other.utf8), sender: "")
        #expect(r2.outcome.action == .created)
        #expect(try d.scalar("SELECT flagged FROM tickets WHERE id = \(r2.outcome.ticketNumber ?? 0)") == "1")
    }

    @Test func aForwardedBounceFromAPersonIsNotABounce() throws {
        let d = try ConversationFixture.desk()
        let r = try d.deliver(try ConversationFixture.bytes("conv-reply-quotes-ndr.eml", key: try d.key()), sender: "ann@customer.example.org")
        #expect(r.outcome.action == .created)
        #expect(try d.store.bouncingAddresses().isEmpty)
    }

    @Test(arguments: ["conv-spam-spamassassin.eml", "conv-spam-rspamd.eml"])
    func spamGetsTheSpamTypeAndNoAnswer(fixture: String) throws {
        let d = try ConversationFixture.desk()
        try d.store.addTicketType(TicketTypeRecord(name: "Spam", technician: nil, notifyEmails: []))
        _ = try d.store.setSetting("spam_ticket_type", "Spam")
        // Not trusted: the headers are ignored.
        let before = try d.deliver(try ConversationFixture.bytes(fixture, key: try d.key()), sender: "x@promo.example.net")
        #expect(try d.store.ticket(number: before.outcome.ticketNumber!)?.summary.ticketType == "General")
        _ = try d.store.setSetting("trust_spam_headers", "true")
        let r = try d.deliver(try ConversationFixture.bytes(fixture, key: try d.key(), prepend: "X-Seen: 2\r\n"), sender: "x@promo.example.net")
        let t = try #require(try d.store.ticket(number: r.outcome.ticketNumber!))
        #expect(t.summary.ticketType == "Spam")
        #expect(t.events.first?.automatic == true)
        #expect(t.events.first?.reasons.contains { $0.hasPrefix("marked as spam") } == true)
    }

    @Test(arguments: [("conv-auth-dmarc-fail.eml", false), ("conv-auth-forged.eml", true), ("conv-auth-forged-below.eml", false)])
    func aReplyFailingDMARCAtOurMTAIsNotTrusted(fixture: String, trusted: Bool) throws {
        let d = try ConversationFixture.desk()
        _ = try d.store.setSetting("followup_from_anyone", "true")
        _ = try d.store.setSetting("trusted_authserv_id", "mx.helpdesk.example.com")
        let bytes = try ConversationFixture.bytes(fixture, key: try d.key(), prepend: "In-Reply-To: <ticket-1-original@customer.example.org>\r\n")
        let r = try d.deliver(bytes, sender: "billing@example.org")
        if trusted {
            #expect(r.outcome == DeliveryOutcome(action: .followUp, ticketNumber: 1))
        } else {
            #expect(r.outcome == DeliveryOutcome(action: .created, ticketNumber: 2))
            let t = try #require(try d.store.ticket(number: 2))
            #expect(t.linkedTicket == 1 && t.summary.flagged)
            #expect(t.events.first?.reasons.contains { $0.contains("dmarc=fail for example.org") } == true)
        }
    }
}

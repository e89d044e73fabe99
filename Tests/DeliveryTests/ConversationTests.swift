import Foundation
import PostgresTestSupport
import Testing
@testable import Delivery
import MailMessage
@testable import TicketStore

/// A message as a mail client writes it; `headers` lines end in CRLF.
func message(from: String = "Ann Customer <ann@customer.example.org>", to: String = "helpdesk@helpdesk.example.com",
             subject: String = "Printer on fire", id: String = "<\(UUID().uuidString)@customer.example.org>",
             headers: String = "", body: String = "The printer in room 2 is on fire.") -> [UInt8] {
    Array("From: \(from)\r\nTo: \(to)\r\nSubject: \(subject)\r\nMessage-ID: \(id)\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n\(headers)\r\n\(body)\r\n".utf8)
}

/// A desk with one ticket (#1) opened by Ann, a technician Tom assigned to its type, and the
/// helpdesk's own address.
func deskWithTicket(_ backend: Backend = .sqlite) throws -> Desk {
    let d = try Desk(backend)
    try d.store.addUser(UserRecord(name: "Tom Tech", role: .technician, emails: ["tom@helpdesk.example.com"]))
    try d.store.addUser(UserRecord(name: "Ann Customer", role: .endUser, emails: ["ann@customer.example.org", "ann@home.example.org"]))
    try d.store.updateTicketType(named: "General", to: TicketTypeRecord(name: "General", technician: "Tom Tech", notifyEmails: []))
    _ = try d.store.setSetting("from_email", "helpdesk@helpdesk.example.com")
    try d.deliver(message(id: "<ticket-1-original@customer.example.org>"), sender: "ann@customer.example.org")
    return d
}

extension Desk {
    func events(_ ticket: Int64 = 1) throws -> [String] {
        try store.ticket(number: ticket)?.events.map(\.kind) ?? []
    }
    func key() throws -> [UInt8] { try store.messageIDKey() }
}

@Suite struct NotificationIDTests {
    let key = Array("0123456789abcdef0123456789abcdef".utf8)

    @Test func aMadeIDVerifies() {
        let id = NotificationID.make(ticket: 12, event: 345, key: key, domain: "helpdesk.example.com")
        #expect(id.hasPrefix("wt-12-345-") && id.hasSuffix("@helpdesk.example.com"))
        #expect(NotificationID.verify(id, key: key)?.ticket == 12)
        #expect(NotificationID.verify(id, key: key)?.event == 345)
    }

    @Test func aMadeUpOrAlteredIDDoesNot() {
        let id = NotificationID.make(ticket: 12, event: 345, key: key, domain: "helpdesk.example.com")
        let other = NotificationID.make(ticket: 12, event: 345, key: Array("another key".utf8), domain: "helpdesk.example.com")
        #expect(NotificationID.verify(other, key: key) == nil)
        #expect(NotificationID.verify(id.replacingOccurrences(of: "wt-12-", with: "wt-13-"), key: key) == nil)
        #expect(NotificationID.verify("wt-12-345-000000000000000000000000@helpdesk.example.com", key: key) == nil)
        #expect(NotificationID.verify("ticket-1@customer.example.org", key: key) == nil)
        #expect(NotificationID.verify(id, key: []) == nil)
    }

    @Test func hmacMatchesRFC4231() {
        // RFC 4231, test case 2.
        let mac = hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(SHA256.hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }
}

@Suite struct FollowUpTests {
    @Test(arguments: Backend.allCases) func aReplyByInReplyToFromTheRequesterIsAFollowUp(_ backend: Backend) throws {
        let d = try deskWithTicket(backend)
        let r = try d.deliver(message(from: "Ann <ann@home.example.org>", subject: "Re: Printer on fire",
                                      headers: "In-Reply-To: <ticket-1-original@customer.example.org>\r\n", body: "Still burning."))
        #expect(r.outcome == DeliveryOutcome(action: .followUp, ticketNumber: 1))
        #expect(try d.store.count(.tickets) == 1)
        #expect(try d.events() == ["created", "followup"])
        #expect(try d.scalar("SELECT kind FROM outbox ORDER BY id DESC LIMIT 1") == "ticket_updated")
        let reasons = try #require(try d.store.ticket(number: 1)?.events.last?.reasons)
        #expect(reasons.contains("In-Reply-To names a message of ticket 1"))
        #expect(reasons.contains("sender is the ticket's requester"))
    }

    @Test(arguments: ["RE: Service Desk Ticket [#1]", "AW: [EXTERNAL] Service Desk Ticket [#1]", "SV: Fwd: service desk ticket [#1] printer",
                      "WG: Service Desk Ticket[#1]"])
    func aSubjectTagIsAFollowUp(subject: String) throws {
        // Outlook: no In-Reply-To, only the subject.
        let d = try deskWithTicket()
        let r = try d.deliver(message(subject: subject, headers: "Thread-Index: AdtEyl3kQUZ4Gw==\r\n", body: "Any news?"))
        #expect(r.outcome.action == .followUp)
        #expect(try d.store.ticket(number: 1)?.events.last?.reasons.contains("the subject carries [#1]") == true)
    }

    @Test(arguments: ["Re: [#1]", "Re: Other Desk [#1]", "Re: Service Desk Ticket [#99]", "Re: Service Desk Ticket [#x1]"])
    func aTagWithoutTheSettingsTextOrForNoTicketIsNew(subject: String) throws {
        let d = try deskWithTicket()
        #expect(try d.deliver(message(subject: subject)).outcome.action == .created)
    }

    @Test(arguments: Backend.allCases) func aReplyToOurNotificationThreadsByItsTaggedMessageID(_ backend: Backend) throws {
        let d = try deskWithTicket(backend)
        let ours = NotificationID.make(ticket: 1, event: 1, key: try d.key(), domain: "helpdesk.example.com")
        let r = try d.deliver(message(subject: "Re: something else", headers: "References: <a@b> <\(ours)>\r\n"))
        #expect(r.outcome == DeliveryOutcome(action: .followUp, ticketNumber: 1))
        #expect(try d.store.ticket(number: 1)?.events.last?.reasons.contains("References names our notification about ticket 1") == true)
    }

    @Test(arguments: Backend.allCases) func aMadeUpTaggedMessageIDFilesNothing(_ backend: Backend) throws {
        let d = try deskWithTicket(backend)
        let forged = NotificationID.make(ticket: 1, event: 1, key: Array("guess".utf8), domain: "helpdesk.example.com")
        #expect(try d.deliver(message(subject: "hello", headers: "In-Reply-To: <\(forged)>\r\n")).outcome.action == .created)
    }

    @Test(arguments: Backend.allCases) func aReplyFromAStrangerIsANewTicketLinkedToIt(_ backend: Backend) throws {
        let d = try deskWithTicket(backend)
        let m = message(from: "Mallory <mallory@elsewhere.example>", subject: "Re: Service Desk Ticket [#1]")
        let r = try d.deliver(m)
        #expect(r.outcome == DeliveryOutcome(action: .created, ticketNumber: 2))
        #expect(try d.store.ticket(number: 2)?.linkedTicket == 1)
        #expect(try d.events() == ["created"])
        // Unless anyone may update tickets.
        _ = try d.store.setSetting("followup_from_anyone", "true")
        #expect(try d.deliver(message(from: "Mallory <mallory@elsewhere.example>", subject: "Re: Service Desk Ticket [#1]")).outcome.action == .followUp)
    }

    @Test(arguments: Backend.allCases) func aReplyFromATechnicianIsTheirAnswer(_ backend: Backend) throws {
        let d = try deskWithTicket(backend)
        let r = try d.deliver(message(from: "Tom <tom@helpdesk.example.com>", subject: "Re: Service Desk Ticket [#1]",
                                      body: "Switch it off.\r\n\r\nOn Mon, Ann wrote:\r\n> It burns"))
        #expect(r.outcome.action == .followUp)
        #expect(try d.events() == ["created", "reply"])
        #expect(try d.scalar("SELECT kind FROM outbox ORDER BY id DESC LIMIT 1") == "reply")
    }

    @Test(arguments: Backend.allCases) func aReplyToAClosedTicketReopensIt(_ backend: Backend) throws {
        let d = try deskWithTicket(backend)
        try d.store.updateTicket(1, TicketChanges(status: "Closed"), as: "Tom Tech")
        try d.deliver(message(subject: "Re: Service Desk Ticket [#1]", body: "It is burning again."))
        #expect(try d.store.ticket(number: 1)?.summary.status == "Open")
        #expect(try d.store.ticket(number: 1)?.events.last?.reasons.contains("ticket 1 was Closed: reopened") == true)
    }

    @Test(arguments: Backend.allCases) func withoutReopeningAReplyToAClosedTicketIsANewLinkedTicket(_ backend: Backend) throws {
        let d = try deskWithTicket(backend)
        _ = try d.store.setSetting("reopen_on_reply", "false")
        try d.store.updateTicket(1, TicketChanges(status: "Resolved"), as: nil)
        let r = try d.deliver(message(subject: "Re: Service Desk Ticket [#1]"))
        #expect(r.outcome.ticketNumber == 2)
        #expect(try d.store.ticket(number: 2)?.linkedTicket == 1)
        #expect(try d.store.ticket(number: 1)?.summary.status == "Resolved")
    }

    @Test(arguments: Backend.allCases) func anAutomaticReplyDoesNotReopenAClosedTicket(_ backend: Backend) throws {
        let d = try deskWithTicket(backend)
        try d.store.updateTicket(1, TicketChanges(status: "Closed"), as: nil)
        let r = try d.deliver(message(subject: "Automatic reply: Service Desk Ticket [#1]", headers: "Auto-Submitted: auto-replied\r\n",
                                      body: "I am out of the office."))
        #expect(r.outcome.action == .followUp)
        #expect(try d.store.ticket(number: 1)?.summary.status == "Closed")
        #expect(try d.scalar("SELECT automatic FROM ticket_events ORDER BY id DESC LIMIT 1") == "1")
    }

    @Test(arguments: Backend.allCases) func aReusedMessageIDWithOtherContentIsDeliveredAndFlagged(_ backend: Backend) throws {
        let d = try deskWithTicket(backend)
        let r = try d.deliver(message(subject: "Different", id: "<ticket-1-original@customer.example.org>", body: "Other text"))
        #expect(r.outcome.ticketNumber == 2)
        #expect(try d.scalar("SELECT flagged FROM tickets WHERE id = 2") == "1")
    }
}

@Suite struct LoopTests {
    @Test(arguments: Backend.allCases) func ourOwnNotificationComingBackIsStoredAndNothingElse(_ backend: Backend) throws {
        let d = try deskWithTicket(backend)
        let ours = NotificationID.make(ticket: 1, event: 1, key: try d.key(), domain: "helpdesk.example.com")
        let r = try d.deliver(message(from: "Service Desk <helpdesk@helpdesk.example.com>", subject: "Service Desk Ticket [#1]", id: "<\(ours)>"))
        #expect(r.outcome == DeliveryOutcome(action: .loop, ticketNumber: nil))
        #expect(try d.store.count(.tickets) == 1)
        #expect(try d.events() == ["created"])
        #expect(try d.store.count(.rawMessages) == 2)
        #expect(try d.scalar("SELECT action FROM deliveries ORDER BY raw_message_id DESC LIMIT 1") == "loop")
    }

    @Test(arguments: Backend.allCases) func ourXLoopHeaderIsALoop(_ backend: Backend) throws {
        let d = try deskWithTicket(backend)
        let r = try d.deliver(message(subject: "anything", headers: "X-Loop: helpdesk@helpdesk.example.com\r\n"))
        #expect(r.outcome.action == .loop)
        #expect(try d.deliver(message(subject: "other", headers: "X-Loop: list@lists.example.org\r\n")).outcome.action == .created)
    }
}

@Suite struct HelpdeskAddressTests {
    @Test(arguments: Backend.allCases) func mailToASecondAddressGetsItsType(_ backend: Backend) throws {
        let d = try Desk(backend)
        try d.store.addUser(UserRecord(name: "Bill", role: .technician, emails: ["bill@helpdesk.example.com"]))
        try d.store.addTicketType(TicketTypeRecord(name: "Billing", technician: "Bill", notifyEmails: [], addresses: ["billing@helpdesk.example.com"]))
        try d.store.addRule(RuleRecord(name: "vpn", textToMatch: "vpn", ticketType: "General", priority: "High", order: 1, enabled: true))
        try d.deliver(message(to: "billing@helpdesk.example.com", subject: "Invoice 42"), recipient: "Billing@Helpdesk.Example.com")
        let t = try #require(try d.store.ticket(number: 1))
        #expect(t.summary.ticketType == "Billing")
        #expect(t.summary.technician == "Bill")
        #expect(t.recipient == "Billing@Helpdesk.Example.com")
        // A rule matches first.
        try d.deliver(message(subject: "VPN invoice"), recipient: "billing@helpdesk.example.com")
        #expect(try d.store.ticket(number: 2)?.summary.ticketType == "General")
        // Another address, the default.
        try d.deliver(message(subject: "Invoice 43"), recipient: "support@helpdesk.example.com")
        #expect(try d.store.ticket(number: 3)?.summary.ticketType == "General")
    }

    @Test(arguments: Backend.allCases) func anAddressBelongsToOneTypeOnly(_ backend: Backend) throws {
        let d = try Desk(backend)
        try d.store.addTicketType(TicketTypeRecord(name: "Billing", technician: nil, notifyEmails: [], addresses: ["billing@x.example"]))
        #expect(throws: InvalidInput.self) {
            try d.store.addTicketType(TicketTypeRecord(name: "Sales", technician: nil, notifyEmails: [], addresses: ["BILLING@x.example"]))
        }
        #expect(throws: InvalidInput.self) {
            try d.store.addTicketType(TicketTypeRecord(name: "Sales", technician: nil, notifyEmails: [], addresses: ["not an address"]))
        }
    }
}

@Suite struct TechnicianUpdateTests {
    @Test(arguments: Backend.allCases) func aReplyByHandIsQueuedForTheRequester(_ backend: Backend) throws {
        let d = try deskWithTicket(backend)
        try d.store.replyToTicket(1, as: nil, text: "Please switch it off.")
        let t = try #require(try d.store.ticket(number: 1))
        #expect(t.events.map(\.kind) == ["created", "reply"])
        #expect(t.events.last?.source == "admin")
        #expect(t.events.last?.author == "Tom Tech")
        #expect(try d.scalar("SELECT kind FROM outbox ORDER BY id DESC LIMIT 1") == "reply")
    }

    @Test(arguments: Backend.allCases) func badValuesAreRefusedAndNothingChanges(_ backend: Backend) throws {
        let d = try deskWithTicket(backend)
        let before = try d.store.count(.outbox)
        for (changes, field) in [(TicketChanges(status: "Done"), "status"), (TicketChanges(priority: "Meh"), "priority"),
                                 (TicketChanges(ticketType: "Nope"), "type"), (TicketChanges(technician: "Ann Customer"), "technician"),
                                 (TicketChanges(status: "Closed", technician: "Nobody"), "technician"), (TicketChanges(note: "  "), "note")] {
            let e = try #require(throws: InvalidInput.self) { try d.store.updateTicket(1, changes, as: nil) }
            #expect(e.field == field)
        }
        #expect(throws: InvalidInput.self) { try d.store.replyToTicket(1, as: "Ann Customer", text: "hi") }
        #expect(throws: InvalidInput.self) { try d.store.replyToTicket(99, as: nil, text: "hi") }
        #expect(try d.store.ticket(number: 1)?.summary.status == "Open")
        #expect(try d.events() == ["created"])
        #expect(try d.store.count(.outbox) == before)
    }

    @Test(arguments: Backend.allCases) func eachChangeIsAnEvent(_ backend: Backend) throws {
        let d = try deskWithTicket(backend)
        try d.store.addTicketType(TicketTypeRecord(name: "Network", technician: nil, notifyEmails: []))
        let done = try d.store.updateTicket(1, TicketChanges(status: "in progress", priority: "urgent", ticketType: "Network", note: "Called Ann"),
                                            as: "Tom Tech")
        #expect(done == ["status: Open → In Progress", "priority: Medium → Urgent", "type: General → Network", "note added"])
        let t = try #require(try d.store.ticket(number: 1))
        #expect(t.summary.status == "In Progress" && t.summary.priority == "Urgent" && t.summary.ticketType == "Network")
        #expect(t.events.map(\.kind) == ["created", "update", "update", "update", "note"])
        #expect(try d.scalar("SELECT kind FROM outbox ORDER BY id DESC LIMIT 1") == "ticket_updated")
    }
}

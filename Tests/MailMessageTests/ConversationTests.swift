import Foundation
import Testing
@testable import MailMessage

private func parse(_ s: String) -> Message { Message.parse(Array(s.utf8)) }

/// The conventions the fixtures share.
private enum Conv {
    static let notification = "wt-notification-1@helpdesk.example.com"
    static let ticket = "ticket-1-original@customer.example.org"
    static let gone = "gone@customer.example.org"
}

/// Seconds a closure takes (a loose bound in the tests catches a quadratic loop, not speed).
private func seconds(_ body: () -> Void) -> Double {
    let d = ContinuousClock().measure(body)
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

@Suite("conversations: delivery status notifications")
struct DeliveryStatusTests {
    /// (fixture, the report)
    static let reports: [(String, DeliveryStatusReport)] = [
        ("conv-dsn-postfix.eml", DeliveryStatusReport(
            recipients: [DSNRecipient(address: Conv.gone, action: "failed", status: "5.1.1",
                                      diagnostic: "smtp; 550 5.1.1 <gone@customer.example.org>: Recipient address rejected: User unknown in virtual mailbox table")],
            originalMessageIDs: [Conv.notification], form: "postfix", originalReferences: [Conv.ticket])),
        ("conv-dsn-postfix-delayed.eml", DeliveryStatusReport(
            recipients: [DSNRecipient(address: Conv.gone, action: "delayed", status: "4.4.1",
                                      diagnostic: "X-Postfix; connect to mx.customer.example.org[192.0.2.25]:25: Connection timed out")],
            originalMessageIDs: [Conv.notification], form: "postfix", originalReferences: [Conv.ticket])),
        ("conv-dsn-exim.eml", DeliveryStatusReport(
            recipients: [DSNRecipient(address: Conv.gone, action: "failed", status: "5.1.1",
                                      diagnostic: "LMTP error after RCPT TO:<gone@customer.example.org>: 550 5.1.1 <gone@customer.example.org> User doesn't exist: gone@customer.example.org")],
            originalMessageIDs: [Conv.notification], form: "exim", originalReferences: [Conv.ticket])),
        ("conv-dsn-qmail.eml", DeliveryStatusReport(
            recipients: [
                DSNRecipient(address: Conv.gone, action: "failed", status: "5.1.1",
                             diagnostic: "Sorry, no mailbox here by that name. (#5.1.1)"),
                DSNRecipient(address: "ann.old@legacy.customer.example.org", action: "failed", status: "5.1.1",
                             diagnostic: "192.0.2.30 does not like recipient. Remote host said: 550 5.1.1 <ann.old@legacy.customer.example.org>: Mailbox disabled Giving up on 192.0.2.30."),
            ],
            originalMessageIDs: [Conv.notification], form: "qmail", originalReferences: [Conv.ticket])),
        ("conv-dsn-exchange.eml", DeliveryStatusReport(
            recipients: [DSNRecipient(address: Conv.gone, action: "failed", status: "5.1.1",
                                      diagnostic: "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found")],
            originalMessageIDs: [Conv.notification], form: "exchange", originalReferences: [Conv.ticket])),
        ("conv-dsn-gmail.eml", DeliveryStatusReport(
            recipients: [DSNRecipient(address: Conv.gone, action: "failed", status: "5.1.1",
                                      diagnostic: "smtp; 550 5.1.1 <gone@customer.example.org>: Recipient address rejected: User unknown")],
            originalMessageIDs: [Conv.notification], form: "gmail", originalReferences: [Conv.ticket])),
        ("conv-dsn-gmail-legacy.eml", DeliveryStatusReport(
            recipients: [DSNRecipient(address: Conv.gone, action: "failed", status: "5.1.1",
                                      diagnostic: "550 550 5.1.1 <gone@customer.example.org>: Recipient address rejected: User unknown (state 14).")],
            originalMessageIDs: [Conv.notification], form: "gmail", originalReferences: [Conv.ticket])),
    ]

    @Test(arguments: reports)
    func report(_ fixture: String, _ expected: DeliveryStatusReport) {
        let m = Fixture.message(fixture)
        #expect(m.deliveryStatusReport() == expected)
        // CRLF line ends read the same.
        #expect(Message.parse(Fixture.bytes(fixture).withCRLF).deliveryStatusReport() == expected)
    }

    @Test func failedRecipients() {
        #expect(Fixture.message("conv-dsn-postfix.eml").deliveryStatusReport()?.failedRecipients == [Conv.gone])
        #expect(Fixture.message("conv-dsn-qmail.eml").deliveryStatusReport()?.failedRecipients
            == [Conv.gone, "ann.old@legacy.customer.example.org"])
        // A delay is not a failure.
        #expect(Fixture.message("conv-dsn-postfix-delayed.eml").deliveryStatusReport()?.failedRecipients == [])
    }

    /// The fixtures are well-formed mail: nothing to repair.
    @Test(arguments: Fixture.all.filter { $0.hasPrefix("conv-") })
    func fixtureParsesCleanly(_ fixture: String) {
        let m = Fixture.message(fixture)
        #expect(m.defects == [])
        #expect(m.content().defects == [])
    }

    /// Ordinary mail is never a report: replies, robots, spam, the request itself.
    @Test(arguments: Fixture.all.filter { $0.hasPrefix("conv-") && !$0.hasPrefix("conv-dsn-") } + ["plain-text.eml", "attached-message.eml"])
    func notAReport(_ fixture: String) {
        #expect(Fixture.message(fixture).deliveryStatusReport() == nil)
    }

    /// A person who quotes an Exchange NDR is not one; the same text from postmaster, or with the
    /// field Exchange puts on its NDRs, is: the sender is what tells them apart.
    @Test func quotedReportIsNotAReport() {
        let bytes = Fixture.bytes("conv-reply-quotes-ndr.eml")
        #expect(Message.parse(bytes).deliveryStatusReport() == nil)
        let text = String(decoding: bytes, as: UTF8.self)
        let fromPostmaster = text.replacingOccurrences(of: "From: Ann Customer <ann@customer.example.org>\nTo: Helpdesk",
                                                       with: "From: postmaster@customer.example.org\nTo: Helpdesk")
        #expect(fromPostmaster != text)
        let r = parse(fromPostmaster).deliveryStatusReport()
        #expect(r?.form == "exchange")
        #expect(r?.failedRecipients == [Conv.gone])
        #expect(r?.recipients.first?.diagnostic == "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found")
        #expect(r?.originalMessageIDs == [Conv.ticket])
        let withNDRField = text.replacingOccurrences(of: "MIME-Version: 1.0\n", with: "MIME-Version: 1.0\nX-MS-Exchange-Message-Is-Ndr:\n")
        #expect(parse(withNDRField).deliveryStatusReport()?.failedRecipients == [Conv.gone])
    }

    /// A mail system's sender alone is not enough: the form's text must be there too, all of it.
    @Test func mailerDaemonWithoutReportText() {
        #expect(parse("From: MAILER-DAEMON@mx.example.org\nSubject: Hello\n\nJust a note.\n").deliveryStatusReport() == nil)
        // Exim's opening line without its list of failed addresses.
        let half = "From: Mail Delivery System <Mailer-Daemon@mx.example.org>\nSubject: Warning\n\n"
            + "This message was created automatically by mail delivery software.\n\nA message is frozen.\n"
        #expect(parse(half).deliveryStatusReport() == nil)
        // The list of failed addresses without Exim's opening line.
        let other = "From: MAILER-DAEMON@mx.example.org\nSubject: x\n\nThe following address(es) failed:\n\n  a@example.org\n"
        #expect(parse(other).deliveryStatusReport() == nil)
        // And Exim's whole text from a person.
        let exim = String(decoding: Fixture.bytes("conv-dsn-exim.eml"), as: UTF8.self)
            .replacingOccurrences(of: "From: Mail Delivery System <Mailer-Daemon@mx.customer.example.org>", with: "From: Ann <ann@customer.example.org>")
            .replacingOccurrences(of: "X-Failed-Recipients: gone@customer.example.org\n", with: "")
        #expect(parse(exim).deliveryStatusReport() == nil)
    }

    /// Read receipts and other reports are not delivery status notifications.
    @Test func otherReportTypes() {
        let mdn = """
            From: Ann Customer <ann@customer.example.org>
            Subject: Read: Printer on fire
            MIME-Version: 1.0
            Content-Type: multipart/report; report-type=disposition-notification; boundary="b"

            --b
            Content-Type: text/plain

            Your message was displayed.
            --b
            Content-Type: message/disposition-notification

            Final-Recipient: rfc822; ann@customer.example.org
            Original-Message-ID: <wt-notification-1@helpdesk.example.com>
            Disposition: manual-action/MDN-sent-manually; displayed
            --b--

            """
        let m = parse(mdn)
        #expect(m.deliveryStatusReport() == nil)
        #expect(m.automaticMarkers() == ["disposition notification"])
    }

    /// RFC 6533 reports, a returned header block in message/global-headers, an action given only
    /// by its status, and an address written with brackets and an upper-case domain.
    @Test func globalReportAndMissingAction() {
        let s = """
            From: postmaster@mx.example.org
            Subject: Undeliverable
            MIME-Version: 1.0
            Content-Type: multipart/report; report-type=global-delivery-status; boundary="b"

            --b
            Content-Type: text/plain

            Your message could not be delivered.
            --b
            Content-Type: message/global-delivery-status

            Reporting-MTA: dns; mx.example.org

            Final-Recipient: rfc822; <Jörg@Example.ORG>
            Status: 5.2.2 (mailbox full)

            Original-Recipient: rfc822;x@example.net
            Action: Delivered (relayed to a mailbox)
            Status: 2.0.0
            --b
            Content-Type: message/global-headers

            Message-ID: <a1@example.com>
            References: <r1@example.com>
             <r2@example.com>
            --b--

            """
        let r = parse(s).deliveryStatusReport()
        #expect(r == DeliveryStatusReport(
            recipients: [DSNRecipient(address: "Jörg@example.org", action: "failed", status: "5.2.2"),
                         DSNRecipient(address: "x@example.net", action: "delivered", status: "2.0.0")],
            originalMessageIDs: ["a1@example.com"], form: "rfc3464", originalReferences: ["r1@example.com", "r2@example.com"]))
    }

    /// Exchange's standard report is named for Exchange; a report without a status part is read
    /// from its text.
    @Test func exchangeStandardReportAndMissingStatusPart() {
        let s = """
            From: Microsoft Outlook <postmaster@customer.example.org>
            To: helpdesk@helpdesk.example.com
            Subject: Undeliverable: [Ticket #1] Printer on fire
            In-Reply-To: <wt-notification-1@helpdesk.example.com>
            MIME-Version: 1.0
            Content-Type: multipart/report; report-type=delivery-status; boundary="b"

            --b
            Content-Type: text/plain; charset=us-ascii

            Delivery has failed to these recipients or groups:

            Gone Person (gone@customer.example.org)
            The email address you entered couldn't be found.

            --b
            Content-Type: message/delivery-status

            Reporting-MTA: dns;EX01.customer.example.org

            Final-Recipient: rfc822;gone@customer.example.org
            Action: failed
            Status: 5.1.10
            Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup
            --b--

            """
        let r = parse(s).deliveryStatusReport()
        #expect(r?.form == "exchange")
        #expect(r?.recipients == [DSNRecipient(address: Conv.gone, action: "failed", status: "5.1.10",
                                              diagnostic: "smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup")])
        #expect(r?.originalMessageIDs == [Conv.notification])
        // Without its status part, the NDR's text still names the recipient.
        let noStatus = s.replacingOccurrences(of: "Content-Type: message/delivery-status", with: "Content-Type: application/octet-stream")
        let r2 = parse(noStatus).deliveryStatusReport()
        #expect(r2?.form == "exchange")
        #expect(r2?.recipients == [DSNRecipient(address: Conv.gone, action: "failed")])
    }

    /// An NDR whose original is attached, not quoted.
    @Test func nonStandardWithAttachedOriginal() {
        let s = """
            From: postmaster@customer.example.org
            Subject: Undeliverable: Printer on fire
            MIME-Version: 1.0
            Content-Type: multipart/mixed; boundary="b"

            --b
            Content-Type: text/plain

            Delivery has failed to these recipients or groups:

            gone@customer.example.org
            The recipient's mailbox is full.

            --b
            Content-Type: message/rfc822

            Message-ID: <wt-notification-1@helpdesk.example.com>
            In-Reply-To: <ticket-1-original@customer.example.org>
            Subject: Printer on fire

            Body.
            --b--

            """
        let r = parse(s).deliveryStatusReport()
        #expect(r == DeliveryStatusReport(recipients: [DSNRecipient(address: Conv.gone, action: "failed")],
                                          originalMessageIDs: [Conv.notification], form: "exchange",
                                          originalReferences: [Conv.ticket]))
    }

    /// Exim's delay warning.
    @Test func eximDelay() {
        let s = """
            From: Mail Delivery System <Mailer-Daemon@mx.customer.example.org>
            Subject: Warning: message 1vQx2Z-0003Ll-2u delayed 24 hours

            This message was created automatically by mail delivery software.
            A message that you sent has not yet been delivered to one or more of its
            recipients after more than 24 hours on the queue on mx.customer.example.org.

            The message identifier is:     1vQx2Z-0003Ll-2u

            The address to which the message has not yet been delivered is:

              gone@customer.example.org
                Delay reason: mailbox is full (MTA-imposed quota exceeded while writing to file /var/mail/gone)

            No action is required on your part.

            """
        let r = parse(s).deliveryStatusReport()
        #expect(r?.form == "exim")
        #expect(r?.recipients == [DSNRecipient(address: Conv.gone, action: "delayed",
                                              diagnostic: "Delay reason: mailbox is full (MTA-imposed quota exceeded while writing to file /var/mail/gone)")])
        #expect(r?.failedRecipients == [])
    }

    /// Thousands of recipients are capped at 1,000; a huge diagnostic at 300 characters.
    @Test func hostileReportsAreCapped() {
        var ds = "Reporting-MTA: dns; mx.example.org\n\n"
        for k in 0..<5_000 { ds += "Final-Recipient: rfc822; u\(k)@example.org\nAction: failed\nStatus: 5.1.1\n\n" }
        ds += "Final-Recipient: rfc822; last@example.org\nAction: failed\nDiagnostic-Code: smtp; 550\n"
        ds += String(repeating: " xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", count: 10_000)
        let s = "From: MAILER-DAEMON@mx.example.org\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\n" + ds + "--b--\n"
        var r: DeliveryStatusReport?
        let t = seconds { r = parse(s).deliveryStatusReport() }
        #expect(r?.recipients.count == 1_000)
        #expect(r?.recipients.last?.address == "u999@example.org")
        #expect(t < 20)
        // The diagnostic cap, on the one recipient.
        let one = "From: MAILER-DAEMON@mx.example.org\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; last@example.org\nAction: failed\nDiagnostic-Code: smtp; 550\n" + String(repeating: " xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", count: 10_000) + "--b--\n"
        let d = parse(one).deliveryStatusReport()?.recipients.first?.diagnostic
        #expect(d?.count == 300)
        #expect(d?.hasPrefix("smtp; 550 xxxx") == true)

        // The text forms too.
        var exim = "From: Mail Delivery System <Mailer-Daemon@mx.example.org>\n\nThis message was created automatically by mail delivery software.\n\nThe following address(es) failed:\n\n"
        for k in 0..<3_000 { exim += "  u\(k)@example.org\n    550 5.1.1 unknown\n" }
        #expect(parse(exim).deliveryStatusReport()?.recipients.count == 1_000)
        var ndr = "From: postmaster@example.org\n\nDelivery has failed to these recipients or groups:\n\n"
        for k in 0..<3_000 { ndr += "u\(k)@example.org\n" }
        #expect(parse(ndr).deliveryStatusReport()?.recipients.count == 1_000)
        var qmail = "From: MAILER-DAEMON@example.org\n\nHi. This is the qmail-send program at example.org.\n\n"
        for k in 0..<3_000 { qmail += "<u\(k)@example.org>:\nSorry.\n\n" }
        #expect(parse(qmail).deliveryStatusReport()?.recipients.count == 1_000)
    }

    /// Broken reports: no crash, no hang, and what can be read is read.
    @Test func brokenReportsDoNotCrash() {
        let bodies = [
            "",
            " folded line with nothing before it\n\nAction: failed\n",
            "Final-Recipient:\nAction:\nStatus:\n",
            "Final-Recipient: rfc822;\n",
            "no colon here\n\n\n:\n::\n",
            String(repeating: "Final-Recipient: rfc822; a@b\n", count: 3_000),
            String(repeating: "\u{1}\u{0}\u{FF}", count: 10_000),
        ]
        for b in bodies {
            let s = "From: MAILER-DAEMON@x\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\n\(b)\n--b\nContent-Type: text/rfc822-headers\n\n\(b)\n--b--\n"
            let r = parse(s).deliveryStatusReport()
            #expect(r != nil)
            #expect(r!.recipients.count <= 1)
        }
        // The non-standard forms with their pieces missing or out of order.
        let texts = [
            "Hi. This is the qmail-send program at x.\n<>:\n<a@b>:",
            "Hi. This is the qmail-send program at x.\n--- Below this line is a copy of the message.",
            "This message was created automatically by mail delivery software.\n------ This is a copy of the message, including all the headers. ------\nThe following address(es) failed:",
            "Delivery has failed to these recipients or groups:",
            "Original message headers:\nDelivery has failed to these recipients or groups:\nDiagnostic information for administrators:\na@b.c",
            "Delivery to the following recipient failed permanently:\n\n     a@b.c\n\nThe error that the other server returned was:",
            "Delivery to the following recipient failed permanently:",
        ]
        for t in texts {
            _ = parse("From: MAILER-DAEMON@x\n\n" + t).deliveryStatusReport()
            _ = parse("From: MAILER-DAEMON@x\n\n" + t + "\n").automaticMarkers()
        }
    }

    @Test func statusCodes() {
        #expect(findStatusCode(Array("550 5.1.1 <a@b>".utf8)) == "5.1.1")
        #expect(findStatusCode(Array("(#5.7.1)".utf8)) == "5.7.1")
        #expect(findStatusCode(Array("4.4.7".utf8)) == "4.4.7")
        // Not inside addresses and versions.
        #expect(findStatusCode(Array("host 10.4.5.6 said hello".utf8)) == nil)
        #expect(findStatusCode(Array("Exim 4.96.2 on 192.0.2.25".utf8)) == nil)
        #expect(findStatusCode(Array("Exim 4.9.2 ready".utf8)) == nil)  // RFC 3463 subjects are 0 to 7
        #expect(findStatusCode(Array("Exim 4.7.2 ready".utf8)) == "4.7.2")
        #expect(findStatusCode(Array("version 2.1.1.3".utf8)) == nil)
        #expect(findStatusCode(Array("5.1.1234".utf8)) == nil)
        #expect(findStatusCode(Array("3.1.1 6.1.1".utf8)) == nil)
    }

    @Test func addressLines() {
        func a(_ s: String) -> String? { standaloneAddress(Array(s.utf8)[...]) }
        #expect(a("gone@customer.example.org") == Conv.gone)
        #expect(a("  gone@Customer.Example.ORG  ") == Conv.gone)
        #expect(a("gone@customer.example.org<mailto:gone@customer.example.org>") == Conv.gone)
        #expect(a("Gone Person (gone@customer.example.org)") == Conv.gone)
        #expect(a("Gone Person <gone@customer.example.org>") == Conv.gone)
        #expect(a("'gone@customer.example.org'") == Conv.gone)
        #expect(a("Please contact your helpdesk.") == nil)
        #expect(a("Write to gone@customer.example.org today.") == nil)
        #expect(a("a@b") == nil)
        #expect(a("@b.c") == nil)
        #expect(a("") == nil)
    }
}

@Suite("conversations: robots and spam")
struct AutomaticMarkerTests {
    static let markers: [(String, [String])] = [
        ("conv-ooo-exchange.eml", ["Auto-Submitted: auto-generated", "X-Auto-Response-Suppress",
                                   "Exchange inbox rule (X-MS-Exchange-Inbox-Rules-Loop)"]),
        ("conv-ooo-gmail.eml", ["Auto-Submitted: auto-replied"]),
        ("conv-dsn-postfix.eml", ["Auto-Submitted: auto-replied", "delivery status notification", "From: MAILER-DAEMON"]),
        ("conv-dsn-postfix-delayed.eml", ["Auto-Submitted: auto-replied", "delivery status notification", "From: MAILER-DAEMON"]),
        ("conv-dsn-exim.eml", ["Auto-Submitted: auto-replied", "From: MAILER-DAEMON", "delivery status notification"]),
        ("conv-dsn-qmail.eml", ["From: MAILER-DAEMON", "delivery status notification"]),
        ("conv-dsn-exchange.eml", ["Auto-Submitted: auto-replied", "From: postmaster", "delivery status notification"]),
        ("conv-dsn-gmail.eml", ["Auto-Submitted: auto-replied", "delivery status notification", "From: MAILER-DAEMON"]),
        ("conv-dsn-gmail-legacy.eml", ["From: MAILER-DAEMON", "delivery status notification"]),
        // Personal mail.
        ("conv-new-request.eml", []),
        ("conv-reply-outlook.eml", []),
        ("conv-reply-outlook-de.eml", []),
        ("conv-reply-gmail.eml", []),
        ("conv-reply-apple.eml", []),
        ("conv-reply-thunderbird.eml", []),
        ("conv-reply-quotes-ndr.eml", []),
        ("conv-spam-spamassassin.eml", []),
        ("conv-spam-rspamd.eml", []),
        ("conv-auth-dmarc-fail.eml", []),
        ("plain-text.eml", []),
    ]

    @Test(arguments: markers)
    func fixtureMarkers(_ fixture: String, _ expected: [String]) {
        #expect(Fixture.message(fixture).automaticMarkers() == expected)
    }

    /// One field at a time, each with a value that is a reason and one that is not.
    static let fields: [(String, [String])] = [
        ("Auto-Submitted: no", []),
        ("Auto-Submitted: No (sent by a person)", []),
        ("Auto-Submitted: auto-replied", ["Auto-Submitted: auto-replied"]),
        ("Auto-Submitted: Auto-Generated; owner-email=\"robot@example.org\"", ["Auto-Submitted: auto-generated"]),
        ("Auto-Submitted: auto-notified", ["Auto-Submitted: auto-notified"]),
        ("Precedence: bulk", ["Precedence: bulk"]),
        ("Precedence: Junk", ["Precedence: junk"]),
        ("Precedence: list", ["Precedence: list"]),
        ("Precedence: first-class", []),
        ("List-Id: Printer users <printers.example.org>", ["List-Id"]),
        ("List-Unsubscribe: <mailto:leave@example.org>", ["List-Unsubscribe"]),
        ("X-Auto-Response-Suppress: All", ["X-Auto-Response-Suppress"]),
        ("X-Auto-Response-Suppress: DR, OOF, AutoReply", ["X-Auto-Response-Suppress"]),
        ("X-Auto-Response-Suppress: DR, RN, NRN", []),
        ("X-Auto-Response-Suppress: None", []),
        ("X-MS-Exchange-Inbox-Rules-Loop: ann@example.org", ["Exchange inbox rule (X-MS-Exchange-Inbox-Rules-Loop)"]),
        ("X-Autoreply: yes", ["X-Autoreply"]),
        ("X-Autoreply: no", []),
        ("X-Autorespond: Vacation", ["X-Autorespond"]),
        ("X-Autogenerated: Reply", ["X-Autogenerated"]),
        ("X-Loop: helpdesk@example.org", ["X-Loop"]),
        ("X-Priority: 1", []),
    ]

    @Test(arguments: fields)
    func fieldMarkers(_ field: String, _ expected: [String]) {
        #expect(parse("From: Ann <ann@example.org>\n\(field)\nSubject: hi\n\nHello.\n").automaticMarkers() == expected)
    }

    @Test func senders() {
        #expect(parse("From: MAILER-DAEMON\n\nx\n").automaticMarkers() == ["From: MAILER-DAEMON"])
        #expect(parse("From: Postmaster <postmaster@example.org>\n\nx\n").automaticMarkers() == ["From: postmaster"])
        #expect(parse("From: Microsoft Exchange <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@example.org>\n\nx\n")
            .automaticMarkers() == ["From: Exchange system mailbox"])
        // A person whose name looks like a mail system's.
        #expect(parse("From: Post Master <pm@example.org>\n\nx\n").automaticMarkers() == [])
        #expect(parse("From: mailer-daemon-fan@example.org\n\nx\n").automaticMarkers() == [])
        // The envelope sender is the caller's business.
        #expect(parse("Return-Path: <>\nFrom: Ann <ann@example.org>\n\nx\n").automaticMarkers() == [])
    }

    static let spam: [(String, [String])] = [
        ("conv-spam-spamassassin.eml", ["X-Spam-Flag: YES", "X-Spam-Status: Yes"]),
        ("conv-spam-rspamd.eml", ["X-Spam: Yes", "X-Rspamd-Action: add header"]),
        ("conv-new-request.eml", []),
        ("conv-reply-gmail.eml", []),
        ("conv-ooo-exchange.eml", []),
        ("conv-dsn-postfix.eml", []),
        ("conv-auth-dmarc-fail.eml", []),
    ]

    @Test(arguments: spam)
    func fixtureSpam(_ fixture: String, _ expected: [String]) {
        #expect(Fixture.message(fixture).spamMarkers() == expected)
    }

    static let spamFields: [(String, [String])] = [
        ("X-Spam-Flag: YES", ["X-Spam-Flag: YES"]),
        ("X-Spam-Flag: NO", []),
        ("X-Spam-Status: Yes, score=7.9 required=5.0 tests=BAYES_99", ["X-Spam-Status: Yes"]),
        ("X-Spam-Status: No, score=-0.1 required=5.0 tests=ALL_TRUSTED", []),
        ("X-Spam-Status: No, score=9.9 comment=Yes", []),
        ("X-Spamd-Result: default: True [16.40 / 15.00];\n\tABUSE_SURBL(5.50)[example.net:url]", ["X-Spamd-Result: action=reject"]),
        ("X-Spamd-Result: default: False [3.10 / 15.00];\n\tR_SPF_SOFTFAIL(0.60)[~all]", []),
        ("X-Rspamd-Action: reject", ["X-Rspamd-Action: reject"]),
        ("X-Rspamd-Action: rewrite subject", ["X-Rspamd-Action: rewrite subject"]),
        ("X-Rspamd-Action: no action", []),
        ("X-Rspamd-Action: greylist", []),
        ("X-Rspamd-Action: soft reject", []),
        ("X-Rspamd-Pre-Result: action=reject;\n\tmodule=multimap;\n\tMatched map: BLOCKLIST", ["X-Rspamd-Pre-Result: action=reject"]),
        ("X-Rspamd-Pre-Result: action=no action;\n\tmodule=replies;\n\tMessage is reply to one we originated", []),
        ("X-Spam: Yes", ["X-Spam: Yes"]),
        ("X-Spam: No", []),
        ("X-Spam-Level: ********", []),
    ]

    @Test(arguments: spamFields)
    func spamFieldMarkers(_ field: String, _ expected: [String]) {
        #expect(parse("From: Ann <ann@example.org>\n\(field)\nSubject: hi\n\nHello.\n").spamMarkers() == expected)
    }
}

@Suite("conversations: Authentication-Results")
struct AuthenticationResultsTests {
    typealias R = AuthenticationResults.Result

    @Test func trustedDMARCFail() {
        let a = Fixture.message("conv-auth-dmarc-fail.eml").authenticationResults()
        #expect(a == [
            AuthenticationResults(authservID: "mx.helpdesk.example.com", results: [
                R(method: "dmarc", result: "fail", properties: ["header.from": "example.org"]),
            ]),
            AuthenticationResults(authservID: "mx.helpdesk.example.com", results: [
                R(method: "dkim", result: "fail", properties: [
                    "reason": "signature verification failed", "header.d": "example.org", "header.i": "@example.org",
                    "header.a": "rsa-sha256", "header.s": "mail2026", "header.b": "Qm2x9fTz",
                ]),
                R(method: "spf", result: "fail", properties: ["smtp.mailfrom": "billing@example.org"]),
            ]),
        ])
        #expect(a.first?.dmarc(forDomain: "example.org") == "fail")
        #expect(a.first?.dmarc(forDomain: "Example.ORG.") == "fail")
        #expect(a.first?.dmarc(forDomain: "example.com") == nil)
        #expect(a.last?.dmarc(forDomain: "example.org") == nil)
    }

    /// A look-alike authserv-id claims a pass: only an exact comparison with the trusted id keeps
    /// it out.
    @Test func forgedAuthservID() {
        let a = Fixture.message("conv-auth-forged.eml").authenticationResults()
        #expect(a.map(\.authservID) == ["mx.helpdesk.example.com.mail-relay.example.net"])
        #expect(a.first?.dmarc(forDomain: "example.org") == "pass")
        #expect(a.filter { $0.authservID == "mx.helpdesk.example.com" }.isEmpty)
    }

    /// A header with the trusted id that the sender wrote sits below the ones the MTA added:
    /// the topmost is the MTA's.
    @Test func forgedBelowTheTrustedOnes() {
        let a = Fixture.message("conv-auth-forged-below.eml").authenticationResults()
        #expect(a.count == 3)
        #expect(a.allSatisfy { $0.authservID == "mx.helpdesk.example.com" })
        #expect(a.compactMap { $0.dmarc(forDomain: "example.org") } == ["fail", "pass"])
        #expect(a[1].results == [R(method: "spf", result: "fail", properties: ["smtp.mailfrom": "billing@example.org"])])
    }

    static let values: [(String, AuthenticationResults)] = [
        // Comments (nested, with ";" and "=" in them), several results, a reason.
        ("mx.example.com (Postfix; v=1); dmarc=fail (p=reject dis=none; was: dmarc=pass (upstream)) header.from=example.org;\n"
            + "\tdkim=pass (1024-bit key; secure) header.d=example.org header.i=@example.org header.b=\"a+b/c=\";"
            + " spf=pass (x: domain of a@example.org designates 192.0.2.1) smtp.mailfrom=a@example.org; arc=none",
         AuthenticationResults(authservID: "mx.example.com", results: [
             R(method: "dmarc", result: "fail", properties: ["header.from": "example.org"]),
             R(method: "dkim", result: "pass", properties: ["header.d": "example.org", "header.i": "@example.org", "header.b": "a+b/c="]),
             R(method: "spf", result: "pass", properties: ["smtp.mailfrom": "a@example.org"]),
             R(method: "arc", result: "none"),
         ])),
        // Microsoft writes no authserv-id, and no space after ";".
        ("spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.org; dkim=pass (signature was verified)"
            + " header.d=example.org;dmarc=pass action=none header.from=example.org;compauth=pass reason=100",
         AuthenticationResults(authservID: "", results: [
             R(method: "spf", result: "pass", properties: ["smtp.mailfrom": "example.org"]),
             R(method: "dkim", result: "pass", properties: ["header.d": "example.org"]),
             R(method: "dmarc", result: "pass", properties: ["action": "none", "header.from": "example.org"]),
             R(method: "compauth", result: "pass", properties: ["reason": "100"]),
         ])),
        // A version, a method version, upper case, a quoted authserv-id.
        ("MX.Example.COM 1; DKIM/1=PASS Header.D=Example.org", AuthenticationResults(authservID: "mx.example.com", results: [
            R(method: "dkim", result: "pass", properties: ["header.d": "Example.org"]),
        ])),
        ("\"mx.example.com\"; spf=none smtp.helo=mx.example.net", AuthenticationResults(authservID: "mx.example.com", results: [
            R(method: "spf", result: "none", properties: ["smtp.helo": "mx.example.net"]),
        ])),
        // No results.
        ("mx.example.com; none", AuthenticationResults(authservID: "mx.example.com", results: [])),
        ("mx.example.com", AuthenticationResults(authservID: "mx.example.com", results: [])),
        ("", AuthenticationResults(authservID: "", results: [])),
        // Broken: an unclosed comment, an unclosed quote, stray signs.
        ("mx.example.com; dmarc=fail (unclosed header.from=example.org", AuthenticationResults(authservID: "mx.example.com", results: [
            R(method: "dmarc", result: "fail"),
        ])),
        ("mx.example.com; dkim=pass header.b=\"abc; spf=pass", AuthenticationResults(authservID: "mx.example.com", results: [
            R(method: "dkim", result: "pass", properties: ["header.b": "abc; spf=pass"]),
        ])),
        ("mx.example.com; =pass; /=x; dmarc=pass / header.from=a.example; ;;", AuthenticationResults(authservID: "mx.example.com", results: [
            R(method: "dmarc", result: "pass", properties: ["header.from": "a.example"]),
        ])),
    ]

    @Test(arguments: values)
    func parses(_ value: String, _ expected: AuthenticationResults) {
        let m = parse("From: a@example.org\nAuthentication-Results: \(value)\n\nx\n")
        #expect(m.authenticationResults() == [expected])
    }

    @Test func noHeaderNoResults() {
        #expect(Fixture.message("plain-text.eml").authenticationResults() == [])
    }

    /// A header of a megabyte of separators and comments is read in one pass.
    @Test func hostileValue() {
        let value = "mx.example.com; " + String(repeating: "(;(=)) ;= /", count: 80_000) + String(repeating: "dkim=pass x.y=z; ", count: 5_000)
        var a: [AuthenticationResults] = []
        let t = seconds { a = parse("Authentication-Results: \(value)\n\nx\n").authenticationResults() }
        #expect(a.first?.results.count == 1_000)
        #expect(t < 20)
    }
}

@Suite("conversations: quoted text")
struct QuotedTextTests {
    /// (fixture, the reply's own text, how the quoted part starts)
    static let replies: [(String, String, String)] = [
        ("conv-reply-gmail.eml",
         "Thanks. The smoke is gone, but the room still smells. Can someone bring a\nnew toner cartridge too?\n\nAnn",
         "On Mon, Nov 2, 2026 at 10:05\u{202F}AM Helpdesk <helpdesk@helpdesk.example.com>\nwrote:\n\n> Your request"),
        ("conv-reply-apple.eml", "The new printer can go in the same place. I will be in the office until 5.\n\nAnn",
         "> On 2 Nov 2026, at 10:05, Helpdesk <helpdesk@helpdesk.example.com> wrote:\n"),
        ("conv-reply-thunderbird.eml", "Please also check the printer on floor 3, it makes the same noise.\n\nAnn",
         "On 11/2/26 10:05, Helpdesk wrote:\n> Your request"),
        ("conv-reply-outlook.eml",
         "Hi,\n\nthe printer is out of the building now. The fire brigade says it was the\nfuser unit. Can you order a replacement?\n\nRegards\nAnn",
         "-----Original Message-----\nFrom: Helpdesk"),
        ("conv-reply-outlook-de.eml",
         "Hallo,\n\nder Drucker ist entsorgt. Bitte bestellen Sie einen neuen für den 2. Stock.\n\nGruß\nAnn",
         "________________________________\nVon: Helpdesk"),
        ("conv-reply-quotes-ndr.eml",
         "Hi,\n\nI copied my colleague when I reported the printer and got this back.\nCan you check why? His address should still work.\n\nAnn",
         "-----Original Message-----\nFrom: Microsoft Outlook"),
    ]

    @Test(arguments: replies)
    func fixtureReplies(_ fixture: String, _ own: String, _ quoteStart: String) {
        let text = Fixture.message(fixture).bodyText()
        let offset = quotedTextOffset(text)
        #expect(offset != nil)
        guard let offset else { return }
        let utf8 = Array(text.utf8)
        #expect(String(decoding: utf8[..<offset], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == own)
        #expect(String(decoding: utf8[offset...], as: UTF8.self).hasPrefix(quoteStart))
    }

    @Test(arguments: ["conv-new-request.eml", "conv-ooo-exchange.eml", "conv-ooo-gmail.eml", "plain-text.eml"])
    func noQuote(_ fixture: String) {
        #expect(quotedTextOffset(Fixture.message(fixture).bodyText()) == nil)
    }

    /// (text, where the quote starts: the text after the marker "|", or nil)
    static let texts: [(String, String?)] = [
        ("Merci.\n\n|Le lun. 2 nov. 2026 à 10:05, Helpdesk <helpdesk@example.com> a écrit\u{202F}:\n> Bonjour\n", nil),
        ("Merci.\n\n|Le 02/11/2026 à 10:05, Helpdesk a écrit\u{00A0}:\n> Bonjour\n", nil),
        ("Danke.\n\n|Am 02.11.2026 um 10:05 schrieb Helpdesk <helpdesk@example.com>:\n> Hallo\n", nil),
        ("Gracias.\n\n|El lun, 2 nov 2026 a las 10:05, Helpdesk (<helpdesk@example.com>) escribió:\n> Hola\n", nil),
        ("Dank je.\n\n|Op ma 2 nov. 2026 om 10:05 schreef Helpdesk <helpdesk@example.com>:\n> Hallo\n", nil),
        // Outlook's block with no line above it, in English and German.
        ("Done.\n\n|From: Helpdesk <helpdesk@example.com>\nSent: Monday, November 2, 2026 10:05 AM\nTo: Ann\nSubject: Printer\n\nHello\n", nil),
        ("Erledigt.\n\n|Von: Helpdesk <helpdesk@example.com>\nGesendet: Montag, 2. November 2026 10:05\nAn: Ann\nCc: Bob\nBetreff: Drucker\n\nHallo\n", nil),
        ("Fait.\n\n|De : Helpdesk <helpdesk@example.com>\nEnvoyé : lundi 2 novembre 2026 10:05\nÀ : Ann\nObjet : Imprimante\n", nil),
        ("Done.\n\n|*From:* Helpdesk <helpdesk@example.com>\n*Sent:* Monday\n*To:* Ann\n*Subject:* Printer\n", nil),
        ("Done.\n\n|-----Ursprüngliche Nachricht-----\nVon: Helpdesk\n", nil),
        ("Done.\n\n|----- Original Message -----\nFrom: Helpdesk\n", nil),
        // A strong attribution (an address or a time) stands alone, as when a quote lost its ">".
        ("Thanks.\n\n|On Mon, 2 Nov 2026 at 10:00, Ann <a@b.example> wrote:\n\nHello there\n", nil),
        // No attribution: the ">" lines alone.
        ("Ok.\n\n|> quoted\n> more\n", nil),
        ("|> all of it\n> quoted\n", nil),
        // A trailing signature after the quote, or a short name when the reply is above it.
        ("Yes.\n\n|> question\n> more\n\n-- \nAnn Customer\nACME Ltd\n", nil),
        ("Thanks!\n\n|On 11/2/26 10:05, Helpdesk wrote:\n> question\n\nAnn\n", nil),
        // Interleaved answers: only the quote that runs to the end.
        ("On 11/2/26 10:05, Helpdesk wrote:\n> first question\nFirst answer.\n\n|> the rest of the message\n> more\n", nil),
        // CRLF.
        ("Thanks.\r\n\r\n|On 11/2/26 10:05, Helpdesk wrote:\r\n> x\r\n", nil),
        // Not quotes.
        ("Hello,\nno quote here.\n", "none"),
        ("", "none"),
        ("Interleaved:\nOn 11/2/26 10:05, Helpdesk wrote:\n> first\nAnswer one.\n> second\nAnswer two.\n", "none"),
        ("On 11/2/26 10:05, Helpdesk wrote:\n> question\n\nYes, that works for us.\n", "none"),
        ("Hi,\n\nOn 11/2/26 10:05, Helpdesk wrote:\n> question\n\nYes, that works for us.\n", "none"),
        ("Am Montag schrieb mir der Chef folgendes:\nDer Drucker muss weg.\n", "none"),
        ("Ann wrote:\nthe printer is fine\n", "none"),
        ("Line of underscores\n________________________________\nNo header block after it.\n", "none"),
        ("From: me\nTo: you\nNo sent or subject line.\n", "none"),
        ("A dash line\n-----------------\nand text\n", "none"),
        ("-----Not a marker-----\n", "none"),
        ("> quoted at the top\nthen a long answer that follows,\nover several lines\nof text\nthat is not a signature\n", "none"),
    ]

    @Test(arguments: texts)
    func offsets(_ marked: String, _ none: String?) {
        let text = marked.replacingOccurrences(of: "|", with: "")
        let expected: Int? = none == nil ? marked.components(separatedBy: "|")[0].utf8.count : nil
        #expect(quotedTextOffset(text) == expected)
    }

    /// Long inputs made of what the markers are made of: one pass each.
    @Test func hostileTexts() {
        let n = 100_000
        let texts = [
            String(repeating: "> q\n", count: n),
            String(repeating: "On x wrote:\n", count: n),
            String(repeating: "On 1:00, a@b wrote:\n> q\nanswer\n", count: n / 3),
            String(repeating: "From: a\nSent: b\nTo: c\n", count: n / 3),
            String(repeating: "________________________________\n\n\n", count: n / 3),
            String(repeating: "-", count: 3_000_000),
            String(repeating: "On the long line ", count: 200_000) + "wrote:\n> x\n",
            String(repeating: "x\n", count: n) + String(repeating: "> q\n\n", count: n),
        ]
        for t in texts {
            var r: Int?
            let s = seconds { r = quotedTextOffset(t) }
            #expect(s < 20, "\(t.prefix(40))")
            _ = r
        }
        #expect(quotedTextOffset(String(repeating: "> q\n", count: n)) == 0)
        #expect(quotedTextOffset(String(repeating: "x\n", count: n) + String(repeating: "> q\n\n", count: n)) == 2 * n)
    }

    /// The offset counts UTF-8 bytes.
    @Test func utf8Offset() {
        let text = "Grüße, Jörg 😀\n\n> zitiert\n"
        let offset = quotedTextOffset(text)
        #expect(offset == "Grüße, Jörg 😀\n\n".utf8.count)
    }
}

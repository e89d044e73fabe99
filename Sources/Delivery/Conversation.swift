public import MailMessage
public import TicketStore

/// What a message is to the helpdesk, and why: decided from the message, the envelope and
/// what the store knows, before anything is written.
public struct Decision: Sendable, Equatable {
    public enum Action: String, Sendable { case new, followUp = "follow-up", duplicate, bounce, loop }
    public var action: Action
    /// The ticket it goes to (follow-up, bounce), or nil.
    public var ticket: Int64?
    /// The ticket a new ticket follows on from.
    public var linkedTicket: Int64?
    /// Mail that no automatic mail may answer.
    public var automatic = false
    public var reasons: [String] = []
    /// For a person to look at (a forged-looking reply, a Message-ID reused).
    public var flagged = false
    /// A follow-up's event: "followup", or "reply" for a technician's answer.
    public var eventKind = "followup"
    public var reopen = false
    public var failedRecipients: [String] = []
    public var spam = false

    public init(action: Action) { self.action = action }
}

extension Deliverer {
    public static func conversation(_ message: Message, envelope: Envelope, config: Configuration,
                                    lookup: any ConversationLookup) throws -> Decision {
        // The key is read only for a Message-ID in our form: most mail names none.
        var cachedKey: [UInt8]? = nil
        func tagged(_ id: String) throws -> (ticket: Int64, event: Int64)? {
            guard id.hasPrefix("wt-") else { return nil }
            if cachedKey == nil { cachedKey = try lookup.messageIDKey() }
            return NotificationID.verify(id, key: cachedKey!)
        }
        let who = requester(message, envelope: envelope)
        var d = Decision(action: .new)

        // Our own mail coming back: kept raw, nothing else.
        let ours = (config.setting("from_email") ?? "").lowercased()
        for f in message.headers.all("x-loop").prefix(20) {
            let v = String(decoding: message.headers.rawValue(f), as: UTF8.self).lowercased()
            if !ours.isEmpty && v.contains(ours) {
                d.action = .loop
                d.reasons = ["X-Loop: \(ours) is ours"]
                return d
            }
        }
        if let id = message.messageID, let n = try tagged(id) {
            d.action = .loop
            d.reasons = ["its Message-ID is our notification about ticket \(n.ticket)"]
            return d
        }

        // Mail no robot may answer.
        if let s = envelope.sender, s.isEmpty || s == "<>" { d.reasons.append("null envelope sender") }
        if let s = envelope.sender, ["mailer-daemon", "postmaster"].contains(localPart(s)) { d.reasons.append("envelope sender \(s)") }
        d.reasons += message.automaticMarkers()
        d.automatic = !d.reasons.isEmpty
        if config.flag("trust_spam_headers") {
            let spam = message.spamMarkers()
            if !spam.isEmpty {
                d.spam = true
                d.automatic = true
                d.reasons += spam.map { "marked as spam: \($0)" }
            }
        }

        // A message received before with other content (the same bytes never get here).
        if let id = message.messageID, try lookup.messageIDReceived(id) {
            d.flagged = true
            d.reasons.append("Message-ID <\(id)> was received before, with other content")
        }

        // Bounces concern a message of ours, or they are a ticket of their own.
        if let report = message.deliveryStatusReport() {
            d.automatic = true
            var ours = false
            for id in (report.originalMessageIDs + report.originalReferences).prefix(50) {
                if let n = try tagged(id), try lookup.ticketState(n.ticket) != nil {
                    d.action = .bounce
                    d.ticket = n.ticket
                    ours = true
                    d.reasons.append("delivery status notification (\(report.form)) about our notification for ticket \(n.ticket)")
                } else if let n = try lookup.ticket(receivedMessageID: id) {
                    d.action = .bounce
                    d.ticket = n
                    d.reasons.append("delivery status notification (\(report.form)) about a message of ticket \(n)")
                }
                if d.action == .bounce { break }
            }
            if d.action == .bounce {
                // Anyone can write a report: an address is marked as bouncing only by one that
                // came from a mail system (null envelope sender) about a mail we sent (its
                // Message-ID carries our tag, which nobody else can make).
                let fromMailSystem = envelope.sender.map { $0.isEmpty || $0 == "<>" } ?? false
                if ours && fromMailSystem {
                    d.failedRecipients = report.failedRecipients
                    if !d.failedRecipients.isEmpty { d.reasons.append("failed: \(d.failedRecipients.joined(separator: ", ")), marked as bouncing") }
                } else if !report.failedRecipients.isEmpty {
                    d.reasons.append("failed: \(report.failedRecipients.joined(separator: ", ")); not marked as bouncing (\(ours ? "the envelope sender is not null" : "not about a mail of ours"))")
                }
            } else {
                d.flagged = true
                d.reasons.append("delivery status notification (\(report.form)) about no message of ours")
            }
            return d
        }

        // Which ticket it answers, if any: our tagged Message-IDs first (nobody can make them
        // up), then Message-IDs we received, then the ticket tag in the subject.
        var candidate: (ticket: TicketState, why: String)? = nil
        func consider(_ ids: [String], _ header: String) throws {
            for id in ids where candidate == nil {
                if let n = try tagged(id), let t = try lookup.ticketState(n.ticket) {
                    candidate = (t, "\(header) names our notification about ticket \(t.number)")
                } else if let n = try lookup.ticket(receivedMessageID: id), let t = try lookup.ticketState(n) {
                    candidate = (t, "\(header) names a message of ticket \(t.number)")
                }
            }
        }
        try consider(Array(message.inReplyTo.prefix(20)), "In-Reply-To")
        try consider(Array(message.references.suffix(50).reversed()), "References")
        if candidate == nil, let n = ticketTag(in: message.subject ?? "", emailSubject: config.setting("email_subject") ?? ""),
           let t = try lookup.ticketState(n) {
            candidate = (t, "the subject carries [#\(n)]")
        }
        guard let (ticket, why) = candidate else { return d }
        d.reasons.append(why)

        // Who may update it by mail.
        let user = try who.address.flatMap { try lookup.user(address: $0) }
        let sender = who.address ?? "an unknown sender"
        var allowed = true
        if let u = user, u.id == ticket.requesterID {
            d.reasons.append("sender is the ticket's requester")
        } else if let u = user, u.id == ticket.technicianID {
            d.reasons.append("sender is the ticket's technician")
            d.eventKind = "reply"
        } else if let u = user, u.role == .technician {
            d.reasons.append("sender is a technician (\(u.name))")
            d.eventKind = "reply"
        } else if config.flag("followup_from_anyone") {
            d.reasons.append("sender \(sender) may update it (followup_from_anyone)")
        } else {
            allowed = false
            d.reasons.append("sender \(sender) is neither the requester nor a technician: a new ticket, linked to ticket \(ticket.number)")
        }
        // An answer meant for the requester is never an automatic one.
        if d.automatic { d.eventKind = "followup" }

        // A DMARC failure reported by our own MTA: the From address may be forged.
        if allowed, let trusted = config.setting("trusted_authserv_id")?.lowercased(), !trusted.isEmpty,
           let domain = who.address.flatMap(domainPart) {
            for ar in message.authenticationResults().prefix(20) where ar.authservID.lowercased() == trusted {
                if ar.dmarc(forDomain: domain) == "fail" {
                    allowed = false
                    d.flagged = true
                    d.reasons.append("Authentication-Results of \(trusted): dmarc=fail for \(domain): not trusted as a follow-up, a new ticket linked to ticket \(ticket.number)")
                    break
                }
            }
        }

        if allowed && ticket.isClosed {
            if d.automatic {
                d.reasons.append("ticket \(ticket.number) is \(ticket.status); automatic mail does not reopen it")
            } else if config.flag("reopen_on_reply") {
                d.reopen = true
                d.reasons.append("ticket \(ticket.number) was \(ticket.status): reopened")
            } else {
                allowed = false
                d.reasons.append("ticket \(ticket.number) is \(ticket.status) and reopen_on_reply is off: a new ticket, linked to it")
            }
        }
        if allowed {
            d.action = .followUp
            d.ticket = ticket.number
        } else {
            d.linkedTicket = ticket.number
        }
        return d
    }

    /// N from "SUBJECT [#N]" anywhere in the subject (under any Re:, AW:, [EXTERNAL] and the
    /// like), where SUBJECT is the "Email Subject" setting; nil when it is not there.
    static func ticketTag(in subject: String, emailSubject: String) -> Int64? {
        let s = Array(subject.lowercased().utf8.prefix(2000))
        let prefix = Array(emailSubject.lowercased().utf8)
        var i = 0
        while i + 2 < s.count {
            guard s[i] == UInt8(ascii: "["), s[i + 1] == UInt8(ascii: "#") else { i += 1; continue }
            var j = i + 2
            var n: Int64 = 0
            while j < s.count, j - i < 20, s[j] >= 48, s[j] <= 57 { n = n * 10 + Int64(s[j] - 48); j += 1 }
            if j > i + 2, j < s.count, s[j] == UInt8(ascii: "]"), n > 0 {
                // The setting's text just before the tag (spaces between allowed).
                var k = i
                while k > 0, s[k - 1] == 32 { k -= 1 }
                if prefix.isEmpty || (k >= prefix.count && Array(s[(k - prefix.count)..<k]) == prefix) { return n }
            }
            i = j
        }
        return nil
    }

    static func localPart(_ address: String) -> String {
        address.lowercased().split(separator: "@").first.map(String.init) ?? ""
    }

    static func domainPart(_ address: String) -> String? {
        guard let at = address.lastIndex(of: "@") else { return nil }
        let d = address[address.index(after: at)...].lowercased()
        return d.isEmpty ? nil : d
    }
}

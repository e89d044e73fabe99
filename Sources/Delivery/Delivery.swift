public import Logging
public import MailMessage
public import Rules
public import TicketStore

/// What one delivery did, for the exit status and the log line.
public struct DeliveryReport: Sendable {
    public var outcome: DeliveryOutcome
    public var size: Int
    public var messageID: String?
    public var matchedRule: String?
    public var defects: [String]
}

/// Turns one received message into a ticket: parse, decide, then one store transaction.
public struct Deliverer {
    public let store: any TicketStore
    public let logger: Logger

    public init(store: any TicketStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// The exactly-once key: the raw bytes and the recipient, hashed together.
    public static func deliveryKey(raw: UnsafeBufferPointer<UInt8>, recipient: String?) -> (key: String, rawSHA256: String) {
        var h = SHA256()
        h.update(raw)
        let rawDigest = SHA256.hex(h.finalize())
        var k = SHA256()
        k.update(Array(rawDigest.utf8) + [0] + Array((recipient ?? "").lowercased().utf8))
        return (SHA256.hex(k.finalize()), rawDigest)
    }

    public func deliver(_ raw: ByteBuffer, envelope: Envelope) throws -> DeliveryReport {
        let message = Message.parse(raw)
        let (key, rawDigest) = Self.deliveryKey(raw: raw.bytes, recipient: envelope.recipient)
        var matched: String? = nil
        var defects: [String] = []
        let outcome = try store.deliver(key: key, raw: UnsafeRawBufferPointer(raw.bytes), rawSHA256: rawDigest, envelope: envelope) { config, lookup in
            let decided = try Self.plan(message, raw: raw, envelope: envelope, config: config, lookup: lookup)
            matched = decided.rule
            defects = decided.defects
            return decided.plan
        }
        return DeliveryReport(outcome: outcome, size: raw.count, messageID: message.messageID, matchedRule: matched, defects: defects)
    }

    /// The rule decision, with what was tried, for the ticket and for --explain.
    public struct RuleDecision {
        public var match: RuleMatch?
        /// Enabled rules in running order up to and including the one that matched (all of
        /// them when none did).
        public var tried: [Rule]
        public var ticketType: String
        public var priority: String
        public var technician: String?
    }

    static func rule(_ r: Configuration.RuleRow) -> Rule {
        Rule(name: r.name, textToMatch: r.textToMatch, ticketType: r.ticketType, priority: r.priority, order: r.order, enabled: r.enabled)
    }

    /// Applies the rules: the compiled index finds the first rule whose text occurs in the
    /// sender, subject or body; no match gives the default type and priority.
    /// The ticket type is the matching rule's, else that of the type receiving for the
    /// envelope recipient, else the default; mail marked as spam gets the spam type when set.
    public static func decide(_ subject: some RuleSubject, config: Configuration, recipient: String? = nil, spam: Bool = false,
                              withTried: Bool = false) throws -> RuleDecision {
        var match: RuleMatch? = nil
        var position: Int? = nil
        var compiled = try rulesIndex(config)
        var found: RuleHit?
        do {
            found = try compiled.firstMatch(subject)
        } catch {
            // The stored index is damaged: rebuilt from the rules, stored again, used.
            compiled = try rulesIndex(config, rebuild: true)
            found = try compiled.firstMatch(subject)
        }
        if let hit = found, let row = try config.rule(id: compiled.ruleID(at: hit.position)) {
            position = hit.position
            match = RuleMatch(rule: rule(row), field: hit.field, matchedText: hit.matchedText)
        }
        var tried: [Rule] = []
        if withTried {
            let enabled = try config.rules().filter(\.enabled).map(rule)
            tried = Array(enabled.prefix(position.map { $0 + 1 } ?? enabled.count))
        }
        let byRecipient = recipient.flatMap { r in config.ticketTypes.first { t in t.addresses.contains { $0.lowercased() == r.lowercased() } } }
        var typeName = match?.rule.ticketType ?? byRecipient?.name ?? config.setting("default_ticket_type") ?? "General"
        if spam, let s = config.setting("spam_ticket_type"), !s.isEmpty { typeName = s }
        let type = config.ticketTypes.first { $0.name.lowercased() == typeName.lowercased() }
        return RuleDecision(match: match, tried: tried, ticketType: type?.name ?? typeName,
                            priority: match?.rule.priority ?? config.setting("default_priority") ?? "Medium",
                            technician: type?.technician)
    }

    /// The compiled rules: the index stored for this rules version when its layout checks out
    /// (matching checks the rest), else compiled now from the rules and stored (in the
    /// delivery's transaction) for the next delivery.
    static func rulesIndex(_ config: Configuration, rebuild: Bool = false) throws -> CompiledRules {
        if !rebuild, let stored = config.storedRulesIndex, let c = CompiledRules(image: stored.bytes, owner: stored),
           c.version == config.rulesVersion {
            return c
        }
        let enabled = try config.rules().filter(\.enabled)
        let image = CompiledRules.compile(texts: enabled.map(\.textToMatch), ids: enabled.map(\.id), version: config.rulesVersion)
        try config.saveRulesIndex(image)
        return CompiledRules.inMemory(image)!
    }

    /// Who sent a message: the first From mailbox with an address, else Sender; the address
    /// falls back to the envelope sender.
    static func requester(_ message: Message, envelope: Envelope) -> (name: String?, address: String?) {
        let from = message.from.first { $0.address != nil } ?? message.sender.first
        let envelopeSender = envelope.sender.flatMap { $0.isEmpty || $0 == "<>" ? nil : $0 }
        // "From: jsmith" (no domain) says less than the envelope's jsmith@corp.example.
        if let a = from?.address, !a.contains("@"), let e = envelopeSender, e.contains("@") { return (from?.name, e) }
        return (from?.name, from?.address ?? envelopeSender)
    }

    /// What rules see of a message: the sender's name and address, the subject, the body.
    public static func ruleSubject(_ message: Message, content: MessageContent, envelope: Envelope) -> PlainSubject {
        ruleSubject(requester(message, envelope: envelope), subject: message.subject ?? "", content: content)
    }

    static func ruleSubject(_ who: (name: String?, address: String?), subject: String, content: MessageContent) -> PlainSubject {
        PlainSubject(sender: [who.name, who.address].compactMap { $0 }.joined(separator: " "), subject: subject, body: content.bodyText)
    }

    /// What a ticket keeps of header values (the raw message keeps everything): a subject
    /// as long as a header line may be, a name, an address as long as SMTP allows.
    public static let maxSubject = 998, maxName = 200, maxAddress = 320

    /// Decides what to write: pure, from the message, the raw bytes as they will be stored,
    /// the configuration and what the store knows.
    public static func plan(_ message: Message, raw: ByteBuffer, envelope: Envelope, config: Configuration,
                            lookup: any ConversationLookup) throws -> (plan: DeliveryPlan, decision: Decision, rule: String?, defects: [String]) {
        let d = try conversation(message, envelope: envelope, config: config, lookup: lookup)
        if d.action == .loop { return (.loop(reasons: d.reasons), d, nil, []) }
        let content = message.content()
        var who = requester(message, envelope: envelope)
        who.name = who.name.map { capped($0, maxName) }
        if let a = who.address, a.utf8.count > maxAddress { who.address = nil }
        let subject = capped(message.subject ?? "", maxSubject)
        let allDefects = message.defects + content.defects
        let flagged = d.flagged || allDefects.contains(where: \.isSevere)
        var detail = ""
        if !allDefects.isEmpty { detail += "defects:\n" + allDefects.map { "  \($0)" }.joined(separator: "\n") }
        let attachments = zip(message.structure.attachments, content.attachments).map { part, info in
            // Bytes that are a range of the stored message are stored as that range (not when
            // the parser read a normalised copy of it).
            let inRaw = part.source === raw ? (range: part.fileRange, encoding: part.fileEncoding.name) : nil
            return TicketPlan.Attachment(filename: info.filename, contentType: info.contentType,
                                         size: info.size, sha256: info.sha256, inline: info.inline, contentID: info.contentID,
                                         rawRange: inRaw, data: { sink in part.decodeFile(into: sink) })
        }
        let messageID = message.messageID.map { capped($0, maxSubject) }
        func event(_ kind: String) -> EventPlan {
            EventPlan(kind: kind, authorAddress: who.address, authorName: who.name, subject: subject, body: content.bodyText,
                      quotedAt: kind == "bounce" ? nil : quotedTextOffset(content.bodyText), messageID: messageID, flagged: flagged,
                      detail: detail, reasons: d.reasons, attachments: attachments, automatic: d.automatic)
        }
        switch d.action {
        case .followUp:
            let plan = DeliveryPlan.followUp(ticket: d.ticket!, event: event(d.eventKind), reopen: d.reopen,
                                             notify: d.eventKind == "reply" ? "reply" : "ticket_updated")
            return (plan, d, nil, allDefects.map(\.description))
        case .bounce:
            return (.bounce(ticket: d.ticket!, event: event("bounce"), failedRecipients: d.failedRecipients), d, nil, allDefects.map(\.description))
        default:
            break
        }
        let rules = try decide(ruleSubject(who, subject: subject, content: content), config: config,
                               recipient: envelope.recipient, spam: d.spam)
        if let m = rules.match { detail = "rule: \(m.rule.name) (\(m.field.rawValue): \"\(capped(m.matchedText, maxSubject))\")\n" + detail }
        var ticket = TicketPlan(
            subject: subject.isEmpty ? "(no subject)" : subject,
            body: content.bodyText,
            requesterAddress: who.address,
            requesterName: who.name,
            ticketType: rules.ticketType,
            priority: rules.priority,
            messageID: messageID,
            flagged: flagged,
            detail: detail,
            attachments: attachments,
            notify: true)
        ticket.recipient = envelope.recipient.map { capped($0, maxAddress) }
        ticket.linkedTicket = d.linkedTicket
        ticket.automatic = d.automatic
        ticket.reasons = d.reasons
        return (.newTicket(ticket), d, rules.match?.rule.name, allDefects.map(\.description))
    }

    /// At most `limit` characters, cut on a character boundary, with "…" where it was cut.
    static func capped(_ s: String, _ limit: Int) -> String {
        guard s.utf8.count > limit else { return s }
        var out = ""
        var n = 0
        for ch in s {
            if n >= limit - 1 { break }
            out.append(ch)
            n += 1
        }
        return out + "…"
    }
}

extension Defect {
    /// Defects that mean the message may not have been read as its sender meant it.
    public var isSevere: Bool {
        switch code {
        case .noHeaders, .emptyMessage, .missingHeaderBodySeparator, .boundaryNotFound, .missingBoundary, .depthLimit,
             .partLimit, .headerTooLarge, .tooManyHeaderFields:
            return true
        default:
            return false
        }
    }
}

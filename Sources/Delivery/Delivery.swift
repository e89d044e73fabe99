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
        let outcome = try store.deliver(key: key, raw: UnsafeRawBufferPointer(raw.bytes), rawSHA256: rawDigest, envelope: envelope) { config in
            let decided = try Self.plan(message, raw: raw, envelope: envelope, config: config)
            matched = decided.rule
            defects = decided.defects
            return decided.ticket
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
    public static func decide(_ subject: some RuleSubject, config: Configuration, withTried: Bool = false) throws -> RuleDecision {
        var match: RuleMatch? = nil
        var position: Int? = nil
        let compiled = try rulesIndex(config)
        if let hit = compiled.firstMatch(subject), let row = try config.rule(id: compiled.ruleID(at: hit.position)) {
            position = hit.position
            match = RuleMatch(rule: rule(row), field: hit.field, matchedText: hit.matchedText)
        }
        var tried: [Rule] = []
        if withTried {
            let enabled = try config.rules().filter(\.enabled).map(rule)
            tried = Array(enabled.prefix(position.map { $0 + 1 } ?? enabled.count))
        }
        let typeName = match?.rule.ticketType ?? config.setting("default_ticket_type") ?? "General"
        let type = config.ticketTypes.first { $0.name.lowercased() == typeName.lowercased() }
        return RuleDecision(match: match, tried: tried, ticketType: type?.name ?? typeName,
                            priority: match?.rule.priority ?? config.setting("default_priority") ?? "Medium",
                            technician: type?.technician)
    }

    /// The compiled rules: the index stored for this rules version when it checks out, else
    /// compiled now from the rules and stored (in the delivery's transaction) for the next.
    static func rulesIndex(_ config: Configuration) throws -> CompiledRules {
        if let stored = config.storedRulesIndex, let c = CompiledRules(validating: stored.bytes, owner: stored),
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
        return (from?.name, from?.address ?? envelope.sender.flatMap { $0.isEmpty ? nil : $0 })
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

    /// Decides the ticket: pure, from the message, the raw bytes as they will be stored, and
    /// the configuration.
    public static func plan(_ message: Message, raw: ByteBuffer, envelope: Envelope,
                            config: Configuration) throws -> (ticket: TicketPlan, rule: String?, defects: [String]) {
        let content = message.content()
        var who = requester(message, envelope: envelope)
        who.name = who.name.map { capped($0, maxName) }
        if let a = who.address, a.utf8.count > maxAddress { who.address = nil }
        let subject = capped(message.subject ?? "", maxSubject)
        let decision = try decide(ruleSubject(who, subject: subject, content: content), config: config)
        let allDefects = message.defects + content.defects
        let severe = allDefects.filter(\.isSevere)
        var detail = ""
        if let m = decision.match { detail += "rule: \(m.rule.name) (\(m.field.rawValue): \"\(capped(m.matchedText, maxSubject))\")\n" }
        if !allDefects.isEmpty { detail += "defects:\n" + allDefects.map { "  \($0)" }.joined(separator: "\n") }
        let attachments = zip(message.structure.attachments, content.attachments).map { part, info in
            // Bytes that are a range of the stored message are stored as that range (not when
            // the parser read a normalised copy of it).
            let inRaw = part.source === raw ? (range: part.fileRange, encoding: part.fileEncoding.name) : nil
            return TicketPlan.Attachment(filename: info.filename, contentType: info.contentType,
                                         size: info.size, sha256: info.sha256, inline: info.inline, contentID: info.contentID,
                                         rawRange: inRaw, data: { sink in part.decodeFile(into: sink) })
        }
        let ticket = TicketPlan(
            subject: subject.isEmpty ? "(no subject)" : subject,
            body: content.bodyText,
            requesterAddress: who.address,
            requesterName: who.name,
            ticketType: decision.ticketType,
            priority: decision.priority,
            messageID: message.messageID.map { capped($0, maxSubject) },
            flagged: !severe.isEmpty,
            detail: detail,
            attachments: attachments,
            notify: !isAutomated(message, envelope: envelope))
        return (ticket, decision.match?.rule.name, allDefects.map(\.description))
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

    /// Mail that no automatic reply may answer (RFC 3834): auto-submitted, bulk, list or
    /// bounce mail.
    static func isAutomated(_ m: Message, envelope: Envelope) -> Bool {
        if let s = envelope.sender, s.isEmpty || s == "<>" { return true }
        let h = m.headers
        if let a = h.text("auto-submitted")?.lowercased(), !a.hasPrefix("no") { return true }
        if let p = h.text("precedence")?.lowercased(), ["bulk", "junk", "list"].contains(p) { return true }
        if h.first("list-id") != nil || h.first("x-auto-response-suppress") != nil { return true }
        let local = (m.from.first?.address ?? envelope.sender ?? "").lowercased().split(separator: "@").first.map(String.init) ?? ""
        return local == "mailer-daemon" || local == "postmaster"
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

public import Logging
public import MailMessage
internal import Rules
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
            let decided = Self.plan(message, envelope: envelope, config: config)
            matched = decided.rule
            defects = decided.defects
            return decided.ticket
        }
        return DeliveryReport(outcome: outcome, size: raw.count, messageID: message.messageID, matchedRule: matched, defects: defects)
    }

    /// Decides the ticket: pure, from the message and the configuration.
    public static func plan(_ message: Message, envelope: Envelope, config: Configuration) -> (ticket: TicketPlan, rule: String?, defects: [String]) {
        let content = message.content()
        let from = message.from.first { $0.address != nil } ?? message.sender.first
        let senderAddress = from?.address ?? envelope.sender.flatMap { $0.isEmpty ? nil : $0 }
        let subject = message.subject ?? ""
        let rules = RuleSet(config.rules.map {
            Rule(name: $0.name, textToMatch: $0.textToMatch, ticketType: $0.ticketType, priority: $0.priority, order: $0.order, enabled: $0.enabled)
        })
        let senderText = [from?.name, senderAddress].compactMap { $0 }.joined(separator: " ")
        let match = rules.firstMatch(PlainSubject(sender: senderText, subject: subject, body: content.bodyText))
        let allDefects = message.defects + content.defects
        let severe = allDefects.filter(\.isSevere)
        var detail = ""
        if let match { detail += "rule: \(match.rule.name) (\(match.field.rawValue): \"\(match.matchedText)\")\n" }
        if !allDefects.isEmpty { detail += "defects:\n" + allDefects.map { "  \($0)" }.joined(separator: "\n") }
        let attachments = zip(message.structure.attachments, content.attachments).map { part, info in
            TicketPlan.Attachment(filename: info.filename ?? defaultName(info.contentType), contentType: info.contentType,
                                  size: info.size, sha256: info.sha256, inline: info.inline, contentID: info.contentID,
                                  data: { part.decodedBody() })
        }
        let ticket = TicketPlan(
            subject: subject.isEmpty ? "(no subject)" : subject,
            body: content.bodyText,
            requesterAddress: senderAddress,
            requesterName: from?.name,
            ticketType: match?.rule.ticketType ?? config.setting("default_ticket_type") ?? "General",
            priority: match?.rule.priority ?? config.setting("default_priority") ?? "Medium",
            messageID: message.messageID,
            flagged: !severe.isEmpty,
            detail: detail,
            attachments: attachments,
            notify: !isAutomated(message, envelope: envelope))
        return (ticket, match?.rule.name, allDefects.map(\.description))
    }

    static func defaultName(_ contentType: String) -> String {
        let sub = contentType.split(separator: "/").last.map(String.init) ?? "bin"
        switch contentType {
        case "message/rfc822": return "message.eml"
        case "text/plain": return "attachment.txt"
        case "text/html": return "attachment.html"
        default: return "attachment." + (sub.count <= 8 && sub.allSatisfy { $0.isLetter || $0.isNumber } ? sub : "bin")
        }
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

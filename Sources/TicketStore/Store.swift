#if canImport(Glibc)
import Glibc
#endif
internal import CSQLite

/// What the rules and the delivery need to know of the configuration, read inside the
/// delivery's transaction.
public struct Configuration {
    public struct TicketType: Sendable, Equatable {
        public var id: Int64
        public var name: String
        public var technician: String?
        public var technicianID: Int64?
        public var notifyEmails: String
        /// Helpdesk addresses this type receives for.
        public var addresses: [String] = []
    }

    public struct RuleRow: Sendable, Equatable {
        public var id: Int64
        public var name: String
        public var textToMatch: String
        public var ticketType: String
        public var priority: String
        public var order: Int
        public var enabled: Bool
    }

    public var settings: [String: String]
    public var ticketTypes: [TicketType]
    /// Changes with every change to rules or ticket types.
    public var rulesVersion: UInt64
    /// The compiled rule index as stored, if one was stored for `rulesVersion`. Untrusted:
    /// the reader checks it before use.
    public var storedRulesIndex: StoredBytes?
    let loadRule: (Int64) throws -> RuleRow?
    let loadRules: () throws -> [RuleRow]
    let storeRulesIndex: (([UInt8]) throws -> Void)?

    public init(settings: [String: String], ticketTypes: [TicketType], rulesVersion: UInt64 = 0, rules: [RuleRow]) {
        self.settings = settings
        self.ticketTypes = ticketTypes
        self.rulesVersion = rulesVersion
        loadRule = { id in rules.first { $0.id == id } }
        loadRules = { rules }
        storeRulesIndex = nil
    }

    init(settings: [String: String], ticketTypes: [TicketType], rulesVersion: UInt64, storedRulesIndex: StoredBytes?,
         loadRule: @escaping (Int64) throws -> RuleRow?, loadRules: @escaping () throws -> [RuleRow],
         storeRulesIndex: (([UInt8]) throws -> Void)?) {
        self.settings = settings
        self.ticketTypes = ticketTypes
        self.rulesVersion = rulesVersion
        self.storedRulesIndex = storedRulesIndex
        self.loadRule = loadRule
        self.loadRules = loadRules
        self.storeRulesIndex = storeRulesIndex
    }

    /// Stores a compiled rule index for `rulesVersion`, in the transaction that read this
    /// configuration; does nothing on a read-only store.
    public func saveRulesIndex(_ image: [UInt8]) throws { try storeRulesIndex?(image) }

    /// One rule by its id (the compiled index names rules by id).
    public func rule(id: Int64) throws -> RuleRow? { try loadRule(id) }
    /// Every rule, enabled or not, in running order.
    public func rules() throws -> [RuleRow] { try loadRules() }

    public func setting(_ key: String) -> String? { settings[key] }
    public func flag(_ key: String) -> Bool {
        switch settings[key]?.lowercased() { case "true", "yes", "1", "on": return true; default: return false }
    }
}

/// Bytes from the database or a file beside it, in memory that never moves (a copy, or a
/// read-only mapping), freed with the last reference.
public final class StoredBytes {
    private let release: () -> Void
    public let bytes: UnsafeRawBufferPointer

    public init(copying p: UnsafeRawPointer?, count: Int) {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 8)
        if let p, count > 0 { storage.copyMemory(from: UnsafeRawBufferPointer(start: p, count: count)) }
        bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(storage)[0..<count])
        release = { storage.deallocate() }
    }

    /// `bytes` within a mapping of `length` bytes at `base`, unmapped on release.
    init(mapping base: UnsafeMutableRawPointer, length: Int, bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        release = { munmap(base, length) }
    }

    deinit { release() }
}

/// A ticket to create, decided before any write.
public struct TicketPlan {
    public struct Attachment {
        public var filename: String
        public var contentType: String
        public var size: Int
        public var sha256: String
        public var inline: Bool
        public var contentID: String?
        /// Where the bytes stand in the raw message, still transfer-encoded, with the encoding's
        /// name; nil when they are not a range of it.
        public var rawRange: (range: Range<Int>, encoding: String)?
        /// Hands the decoded bytes, in order and in pieces, to the given sink; called only when
        /// they must be stored as a blob that the store does not hold yet.
        public var data: ((UnsafeBufferPointer<UInt8>) -> Void) -> Void

        public init(filename: String, contentType: String, size: Int, sha256: String, inline: Bool,
                    contentID: String?, rawRange: (range: Range<Int>, encoding: String)? = nil,
                    data: @escaping ((UnsafeBufferPointer<UInt8>) -> Void) -> Void) {
            self.filename = filename
            self.contentType = contentType
            self.size = size
            self.sha256 = sha256
            self.inline = inline
            self.contentID = contentID
            self.rawRange = rawRange
            self.data = data
        }
    }

    public var subject: String
    public var body: String
    public var requesterAddress: String?
    public var requesterName: String?
    public var ticketType: String
    public var priority: String
    public var messageID: String?
    /// Defects or a fallback that a technician should look at.
    public var flagged: Bool
    public var detail: String
    public var attachments: [Attachment]
    /// Queue "ticket created" for the notifier.
    public var notify: Bool
    /// The helpdesk address it came in at.
    public var recipient: String? = nil
    /// The ticket this one follows on from (a reply that could not be a follow-up).
    public var linkedTicket: Int64? = nil
    /// Mail no automatic mail may answer.
    public var automatic = false
    /// Why delivery decided what it did.
    public var reasons: [String] = []

    public init(subject: String, body: String, requesterAddress: String?, requesterName: String?, ticketType: String,
                priority: String, messageID: String?, flagged: Bool, detail: String, attachments: [Attachment], notify: Bool) {
        self.subject = subject
        self.body = body
        self.requesterAddress = requesterAddress
        self.requesterName = requesterName
        self.ticketType = ticketType
        self.priority = priority
        self.messageID = messageID
        self.flagged = flagged
        self.detail = detail
        self.attachments = attachments
        self.notify = notify
    }
}

/// A message added to an existing ticket (a follow-up, a technician's answer, a bounce).
public struct EventPlan {
    /// "followup" (from the requester or anyone allowed), "reply" (a technician's answer,
    /// meant for the requester), "bounce" (a delivery status notification).
    public var kind: String
    public var authorAddress: String?
    public var authorName: String?
    public var subject: String
    public var body: String
    /// Where the quoted part of `body` starts (UTF-8 offset), if it has one.
    public var quotedAt: Int?
    public var messageID: String?
    public var flagged: Bool
    public var detail: String
    public var reasons: [String]
    public var attachments: [TicketPlan.Attachment]
    public var automatic: Bool

    public init(kind: String, authorAddress: String?, authorName: String?, subject: String, body: String, quotedAt: Int?,
                messageID: String?, flagged: Bool, detail: String, reasons: [String], attachments: [TicketPlan.Attachment], automatic: Bool) {
        self.kind = kind
        self.authorAddress = authorAddress
        self.authorName = authorName
        self.subject = subject
        self.body = body
        self.quotedAt = quotedAt
        self.messageID = messageID
        self.flagged = flagged
        self.detail = detail
        self.reasons = reasons
        self.attachments = attachments
        self.automatic = automatic
    }
}

/// What to write for one message, decided before any write.
public enum DeliveryPlan {
    case newTicket(TicketPlan)
    /// An event on ticket `ticket`; `reopen` sets a closed ticket open again; `notify` is the
    /// notifier's queue entry ("ticket_updated", "reply"), if any.
    case followUp(ticket: Int64, event: EventPlan, reopen: Bool, notify: String?)
    /// A delivery status notification about ticket `ticket`: an event, and the failed
    /// recipients marked as bouncing.
    case bounce(ticket: Int64, event: EventPlan, failedRecipients: [String])
    /// Our own mail come back: the raw message is kept, nothing else happens.
    case loop(reasons: [String])
}

/// What the store knows that decides what a message is, read in the delivery's transaction.
public protocol ConversationLookup {
    func ticketState(_ number: Int64) throws -> TicketState?
    /// The ticket of a message we received, by its Message-ID.
    func ticket(receivedMessageID id: String) throws -> Int64?
    func user(address: String) throws -> UserState?
    /// Whether a message with this Message-ID was received before.
    func messageIDReceived(_ id: String) throws -> Bool
    /// The key of our Message-IDs' tags.
    func messageIDKey() throws -> [UInt8]
}

public struct TicketState: Sendable, Equatable {
    public var number: Int64
    public var status: String
    public var requesterID: Int64?
    public var technicianID: Int64?

    public init(number: Int64, status: String, requesterID: Int64?, technicianID: Int64?) {
        self.number = number
        self.status = status
        self.requesterID = requesterID
        self.technicianID = technicianID
    }

    public var isClosed: Bool { TicketStatus.closed.contains(status) }
}

public struct UserState: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var role: Role

    public init(id: Int64, name: String, role: Role) {
        self.id = id
        self.name = name
        self.role = role
    }
}

/// The statuses a ticket can have; the last two count as closed.
public enum TicketStatus {
    public static let all = ["Open", "In Progress", "Waiting", "Resolved", "Closed"]
    public static let closed: Set<String> = ["Resolved", "Closed"]
}

/// One message as received.
public struct Envelope: Sendable {
    public var sender: String?
    public var recipient: String?
    public var receivedAt: Int64

    public init(sender: String?, recipient: String?, receivedAt: Int64) {
        self.sender = sender
        self.recipient = recipient
        self.receivedAt = receivedAt
    }
}

public struct DeliveryOutcome: Sendable, Equatable {
    public enum Action: String, Sendable { case created, followUp = "follow-up", bounce, loop, duplicate }
    public var action: Action
    public var ticketNumber: Int64?
}

public struct TicketSummary: Sendable {
    public var number: Int64
    public var subject: String
    public var requester: String?
    public var technician: String?
    public var ticketType: String?
    public var priority: String
    public var status: String
    public var flagged: Bool
    public var createdAt: Int64
    public var updatedAt: Int64
}

public struct TicketDetail: Sendable {
    public struct Event: Sendable {
        public var id: Int64
        public var kind: String
        public var author: String?
        public var messageID: String?
        public var subject: String?
        public var body: String?
        public var detail: String
        public var rawMessageID: Int64?
        public var createdAt: Int64
        /// "mail" or "admin".
        public var source: String = "mail"
        /// Where the quoted part of `body` starts (UTF-8 offset).
        public var quotedAt: Int? = nil
        public var reasons: [String] = []
        public var automatic = false

        /// The body without its quoted part, and the quoted part.
        public var newText: Substring {
            guard let body, let q = quotedAt, q >= 0, q <= body.utf8.count else { return Substring(body ?? "") }
            return Substring(body.utf8.prefix(q)) ?? Substring(body)
        }
        public var quotedText: Substring {
            guard let body, let q = quotedAt, q >= 0, q <= body.utf8.count else { return "" }
            return Substring(body.utf8.dropFirst(q)) ?? ""
        }
    }

    public struct AttachmentRow: Sendable {
        public var id: Int64
        public var eventID: Int64
        public var filename: String
        public var contentType: String
        public var size: Int64
        public var sha256: String
        public var inline: Bool
    }

    public var summary: TicketSummary
    public var body: String
    public var requesterAddress: String?
    /// The helpdesk address it came in at.
    public var recipient: String? = nil
    public var linkedTicket: Int64? = nil
    public var events: [Event]
    public var attachments: [AttachmentRow]
}

/// The ticket database. SQL lives behind this protocol, so that a shared PostgreSQL store
/// for sites with several MX hosts can stand beside the SQLite one.
public protocol TicketStore: AnyObject, ConversationLookup {
    /// Delivers one message exactly once: if `key` was delivered before, nothing is written.
    /// Otherwise the raw message, the ticket `plan` decides, its attachments, the history
    /// event and the notifier's queue entry are written in one transaction.
    func deliver(key: String, raw: UnsafeRawBufferPointer, rawSHA256: String, envelope: Envelope,
                 plan: (Configuration, any ConversationLookup) throws -> DeliveryPlan) throws -> DeliveryOutcome
    func configuration() throws -> Configuration
    /// What an earlier delivery of `key` did, if there was one.
    func delivered(key: String) throws -> DeliveryOutcome?
    func tickets(limit: Int, offset: Int) throws -> [TicketSummary]
    func ticket(number: Int64) throws -> TicketDetail?
    /// An attachment's metadata and where its bytes are.
    func attachment(id: Int64) throws -> (TicketDetail.AttachmentRow, AttachmentContent)?
    func rawMessage(id: Int64) throws -> [UInt8]?
    func integrityCheck() throws -> String
    func count(_ what: CountedThing) throws -> Int
}

/// An attachment's bytes as stored: decoded, or the transfer-encoded range of the raw message.
public enum AttachmentContent: Sendable, Equatable {
    case decoded([UInt8])
    case encoded([UInt8], encoding: String)
}

public enum CountedThing: String, Sendable { case tickets, deliveries, rawMessages = "raw_messages", outbox, users, attachments }

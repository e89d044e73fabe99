#if canImport(Glibc)
import Glibc
#endif
internal import CSQLite

/// A ticket event waiting to be turned into mails.
public struct OutboxEntry: Sendable, Equatable {
    public var id: Int64
    public var ticket: Int64
    public var event: Int64
    /// ticket_created, ticket_updated or reply.
    public var kind: String
    public var createdAt: Int64
}

/// Who is who on a ticket, for deciding who is told of one of its events.
public struct NotificationFacts: Sendable {
    public var requesterID: Int64?
    public var requesterAddresses: [String]
    public var technicianID: Int64?
    public var technicianAddresses: [String]
    /// The ticket type's "told of new tickets" addresses.
    public var typeAddresses: [String]
    /// Who caused the event, and all their addresses.
    public var authorID: Int64?
    public var authorAddresses: [String]
    /// The event came in by mail that no automatic mail may answer.
    public var automatic: Bool
    /// The helpdesk address the ticket came in at, and whether its type receives for it.
    public var recipient: String?
    public var recipientIsTypeAddress: Bool
}

/// One mail to one address, as planned when an outbox entry is expanded.
public struct PlannedNotification: Sendable, Equatable {
    public var address: String
    /// requester, technician or watcher.
    public var role: String
    /// queued, or held / suppressed with the reason.
    public var state: String
    public var reason: String

    public init(address: String, role: String, state: String = "queued", reason: String = "") {
        self.address = address
        self.role = role
        self.state = state
        self.reason = reason
    }
}

/// One mail to one address: as claimed for sending, and as `wt-admin outbox` shows it.
public struct NotificationRow: Sendable, Equatable {
    public var id: Int64
    public var ticket: Int64
    public var event: Int64
    public var kind: String
    public var address: String
    public var role: String
    public var state: String
    public var reason: String
    public var messageID: String
    public var attempts: Int
    public var nextAttemptAt: Int64
    public var lastError: String?
    public var createdAt: Int64
    public var sentAt: Int64?
}

/// Counts the limits on automatic mail are checked against.
public struct MailCounts: Sendable {
    public var toAddressInDay: Int
    public var aboutTicketInHour: Int
}

extension SQLStore {
    /// Outbox entries not yet turned into mails, oldest first.
    public func unexpandedOutbox(limit: Int) throws -> [OutboxEntry] {
        // Through outbox_pending: no index of its own, which every delivery would write.
        try db.query("SELECT id, ticket_id, event_id, kind, created_at FROM outbox WHERE state = 'pending' AND expanded_at IS NULL ORDER BY id LIMIT ?",
                             [.int(Int64(limit))]).map {
            OutboxEntry(id: $0[0].int ?? 0, ticket: $0[1].int ?? 0, event: $0[2].int ?? 0, kind: $0[3].text ?? "", createdAt: $0[4].int ?? 0)
        }
    }

    public func notificationFacts(ticket: Int64, event: Int64) throws -> NotificationFacts? {
        guard let t = try db.query("""
            SELECT t.requester_id, t.technician_id, tt.notify_emails, t.recipient,
                   EXISTS (SELECT 1 FROM type_addresses a WHERE a.type_id = t.ticket_type_id AND a.address = t.recipient)
            FROM tickets t LEFT JOIN ticket_types tt ON tt.id = t.ticket_type_id WHERE t.id = ?
            """, [.int(ticket)]).first else { return nil }
        let e = try db.query("SELECT author_id, automatic FROM ticket_events WHERE id = ?", [.int(event)]).first
        func addresses(_ user: Int64?) throws -> [String] {
            guard let user else { return [] }
            return try db.query("SELECT address FROM user_addresses WHERE user_id = ? ORDER BY rowid", [.int(user)]).compactMap { $0[0].text }
        }
        return NotificationFacts(requesterID: t[0].int, requesterAddresses: try addresses(t[0].int), technicianID: t[1].int,
                                 technicianAddresses: try addresses(t[1].int), typeAddresses: splitList(t[2].text ?? ""),
                                 authorID: e?[0].int, authorAddresses: try addresses(e?[0].int), automatic: (e?[1].int ?? 0) != 0,
                                 recipient: t[3].text, recipientIsTypeAddress: (t[4].int ?? 0) != 0)
    }

    public func isBouncing(_ address: String) throws -> Bool {
        try db.scalar("SELECT 1 FROM bouncing_addresses WHERE address = ?", [.text(address)]) != nil
    }

    /// Mails sent or queued to `address` in the last day, and events of `ticket` mailed in the
    /// last hour.
    public func mailCounts(address: String, ticket: Int64, event: Int64, now: Int64) throws -> MailCounts {
        let day = try db.scalar("""
            SELECT count(*) FROM notifications WHERE address = ? AND state IN ('queued', 'sent') AND created_at > ? AND event_id != ?
            """, [.text(address), .int(now - 86_400), .int(event)])?.int ?? 0
        let hour = try db.scalar("""
            SELECT count(DISTINCT event_id) FROM notifications
            WHERE ticket_id = ? AND state IN ('queued', 'sent') AND created_at > ? AND event_id != ?
            """, [.int(ticket), .int(now - 3_600), .int(event)])?.int ?? 0
        return MailCounts(toAddressInDay: Int(day), aboutTicketInHour: Int(hour))
    }

    /// Turns one outbox entry into its mails, in one transaction: `plan` says who gets what
    /// (given the counts so far), `messageID` names each mail. An entry is expanded once.
    public func expand(_ entry: OutboxEntry, now: Int64,
                       plan: (NotificationFacts) throws -> [PlannedNotification],
                       messageID: (Int64) -> String) throws -> [PlannedNotification] {
        // Read committed, the entry's row locked: a second notifier waits, then finds it expanded.
        try db.transaction(.readCommitted) {
            guard try db.query("SELECT expanded_at FROM outbox WHERE id = ?" + (db.dialect == .postgres ? " FOR UPDATE" : ""),
                               [.int(entry.id)]).first?.first?.int == nil else { return [] }
            var planned: [PlannedNotification] = []
            if let facts = try notificationFacts(ticket: entry.ticket, event: entry.event) {
                planned = try plan(facts)
            }
            for p in planned {
                if let id = try db.insert("""
                    INSERT INTO notifications (outbox_id, ticket_id, event_id, kind, address, role, state, reason, message_id, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?) ON CONFLICT (event_id, address) DO NOTHING
                    """, [.int(entry.id), .int(entry.ticket), .int(entry.event), .text(entry.kind), .text(p.address), .text(p.role),
                          .text(p.state), .text(p.reason), .int(now)]) {
                    try db.execute("UPDATE notifications SET message_id = ? WHERE id = ?", [.text(messageID(id)), .int(id)])
                }
            }
            try db.execute("UPDATE outbox SET expanded_at = ?, state = 'expanded' WHERE id = ?", [.int(now), .int(entry.id)])
            return planned
        }
    }

    /// Claims up to `limit` mails that are due and that no live lease holds; the claim
    /// lasts `lease` seconds, after which another notifier may take them.
    public func claimNotifications(worker: String, now: Int64, lease: Int64, limit: Int) throws -> [NotificationRow] {
        // On PostgreSQL, rows another notifier is claiming at this moment are skipped, not
        // waited for; once its claim commits, the lease keeps them from this one.
        try db.transaction(.readCommitted) {
            let rows = try db.query(Self.notificationColumns + """
                 WHERE state = 'queued' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)
                ORDER BY id LIMIT ?
                """ + (db.dialect == .postgres ? " FOR UPDATE SKIP LOCKED" : ""), [.int(now), .int(now), .int(Int64(limit))])
            return try rows.map {
                try db.execute("UPDATE notifications SET claimed_by = ?, lease_until = ? WHERE id = ?", [.text(worker), .int(now + lease), $0[0]])
                return notificationRow($0)
            }
        }
    }

    /// A claimed mail went out. False when the claim had been lost (another notifier took it).
    @discardableResult
    public func markSent(_ id: Int64, worker: String, now: Int64) throws -> Bool {
        try db.transaction(.readCommitted) {
            try db.execute("""
                UPDATE notifications SET state = 'sent', sent_at = ?, attempts = attempts + 1, claimed_by = NULL, lease_until = NULL,
                                         last_error = NULL
                WHERE id = ? AND state = 'queued'
                """, [.int(now), .int(id)]) == 1
        }
    }

    /// A claimed mail could not go out: tried again at `retryAt`, or failed for good when nil.
    public func markFailed(_ id: Int64, error: String, retryAt: Int64?, now: Int64) throws {
        _ = try db.transaction(.readCommitted) {
            try db.execute("""
                UPDATE notifications SET state = ?, attempts = attempts + 1, next_attempt_at = ?, last_error = ?,
                                         claimed_by = NULL, lease_until = NULL
                WHERE id = ? AND state = 'queued'
                """, [.text(retryAt == nil ? "failed" : "queued"), .int(retryAt ?? now), .text(String(error.prefix(1000))), .int(id)])
        }
    }

    /// Gives a mail back unsent (a notifier stopping), due again at once.
    public func release(_ id: Int64) throws {
        try db.execute("UPDATE notifications SET claimed_by = NULL, lease_until = NULL WHERE id = ? AND state = 'queued'", [.int(id)])
    }

    private static let notificationColumns = """
        SELECT id, ticket_id, event_id, kind, address, role, state, reason, message_id, attempts, next_attempt_at, last_error,
               created_at, sent_at FROM notifications
        """

    public func notifications(state: String? = nil, limit: Int = 100) throws -> [NotificationRow] {
        try db.query(Self.notificationColumns + " \(state == nil ? "" : "WHERE state = ?") ORDER BY id DESC LIMIT ?",
                             (state.map { [SQLValue.text($0)] } ?? []) + [.int(Int64(limit))]).map(notificationRow)
    }

    public func notification(id: Int64) throws -> NotificationRow? {
        try db.query(Self.notificationColumns + " WHERE id = ?", [.int(id)]).first.map(notificationRow)
    }

    private func notificationRow(_ r: [SQLValue]) -> NotificationRow {
        NotificationRow(id: r[0].int ?? 0, ticket: r[1].int ?? 0, event: r[2].int ?? 0, kind: r[3].text ?? "", address: r[4].text ?? "",
                        role: r[5].text ?? "", state: r[6].text ?? "", reason: r[7].text ?? "", messageID: r[8].text ?? "",
                        attempts: Int(r[9].int ?? 0), nextAttemptAt: r[10].int ?? 0, lastError: r[11].text, createdAt: r[12].int ?? 0,
                        sentAt: r[13].int)
    }

    /// Queues a failed or held mail again, due now.
    public func retryNotification(_ id: Int64) throws {
        try db.transaction {
            if try db.execute("""
                UPDATE notifications SET state = 'queued', next_attempt_at = 0, claimed_by = NULL, lease_until = NULL
                WHERE id = ? AND state IN ('failed', 'held')
                """, [.int(id)]) == 0 {
                guard let row = try notification(id: id) else { throw InvalidInput("id", "no notification \(id)") }
                throw InvalidInput("id", "notification \(id) is \(row.state): only failed or held ones are retried")
            }
        }
    }

    public func countNotifications(state: String) throws -> Int {
        Int(try db.scalar("SELECT count(*) FROM notifications WHERE state = ?", [.text(state)])?.int ?? 0)
    }
}

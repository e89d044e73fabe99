/// What POP3 fetch mode remembers of a mailbox's messages, by the server's unique id.
public struct POPRecord: Sendable, Equatable {
    public enum State: String, Sendable { case delivered, failed }
    public var mailbox: String
    public var uidl: String
    public var state: State
    public var deliveryKey: String?
    public var attempts: Int
    public var lastError: String?
    public var firstSeenAt: Int64
    public var updatedAt: Int64
}

/// The store's side of POP3 fetch mode.
public protocol POPLedger: AnyObject {
    /// Every record of `mailbox`, by UIDL.
    func popRecords(mailbox: String) throws -> [String: POPRecord]
    /// Notes that `uidl` was delivered (as `key`); a failure record becomes a delivered one.
    func recordPOPDelivered(mailbox: String, uidl: String, key: String, now: Int64) throws
    /// Counts a failed attempt and returns how many there have been.
    @discardableResult
    func recordPOPFailure(mailbox: String, uidl: String, error: String, now: Int64) throws -> Int
    /// Forgets what is no longer on the server (ids not in `present`).
    func forgetPOP(mailbox: String, keeping present: Set<String>) throws
    /// Messages whose delivery failed, most recent first.
    func popFailures(limit: Int) throws -> [POPRecord]
}

extension SQLStore: POPLedger {
    private static let popColumns = "mailbox, uidl, state, delivery_key, attempts, last_error, first_seen_at, updated_at"

    private func popRecord(_ r: [SQLValue]) -> POPRecord {
        POPRecord(mailbox: r[0].text ?? "", uidl: r[1].text ?? "", state: POPRecord.State(rawValue: r[2].text ?? "") ?? .failed,
                  deliveryKey: r[3].text, attempts: Int(r[4].int ?? 0), lastError: r[5].text,
                  firstSeenAt: r[6].int ?? 0, updatedAt: r[7].int ?? 0)
    }

    public func popRecords(mailbox: String) throws -> [String: POPRecord] {
        var out: [String: POPRecord] = [:]
        for r in try db.query("SELECT \(Self.popColumns) FROM pop_messages WHERE mailbox = ?", [.text(mailbox)]) {
            let rec = popRecord(r)
            out[rec.uidl] = rec
        }
        return out
    }

    public func recordPOPDelivered(mailbox: String, uidl: String, key: String, now: Int64) throws {
        _ = try db.transaction(.readCommitted) {
            try db.execute("""
                INSERT INTO pop_messages (mailbox, uidl, state, delivery_key, attempts, first_seen_at, updated_at)
                VALUES (?, ?, 'delivered', ?, 0, ?, ?)
                ON CONFLICT (mailbox, uidl) DO UPDATE SET state = 'delivered', delivery_key = excluded.delivery_key,
                    updated_at = excluded.updated_at
                """, [.text(mailbox), .text(uidl), .text(key), .int(now), .int(now)])
        }
    }

    @discardableResult
    public func recordPOPFailure(mailbox: String, uidl: String, error: String, now: Int64) throws -> Int {
        try db.transaction(.readCommitted) {
            let rows = try db.query("""
                INSERT INTO pop_messages (mailbox, uidl, state, attempts, last_error, first_seen_at, updated_at)
                VALUES (?, ?, 'failed', 1, ?, ?, ?)
                ON CONFLICT (mailbox, uidl) DO UPDATE SET state = 'failed', attempts = pop_messages.attempts + 1,
                    last_error = excluded.last_error, updated_at = excluded.updated_at
                RETURNING attempts
                """, [.text(mailbox), .text(uidl), .text(String(error.prefix(1000))), .int(now), .int(now)])
            return Int(rows.first?[0].int ?? 1)
        }
    }

    public func forgetPOP(mailbox: String, keeping present: Set<String>) throws {
        let known = try popRecords(mailbox: mailbox).keys.filter { !present.contains($0) }
        guard !known.isEmpty else { return }
        try db.transaction(.readCommitted) {
            for uidl in known {
                try db.execute("DELETE FROM pop_messages WHERE mailbox = ? AND uidl = ?", [.text(mailbox), .text(uidl)])
            }
        }
    }

    public func popFailures(limit: Int) throws -> [POPRecord] {
        try db.query("SELECT \(Self.popColumns) FROM pop_messages WHERE state = 'failed' ORDER BY updated_at DESC, uidl LIMIT ?",
                             [.int(Int64(limit))]).map(popRecord)
    }
}

#if canImport(Glibc)
import Glibc
#endif
internal import CSQLite

/// Changes a technician or administrator makes to a ticket; nil leaves a field as it is.
public struct TicketChanges: Sendable {
    public var status: String?
    public var priority: String?
    public var ticketType: String?
    /// A user with the technician role, or "" / "none" for none.
    public var technician: String?
    /// A note kept in the history (not sent to the requester).
    public var note: String?

    public init(status: String? = nil, priority: String? = nil, ticketType: String? = nil, technician: String? = nil, note: String? = nil) {
        self.status = status
        self.priority = priority
        self.ticketType = ticketType
        self.technician = technician
        self.note = note
    }
}

public struct BouncingAddress: Sendable, Equatable {
    public var address: String
    public var firstAt: Int64
    public var lastAt: Int64
    public var count: Int
    public var ticket: Int64?
    public var detail: String
}

extension SQLStore {
    /// A technician's answer, queued for the requester. `userName` is who answers (default:
    /// the ticket's technician). Returns the event's id.
    @discardableResult
    public func replyToTicket(_ number: Int64, as userName: String?, text: String, now: Int64? = nil) throws -> Int64 {
        let now = now ?? Int64(time(nil))
        return try db.transaction {
            guard let t = try ticketState(number) else { throw InvalidInput("ticket", "no ticket \(number)") }
            let body = text.trimmingSpaces
            if body.isEmpty { throw InvalidInput("message", "the answer is empty") }
            let author: Int64
            if let userName {
                author = try technicianID(named: userName, field: "as")
            } else if let tech = t.technicianID {
                author = tech
            } else {
                throw InvalidInput("as", "ticket \(number) has no technician: say who answers with --as USER")
            }
            let event = try insertAdminEvent(ticket: number, kind: "reply", author: author, body: text, now: now)
            try db.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", [.int(now), .int(number)])
            try queue("reply", ticket: number, event: event, now: now)
            return event
        }
    }

    /// Applies `changes`, each as an event of the ticket's history, and queues "ticket
    /// updated"; every value is checked first, and on any error nothing changes. Returns the
    /// changes made, as "field: old → new".
    @discardableResult
    public func updateTicket(_ number: Int64, _ changes: TicketChanges, as userName: String?, now: Int64? = nil) throws -> [String] {
        let now = now ?? Int64(time(nil))
        return try db.transaction {
            guard let row = try db.query("""
                SELECT t.status, t.priority, tt.name, u.name, t.ticket_type_id, t.technician_id
                FROM tickets t LEFT JOIN ticket_types tt ON tt.id = t.ticket_type_id LEFT JOIN users u ON u.id = t.technician_id
                WHERE t.id = ?
                """, [.int(number)]).first else { throw InvalidInput("ticket", "no ticket \(number)") }
            let author = try userName.map { name -> Int64 in
                guard let id = try db.scalar("SELECT id FROM users WHERE \(sameText("name"))", [.text(name)])?.int else {
                    throw InvalidInput("as", "no user \"\(name)\"")
                }
                return id
            }
            var sets: [(column: String, value: SQLValue, text: String)] = []
            if let s = changes.status {
                guard let status = TicketStatus.all.first(where: { $0.lowercased() == s.trimmingSpaces.lowercased() }) else {
                    throw InvalidInput("status", "\"\(s)\" is not a status (known: \(TicketStatus.all.joined(separator: ", ")))")
                }
                if status != row[0].text { sets.append(("status", .text(status), "status: \(row[0].text ?? "-") → \(status)")) }
            }
            if let p = changes.priority {
                let list = splitList(try db.scalar("SELECT value FROM settings WHERE key = 'priorities'")?.text ?? "")
                guard let priority = list.first(where: { $0.lowercased() == p.trimmingSpaces.lowercased() }) else {
                    throw InvalidInput("priority", "\"\(p)\" is not a priority (known: \(list.joined(separator: ", ")))")
                }
                if priority != row[1].text { sets.append(("priority", .text(priority), "priority: \(row[1].text ?? "-") → \(priority)")) }
            }
            var technicianSet = false
            if let tech = changes.technician {
                let name = tech.trimmingSpaces
                if name.isEmpty || name.lowercased() == "none" {
                    if row[5].int != nil { sets.append(("technician_id", .null, "technician: \(row[3].text ?? "-") → none")) }
                } else {
                    let id = try technicianID(named: name, field: "technician")
                    let shown = try db.scalar("SELECT name FROM users WHERE id = ?", [.int(id)])?.text ?? name
                    if id != row[5].int { sets.append(("technician_id", .int(id), "technician: \(row[3].text ?? "none") → \(shown)")) }
                }
                technicianSet = true
            }
            if let ty = changes.ticketType {
                guard let type = try db.query("SELECT id, name, technician_id FROM ticket_types WHERE name = ?", [.text(ty.trimmingSpaces)]).first else {
                    let known = try db.query("SELECT name FROM ticket_types ORDER BY id").compactMap { $0[0].text }
                    throw InvalidInput("type", "no ticket type \"\(ty)\" (known: \(known.joined(separator: ", ")))")
                }
                if type[0].int != row[4].int {
                    sets.append(("ticket_type_id", type[0], "type: \(row[2].text ?? "-") → \(type[1].text ?? "")"))
                    // The type decides the technician, unless one is named.
                    if !technicianSet, let tech = type[2].int, tech != row[5].int {
                        let shown = try db.scalar("SELECT name FROM users WHERE id = ?", [.int(tech)])?.text ?? ""
                        sets.append(("technician_id", .int(tech), "technician: \(row[3].text ?? "none") → \(shown) (the type's)"))
                    }
                }
            }
            let note = changes.note?.trimmingSpaces
            if note?.isEmpty == true { throw InvalidInput("note", "the note is empty") }
            if sets.isEmpty && note == nil { return [] }
            var last: Int64 = 0
            for s in sets {
                try db.execute("UPDATE tickets SET \(s.column) = ?, updated_at = ? WHERE id = ?", [s.value, .int(now), .int(number)])
                last = try insertAdminEvent(ticket: number, kind: "update", author: author, body: s.text, now: now)
            }
            if let note {
                last = try insertAdminEvent(ticket: number, kind: "note", author: author, body: note, now: now)
                try db.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", [.int(now), .int(number)])
            }
            try queue("ticket_updated", ticket: number, event: last, now: now)
            return sets.map(\.text) + (note == nil ? [] : ["note added"])
        }
    }

    private func technicianID(named name: String, field: String) throws -> Int64 {
        guard let row = try db.query("SELECT id, role FROM users WHERE \(sameText("name"))", [.text(name.trimmingSpaces)]).first else {
            throw InvalidInput(field, "no user \"\(name)\" (add one with: wt-admin users add)")
        }
        if row[1].text != Role.technician.rawValue { throw InvalidInput(field, "\"\(name)\" is an end user, not a technician") }
        return row[0].int ?? 0
    }

    private func insertAdminEvent(ticket: Int64, kind: String, author: Int64?, body: String, now: Int64) throws -> Int64 {
        try newID("""
            INSERT INTO ticket_events (ticket_id, kind, author_id, body, created_at, source) VALUES (?, ?, ?, ?, ?, 'admin')
            """, [.int(ticket), .text(kind), author.map(SQLValue.int) ?? .null, .text(body), .int(now)])
    }

    private func queue(_ kind: String, ticket: Int64, event: Int64, now: Int64) throws {
        try db.execute("INSERT INTO outbox (ticket_id, event_id, kind, created_at) VALUES (?, ?, ?, ?)", [.int(ticket), .int(event), .text(kind), .int(now)])
    }

    // MARK: Bounces

    public func bouncingAddresses() throws -> [BouncingAddress] {
        try db.query("SELECT address, first_at, last_at, count, ticket_id, detail FROM bouncing_addresses ORDER BY address").map {
            BouncingAddress(address: $0[0].text ?? "", firstAt: $0[1].int ?? 0, lastAt: $0[2].int ?? 0, count: Int($0[3].int ?? 0),
                            ticket: $0[4].int, detail: $0[5].text ?? "")
        }
    }

    /// Takes the bouncing mark off an address, so that the notifier writes to it again.
    public func clearBounce(_ address: String) throws {
        try db.transaction {
            if try db.execute("DELETE FROM bouncing_addresses WHERE address = ?", [.text(address.trimmingSpaces)]) == 0 { throw InvalidInput("address", "\(address) is not marked as bouncing") }
        }
    }
}

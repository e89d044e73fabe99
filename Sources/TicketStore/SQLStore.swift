#if canImport(Glibc)
import Glibc
#endif

/// The store's logic, over any `SQLDriver`: SQLite (`SQLiteStore`) and PostgreSQL
/// (`PostgresStore`, in its own module) run the same statements; where the dialects differ,
/// `db.dialect` says which.
open class SQLStore: TicketStore, ConversationLookup {
    public let db: any SQLDriver
    public let readOnly: Bool
    /// The copy of the compiled rule index beside a SQLite database; nil keeps it in the
    /// database only (PostgreSQL: every host reads the one row).
    var rulesIndexPath: String?

    public init(driver: any SQLDriver, readOnly: Bool) {
        db = driver
        self.readOnly = readOnly
    }

    /// `column = ?`, compared as SQLite's NOCASE does (ASCII letters in any case), for user
    /// names and addresses. On PostgreSQL through lower() in the C collation, which its
    /// unique indexes on users and user_addresses hold: a case-insensitive ICU collation
    /// costs each new connection some 4 ms to load, and every delivery is a new connection.
    func sameText(_ column: String) -> String {
        db.dialect == .postgres ? "lower(\(column) COLLATE \"C\") = lower(? COLLATE \"C\")" : "\(column) = ? COLLATE NOCASE"
    }

    /// Settings every database starts with.
    public static var defaultSettings: [(String, String)] { Schema.defaultSettings }

    // MARK: Reading the configuration

    public func configuration() throws -> Configuration {
        // Few statements, sent together where the driver can (each is prepared anew in every
        // delivery's process). Without a copy beside the database, the rule index row comes
        // with them, kept if it is for the rules version read.
        var reads: [(String, [SQLValue])] = [
            ("SELECT key, value FROM settings", []),
            ("""
            SELECT t.id, t.name, u.name, t.technician_id, t.notify_emails,
                   (SELECT \(db.dialect == .postgres ? "string_agg" : "group_concat")(a.address, ';') FROM type_addresses a WHERE a.type_id = t.id)
            FROM ticket_types t LEFT JOIN users u ON u.id = t.technician_id ORDER BY t.id
            """, []),
            ("SELECT key, value FROM meta WHERE key IN ('rules_version', 'database_id')", []),
        ]
        if rulesIndexPath == nil { reads.append(("SELECT version, image FROM rule_index WHERE id = 1", [])) }
        let rows = try db.queries(reads)
        var settings: [String: String] = [:]
        for r in rows[0] { settings[r[0].text ?? ""] = r[1].text ?? "" }
        let types = rows[1].map {
            Configuration.TicketType(id: $0[0].int ?? 0, name: $0[1].text ?? "", technician: $0[2].text, technicianID: $0[3].int,
                                     notifyEmails: $0[4].text ?? "", addresses: splitList($0[5].text ?? ""))
        }
        var meta: [String: Int64] = [:]
        for r in rows[2] { meta[r[0].text ?? ""] = r[1].int }
        let version = UInt64(meta["rules_version"] ?? 0)
        let databaseID = meta["database_id"] ?? 0
        var index: StoredBytes? = nil
        if rulesIndexPath == nil, let r = rows[3].first, r[0].int == Int64(version), case .blob(let image) = r[1] {
            index = image.withUnsafeBytes { StoredBytes(copying: $0.baseAddress, count: $0.count) }
        }
        // The mapped copy reads only the pages matching walks through (an index of 10,000
        // rules is 4 MB); the row is read when there is no good copy.
        let cache = rulesIndexPath.map { RulesIndexFile(path: $0, databaseID: databaseID, version: version) }
        if let cache { index = cache.map() }
        if index == nil, cache != nil, let row = try db.blob("SELECT image FROM rule_index WHERE id = 1 AND version = ?", [.int(Int64(version))]) {
            if !readOnly { cache?.write(Array(row.bytes)) }  // the copy was missing or stale
            index = row
        }
        let save: (([UInt8]) throws -> Void)? = readOnly ? nil : { [db] image in
            try db.execute("""
                INSERT INTO rule_index (id, version, image) VALUES (1, ?, ?)
                ON CONFLICT (id) DO UPDATE SET version = excluded.version, image = excluded.image
                """, [.int(Int64(version)), .blob(image)])
            cache?.write(image)
        }
        return Configuration(settings: settings, ticketTypes: types, rulesVersion: version, storedRulesIndex: index,
                             loadRule: { id in try self.ruleRows(id: id).first }, loadRules: { try self.ruleRows() },
                             storeRulesIndex: save)
    }

    func ruleRows(id: Int64? = nil) throws -> [Configuration.RuleRow] {
        try db.query("""
            SELECT r.id, r.name, r.text_to_match, t.name, r.priority, r.priority_order, r.enabled
            FROM rules r JOIN ticket_types t ON t.id = r.ticket_type_id \(id == nil ? "" : "WHERE r.id = ?")
            ORDER BY r.priority_order, r.created_at, r.id
            """, id.map { [.int($0)] } ?? []).map {
            Configuration.RuleRow(id: $0[0].int ?? 0, name: $0[1].text ?? "", textToMatch: $0[2].text ?? "", ticketType: $0[3].text ?? "",
                                  priority: $0[4].text ?? "", order: Int($0[5].int ?? 0), enabled: ($0[6].int ?? 0) != 0)
        }
    }

    // MARK: Delivery

    public func deliver(key: String, raw: UnsafeRawBufferPointer, rawSHA256: String, envelope: Envelope,
                        plan makePlan: (Configuration, any ConversationLookup) throws -> DeliveryPlan) throws -> DeliveryOutcome {
        let c = db
        // Read committed: the unique delivery key decides between two hosts delivering one
        // message at once (the loser's insert fails, it runs again and finds the key).
        return try c.transaction(.readCommitted) {
            if let existing = try c.query("SELECT ticket_id FROM deliveries WHERE key = ?", [.text(key)]).first {
                // A write, so that this commit syncs the WAL: if the first delivery's commit
                // failed in fsync (we said 75), its frames become durable before we say 0.
                try c.executeDeferred("UPDATE deliveries SET redeliveries = redeliveries + 1 WHERE key = ?", [.text(key)])
                return DeliveryOutcome(action: .duplicate, ticketNumber: existing[0].int)
            }
            let config = try configuration()
            let plan = try makePlan(config, self)
            let now = envelope.receivedAt

            let rawID = try c.insertRow(into: "raw_messages", columns: ["received_at", "sender", "recipient", "size", "sha256"],
                                        values: [.int(now), envelope.sender.map(SQLValue.text) ?? .null, envelope.recipient.map(SQLValue.text) ?? .null,
                                                 .int(Int64(raw.count)), .text(rawSHA256)],
                                        blobColumn: "data", blob: .bytes(raw), returningID: true) ?? 0
            let create = config.flag("create_unknown_users")
            let outcome: DeliveryOutcome
            switch plan {
            case .newTicket(let p):
                outcome = DeliveryOutcome(action: .created, ticketNumber: try insertTicket(p, config: config, rawID: rawID, raw: raw, now: now))
            case .followUp(let ticket, let event, let reopen, let notify):
                let eventID = try insertEvent(event, ticket: ticket, rawID: rawID, raw: raw, create: create, now: now)
                try c.executeDeferred("UPDATE tickets SET updated_at = ?\(reopen ? ", status = 'Open'" : "") WHERE id = ?", [.int(now), .int(ticket)])
                if let notify {
                    try c.executeDeferred("INSERT INTO outbox (ticket_id, event_id, kind, created_at) VALUES (?, ?, ?, ?)", [.int(ticket), .int(eventID), .text(notify), .int(now)])
                }
                outcome = DeliveryOutcome(action: .followUp, ticketNumber: ticket)
            case .bounce(let ticket, let event, let failed):
                _ = try insertEvent(event, ticket: ticket, rawID: rawID, raw: raw, create: false, now: now)
                try c.executeDeferred("UPDATE tickets SET updated_at = ? WHERE id = ?", [.int(now), .int(ticket)])
                for address in failed.prefix(1000) {
                    try c.executeDeferred("""
                        INSERT INTO bouncing_addresses (address, first_at, last_at, ticket_id, detail) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (address) DO UPDATE SET last_at = excluded.last_at, count = bouncing_addresses.count + 1,
                            ticket_id = excluded.ticket_id, detail = excluded.detail
                        """, [.text(address), .int(now), .int(now), .int(ticket), .text(event.subject)])
                }
                outcome = DeliveryOutcome(action: .bounce, ticketNumber: ticket)
            case .loop:
                outcome = DeliveryOutcome(action: .loop, ticketNumber: nil)
            }
            try c.executeDeferred("INSERT INTO deliveries (key, raw_message_id, ticket_id, action, delivered_at) VALUES (?, ?, ?, ?, ?)", [.text(key), .int(rawID), outcome.ticketNumber.map(SQLValue.int) ?? .null, .text(outcome.action.rawValue), .int(now)])
            return outcome
        }
    }

    private func insertTicket(_ plan: TicketPlan, config: Configuration, rawID: Int64, raw: UnsafeRawBufferPointer, now: Int64) throws -> Int64 {
        let c = db
        let requester = try resolveRequester(address: plan.requesterAddress, name: plan.requesterName,
                                             create: config.flag("create_unknown_users"), now: now)
        let type = config.ticketTypes.first { $0.name.lowercased() == plan.ticketType.lowercased() }
            ?? config.ticketTypes.first { $0.name.lowercased() == (config.setting("default_ticket_type") ?? "").lowercased() }
        let ticketID = try newID("""
            INSERT INTO tickets (subject, body, requester_id, technician_id, ticket_type_id, priority, status, message_id, flagged,
                                 created_at, updated_at, recipient, linked_ticket_id, automatic)
            VALUES (?, ?, ?, ?, ?, ?, 'Open', ?, ?, ?, ?, ?, ?, ?)
            """, [.text(plan.subject), .text(plan.body), requester.map(SQLValue.int) ?? .null, type?.technicianID.map(SQLValue.int) ?? .null,
                      type.map { SQLValue.int($0.id) } ?? .null, .text(plan.priority), plan.messageID.map(SQLValue.text) ?? .null,
                      .int(plan.flagged ? 1 : 0), .int(now), .int(now), plan.recipient.map(SQLValue.text) ?? .null,
                      plan.linkedTicket.map(SQLValue.int) ?? .null, .int(plan.automatic ? 1 : 0)])
        let eventID = try newID("""
            INSERT INTO ticket_events (ticket_id, kind, author_id, raw_message_id, message_id, subject, body, detail, created_at, reasons, automatic)
            VALUES (?, 'created', ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.int(ticketID), requester.map(SQLValue.int) ?? .null, .int(rawID), plan.messageID.map(SQLValue.text) ?? .null,
                      .text(plan.subject), .text(plan.body), .text(plan.detail), .int(now), .text(plan.reasons.joined(separator: "\n")),
                      .int(plan.automatic ? 1 : 0)])
        try insertAttachments(plan.attachments, ticket: ticketID, event: eventID, rawID: rawID, raw: raw)
        if plan.notify {
            try c.executeDeferred("INSERT INTO outbox (ticket_id, event_id, kind, created_at) VALUES (?, ?, 'ticket_created', ?)", [.int(ticketID), .int(eventID), .int(now)])
        }
        return ticketID
    }

    private func insertEvent(_ e: EventPlan, ticket: Int64, rawID: Int64, raw: UnsafeRawBufferPointer, create: Bool, now: Int64) throws -> Int64 {
        let c = db
        let author = try resolveRequester(address: e.authorAddress, name: e.authorName, create: create, now: now)
        let eventID = try newID("""
            INSERT INTO ticket_events (ticket_id, kind, author_id, raw_message_id, message_id, subject, body, detail, created_at,
                                       source, quoted_at, reasons, automatic)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'mail', ?, ?, ?)
            """, [.int(ticket), .text(e.kind), author.map(SQLValue.int) ?? .null, .int(rawID), e.messageID.map(SQLValue.text) ?? .null,
                      .text(e.subject), .text(e.body), .text(e.detail), .int(now), e.quotedAt.map { SQLValue.int(Int64($0)) } ?? .null,
                      .text(e.reasons.joined(separator: "\n")), .int(e.automatic ? 1 : 0)])
        try insertAttachments(e.attachments, ticket: ticket, event: eventID, rawID: rawID, raw: raw)
        if e.flagged { try c.executeDeferred("UPDATE tickets SET flagged = 1 WHERE id = ?", [.int(ticket)]) }
        return eventID
    }

    private func insertAttachments(_ attachments: [TicketPlan.Attachment], ticket: Int64, event: Int64, rawID: Int64, raw: UnsafeRawBufferPointer) throws {
        guard !attachments.isEmpty else { return }
        let c = db
        for a in attachments {
            var location: [SQLValue] = [.null, .null, .null, .null]
            if let (range, encoding) = a.rawRange, range.lowerBound >= 0, range.upperBound <= raw.count {
                location = [.int(rawID), .int(Int64(range.lowerBound)), .int(Int64(range.upperBound)), .text(encoding)]
            } else if try c.query("SELECT 1 FROM blobs WHERE sha256 = ?", [.text(a.sha256)]).isEmpty {
                try c.insertRow(into: "blobs", columns: ["sha256", "size"], values: [.text(a.sha256), .int(Int64(a.size))],
                                blobColumn: "data", blob: .stream(size: a.size, produce: a.data), returningID: false)
            }
            try c.executeDeferred("""
                INSERT INTO attachments (ticket_id, event_id, sha256, filename, content_type, size, inline, content_id,
                                         raw_message_id, body_start, body_end, encoding)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [.int(ticket), .int(event), .text(a.sha256), .text(sanitizeFilename(a.filename)), .text(a.contentType),
                      .int(Int64(a.size)), .int(a.inline ? 1 : 0), a.contentID.map(SQLValue.text) ?? .null] + location)
        }
    }

    /// Inserts one row into a table with an `id` key and returns the new id.
    func newID(_ sql: String, _ values: [SQLValue]) throws -> Int64 {
        guard let id = try db.insert(sql, values) else { throw StoreError.misuse("no row inserted: \(sql.prefix(60))") }
        return id
    }

    // MARK: What decides a message

    public func ticketState(_ number: Int64) throws -> TicketState? {
        try db.query("SELECT id, status, requester_id, technician_id FROM tickets WHERE id = ?", [.int(number)]).first.map {
            TicketState(number: $0[0].int ?? 0, status: $0[1].text ?? "", requesterID: $0[2].int, technicianID: $0[3].int)
        }
    }

    public func ticket(receivedMessageID id: String) throws -> Int64? {
        try db.scalar("SELECT ticket_id FROM ticket_events WHERE message_id = ? ORDER BY id LIMIT 1", [.text(id)])?.int
    }

    public func user(address: String) throws -> UserState? {
        try db.query("SELECT u.id, u.name, u.role FROM user_addresses a JOIN users u ON u.id = a.user_id WHERE \(sameText("a.address"))",
                             [.text(address)]).first.map {
            UserState(id: $0[0].int ?? 0, name: $0[1].text ?? "", role: Role(rawValue: $0[2].text ?? "") ?? .endUser)
        }
    }

    public func messageIDReceived(_ id: String) throws -> Bool {
        try db.scalar("SELECT 1 FROM ticket_events WHERE message_id = ? LIMIT 1", [.text(id)]) != nil
    }

    public func messageIDKey() throws -> [UInt8] {
        try db.scalar("SELECT value FROM secrets WHERE name = 'message_id_key'")?.blob ?? []
    }

    /// The user whose address list holds `address` (any case); else a new end user, if allowed.
    private func resolveRequester(address: String?, name: String?, create: Bool, now: Int64) throws -> Int64? {
        guard let address, !address.isEmpty else { return nil }
        if let id = try db.scalar("SELECT user_id FROM user_addresses WHERE \(sameText("address"))", [.text(address)])?.int { return id }
        guard create else { return nil }
        // Named by the address, which no other user holds; the From name is only shown.
        let display = (name?.isEmpty == false) ? name : nil
        let next = (try db.scalar("SELECT coalesce(max(id), 0) + 1 FROM users")?.int) ?? 1
        for candidate in [address, "\(address) #\(next)"] {
            if let id = try db.insert("""
                INSERT INTO users (name, role, emails, created_at, origin, display_name) VALUES (?, 'end_user', ?, ?, 'mail', ?)
                ON CONFLICT DO NOTHING
                """, [.text(candidate), .text(address), .int(now), display.map(SQLValue.text) ?? .null]) {
                try db.executeDeferred("INSERT INTO user_addresses (address, user_id) VALUES (?, ?)", [.text(address), .int(id)])
                return id
            }
        }
        return nil
    }

    // MARK: Reading tickets

    private static let summarySQL = """
        SELECT t.id, t.subject,
               CASE WHEN r.origin = 'mail' AND r.display_name IS NOT NULL THEN r.display_name || ' <' || r.name || '>' ELSE r.name END,
               tech.name, tt.name, t.priority, t.status, t.flagged, t.created_at, t.updated_at, t.body,
               (SELECT address FROM user_addresses a WHERE a.user_id = r.id ORDER BY rowid LIMIT 1)
        FROM tickets t
        LEFT JOIN users r ON r.id = t.requester_id
        LEFT JOIN users tech ON tech.id = t.technician_id
        LEFT JOIN ticket_types tt ON tt.id = t.ticket_type_id
        """

    private func summary(_ r: [SQLValue]) -> TicketSummary {
        TicketSummary(number: r[0].int ?? 0, subject: r[1].text ?? "", requester: r[2].text, technician: r[3].text, ticketType: r[4].text,
                      priority: r[5].text ?? "", status: r[6].text ?? "", flagged: (r[7].int ?? 0) != 0,
                      createdAt: r[8].int ?? 0, updatedAt: r[9].int ?? 0)
    }

    public func tickets(limit: Int, offset: Int) throws -> [TicketSummary] {
        try db.query(Self.summarySQL + " ORDER BY t.id DESC LIMIT ? OFFSET ?", [.int(Int64(limit)), .int(Int64(offset))]).map(summary)
    }

    public func ticket(number: Int64) throws -> TicketDetail? {
        guard let r = try db.query(Self.summarySQL + " WHERE t.id = ?", [.int(number)]).first else { return nil }
        let events = try db.query("""
            SELECT e.id, e.kind, u.name, e.message_id, e.subject, e.body, e.detail, e.raw_message_id, e.created_at,
                   e.source, e.quoted_at, e.reasons, e.automatic
            FROM ticket_events e LEFT JOIN users u ON u.id = e.author_id WHERE e.ticket_id = ? ORDER BY e.id
            """, [.int(number)]).map {
            TicketDetail.Event(id: $0[0].int ?? 0, kind: $0[1].text ?? "", author: $0[2].text, messageID: $0[3].text, subject: $0[4].text,
                               body: $0[5].text, detail: $0[6].text ?? "", rawMessageID: $0[7].int, createdAt: $0[8].int ?? 0,
                               source: $0[9].text ?? "mail", quotedAt: $0[10].int.map { Int($0) },
                               reasons: splitLines($0[11].text ?? ""), automatic: ($0[12].int ?? 0) != 0)
        }
        let attachments = try db.query("""
            SELECT id, event_id, filename, content_type, size, sha256, inline FROM attachments WHERE ticket_id = ? ORDER BY id
            """, [.int(number)]).map(attachmentRow)
        var detail = TicketDetail(summary: summary(r), body: r[10].text ?? "", requesterAddress: r[11].text, events: events, attachments: attachments)
        if let extra = try db.query("SELECT recipient, linked_ticket_id FROM tickets WHERE id = ?", [.int(number)]).first {
            detail.recipient = extra[0].text
            detail.linkedTicket = extra[1].int
        }
        return detail
    }

    private func attachmentRow(_ r: [SQLValue]) -> TicketDetail.AttachmentRow {
        TicketDetail.AttachmentRow(id: r[0].int ?? 0, eventID: r[1].int ?? 0, filename: r[2].text ?? "", contentType: r[3].text ?? "",
                                   size: r[4].int ?? 0, sha256: r[5].text ?? "", inline: (r[6].int ?? 0) != 0)
    }

    public func attachment(id: Int64) throws -> (TicketDetail.AttachmentRow, AttachmentContent)? {
        guard let r = try db.query("""
            SELECT a.id, a.event_id, a.filename, a.content_type, a.size, a.sha256, a.inline, a.encoding,
                   CASE WHEN a.raw_message_id IS NULL THEN (SELECT data FROM blobs b WHERE b.sha256 = a.sha256)
                        ELSE (SELECT substr(data, CAST(a.body_start + 1 AS INTEGER), CAST(a.body_end - a.body_start AS INTEGER))
                              FROM raw_messages m WHERE m.id = a.raw_message_id)
                   END
            FROM attachments a WHERE a.id = ?
            """, [.int(id)]).first else { return nil }
        let bytes = r[8].blob ?? []
        if let encoding = r[7].text { return (attachmentRow(r), .encoded(bytes, encoding: encoding)) }
        return (attachmentRow(r), .decoded(bytes))
    }

    public func rawMessage(id: Int64) throws -> [UInt8]? {
        try db.scalar("SELECT data FROM raw_messages WHERE id = ?", [.int(id)])?.blob
    }

    /// The ticket a delivery key created, if that key was delivered before.
    public func delivered(key: String) throws -> DeliveryOutcome? {
        guard let row = try db.query("SELECT ticket_id FROM deliveries WHERE key = ?", [.text(key)]).first else { return nil }
        return DeliveryOutcome(action: .duplicate, ticketNumber: row[0].int)
    }

    /// "ok", or what is wrong.
    open func integrityCheck() throws -> String {
        _ = try db.query("SELECT 1")
        return "ok"
    }

    public func count(_ what: CountedThing) throws -> Int {
        Int(try db.scalar("SELECT count(*) FROM \(what.rawValue)")?.int ?? 0)
    }
}
#if canImport(Glibc)
import Glibc
#endif
internal import CSQLite

/// The ticket store in one SQLite file: WAL journal, synchronous=FULL, writes in BEGIN
/// IMMEDIATE transactions.
public final class SQLiteStore: TicketStore, ConversationLookup {
    let connection: Connection
    public let path: String

    public struct Options: Sendable {
        /// How long to wait for another writer before giving up (transient failure).
        public var busyTimeoutMilliseconds: Int32 = 30_000
        public var readOnly = false
        /// Create the file and schema when missing.
        public var create = true
        /// Sync every commit to disk (synchronous=FULL). The notifier's own records may go
        /// without: a commit still survives the process being killed, and what a power cut
        /// could take back is a mail marked sent, sent again with the same Message-ID.
        public var syncEveryCommit = true

        public init(busyTimeoutMilliseconds: Int32 = 30_000, readOnly: Bool = false, create: Bool = true, syncEveryCommit: Bool = true) {
            self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
            self.readOnly = readOnly
            self.create = create
            self.syncEveryCommit = syncEveryCommit
        }
    }

    /// Mail and secrets are not for other users: a new database is created owner
    /// read-write, group read (an administrators' group), whatever the umask. SQLite gives
    /// its -wal and -shm files the same mode.
    public static let fileMode: UInt32 = 0o640

    let readOnly: Bool

    public init(path: String, options: Options = Options()) throws {
        self.path = path
        readOnly = options.readOnly
        if !options.readOnly && options.create {
            // Created here, not by SQLite, so that the mode does not depend on the umask.
            let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(Self.fileMode))
            if fd >= 0 {
                fchmod(fd, mode_t(Self.fileMode))
                close(fd)
            }
        }
        connection = try Connection(path: path, options: .init(readOnly: options.readOnly, create: options.create,
                                                               busyTimeoutMilliseconds: options.busyTimeoutMilliseconds))
        if options.readOnly { return }
        let deadline = monotonicMilliseconds() + Int64(options.busyTimeoutMilliseconds)
        // WAL once per file; racing processes may see BUSY while another switches it.
        if try connection.pragma("journal_mode", retryUntil: deadline)?.lowercased() != "wal" {
            let mode = try connection.pragma("journal_mode=WAL", retryUntil: deadline)
            if mode?.lowercased() != "wal" {
                throw StoreError(code: SQLITE_CANTOPEN, message: "cannot switch to WAL (journal mode \(mode ?? "?"))", context: path)
            }
        }
        try connection.execute("PRAGMA synchronous=\(options.syncEveryCommit ? "FULL" : "NORMAL"); PRAGMA foreign_keys=ON")
        try migrate()
    }

    /// Takes from the database, its -wal and -shm files and the rule index copy every
    /// permission other users have (files made by older versions, or by hand); returns the
    /// files changed.
    public func restrictFileModes() -> [String] {
        var changed: [String] = []
        for file in [path, path + "-wal", path + "-shm", path + "-rules"] {
            var st = stat()
            guard stat(file, &st) == 0, st.st_mode & 0o007 != 0 else { continue }
            if chmod(file, st.st_mode & 0o770) == 0 { changed.append(file) }
        }
        return changed
    }

    /// The schema version this build writes.
    public static var schemaVersion: Int { Schema.migrations.count }

    private func migrate() throws {
        if try connection.scalar("PRAGMA user_version")?.int == Int64(Schema.migrations.count) { return }
        try connection.transaction {
            let current = Int(try connection.scalar("PRAGMA user_version")?.int ?? 0)
            if current > Schema.migrations.count {
                throw StoreError(code: SQLITE_CANTOPEN, message: "database schema \(current) is newer than this wt (\(Schema.migrations.count))", context: path)
            }
            for (i, m) in Schema.migrations.enumerated() where i >= current {
                try connection.execute(m.sql)
            }
            // Settings a migration brings start at their defaults; set ones stay as they are.
            let ins = try connection.prepare("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)")
            for (k, v) in Schema.defaultSettings { try ins.run([.text(k), .text(v)]) }
            try connection.execute("PRAGMA user_version = \(Schema.migrations.count)")
        }
    }

    // MARK: Reading the configuration

    public func configuration() throws -> Configuration {
        var settings: [String: String] = [:]
        for r in try connection.query("SELECT key, value FROM settings") { settings[r[0].text ?? ""] = r[1].text ?? "" }
        // Few statements: each is prepared anew in every delivery's process.
        let types = try connection.query("""
            SELECT t.id, t.name, u.name, t.technician_id, t.notify_emails,
                   (SELECT group_concat(a.address, ';') FROM type_addresses a WHERE a.type_id = t.id)
            FROM ticket_types t LEFT JOIN users u ON u.id = t.technician_id ORDER BY t.id
            """).map {
            Configuration.TicketType(id: $0[0].int ?? 0, name: $0[1].text ?? "", technician: $0[2].text, technicianID: $0[3].int,
                                     notifyEmails: $0[4].text ?? "", addresses: splitList($0[5].text ?? ""))
        }
        var meta: [String: Int64] = [:]
        for r in try connection.query("SELECT key, value FROM meta WHERE key IN ('rules_version', 'database_id')") { meta[r[0].text ?? ""] = r[1].int }
        let version = UInt64(meta["rules_version"] ?? 0)
        let databaseID = meta["database_id"] ?? 0
        // The mapped copy reads only the pages matching walks through (an index of 10,000
        // rules is 4 MB); the row is read when there is no good copy.
        let cache = RulesIndexFile(path: path + "-rules", databaseID: databaseID, version: version)
        var index = cache.map()
        if index == nil, let row = try connection.blob("SELECT image FROM rule_index WHERE id = 1 AND version = ?", [.int(Int64(version))]) {
            if !readOnly { cache.write(Array(row.bytes)) }  // the copy was missing or stale
            index = row
        }
        let save: (([UInt8]) throws -> Void)? = readOnly ? nil : { [connection] image in
            try connection.prepare("INSERT OR REPLACE INTO rule_index (id, version, image) VALUES (1, ?, ?)")
                .run([.int(Int64(version)), .blob(image)])
            cache.write(image)
        }
        return Configuration(settings: settings, ticketTypes: types, rulesVersion: version, storedRulesIndex: index,
                             loadRule: { id in try self.ruleRows(id: id).first }, loadRules: { try self.ruleRows() },
                             storeRulesIndex: save)
    }

    func ruleRows(id: Int64? = nil) throws -> [Configuration.RuleRow] {
        try connection.query("""
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
        let c = connection
        return try c.transaction {
            if let existing = try c.query("SELECT ticket_id FROM deliveries WHERE key = ?", [.text(key)]).first {
                // A write, so that this commit syncs the WAL: if the first delivery's commit
                // failed in fsync (we said 75), its frames become durable before we say 0.
                try c.prepare("UPDATE deliveries SET redeliveries = redeliveries + 1 WHERE key = ?").run([.text(key)])
                return DeliveryOutcome(action: .duplicate, ticketNumber: existing[0].int)
            }
            let config = try configuration()
            let plan = try makePlan(config, self)
            let now = envelope.receivedAt

            try c.prepare("INSERT INTO raw_messages (received_at, sender, recipient, size, sha256, data) VALUES (?, ?, ?, ?, ?, zeroblob(?))")
                .run([.int(now), envelope.sender.map(SQLValue.text) ?? .null, envelope.recipient.map(SQLValue.text) ?? .null,
                      .int(Int64(raw.count)), .text(rawSHA256), .int(Int64(raw.count))])
            let rawID = c.lastInsertRowID
            try c.writeBlob(table: "raw_messages", column: "data", rowid: rawID, size: raw.count) { sink in
                guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
                var off = 0
                while off < raw.count {
                    let n = min(1 << 20, raw.count - off)
                    sink(UnsafeBufferPointer(start: base + off, count: n))
                    off += n
                }
            }
            let create = config.flag("create_unknown_users")
            let outcome: DeliveryOutcome
            switch plan {
            case .newTicket(let p):
                outcome = DeliveryOutcome(action: .created, ticketNumber: try insertTicket(p, config: config, rawID: rawID, raw: raw, now: now))
            case .followUp(let ticket, let event, let reopen, let notify):
                let eventID = try insertEvent(event, ticket: ticket, rawID: rawID, raw: raw, create: create, now: now)
                try c.prepare("UPDATE tickets SET updated_at = ?\(reopen ? ", status = 'Open'" : "") WHERE id = ?").run([.int(now), .int(ticket)])
                if let notify {
                    try c.prepare("INSERT INTO outbox (ticket_id, event_id, kind, created_at) VALUES (?, ?, ?, ?)")
                        .run([.int(ticket), .int(eventID), .text(notify), .int(now)])
                }
                outcome = DeliveryOutcome(action: .followUp, ticketNumber: ticket)
            case .bounce(let ticket, let event, let failed):
                _ = try insertEvent(event, ticket: ticket, rawID: rawID, raw: raw, create: false, now: now)
                try c.prepare("UPDATE tickets SET updated_at = ? WHERE id = ?").run([.int(now), .int(ticket)])
                let mark = try c.prepare("""
                    INSERT INTO bouncing_addresses (address, first_at, last_at, ticket_id, detail) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (address) DO UPDATE SET last_at = excluded.last_at, count = count + 1,
                        ticket_id = excluded.ticket_id, detail = excluded.detail
                    """)
                for address in failed.prefix(1000) {
                    try mark.run([.text(address), .int(now), .int(now), .int(ticket), .text(event.subject)])
                }
                outcome = DeliveryOutcome(action: .bounce, ticketNumber: ticket)
            case .loop:
                outcome = DeliveryOutcome(action: .loop, ticketNumber: nil)
            }
            try c.prepare("INSERT INTO deliveries (key, raw_message_id, ticket_id, action, delivered_at) VALUES (?, ?, ?, ?, ?)")
                .run([.text(key), .int(rawID), outcome.ticketNumber.map(SQLValue.int) ?? .null, .text(outcome.action.rawValue), .int(now)])
            return outcome
        }
    }

    private func insertTicket(_ plan: TicketPlan, config: Configuration, rawID: Int64, raw: UnsafeRawBufferPointer, now: Int64) throws -> Int64 {
        let c = connection
        let requester = try resolveRequester(address: plan.requesterAddress, name: plan.requesterName,
                                             create: config.flag("create_unknown_users"), now: now)
        let type = config.ticketTypes.first { $0.name.lowercased() == plan.ticketType.lowercased() }
            ?? config.ticketTypes.first { $0.name.lowercased() == (config.setting("default_ticket_type") ?? "").lowercased() }
        try c.prepare("""
            INSERT INTO tickets (subject, body, requester_id, technician_id, ticket_type_id, priority, status, message_id, flagged,
                                 created_at, updated_at, recipient, linked_ticket_id, automatic)
            VALUES (?, ?, ?, ?, ?, ?, 'Open', ?, ?, ?, ?, ?, ?, ?)
            """).run([.text(plan.subject), .text(plan.body), requester.map(SQLValue.int) ?? .null, type?.technicianID.map(SQLValue.int) ?? .null,
                      type.map { SQLValue.int($0.id) } ?? .null, .text(plan.priority), plan.messageID.map(SQLValue.text) ?? .null,
                      .int(plan.flagged ? 1 : 0), .int(now), .int(now), plan.recipient.map(SQLValue.text) ?? .null,
                      plan.linkedTicket.map(SQLValue.int) ?? .null, .int(plan.automatic ? 1 : 0)])
        let ticketID = c.lastInsertRowID
        try c.prepare("""
            INSERT INTO ticket_events (ticket_id, kind, author_id, raw_message_id, message_id, subject, body, detail, created_at, reasons, automatic)
            VALUES (?, 'created', ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).run([.int(ticketID), requester.map(SQLValue.int) ?? .null, .int(rawID), plan.messageID.map(SQLValue.text) ?? .null,
                      .text(plan.subject), .text(plan.body), .text(plan.detail), .int(now), .text(plan.reasons.joined(separator: "\n")),
                      .int(plan.automatic ? 1 : 0)])
        let eventID = c.lastInsertRowID
        try insertAttachments(plan.attachments, ticket: ticketID, event: eventID, rawID: rawID, raw: raw)
        if plan.notify {
            try c.prepare("INSERT INTO outbox (ticket_id, event_id, kind, created_at) VALUES (?, ?, 'ticket_created', ?)")
                .run([.int(ticketID), .int(eventID), .int(now)])
        }
        return ticketID
    }

    private func insertEvent(_ e: EventPlan, ticket: Int64, rawID: Int64, raw: UnsafeRawBufferPointer, create: Bool, now: Int64) throws -> Int64 {
        let c = connection
        let author = try resolveRequester(address: e.authorAddress, name: e.authorName, create: create, now: now)
        try c.prepare("""
            INSERT INTO ticket_events (ticket_id, kind, author_id, raw_message_id, message_id, subject, body, detail, created_at,
                                       source, quoted_at, reasons, automatic)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'mail', ?, ?, ?)
            """).run([.int(ticket), .text(e.kind), author.map(SQLValue.int) ?? .null, .int(rawID), e.messageID.map(SQLValue.text) ?? .null,
                      .text(e.subject), .text(e.body), .text(e.detail), .int(now), e.quotedAt.map { SQLValue.int(Int64($0)) } ?? .null,
                      .text(e.reasons.joined(separator: "\n")), .int(e.automatic ? 1 : 0)])
        let eventID = c.lastInsertRowID
        try insertAttachments(e.attachments, ticket: ticket, event: eventID, rawID: rawID, raw: raw)
        if e.flagged { try c.prepare("UPDATE tickets SET flagged = 1 WHERE id = ?").run([.int(ticket)]) }
        return eventID
    }

    private func insertAttachments(_ attachments: [TicketPlan.Attachment], ticket: Int64, event: Int64, rawID: Int64, raw: UnsafeRawBufferPointer) throws {
        guard !attachments.isEmpty else { return }
        let c = connection
        let hasBlob = try c.prepare("SELECT 1 FROM blobs WHERE sha256 = ?")
        let insBlob = try c.prepare("INSERT INTO blobs (sha256, size, data) VALUES (?, ?, zeroblob(?))")
        let insAtt = try c.prepare("""
            INSERT INTO attachments (ticket_id, event_id, sha256, filename, content_type, size, inline, content_id,
                                     raw_message_id, body_start, body_end, encoding)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for a in attachments {
            var location: [SQLValue] = [.null, .null, .null, .null]
            if let (range, encoding) = a.rawRange, range.lowerBound >= 0, range.upperBound <= raw.count {
                location = [.int(rawID), .int(Int64(range.lowerBound)), .int(Int64(range.upperBound)), .text(encoding)]
            } else {
                try hasBlob.bind([.text(a.sha256)])
                if !(try hasBlob.step()) {
                    try insBlob.run([.text(a.sha256), .int(Int64(a.size)), .int(Int64(a.size))])
                    try c.writeBlob(table: "blobs", column: "data", rowid: c.lastInsertRowID, size: a.size, a.data)
                }
            }
            try insAtt.run([.int(ticket), .int(event), .text(a.sha256), .text(sanitizeFilename(a.filename)), .text(a.contentType),
                            .int(Int64(a.size)), .int(a.inline ? 1 : 0), a.contentID.map(SQLValue.text) ?? .null] + location)
        }
    }

    // MARK: What decides a message

    public func ticketState(_ number: Int64) throws -> TicketState? {
        try connection.query("SELECT id, status, requester_id, technician_id FROM tickets WHERE id = ?", [.int(number)]).first.map {
            TicketState(number: $0[0].int ?? 0, status: $0[1].text ?? "", requesterID: $0[2].int, technicianID: $0[3].int)
        }
    }

    public func ticket(receivedMessageID id: String) throws -> Int64? {
        try connection.scalar("SELECT ticket_id FROM ticket_events WHERE message_id = ? ORDER BY id LIMIT 1", [.text(id)])?.int
    }

    public func user(address: String) throws -> UserState? {
        try connection.query("SELECT u.id, u.name, u.role FROM user_addresses a JOIN users u ON u.id = a.user_id WHERE a.address = ?",
                             [.text(address)]).first.map {
            UserState(id: $0[0].int ?? 0, name: $0[1].text ?? "", role: Role(rawValue: $0[2].text ?? "") ?? .endUser)
        }
    }

    public func messageIDReceived(_ id: String) throws -> Bool {
        try connection.scalar("SELECT 1 FROM ticket_events WHERE message_id = ? LIMIT 1", [.text(id)]) != nil
    }

    public func messageIDKey() throws -> [UInt8] {
        try connection.scalar("SELECT value FROM secrets WHERE name = 'message_id_key'")?.blob ?? []
    }

    /// The user whose address list holds `address` (any case); else a new end user, if allowed.
    private func resolveRequester(address: String?, name: String?, create: Bool, now: Int64) throws -> Int64? {
        guard let address, !address.isEmpty else { return nil }
        if let id = try connection.scalar("SELECT user_id FROM user_addresses WHERE address = ?", [.text(address)])?.int { return id }
        guard create else { return nil }
        // Named by the address, which no other user holds; the From name is only shown.
        let display = (name?.isEmpty == false) ? name : nil
        let next = (try connection.scalar("SELECT coalesce(max(id), 0) + 1 FROM users")?.int) ?? 1
        let insert = try connection.prepare("""
            INSERT INTO users (name, role, emails, created_at, origin, display_name) VALUES (?, 'end_user', ?, ?, 'mail', ?)
            ON CONFLICT DO NOTHING
            """)
        for candidate in [address, "\(address) #\(next)"] {
            try insert.run([.text(candidate), .text(address), .int(now), display.map(SQLValue.text) ?? .null])
            if connection.changes == 1 {
                let id = connection.lastInsertRowID
                try connection.prepare("INSERT INTO user_addresses (address, user_id) VALUES (?, ?)").run([.text(address), .int(id)])
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
        try connection.query(Self.summarySQL + " ORDER BY t.id DESC LIMIT ? OFFSET ?", [.int(Int64(limit)), .int(Int64(offset))]).map(summary)
    }

    public func ticket(number: Int64) throws -> TicketDetail? {
        guard let r = try connection.query(Self.summarySQL + " WHERE t.id = ?", [.int(number)]).first else { return nil }
        let events = try connection.query("""
            SELECT e.id, e.kind, u.name, e.message_id, e.subject, e.body, e.detail, e.raw_message_id, e.created_at,
                   e.source, e.quoted_at, e.reasons, e.automatic
            FROM ticket_events e LEFT JOIN users u ON u.id = e.author_id WHERE e.ticket_id = ? ORDER BY e.id
            """, [.int(number)]).map {
            TicketDetail.Event(id: $0[0].int ?? 0, kind: $0[1].text ?? "", author: $0[2].text, messageID: $0[3].text, subject: $0[4].text,
                               body: $0[5].text, detail: $0[6].text ?? "", rawMessageID: $0[7].int, createdAt: $0[8].int ?? 0,
                               source: $0[9].text ?? "mail", quotedAt: $0[10].int.map { Int($0) },
                               reasons: splitLines($0[11].text ?? ""), automatic: ($0[12].int ?? 0) != 0)
        }
        let attachments = try connection.query("""
            SELECT id, event_id, filename, content_type, size, sha256, inline FROM attachments WHERE ticket_id = ? ORDER BY id
            """, [.int(number)]).map(attachmentRow)
        var detail = TicketDetail(summary: summary(r), body: r[10].text ?? "", requesterAddress: r[11].text, events: events, attachments: attachments)
        if let extra = try connection.query("SELECT recipient, linked_ticket_id FROM tickets WHERE id = ?", [.int(number)]).first {
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
        guard let r = try connection.query("""
            SELECT a.id, a.event_id, a.filename, a.content_type, a.size, a.sha256, a.inline, a.encoding,
                   CASE WHEN a.raw_message_id IS NULL THEN (SELECT data FROM blobs b WHERE b.sha256 = a.sha256)
                        ELSE (SELECT substr(data, a.body_start + 1, a.body_end - a.body_start) FROM raw_messages m WHERE m.id = a.raw_message_id)
                   END
            FROM attachments a WHERE a.id = ?
            """, [.int(id)]).first else { return nil }
        let bytes = r[8].blob ?? []
        if let encoding = r[7].text { return (attachmentRow(r), .encoded(bytes, encoding: encoding)) }
        return (attachmentRow(r), .decoded(bytes))
    }

    public func rawMessage(id: Int64) throws -> [UInt8]? {
        try connection.scalar("SELECT data FROM raw_messages WHERE id = ?", [.int(id)])?.blob
    }

    /// The ticket a delivery key created, if that key was delivered before.
    public func delivered(key: String) throws -> DeliveryOutcome? {
        guard let row = try connection.query("SELECT ticket_id FROM deliveries WHERE key = ?", [.text(key)]).first else { return nil }
        return DeliveryOutcome(action: .duplicate, ticketNumber: row[0].int)
    }

    public func integrityCheck() throws -> String {
        try connection.query("PRAGMA integrity_check").compactMap { $0.first?.text }.joined(separator: "\n")
    }

    public func count(_ what: CountedThing) throws -> Int {
        Int(try connection.scalar("SELECT count(*) FROM \(what.rawValue)")?.int ?? 0)
    }
}

/// The copy of the compiled rule index beside the database ("wt.db-rules"): a header naming
/// the database (its random id) and the rules version, then the image. Anyone who can write
/// the folder can write it, so it is only a candidate: a copy for another database or
/// version is ignored, and the image's own checks (as matching reads it) catch damage.
struct RulesIndexFile {
    static let magic: UInt64 = 0x3243_5457_0000_0002  // "WTC2"
    static let headerSize = 32
    let path: String
    let databaseID: Int64
    let version: UInt64

    /// The image of a copy made for this database and version, mapped; nil otherwise.
    func map() -> StoredBytes? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size >= Self.headerSize,
              let p = mmap(nil, Int(st.st_size), PROT_READ, MAP_SHARED, fd, 0), p != MAP_FAILED else { return nil }
        let whole = UnsafeRawBufferPointer(start: p, count: Int(st.st_size))
        let ok = whole.loadUnaligned(as: UInt64.self) == Self.magic
            && whole.loadUnaligned(fromByteOffset: 8, as: Int64.self) == databaseID
            && whole.loadUnaligned(fromByteOffset: 16, as: UInt64.self) == version
            && whole.loadUnaligned(fromByteOffset: 24, as: UInt64.self) == UInt64(st.st_size) - UInt64(Self.headerSize)
        guard ok else {
            munmap(p, Int(st.st_size))
            return nil
        }
        return StoredBytes(mapping: p, length: Int(st.st_size), bytes: UnsafeRawBufferPointer(rebasing: whole[Self.headerSize...]))
    }

    /// Writes a copy beside the database, aside and renamed so that no reader sees half of
    /// one; best effort (without it, deliveries read the row).
    func write(_ image: [UInt8]) {
        var header: [UInt8] = []
        for v in [Self.magic, UInt64(bitPattern: databaseID), version, UInt64(image.count)] { withUnsafeBytes(of: v.littleEndian) { header += $0 } }
        let tmp = path + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode_t(SQLiteStore.fileMode))
        guard fd >= 0 else { return }
        fchmod(fd, mode_t(SQLiteStore.fileMode))
        let ok = writeAll(fd, header) && writeAll(fd, image) && fsync(fd) == 0
        close(fd)
        if !ok || rename(tmp, path) != 0 { unlink(tmp) }
    }
}

func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { p in
        var off = 0
        while off < p.count {
            let n = write(fd, p.baseAddress! + off, p.count - off)
            if n < 0 { if errno == EINTR { continue }; return false }
            off += n
        }
        return true
    }
}

/// A display name that can never become a path or an option: the last component of any path
/// in it, no NUL, control or bidi characters (a right-to-left override turns "txt.exe" into
/// what reads as "exe.txt"), no leading dot or dash ("-" is standard output to many tools),
/// no "..", at most 255 bytes of UTF-8.
public func sanitizeFilename(_ name: String) -> String {
    // "C:\TEMP\x.png" and "../../etc/passwd" name the files "x.png" and "passwd".
    let last = name.split(omittingEmptySubsequences: true) { $0 == "/" || $0 == "\\" }.last.map(String.init) ?? ""
    var scalars = String.UnicodeScalarView()
    for s in last.unicodeScalars {
        switch s.value {
        case 0..<0x20, 0x7F, 0x80..<0xA0, 0x2028, 0x2029, 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: continue
        default: scalars.append(s)
        }
    }
    var out = String(scalars).trimmingSpaces
    while out.contains("..") { out = out.replacingAll("..", with: ".") }
    while out.hasPrefix(".") || out.hasPrefix("-") { out.removeFirst() }
    out = out.trimmingSpaces
    if out.isEmpty { out = "attachment" }
    if out.utf8.count > 255 {
        // Cut on a character boundary, keeping the extension where there is one.
        let ext = out.lastIndex(of: ".").map { String(out[$0...]) }.flatMap { $0.utf8.count <= 16 ? $0 : nil } ?? ""
        var stem = ""
        for ch in out.dropLast(ext.count) {
            if stem.utf8.count + String(ch).utf8.count + ext.utf8.count > 255 { break }
            stem.append(ch)
        }
        out = stem + ext
    }
    return out
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return String(s)
    }

    func replacingAll(_ a: String, with b: String) -> String {
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: a) {
            out += rest[..<r.lowerBound]
            out += b
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}

func splitLines(_ s: String) -> [String] { s.split(separator: "\n").map(String.init) }

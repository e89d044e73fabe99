#if canImport(Glibc)
import Glibc
#endif
internal import CSQLite

public enum Role: String, Sendable, CaseIterable {
    case technician
    case endUser = "end_user"

    public init?(loose: String) {
        switch loose.lowercased().replacingAll("-", with: "_").replacingAll(" ", with: "_") {
        case "technician", "tech": self = .technician
        case "end_user", "enduser", "user": self = .endUser
        default: return nil
        }
    }
}

public struct UserRecord: Sendable, Equatable {
    public var name: String
    public var role: Role
    public var emails: [String]

    public init(name: String, role: Role, emails: [String]) {
        self.name = name
        self.role = role
        self.emails = emails
    }
}

public struct TicketTypeRecord: Sendable, Equatable {
    public var name: String
    public var technician: String?
    public var notifyEmails: [String]
    /// Helpdesk addresses this type receives for: mail to one gets this type unless a rule
    /// matches first.
    public var addresses: [String]

    public init(name: String, technician: String?, notifyEmails: [String], addresses: [String] = []) {
        self.name = name
        self.technician = technician
        self.notifyEmails = notifyEmails
        self.addresses = addresses
    }
}

public struct RuleRecord: Sendable, Equatable {
    public var name: String
    public var textToMatch: String
    public var ticketType: String
    public var priority: String
    public var order: Int
    public var enabled: Bool

    public init(name: String, textToMatch: String, ticketType: String, priority: String, order: Int, enabled: Bool) {
        self.name = name
        self.textToMatch = textToMatch
        self.ticketType = ticketType
        self.priority = priority
        self.order = order
        self.enabled = enabled
    }
}

/// Everything an administrator configures, as one value (the config file's content).
public struct FullConfiguration: Sendable, Equatable {
    public var settings: [(String, String)]
    public var users: [UserRecord]
    public var ticketTypes: [TicketTypeRecord]
    public var rules: [RuleRecord]

    public init(settings: [(String, String)], users: [UserRecord], ticketTypes: [TicketTypeRecord], rules: [RuleRecord]) {
        self.settings = settings
        self.users = users
        self.ticketTypes = ticketTypes
        self.rules = rules
    }

    public static func == (a: FullConfiguration, b: FullConfiguration) -> Bool {
        a.settings.map { $0.0 + "=" + $0.1 } == b.settings.map { $0.0 + "=" + $0.1 } && a.users == b.users
            && a.ticketTypes == b.ticketTypes && a.rules == b.rules
    }
}

/// What `applyConfiguration` changed.
public struct ApplySummary: Sendable, Equatable {
    public var settingsChanged = 0
    public var usersAdded = 0, usersUpdated = 0, usersKept = 0
    public var typesAdded = 0, typesUpdated = 0, typesRemoved = 0
    public var rulesBefore = 0, rulesAfter = 0
}

extension SQLStore {
    // MARK: Reading

    public func rules() throws -> [RuleRecord] {
        try db.query("""
            SELECT r.name, r.text_to_match, t.name, r.priority, r.priority_order, r.enabled
            FROM rules r JOIN ticket_types t ON t.id = r.ticket_type_id ORDER BY r.priority_order, r.created_at, r.id
            """).map {
            RuleRecord(name: $0[0].text ?? "", textToMatch: $0[1].text ?? "", ticketType: $0[2].text ?? "", priority: $0[3].text ?? "",
                       order: Int($0[4].int ?? 0), enabled: ($0[5].int ?? 0) != 0)
        }
    }

    public func ticketTypeRecords() throws -> [TicketTypeRecord] {
        var addresses: [Int64: [String]] = [:]
        for r in try db.query("SELECT type_id, address FROM type_addresses ORDER BY rowid") {
            addresses[r[0].int ?? 0, default: []].append(r[1].text ?? "")
        }
        return try db.query("SELECT t.name, u.name, t.notify_emails, t.id FROM ticket_types t LEFT JOIN users u ON u.id = t.technician_id ORDER BY t.id").map {
            TicketTypeRecord(name: $0[0].text ?? "", technician: $0[1].text, notifyEmails: splitList($0[2].text ?? ""),
                             addresses: addresses[$0[3].int ?? 0] ?? [])
        }
    }

    /// Users, in the order they were added; `fromMail: false` leaves out the senders that
    /// delivery made users (they are not configuration).
    public func users(fromMail: Bool = true) throws -> [UserRecord] {
        try db.query("SELECT name, role, emails FROM users \(fromMail ? "" : "WHERE origin = 'admin' ")ORDER BY id").map {
            UserRecord(name: $0[0].text ?? "", role: Role(rawValue: $0[1].text ?? "") ?? .endUser, emails: splitList($0[2].text ?? ""))
        }
    }

    public func settingsList() throws -> [(String, String)] {
        let stored = Dictionary(try db.query("SELECT key, value FROM settings").map { ($0[0].text ?? "", $0[1].text ?? "") },
                                uniquingKeysWith: { a, _ in a })
        return SettingsSchema.entries.map { ($0.key, stored[$0.key] ?? "") }
    }

    /// Everything an administrator configured; passwords only `withSecrets`.
    public func exportConfiguration(withSecrets: Bool = false) throws -> FullConfiguration {
        let settings = try settingsList().filter { key, _ in
            if case .secret = SettingsSchema.entry(key)?.kind { return withSecrets }
            return true
        }
        return FullConfiguration(settings: settings, users: try users(fromMail: false), ticketTypes: try ticketTypeRecords(), rules: try rules())
    }

    /// Changes with every change to rules or ticket types.
    public func rulesVersion() throws -> UInt64 {
        UInt64(try db.scalar("SELECT value FROM meta WHERE key = 'rules_version'")?.int ?? 0)
    }

    private func bumpRulesVersion() throws {
        try db.execute("UPDATE meta SET value = value + 1 WHERE key = 'rules_version'")
    }

    // MARK: Validation

    private func priorities() throws -> [String] {
        splitList(try db.scalar("SELECT value FROM settings WHERE key = 'priorities'")?.text ?? "Low;Medium;High;Urgent")
    }

    private func validate(_ r: RuleRecord, types: [String], priorities: [String]) throws -> RuleRecord {
        var r = r
        r.name = r.name.trimmingSpaces
        if r.name.isEmpty { throw InvalidInput("name", "a rule needs a name") }
        if r.textToMatch.trimmingSpaces.isEmpty { throw InvalidInput("text", "rule \"\(r.name)\" needs text to match") }
        guard let t = types.first(where: { $0.lowercased() == r.ticketType.trimmingSpaces.lowercased() }) else {
            throw InvalidInput("type", "no ticket type \"\(r.ticketType)\" (known: \(types.joined(separator: ", ")))")
        }
        r.ticketType = t
        guard let p = priorities.first(where: { $0.lowercased() == r.priority.trimmingSpaces.lowercased() }) else {
            throw InvalidInput("priority", "\"\(r.priority)\" is not a priority (known: \(priorities.joined(separator: ", ")))")
        }
        r.priority = p
        return r
    }

    private func validate(_ u: UserRecord) throws -> UserRecord {
        var u = u
        u.name = u.name.trimmingSpaces
        if u.name.isEmpty { throw InvalidInput("name", "a user needs a name") }
        u.emails = u.emails.map { $0.trimmingSpaces }.filter { !$0.isEmpty }
        for e in u.emails where !isPlausibleAddress(e) { throw InvalidInput("emails", "\"\(e)\" is not an e-mail address (user \"\(u.name)\")") }
        var seen = Set<String>()
        for e in u.emails where !seen.insert(e.lowercased()).inserted { throw InvalidInput("emails", "\(e) is listed twice for \"\(u.name)\"") }
        return u
    }

    private func userID(named name: String) throws -> Int64? {
        try db.scalar("SELECT id FROM users WHERE \(sameText("name")) ORDER BY id LIMIT 1", [.text(name)])?.int
    }

    private func typeID(named name: String) throws -> Int64? {
        try db.scalar("SELECT id FROM ticket_types WHERE name = ?", [.text(name)])?.int
    }

    // MARK: Rules

    public func addRule(_ rule: RuleRecord) throws {
        try db.transaction {
            let r = try validate(rule, types: try ticketTypeRecords().map(\.name), priorities: try priorities())
            if try db.scalar("SELECT 1 FROM rules WHERE name = ?", [.text(r.name)]) != nil {
                throw InvalidInput("name", "a rule named \"\(r.name)\" exists already")
            }
            try insertRule(r)
            try bumpRulesVersion()
        }
    }

    private func insertRule(_ r: RuleRecord) throws {
        // created_at orders rules with the same priority order: a counter keeps it strict.
        let created = (try db.scalar("SELECT coalesce(max(created_at), 0) + 1 FROM rules")?.int) ?? 1
        try db.execute("""
            INSERT INTO rules (name, text_to_match, ticket_type_id, priority, priority_order, enabled, created_at)
            VALUES (?, ?, (SELECT id FROM ticket_types WHERE name = ?), ?, ?, ?, ?)
            """, [.text(r.name), .text(r.textToMatch), .text(r.ticketType), .text(r.priority), .int(Int64(r.order)),
                      .int(r.enabled ? 1 : 0), .int(created)])
    }

    /// Replaces the rule named `name` with `rule` (which may rename it).
    public func updateRule(named name: String, to rule: RuleRecord) throws {
        try db.transaction {
            guard try db.scalar("SELECT 1 FROM rules WHERE name = ?", [.text(name)]) != nil else {
                throw InvalidInput("name", "no rule named \"\(name)\"")
            }
            let r = try validate(rule, types: try ticketTypeRecords().map(\.name), priorities: try priorities())
            if r.name.lowercased() != name.lowercased(), try db.scalar("SELECT 1 FROM rules WHERE name = ?", [.text(r.name)]) != nil {
                throw InvalidInput("name", "a rule named \"\(r.name)\" exists already")
            }
            try db.execute("""
                UPDATE rules SET name = ?, text_to_match = ?, ticket_type_id = (SELECT id FROM ticket_types WHERE name = ?),
                priority = ?, priority_order = ?, enabled = ? WHERE name = ?
                """, [.text(r.name), .text(r.textToMatch), .text(r.ticketType), .text(r.priority), .int(Int64(r.order)),
                          .int(r.enabled ? 1 : 0), .text(name)])
            try bumpRulesVersion()
        }
    }

    public func removeRule(named name: String) throws {
        try db.transaction {
            if try db.execute("DELETE FROM rules WHERE name = ?", [.text(name)]) == 0 { throw InvalidInput("name", "no rule named \"\(name)\"") }
            try bumpRulesVersion()
        }
    }

    // MARK: Ticket types

    public func addTicketType(_ t: TicketTypeRecord) throws {
        try db.transaction {
            try writeType(t, existing: nil)
            try bumpRulesVersion()
        }
    }

    public func updateTicketType(named name: String, to t: TicketTypeRecord) throws {
        try db.transaction {
            guard let id = try typeID(named: name) else { throw InvalidInput("name", "no ticket type \"\(name)\"") }
            try writeType(t, existing: id)
            if name.lowercased() != t.name.lowercased(),
               try db.scalar("SELECT value FROM settings WHERE key = 'default_ticket_type'")?.text?.lowercased() == name.lowercased() {
                try db.execute("UPDATE settings SET value = ? WHERE key = 'default_ticket_type'", [.text(t.name.trimmingSpaces)])
            }
            try bumpRulesVersion()
        }
    }

    private func writeType(_ t: TicketTypeRecord, existing: Int64?) throws {
        let name = t.name.trimmingSpaces
        if name.isEmpty { throw InvalidInput("name", "a ticket type needs a name") }
        if let other = try typeID(named: name), other != existing { throw InvalidInput("name", "a ticket type named \"\(name)\" exists already") }
        var techID: Int64? = nil
        if let tech = t.technician?.trimmingSpaces, !tech.isEmpty {
            guard let row = try db.query("SELECT id, role FROM users WHERE \(sameText("name")) ORDER BY id LIMIT 1", [.text(tech)]).first else {
                throw InvalidInput("technician", "no user \"\(tech)\" (add one with: wt-admin users add)")
            }
            if row[1].text != Role.technician.rawValue { throw InvalidInput("technician", "\"\(tech)\" is an end user, not a technician") }
            techID = row[0].int
        }
        let emails = t.notifyEmails.map { $0.trimmingSpaces }.filter { !$0.isEmpty }
        for e in emails where !isPlausibleAddress(e) { throw InvalidInput("notify", "\"\(e)\" is not an e-mail address") }
        let addresses = t.addresses.map { $0.trimmingSpaces }.filter { !$0.isEmpty }
        var seen = Set<String>()
        for a in addresses {
            guard isPlausibleAddress(a) else { throw InvalidInput("address", "\"\(a)\" is not an e-mail address") }
            guard seen.insert(a.lowercased()).inserted else { throw InvalidInput("address", "\(a) is listed twice") }
            if let other = try db.query("SELECT t.id, t.name FROM type_addresses a JOIN ticket_types t ON t.id = a.type_id WHERE a.address = ?",
                                                [.text(a)]).first, other[0].int != existing {
                throw InvalidInput("address", "\(a) already belongs to ticket type \"\(other[1].text ?? "")\"")
            }
        }
        let id: Int64
        if let existing {
            try db.execute("UPDATE ticket_types SET name = ?, technician_id = ?, notify_emails = ? WHERE id = ?", [.text(name), techID.map(SQLValue.int) ?? .null, .text(emails.joined(separator: ";")), .int(existing)])
            id = existing
        } else {
            id = try newID("INSERT INTO ticket_types (name, technician_id, notify_emails) VALUES (?, ?, ?)",
                           [.text(name), techID.map(SQLValue.int) ?? .null, .text(emails.joined(separator: ";"))])
        }
        try db.execute("DELETE FROM type_addresses WHERE type_id = ?", [.int(id)])
        for a in addresses { try db.execute("INSERT INTO type_addresses (address, type_id) VALUES (?, ?)", [.text(a), .int(id)]) }
    }

    public func removeTicketType(named name: String) throws {
        try db.transaction {
            try deleteType(named: name)
            try bumpRulesVersion()
        }
    }

    private func deleteType(named name: String) throws {
        guard let id = try typeID(named: name) else { throw InvalidInput("name", "no ticket type \"\(name)\"") }
        let rules = try db.query("SELECT name FROM rules WHERE ticket_type_id = ? ORDER BY name", [.int(id)]).compactMap { $0[0].text }
        if !rules.isEmpty { throw InvalidInput("name", "ticket type \"\(name)\" is used by the rules \(rules.map { "\"\($0)\"" }.joined(separator: ", "))") }
        let tickets = try db.scalar("SELECT count(*) FROM tickets WHERE ticket_type_id = ?", [.int(id)])?.int ?? 0
        if tickets > 0 { throw InvalidInput("name", "ticket type \"\(name)\" is used by \(tickets) tickets") }
        for key in ["default_ticket_type", "spam_ticket_type"]
        where try db.scalar("SELECT value FROM settings WHERE key = ?", [.text(key)])?.text?.lowercased() == name.lowercased() {
            throw InvalidInput("name", "ticket type \"\(name)\" is the \(key) setting")
        }
        try db.execute("DELETE FROM ticket_types WHERE id = ?", [.int(id)])
    }

    // MARK: Users

    public func addUser(_ user: UserRecord) throws {
        try db.transaction { _ = try writeUser(user, existing: nil) }
    }

    /// Adds or updates (by name) every user, all or nothing; returns (added, updated).
    public func importUsers(_ list: [UserRecord]) throws -> (added: Int, updated: Int) {
        try db.transaction {
            var added = 0, updated = 0
            for (i, u) in list.enumerated() {
                do {
                    if let id = try userID(named: u.name.trimmingSpaces) { _ = try writeUser(u, existing: id); updated += 1 } else { _ = try writeUser(u, existing: nil); added += 1 }
                } catch let e as InvalidInput {
                    throw InvalidInput(e.field, "\(e.message) (record \(i + 1))")
                }
            }
            return (added, updated)
        }
    }

    public func updateUser(named name: String, to user: UserRecord) throws {
        try db.transaction {
            guard let id = try userID(named: name) else { throw InvalidInput("name", "no user \"\(name)\"") }
            _ = try writeUser(user, existing: id)
        }
    }

    private func writeUser(_ user: UserRecord, existing: Int64?) throws -> Int64 {
        let u = try validate(user)
        if let other = try userID(named: u.name), other != existing {
            // A user that mail created never holds a name against an administrator.
            if try isFromMail(other) {
                try db.execute("UPDATE users SET name = name || ' #' || id WHERE id = ?", [.int(other)])
            } else {
                throw InvalidInput("name", "a user named \"\(u.name)\" exists already")
            }
        }
        var takenFromMail: [(address: String, owner: Int64)] = []
        for e in u.emails {
            if let owner = try db.query("SELECT u.id, u.name, u.origin FROM user_addresses a JOIN users u ON u.id = a.user_id WHERE \(sameText("a.address"))", [.text(e)]).first,
               let ownerID = owner[0].int, ownerID != existing {
                if owner[2].text == "mail" {
                    takenFromMail.append((e, ownerID))
                } else {
                    throw InvalidInput("emails", "\(e) already belongs to \"\(owner[1].text ?? "")\"")
                }
            }
        }
        if let existing, u.role == .endUser,
           let t = try db.scalar("SELECT name FROM ticket_types WHERE technician_id = ?", [.int(existing)])?.text {
            throw InvalidInput("role", "\"\(u.name)\" is the technician of ticket type \"\(t)\"")
        }
        let id: Int64
        if let existing {
            // An administrator's edit makes a user from mail an administrator's user.
            try db.execute("UPDATE users SET name = ?, role = ?, emails = ?, origin = 'admin' WHERE id = ?", [.text(u.name), .text(u.role.rawValue), .text(u.emails.joined(separator: ";")), .int(existing)])
            try db.execute("DELETE FROM user_addresses WHERE user_id = ?", [.int(existing)])
            id = existing
        } else {
            id = try newID("INSERT INTO users (name, role, emails, created_at) VALUES (?, ?, ?, ?)",
                           [.text(u.name), .text(u.role.rawValue), .text(u.emails.joined(separator: ";")), .int(Int64(time(nil)))])
        }
        for (address, owner) in takenFromMail { try moveAddress(address, from: owner, to: id) }
        for e in u.emails { try db.execute("INSERT INTO user_addresses (address, user_id) VALUES (?, ?)", [.text(e), .int(id)]) }
        return id
    }

    private func isFromMail(_ id: Int64) throws -> Bool {
        try db.scalar("SELECT origin FROM users WHERE id = ?", [.int(id)])?.text == "mail"
    }

    /// An address of a user that mail created goes to the administrator's user `to`; a user
    /// from mail left with no address is merged into it (tickets and history follow).
    private func moveAddress(_ address: String, from: Int64, to: Int64) throws {
        try db.execute("DELETE FROM user_addresses WHERE \(sameText("address"))", [.text(address)])
        let left = try db.query("SELECT address FROM user_addresses WHERE user_id = ? ORDER BY rowid", [.int(from)]).compactMap { $0[0].text }
        if left.isEmpty {
            try db.execute("UPDATE tickets SET requester_id = ? WHERE requester_id = ?", [.int(to), .int(from)])
            try db.execute("UPDATE ticket_events SET author_id = ? WHERE author_id = ?", [.int(to), .int(from)])
            try db.execute("DELETE FROM users WHERE id = ?", [.int(from)])
        } else {
            try db.execute("UPDATE users SET emails = ? WHERE id = ?", [.text(left.joined(separator: ";")), .int(from)])
        }
    }

    public func removeUser(named name: String) throws {
        try db.transaction {
            guard let id = try userID(named: name) else { throw InvalidInput("name", "no user \"\(name)\"") }
            let tickets = try db.scalar("SELECT count(*) FROM tickets WHERE requester_id = ?1 OR technician_id = ?1", [.int(id)])?.int ?? 0
            if tickets > 0 { throw InvalidInput("name", "\"\(name)\" is on \(tickets) tickets; remove is refused (change the role or addresses instead)") }
            if let t = try db.scalar("SELECT name FROM ticket_types WHERE technician_id = ?", [.int(id)])?.text {
                throw InvalidInput("name", "\"\(name)\" is the technician of ticket type \"\(t)\"")
            }
            try db.execute("DELETE FROM users WHERE id = ?", [.int(id)])
        }
    }

    // MARK: Settings

    public func setSetting(_ key: String, _ value: String) throws -> String {
        try db.transaction {
            let v = try SettingsSchema.validate(key, value, ticketTypes: try ticketTypeRecords().map(\.name), priorities:
                key == "default_priority" ? try priorities() : [])
            if key == "priorities" {
                let list = splitList(v)
                let used = try db.query("SELECT DISTINCT priority FROM rules").compactMap { $0[0].text }
                for p in used where !list.contains(where: { $0.lowercased() == p.lowercased() }) {
                    throw InvalidInput(key, "rules use the priority \"\(p)\", which the new list lacks")
                }
                let def = try db.scalar("SELECT value FROM settings WHERE key = 'default_priority'")?.text ?? ""
                if !list.contains(where: { $0.lowercased() == def.lowercased() }) {
                    throw InvalidInput(key, "the default_priority \"\(def)\" is not in the new list")
                }
            }
            try db.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [.text(key), .text(v)])
            return v
        }
    }

    /// Runs `body` in a transaction that is always rolled back: what it would do, checked
    /// exactly as the real change is.
    public func dryRun<T>(_ body: () throws -> T) throws -> T {
        try db.dryRun(body)
    }

    // MARK: The whole configuration

    /// Validates `config` completely, then makes the database match it in one transaction.
    /// Users are added or updated by name and never removed (senders become users on their
    /// own); ticket types and rules not in the file are removed; settings not in the file
    /// return to their defaults.
    public func applyConfiguration(_ config: FullConfiguration) throws -> ApplySummary {
        try db.transaction {
            var summary = ApplySummary()
            summary.rulesBefore = Int(try db.scalar("SELECT count(*) FROM rules")?.int ?? 0)
            // Users first: ticket types name their technicians.
            var userNames = Set<String>()
            for (i, u) in config.users.enumerated() {
                guard userNames.insert(u.name.trimmingSpaces.lowercased()).inserted else {
                    throw InvalidInput("user \"\(u.name)\"", "listed twice")
                }
                do {
                    if let id = try userID(named: u.name.trimmingSpaces) {
                        let current = try db.query("SELECT name, role, emails FROM users WHERE id = ?", [.int(id)]).first!
                        if current[1].text != u.role.rawValue || splitList(current[2].text ?? "") != u.emails || current[0].text != u.name {
                            _ = try writeUser(u, existing: id)
                            summary.usersUpdated += 1
                        }
                    } else {
                        _ = try writeUser(u, existing: nil)
                        summary.usersAdded += 1
                    }
                } catch let e as InvalidInput {
                    throw InvalidInput("user \"\(u.name)\" (\(i + 1))", e.description)
                }
            }
            summary.usersKept = Int(try db.scalar("SELECT count(*) FROM users")?.int ?? 0) - config.users.count
            // Rules go before types, so that types they used can be removed.
            try db.execute("DELETE FROM rules")
            var typeNames = Set<String>()
            for t in config.ticketTypes {
                guard typeNames.insert(t.name.trimmingSpaces.lowercased()).inserted else {
                    throw InvalidInput("type \"\(t.name)\"", "listed twice")
                }
                do {
                    if let id = try typeID(named: t.name.trimmingSpaces) {
                        let before = try ticketTypeRecords().first { $0.name.lowercased() == t.name.trimmingSpaces.lowercased() }
                        try writeType(t, existing: id)
                        if before != t { summary.typesUpdated += 1 }
                    } else {
                        try writeType(t, existing: nil)
                        summary.typesAdded += 1
                    }
                } catch let e as InvalidInput {
                    throw InvalidInput("type \"\(t.name)\"", e.description)
                }
            }
            // Settings before removing types: the default type may change.
            var given: [String: String] = [:]
            for (k, v) in config.settings {
                guard SettingsSchema.entry(k) != nil else { throw InvalidInput("settings", "no such setting \"\(k)\"") }
                if given[k] != nil { throw InvalidInput("settings", "\"\(k)\" is set twice") }
                given[k] = v
            }
            let before = Dictionary(try settingsList(), uniquingKeysWith: { a, _ in a })
            let defaults = Dictionary(Schema.defaultSettings, uniquingKeysWith: { a, _ in a })
            let typeList = try ticketTypeRecords().map(\.name)
            let priorityList = splitList(try SettingsSchema.validate("priorities", given["priorities"] ?? defaults["priorities"] ?? "", ticketTypes: [], priorities: []))
            for e in SettingsSchema.entries {
                // A file exported without secrets leaves the stored passwords alone.
                var kept: String? = nil
                if case .secret = e.kind { kept = before[e.key] }
                let raw = given[e.key] ?? kept ?? defaults[e.key] ?? ""
                let v = try SettingsSchema.validate(e.key, raw, ticketTypes: typeList, priorities: priorityList)
                if before[e.key] != v { summary.settingsChanged += 1 }
                try db.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [.text(e.key), .text(v)])
            }
            for t in try ticketTypeRecords() where !typeNames.contains(t.name.lowercased()) {
                do { try deleteType(named: t.name) } catch let e as InvalidInput {
                    throw InvalidInput("type \"\(t.name)\"", "is not in the file but cannot be removed: \(e.message)")
                }
                summary.typesRemoved += 1
            }
            var ruleNames = Set<String>()
            for r in config.rules {
                let v = try validate(r, types: try ticketTypeRecords().map(\.name), priorities: priorityList)
                guard ruleNames.insert(v.name.lowercased()).inserted else { throw InvalidInput("rule \"\(r.name)\"", "listed twice") }
                try insertRule(v)
            }
            summary.rulesAfter = config.rules.count
            try bumpRulesVersion()
            return summary
        }
    }
}

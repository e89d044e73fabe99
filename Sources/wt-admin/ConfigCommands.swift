#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CLIKit
import Rules
import TicketStore

func readTextFile(_ path: String) throws -> String {
    let fd = path == "-" ? 0 : open(path, O_RDONLY)
    if fd < 0 { throw AdminError("cannot read \(path): \(String(cString: strerror(errno)))") }
    defer { if fd != 0 { close(fd) } }
    var bytes: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &buf, buf.count)
        if n < 0 { if errno == EINTR { continue }; throw AdminError("cannot read \(path): \(String(cString: strerror(errno)))") }
        if n == 0 { break }
        bytes += buf[0..<n]
    }
    guard let s = String(validating: bytes, as: UTF8.self) else { throw AdminError("\(path) is not UTF-8 text") }
    return s
}

func jsonLines<T>(_ items: [T], _ fields: (inout JSONWriter, T) -> Void) {
    var out: [UInt8] = []
    for i in items {
        var w = JSONWriter()
        w.beginObject()
        fields(&w, i)
        w.endObject()
        out += w.out + [10]
    }
    writeOut(out)
}

func ruleJSON(_ w: inout JSONWriter, _ r: RuleRecord) {
    w.field("name", r.name)
    w.field("text", r.textToMatch)
    w.field("type", r.ticketType)
    w.field("priority", r.priority)
    w.field("order", r.order)
    w.field("enabled", r.enabled)
}

// MARK: rules

struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules", abstract: "The rules that give a message its ticket type and priority.",
        discussion: "Enabled rules run in ascending order (ties: oldest first). A rule's text is searched, ignoring case, in the sender's address and name, the subject and the body; the first rule that matches wins. No match: the default_ticket_type and default_priority settings.",
        subcommands: [Add.self, List.self, Show.self, Edit.self, Remove.self, Enable.self, Disable.self, Check.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a rule.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Rule name.") var name: String
        @Option(help: "Text to match.") var text: String
        @Option(help: "Ticket type assigned.") var type: String
        @Option(help: "Ticket priority.") var priority: String
        @Option(help: "Priority order: lower numbers run first.") var order: String
        @Flag(help: "Add it disabled.") var disabled = false

        func run() throws {
            try Admin.guarded {
                guard let o = Int(order) else { throw InvalidInput("order", "\"\(order)\" is not a whole number") }
                try database.open().addRule(RuleRecord(name: name, textToMatch: text, ticketType: type, priority: priority, order: o, enabled: !disabled))
                print("added rule \"\(name)\"")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List rules in the order they run.")
        @OptionGroup var database: DatabaseOption
        @Flag(help: "One JSON object per rule, one per line.") var json = false

        func run() throws {
            try Admin.guarded {
                let rules = try database.open().rules()
                if json { jsonLines(rules, ruleJSON); return }
                if rules.isEmpty { print("no rules"); return }
                print("\(pad("order", 6)) \(pad("on", 3)) \(pad("name", 24)) \(pad("type", 14)) \(pad("priority", 9)) text")
                for r in rules {
                    print("\(pad(String(r.order), 6)) \(pad(r.enabled ? "yes" : "no", 3)) \(pad(r.name, 24)) \(pad(r.ticketType, 14)) \(pad(r.priority, 9)) \(r.textToMatch)")
                }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one rule.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Rule name.") var name: String
        @Flag(help: "Print one JSON object.") var json = false

        func run() throws {
            try Admin.guarded {
                guard let r = try database.open().rules().first(where: { $0.name.lowercased() == name.lowercased() }) else {
                    throw AdminError("no rule named \"\(name)\"")
                }
                if json { jsonLines([r], ruleJSON); return }
                print("Rule:        \(r.name)\nText:        \(r.textToMatch)\nType:        \(r.ticketType)\nPriority:    \(r.priority)\nOrder:       \(r.order)\nEnabled:     \(r.enabled ? "yes" : "no")")
            }
        }
    }

    struct Edit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a rule; options not given stay as they are.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Rule name.") var name: String
        @Option(help: "New name.") var rename: String?
        @Option(help: "Text to match.") var text: String?
        @Option(help: "Ticket type assigned.") var type: String?
        @Option(help: "Ticket priority.") var priority: String?
        @Option(help: "Priority order.") var order: String?

        func run() throws {
            try Admin.guarded {
                let store = try database.open()
                guard var r = try store.rules().first(where: { $0.name.lowercased() == name.lowercased() }) else {
                    throw InvalidInput("name", "no rule named \"\(name)\"")
                }
                if let rename { r.name = rename }
                if let text { r.textToMatch = text }
                if let type { r.ticketType = type }
                if let priority { r.priority = priority }
                if let order {
                    guard let o = Int(order) else { throw InvalidInput("order", "\"\(order)\" is not a whole number") }
                    r.order = o
                }
                try store.updateRule(named: name, to: r)
                print("changed rule \"\(r.name)\"")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a rule.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Rule name.") var name: String
        func run() throws {
            try Admin.guarded {
                try database.open().removeRule(named: name)
                print("removed rule \"\(name)\"")
            }
        }
    }

    static func setEnabled(_ database: DatabaseOption, _ name: String, _ on: Bool) throws {
        try Admin.guarded {
            let store = try database.open()
            guard var r = try store.rules().first(where: { $0.name.lowercased() == name.lowercased() }) else {
                throw InvalidInput("name", "no rule named \"\(name)\"")
            }
            r.enabled = on
            try store.updateRule(named: name, to: r)
            print("\(on ? "enabled" : "disabled") rule \"\(r.name)\"")
        }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Use a rule.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Rule name.") var name: String
        func run() throws { try RulesCommand.setEnabled(database, name, true) }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ignore a rule.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Rule name.") var name: String
        func run() throws { try RulesCommand.setEnabled(database, name, false) }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find rules that can never fire, and say why.",
            discussion: "Also duplicate and empty texts, duplicate names and unknown ticket types. Exit status 1 when a problem is found.")
        @OptionGroup var database: DatabaseOption
        @Option(help: "Check the rules of this configuration file instead of the database.") var file: String?
        @Flag(help: "One JSON object per problem, one per line.") var json = false

        func run() throws {
            var problems: [RuleProblem] = []
            try Admin.guarded {
                let records: [RuleRecord]
                let types: [String]
                if let file {
                    let c = try ConfigFile.parse(try readTextFile(file))
                    records = c.rules
                    types = c.ticketTypes.map(\.name)
                } else {
                    let store = try database.open()
                    records = try store.rules()
                    types = try store.ticketTypeRecords().map(\.name)
                }
                let rules = records.map { Rule(name: $0.name, textToMatch: $0.textToMatch, ticketType: $0.ticketType, priority: $0.priority, order: $0.order, enabled: $0.enabled) }
                problems = checkRules(rules, knownTypes: types)
                if json {
                    jsonLines(problems) { w, p in
                        w.field("kind", p.kind.rawValue)
                        w.field("rule", p.rule)
                        w.field("message", p.message)
                    }
                } else if problems.isEmpty {
                    print("\(rules.count) rules, no problems found")
                } else {
                    for p in problems { print(p) }
                    print("\(problems.count) problem\(problems.count == 1 ? "" : "s") in \(rules.count) rules")
                }
            }
            if !problems.isEmpty { throw ExitCode(1) }
        }
    }
}

// MARK: types

struct TypesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "types", abstract: "Ticket types: who is assigned a ticket and who else is told of a new one.",
        subcommands: [Add.self, List.self, Edit.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a ticket type.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Type name.") var name: String
        @Option(help: "The technician (a user) assigned to its tickets.") var technician: String?
        @Option(help: "Addresses told of a new ticket, separated by semicolons.") var notify: String?
        @Option(help: "Helpdesk addresses this type receives for (mail to one gets this type unless a rule matches), separated by semicolons.")
        var address: String?
        func run() throws {
            try Admin.guarded {
                try database.open().addTicketType(TicketTypeRecord(name: name, technician: technician, notifyEmails: splitList(notify ?? ""),
                                                                   addresses: splitList(address ?? "")))
                print("added ticket type \"\(name)\"")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List ticket types.")
        @OptionGroup var database: DatabaseOption
        @Flag(help: "One JSON object per type, one per line.") var json = false
        func run() throws {
            try Admin.guarded {
                let types = try database.open().ticketTypeRecords()
                if json {
                    jsonLines(types) { w, t in
                        w.field("name", t.name)
                        w.field("technician", t.technician)
                        w.key("notify")
                        w.arrayValue { w in for e in t.notifyEmails { w.string(e) } }
                        w.key("addresses")
                        w.arrayValue { w in for e in t.addresses { w.string(e) } }
                    }
                    return
                }
                print("\(pad("name", 20)) \(pad("technician", 20)) \(pad("receives for", 28)) notify")
                for t in types {
                    print("\(pad(t.name, 20)) \(pad(t.technician ?? "-", 20)) \(pad(t.addresses.isEmpty ? "-" : t.addresses.joined(separator: "; "), 28)) \(t.notifyEmails.joined(separator: "; "))")
                }
            }
        }
    }

    struct Edit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a ticket type; options not given stay as they are.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Type name.") var name: String
        @Option(help: "New name.") var rename: String?
        @Option(help: "Technician (empty: none).") var technician: String?
        @Option(help: "Addresses told of a new ticket, separated by semicolons.") var notify: String?
        @Option(help: "Helpdesk addresses this type receives for, separated by semicolons (empty: none).") var address: String?
        func run() throws {
            try Admin.guarded {
                let store = try database.open()
                guard var t = try store.ticketTypeRecords().first(where: { $0.name.lowercased() == name.lowercased() }) else {
                    throw InvalidInput("name", "no ticket type \"\(name)\"")
                }
                if let rename { t.name = rename }
                if let technician { t.technician = technician.isEmpty ? nil : technician }
                if let notify { t.notifyEmails = splitList(notify) }
                if let address { t.addresses = splitList(address) }
                try store.updateTicketType(named: name, to: t)
                print("changed ticket type \"\(t.name)\"")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a ticket type that no rule or ticket uses.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Type name.") var name: String
        func run() throws {
            try Admin.guarded {
                try database.open().removeTicketType(named: name)
                print("removed ticket type \"\(name)\"")
            }
        }
    }
}

// MARK: users

struct UsersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users", abstract: "Technicians and end users, each with one or more addresses.",
        subcommands: [Add.self, List.self, Edit.self, Remove.self, Import.self, Bounces.self, ClearBounce.self])

    struct Bounces: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Addresses marked as bouncing (wt-notify writes to them no more).")
        @OptionGroup var database: DatabaseOption
        @Flag(help: "One JSON object per address, one per line.") var json = false
        func run() throws {
            try Admin.guarded {
                let list = try database.open().bouncingAddresses()
                if json {
                    jsonLines(list) { w, b in
                        w.field("address", b.address)
                        w.field("since", formatTime(b.firstAt))
                        w.field("last", formatTime(b.lastAt))
                        w.field("count", b.count)
                        w.key("ticket")
                        if let t = b.ticket { w.int(Int(t)) } else { w.null() }
                    }
                    return
                }
                if list.isEmpty { print("no address is marked as bouncing"); return }
                print("\(pad("address", 36)) \(pad("since", 21)) \(pad("bounces", 8)) ticket")
                for b in list {
                    print("\(pad(b.address, 36)) \(pad(formatTime(b.firstAt), 21)) \(pad(String(b.count), 8)) \(b.ticket.map { "#\($0)" } ?? "-")")
                }
            }
        }
    }

    struct ClearBounce: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "clear-bounce", abstract: "Take the bouncing mark off an address.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "The address.") var address: String
        func run() throws {
            try Admin.guarded {
                try database.open().clearBounce(address)
                print("\(address) is no longer marked as bouncing")
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Full name.") var name: String
        @Option(help: "technician or end_user.") var role = "end_user"
        @Option(help: "Addresses, separated by semicolons (jdoe@corp.example;jdoe@home.example).") var emails: String
        func run() throws {
            try Admin.guarded {
                guard let r = Role(loose: role) else { throw InvalidInput("role", "\"\(role)\" is not technician or end_user") }
                try database.open().addUser(UserRecord(name: name, role: r, emails: splitList(emails)))
                print("added user \"\(name)\"")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var database: DatabaseOption
        @Flag(help: "One JSON object per user, one per line.") var json = false
        func run() throws {
            try Admin.guarded {
                let store = try database.open()
                let users = try store.users()
                let bouncing = Set(try store.bouncingAddresses().map { $0.address.lowercased() })
                if json {
                    jsonLines(users) { w, u in
                        w.field("name", u.name)
                        w.field("role", u.role.rawValue)
                        w.key("emails")
                        w.arrayValue { w in for e in u.emails { w.string(e) } }
                        w.key("bouncing")
                        w.arrayValue { w in for e in u.emails where bouncing.contains(e.lowercased()) { w.string(e) } }
                    }
                    return
                }
                print("\(pad("name", 24)) \(pad("role", 10)) emails")
                for u in users {
                    let emails = u.emails.map { bouncing.contains($0.lowercased()) ? "\($0) (bouncing)" : $0 }
                    print("\(pad(u.name, 24)) \(pad(u.role.rawValue, 10)) \(emails.joined(separator: "; "))")
                }
            }
        }
    }

    struct Edit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a user; options not given stay as they are.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Full name.") var name: String
        @Option(help: "New name.") var rename: String?
        @Option(help: "technician or end_user.") var role: String?
        @Option(help: "Addresses, separated by semicolons.") var emails: String?
        func run() throws {
            try Admin.guarded {
                let store = try database.open()
                guard var u = try store.users().first(where: { $0.name.lowercased() == name.lowercased() }) else {
                    throw InvalidInput("name", "no user \"\(name)\"")
                }
                if let rename { u.name = rename }
                if let role {
                    guard let r = Role(loose: role) else { throw InvalidInput("role", "\"\(role)\" is not technician or end_user") }
                    u.role = r
                }
                if let emails { u.emails = splitList(emails) }
                try store.updateUser(named: name, to: u)
                print("changed user \"\(u.name)\"")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a user that no ticket or ticket type names.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Full name.") var name: String
        func run() throws {
            try Admin.guarded {
                try database.open().removeUser(named: name)
                print("removed user \"\(name)\"")
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add or update users from a CSV file, all or nothing.",
            discussion: "The first row names the columns: name (or first_name and last_name), email (or emails: several separated by semicolons), and optionally role (technician or end_user; default end_user).")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "CSV file, or - for standard input.") var file: String
        @Flag(help: "Check the file and say what would change, without changing anything.") var dryRun = false

        func run() throws {
            try Admin.guarded {
                let rows = parseCSV(try readTextFile(file))
                guard let header = rows.first else { throw InvalidInput("file", "\(file) is empty") }
                let cols = header.map { $0.trimmingCharactersWS.lowercased().replacingOccurrencesOfSpace() }
                func col(_ names: String...) -> Int? { names.lazy.compactMap { cols.firstIndex(of: $0) }.first }
                let nameCol = col("name", "full_name", "display_name")
                let firstCol = col("first_name", "firstname", "first"), lastCol = col("last_name", "lastname", "last")
                guard let emailCol = col("email", "emails", "email_address", "e-mail") else {
                    throw InvalidInput("file", "no email column in the first row (found: \(header.joined(separator: ", ")))")
                }
                guard nameCol != nil || firstCol != nil else { throw InvalidInput("file", "no name (or first_name) column in the first row") }
                let roleCol = col("role", "type")
                var users: [UserRecord] = []
                for (i, row) in rows.dropFirst().enumerated() {
                    func cell(_ c: Int?) -> String { c.flatMap { $0 < row.count ? row[$0].trimmingCharactersWS : nil } ?? "" }
                    let name = nameCol.map { cell($0) } ?? [cell(firstCol), cell(lastCol)].filter { !$0.isEmpty }.joined(separator: " ")
                    var role = Role.endUser
                    if roleCol != nil, !cell(roleCol).isEmpty {
                        guard let r = Role(loose: cell(roleCol)) else { throw InvalidInput("role", "line \(i + 2): \"\(cell(roleCol))\" is not technician or end_user") }
                        role = r
                    }
                    if name.isEmpty { throw InvalidInput("name", "line \(i + 2) has no name") }
                    users.append(UserRecord(name: name, role: role, emails: splitList(cell(emailCol))))
                }
                let store = try database.open()
                if dryRun {
                    let existing = Set(try store.users().map { $0.name.lowercased() })
                    let updates = users.filter { existing.contains($0.name.lowercased()) }.count
                    print("would add \(users.count - updates) and update \(updates) users (nothing changed)")
                    return
                }
                let (added, updated) = try store.importUsers(users)
                print("added \(added) and updated \(updated) users")
            }
        }
    }
}

extension String {
    func replacingOccurrencesOfSpace() -> String { String(map { $0 == " " ? "_" : $0 }) }
}

// MARK: settings

struct SettingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings", abstract: "The e-mail settings of Web Tracks, and wt's own.",
        subcommands: [List.self, Get.self, Set.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every setting with its value (passwords hidden).")
        @OptionGroup var database: DatabaseOption
        @Flag(help: "One JSON object per setting, one per line.") var json = false
        func run() throws {
            try Admin.guarded {
                let list = try database.open().settingsList()
                func shown(_ k: String, _ v: String) -> String {
                    if case .secret = SettingsSchema.entry(k)?.kind { return v.isEmpty ? "" : "(set)" }
                    return v
                }
                if json {
                    jsonLines(list) { w, kv in
                        w.field("key", kv.0)
                        w.field("value", shown(kv.0, kv.1))
                        w.field("help", SettingsSchema.entry(kv.0)?.help)
                    }
                    return
                }
                for (k, v) in list { print("\(pad(k, 28)) \(shown(k, v).replacingNewlines)    # \(SettingsSchema.entry(k)?.help ?? "")") }
            }
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one setting's value.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Setting name.") var key: String
        func run() throws {
            try Admin.guarded {
                guard let v = try database.open().settingsList().first(where: { $0.0 == key })?.1 else {
                    throw InvalidInput(key, "no such setting (see: wt-admin settings list)")
                }
                print(v)
            }
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change one setting; the value is checked first.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Setting name.") var key: String
        @Argument(help: "New value; for a password, - reads it from standard input (so that it is not in the process list).")
        var value: String
        func run() throws {
            try Admin.guarded {
                var value = self.value
                if case .secret = SettingsSchema.entry(key)?.kind, value == "-" {
                    value = String(try readTextFile("-").prefix { $0 != "\n" && $0 != "\r" })
                }
                let v = try database.open().setSetting(key, value)
                if case .secret = SettingsSchema.entry(key)?.kind { print("\(key) set") } else { print("\(key) = \(v)") }
            }
        }
    }
}

extension String {
    var replacingNewlines: String { String(map { $0 == "\n" ? "⏎" : $0 }) }
}

// MARK: config

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "The whole configuration as one file, for version control.",
        subcommands: [Export.self, Apply.self])

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write rules, ticket types, users and settings as one file.")
        @OptionGroup var database: DatabaseOption
        @Option(name: [.short, .long], help: "File to write (default: standard output).") var output: String?
        @Flag(help: "Include the passwords stored in the database (left out by default; applying a file without them keeps them).")
        var withSecrets = false
        func run() throws {
            try Admin.guarded {
                let text = ConfigFile.render(try database.open().exportConfiguration(withSecrets: withSecrets))
                if let output {
                    try writeFile(output, Array(text.utf8), mode: 0o600, replace: true)
                } else {
                    writeOut(Array(text.utf8))
                }
            }
        }
    }

    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make the database match a configuration file: checked first, then all or nothing.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Configuration file, or - for standard input.") var file: String
        @Flag(help: "Check the file and the rules in it, change nothing.") var check = false

        func run() throws {
            try Admin.guarded {
                let config: FullConfiguration
                do { config = try ConfigFile.parse(try readTextFile(file)) } catch let e as ConfigFile.ParseError {
                    throw ConfigFile.ParseError(line: e.line, message: e.message, file: file)
                }
                let store = try database.open()
                let progress = Progress()
                if progress.enabled { writeErr("checking \(config.rules.count) rules, \(config.ticketTypes.count) types, \(config.users.count) users...\r") }
                if check {
                    // Apply inside a transaction that is rolled back: every check the real apply makes.
                    let s = try store.dryRun { try store.applyConfiguration(config) }
                    progress.done()
                    print("\(file) is valid: would change \(s.settingsChanged) settings, add \(s.usersAdded) and update \(s.usersUpdated) users, add \(s.typesAdded), update \(s.typesUpdated) and remove \(s.typesRemoved) ticket types, and replace \(s.rulesBefore) rules by \(s.rulesAfter) (nothing changed)")
                    return
                }
                let s = try store.applyConfiguration(config)
                progress.done()
                print("applied \(file): \(s.settingsChanged) settings changed; users \(s.usersAdded) added, \(s.usersUpdated) updated, \(s.usersKept) kept; ticket types \(s.typesAdded) added, \(s.typesUpdated) updated, \(s.typesRemoved) removed; \(s.rulesAfter) rules (were \(s.rulesBefore))")
            }
        }
    }
}

/// Writes a whole file and syncs it. Without `replace`, an existing file is an error.
func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t, replace: Bool) throws {
    let fd = open(path, O_WRONLY | O_CREAT | (replace ? O_TRUNC : O_EXCL), mode)
    if fd < 0 {
        throw AdminError(errno == EEXIST ? "\(path) exists (use --force to replace it)" : "cannot write \(path): \(String(cString: strerror(errno)))")
    }
    defer { close(fd) }
    guard writeAll(fd, bytes), fsync(fd) == 0 else { throw AdminError("cannot write \(path): \(String(cString: strerror(errno)))") }
}

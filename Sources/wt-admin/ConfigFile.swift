import TicketStore

/// The configuration as one human-editable text file, kept in version control:
///
///     [settings]
///     from_email = servicedesk@example.com
///
///     [user "Jane Doe"]
///     role = technician
///     emails = jdoe@example.com; jane@home.example
///
///     [type "Network"]
///     technician = Jane Doe
///     notify = netops@example.com
///
///     [rule "Internet Problem"]
///     text = Internet
///     type = Network
///     priority = High
///     order = 2
///     enabled = true
///
/// Lines starting with "#" or ";" are comments. A value with spaces at its ends, a line
/// break or a leading quote is written in double quotes with \" \\ \n escapes.
enum ConfigFile {
    struct ParseError: Error, CustomStringConvertible {
        var line: Int
        var message: String
        var file: String? = nil
        var description: String { "\(file ?? "line"):\(file == nil ? " " : "")\(line): \(message)" }
    }

    static func render(_ c: FullConfiguration) -> String {
        var s = "# wt configuration. Edit, then: wt-admin config apply FILE (checked first, then all or nothing).\n"
        s += "# Users are added or updated by name, never removed; ticket types and rules not listed here are removed;\n"
        s += "# settings not listed here return to their defaults.\n\n[settings]\n"
        for (k, v) in c.settings { s += "\(k) = \(quote(v))\n" }
        for u in c.users {
            s += "\n[user \(quote(u.name, always: true))]\nrole = \(u.role.rawValue)\nemails = \(quote(u.emails.joined(separator: "; ")))\n"
        }
        for t in c.ticketTypes {
            s += "\n[type \(quote(t.name, always: true))]\n"
            if let tech = t.technician { s += "technician = \(quote(tech))\n" }
            if !t.notifyEmails.isEmpty { s += "notify = \(quote(t.notifyEmails.joined(separator: "; ")))\n" }
            if !t.addresses.isEmpty { s += "addresses = \(quote(t.addresses.joined(separator: "; ")))\n" }
        }
        for r in c.rules {
            s += "\n[rule \(quote(r.name, always: true))]\ntext = \(quote(r.textToMatch))\ntype = \(quote(r.ticketType))\n"
            s += "priority = \(quote(r.priority))\norder = \(r.order)\nenabled = \(r.enabled)\n"
        }
        return s
    }

    static func quote(_ v: String, always: Bool = false) -> String {
        let needs = always || v.first?.isWhitespace == true || v.last?.isWhitespace == true || v.contains("\n") || v.contains("\r")
            || v.hasPrefix("\"")
        guard needs else { return v }
        var out = "\""
        for ch in v {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r\n": out += "\\r\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.append(ch)
            }
        }
        return out + "\""
    }

    /// A quoted string at the start of `s` (after its opening quote), and what follows it.
    static func unquote(_ s: Substring, line: Int) throws -> (String, Substring) {
        var out = ""
        var i = s.startIndex
        while i < s.endIndex {
            let ch = s[i]
            if ch == "\"" { return (out, s[s.index(after: i)...]) }
            if ch == "\\" {
                i = s.index(after: i)
                guard i < s.endIndex else { break }
                switch s[i] {
                case "n": out += "\n"
                case "r": out += "\r"
                case "t": out += "\t"
                case "\"", "\\": out.append(s[i])
                default: throw ParseError(line: line, message: "unknown escape \\\(s[i])")
                }
            } else {
                out.append(ch)
            }
            i = s.index(after: i)
        }
        throw ParseError(line: line, message: "a quoted value is not closed")
    }

    static func value(_ raw: Substring, line: Int) throws -> String {
        let t = raw.drop { $0 == " " || $0 == "\t" }
        if t.first == "\"" {
            let (v, rest) = try unquote(t.dropFirst(), line: line)
            if !rest.allSatisfy(\.isWhitespace) { throw ParseError(line: line, message: "text after the closing quote") }
            return v
        }
        return String(t).trimmingCharactersWS
    }

    static func parse(_ text: String) throws -> FullConfiguration {
        var config = FullConfiguration(settings: [], users: [], ticketTypes: [], rules: [])
        enum Section { case none, settings, user(Int), type(Int), rule(Int) }
        var section = Section.none
        var seenKeys = Set<String>()
        var sectionLine = 0
        var required: [String] = []

        func finish() throws {
            for k in required where !seenKeys.contains(k) { throw ParseError(line: sectionLine, message: "this section needs \"\(k)\"") }
        }

        for (n, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNo = n + 1
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            if trimmed.hasPrefix("[") {
                try finish()
                seenKeys = []
                sectionLine = lineNo
                guard let close = trimmed.lastIndex(of: "]"), trimmed[trimmed.index(after: close)...].allSatisfy(\.isWhitespace) else {
                    throw ParseError(line: lineNo, message: "a section header ends with \"]\"")
                }
                let inner = trimmed[trimmed.index(after: trimmed.startIndex)..<close]
                let kind = inner.prefix { $0 != " " && $0 != "\t" }
                var rest = inner.dropFirst(kind.count).drop { $0 == " " || $0 == "\t" }
                var name = ""
                if rest.first == "\"" {
                    let (v, after) = try unquote(rest.dropFirst(), line: lineNo)
                    name = v
                    rest = after
                } else {
                    name = String(rest)
                }
                switch kind {
                case "settings":
                    section = .settings
                    required = []
                case "user", "type", "rule":
                    if name.trimmingCharactersWS.isEmpty { throw ParseError(line: lineNo, message: "[\(kind) \"NAME\"] needs a name") }
                    if kind == "user" {
                        config.users.append(UserRecord(name: name, role: .endUser, emails: []))
                        section = .user(config.users.count - 1)
                        required = ["role"]
                    } else if kind == "type" {
                        config.ticketTypes.append(TicketTypeRecord(name: name, technician: nil, notifyEmails: []))
                        section = .type(config.ticketTypes.count - 1)
                        required = []
                    } else {
                        config.rules.append(RuleRecord(name: name, textToMatch: "", ticketType: "", priority: "", order: 0, enabled: true))
                        section = .rule(config.rules.count - 1)
                        required = ["text", "type", "priority", "order"]
                    }
                default:
                    throw ParseError(line: lineNo, message: "unknown section \"\(kind)\" (known: settings, user, type, rule)")
                }
                continue
            }
            guard let eq = trimmed.firstIndex(of: "=") else {
                throw ParseError(line: lineNo, message: "expected \"key = value\"")
            }
            let key = String(trimmed[..<eq]).trimmingCharactersWS
            let v = try value(trimmed[trimmed.index(after: eq)...], line: lineNo)
            if !seenKeys.insert(key).inserted { throw ParseError(line: lineNo, message: "\"\(key)\" is given twice in this section") }
            switch section {
            case .none:
                throw ParseError(line: lineNo, message: "\"\(key)\" is outside any section")
            case .settings:
                config.settings.append((key, v))
            case .user(let i):
                switch key {
                case "role":
                    guard let r = Role(loose: v) else { throw ParseError(line: lineNo, message: "role: \"\(v)\" is not technician or end_user") }
                    config.users[i].role = r
                case "emails", "email": config.users[i].emails = splitList(v)
                default: throw ParseError(line: lineNo, message: "unknown user key \"\(key)\" (known: role, emails)")
                }
            case .type(let i):
                switch key {
                case "technician": config.ticketTypes[i].technician = v.isEmpty ? nil : v
                case "notify": config.ticketTypes[i].notifyEmails = splitList(v)
                case "addresses", "address": config.ticketTypes[i].addresses = splitList(v)
                default: throw ParseError(line: lineNo, message: "unknown type key \"\(key)\" (known: technician, notify, addresses)")
                }
            case .rule(let i):
                switch key {
                case "text": config.rules[i].textToMatch = v
                case "type": config.rules[i].ticketType = v
                case "priority": config.rules[i].priority = v
                case "order":
                    guard let o = Int(v) else { throw ParseError(line: lineNo, message: "order: \"\(v)\" is not a whole number") }
                    config.rules[i].order = o
                case "enabled":
                    switch v.lowercased() {
                    case "true", "yes", "1", "on": config.rules[i].enabled = true
                    case "false", "no", "0", "off": config.rules[i].enabled = false
                    default: throw ParseError(line: lineNo, message: "enabled: \"\(v)\" is not true or false")
                    }
                default: throw ParseError(line: lineNo, message: "unknown rule key \"\(key)\" (known: text, type, priority, order, enabled)")
                }
            }
        }
        try finish()
        return config
    }
}

extension String {
    var trimmingCharactersWS: String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return String(s)
    }
}

/// RFC 4180 CSV: quoted fields with "" escapes, commas or semicolons as separators.
func parseCSV(_ text: String) -> [[String]] {
    let sep: Character = text.prefix { $0 != "\n" }.contains(";") && !text.prefix { $0 != "\n" }.contains(",") ? ";" : ","
    var rows: [[String]] = []
    var row: [String] = []
    var field = ""
    var inQuotes = false
    var it = Array(text).makeIterator()
    var pending: Character? = nil
    func next() -> Character? {
        if let p = pending { pending = nil; return p }
        return it.next()
    }
    while let ch = next() {
        if inQuotes {
            if ch == "\"" {
                if let n = next() {
                    if n == "\"" { field.append("\"") } else { inQuotes = false; pending = n }
                } else { inQuotes = false }
            } else {
                field.append(ch)
            }
            continue
        }
        switch ch {
        case "\"": inQuotes = true
        case sep: row.append(field); field = ""
        case "\r\n", "\n":
            row.append(field); field = ""
            if !(row.count == 1 && row[0].isEmpty) { rows.append(row) }
            row = []
        case "\r": break
        default: field.append(ch)
        }
    }
    if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
    return rows
}

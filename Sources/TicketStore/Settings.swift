#if canImport(Glibc)
import Glibc
#endif

/// A bad value, naming the field it was given for. Nothing was changed.
public struct InvalidInput: Error, CustomStringConvertible, Sendable, Equatable {
    public var field: String
    public var message: String

    public init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

/// Every setting: the Web Tracks e-mail settings and ours, with what each accepts.
public enum SettingsSchema {
    public enum Kind: Sendable {
        case text, singleLine, address, host, port, flag, secret, url
        /// An address, or empty for none.
        case optionalAddress
        /// A host, host:port, or a pop3s:// or pop3:// URL of one.
        case mailHost
        /// The path of a file holding a secret (see `SecretFile`).
        case secretFile
        case choice([String])
        /// Semicolon-separated names from a fixed set, at most `max` of them.
        case fieldList(allowed: [String], max: Int)
        case list
        /// A whole number, 0 or more.
        case count
        case ticketType
        /// A ticket type, or empty for none.
        case optionalTicketType
        case priority
    }

    public struct Entry: Sendable {
        public var key: String
        public var kind: Kind
        public var help: String
    }

    /// The fields a notification can show (Web Tracks: "up to eight").
    public static let notificationFields = ["number", "subject", "status", "priority", "ticket_type", "technician",
                                            "requester", "body", "created", "updated", "attachments", "history", "update"]

    public static let entries: [Entry] = [
        Entry(key: "from_email", kind: .address, help: "address notifications are sent from"),
        Entry(key: "display_name", kind: .singleLine, help: "name shown with the From address"),
        Entry(key: "smtp_server", kind: .host, help: "SMTP server (empty: pipe to sendmail)"),
        Entry(key: "smtp_port", kind: .port, help: "SMTP port"),
        Entry(key: "smtp_requires_auth", kind: .flag, help: "the SMTP server requires authentication"),
        Entry(key: "smtp_user", kind: .singleLine, help: "SMTP user id"),
        Entry(key: "smtp_password", kind: .secret, help: "SMTP password"),
        Entry(key: "email_technician_on_create", kind: .flag, help: "e-mail the technician when a ticket is created"),
        Entry(key: "email_technician_on_update", kind: .flag, help: "e-mail the technician when a ticket is updated"),
        Entry(key: "email_end_user_on_create", kind: .flag, help: "e-mail the end user when a ticket is created"),
        Entry(key: "email_end_user_on_update", kind: .flag, help: "e-mail the end user when a ticket is updated"),
        Entry(key: "self_notify", kind: .flag, help: "also e-mail the person whose action caused the e-mail"),
        Entry(key: "html_email", kind: .flag, help: "send e-mail as HTML"),
        Entry(key: "email_subject", kind: .singleLine, help: "subject of notifications; the ticket number is appended"),
        Entry(key: "new_ticket_prebody", kind: .text, help: "text before the ticket fields of a new ticket"),
        Entry(key: "update_ticket_prebody", kind: .text, help: "text before the ticket fields of an updated ticket"),
        Entry(key: "email_fields", kind: .fieldList(allowed: notificationFields, max: 8), help: "fields sent in notifications, at most eight"),
        Entry(key: "linkback_position", kind: .choice(["Top", "Bottom", "Exclude"]), help: "where the link to the ticket goes"),
        Entry(key: "pop_host", kind: .mailHost, help: "POP3 server for fetch mode: host, host:port, pop3s://host or pop3://host"),
        Entry(key: "pop_user", kind: .singleLine, help: "POP3 user"),
        Entry(key: "pop_password", kind: .secret, help: "POP3 password"),
        Entry(key: "smtp_password_file", kind: .secretFile, help: "file holding the SMTP password (instead of smtp_password)"),
        Entry(key: "pop_password_file", kind: .secretFile, help: "file holding the POP3 password (instead of pop_password)"),
        Entry(key: "pop_security", kind: .choice(["tls", "starttls", "none"]),
              help: "POP3 encryption: tls (implicit, port 995), starttls (required, port 110), none (plain text)"),
        Entry(key: "pop_ca_file", kind: .text, help: "CA certificates to verify the POP3 server with (empty: the system's)"),
        Entry(key: "pop_address", kind: .optionalAddress, help: "the POP3 mailbox's address: the recipient of the mail fetched from it"),
        Entry(key: "root_url", kind: .url, help: "root URL of the helpdesk, for links back to tickets"),
        Entry(key: "default_ticket_type", kind: .ticketType, help: "ticket type when no rule matches"),
        Entry(key: "default_priority", kind: .priority, help: "priority when no rule matches"),
        Entry(key: "priorities", kind: .list, help: "the priorities a ticket can have, separated by semicolons"),
        Entry(key: "create_unknown_users", kind: .flag, help: "an unknown sender becomes a new end user"),
        Entry(key: "reopen_on_reply", kind: .flag, help: "a reply to a closed ticket reopens it (else it becomes a new ticket linked to it)"),
        Entry(key: "followup_from_anyone", kind: .flag, help: "anyone may update a ticket by mail (else only its requester, its technician and technicians)"),
        Entry(key: "trusted_authserv_id", kind: .singleLine, help: "authserv-id of the Authentication-Results our MTA writes; a reply failing DMARC there is not trusted as a follow-up"),
        Entry(key: "trust_spam_headers", kind: .flag, help: "believe the spam verdict headers of the MTA's filter (X-Spam-Flag, X-Spam-Status, X-Spamd-Result)"),
        Entry(key: "spam_ticket_type", kind: .optionalTicketType, help: "ticket type for mail marked as spam (empty: the usual type)"),
        Entry(key: "smtp_security", kind: .choice(["", "starttls", "tls", "none"]),
              help: "SMTP encryption: starttls (required), tls (implicit, port 465), none (plain text); empty: tls on port 465, else starttls"),
        Entry(key: "smtp_ca_file", kind: .text, help: "CA certificates to verify the SMTP server with (empty: the system's)"),
        Entry(key: "sendmail_path", kind: .singleLine, help: "sendmail to pipe notifications to when smtp_server is empty"),
        Entry(key: "max_mails_per_recipient_per_day", kind: .count, help: "automatic mails one address receives in 24 hours at most (0: no limit)"),
        Entry(key: "max_mails_per_ticket_per_hour", kind: .count, help: "automatic mails about one ticket in an hour at most (0: no limit)"),
    ]

    public static func entry(_ key: String) -> Entry? { entries.first { $0.key == key } }

    /// The value as stored (normalised), or an error naming the setting.
    public static func validate(_ key: String, _ raw: String, ticketTypes: [String], priorities: [String]) throws -> String {
        guard let e = entry(key) else {
            throw InvalidInput(key, "no such setting (see: wt-admin settings list)")
        }
        let v = raw.trimmingSpaces
        switch e.kind {
        case .text, .secret:
            return raw
        case .singleLine:
            if v.contains(where: { $0 == "\n" || $0 == "\r" }) { throw InvalidInput(key, "must be one line") }
            return v
        case .optionalAddress where v.isEmpty:
            return v
        case .address, .optionalAddress:
            guard isPlausibleAddress(v) else { throw InvalidInput(key, "\"\(v)\" is not an e-mail address") }
            return v
        case .mailHost:
            if v.isEmpty { return v }
            var rest = v.lowercased()
            for scheme in ["pop3s://", "pop3://"] where rest.hasPrefix(scheme) { rest = String(rest.dropFirst(scheme.count)) }
            if rest.hasSuffix("/") { rest = String(rest.dropLast()) }
            guard !rest.isEmpty, rest.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 46 || $0 == 58 || $0 == 91 || $0 == 93 })
            else { throw InvalidInput(key, "\"\(v)\" is not a host, host:port, pop3s://host or pop3://host") }
            return v
        case .host:
            if v.isEmpty { return v }
            guard v.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 46 || $0 == 58 || $0 == 91 || $0 == 93 })
            else { throw InvalidInput(key, "\"\(v)\" is not a host name or address") }
            return v
        case .secretFile:
            if v.isEmpty { return v }
            guard v.hasPrefix("/") else { throw InvalidInput(key, "\"\(v)\" is not an absolute path") }
            do { _ = try SecretFile.read(v) } catch let e as SecretFile.Refused { throw InvalidInput(key, e.message) }
            return v
        case .count:
            guard let n = Int(v), n >= 0, n <= 1_000_000 else { throw InvalidInput(key, "\"\(v)\" is not a whole number from 0 to 1000000") }
            return String(n)
        case .port:
            guard let n = Int(v), n >= 1, n <= 65535 else { throw InvalidInput(key, "\"\(v)\" is not a port number (1-65535)") }
            return String(n)
        case .flag:
            switch v.lowercased() {
            case "true", "yes", "on", "1": return "true"
            case "false", "no", "off", "0": return "false"
            default: throw InvalidInput(key, "\"\(v)\" is not true or false")
            }
        case .url:
            if v.isEmpty { return v }
            guard v.lowercased().hasPrefix("http://") || v.lowercased().hasPrefix("https://"), !v.contains(" ") else {
                throw InvalidInput(key, "\"\(v)\" is not an http:// or https:// URL")
            }
            return v
        case .choice(let options):
            guard let o = options.first(where: { $0.lowercased() == v.lowercased() }) else {
                throw InvalidInput(key, "\"\(v)\" is not one of \(options.joined(separator: ", "))")
            }
            return o
        case .fieldList(let allowed, let max):
            let items = splitList(v)
            if items.count > max { throw InvalidInput(key, "\(items.count) fields given, at most \(max) are allowed") }
            for i in items where !allowed.contains(i.lowercased()) {
                throw InvalidInput(key, "unknown field \"\(i)\" (known: \(allowed.joined(separator: ", ")))")
            }
            var seen = Set<String>()
            for i in items where !seen.insert(i.lowercased()).inserted { throw InvalidInput(key, "\"\(i)\" is listed twice") }
            return items.map { $0.lowercased() }.joined(separator: ";")
        case .list:
            let items = splitList(v)
            if items.isEmpty { throw InvalidInput(key, "needs at least one value") }
            return items.joined(separator: ";")
        case .optionalTicketType:
            if v.isEmpty { return v }
            guard let t = ticketTypes.first(where: { $0.lowercased() == v.lowercased() }) else {
                throw InvalidInput(key, "no ticket type \"\(v)\" (known: \(ticketTypes.joined(separator: ", ")))")
            }
            return t
        case .ticketType:
            guard let t = ticketTypes.first(where: { $0.lowercased() == v.lowercased() }) else {
                throw InvalidInput(key, "no ticket type \"\(v)\" (known: \(ticketTypes.joined(separator: ", ")))")
            }
            return t
        case .priority:
            guard let p = priorities.first(where: { $0.lowercased() == v.lowercased() }) else {
                throw InvalidInput(key, "\"\(v)\" is not a priority (known: \(priorities.joined(separator: ", ")))")
            }
            return p
        }
    }
}

/// "a; b;;c" -> ["a", "b", "c"]
public func splitList(_ s: String) -> [String] {
    s.split(separator: ";").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
}

/// One "@", something on both sides, no white space or brackets.
public func isPlausibleAddress(_ s: String) -> Bool {
    let parts = s.split(separator: "@", omittingEmptySubsequences: false)
    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return false }
    return !s.contains { $0.isWhitespace || $0 == "<" || $0 == ">" || $0 == "," || $0 == ";" }
}

/// A secret kept in a file rather than in the database, so that a copy of the database (a
/// backup, an export) carries no password.
public enum SecretFile {
    public struct Refused: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { message }
    }

    public static let maxSize = 4096

    /// The first line of `path`, which must be a regular file that other users can neither
    /// read nor write (the group may read it), of at most 4 KiB.
    public static func read(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 { throw Refused(message: "cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw Refused(message: "\(path) is not a regular file") }
        if st.st_mode & 0o007 != 0 || st.st_mode & 0o020 != 0 {
            throw Refused(message: "\(path) is readable or writable by other users (mode \(String(st.st_mode & 0o777, radix: 8))): chmod 600 or 640 it")
        }
        guard st.st_size <= maxSize else { throw Refused(message: "\(path) is larger than \(maxSize) bytes") }
        var bytes = [UInt8](repeating: 0, count: maxSize + 1)
        var n = 0
        while n < bytes.count {
            let r = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + n, $0.count - n) }
            if r < 0 { if errno == EINTR { continue }; throw Refused(message: "cannot read \(path): \(String(cString: strerror(errno)))") }
            if r == 0 { break }
            n += r
        }
        let text = bytes[0..<n].prefix { $0 != 10 && $0 != 13 }
        guard let s = String(validating: text, as: UTF8.self) else { throw Refused(message: "\(path) is not UTF-8 text") }
        return s
    }
}

extension Configuration {
    /// A password setting: from the file its `_file` setting names, else as stored.
    public func secret(_ key: String) throws -> String {
        if let file = settings[key + "_file"], !file.isEmpty { return try SecretFile.read(file) }
        return settings[key] ?? ""
    }
}

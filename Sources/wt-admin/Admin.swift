// wt-admin: set up and inspect the ticket database. People and scripts use it (every
// listing has --json); the MTA never does, so it uses ordinary exit statuses.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CLIKit
import MailMessage
import PostgresStore
import TicketStore

let defaultDatabasePath = "/var/lib/wt/wt.db"

struct DatabaseOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The ticket database (default: $WT_DB, else \(defaultDatabasePath)).",
        discussion: "A SQLite file, or a PostgreSQL database as a libpq URI (postgresql://user@host/db); its password goes in ~/.pgpass, PGPASSFILE or a service file, never on the command line."))
    var db: String?

    var path: String {
        if let db { return db }
        if let env = getenv("WT_DB"), env.pointee != 0 { return String(cString: env) }
        return defaultDatabasePath
    }

    /// The database as it may be shown: no password.
    var shown: String { redactPassword(in: path) }

    /// Opens an existing database; a missing file is an error here (only init creates one).
    func open() throws -> SQLStore {
        if isPostgresURL(path) {
            try checkNoPasswordInArguments()
            return try PostgresStore(url: path, options: .init(applicationName: "wt-admin"))
        }
        if access(path, F_OK) != 0 {
            throw AdminError("no database at \(path) (create it with: wt-admin init --db \(path))")
        }
        return try SQLiteStore(path: path, options: .init(busyTimeoutMilliseconds: 10_000, create: false))
    }

    /// Every user can read a command line (ps): a password there is refused.
    func checkNoPasswordInArguments() throws {
        if let db, redactPassword(in: db) != db {
            throw AdminError("a password in --db is visible to every user of this machine: put it in ~/.pgpass, PGPASSFILE or a service file (or name the database in WT_DB)")
        }
    }
}

struct AdminError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

@main
struct Admin: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wt-admin",
        abstract: "Set up and inspect the wt ticket database.",
        subcommands: [Init.self, Tickets.self, TicketCommand.self, AttachmentCommand.self, RulesCommand.self, TypesCommand.self,
                      UsersCommand.self, SettingsCommand.self, ConfigCommand.self, OutboxCommand.self, POPCommand.self])

    /// Runs a subcommand body, turning errors into a clear message and status 1.
    static func guarded(_ body: () throws -> Void) throws {
        do { try body() } catch let e as InvalidInput {
            writeErr("wt-admin: \(e)\nnothing was changed\n")
            throw ExitCode(65)
        } catch let e as ConfigFile.ParseError {
            writeErr("wt-admin: \(e)\nnothing was changed\n")
            throw ExitCode(65)
        } catch let e as AdminError {
            writeErr("wt-admin: \(e)\n")
            throw ExitCode(1)
        } catch let e as StoreError {
            writeErr("wt-admin: \(e)\n")
            throw ExitCode(1)
        }
    }
}

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create the database (or bring its schema up to date).")
    @OptionGroup var database: DatabaseOption
    @Flag(help: "Print the result as one JSON object.") var json = false

    func run() throws {
        try Admin.guarded {
            if isPostgresURL(database.path) {
                try database.checkNoPasswordInArguments()
                let store = try PostgresStore(url: database.path, options: .init(migrate: true, applicationName: "wt-admin"))
                let before = store.schemaBefore
                if json {
                    var w = JSONWriter()
                    w.beginObject()
                    w.field("database", store.name)
                    w.field("schema", PostgresStore.schemaVersion)
                    w.field("created", before == 0)
                    w.endObject()
                    writeOut(w.out + [10])
                    return
                }
                let v = PostgresStore.schemaVersion
                print(before == v ? "\(store.name): schema \(v), up to date"
                                  : before == 0 ? "\(store.name): created (schema \(v))" : "\(store.name): migrated from schema \(before) to \(v)")
                return
            }
            let existed = access(database.path, F_OK) == 0
            let store = try SQLiteStore(path: database.path)
            let narrowed = store.restrictFileModes()
            if json {
                var w = JSONWriter()
                w.beginObject()
                w.field("path", store.path)
                w.field("schema", SQLiteStore.schemaVersion)
                w.field("created", !existed)
                w.endObject()
                writeOut(w.out + [10])
                return
            }
            print(existed ? "\(store.path): schema \(SQLiteStore.schemaVersion), up to date" : "\(store.path): created (schema \(SQLiteStore.schemaVersion))")
            for f in narrowed { print("\(f): no longer readable by other users") }
        }
    }
}

func formatTime(_ t: Int64) -> String {
    var tt = time_t(t)
    var tmv = tm()
    gmtime_r(&tt, &tmv)
    var buf = [CChar](repeating: 0, count: 32)
    strftime(&buf, buf.count, "%Y-%m-%d %H:%M:%SZ", &tmv)
    return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func pad(_ s: String, _ n: Int) -> String {
    let c = s.count
    if c >= n { return String(s.prefix(n)) }
    return s + String(repeating: " ", count: n - c)
}

struct Tickets: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List tickets.", subcommands: [List.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tickets, newest first.")
        @OptionGroup var database: DatabaseOption
        @Option(help: "At most this many tickets.") var limit = 50
        @Option(help: "Skip this many of the newest first.") var offset = 0
        @Flag(help: "One JSON object per ticket, one per line.") var json = false

        func run() throws {
            try Admin.guarded {
                let rows = try database.open().tickets(limit: limit, offset: offset)
                if json { jsonLines(rows, ticketFields); return }
                if rows.isEmpty { print("no tickets"); return }
                print("\(pad("#", 6)) \(pad("created", 20)) \(pad("status", 8)) \(pad("priority", 8)) \(pad("type", 12)) \(pad("requester", 20)) subject")
                for t in rows {
                    print("\(pad(String(t.number), 6)) \(pad(formatTime(t.createdAt), 20)) \(pad(t.status, 8)) \(pad(t.priority, 8)) \(pad(t.ticketType ?? "-", 12)) \(pad(t.requester ?? "-", 20)) \(t.flagged ? "[!] " : "")\(t.subject)")
                }
            }
        }
    }
}

func ticketFields(_ w: inout JSONWriter, _ t: TicketSummary) {
    w.field("number", Int(t.number))
    w.field("subject", t.subject)
    w.field("status", t.status)
    w.field("priority", t.priority)
    w.field("ticket_type", t.ticketType)
    w.field("requester", t.requester)
    w.field("technician", t.technician)
    w.field("flagged", t.flagged)
    w.field("created_at", formatTime(t.createdAt))
    w.field("updated_at", formatTime(t.updatedAt))
}

struct TicketCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ticket", abstract: "Show, answer and update one ticket.",
                                                    subcommands: [Show.self, Raw.self, Reply.self, Update.self])

    struct Reply: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A technician's answer, queued for the requester.",
            discussion: "The text is -m TEXT, else standard input. It is kept in the ticket's history and sent to the requester by wt-notify.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Ticket number.") var number: Int64
        @Option(name: .customLong("as"), help: "Who answers: a technician (default: the ticket's technician).") var user: String?
        @Option(name: [.customShort("m"), .long], help: "The answer (default: read from standard input).") var message: String?

        func run() throws {
            try Admin.guarded {
                let text = try message ?? readTextFile("-")
                let event = try database.open().replyToTicket(number, as: user, text: text)
                print("ticket \(number): answer queued for the requester (event \(event))")
            }
        }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a ticket's status, priority, type or technician, or add a note.",
            discussion: "Each change is kept in the ticket's history and queues a \"ticket updated\" notification. Statuses: \(TicketStatus.all.joined(separator: ", ")). Every value is checked first; on any error nothing changes.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Ticket number.") var number: Int64
        @Option(help: "New status.") var status: String?
        @Option(help: "New priority.") var priority: String?
        @Option(help: "New ticket type (its technician follows, unless --technician says otherwise).") var type: String?
        @Option(help: "New technician (none: no technician).") var technician: String?
        @Option(help: "A note for the history.") var note: String?
        @Option(name: .customLong("as"), help: "Who makes the change (a user).") var user: String?

        func run() throws {
            try Admin.guarded {
                let changes = TicketChanges(status: status, priority: priority, ticketType: type, technician: technician, note: note)
                if status == nil && priority == nil && type == nil && technician == nil && note == nil {
                    throw InvalidInput("update", "nothing to change: give --status, --priority, --type, --technician or --note")
                }
                let done = try database.open().updateTicket(number, changes, as: user)
                if done.isEmpty { print("ticket \(number): nothing changed"); return }
                for d in done { print("ticket \(number): \(d)") }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A ticket with its history and attachments.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Ticket number.") var number: Int64
        @Flag(help: "Print one JSON object.") var json = false

        func run() throws {
            try Admin.guarded {
                guard let t = try database.open().ticket(number: number) else { throw AdminError("no ticket \(number)") }
                if json {
                    var w = JSONWriter()
                    w.beginObject()
                    ticketFields(&w, t.summary)
                    w.field("requester_address", t.requesterAddress)
                    w.field("recipient", t.recipient)
                    w.key("links_to")
                    if let l = t.linkedTicket { w.int(Int(l)) } else { w.null() }
                    w.field("body", t.body)
                    w.key("events")
                    w.arrayValue { w in
                        for e in t.events {
                            w.objectValue { w in
                                w.field("id", Int(e.id))
                                w.field("kind", e.kind)
                                w.field("author", e.author)
                                w.field("message_id", e.messageID)
                                w.field("subject", e.subject)
                                w.field("detail", e.detail)
                                w.field("source", e.source)
                                w.field("text", String(e.newText))
                                w.field("quoted", e.quotedAt == nil ? nil : String(e.quotedText))
                                w.field("automatic", e.automatic)
                                w.key("reasons")
                                w.arrayValue { w in for r in e.reasons { w.string(r) } }
                                w.key("raw_message_id")
                                if let r = e.rawMessageID { w.int(Int(r)) } else { w.null() }
                                w.field("created_at", formatTime(e.createdAt))
                            }
                        }
                    }
                    w.key("attachments")
                    w.arrayValue { w in
                        for a in t.attachments {
                            w.objectValue { w in
                                w.field("id", Int(a.id))
                                w.field("event_id", Int(a.eventID))
                                w.field("filename", a.filename)
                                w.field("content_type", a.contentType)
                                w.field("size", Int(a.size))
                                w.field("sha256", a.sha256)
                                w.field("inline", a.inline)
                            }
                        }
                    }
                    w.endObject()
                    writeOut(w.out + [10])
                    return
                }
                let s = t.summary
                print("Ticket #\(s.number): \(s.subject)\(s.flagged ? "   [flagged: see the history]" : "")")
                print("Status \(s.status), priority \(s.priority), type \(s.ticketType ?? "-"), technician \(s.technician ?? "-")")
                print("Requester \(s.requester ?? "-"), created \(formatTime(s.createdAt))\(t.recipient.map { ", to \($0)" } ?? "")")
                if let l = t.linkedTicket { print("Follows on from ticket #\(l)") }
                for e in t.events {
                    let how = e.source == "admin" ? "by hand" : "by mail"
                    let what: String
                    switch e.kind {
                    case "created": what = "Opened"
                    case "followup": what = "Follow-up"
                    case "reply": what = "Answer to the requester"
                    case "bounce": what = "Delivery failure report"
                    case "note": what = "Note"
                    case "update": what = "Change"
                    default: what = e.kind
                    }
                    print("")
                    print("── \(what), \(how)\(e.author.map { ", \($0)" } ?? ""), \(formatTime(e.createdAt))\(e.automatic ? " (automatic)" : "")")
                    for r in e.reasons { print("   why: \(r)") }
                    let text = e.kind == "created" ? Substring(t.body) : e.newText
                    if !text.isEmpty { print(text.trimmingTrailingNewlines) }
                    if e.quotedAt != nil {
                        let lines = e.quotedText.split(separator: "\n", omittingEmptySubsequences: false).count
                        print("   [quoted text: \(lines) lines]")
                    }
                    for a in t.attachments where a.eventID == e.id {
                        print("   attachment \(a.id): \(a.filename)  \(a.contentType), \(a.size) bytes\(a.inline ? ", inline" : "")")
                    }
                    for line in e.detail.split(separator: "\n") { print("   \(line)") }
                }
                if !t.attachments.isEmpty {
                    print("")
                    print("Save an attachment with: wt-admin attachment save ID")
                }
            }
        }
    }

    struct Raw: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the message a ticket was created from, as received.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Ticket number.") var number: Int64

        func run() throws {
            try Admin.guarded {
                let store = try database.open()
                guard let t = try store.ticket(number: number) else { throw AdminError("no ticket \(number)") }
                guard let id = t.events.first(where: { $0.rawMessageID != nil })?.rawMessageID,
                      let bytes = try store.rawMessage(id: id) else { throw AdminError("ticket \(number) has no stored message") }
                writeOut(bytes)
            }
        }
    }
}

struct AttachmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "attachment", abstract: "Attachments.", subcommands: [Save.self])

    struct Save: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write an attachment to a file (its stored name, or --output).")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Attachment id (see: wt-admin ticket show N).") var id: Int64
        @Option(name: [.short, .long], help: "File to write, or - for standard output (default: the attachment's name, in the current folder).")
        var output: String?
        @Flag(help: "Replace an existing file.") var force = false
        @Flag(help: "Print what was written as JSON.") var json = false

        func run() throws {
            try Admin.guarded {
                guard let (a, content) = try database.open().attachment(id: id) else { throw AdminError("no attachment \(id)") }
                let bytes: [UInt8]
                switch content {
                case .decoded(let b): bytes = b
                case .encoded(let b, let encoding): bytes = TransferEncoding(name: encoding).decode(b)
                }
                var hasher = SHA256()
                hasher.update(bytes)
                guard SHA256.hex(hasher.finalize()) == a.sha256 else {
                    throw AdminError("attachment \(id) does not match its SHA-256 \(a.sha256): the database is damaged")
                }
                if output == "-" { writeOut(bytes); return }
                // Named again through the sanitizer: rows stored by older versions may hold
                // names ("-", "‮txt.exe") it now refuses.
                let target = output ?? sanitizeFilename(a.filename)
                try writeFile(target, bytes, mode: 0o600, replace: force)
                if json {
                    var w = JSONWriter()
                    w.beginObject()
                    w.field("id", Int(a.id))
                    w.field("path", target)
                    w.field("size", bytes.count)
                    w.field("sha256", a.sha256)
                    w.endObject()
                    writeOut(w.out + [10])
                } else {
                    print("wrote \(target) (\(bytes.count) bytes)")
                }
            }
        }
    }
}

extension Substring {
    var trimmingTrailingNewlines: Substring {
        var s = self
        while s.last == "\n" || s.last == "\r" { s.removeLast() }
        return s
    }
}

struct OutboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox", abstract: "The mails wt-notify sends: queued, sent, held back, failed.",
        subcommands: [List.self, Show.self, Retry.self])

    static func json(_ w: inout JSONWriter, _ n: NotificationRow) {
        w.field("id", Int(n.id))
        w.field("ticket", Int(n.ticket))
        w.field("event", Int(n.event))
        w.field("kind", n.kind)
        w.field("to", n.address)
        w.field("role", n.role)
        w.field("state", n.state)
        w.field("reason", n.reason.isEmpty ? nil : n.reason)
        w.field("message_id", n.messageID)
        w.field("attempts", n.attempts)
        w.field("next_attempt_at", n.state == "queued" ? formatTime(n.nextAttemptAt) : nil)
        w.field("last_error", n.lastError)
        w.field("created_at", formatTime(n.createdAt))
        w.field("sent_at", n.sentAt.map(formatTime))
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Notifications, newest first.")
        @OptionGroup var database: DatabaseOption
        @Option(help: "Only those in this state: queued, sent, held, suppressed, failed.") var state: String?
        @Option(help: "At most this many.") var limit = 50
        @Flag(help: "One JSON object per notification, one per line.") var json = false
        func run() throws {
            try Admin.guarded {
                if let state, !["queued", "sent", "held", "suppressed", "failed"].contains(state) {
                    throw InvalidInput("state", "\"\(state)\" is not queued, sent, held, suppressed or failed")
                }
                let rows = try database.open().notifications(state: state, limit: limit)
                if json { jsonLines(rows, OutboxCommand.json); return }
                if rows.isEmpty { print("no notifications"); return }
                print("\(pad("id", 6)) \(pad("ticket", 7)) \(pad("kind", 15)) \(pad("state", 10)) \(pad("to", 32)) note")
                for n in rows {
                    let note = n.lastError ?? (n.reason.isEmpty ? (n.sentAt.map { "sent \(formatTime($0))" } ?? "") : n.reason)
                    print("\(pad(String(n.id), 6)) \(pad("#\(n.ticket)", 7)) \(pad(n.kind, 15)) \(pad(n.state, 10)) \(pad(n.address, 32)) \(note)")
                }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One notification.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Notification id.") var id: Int64
        @Flag(help: "Print one JSON object.") var json = false
        func run() throws {
            try Admin.guarded {
                guard let n = try database.open().notification(id: id) else { throw AdminError("no notification \(id)") }
                if json { jsonLines([n], OutboxCommand.json); return }
                print("Notification \(n.id): \(n.kind) for ticket #\(n.ticket) (event \(n.event)) to \(n.address) (\(n.role))")
                print("State \(n.state)\(n.reason.isEmpty ? "" : ": \(n.reason)"), \(n.attempts) attempts, Message-ID <\(n.messageID)>")
                if let e = n.lastError { print("Last error: \(e)") }
                if n.state == "queued" { print("Next attempt: \(formatTime(n.nextAttemptAt))") }
                if let s = n.sentAt { print("Sent: \(formatTime(s))") }
            }
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Queue a failed or held notification again.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Notification id.") var id: Int64
        func run() throws {
            try Admin.guarded {
                try database.open().retryNotification(id)
                print("notification \(id) queued again")
            }
        }
    }
}

struct POPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pop", abstract: "What POP3 fetch mode (wt-deliver --pop) could not deliver.",
        subcommands: [List.self])

    static func json(_ w: inout JSONWriter, _ r: POPRecord) {
        w.field("mailbox", r.mailbox)
        w.field("uidl", r.uidl)
        w.field("state", r.state.rawValue)
        w.field("attempts", r.attempts)
        w.field("last_error", r.lastError)
        w.field("first_seen_at", formatTime(r.firstSeenAt))
        w.field("updated_at", formatTime(r.updatedAt))
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Messages whose delivery failed; they stay on the server and are tried at every pass.")
        @OptionGroup var database: DatabaseOption
        @Option(help: "At most this many.") var limit = 50
        @Flag(help: "One JSON object per message, one per line.") var json = false
        func run() throws {
            try Admin.guarded {
                let rows = try database.open().popFailures(limit: limit)
                if json { jsonLines(rows, POPCommand.json); return }
                if rows.isEmpty { print("no failed POP3 messages"); return }
                print("\(pad("mailbox", 32)) \(pad("uidl", 24)) \(pad("attempts", 8)) \(pad("last try", 20)) last error")
                for r in rows {
                    print("\(pad(r.mailbox, 32)) \(pad(r.uidl, 24)) \(pad(String(r.attempts), 8)) \(pad(formatTime(r.updatedAt), 20)) \(r.lastError ?? "")")
                }
            }
        }
    }
}

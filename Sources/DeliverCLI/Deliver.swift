// wt-deliver: the delivery agent an MTA starts once per message, with the message on stdin.
// The command lives in this library so that two executables share it: the fully static
// wt-deliver (stdin into SQLite, the per-message path) and wt-deliver-net, which also links
// libcurl and libpq (POP3 fetch mode, a PostgreSQL store) and is exec'd by the first for those.
//
// The MTA trusts us with one thing, the exit status: 0 only when the message is stored, 75
// (EX_TEMPFAIL) for anything transient or unknown so that the MTA retries, and never a
// bounce because a message could not be parsed. Every error is caught here and mapped;
// only this file calls exit.
#if canImport(Glibc)
import Glibc
#endif
public import Delivery
public import Logging
import CLIKit
import MailMessage
public import TicketStore

public enum Exit {
    public static let ok: Int32 = 0
    public static let usage: Int32 = 64      // EX_USAGE
    public static let dataErr: Int32 = 65    // EX_DATAERR
    public static let noInput: Int32 = 66    // EX_NOINPUT
    public static let ioErr: Int32 = 74      // EX_IOERR
    public static let tempFail: Int32 = 75   // EX_TEMPFAIL
}

/// Where the database is when neither --db nor WT_DB says.
let defaultDatabasePath = "/var/lib/wt/wt.db"

/// The command line, parsed by hand: swift-argument-parser would cost every delivery about a
/// millisecond (and load FoundationEssentials), a third of a delivery's time.
public struct Deliver {
    public var db: String?
    public var sender: String?
    public var recipient: String?
    var deadline = 120
    public var verbose = false
    var explain = false
    var json = false
    var mbox: String?
    public var recipients: [String] = []
    // POP3 fetch mode.
    public var pop = false
    public var popHost: String?
    public var popSecurity: String?
    public var popUser: String?
    public var popPasswordFile: String?
    public var popCAFile: String?
    public var keep = false
    public var interval: Int?
    public var popTimeout = 30
    var deadlineGiven = false

    public static let usage = """
        Usage: wt-deliver [--db PATH] [-f SENDER] [--deadline SECONDS] [--verbose] [--] [RECIPIENT]
               wt-deliver --explain [--json] [--db PATH] [--mbox FILE] [-f SENDER] [--] [RECIPIENT]
               wt-deliver --pop [--db PATH] [--pop-host HOST] [--pop-user USER] [--keep]
                          [--interval SECONDS] [--recipient ADDR] [POP OPTIONS]

        Turn one e-mail message on standard input into a helpdesk ticket.

        Postfix (pipe) and procmail start wt-deliver once per message. The database is --db, \
        else $WT_DB, else \(defaultDatabasePath); it is created when missing. A postgresql:// \
        URL selects a shared PostgreSQL database instead (libpq's conventions: the password \
        comes from ~/.pgpass, $PGPASSFILE or a service file, never the command line).

        Options:
          --db PATH            the ticket database
          -f, --sender ADDR    envelope sender (Postfix ${sender}); empty for bounces (default: $SENDER)
          --recipient ADDR     envelope recipient (default: the argument after --, else
                               $ORIGINAL_RECIPIENT, else $RECIPIENT)
          --deadline SECONDS   give up with status 75 after this long (default 120, 1-3600;
                               not with --pop)
          --verbose            also write the log line to standard error
          --explain            print what the message is read as, and what delivery would do;
                               change nothing
          --json               with --explain: one JSON object (one per message with --mbox)
          --mbox FILE          with --explain: every message of an mbox file instead of stdin
          -h, --help           this text

        POP3 fetch mode (--pop), for sites that cannot pipe mail into a program: every message
        in the mailbox is delivered as above, and deleted from the server only once its ticket
        is committed. Defaults come from the settings pop_host, pop_user, pop_password or
        pop_password_file, pop_security, pop_ca_file and pop_address.
          --pop                fetch from a POP3 mailbox instead of reading standard input
          --pop-host HOST      host, host:port, pop3s://host[:port] or pop3://host[:port]
          --pop-security MODE  tls (default: implicit TLS, port 995), starttls (required, port
                               110), or none (plain text: only when asked for)
          --pop-user USER      the mailbox's user name
          --pop-password-file FILE
                               a file holding the password (not readable by others)
          --pop-ca-file FILE   trusted CA certificates (PEM) instead of the system's
          --pop-timeout SECONDS
                               give up on a server silent this long (default 30)
          --keep               leave mail on the server; what was taken is remembered by UIDL
          --interval SECONDS   fetch again every SECONDS until SIGTERM (default: one pass)
          --recipient ADDR     the mailbox's address, the recipient of what it holds
                               (default: pop_address, else the user name if it is an address)

        Exit status: 0 delivered (or delivered before: nothing is added twice); 75 temporary
        failure, the MTA keeps the message and retries; 65 empty input; 64 bad options. With
        --pop: 0 when the mailbox was emptied (or, with --keep, everything in it delivered),
        75 when something is left for the next pass, 78 when no POP3 server is configured.

        """

    public struct UsageError: Error { public let message: String }

    public static func parse(_ args: [String]) throws -> Deliver? {
        var d = Deliver()
        var i = 0
        func value(_ name: String) throws -> String {
            i += 1
            guard i < args.count else { throw UsageError(message: "\(name) needs a value") }
            return args[i]
        }
        while i < args.count {
            let a = args[i]
            // "--name=value" as well as "--name value".
            var name = a, inline: String? = nil
            if a.hasPrefix("--"), let eq = a.firstIndex(of: "=") {
                name = String(a[..<eq])
                inline = String(a[a.index(after: eq)...])
            }
            func take() throws -> String {
                if let inline { return inline }
                return try value(name)
            }
            switch name {
            case "--": d.recipients += args[(i + 1)...]; i = args.count; continue
            case "-h", "--help": return nil
            case "--db": d.db = try take()
            case "-f", "--sender": d.sender = try take()
            case "--recipient": d.recipient = try take()
            case "--deadline":
                let v = try take()
                guard let n = Int(v) else { throw UsageError(message: "--deadline: \"\(v)\" is not a whole number of seconds") }
                d.deadline = n
                d.deadlineGiven = true
            case "--mbox": d.mbox = try take()
            case "--verbose": d.verbose = true
            case "--explain": d.explain = true
            case "--json": d.json = true
            case "--pop": d.pop = true
            case "--pop-host": d.popHost = try take()
            case "--pop-security":
                let v = try take()
                guard ["tls", "starttls", "none"].contains(v) else {
                    throw UsageError(message: "--pop-security must be tls, starttls or none, not \"\(v)\"")
                }
                d.popSecurity = v
            case "--pop-user": d.popUser = try take()
            case "--pop-password-file": d.popPasswordFile = try take()
            case "--pop-ca-file": d.popCAFile = try take()
            case "--pop-timeout":
                let v = try take()
                guard let n = Int(v), n >= 1, n <= 600 else {
                    throw UsageError(message: "--pop-timeout: \"\(v)\" is not a whole number of seconds between 1 and 600")
                }
                d.popTimeout = n
            case "--keep": d.keep = true
            case "--interval":
                let v = try take()
                guard let n = Int(v), n >= 1, n <= 86_400 else {
                    throw UsageError(message: "--interval: \"\(v)\" is not a whole number of seconds between 1 and 86400")
                }
                d.interval = n
            default:
                if a.hasPrefix("-f"), a.count > 2, !a.hasPrefix("--") {
                    d.sender = String(a.dropFirst(2))  // "-fSENDER", as sendmail writes it
                } else if a.hasPrefix("-") && a != "-" {
                    throw UsageError(message: "unknown option '\(a)'")
                } else {
                    d.recipients.append(a)
                }
            }
            i += 1
        }
        if d.mbox != nil && !d.explain { throw UsageError(message: "--mbox needs --explain") }
        if d.pop && d.explain { throw UsageError(message: "--pop and --explain do not go together") }
        if !d.pop {
            for (set, name) in [(d.popHost != nil, "--pop-host"), (d.popSecurity != nil, "--pop-security"), (d.popUser != nil, "--pop-user"),
                                (d.popPasswordFile != nil, "--pop-password-file"), (d.popCAFile != nil, "--pop-ca-file"),
                                (d.keep, "--keep"), (d.interval != nil, "--interval")] where set {
                throw UsageError(message: "\(name) needs --pop")
            }
        } else if d.deadlineGiven {
            throw UsageError(message: "--deadline is for one message on standard input; with --pop, --pop-timeout bounds each wait for the server")
        } else if !d.recipients.isEmpty && d.recipient == nil {
            throw UsageError(message: "--pop takes no recipient argument: use --recipient for the mailbox's address")
        }
        if d.json && !d.explain { throw UsageError(message: "--json needs --explain") }
        if d.deadline < 1 || d.deadline > 3600 { throw UsageError(message: "--deadline must be between 1 and 3600 seconds") }
        return d
    }

    public var databasePath: String {
        if let db { return db }
        if let env = getenv("WT_DB"), env.pointee != 0 { return String(cString: env) }
        return defaultDatabasePath
    }

    /// Whether this needs what only wt-deliver-net links (libcurl, libpq).
    public var needsNetworkBuild: Bool { pop || isDatabaseURL(databasePath) }

    /// Opens the store `databasePath` names: a SQLite file, or a URL another build knows.
    public func openStore(busyTimeoutMilliseconds: Int32, readOnly: Bool = false) throws -> any TicketStore {
        if isDatabaseURL(databasePath) {
            // A command line is every user's to read (ps): the password goes elsewhere.
            if let db, redactPassword(in: db) != db { throw PasswordInArguments() }
            guard let open = Extensions.openURLStore else { throw StoreUnavailable(database: databasePath) }
            return try open(databasePath, readOnly, busyTimeoutMilliseconds)
        }
        return try SQLiteStore(path: databasePath, options: .init(busyTimeoutMilliseconds: busyTimeoutMilliseconds, readOnly: readOnly))
    }

    public func runMapped() -> Int32 {
        if pop {
            guard let fetch = Extensions.fetch else {
                writeErr("wt-deliver: this build has no POP3 fetch mode (it is in wt-deliver-net)\n")
                return Exit.tempFail
            }
            return fetch(self)
        }
        do {
            if explain {
                if let mbox { return try explainMbox(mbox) }
                return try explainStdin()
            }
            return try deliver()
        } catch let e as InputError {
            writeErr("wt-deliver: \(e)\n")
            if case .open = e { return Exit.noInput }
            return explain ? Exit.ioErr : Exit.tempFail
        } catch {
            writeErr("wt-deliver: \(error)\n")
            return Exit.tempFail
        }
    }

    private func deliver() throws -> Int32 {
        let started = monotonicMilliseconds()
        Deadline.arm(seconds: deadline)
        var logger = Logger(label: "wt-deliver") { _ in SyslogHandler(identifier: "wt-deliver", toStderr: verbose) }
        logger.logLevel = .info
        let raw: ByteBuffer
        do {
            raw = try readAll(fd: 0, what: "standard input")
        } catch {
            logger.error("cannot read the message, will be retried: \(error)")
            return Exit.tempFail
        }
        if raw.count == 0 {
            logger.error("empty message on standard input: nothing to deliver")
            writeErr("wt-deliver: empty message on standard input: nothing to deliver\n")
            return Exit.dataErr
        }
        // Postfix's local(8) (an alias or .forward) passes the envelope in the environment.
        let envelopeRecipient = recipient ?? recipients.first ?? environment("ORIGINAL_RECIPIENT") ?? environment("RECIPIENT")
        let envelopeSender = sender ?? environment("SENDER")
        do {
            // Wait for the lock up to shortly before our own deadline.
            let budget = Int64(deadline) * 1000 - (monotonicMilliseconds() - started) - 2000
            let store = try openStore(busyTimeoutMilliseconds: Int32(clamping: max(budget, 100)))
            let deliverer = Deliverer(store: store, logger: logger)
            let envelope = Envelope(sender: envelopeSender, recipient: envelopeRecipient, receivedAt: Int64(time(nil)))
            let report = try deliverer.deliver(raw, envelope: envelope)
            let ms = monotonicMilliseconds() - started
            var metadata = report.logMetadata
            metadata["ms"] = "\(ms)"
            logger.info("delivered", metadata: metadata)
            return Exit.ok
        } catch let e as StoreError where !e.isTransient {
            // Still 75: the MTA keeps the message while a person looks (a schema newer than
            // this wt, a constraint a bug broke); a bounce would lose it.
            logger.critical("not delivered, will be retried; the database needs an administrator: \(e)", metadata: ["size": "\(raw.count)"])
            writeErr("wt-deliver: not delivered, will be retried; the database needs an administrator: \(e)\n")
            return Exit.tempFail
        } catch let e as StoreError {
            logger.error("not delivered, will be retried: \(e)", metadata: ["size": "\(raw.count)"])
            writeErr("wt-deliver: not delivered, will be retried: \(e)\n")
            return Exit.tempFail
        } catch {
            logger.error("not delivered, will be retried: \(error)", metadata: ["size": "\(raw.count)"])
            writeErr("wt-deliver: not delivered, will be retried: \(error)\n")
            return Exit.tempFail
        }
    }

    private func explainStdin() throws -> Int32 {
        let buf = try readAll(fd: 0, what: "standard input")
        let size = buf.count
        let message = Message.parse(buf)
        var e = Explanation(message: message, size: size)
        e.delivery = explainDelivery(message, raw: buf)
        writeOut(json ? e.json() : Array(e.text().utf8))
        return Exit.ok
    }

    /// What delivery would do, read from the database without changing it.
    private func explainDelivery(_ message: Message, raw: ByteBuffer) -> Explanation.Delivery {
        var d = Explanation.Delivery(database: redactedDatabase(databasePath))
        guard isDatabaseURL(databasePath) || access(databasePath, R_OK) == 0 else {
            d.note = "no database at \(databasePath): rules not applied (the defaults of a new database would be)"
            return d
        }
        do {
            let store = try openStore(busyTimeoutMilliseconds: 5000, readOnly: true)
            let envelope = Envelope(sender: sender ?? environment("SENDER"), recipient: recipient ?? recipients.first, receivedAt: 0)
            let config = try store.configuration()
            let (key, _) = Deliverer.deliveryKey(raw: raw.bytes, recipient: envelope.recipient)
            if let before = try store.delivered(key: key) {
                d.action = "duplicate"
                d.ticket = before.ticketNumber
                d.reasons = ["these bytes were delivered to this recipient before: nothing would be added"]
                return d
            }
            let decided = try Deliverer.plan(message, raw: raw, envelope: envelope, config: config, lookup: store)
            let c = decided.decision
            d.action = c.action.rawValue
            d.ticket = c.ticket
            d.linkedTicket = c.linkedTicket
            d.automatic = c.automatic
            d.flagged = c.flagged
            d.reasons = c.reasons
            if c.action == .new {
                let content = message.content()
                d.decision = try Deliverer.decide(Deliverer.ruleSubject(message, content: content, envelope: envelope), config: config,
                                                  recipient: envelope.recipient, spam: c.spam, withTried: true)
            }
        } catch {
            d.note = "cannot read \(redactedDatabase(databasePath)): \(error)"
        }
        return d
    }

    private func explainMbox(_ path: String) throws -> Int32 {
        var reader = try MboxReader(path: path)
        var progress = Progress()
        var count = 0
        var out: [UInt8] = []
        out.reserveCapacity(1 << 20)
        let total = reader.data.count
        while let buf = reader.next() {
            count += 1
            let e = Explanation(message: Message.parse(buf), size: buf.count)
            if json {
                out += e.json()
            } else {
                out += Array("==== message \(count) ====\n".utf8) + Array(e.text().utf8) + [10]
            }
            if out.count >= 1 << 20 { writeOut(out); out.removeAll(keepingCapacity: true) }
            progress.update("\(count) messages, \(reader.offset >> 20) of \(total >> 20) MB")
        }
        writeOut(out)
        progress.done()
        return Exit.ok
    }
}

extension DeliveryReport {
    /// What the "delivered" log line says of a delivery.
    public var logMetadata: Logger.Metadata {
        ["ticket": "\(outcome.ticketNumber.map(String.init) ?? "-")",
         "action": "\(outcome.action.rawValue)",
         "size": "\(size)",
         "message-id": "\(messageID.map { "<\($0)>" } ?? "-")"]
    }
}

/// The command line of either build: options are checked before anything is read (a bad
/// service line bounces, 64, at once), then `run` is given the command.
public func commandLineMain(_ run: (Deliver) -> Int32) -> Never {
    let status: Int32
    do {
        if let command = try Deliver.parse(Array(CommandLine.arguments.dropFirst())) {
            status = run(command)
        } else {
            writeOut(Array(Deliver.usage.utf8))
            status = Exit.ok
        }
    } catch let e as Deliver.UsageError {
        writeErr("wt-deliver: \(e.message)\n  See 'wt-deliver --help'.\n")
        status = Exit.usage
    } catch {
        writeErr("wt-deliver: \(error)\n")
        status = Exit.usage
    }
    exit(status)
}

/// Replaces this process with the build `name` from this executable's folder (or `fallback`
/// when `name` is not installed), with the same arguments; returns only on failure.
public func execSibling(_ name: String, else fallback: String? = nil) -> Int32 {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    var dir = "."
    if n > 0 {
        let path = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if let slash = path.lastIndex(of: "/") { dir = String(path[..<slash]) }
    }
    var tried: [String] = []
    for candidate in [name] + (fallback.map { [$0] } ?? []) {
        let sibling = dir + "/" + candidate
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup(sibling)]
        for a in CommandLine.arguments.dropFirst() { argv.append(strdup(a)) }
        argv.append(nil)
        execv(sibling, argv)
        let e = errno
        for p in argv { free(p) }
        tried.append("\(sibling) (\(String(cString: strerror(e))))")
        if e != ENOENT { break }
    }
    writeErr("wt-deliver: cannot run \(tried.joined(separator: " or ")); not delivered, will be retried\n")
    return Exit.tempFail
}

/// What only wt-deliver-net can do; the static wt-deliver leaves these unset and execs it.
public enum Extensions {
    /// Opens a store named by a URL: (url, read-only, lock wait in milliseconds).
    nonisolated(unsafe) public static var openURLStore: ((String, Bool, Int32) throws -> any TicketStore)?
    /// Runs the POP3 fetch mode and returns the exit status.
    nonisolated(unsafe) public static var fetch: ((Deliver) -> Int32)?
}

/// A database string with a scheme (postgresql://...) rather than a file path.
public func isDatabaseURL(_ db: String) -> Bool {
    db.hasPrefix("postgresql://") || db.hasPrefix("postgres://")
}

struct PasswordInArguments: Error, CustomStringConvertible {
    var description: String {
        "a password in --db is visible to every user of this machine: put it in ~/.pgpass, PGPASSFILE or a service file (or name the database in WT_DB)"
    }
}

struct StoreUnavailable: Error, CustomStringConvertible {
    let database: String
    var description: String { "this wt-deliver cannot open \(redactedDatabase(database)): it needs wt-deliver-net beside it" }
}

/// A database string fit for a log: a URL's password is left out (in its user part or a
/// password= parameter).
public func redactedDatabase(_ db: String) -> String {
    isDatabaseURL(db) ? redactPassword(in: db) : db
}

public func environment(_ name: String) -> String? {
    guard let v = getenv(name) else { return nil }
    return String(cString: v)
}

/// Our own deadline and SIGTERM: exit 75 at once. SQLite's journal makes that safe at any
/// instant (an interrupted transaction is rolled back when the database is next opened), and
/// a commit that did land is absorbed by the delivery key when the MTA retries.
public enum Deadline {
    public static func arm(seconds: Int) {
        let handler: @convention(c) (Int32) -> Void = { _ in
            let text = "wt-deliver: stopped (deadline or signal), not delivered, will be retried\n"
            text.withCString { _ = write(2, $0, strlen($0)) }
            _exit(75)
        }
        signal(SIGTERM, handler)
        signal(SIGALRM, handler)
        signal(SIGHUP, handler)
        signal(SIGINT, handler)
        signal(SIGPIPE, SIG_IGN)
        signal(SIGXFSZ, SIG_IGN)
        alarm(UInt32(seconds))
    }
}

public func monotonicMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}


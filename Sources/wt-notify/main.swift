// wt-notify: turns the ticket events wt-deliver and wt-admin queued into mail, and sends it
// by sendmail or SMTP, under the e-mail settings.
#if canImport(Glibc)
import Glibc
#endif
import CLIKit
import Logging
import Notify
import PostgresStore
import TicketStore

let usage = """
    Usage: wt-notify [--db PATH] [--once | --watch [--interval SECONDS]] [--verbose]

    Send the notifications wt-deliver and wt-admin queued: mails to technicians and end users
    about new and updated tickets, and technicians' answers.

    Options:
      --db PATH            the ticket database (default: $WT_DB, else /var/lib/wt/wt.db): a
                           SQLite file or a postgresql:// URI (its password in ~/.pgpass,
                           PGPASSFILE or a service file, never here)
      --once               send what is due, then exit (the default; for cron)
      --watch              keep sending; stop cleanly on SIGTERM
      --interval SECONDS   with --watch: how often to look for new mail (default 10)
      --verbose            also write the log lines to standard error
      -h, --help           this text

    Exit status: 0 all due mail sent (or held back by a limit, or failed for good: see
    wt-admin outbox list); 75 some mail must be tried again later; 64 bad options; 78 the
    database or the settings could not be read.

    """

nonisolated(unsafe) var stopRequested: sig_atomic_t = 0

func installSignals() {
    let handler: @convention(c) (Int32) -> Void = { _ in stopRequested = 1 }
    signal(SIGTERM, handler)
    signal(SIGINT, handler)
    signal(SIGHUP, handler)
    signal(SIGPIPE, SIG_IGN)
}

struct Options {
    var db: String?
    var watch = false
    var interval = 10
    var verbose = false

    static func parse(_ args: [String]) -> Options? {
        var o = Options()
        var i = 0
        func fail(_ m: String) -> Never {
            writeErr("wt-notify: \(m)\n  See 'wt-notify --help'.\n")
            exit(64)
        }
        while i < args.count {
            let a = args[i]
            switch a {
            case "-h", "--help": return nil
            case "--db": i += 1; guard i < args.count else { fail("--db needs a value") }; o.db = args[i]
            case "--once": o.watch = false
            case "--watch": o.watch = true
            case "--interval":
                i += 1
                guard i < args.count, let n = Int(args[i]), n >= 1, n <= 86_400 else { fail("--interval needs a number of seconds (1-86400)") }
                o.interval = n
            case "--verbose": o.verbose = true
            default: fail("unknown option '\(a)'")
            }
            i += 1
        }
        return o
    }

    var path: String {
        if let db { return db }
        if let e = getenv("WT_DB"), e.pointee != 0 { return String(cString: e) }
        return "/var/lib/wt/wt.db"
    }
}

func now() -> Int64 { Int64(time(nil)) }

guard let options = Options.parse(Array(CommandLine.arguments.dropFirst())) else {
    writeOut(Array(usage.utf8))
    exit(0)
}
installSignals()
var logger = Logger(label: "wt-notify") { _ in SyslogHandler(identifier: "wt-notify", toStderr: options.verbose) }
logger.logLevel = .info

var hostname = [CChar](repeating: 0, count: 256)
gethostname(&hostname, hostname.count - 1)
let worker = "\(String(cString: hostname)):\(getpid())"

let store: SQLStore
let shownDatabase = redactPassword(in: options.path)
do {
    if isPostgresURL(options.path) {
        // Notifiers on several hosts share it: claims are row locks (SKIP LOCKED) and leases.
        if let db = options.db, redactPassword(in: db) != db {
            writeErr("wt-notify: a password in --db is visible to every user of this machine: put it in ~/.pgpass, PGPASSFILE or a service file (or name the database in WT_DB)\n")
            exit(64)
        }
        store = try PostgresStore(url: options.path, options: .init(applicationName: "wt-notify"))
    } else {
        guard access(options.path, F_OK) == 0 else {
            writeErr("wt-notify: no database at \(options.path) (create it with: wt-admin init --db \(options.path))\n")
            exit(78)
        }
        store = try SQLiteStore(path: options.path, options: .init(busyTimeoutMilliseconds: 30_000, create: false, syncEveryCommit: false))
    }
} catch let e as StoreError where e.isTransient && isPostgresURL(options.path) {
    // A server that is down or restarting: the timer (or the MTA's next message) runs us again.
    writeErr("wt-notify: cannot open \(shownDatabase): \(e)\n")
    exit(75)
} catch {
    writeErr("wt-notify: cannot open \(shownDatabase): \(error)\n")
    exit(78)
}
let notifier = Notifier(store: store, logger: logger, worker: worker, clock: now)
notifier.shouldStop = { stopRequested != 0 }
nonisolated(unsafe) var progress = Progress()
notifier.onProgress = { r in progress.update("\(r.sent) sent, \(r.retried) to retry, \(r.failed) failed") }

var status: Int32 = 0
repeat {
    do {
        let r = try notifier.runOnce()
        progress.done()
        if r.expanded + r.sent + r.retried + r.failed > 0 || options.verbose {
            logger.info("pass", metadata: ["events": "\(r.expanded)", "sent": "\(r.sent)", "retried": "\(r.retried)",
                                           "failed": "\(r.failed)", "held": "\(r.held)", "suppressed": "\(r.suppressed)"])
        }
        status = r.retried > 0 ? 75 : 0
    } catch {
        logger.error("pass stopped, will be tried again: \(error)")
        writeErr("wt-notify: \(error)\n")
        status = 75
    }
    if !options.watch { break }
    var waited = 0
    while waited < options.interval * 10 && stopRequested == 0 {
        usleep(100_000)
        waited += 1
    }
} while stopRequested == 0
exit(status)

// A PostgreSQL server for the tests. $WT_TEST_POSTGRES (a libpq URI) names one; otherwise
// the first test that needs one starts its own: initdb into a temporary folder, the server on
// a free loopback port with its socket in that folder, as a non-root user (the `postgres`
// user when we are root), stopped when the test process exits (or, if it dies, by a watcher).
// Each test gets a fresh schema of its own. Without a server or its binaries, the PostgreSQL
// variants are cancelled with the reason.
import Foundation
import PostgresStore
import Testing
public import TicketStore

/// The stores the shared suites run against.
public enum Backend: String, CaseIterable, Sendable { case sqlite, postgres }

/// A database on the test server, or the test case cancelled with the reason there is none.
public func postgresDatabase() throws -> TestPostgres.Database {
    do { return try TestPostgres.database() } catch let e as TestPostgres.Unavailable { try Test.cancel(Comment(rawValue: e.message)) }
}

/// A fresh store of `backend`: a new SQLite file at `sqlitePath`, or a schema of its own on
/// the test server (the database returned, which must be kept while the store is used).
public func freshStore(_ backend: Backend, sqlitePath: String) throws -> (store: SQLStore, postgres: TestPostgres.Database?) {
    switch backend {
    case .sqlite:
        return (try SQLiteStore(path: sqlitePath), nil)
    case .postgres:
        let db = try postgresDatabase()
        return (try PostgresStore(url: db.url, options: .init(migrate: true)), db)
    }
}

public enum TestPostgres {
    /// Why no server is available, or nil.
    public static var unavailableReason: String? {
        if case .failure(let reason) = server { return reason.message }
        return nil
    }

    /// A database of its own for one test: a new schema, dropped when released.
    public final class Database: @unchecked Sendable {
        public let url: String
        let schema: String
        let base: String

        init(base: String) throws {
            self.base = base
            schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
            try PostgresStore.runScript(url: base, "CREATE SCHEMA \(schema)")
            let separator = base.contains("?") ? "&" : "?"
            url = base + separator + "options=-csearch_path%3D\(schema)"
        }

        deinit { try? PostgresStore.runScript(url: base, "DROP SCHEMA \(schema) CASCADE") }
    }

    /// A fresh database; throws the reason when there is no server.
    public static func database() throws -> Database {
        switch server {
        case .success(let base): return try Database(base: base)
        case .failure(let reason): throw reason
        }
    }

    public struct Unavailable: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// The server's URI, started once per test process.
    static let server: Result<String, Unavailable> = {
        if let url = ProcessInfo.processInfo.environment["WT_TEST_POSTGRES"], !url.isEmpty { return .success(url) }
        do { return .success(try LocalServer.start()) } catch let e as Unavailable { return .failure(e) } catch {
            return .failure(Unavailable(message: "cannot start a PostgreSQL server: \(error)"))
        }
    }()
}

enum LocalServer {
    nonisolated(unsafe) static var stopCommand: [String] = []
    nonisolated(unsafe) static var folder = ""

    static func start() throws -> String {
        let fm = FileManager.default
        let versions = ((try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .filter { fm.isExecutableFile(atPath: "/usr/lib/postgresql/\($0)/bin/initdb") }
            .sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }
        guard let version = versions.first else {
            throw TestPostgres.Unavailable(message: "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql), and WT_TEST_POSTGRES is not set: PostgreSQL variants skipped")
        }
        let bin = "/usr/lib/postgresql/\(version)/bin"
        // The server refuses to run as root.
        var asUser: [String] = []
        var owner: (uid_t, gid_t)? = nil
        if getuid() == 0 {
            guard let pw = getpwnam("postgres") else {
                throw TestPostgres.Unavailable(message: "running as root and there is no postgres user to run the server as: PostgreSQL variants skipped")
            }
            asUser = ["/usr/sbin/runuser", "-u", "postgres", "--"]
            owner = (pw.pointee.pw_uid, pw.pointee.pw_gid)
        }
        var template = Array("/tmp/wt-pgtest-XXXXXX".utf8CString)
        guard let dir = mkdtemp(&template) else { throw TestPostgres.Unavailable(message: "cannot make a temporary folder") }
        folder = String(cString: dir)
        if let (uid, gid) = owner { chown(folder, uid, gid) }
        let data = folder + "/data", log = folder + "/server.log"
        let port = try freePort()
        try run(asUser + ["\(bin)/initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        stopCommand = asUser + ["\(bin)/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"]
        try run(asUser + ["\(bin)/pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "-o",
                          "-p \(port) -k \(folder) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300", "start"])
        atexit { LocalServer.stop() }
        watch(pid: getpid())
        return "postgresql://postgres@127.0.0.1:\(port)/postgres"
    }

    static func stop() {
        guard !stopCommand.isEmpty else { return }
        _ = try? run(stopCommand)
        try? FileManager.default.removeItem(atPath: folder)
        stopCommand = []
    }

    /// Should the test process die without its atexit handlers, a detached shell stops the
    /// server and removes its folder.
    static func watch(pid: pid_t) {
        let script = "while [ -d /proc/\(pid) ]; do sleep 1; done; \(shell(stopCommand)) >/dev/null 2>&1; rm -rf \(quote(folder))"
        _ = system("/usr/bin/setsid /bin/sh -c \(quote(script)) </dev/null >/dev/null 2>&1 &")
    }

    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
    static func shell(_ argv: [String]) -> String { argv.map(quote).joined(separator: " ") }

    /// Runs `argv` through system(3), its output in a file: Foundation's Process waits for a
    /// descriptor that the server it starts keeps open.
    static func run(_ argv: [String]) throws {
        let outPath = folder + "/command.out"
        let status = system("\(shell(argv)) </dev/null >\(quote(outPath)) 2>&1")
        if status != 0 {
            let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
            throw TestPostgres.Unavailable(message: "\(argv.joined(separator: " ")) failed (\(status)): \(text.suffix(2000))")
        }
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw TestPostgres.Unavailable(message: "no free port on 127.0.0.1") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

import Foundation
import Testing

/// A folder of its own for one test, removed at the end.
final class Scratch {
    let url: URL
    var path: String { url.path }

    init(_ name: String = "wt-transport") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Close-on-exec from the start: a program another test starts meanwhile must not inherit
    /// the descriptor, or running this file as a script fails with "Text file busy".
    func write(_ name: String, _ text: String, mode: Int = 0o644) throws -> String {
        let path = file(name)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw SpawnError(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            guard n > 0 else { throw SpawnError(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
            done += n
        }
        fchmod(fd, mode_t(mode))
        return path
    }
}

/// Starts a program with default signal handling and nothing blocked. Foundation's Process
/// passes on the calling thread's mask, and test threads block SIGTERM: a server started so
/// could never be stopped.
func spawnProgram(_ program: String, _ arguments: [String], environment: [String: String]? = nil, output: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let env = ProcessInfo.processInfo.environment.merging(environment ?? [:]) { $1 }.map { "\($0.key)=\($0.value)" }
    let argv: [UnsafeMutablePointer<CChar>?] = ([program] + arguments).map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
    defer { for p in argv + envp { free(p) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, program, &actions, &attributes, argv, envp)
    guard rc == 0 else { throw SpawnError(description: "cannot run \(program): \(String(cString: strerror(rc)))") }
    return pid
}

struct SpawnError: Error, CustomStringConvertible { let description: String }

/// Waits for a child; SIGTERM after `seconds`, SIGKILL two seconds later.
@discardableResult
func waitForExit(_ pid: pid_t, seconds: Double = 120) -> Int32 {
    var status: Int32 = 0
    let end = Date().addingTimeInterval(seconds)
    var signalled: Int32 = 0
    while true {
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { return status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F) }
        if r == -1 && errno != EINTR { return -1 }
        if Date() > end {
            if signalled == 0 { kill(pid, SIGTERM); signalled = SIGTERM }
            else if Date() > end.addingTimeInterval(2) && signalled == SIGTERM { kill(pid, SIGKILL); signalled = SIGKILL }
        }
        usleep(10_000)
    }
}

/// Runs a program to the end; its output, for error messages.
@discardableResult
func run(_ program: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("wt-run-\(getpid())-\(UUID().uuidString.prefix(8)).out").path
    defer { try? FileManager.default.removeItem(atPath: out) }
    let pid = try spawnProgram(program, arguments, environment: environment, output: out)
    let status = waitForExit(pid)
    return (status, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
}

func waitFor(seconds: Double, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

enum Servers {
    static let python = "/usr/bin/python3"
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("servers/smtp_server.py").path

    /// Debian's python3-aiosmtpd lives under Debian's Python, not the first python3 on PATH.
    static let aiosmtpdAvailable: Bool = {
        guard FileManager.default.isExecutableFile(atPath: python) else { return false }
        return (try? run(python, ["-c", "import aiosmtpd.smtp"]).status) == 0
    }()
    static let opensslAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")
}

/// A test CA, a server certificate it signed for localhost and 127.0.0.1, one it signed for
/// another name, and one from another CA; made once per test run.
struct Certificates: Sendable {
    let caFile: String
    let serverCert: String
    let serverKey: String
    let wrongNameCert: String
    let wrongNameKey: String
    let otherCACert: String
    let otherCAKey: String

    static let shared: Result<Certificates, CertificateError> = make()

    struct CertificateError: Error, Sendable, CustomStringConvertible { let description: String }

    static func get() throws -> Certificates { try shared.get() }

    private static func make() -> Result<Certificates, CertificateError> {
        let temporary = FileManager.default.temporaryDirectory
        // Nothing removes them at exit: those of earlier runs go now.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? []
        where name.hasPrefix("wt-transport-certs-") {
            if let pid = pid_t(name.dropFirst("wt-transport-certs-".count)), kill(pid, 0) != 0, errno == ESRCH {
                try? FileManager.default.removeItem(at: temporary.appendingPathComponent(name))
            }
        }
        let dir = temporary.appendingPathComponent("wt-transport-certs-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            func ssl(_ args: [String]) throws {
                let r = try run("/usr/bin/openssl", args)
                if r.status != 0 { throw CertificateError(description: "openssl \(args.joined(separator: " ")): \(r.output)") }
            }
            let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
            func ca(_ name: String) throws {
                try ssl(["req", "-x509"] + ec + ["-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).crt",
                        "-subj", "/CN=wt \(name)", "-days", "3"])
            }
            func leaf(_ name: String, by issuer: String, san: String) throws {
                try ssl(["req", "-new"] + ec + ["-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).csr", "-subj", "/CN=\(name)"])
                try Data("subjectAltName=\(san)\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/\(name).ext"))
                try ssl(["x509", "-req", "-in", "\(dir)/\(name).csr", "-CA", "\(dir)/\(issuer).crt", "-CAkey", "\(dir)/\(issuer).key",
                         "-CAcreateserial", "-days", "3", "-out", "\(dir)/\(name).crt", "-extfile", "\(dir)/\(name).ext"])
            }
            try ca("test-ca")
            try ca("other-ca")
            try leaf("server", by: "test-ca", san: "DNS:localhost,IP:127.0.0.1")
            try leaf("wrong-name", by: "test-ca", san: "DNS:mail.elsewhere.example")
            try leaf("other", by: "other-ca", san: "DNS:localhost,IP:127.0.0.1")
            return .success(Certificates(caFile: "\(dir)/test-ca.crt", serverCert: "\(dir)/server.crt", serverKey: "\(dir)/server.key",
                                         wrongNameCert: "\(dir)/wrong-name.crt", wrongNameKey: "\(dir)/wrong-name.key",
                                         otherCACert: "\(dir)/other.crt", otherCAKey: "\(dir)/other.key"))
        } catch let e as CertificateError {
            return .failure(e)
        } catch {
            return .failure(CertificateError(description: "\(error)"))
        }
    }
}

/// One run of servers/smtp_server.py on a free loopback port; stopped on deinit.
final class SMTPServer {
    enum TLS: String { case none, starttls, implicit }
    struct Received {
        let content: [UInt8]
        let mailFrom: String
        let rcptTos: [String]
        let connection: Int
        let tls: Bool
        let login: String?
    }

    let scratch: Scratch
    let port: Int
    private let pid: pid_t
    private var stopped = false

    init(tls: TLS = .none, cert: (String, String)? = nil, user: String? = nil, password: String? = nil, silent: Bool = false,
         echoCredentials: Bool = false, idleTimeout: Double? = nil) throws {
        scratch = try Scratch("wt-smtp")
        var args = [Servers.script, "--dir", scratch.path, "--tls", tls.rawValue, "--parent", "\(getpid())"]
        if let (c, k) = cert { args += ["--cert", c, "--key", k] }
        if let user { args += ["--user", user] }
        if silent { args.append("--silent") }
        if echoCredentials { args.append("--echo-credentials") }
        if let idleTimeout { args += ["--idle-timeout", "\(idleTimeout)"] }
        pid = try spawnProgram(Servers.python, args, environment: ["SMTP_TEST_PASSWORD": password ?? ""], output: scratch.file("server.log"))
        let portFile = scratch.file("port")
        let pid = self.pid
        guard waitFor(seconds: 15, { FileManager.default.fileExists(atPath: portFile) || kill(pid, 0) != 0 }),
              let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) else {
            let log = (try? String(contentsOfFile: scratch.file("server.log"), encoding: .utf8)) ?? ""
            kill(pid, SIGKILL)
            waitForExit(pid)
            throw ServerError(description: "the SMTP test server did not start: \(log)")
        }
        self.port = port
    }

    struct ServerError: Error, CustomStringConvertible { let description: String }

    deinit { stop() }

    func stop() {
        if stopped { return }
        stopped = true
        kill(pid, SIGTERM)
        waitForExit(pid, seconds: 5)
    }

    var connections: Int {
        (try? String(contentsOfFile: scratch.file("connections"), encoding: .utf8)).flatMap { Int($0) } ?? 0
    }

    /// The messages kept so far, in order.
    func received() -> [Received] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: scratch.path)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        return names.compactMap { name in
            let base = String(name.dropLast(5))
            guard let meta = FileManager.default.contents(atPath: scratch.file(name)),
                  let o = try? JSONSerialization.jsonObject(with: meta) as? [String: Any],
                  let content = FileManager.default.contents(atPath: scratch.file(base + ".eml")) else { return nil }
            return Received(content: Array(content), mailFrom: o["mail_from"] as? String ?? "", rcptTos: o["rcpt_tos"] as? [String] ?? [],
                            connection: o["connection"] as? Int ?? 0, tls: o["tls"] as? Bool ?? false, login: o["login"] as? String)
        }
    }

    var log: String { (try? String(contentsOfFile: scratch.file("server.log"), encoding: .utf8)) ?? "" }
}

/// A loopback port nothing listens on (bound, then closed).
func closedPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// A small notification as wt-notify would write it, CRLF line ends, with lines that need
/// dot-stuffing and 8-bit text.
func sampleMessage(_ n: Int = 1, to: String = "ann@example.org") -> [UInt8] {
    Array(("From: Helpdesk <helpdesk@wt.test>\r\n"
        + "To: \(to)\r\n"
        + "Subject: [#\(n)] Your ticket was updated\r\n"
        + "Message-ID: <notify.\(n)@wt.test>\r\n"
        + "MIME-Version: 1.0\r\n"
        + "Content-Type: text/plain; charset=utf-8\r\n"
        + "Content-Transfer-Encoding: 8bit\r\n"
        + "\r\n"
        + ".a line that starts with a dot\r\n"
        + "Ticket \(n): the printer in room 312 works again – merci, José.\r\n"
        + ".\r\n"
        + "..\r\n"
        + "-- \r\n"
        + "wt helpdesk\r\n").utf8)
}

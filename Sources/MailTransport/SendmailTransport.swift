#if canImport(Glibc)
import Glibc
#endif

/// Hands each message to the local mail system: `sendmail -oi -f SENDER -- RECIPIENT...`,
/// started through posix_spawn with an argument vector (never a shell, never `-t`), the
/// message on its standard input with LF line ends (the local submission convention).
///
/// Exit status:
///
/// | status | kind |
/// |---|---|
/// | 0 | sent (unless sendmail stopped reading the message early: temporary) |
/// | 75 EX_TEMPFAIL, 71 EX_OSERR, 74 EX_IOERR | temporary: the mail system says "try later" |
/// | 72 EX_OSFILE, 73 EX_CANTCREAT, 77 EX_NOPERM, 78 EX_CONFIG | temporary: a local configuration problem an administrator can fix (Postfix exits 77 for `authorized_submit_users`) |
/// | killed by a signal, not finished within `timeoutSeconds`, cannot be started | temporary |
/// | 64 EX_USAGE, 65 EX_DATAERR, 66 EX_NOINPUT, 67 EX_NOUSER, 68 EX_NOHOST, 69 EX_UNAVAILABLE, 70 EX_SOFTWARE, 76 EX_PROTOCOL, any other status | permanent |
///
/// EX_UNAVAILABLE is permanent: Postfix's sendmail exits 69 when its cleanup service rejects
/// the message (too large, a header check), and Sendmail maps it to a 5.x.x status.
/// Whatever sendmail writes to stderr or stdout (the first 4 KiB) ends the error message.
public final class SendmailTransport: MailTransport {
    public let path: String
    public let timeoutSeconds: Int

    /// Bytes of sendmail's output kept for the error message; the rest is read and dropped.
    static let outputCap = 4096

    public init(path: String = "/usr/sbin/sendmail", timeoutSeconds: Int = 120) {
        self.path = path
        self.timeoutSeconds = max(1, timeoutSeconds)
    }

    public func close() {}

    public func send(_ message: [UInt8], from sender: String, to recipients: [String]) throws(TransportError) {
        try checkEnvelopeAddress(sender, role: "sender", allowEmpty: true)
        if recipients.isEmpty { throw TransportError(.permanent, "no recipients") }
        for r in recipients { try checkEnvelopeAddress(r, role: "recipient", allowEmpty: false) }
        let run = try spawn(["-oi", "-f", sender, "--"] + recipients)
        let outcome = run.feed(Self.unixLineEnds(message), deadline: monotonicNow() + Double(timeoutSeconds))
        try classify(outcome)
    }

    /// CRLF becomes LF; a lone CR stays.
    static func unixLineEnds(_ message: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.count)
        var i = 0
        let n = message.count
        while i < n {
            let b = message[i]
            if b == 0x0D && i + 1 < n && message[i + 1] == 0x0A {
                i += 1
                continue
            }
            out.append(b)
            i += 1
        }
        return out
    }

    private func spawn(_ arguments: [String]) throws(TransportError) -> Child {
        // Socket pairs rather than pipes: made close-on-exec atomically (no other child can
        // inherit them and hold sendmail's input open), and written with MSG_NOSIGNAL (no
        // SIGPIPE when sendmail stops reading).
        var input: [Int32] = [-1, -1]
        var output: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &input) == 0 else {
            throw TransportError(.temporary, "cannot run \(path): socketpair: \(errnoText())")
        }
        guard socketpair(AF_UNIX, type, 0, &output) == 0 else {
            let e = errnoText()
            Glibc.close(input[0]); Glibc.close(input[1])
            throw TransportError(.temporary, "cannot run \(path): socketpair: \(e)")
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_adddup2(&actions, output[1], 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, so a timeout stops sendmail and what it started (postdrop);
        // default signal handling and an empty mask, whatever the caller set.
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        Glibc.close(input[0])
        Glibc.close(output[1])
        if rc != 0 {
            Glibc.close(input[1])
            Glibc.close(output[0])
            throw TransportError(.temporary, "cannot run \(path): \(String(cString: strerror(rc)))")
        }
        return Child(pid: pid, input: input[1], output: output[0])
    }

    private func classify(_ outcome: Child.Outcome) throws(TransportError) {
        let said = outcome.output.isEmpty ? "" : ": " + printable(outcome.output, cap: Self.outputCap)
        switch outcome.end {
        case .timedOut:
            throw TransportError(.temporary, "\(path) did not finish within \(timeoutSeconds) seconds and was stopped\(said)")
        case .signal(let s):
            throw TransportError(.temporary, "\(path) was killed by signal \(s)\(said)")
        case .status(0):
            if outcome.inputIncomplete {
                throw TransportError(.temporary, "\(path) exited before reading the whole message\(said)")
            }
        case .status(let status):
            let (name, kind) = Self.exitStatus(status)
            throw TransportError(kind, "\(path) exited with status \(status)\(name.map { " (\($0))" } ?? "")\(said)")
        }
    }

    static func exitStatus(_ status: Int32) -> (name: String?, kind: TransportError.Kind) {
        switch status {
        case 64: ("EX_USAGE", .permanent)
        case 65: ("EX_DATAERR", .permanent)
        case 66: ("EX_NOINPUT", .permanent)
        case 67: ("EX_NOUSER", .permanent)
        case 68: ("EX_NOHOST", .permanent)
        case 69: ("EX_UNAVAILABLE", .permanent)
        case 70: ("EX_SOFTWARE", .permanent)
        case 71: ("EX_OSERR", .temporary)
        case 72: ("EX_OSFILE", .temporary)
        case 73: ("EX_CANTCREAT", .temporary)
        case 74: ("EX_IOERR", .temporary)
        case 75: ("EX_TEMPFAIL", .temporary)
        case 76: ("EX_PROTOCOL", .permanent)
        case 77: ("EX_NOPERM", .temporary)
        case 78: ("EX_CONFIG", .temporary)
        default: (nil, .permanent)
        }
    }
}

/// A started sendmail: its input is written and its output read in one poll loop, so
/// neither side can block the other, until it exits or the deadline passes.
private struct Child {
    let pid: pid_t
    let input: Int32
    let output: Int32

    enum End { case status(Int32), signal(Int32), timedOut }
    struct Outcome {
        var end: End
        var output: [UInt8]
        var inputIncomplete: Bool
    }

    func feed(_ body: [UInt8], deadline: Double) -> Outcome {
        _ = fcntl(input, F_SETFL, fcntl(input, F_GETFL) | O_NONBLOCK)
        _ = fcntl(output, F_SETFL, fcntl(output, F_GETFL) | O_NONBLOCK)
        var inputOpen = true
        var outputOpen = true
        var written = 0
        var captured: [UInt8] = []
        var inputIncomplete = false
        var status: Int32? = nil
        var buffer = [UInt8](repeating: 0, count: 16384)

        func closeInput() {
            if inputOpen { Glibc.close(input); inputOpen = false }
        }
        func readOutput() {
            while outputOpen {
                let n = buffer.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
                if n > 0 {
                    let room = SendmailTransport.outputCap - captured.count
                    if room > 0 { captured.append(contentsOf: buffer[..<min(n, room)]) }
                } else if n == 0 {
                    Glibc.close(output); outputOpen = false
                } else if errno == EINTR {
                    continue
                } else {
                    if errno != EAGAIN && errno != EWOULDBLOCK { Glibc.close(output); outputOpen = false }
                    return
                }
            }
        }
        func reap(block: Bool) -> Bool {
            var raw: Int32 = 0
            while true {
                let r = waitpid(pid, &raw, block ? 0 : WNOHANG)
                if r == pid { status = raw; return true }
                if r == -1 && errno == EINTR { continue }
                return false
            }
        }

        if body.isEmpty { closeInput() }
        while true {
            if status == nil { _ = reap(block: false) }
            if status != nil {
                // Sendmail has exited: whatever it started may keep the output open, so
                // take what is there now and stop.
                if inputOpen && written < body.count { inputIncomplete = true }
                closeInput()
                if outputOpen { readOutput() }
                break
            }
            let now = monotonicNow()
            if now >= deadline { break }
            var fds: [pollfd] = []
            if inputOpen { fds.append(pollfd(fd: input, events: Int16(POLLOUT), revents: 0)) }
            if outputOpen { fds.append(pollfd(fd: output, events: Int16(POLLIN), revents: 0)) }
            // Wake up now and then to notice an exit while a descendant holds the sockets.
            let wait = Int32(max(1, min(100, (deadline - now) * 1000)))
            let ready = poll(&fds, nfds_t(fds.count), wait)
            if ready < 0 && errno != EINTR { break }
            if inputOpen {
                while written < body.count {
                    let n = body.withUnsafeBytes {
                        Glibc.send(input, $0.baseAddress! + written, min(body.count - written, 65536), Int32(MSG_NOSIGNAL))
                    }
                    if n > 0 { written += n; continue }
                    if n < 0 && errno == EINTR { continue }
                    if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
                    inputIncomplete = true
                    closeInput()
                    break
                }
                if written == body.count { closeInput() }
            }
            if outputOpen { readOutput() }
        }
        closeInput()
        if outputOpen { Glibc.close(output) }

        guard let raw = status else {
            // Out of time: ask the whole group to stop, then make sure it does.
            kill(-pid, SIGTERM)
            let grace = monotonicNow() + 2
            while monotonicNow() < grace {
                if reap(block: false) { break }
                usleep(20_000)
            }
            kill(-pid, SIGKILL)
            if status == nil { _ = reap(block: true) }
            return Outcome(end: .timedOut, output: captured, inputIncomplete: true)
        }
        if raw & 0x7F == 0 {
            return Outcome(end: .status((raw >> 8) & 0xFF), output: captured, inputIncomplete: inputIncomplete)
        }
        return Outcome(end: .signal(raw & 0x7F), output: captured, inputIncomplete: inputIncomplete)
    }
}

func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func errnoText() -> String {
    String(cString: strerror(errno))
}

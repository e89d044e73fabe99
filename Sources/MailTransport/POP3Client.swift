#if canImport(Glibc)
import Glibc
#endif
internal import CCurl

public struct POP3Settings: Sendable {
    public enum Security: String, Sendable { case implicitTLS = "tls", startTLS = "starttls", none = "none" }
    public var host: String
    public var port: Int
    /// `.startTLS` is required (never a fall-back to plain text); `.none` only when asked for.
    public var security: Security
    public var user: String
    /// Handed to libcurl on its own (never in a URL, argv or the environment); never in an error.
    public var password: String
    /// Trusted CAs (PEM) instead of the system's; the peer and its name are always verified.
    public var caFile: String?
    /// Connecting, and each wait for the server.
    public var timeoutSeconds: Int
    /// A message larger than this is refused before it is read whole.
    public var maxMessageBytes: Int

    public init(host: String, port: Int? = nil, security: Security = .implicitTLS, user: String, password: String,
                caFile: String? = nil, timeoutSeconds: Int = 30, maxMessageBytes: Int = 64 << 20) {
        self.host = host
        self.port = port ?? (security == .implicitTLS ? 995 : 110)
        self.security = security
        self.user = user
        self.password = password
        self.caFile = caFile
        self.timeoutSeconds = timeoutSeconds
        self.maxMessageBytes = maxMessageBytes
    }

    /// host:port, an IPv6 address in brackets.
    public var endpoint: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// "host", "host:port", "[v6]:port", "pop3s://host[:port]" or "pop3://host[:port]": the
    /// host, the port if given, and the security a URL's scheme implies (pop3:// is STARTTLS).
    public static func parseHost(_ text: String) -> (host: String, port: Int?, security: Security?)? {
        var rest = Substring(text)
        var security: Security? = nil
        if rest.lowercased().hasPrefix("pop3s://") { rest = rest.dropFirst(8); security = .implicitTLS }
        else if rest.lowercased().hasPrefix("pop3://") { rest = rest.dropFirst(7); security = .startTLS }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var host = rest
        var port: Int? = nil
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()) else { return nil }
                port = p
            }
        } else if let colon = rest.lastIndex(of: ":"), rest.firstIndex(of: ":") == colon {
            host = rest[..<colon]
            guard let p = Int(rest[rest.index(after: colon)...]) else { return nil }
            port = p
        }
        if let p = port, !(1...65535).contains(p) { return nil }
        let ok = !host.isEmpty && host.utf8.count <= 253 && host.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || b == 0x2E || b == 0x2D || b == 0x3A
        }
        return ok ? (String(host), port, security) : nil
    }
}

/// One POP3 session through libcurl. One easy handle serves every command, so libcurl keeps
/// one connection (and its login) from the listing to QUIT.
///
/// Message numbers belong to a session. libcurl reconnects on its own when a connection is
/// lost, and in a new session a number may name another message; so every command after the
/// first checks that it ran on the same connection, and a changed session is an error: a
/// DELE that went out on a new connection is taken back with RSET before anything else.
/// Deletions take effect only at QUIT (RFC 1939 UPDATE state): a session cut short deletes
/// nothing.
public final class POP3Client {
    public struct Listing: Sendable, Equatable {
        public var number: Int
        public var uidl: String
        public var size: Int
    }

    private let settings: POP3Settings
    private let baseURL: String
    public let endpoint: String
    private var handle: UnsafeMutableRawPointer?
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private let state = POP3TransferState()
    private var transfers = 0

    public init(_ settings: POP3Settings) throws(TransportError) {
        self.settings = settings
        guard let parsed = POP3Settings.parseHost(settings.host), parsed.port == nil else {
            throw TransportError(.temporary, "the POP3 host \(printable(settings.host, cap: 80)) is not a host name or an address")
        }
        guard (1...65535).contains(settings.port) else { throw TransportError(.temporary, "the POP3 port \(settings.port) is not between 1 and 65535") }
        guard settings.timeoutSeconds >= 1 else { throw TransportError(.temporary, "the POP3 timeout must be at least one second") }
        guard !settings.user.isEmpty, !settings.user.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            throw TransportError(.temporary, "the POP3 user name is empty or contains a control character")
        }
        if settings.password.utf8.contains(where: { $0 == 0 || $0 == 0x0A || $0 == 0x0D }) {
            throw TransportError(.temporary, "the POP3 password contains a NUL or a line break")
        }
        if let ca = settings.caFile, access(ca, R_OK) != 0 {
            throw TransportError(.temporary, "cannot read the CA file \(printable(ca, cap: 200)): \(errnoText())")
        }
        endpoint = settings.endpoint
        baseURL = "\(settings.security == .implicitTLS ? "pop3s" : "pop3")://\(endpoint)/"
        guard curlReady else { throw TransportError(.temporary, "libcurl could not be initialised") }
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        state.secrets = settings.password.isEmpty ? [] : [settings.password]
        state.maxBytes = settings.maxMessageBytes
        handle = try makeHandle()
    }

    deinit {
        abandon()
        errorBuffer.deallocate()
    }

    /// Drops the connection without QUIT: nothing marked deleted is deleted.
    public func abandon() {
        if let h = handle {
            // Closing a connection libcurl believes alive would send QUIT; forbid that by
            // shutting the socket first.
            var fd: curl_socket_t = -1
            if wt_curl_get_socket(h, &fd) == CURLE_OK, fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
            curl_easy_cleanup(h)
            handle = nil
        }
    }

    /// UIDL and LIST: every message with its unique id and size, in message-number order.
    public func listing() throws(TransportError) -> [Listing] {
        let uidl = try multiline("UIDL")
        let list = try multiline("")
        var sizes: [Int: Int] = [:]
        for line in list {
            let parts = line.split(separator: 0x20, maxSplits: 2, omittingEmptySubsequences: true)
            guard parts.count >= 2, let n = Int(String(decoding: parts[0], as: UTF8.self)),
                  let size = Int(String(decoding: parts[1], as: UTF8.self)) else { continue }
            sizes[n] = size
        }
        var out: [Listing] = []
        var seen = Set<String>()
        for line in uidl {
            let parts = line.split(separator: 0x20, maxSplits: 2, omittingEmptySubsequences: true)
            guard parts.count >= 2, let n = Int(String(decoding: parts[0], as: UTF8.self)), n >= 1 else {
                throw TransportError(.temporary, "\(endpoint) sent a UIDL line that is not a number and an id")
            }
            let id = String(decoding: parts[1], as: UTF8.self)
            // RFC 1939: 1 to 70 printable characters, unique in the mailbox.
            guard id.utf8.count <= 70, id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }), seen.insert(id).inserted else {
                throw TransportError(.temporary, "\(endpoint) sent an invalid or repeated unique id for message \(n)")
            }
            out.append(Listing(number: n, uidl: id, size: sizes[n] ?? 0))
        }
        return out
    }

    /// RETR: the message's bytes (dot-unstuffed by libcurl).
    public func retrieve(_ number: Int) throws(TransportError) -> [UInt8] {
        let h = try sameSession()
        state.begin(collect: true)
        defer { state.body = [] }
        try perform(h, path: String(number), custom: nil, noBody: false)
        return state.body
    }

    /// DELE: marks a message deleted; the deletion takes effect at `quit()`.
    public func delete(_ number: Int) throws(TransportError) {
        let h = try sameSession()
        state.begin(collect: false)
        try perform(h, path: String(number), custom: "DELE", noBody: true)
    }

    /// QUIT: ends the session; the server deletes what was marked. Returns once the server
    /// has said so.
    public func quit() throws(TransportError) {
        guard let h = handle else { return }
        defer { abandon() }
        guard transfers > 0 else { return }
        state.begin(collect: false)
        try perform(h, path: "", custom: "QUIT", noBody: true, checkSession: true)
    }

    // MARK: - Transfers

    private func sameSession() throws(TransportError) -> UnsafeMutableRawPointer {
        guard let h = handle, transfers > 0 else { throw TransportError(.temporary, "no POP3 session: list the mailbox first") }
        return h
    }

    private func multiline(_ command: String) throws(TransportError) -> [ArraySlice<UInt8>] {
        guard let h = handle else { throw TransportError(.temporary, "the POP3 session was closed") }
        state.begin(collect: true)
        defer { state.body = [] }
        try perform(h, path: "", custom: command.isEmpty ? nil : command, noBody: false)
        let body = state.body
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for i in 0..<body.count where body[i] == 0x0A {
            var end = i
            if end > start && body[end - 1] == 0x0D { end -= 1 }
            if end > start { lines.append(body[start..<end]) }
            start = i + 1
        }
        if start < body.count { lines.append(body[start...]) }
        return lines
    }

    private func perform(_ h: UnsafeMutableRawPointer, path: String, custom: String?, noBody: Bool,
                         checkSession: Bool = true) throws(TransportError) {
        var rc = wt_curl_set_string(h, CURLOPT_URL, baseURL + path)
        if rc == CURLE_OK { rc = custom.map { wt_curl_set_string(h, CURLOPT_CUSTOMREQUEST, $0) } ?? wt_curl_set_string(h, CURLOPT_CUSTOMREQUEST, nil) }
        if rc == CURLE_OK { rc = wt_curl_set_long(h, CURLOPT_NOBODY, noBody ? 1 : 0) }
        guard rc == CURLE_OK else { throw TransportError(.temporary, "libcurl refused a POP3 option: \(String(cString: curl_easy_strerror(rc)))") }
        errorBuffer[0] = 0
        rc = curl_easy_perform(h)
        let first = transfers == 0
        transfers += 1
        var connects = 0
        _ = wt_curl_get_long(h, CURLINFO_NUM_CONNECTS, &connects)
        if !first && connects > 0 && checkSession {
            // A new session: numbers from the listing may name other messages now.
            if custom == "DELE" && rc == CURLE_OK {
                state.begin(collect: false)
                _ = wt_curl_set_string(h, CURLOPT_CUSTOMREQUEST, "RSET")
                _ = wt_curl_set_string(h, CURLOPT_URL, baseURL)
                _ = wt_curl_set_long(h, CURLOPT_NOBODY, 1)
                let reset = curl_easy_perform(h)
                if reset != CURLE_OK {
                    // The new session is gone too, and a session that never reaches QUIT deletes nothing.
                }
            }
            abandon()
            throw TransportError(.temporary, "the connection to \(endpoint) was lost and made again: the rest is left for the next pass")
        }
        if rc != CURLE_OK { throw classify(rc, command: custom ?? (path.isEmpty ? "LIST" : "RETR")) }
    }

    private func makeHandle() throws(TransportError) -> UnsafeMutableRawPointer {
        guard let h = curl_easy_init() else { throw TransportError(.temporary, "libcurl could not make a handle") }
        let context = Unmanaged.passUnretained(state).toOpaque()
        var check = CurlOptionCheck()
        check.common(h, protocols: "pop3,pop3s", requireSTARTTLS: settings.security == .startTLS, caFile: settings.caFile,
                     timeout: settings.timeoutSeconds, errorBuffer: errorBuffer)
        check.require(wt_curl_set_string(h, CURLOPT_USERNAME, settings.user), "user")
        check.require(wt_curl_set_string(h, CURLOPT_PASSWORD, settings.password), "password")
        check.require(wt_curl_set_write_function(h, popWrite), "write function")
        check.require(wt_curl_set_pointer(h, CURLOPT_WRITEDATA, context), "write data")
        // The debug stream is how replies are seen for error messages; nothing is printed.
        check.require(wt_curl_set_debug_function(h, popWatch), "debug function")
        check.require(wt_curl_set_pointer(h, CURLOPT_DEBUGDATA, context), "debug data")
        check.require(wt_curl_set_long(h, CURLOPT_VERBOSE, 1), "verbose")
        try check.finish(h)
        return h
    }

    // MARK: - Errors

    private func classify(_ rc: CURLcode, command: String) -> TransportError {
        let detail = String(cString: errorBuffer)
        // libcurl's own text never holds the password; what the server said might.
        let curlText = detail.isEmpty ? String(cString: curl_easy_strerror(rc)) : detail
        let said = state.lastError.map { ": the server said \"\(state.withoutSecrets($0))\"" } ?? ""
        if let e = curlConnectionError(rc, endpoint: endpoint, host: settings.host, protocolName: "POP3", curlText: curlText,
                                       timeout: settings.timeoutSeconds) {
            return e
        }
        switch rc {
        case CURLE_LOGIN_DENIED, CURLE_AUTH_ERROR:
            return TransportError(.temporary, "authentication failed at \(endpoint): check the POP3 user (\(printable(settings.user, cap: 100))) and password\(said)")
        case CURLE_USE_SSL_FAILED:
            return TransportError(.temporary, "\(endpoint) does not offer STARTTLS: nothing was read (starttls never falls back to plain text)")
        case CURLE_WRITE_ERROR where state.tooLarge:
            return TransportError(.permanent, "the message is larger than \(settings.maxMessageBytes) bytes")
        default:
            return TransportError(.temporary, "POP3 \(command) at \(endpoint) failed: \(printable(curlText, cap: 300))\(said)")
        }
    }
}

private final class POP3TransferState {
    var body: [UInt8] = []
    var collect = false
    var maxBytes = 64 << 20
    var tooLarge = false
    var lastError: String?
    var secrets: [String] = []

    func begin(collect: Bool) {
        body = []
        self.collect = collect
        tooLarge = false
        lastError = nil
    }

    func heard(_ line: ArraySlice<UInt8>) {
        if line.starts(with: Array("-ERR".utf8)) {
            lastError = printable(line.dropFirst(4), cap: 300)
        }
    }

    /// A server's text that quotes the password is left out whole.
    func withoutSecrets(_ text: String) -> String {
        secrets.contains(where: { text.contains($0) }) ? "(left out: it quoted the password)" : text
    }
}

private func popWrite(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    guard let context else { return 0 }
    let state = Unmanaged<POP3TransferState>.fromOpaque(context).takeUnretainedValue()
    let n = size * count
    guard let data, n > 0 else { return n }
    if !state.collect { return n }
    if state.body.count + n > state.maxBytes {
        state.tooLarge = true
        return 0
    }
    state.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: n))
    return n
}

private func popWatch(_ handle: UnsafeMutableRawPointer?, _ kind: curl_infotype, _ data: UnsafeMutablePointer<CChar>?,
                      _ size: Int, _ context: UnsafeMutableRawPointer?) -> Int32 {
    guard let data, let context, kind == CURLINFO_HEADER_IN else { return 0 }
    let state = Unmanaged<POP3TransferState>.fromOpaque(context).takeUnretainedValue()
    let bytes = Array(UnsafeRawBufferPointer(start: data, count: min(size, 1024)))
    var start = 0
    for i in 0..<bytes.count where bytes[i] == 0x0A {
        var end = i
        if end > start && bytes[end - 1] == 0x0D { end -= 1 }
        state.heard(bytes[start..<end])
        start = i + 1
    }
    if start < bytes.count { state.heard(bytes[start...]) }
    return 0
}

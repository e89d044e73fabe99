#if canImport(Glibc)
import Glibc
#endif
internal import CCurl

public struct SMTPSettings: Sendable {
    public enum Security: String, Sendable { case startTLS = "starttls", implicitTLS = "tls", none = "none" }
    public var host: String
    /// 465 means implicit TLS unless `security` says otherwise.
    public var port: Int
    /// `.startTLS` is required: a server that does not offer STARTTLS gets nothing, never
    /// plain text. `.none` is plain text, and refuses to send a password off this machine.
    public var security: Security
    /// AUTH only when set.
    public var user: String?
    /// Handed to libcurl on its own (never in a URL, argv or the environment); never in an error.
    public var password: String?
    /// Trusted CAs (PEM) instead of the system's; the peer and its name are always verified.
    public var caFile: String?
    /// Connecting, and each wait for the server (a reply, or a transfer making no progress).
    public var timeoutSeconds: Int
    /// The EHLO name; by default the machine's host name.
    public var heloName: String?

    public init(host: String, port: Int = 587, security: Security? = nil, user: String? = nil, password: String? = nil,
                caFile: String? = nil, timeoutSeconds: Int = 60, heloName: String? = nil) {
        self.host = host
        self.port = port
        self.security = security ?? (port == 465 ? .implicitTLS : .startTLS)
        self.user = user
        self.password = password
        self.caFile = caFile
        self.timeoutSeconds = timeoutSeconds
        self.heloName = heloName
    }
}

/// SMTP through libcurl. One easy handle serves every message, so libcurl keeps the
/// connection (and its TLS session and AUTH) open from one message to the next.
///
/// Recipients are all or nothing: a refused RCPT fails the whole transaction before DATA
/// (CURLOPT_MAIL_RCPT_ALLLOWFAILS stays off), so no recipient gets the message and a retry
/// never sends it twice. Send one message per recipient to have each recipient's own fate.
///
/// Errors: a 5xx reply to RCPT TO, DATA or the end of the data is `.permanent` (this
/// recipient or this message will never be accepted); everything else is `.temporary`:
/// 4xx replies, connection and TLS failures, timeouts, and configuration problems an
/// administrator can fix (authentication failed, a certificate that does not verify, no
/// STARTTLS, a refused sender or EHLO, a 5xx greeting).
///
/// Line ends are made CRLF before sending (a bare LF or CR becomes CRLF), so text in a
/// message can never end the DATA early and smuggle a second message.
public final class SMTPTransport: MailTransport {
    private let settings: SMTPSettings
    private let url: String
    private let endpoint: String
    private let secrets: [String]
    private var handle: UnsafeMutableRawPointer?
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private let state = TransferState()

    public init(_ settings: SMTPSettings) throws(TransportError) {
        self.settings = settings
        let host = try Self.checkHost(settings.host)
        guard (1...65535).contains(settings.port) else {
            throw TransportError(.temporary, "the SMTP port \(settings.port) is not between 1 and 65535")
        }
        guard settings.timeoutSeconds >= 1 else {
            throw TransportError(.temporary, "the SMTP timeout must be at least one second")
        }
        var path = ""
        if let helo = settings.heloName {
            guard !helo.isEmpty, helo.utf8.count <= 255, helo.utf8.allSatisfy({ Self.isHeloByte($0) }) else {
                throw TransportError(.temporary, "the EHLO name \(printable(helo, cap: 80)) is not a domain or an address literal")
            }
            path = "/" + Self.percentEncoded(helo)
        }
        let scheme = settings.security == .implicitTLS ? "smtps" : "smtp"
        url = "\(scheme)://\(host):\(settings.port)\(path)"
        endpoint = "\(host):\(settings.port)"
        if let user = settings.user {
            guard !user.isEmpty, !user.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
                throw TransportError(.temporary, "the SMTP user name is empty or contains a control character")
            }
            if settings.security == .none && !Self.isLoopback(settings.host) {
                throw TransportError(.temporary, "security none would send the password in clear text to \(endpoint): use starttls or tls")
            }
        }
        if let password = settings.password, password.utf8.contains(0) {
            throw TransportError(.temporary, "the SMTP password contains a NUL byte")
        }
        if let ca = settings.caFile, access(ca, R_OK) != 0 {
            throw TransportError(.temporary, "cannot read the CA file \(printable(ca, cap: 200)): \(errnoText())")
        }
        var secrets: [String] = []
        if let password = settings.password, !password.isEmpty {
            let user = settings.user ?? ""
            secrets = [password, base64(Array(password.utf8)),
                       base64([0] + Array(user.utf8) + [0] + Array(password.utf8)),
                       base64(Array(user.utf8) + [0] + Array(user.utf8) + [0] + Array(password.utf8))]
        }
        self.secrets = secrets
        guard curlReady else { throw TransportError(.temporary, "libcurl could not be initialised") }
        state.mustAuthenticate = settings.user != nil
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        // From here self is whole: should this throw, deinit frees the buffer.
        handle = try makeHandle()
    }

    deinit {
        close()
        errorBuffer.deallocate()
    }

    public func close() {
        if let h = handle {
            // Closing the cached connection sends QUIT.
            curl_easy_cleanup(h)
            handle = nil
        }
    }

    public func send(_ message: [UInt8], from sender: String, to recipients: [String]) throws(TransportError) {
        try checkEnvelopeAddress(sender, role: "sender", allowEmpty: true)
        if recipients.isEmpty { throw TransportError(.permanent, "no recipients") }
        for r in recipients { try checkEnvelopeAddress(r, role: "recipient", allowEmpty: false) }
        let h: UnsafeMutableRawPointer
        if let existing = handle { h = existing } else { h = try makeHandle(); handle = h }

        var list: UnsafeMutablePointer<curl_slist>? = nil
        for r in recipients {
            guard let next = curl_slist_append(list, r) else {
                curl_slist_free_all(list)
                throw TransportError(.temporary, "out of memory")
            }
            list = next
        }
        defer {
            _ = wt_curl_set_list(h, CURLOPT_MAIL_RCPT, nil)
            curl_slist_free_all(list)
        }
        let body = Self.crlfLineEnds(message)
        defer { state.body = [] }
        var rc = wt_curl_set_string(h, CURLOPT_MAIL_FROM, sender)
        if rc == CURLE_OK { rc = wt_curl_set_list(h, CURLOPT_MAIL_RCPT, list) }
        if rc == CURLE_OK { rc = wt_curl_set_offset(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(body.count)) }
        guard rc == CURLE_OK else { throw TransportError(.temporary, "libcurl refused the envelope: \(String(cString: curl_easy_strerror(rc)))") }
        for attempt in 0..<2 {
            state.begin(body)
            errorBuffer[0] = 0
            if attempt == 1 { _ = wt_curl_set_long(h, CURLOPT_FRESH_CONNECT, 1) }
            rc = curl_easy_perform(h)
            if attempt == 1 { _ = wt_curl_set_long(h, CURLOPT_FRESH_CONNECT, 0) }
            if rc == CURLE_OK { return }
            // A kept connection the server has closed (or a NAT forgot) fails on the first
            // command; nothing of the message went out, so once more on a new connection.
            if attempt == 0 && state.failedOnAKeptConnectionBeforeData { continue }
            break
        }
        throw classify(rc)
    }

    // MARK: - Set-up

    private func makeHandle() throws(TransportError) -> UnsafeMutableRawPointer {
        guard let h = curl_easy_init() else { throw TransportError(.temporary, "libcurl could not make a handle") }
        let context = Unmanaged.passUnretained(state).toOpaque()
        let timeout = settings.timeoutSeconds
        var check = CurlOptionCheck()
        check.common(h, protocols: "smtp,smtps", requireSTARTTLS: settings.security == .startTLS, caFile: settings.caFile,
                     timeout: timeout, errorBuffer: errorBuffer)
        check.require(wt_curl_set_string(h, CURLOPT_URL, url), "URL")
        check.require(wt_curl_set_long(h, CURLOPT_UPLOAD, 1), "upload")
        if let user = settings.user {
            check.require(wt_curl_set_string(h, CURLOPT_USERNAME, user), "user")
            check.require(wt_curl_set_string(h, CURLOPT_PASSWORD, settings.password ?? ""), "password")
        }
        check.require(wt_curl_set_read_function(h, smtpReadBody), "read function")
        check.require(wt_curl_set_pointer(h, CURLOPT_READDATA, context), "read data")
        // The debug stream is how replies are seen for error messages; nothing is printed.
        check.require(wt_curl_set_debug_function(h, smtpWatch), "debug function")
        check.require(wt_curl_set_pointer(h, CURLOPT_DEBUGDATA, context), "debug data")
        check.require(wt_curl_set_long(h, CURLOPT_VERBOSE, 1), "verbose")
        try check.finish(h)
        return h
    }

    private static func checkHost(_ host: String) throws(TransportError) -> String {
        let bytes = Array(host.utf8)
        let ok = !bytes.isEmpty && bytes.count <= 253 && bytes.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || b == UInt8(ascii: ".")
                || b == UInt8(ascii: "-") || b == UInt8(ascii: ":") || b >= 0x80
        }
        guard ok else { throw TransportError(.temporary, "the SMTP host \(printable(host, cap: 80)) is not a host name or an address") }
        return bytes.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
    }

    private static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        var address = in_addr()
        return inet_pton(AF_INET, host, &address) == 1 && UInt32(bigEndian: address.s_addr) >> 24 == 127
    }

    private static func isHeloByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A)
            || b == UInt8(ascii: ".") || b == UInt8(ascii: "-") || b == UInt8(ascii: "[") || b == UInt8(ascii: "]")
            || b == UInt8(ascii: ":")
    }

    private static func percentEncoded(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for b in text.utf8 {
            if (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || b == UInt8(ascii: ".") || b == UInt8(ascii: "-") {
                out.append(b)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// CRLF everywhere: a bare LF or a bare CR becomes CRLF. The common case (already CRLF)
    /// is checked first and not copied.
    static func crlfLineEnds(_ message: [UInt8]) -> [UInt8] {
        let n = message.count
        var clean = true
        var i = 0
        while i < n {
            let b = message[i]
            if b == 0x0D {
                if i + 1 < n && message[i + 1] == 0x0A { i += 2; continue }
                clean = false; break
            }
            if b == 0x0A { clean = false; break }
            i += 1
        }
        if clean { return message }
        var out: [UInt8] = []
        out.reserveCapacity(n + n / 16)
        i = 0
        while i < n {
            let b = message[i]
            if b == 0x0D {
                out += [0x0D, 0x0A]
                i += (i + 1 < n && message[i + 1] == 0x0A) ? 2 : 1
            } else if b == 0x0A {
                out += [0x0D, 0x0A]
                i += 1
            } else {
                out.append(b)
                i += 1
            }
        }
        return out
    }

    // MARK: - Errors

    private func classify(_ rc: CURLcode) -> TransportError {
        let detail = String(cString: errorBuffer)
        let curlText = withoutSecrets(detail.isEmpty ? String(cString: curl_easy_strerror(rc)) : detail)
        var reply = state.refusal
        if let text = reply?.text { reply?.text = withoutSecrets(text) }
        let said = reply.map { ": \($0.code) \($0.text)" } ?? ""
        let timeout = settings.timeoutSeconds

        if state.unauthenticatedSend || (state.mustAuthenticate && !state.authenticated && state.mailSent) {
            return TransportError(.temporary, "\(endpoint) did not offer authentication (AUTH), so smtp_user was not used and nothing was sent", smtpCode: reply?.code)
        }
        if let e = curlConnectionError(rc, endpoint: endpoint, host: settings.host, protocolName: "SMTP", curlText: curlText, timeout: timeout) {
            return e
        }
        switch rc {
        case CURLE_LOGIN_DENIED, CURLE_AUTH_ERROR:
            if reply == nil, state.mustAuthenticate, !state.authenticated {
                return TransportError(.temporary, "authentication failed: \(endpoint) offers no AUTH mechanism libcurl can use", smtpCode: nil)
            }
            return TransportError(.temporary, "authentication failed: check smtp_user and the password (user \(printable(settings.user ?? "", cap: 100)))\(said)", smtpCode: reply?.code)
        case CURLE_USE_SSL_FAILED:
            return TransportError(.temporary, "\(endpoint) does not offer STARTTLS: nothing was sent (security starttls never falls back to plain text)\(said)", smtpCode: reply?.code)
        default:
            break
        }
        if let reply {
            let permanent = reply.code >= 500 && (reply.command == .recipient || reply.command == .data || reply.command == .endOfData)
            let what: String
            switch reply.command {
            case .greeting: what = "\(endpoint) refused the connection"
            case .hello: what = "\(endpoint) refused the EHLO"
            case .sender: what = "\(endpoint) refused the sender <\(state.sender)>"
            case .recipient: what = "\(endpoint) refused the recipient <\(reply.argument)>"
            case .data, .endOfData: what = "\(endpoint) refused the message"
            case .auth: what = "authentication failed: check smtp_user and the password"
            case .startTLS: what = "\(endpoint) refused STARTTLS"
            case .other: what = "\(endpoint) answered \(reply.argument)"
            }
            let later = reply.code < 500 ? " (try later)" : ""
            return TransportError(permanent ? .permanent : .temporary, "\(what): \(reply.code) \(reply.text)\(later)", smtpCode: reply.code)
        }
        return TransportError(.temporary, "SMTP with \(endpoint) failed: \(printable(curlText, cap: 300))")
    }

    /// Text from the server or libcurl that quotes the password (in clear or base64) is left
    /// out whole: replacing it in place would show where a short password sits.
    private func withoutSecrets(_ text: String) -> String {
        secrets.contains(where: { text.contains($0) }) ? "(left out: it quoted the password)" : text
    }
}

/// What one transfer has sent and heard, from libcurl's debug stream. Commands are kept
/// by kind only; what follows AUTH (the credentials) is never kept.
private final class TransferState {
    enum Command: Equatable { case greeting, hello, startTLS, auth, sender, recipient, data, endOfData, other }
    struct Reply { var command: Command; var argument: String; var code: Int; var text: String }

    var body: [UInt8] = []
    var offset = 0
    var sender = ""
    var mustAuthenticate = false
    /// Whether the connection in use has completed AUTH; a new connection starts at false.
    var authenticated = false
    var unauthenticatedSend = false
    var mailSent = false
    var refusal: Reply? = nil
    /// The transfer began on a connection kept from an earlier one.
    private(set) var keptConnection = false
    private var dataSent = false

    var failedOnAKeptConnectionBeforeData: Bool {
        keptConnection && !dataSent && (refusal == nil || refusal?.code == 421)
    }

    private var eventsThisTransfer = 0
    private var command: Command = .greeting
    private var argument = ""
    private var inSASL = false
    private var replyText: [UInt8] = []

    func begin(_ body: [UInt8]) {
        self.body = body
        offset = 0
        refusal = nil
        unauthenticatedSend = false
        mailSent = false
        keptConnection = false
        dataSent = false
        eventsThisTransfer = 0
        command = .greeting
        argument = ""
        inSASL = false
        replyText = []
    }

    func sent(_ line: ArraySlice<UInt8>) {
        if eventsThisTransfer == 0 { keptConnection = true }
        eventsThisTransfer += 1
        if inSASL { command = .auth; argument = ""; return }
        let upper = String(decoding: line.prefix(16), as: UTF8.self).uppercased()
        argument = ""
        if upper.hasPrefix("EHLO") || upper.hasPrefix("HELO") {
            command = .hello
        } else if upper.hasPrefix("STARTTLS") {
            command = .startTLS
        } else if upper.hasPrefix("AUTH") {
            command = .auth
            inSASL = true
        } else if upper.hasPrefix("MAIL FROM:") {
            command = .sender
            mailSent = true
            sender = printable(Self.path(line), cap: 300)
        } else if upper.hasPrefix("RCPT TO:") {
            command = .recipient
            argument = printable(Self.path(line), cap: 300)
        } else if upper.hasPrefix("DATA") {
            command = .data
            dataSent = true
        } else {
            command = .other
            argument = printable(line.prefix(while: { $0 != 0x20 }), cap: 20)
        }
    }

    func heard(_ line: ArraySlice<UInt8>) {
        if eventsThisTransfer == 0 {
            // The first thing of a transfer is the server speaking: a new connection.
            authenticated = false
        }
        eventsThisTransfer += 1
        let bytes = Array(line)
        guard bytes.count >= 3, bytes[0...2].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return }
        let code = Int(bytes[0] - 0x30) * 100 + Int(bytes[1] - 0x30) * 10 + Int(bytes[2] - 0x30)
        let text = bytes.count > 4 ? bytes[4...] : []
        if replyText.count < 400 {
            if !replyText.isEmpty { replyText.append(0x20) }
            replyText += text.prefix(400 - replyText.count)
        }
        if bytes.count > 3 && bytes[3] == UInt8(ascii: "-") { return }
        // The last line of a reply.
        if command == .auth || inSASL {
            if code == 235 { authenticated = true }
            if code != 334 { inSASL = false }
        }
        if code >= 400 && refusal == nil {
            refusal = Reply(command: command, argument: argument, code: code, text: printable(replyText, cap: 400))
        }
        replyText = []
    }

    func sendingBody() -> Bool {
        command = .endOfData
        if mustAuthenticate && !authenticated {
            unauthenticatedSend = true
            return false
        }
        return true
    }

    private static func path(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        guard let open = line.firstIndex(of: UInt8(ascii: "<")) else { return line }
        let rest = line[(open + 1)...]
        return rest.prefix(while: { $0 != UInt8(ascii: ">") })
    }
}

private func smtpReadBody(_ buffer: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    guard let buffer, let context else { return 0 }
    let state = Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue()
    if state.offset == 0 && !state.sendingBody() { return Int(CURL_READFUNC_ABORT) }
    let n = min(size * count, state.body.count - state.offset)
    if n > 0 {
        state.body.withUnsafeBytes { raw in
            UnsafeMutableRawPointer(buffer).copyMemory(from: raw.baseAddress! + state.offset, byteCount: n)
        }
        state.offset += n
    }
    return n
}

private func smtpWatch(_ handle: UnsafeMutableRawPointer?, _ kind: curl_infotype, _ data: UnsafeMutablePointer<CChar>?,
                       _ size: Int, _ context: UnsafeMutableRawPointer?) -> Int32 {
    guard let data, let context else { return 0 }
    let state = Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue()
    guard kind == CURLINFO_HEADER_IN || kind == CURLINFO_HEADER_OUT else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    // One call may carry several lines.
    var lines: [ArraySlice<UInt8>] = []
    var start = 0
    let all = Array(bytes)
    for i in 0..<all.count where all[i] == 0x0A {
        var end = i
        if end > start && all[end - 1] == 0x0D { end -= 1 }
        lines.append(all[start..<end])
        start = i + 1
    }
    if start < all.count { lines.append(all[start...]) }
    for line in lines where !line.isEmpty {
        if kind == CURLINFO_HEADER_IN { state.heard(line) } else { state.sent(line) }
    }
    return 0
}

private func base64(_ bytes: [UInt8]) -> String {
    let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var out: [UInt8] = []
    var i = 0
    while i + 2 < bytes.count {
        let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
        out += [table[Int(v >> 18)], table[Int(v >> 12 & 63)], table[Int(v >> 6 & 63)], table[Int(v & 63)]]
        i += 3
    }
    let rest = bytes.count - i
    if rest == 1 {
        let v = UInt32(bytes[i]) << 16
        out += [table[Int(v >> 18)], table[Int(v >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
    } else if rest == 2 {
        let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
        out += [table[Int(v >> 18)], table[Int(v >> 12 & 63)], table[Int(v >> 6 & 63)], UInt8(ascii: "=")]
    }
    return String(decoding: out, as: UTF8.self)
}

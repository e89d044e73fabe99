/// Why a message was not sent.
///
/// `kind` only decides what the caller does next: `.temporary` means try again later (the
/// server or the local mail system may recover, or an administrator may fix the
/// configuration: a wrong password, a certificate that does not verify, a refused sender);
/// `.permanent` means this message, or one of its recipients, will never be accepted.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable { case temporary, permanent }
    public var kind: Kind
    /// For a person and the log: one line, printable, never the password.
    public var message: String
    /// The server's reply code when there is one.
    public var smtpCode: Int?

    public init(kind: Kind, message: String, smtpCode: Int? = nil) {
        self.kind = kind
        self.message = message
        self.smtpCode = smtpCode
    }

    init(_ kind: Kind, _ message: String, smtpCode: Int? = nil) {
        self.init(kind: kind, message: message, smtpCode: smtpCode)
    }

    public var description: String {
        (kind == .temporary ? "temporary failure: " : "permanent failure: ") + message
    }
}

public protocol MailTransport: AnyObject {
    /// Sends one message (RFC 5322 bytes with CRLF line ends) from the envelope sender to the
    /// envelope recipients. Either every recipient is accepted or the message is sent to none.
    func send(_ message: [UInt8], from sender: String, to recipients: [String]) throws(TransportError)
    /// Ends the session (QUIT); also called on deinit. A later `send` starts a new one.
    func close()
}

/// Longest envelope address accepted (RFC 5321: 256 octets for a path).
let maxAddressLength = 256

/// Checks an envelope address before it reaches an SMTP command line or an argument vector:
/// control characters could inject commands, angle brackets could end the path early.
func checkEnvelopeAddress(_ address: String, role: String, allowEmpty: Bool) throws(TransportError) {
    if address.isEmpty {
        if allowEmpty { return }
        throw TransportError(.permanent, "the \(role) address is empty")
    }
    if address.utf8.count > maxAddressLength {
        throw TransportError(.permanent, "the \(role) address is longer than \(maxAddressLength) bytes")
    }
    for b in address.utf8 where b < 0x20 || b == 0x7F || b == UInt8(ascii: "<") || b == UInt8(ascii: ">") {
        throw TransportError(.permanent, "the \(role) address \(printable(address, cap: 80)) contains \(b < 0x20 || b == 0x7F ? "a control character" : "an angle bracket")")
    }
}

/// One printable line for the log: control characters become spaces, runs of spaces one,
/// invalid UTF-8 is repaired, at most about `cap` bytes.
func printable(_ bytes: some Collection<UInt8>, cap: Int) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(Swift.min(bytes.count, cap))
    var lastWasSpace = true
    for b in bytes {
        if out.count >= cap { break }
        if b < 0x20 || b == 0x7F {
            if !lastWasSpace { out.append(0x20); lastWasSpace = true }
        } else if b == 0x20 {
            if !lastWasSpace { out.append(0x20); lastWasSpace = true }
        } else {
            out.append(b)
            lastWasSpace = false
        }
    }
    while out.last == 0x20 { out.removeLast() }
    return String(decoding: out, as: UTF8.self)
}

func printable(_ text: String, cap: Int) -> String {
    printable(text.utf8, cap: cap)
}

/// A mailbox to write: an optional display name (any text) and an addr-spec.
public struct MailAddress: Sendable, Equatable {
    /// Display name; untrusted text, made fit for a header by `headerText` when written.
    public var name: String?
    /// addr-spec ("jane@example.com"), written between angle brackets.
    public var address: String

    public init(name: String?, address: String) {
        self.name = name
        self.address = address
    }
}

/// One message to send.
public struct OutgoingMail: Sendable {
    public var from: MailAddress
    public var to: [MailAddress]
    /// Untrusted text (it comes from incoming mail): written as `headerText(subject)`.
    public var subject: String
    /// Our own id, without <>: invalid ones throw.
    public var messageID: String
    /// Without <>. An id that cannot be written safely (empty, spaces, controls, non-ASCII,
    /// `<>()"\`, over 900 octets) is left out rather than failing the message.
    public var inReplyTo: String?
    /// Without <>, oldest first; invalid ids are left out as for `inReplyTo`, and of more than
    /// 20 the first and the latest 19 are written.
    public var references: [String]
    /// Seconds since 1970, written in UTC; years 1900 to 9999.
    public var date: Int64
    /// The plain-text body. Line ends CRLF, LF and a lone CR all become one line break; a
    /// last line without a line break gets one.
    public var text: String
    /// When set, the message is multipart/alternative: `text` first, this second (line ends as for `text`).
    public var html: String?
    /// Extra fields, e.g. ("Auto-Submitted", "auto-generated"); values are written as
    /// `headerText(value)`, as unstructured text: non-ASCII words become encoded words, so an
    /// address field (Reply-To) must be plain ASCII ("<helpdesk@example.com>"). Names are
    /// checked (see `compose`).
    public var headers: [(name: String, value: String)]

    public init(from: MailAddress, to: [MailAddress], subject: String, messageID: String, inReplyTo: String? = nil,
                references: [String] = [], date: Int64, text: String, html: String? = nil,
                headers: [(name: String, value: String)] = []) {
        self.from = from
        self.to = to
        self.subject = subject
        self.messageID = messageID
        self.inReplyTo = inReplyTo
        self.references = references
        self.date = date
        self.text = text
        self.html = html
        self.headers = headers
    }
}

public struct ComposeError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The message as bytes ready for SMTP or sendmail: CRLF line ends only, no line over 998
/// octets (header lines folded at white space near 78 where possible, encoded words
/// otherwise), MIME-Version 1.0, UTF-8.
///
/// Throws for: an address with CR, LF, NUL or any other control, space, non-ASCII, `<>,;:()"\`,
/// not exactly one "@" between a local part and a domain, or over 320 octets; no recipient; a
/// message ID that `OutgoingMail.inReplyTo` would leave out; a date outside years 1900-9999;
/// an extra header name that is not printable ASCII without colon (1 to 50 octets), or is one
/// the composer writes itself (From, To, Subject, Date, Message-ID, In-Reply-To, References,
/// MIME-Version, Content-*) or Bcc (it would reach every recipient).
public func compose(_ mail: OutgoingMail) throws(ComposeError) -> [UInt8] {
    guard !mail.to.isEmpty else { throw ComposeError("no recipient") }
    try checkAddress(mail.from.address)
    for a in mail.to { try checkAddress(a.address) }
    guard isWritableID(mail.messageID) else { throw ComposeError("invalid message ID") }
    for h in mail.headers { try checkFieldName(h.name) }
    let date = try rfc5322Date(mail.date)

    var w = HeaderWriter()
    w.begin("From")
    w.mailboxes([mail.from])
    w.end()
    w.begin("To")
    w.mailboxes(mail.to)
    w.end()
    w.begin("Subject")
    w.unstructured(headerText(mail.subject))
    w.end()
    w.begin("Date")
    w.chunk(Array(date.utf8))
    w.end()
    w.begin("Message-ID")
    w.chunk(angle(mail.messageID))
    w.end()
    if let r = mail.inReplyTo, isWritableID(r) {
        w.begin("In-Reply-To")
        w.chunk(angle(r))
        w.end()
    }
    var refs = mail.references.filter(isWritableID)
    if refs.count > maxReferences { refs = [refs[0]] + refs.suffix(maxReferences - 1) }
    if !refs.isEmpty {
        w.begin("References")
        for r in refs { w.chunk(angle(r)) }
        w.end()
    }
    for h in mail.headers {
        w.begin(h.name)
        w.unstructured(headerText(h.value))
        w.end()
    }
    w.line("MIME-Version: 1.0")

    let text = encodeBody(mail.text)
    guard let htmlSource = mail.html else {
        w.line("Content-Type: text/plain; charset=utf-8")
        w.line("Content-Transfer-Encoding: " + (text.quotedPrintable ? "quoted-printable" : "7bit"))
        w.out += crlf
        return w.out + text.bytes
    }
    var parts = [text, encodeBody(htmlSource)]
    let boundary = multipartBoundary(mail.messageID, [mail.text, htmlSource], &parts)
    w.line("Content-Type: multipart/alternative;")
    w.line(" boundary=\"\(boundary)\"")
    w.out += crlf
    let b = Array(boundary.utf8)
    for (k, p) in parts.enumerated() {
        w.out += dashes + b + crlf
        w.line("Content-Type: text/\(k == 0 ? "plain" : "html"); charset=utf-8")
        w.line("Content-Transfer-Encoding: " + (p.quotedPrintable ? "quoted-printable" : "7bit"))
        w.out += crlf
        w.out += p.bytes
        // The line break before a delimiter belongs to the delimiter (RFC 2046).
        w.out += crlf
    }
    w.out += dashes + b + dashes + crlf
    return w.out
}

/// Text made safe for HTML element content and attribute values: & < > " ' escaped.
public func htmlEscape(_ s: String) -> String {
    var out = String.UnicodeScalarView()
    for u in s.unicodeScalars {
        switch u {
        case "&": out.append(contentsOf: "&amp;".unicodeScalars)
        case "<": out.append(contentsOf: "&lt;".unicodeScalars)
        case ">": out.append(contentsOf: "&gt;".unicodeScalars)
        case "\"": out.append(contentsOf: "&quot;".unicodeScalars)
        case "'": out.append(contentsOf: "&#39;".unicodeScalars)
        default: out.append(u)
        }
    }
    return String(out)
}

/// Text from incoming mail made fit for one header field value: CR, LF, NUL, other C0/C1
/// controls, U+2028 and U+2029 become spaces, runs of white space one space, trimmed.
/// White space is the ASCII space and every Unicode White_Space character (NBSP, U+3000...):
/// each becomes one ASCII space, so the value reads the same after any header unfolding.
public func headerText(_ s: String) -> String {
    var s = s
    return s.withUTF8 { p in
        var out: [UInt8] = []
        out.reserveCapacity(p.count)
        var pendingSpace = false
        var i = 0
        while i < p.count {
            let c = p[i]
            let n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2
            if c < 0x80 ? (c <= 0x20 || c == 0x7F) : isSpaceOrC1(p, i, n) {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace {
                    out.append(0x20)
                    pendingSpace = false
                }
                for k in i..<(i + n) { out.append(p[k]) }
            }
            i += n
        }
        return String(decoding: out, as: UTF8.self)
    }
}

// MARK: - Limits

/// Header lines are folded to at most 76 octets where possible: RFC 2047 limits a line that
/// holds encoded words to 76, and it is near RFC 5322's 78.
let lineLimit = 76
/// RFC 2047: an encoded word is at most 75 characters.
let maxEncodedWord = 75
let maxAddress = 320
/// Long enough for any real id, short enough that "In-Reply-To: <id>" stays under 998.
let maxID = 900
let maxReferences = 20
/// Room on the first line for the name, the colon and one encoded word of one character.
let maxFieldName = 50
/// RFC 5322 line limit without the CRLF.
let maxLine = 998

let crlf: [UInt8] = [13, 10]
let dashes: [UInt8] = [45, 45]

/// Whether the UTF-8 sequence of `n` octets at `i` is a C1 control, U+2028, U+2029 or another
/// Unicode White_Space character: U+0085, U+00A0, U+1680, U+2000-U+200A, U+202F, U+205F, U+3000.
@inline(__always) func isSpaceOrC1(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ n: Int) -> Bool {
    switch n {
    case 2:
        return p[i] == 0xC2 && p[i + 1] <= 0xA0
    case 3:
        let a = p[i], b = p[i + 1], c = p[i + 2]
        if a == 0xE2 && b == 0x80 { return c <= 0x8A || c == 0xA8 || c == 0xA9 || c == 0xAF }
        return (a == 0xE2 && b == 0x81 && c == 0x9F) || (a == 0xE3 && b == 0x80 && c == 0x80)
            || (a == 0xE1 && b == 0x9A && c == 0x80)
    default:
        return false
    }
}

// MARK: - Checks

func checkAddress(_ a: String) throws(ComposeError) {
    let b = Array(a.utf8)
    guard !b.isEmpty, b.count <= maxAddress else { throw ComposeError("invalid address: length \(b.count)") }
    var at = -1
    for (i, c) in b.enumerated() {
        switch c {
        case 0..<0x21, 0x7F...:
            throw ComposeError("invalid address: control, space or non-ASCII character")
        case UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: ":"),
             UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "\""), UInt8(ascii: "\\"):
            throw ComposeError("invalid address: \"\(Character(Unicode.Scalar(c)))\"")
        case UInt8(ascii: "@"):
            if at >= 0 { throw ComposeError("invalid address: more than one @") }
            at = i
        default:
            break
        }
    }
    guard at > 0, at < b.count - 1 else { throw ComposeError("invalid address: no local part, @ and domain") }
}

/// An id that can stand between <> on a line of its own and reads back unchanged.
func isWritableID(_ id: String) -> Bool {
    let b = id.utf8
    guard !b.isEmpty, b.count <= maxID else { return false }
    for c in b {
        if c < 0x21 || c >= 0x7F { return false }
        switch c {
        case UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "\""), UInt8(ascii: "\\"):
            return false
        default:
            continue
        }
    }
    return true
}

private let ownFields: Set<String> = ["from", "to", "subject", "date", "message-id", "in-reply-to", "references",
                                      "mime-version", "bcc"]

func checkFieldName(_ name: String) throws(ComposeError) {
    let b = name.utf8
    guard !b.isEmpty, b.count <= maxFieldName else { throw ComposeError("invalid header name: length \(b.count)") }
    for c in b where c < 0x21 || c > 0x7E || c == UInt8(ascii: ":") {
        throw ComposeError("invalid header name: not printable ASCII without colon")
    }
    let lower = String(decoding: b.map { $0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0 }, as: UTF8.self)
    if ownFields.contains(lower) || lower.hasPrefix("content-") {
        throw ComposeError("header \(name) is written by the composer")
    }
}

private func angle(_ id: String) -> [UInt8] { [UInt8(ascii: "<")] + Array(id.utf8) + [UInt8(ascii: ">")] }

// MARK: - Date

/// "Thu, 01 Jan 1970 00:00:00 +0000".
func rfc5322Date(_ t: Int64) throws(ComposeError) -> String {
    // 1900-01-01 and 10000-01-01 in seconds since 1970.
    guard t >= -2_208_988_800, t < 253_402_300_800 else { throw ComposeError("date outside years 1900-9999") }
    let days = t >= 0 ? t / 86_400 : (t - 86_399) / 86_400
    let secs = Int(t - days * 86_400)
    // Civil date from days since 1970 (H. Hinnant's algorithm).
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = Int(doy - (153 * mp + 2) / 5 + 1)
    let month = Int(mp < 10 ? mp + 3 : mp - 9)
    let year = Int(yoe + era * 400 + (month <= 2 ? 1 : 0))
    // 1970-01-01 was a Thursday.
    let weekday = Int(((days % 7) + 7 + 3) % 7)
    let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    return "\(names[weekday]), \(two(day)) \(months[month - 1]) \(year) \(two(secs / 3600)):\(two(secs / 60 % 60)):\(two(secs % 60)) +0000"
}

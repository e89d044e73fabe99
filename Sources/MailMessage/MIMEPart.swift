#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Content-Transfer-Encoding of a part.
public enum TransferEncoding: Sendable, Equatable {
    /// 7bit, 8bit or none: lines, whose CRLF ends are read as LF, so a part has the same bytes
    /// (and digest) whether the message came with CRLF (SMTP, POP3) or LF (Postfix's pipe).
    case identity
    /// Bytes as sent.
    case binary
    case base64
    case quotedPrintable
    case uuencode
    case unknown(String)
}

extension TransferEncoding {
    /// The name stored with an attachment that is kept encoded.
    public var name: String {
        switch self {
        case .identity: return "identity"
        case .binary: return "binary"
        case .base64: return "base64"
        case .quotedPrintable: return "quoted-printable"
        case .uuencode: return "x-uuencode"
        case .unknown(let n): return n
        }
    }

    public init(name: String) {
        switch name {
        case "base64": self = .base64
        case "quoted-printable": self = .quotedPrintable
        case "x-uuencode": self = .uuencode
        case "identity", "": self = .identity
        case "binary": self = .binary
        default: self = .unknown(name)
        }
    }

    /// Decodes bytes written in this encoding.
    public func decode(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        bytes.withUnsafeBufferPointer { b in
            switch self {
            case .base64: decodeBase64(b) { out.append(contentsOf: $0) }
            case .quotedPrintable: decodeQuotedPrintable(b) { out.append(contentsOf: $0) }
            case .uuencode: out = decodeUUBlock(b)
            case .identity: lineEndsToLF(b) { out.append(contentsOf: $0) }
            case .binary, .unknown: out = bytes
            }
        }
        return out
    }
}

/// One node of the MIME tree. Positions refer to `source`, which is the message's bytes, or the
/// decoded bytes of an attached message that was itself transfer-encoded.
public final class MIMEPart {
    public let source: ByteBuffer
    public let headers: Headers
    /// Where the part starts (its first header line) and where its body starts and ends.
    public let range: Range<Int>
    public let bodyRange: Range<Int>
    public let contentType: ParameterizedValue
    public let disposition: ParameterizedValue?
    public let transferEncoding: TransferEncoding
    /// Charset to read unlabelled 8-bit header text in (the message's declared charset).
    public let headerCharset: String?
    public internal(set) var children: [MIMEPart] = []
    /// The message inside a message/rfc822 part.
    public internal(set) var message: MIMEPart? = nil
    /// True when a limit stopped the parser from looking inside this part.
    public internal(set) var opaque = false
    /// For an opaque part: the first text inside it a person would read (see `TreeBuilder.textInside`).
    public internal(set) var textInside: MIMEPart? = nil
    public let depth: Int

    init(source: ByteBuffer, headers: Headers, range: Range<Int>, bodyRange: Range<Int>, contentType: ParameterizedValue,
         disposition: ParameterizedValue?, transferEncoding: TransferEncoding, headerCharset: String?, depth: Int) {
        self.source = source
        self.headers = headers
        self.range = range
        self.bodyRange = bodyRange
        self.contentType = contentType
        self.disposition = disposition
        self.transferEncoding = transferEncoding
        self.headerCharset = headerCharset
        self.depth = depth
    }

    /// "type/subtype", lowercased.
    public var mimeType: String { contentType.value }
    public var isMultipart: Bool { mimeType.hasPrefix("multipart/") && !opaque && !children.isEmpty }
    public var isMessage: Bool { message != nil }
    public var charset: String? { contentType["charset"] }

    /// The charset for this message's unlabelled 8-bit header text: the one its header declares,
    /// else the first a text part declares (a multipart message declares none of its own).
    var headerFallbackCharset: String? {
        if !isMultipart || Charset.isInformative(headerCharset) { return headerCharset }
        return firstTextCharset() ?? headerCharset
    }

    private func firstTextCharset() -> String? {
        for c in children {
            if c.isMultipart {
                if let cs = c.firstTextCharset() { return cs }
            } else if c.mimeType.hasPrefix("text/"), Charset.isInformative(c.charset) {
                return c.charset
            }
        }
        return nil
    }

    /// The file name: Content-Disposition filename (RFC 2231 first), else Content-Type name.
    public var filename: String? {
        let raw = disposition?["filename"] ?? contentType["name"]
        guard let raw else { return nil }
        let t = raw.trimmedWS
        return t.isEmpty ? nil : t
    }

    public var isAttachmentDisposition: Bool { disposition?.value == "attachment" }

    /// The raw (still transfer-encoded) body.
    public var rawBody: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: source.bytes[bodyRange]) }

    /// An attachment's file: the part's body, or for a multipart that a limit left unread the
    /// part as sent, header included, so that the file is a message any mail reader opens.
    public var fileRange: Range<Int> {
        opaque && mimeType.hasPrefix("multipart/") ? range.lowerBound..<bodyRange.upperBound : bodyRange
    }

    /// How the bytes of `fileRange` are encoded.
    public var fileEncoding: TransferEncoding {
        opaque && mimeType.hasPrefix("multipart/") ? .identity : transferEncoding
    }

    /// Feeds the decoded file of an attachment to `sink` in blocks.
    @discardableResult
    public func decodeFile(into sink: ByteSink) -> DecodeStats {
        Self.decode(UnsafeBufferPointer(rebasing: source.bytes[fileRange]), fileEncoding, into: sink)
    }

    /// Feeds the transfer-decoded body to `sink` in blocks; returns what went wrong, if anything.
    @discardableResult
    public func decodeBody(into sink: ByteSink) -> DecodeStats {
        Self.decode(rawBody, transferEncoding, into: sink)
    }

    static func decode(_ raw: UnsafeBufferPointer<UInt8>, _ transferEncoding: TransferEncoding, into sink: ByteSink) -> DecodeStats {
        switch transferEncoding {
        case .base64: return decodeBase64(raw, into: sink)
        case .quotedPrintable: return decodeQuotedPrintable(raw, into: sink)
        case .uuencode:
            let data = decodeUUBlock(raw)
            data.withUnsafeBufferPointer { sink($0) }
            return DecodeStats()
        case .identity:
            lineEndsToLF(raw, into: sink)
            return DecodeStats()
        case .binary, .unknown:
            if raw.count > 0 { sink(raw) }
            return DecodeStats()
        }
    }

    /// The transfer-decoded body as bytes.
    public func decodedBody() -> [UInt8] { decodedBodyWithStats().bytes }

    func decodedBodyWithStats() -> (bytes: [UInt8], stats: DecodeStats) {
        var out: [UInt8] = []
        out.reserveCapacity(transferEncoding == .base64 ? bodyRange.count * 3 / 4 + 3 : bodyRange.count)
        let stats = decodeBody { out.append(contentsOf: $0) }
        return (out, stats)
    }

    /// The body as text: transfer-decoded, read in its charset, line ends made "\n".
    public func text() -> (text: String, invalidBytes: Int, unknownCharset: Bool) {
        let bytes = decodedBody()
        let r = bytes.withUnsafeBufferPointer { Charset.decode($0, label: charset) }
        return (normalizeLineEnds(r.text), r.invalidBytes, r.unknownLabel)
    }

    /// Every leaf below this part in reading order (attached messages are leaves).
    public var leaves: [MIMEPart] {
        if isMultipart { return children.flatMap { $0.leaves } }
        return [self]
    }
}

/// "\r\n" becomes "\n". A lone "\r" is kept as sent (messages written with CR line ends
/// throughout were already read as LF).
func normalizeLineEnds(_ s: String) -> String {
    var hasCR = false
    for b in s.utf8 where b == Byte.cr { hasCR = true; break }
    if !hasCR { return s }
    var out: [UInt8] = []
    out.reserveCapacity(s.utf8.count)
    var pendingCR = false
    for b in s.utf8 {
        if pendingCR && b != Byte.lf { out.append(Byte.cr) }
        pendingCR = b == Byte.cr
        if !pendingCR { out.append(b) }
    }
    if pendingCR { out.append(Byte.cr) }
    return String(decoding: out, as: UTF8.self)
}

/// Feeds `src` to `sink` with each CRLF as LF, in runs between the CRs it drops.
func lineEndsToLF(_ src: UnsafeBufferPointer<UInt8>, into sink: ByteSink) {
    guard let base = src.baseAddress, src.count > 0 else { return }
    var start = 0
    var i = 0
    while i < src.count {
        guard let hit = memchr(base + i, Int32(Byte.cr), src.count - i) else { break }
        let cr = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        if cr + 1 < src.count, src[cr + 1] == Byte.lf {
            if cr > start { sink(UnsafeBufferPointer(start: base + start, count: cr - start)) }
            start = cr + 1
        }
        i = cr + 1
    }
    if start < src.count { sink(UnsafeBufferPointer(start: base + start, count: src.count - start)) }
}

/// A body that is one uuencoded file ("begin 644 name" ... "end").
func decodeUUBlock(_ raw: UnsafeBufferPointer<UInt8>) -> [UInt8] {
    var i = 0
    let end = raw.count
    while i < end {
        let lf = raw.nextLF(from: i, end: end)
        if lf - i >= 6, raw[i] == 98, raw[i + 1] == 101, raw[i + 2] == 103, raw[i + 3] == 105, raw[i + 4] == 110, raw[i + 5] == 32 {
            let start = min(lf + 1, end)
            var j = start
            while j < end {
                let l2 = raw.nextLF(from: j, end: end)
                var e = l2
                if e > j, raw[e - 1] == Byte.cr { e -= 1 }
                if e - j == 3, raw[j] == 101, raw[j + 1] == 110, raw[j + 2] == 100 {
                    return decodeUULines(UnsafeBufferPointer(rebasing: raw[start..<j]))
                }
                j = l2 + 1
            }
            return decodeUULines(UnsafeBufferPointer(rebasing: raw[start..<end]))
        }
        i = lf + 1
    }
    return []
}

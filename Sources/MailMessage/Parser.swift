#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Incremental front end: feed chunks as they arrive, then `finish()`. The message is kept in
/// one buffer because the tree refers into it; every way of chunking gives the same message.
public struct MessageParser {
    private let buffer: ByteBuffer
    public let options: ParserOptions

    public init(options: ParserOptions = .default, expectedSize: Int = 64 * 1024) {
        self.options = options
        buffer = ByteBuffer(capacity: max(expectedSize, 1024))
    }

    public mutating func feed(_ chunk: UnsafeRawBufferPointer) { buffer.append(chunk) }

    public mutating func feed(_ chunk: some Collection<UInt8>) { buffer.append(contentsOf: chunk) }

    public var byteCount: Int { buffer.count }

    public func finish() -> Message { Message.parse(buffer, options: options) }
}

/// Builds the MIME tree of one message in one pass, descending into each multipart as it is
/// met. Delimiter lines are matched against every boundary still open, the longest match
/// winning, so nested boundaries that are prefixes of each other, a missing close delimiter
/// and text after a delimiter (RFC 2046 only asks the line to start with it) all resolve.
struct TreeBuilder {
    let options: ParserOptions
    var defects = DefectLog()
    var partCount = 0

    init(options: ParserOptions) { self.options = options }

    /// Open boundaries, innermost last, each as "--boundary".
    typealias Stack = [[UInt8]]

    struct Delimiter {
        var lineStart: Int
        var lineEnd: Int
        var level: Int
        var isClose: Bool
    }

    mutating func parseMessage(_ source: ByteBuffer, range: Range<Int>, depth: Int, isRoot: Bool) -> MIMEPart {
        parsePart(source, start: range.lowerBound, limit: range.upperBound, stack: [], depth: depth,
                  defaultType: "text/plain", inheritedCharset: nil, isMessageRoot: true, allowMboxFrom: isRoot).part
    }

    /// The next delimiter line at or after `from` (which is a line start), or nil.
    func nextDelimiter(_ buf: UnsafeBufferPointer<UInt8>, from: Int, limit: Int, stack: Stack) -> Delimiter? {
        guard !stack.isEmpty, let base = buf.baseAddress else { return nil }
        var pos = from
        // Jump from "-" to "-": base64 bodies have none, so a whole attachment is one memchr.
        while pos + 2 < limit {
            guard let hit = memchr(base + pos, Int32(Byte.dash), limit - pos) else { return nil }
            let q = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            pos = q + 1
            guard q + 2 < limit, buf[q + 1] == Byte.dash, q == from || buf[q - 1] == Byte.lf else { continue }
            var best = -1
            for level in stack.indices {
                let needle = stack[level]
                guard q + needle.count <= limit, best < 0 || stack[best].count <= needle.count else { continue }
                let hit = needle.withUnsafeBufferPointer { memcmp(base + q, $0.baseAddress!, $0.count) == 0 }
                if hit { best = level }
            }
            if best < 0 { continue }
            let k = q + stack[best].count
            let isClose = k + 1 < limit && buf[k] == Byte.dash && buf[k + 1] == Byte.dash
            let lf = buf.nextLF(from: k, end: limit)
            return Delimiter(lineStart: q, lineEnd: min(lf + 1, limit), level: best, isClose: isClose)
        }
        return nil
    }

    /// Where content before a delimiter line ends: the line break before it belongs to it.
    @inline(__always) func contentEnd(_ buf: UnsafeBufferPointer<UInt8>, _ lineStart: Int, floor: Int) -> Int {
        var e = lineStart
        if e > floor, buf[e - 1] == Byte.lf { e -= 1 }
        if e > floor, buf[e - 1] == Byte.cr { e -= 1 }
        return e
    }

    /// Parses the part starting at `start`; returns it and the offset of the first byte after it.
    mutating func parsePart(_ source: ByteBuffer, start: Int, limit: Int, stack: Stack, depth: Int, defaultType: String,
                            inheritedCharset: String?, isMessageRoot: Bool, allowMboxFrom: Bool = false) -> (part: MIMEPart, end: Int) {
        let buf = source.bytes
        partCount += 1
        // The header ends at the empty line, or at a delimiter line of an enclosing multipart.
        let next = nextDelimiter(buf, from: start, limit: limit, stack: stack)
        let headerLimit = next?.lineStart ?? limit
        let block = scanHeaderBlock(buf, start: start, end: headerLimit, options: options,
                                    defects: &defects, allowMboxFrom: allowMboxFrom)
        let headers = Headers(source: source, fields: block.fields)
        if isMessageRoot && block.fields.isEmpty && limit > start {
            defects.append(Defect(.noHeaders, at: start))
        }
        let ct = contentType(headers, defaultType: defaultType, charset: inheritedCharset)
        if ct.tooManySections { defects.append(Defect(.parameterLimit, at: start, "Content-Type")) }
        let charset = isMessageRoot ? (ct["charset"] ?? inheritedCharset) : inheritedCharset
        let disposition = headers.raw("content-disposition").map {
            parseParameterized($0, fallbackCharset: charset, maxSections: options.maxParameterSections)
        }
        if disposition?.tooManySections == true { defects.append(Defect(.parameterLimit, at: start, "Content-Disposition")) }
        let cte = transferEncoding(headers.raw("content-transfer-encoding"), at: start)
        let bodyStart = min(block.bodyStart, headerLimit)

        func make(_ bodyEnd: Int, _ end: Int) -> MIMEPart {
            MIMEPart(source: source, headers: headers, range: start..<end, bodyRange: bodyStart..<max(bodyStart, bodyEnd),
                     contentType: ct, disposition: disposition, transferEncoding: cte, headerCharset: charset, depth: depth)
        }
        /// A leaf runs to the next delimiter of an enclosing multipart.
        func leafEnd() -> (Int, Int) {
            if let d = nextDelimiter(buf, from: bodyStart, limit: limit, stack: stack) {
                return (contentEnd(buf, d.lineStart, floor: bodyStart), d.lineStart)
            }
            return (limit, limit)
        }

        if ct.value.hasPrefix("multipart/") {
            var opaque = false
            if depth >= options.maxDepth {
                defects.append(Defect(.depthLimit, at: start, "multipart at depth \(depth)"))
                opaque = true
            } else if partCount >= options.maxParts {
                defects.append(Defect(.partLimit, at: start))
                opaque = true
            }
            if !opaque, let boundary = ct["boundary"], !boundary.isEmpty {
                var needle: [UInt8] = [Byte.dash, Byte.dash] + Array(boundary.utf8)
                // A boundary may not end in a space (RFC 2046); when one does and the lines do
                // not carry the spaces, match without them.
                if let l = needle.last, Byte.isSpace(l),
                   nextDelimiter(buf, from: bodyStart, limit: limit, stack: stack + [needle])?.level != stack.count {
                    while let l = needle.last, Byte.isSpace(l), needle.count > 2 { needle.removeLast() }
                }
                if needle.count - 2 > options.maxBoundaryLength {
                    defects.append(Defect(.boundaryTooLong, at: start))
                } else {
                    return parseMultipartBody(source, start: start, bodyStart: bodyStart, limit: limit, stack: stack + [needle],
                                              depth: depth, charset: charset, mimeType: ct.value, make: make)
                }
            } else if !opaque {
                defects.append(Defect(.missingBoundary, at: start, ct.value))
            }
            let (be, e) = leafEnd()
            let p = make(be, e)
            p.opaque = opaque
            if opaque { p.textInside = textInside(p) }
            return (p, e)
        }

        let (bodyEnd, end) = leafEnd()
        let part = make(bodyEnd, end)
        if ct.value == "message/rfc822" || ct.value == "message/global" || ct.value == "message/news" {
            if depth >= options.maxDepth {
                defects.append(Defect(.depthLimit, at: start, "attached message at depth \(depth)"))
                part.opaque = true
                part.textInside = textInside(part)
            } else if partCount >= options.maxParts {
                defects.append(Defect(.partLimit, at: start))
                part.opaque = true
                part.textInside = textInside(part)
            } else if part.bodyRange.count > 0 {
                switch cte {
                case .base64, .quotedPrintable, .uuencode:
                    let inner = ByteBuffer(capacity: part.bodyRange.count)
                    part.decodeBody { inner.append(UnsafeRawBufferPointer($0)) }
                    part.message = parseMessage(inner, range: 0..<inner.count, depth: depth + 1, isRoot: false)
                default:
                    part.message = parseMessage(source, range: part.bodyRange, depth: depth + 1, isRoot: false)
                }
            }
        }
        return (part, end)
    }

    private mutating func parseMultipartBody(_ source: ByteBuffer, start: Int, bodyStart: Int, limit: Int, stack: Stack,
                                             depth: Int, charset: String?, mimeType: String,
                                             make: (Int, Int) -> MIMEPart) -> (part: MIMEPart, end: Int) {
        let buf = source.bytes
        let own = stack.count - 1
        // Preamble: up to the first delimiter of ours. An enclosing delimiter first means ours never came.
        guard let first = nextDelimiter(buf, from: bodyStart, limit: limit, stack: stack), first.level == own else {
            defects.append(Defect(.boundaryNotFound, at: bodyStart, mimeType))
            let d = nextDelimiter(buf, from: bodyStart, limit: limit, stack: Array(stack.dropLast()))
            let end = d?.lineStart ?? limit
            return (make(d.map { contentEnd(buf, $0.lineStart, floor: bodyStart) } ?? limit, end), end)
        }
        var children: [MIMEPart] = []
        var delim = first
        var end = limit
        while true {
            if delim.level != own {
                // An enclosing multipart's delimiter: ours ends here without its close line.
                defects.append(Defect(.missingFinalBoundary, at: delim.lineStart, mimeType))
                end = delim.lineStart
                break
            }
            if delim.isClose {
                // The epilogue runs to the next enclosing delimiter.
                let outer = Array(stack.dropLast())
                end = nextDelimiter(buf, from: delim.lineEnd, limit: limit, stack: outer)?.lineStart ?? limit
                break
            }
            if partCount >= options.maxParts {
                defects.append(Defect(.partLimit, at: delim.lineEnd))
                end = limit
                break
            }
            let childType = mimeType == "multipart/digest" ? "message/rfc822" : "text/plain"
            let (child, childEnd) = parsePart(source, start: delim.lineEnd, limit: limit, stack: stack, depth: depth + 1,
                                              defaultType: childType, inheritedCharset: charset, isMessageRoot: false)
            children.append(child)
            guard let d = nextDelimiter(buf, from: childEnd, limit: limit, stack: stack) else {
                defects.append(Defect(.missingFinalBoundary, at: limit, mimeType))
                end = limit
                break
            }
            delim = d
        }
        let part = make(end, end)
        part.children = children
        return (part, end)
    }

    /// The Content-Type of a header block; one that cannot be read is the default.
    func contentType(_ headers: Headers, defaultType: String, charset: String?) -> ParameterizedValue {
        guard let raw = headers.raw("content-type") else { return ParameterizedValue(value: defaultType, parameters: [:]) }
        var ct = parseParameterized(raw, fallbackCharset: charset, maxSections: options.maxParameterSections)
        let slash = ct.value.firstIndex(of: "/")
        if slash == nil || slash == ct.value.startIndex || slash == ct.value.index(before: ct.value.endIndex) {
            // "text" alone is read as text/plain; anything else unreadable as the default.
            ct.value = ct.value == "text" ? "text/plain" : defaultType
        }
        return ct
    }

    /// The first text a person would read inside a part that a limit left unread, found
    /// without building its tree (which is what the limit bounds): header blocks are read one
    /// after another, a multipart only adding its boundary to those searched for, an attached
    /// message its header. A text/plain part wins, else the first text/html. Linear in the
    /// part: each delimiter line is matched against at most `maxDepth` boundaries, and at
    /// most `maxParts` header blocks are read.
    func textInside(_ part: MIMEPart) -> MIMEPart? {
        let source = part.source
        let buf = source.bytes
        let limit = part.bodyRange.upperBound
        var boundaries: Stack = []
        var pos: Int?
        /// The line after the next delimiter at or after `from` that opens a part, or nil.
        func nextPartStart(_ from: Int) -> Int? {
            var at = from
            while let d = nextDelimiter(buf, from: at, limit: limit, stack: boundaries) {
                if !d.isClose { return d.lineEnd }
                at = d.lineEnd
            }
            return nil
        }
        func addBoundary(_ ct: ParameterizedValue) -> Bool {
            guard ct.value.hasPrefix("multipart/"), let b = ct["boundary"], !b.isEmpty, b.utf8.count <= options.maxBoundaryLength,
                  boundaries.count < options.maxDepth else { return false }
            boundaries.append([Byte.dash, Byte.dash] + Array(b.utf8))
            return true
        }
        if part.mimeType.hasPrefix("multipart/") {
            guard addBoundary(part.contentType) else { return nil }
            pos = nextPartStart(part.bodyRange.lowerBound)
        } else if part.transferEncoding == .identity || part.transferEncoding == .binary {
            pos = part.bodyRange.lowerBound
        }
        var html: MIMEPart? = nil
        var blocks = 0
        var scratch = DefectLog(keptPerCode: 0)
        while let start = pos, blocks < options.maxParts {
            blocks += 1
            let headerLimit = nextDelimiter(buf, from: start, limit: limit, stack: boundaries)?.lineStart ?? limit
            let block = scanHeaderBlock(buf, start: start, end: headerLimit, options: options, defects: &scratch, allowMboxFrom: false)
            let headers = Headers(source: source, fields: block.fields)
            let ct = contentType(headers, defaultType: "text/plain", charset: part.headerCharset)
            let bodyStart = min(block.bodyStart, headerLimit)
            if addBoundary(ct) {
                pos = nextPartStart(bodyStart)
                continue
            }
            let cte = Self.transferEncoding(headers.raw("content-transfer-encoding"))
            if ct.value == "message/rfc822" || ct.value == "message/global" {
                // The attached message's header follows (when it is not encoded).
                pos = cte == .identity || cte == .binary ? bodyStart : nextPartStart(bodyStart)
                continue
            }
            let disposition = headers.raw("content-disposition").map {
                parseParameterized($0, fallbackCharset: part.headerCharset, maxSections: options.maxParameterSections)
            }
            if ct.value == "text/plain" || (ct.value == "text/html" && html == nil), disposition?.value != "attachment" {
                let d = nextDelimiter(buf, from: bodyStart, limit: limit, stack: boundaries)
                let bodyEnd = d.map { contentEnd(buf, $0.lineStart, floor: bodyStart) } ?? limit
                let text = MIMEPart(source: source, headers: headers, range: start..<(d?.lineStart ?? limit),
                                    bodyRange: bodyStart..<bodyEnd, contentType: ct, disposition: disposition,
                                    transferEncoding: cte, headerCharset: part.headerCharset, depth: part.depth + 1)
                if ct.value == "text/plain" { return text }
                html = text
            }
            pos = nextPartStart(bodyStart)
        }
        return html
    }

    private mutating func transferEncoding(_ raw: [UInt8]?, at offset: Int) -> TransferEncoding {
        let cte = Self.transferEncoding(raw)
        if case .unknown(let v) = cte { defects.append(Defect(.unknownTransferEncoding, at: offset, v)) }
        return cte
    }

    static func transferEncoding(_ raw: [UInt8]?) -> TransferEncoding {
        guard let raw else { return .identity }
        var v = String(decoding: raw, as: UTF8.self).asciiLowercased
        if let semi = v.firstIndex(of: ";") { v = String(v[..<semi]) }
        if let paren = v.firstIndex(of: "(") { v = String(v[..<paren]) }
        v = v.trimmedWS
        if v.hasPrefix("\"") && v.hasSuffix("\"") && v.count >= 2 { v = String(v.dropFirst().dropLast()) }
        switch v {
        case "", "7bit", "8bit", "7-bit", "8-bit", "none", "text", "plain": return .identity
        case "binary": return .binary
        case "base64", "base-64", "x-base64": return .base64
        case "quoted-printable", "x-quoted-printable", "quoted_printable", "qp": return .quotedPrintable
        case "x-uuencode", "uuencode", "x-uue", "uue": return .uuencode
        default:
            // QUIRK: misspellings seen in real mail ("base64 ", "Base64\t").
            if v.hasPrefix("base64") { return .base64 }
            if v.hasPrefix("quoted-printable") { return .quotedPrintable }
            return .unknown(v)
        }
    }
}

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

/// Builds the MIME tree of one message.
struct TreeBuilder {
    let options: ParserOptions
    var defects: [Defect] = []
    var partCount = 0

    init(options: ParserOptions) { self.options = options }

    mutating func parseMessage(_ source: ByteBuffer, range: Range<Int>, depth: Int, isRoot: Bool) -> MIMEPart {
        parsePart(source, range: range, depth: depth, defaultType: "text/plain", inheritedCharset: nil, isMessageRoot: true, allowMboxFrom: isRoot)
    }

    mutating func parsePart(_ source: ByteBuffer, range: Range<Int>, depth: Int, defaultType: String,
                            inheritedCharset: String?, isMessageRoot: Bool, allowMboxFrom: Bool = false) -> MIMEPart {
        let buf = source.bytes
        partCount += 1
        let block = scanHeaderBlock(buf, start: range.lowerBound, end: range.upperBound, options: options,
                                    defects: &defects, allowMboxFrom: allowMboxFrom)
        let headers = Headers(source: source, fields: block.fields)
        if isMessageRoot && block.fields.isEmpty && range.count > 0 {
            defects.append(Defect(.noHeaders, at: range.lowerBound))
        }
        var ct: ParameterizedValue
        if let raw = headers.raw("content-type") {
            ct = parseParameterized(raw, fallbackCharset: inheritedCharset, maxSections: options.maxParameterSections)
            if ct.tooManySections { defects.append(Defect(.parameterLimit, at: range.lowerBound, "Content-Type")) }
            let slash = ct.value.firstIndex(of: "/")
            if slash == nil || slash == ct.value.startIndex || slash == ct.value.index(before: ct.value.endIndex) {
                // "text" alone is read as text/plain; anything else unreadable as the default.
                ct.value = ct.value == "text" ? "text/plain" : defaultType
            }
        } else {
            ct = ParameterizedValue(value: defaultType, parameters: [:])
        }
        let charset = isMessageRoot ? (ct["charset"] ?? inheritedCharset) : inheritedCharset
        let disposition = headers.raw("content-disposition").map {
            parseParameterized($0, fallbackCharset: charset, maxSections: options.maxParameterSections)
        }
        let cte = transferEncoding(headers.raw("content-transfer-encoding"), at: range.lowerBound)
        let part = MIMEPart(source: source, headers: headers, range: range,
                            bodyRange: min(block.bodyStart, range.upperBound)..<range.upperBound,
                            contentType: ct, disposition: disposition, transferEncoding: cte,
                            headerCharset: charset, depth: depth)

        if ct.value.hasPrefix("multipart/") {
            if depth >= options.maxDepth {
                defects.append(Defect(.depthLimit, at: range.lowerBound, "multipart at depth \(depth)"))
                part.opaque = true
            } else if partCount >= options.maxParts {
                defects.append(Defect(.partLimit, at: range.lowerBound))
                part.opaque = true
            } else {
                parseMultipart(part, charset: charset)
            }
        } else if ct.value == "message/rfc822" || ct.value == "message/global" || ct.value == "message/news" {
            if depth >= options.maxDepth {
                defects.append(Defect(.depthLimit, at: range.lowerBound, "attached message at depth \(depth)"))
                part.opaque = true
            } else if partCount >= options.maxParts {
                defects.append(Defect(.partLimit, at: range.lowerBound))
                part.opaque = true
            } else if part.bodyRange.count > 0 {
                switch cte {
                case .base64, .quotedPrintable, .uuencode:
                    let inner = ByteBuffer(capacity: part.bodyRange.count)
                    part.decodeBody { inner.append(UnsafeRawBufferPointer($0)) }
                    part.message = parsePart(inner, range: 0..<inner.count, depth: depth + 1, defaultType: "text/plain",
                                             inheritedCharset: nil, isMessageRoot: true)
                default:
                    part.message = parsePart(source, range: part.bodyRange, depth: depth + 1, defaultType: "text/plain",
                                             inheritedCharset: nil, isMessageRoot: true)
                }
            }
        }
        return part
    }

    private mutating func transferEncoding(_ raw: [UInt8]?, at offset: Int) -> TransferEncoding {
        guard let raw else { return .identity }
        var v = String(decoding: raw, as: UTF8.self).asciiLowercased
        if let semi = v.firstIndex(of: ";") { v = String(v[..<semi]) }
        if let paren = v.firstIndex(of: "(") { v = String(v[..<paren]) }
        v = v.trimmedWS
        if v.hasPrefix("\"") && v.hasSuffix("\"") && v.count >= 2 { v = String(v.dropFirst().dropLast()) }
        switch v {
        case "", "7bit", "8bit", "binary", "7-bit", "8-bit", "none", "text", "plain": return .identity
        case "base64", "base-64", "x-base64": return .base64
        case "quoted-printable", "x-quoted-printable", "quoted_printable", "qp": return .quotedPrintable
        case "x-uuencode", "uuencode", "x-uue", "uue": return .uuencode
        default:
            // QUIRK: misspellings seen in real mail ("base64 ", "Base64\t", "bse64").
            if v.hasPrefix("base64") { return .base64 }
            if v.hasPrefix("quoted-printable") { return .quotedPrintable }
            defects.append(Defect(.unknownTransferEncoding, at: offset, v))
            return .unknown(v)
        }
    }

    /// Splits a multipart body at its delimiter lines and parses each part.
    private mutating func parseMultipart(_ part: MIMEPart, charset: String?) {
        let buf = part.source.bytes
        let start = part.bodyRange.lowerBound, end = part.bodyRange.upperBound
        guard let boundary = part.contentType["boundary"], !boundary.isEmpty else {
            defects.append(Defect(.missingBoundary, at: part.range.lowerBound, part.mimeType))
            return
        }
        var needle: [UInt8] = [ASCII.dash, ASCII.dash] + Array(boundary.utf8)
        // A boundary with trailing white space in the parameter never matches a line as written.
        while let l = needle.last, ASCII.isSpace(l), needle.count > 2 { needle.removeLast() }
        guard needle.count - 2 <= options.maxBoundaryLength else {
            defects.append(Defect(.boundaryTooLong, at: part.range.lowerBound))
            part.opaque = true
            return
        }
        let childType = part.mimeType == "multipart/digest" ? "message/rfc822" : "text/plain"
        var ranges: [Range<Int>] = []
        var contentStart: Int? = nil  // start of the current part, after a delimiter line
        var closed = false
        var pos = start
        guard needle.count > 2, let base = buf.baseAddress else { return }
        needle.withUnsafeBufferPointer { nd in
            let first = nd.count > 2 ? nd[2] : 0
            while pos < end {
                // Delimiters start a line: look at line starts only.
                let q = pos
                pos = buf.nextLF(from: pos, end: end) + 1
                guard q + nd.count <= end, buf[q] == ASCII.dash, buf[q + 1] == ASCII.dash, buf[q + 2] == first,
                      memcmp(base + q, nd.baseAddress!, nd.count) == 0 else { continue }
                var k = q + nd.count
                var isClose = false
                if k + 1 < end, buf[k] == ASCII.dash, buf[k + 1] == ASCII.dash {
                    isClose = true
                    k += 2
                }
                // Only white space may follow on the line.
                var j = k
                while j < end, ASCII.isWSP(buf[j]) { j += 1 }
                if j < end, buf[j] != ASCII.lf, buf[j] != ASCII.cr { continue }
                let lineEnd = j < end ? (buf[j] == ASCII.cr && j + 1 < end && buf[j + 1] == ASCII.lf ? j + 2 : j + 1) : end
                // The line break before the delimiter belongs to it.
                var partEnd = q
                if partEnd > start, buf[partEnd - 1] == ASCII.lf { partEnd -= 1 }
                if partEnd > start, buf[partEnd - 1] == ASCII.cr { partEnd -= 1 }
                if let cs = contentStart {
                    ranges.append(cs..<max(cs, partEnd))
                }
                if isClose {
                    closed = true
                    contentStart = nil
                    break
                }
                contentStart = lineEnd
                pos = lineEnd
            }
        }
        if !closed {
            if let cs = contentStart {
                defects.append(Defect(.missingFinalBoundary, at: end, part.mimeType))
                ranges.append(cs..<end)
            } else {
                defects.append(Defect(.boundaryNotFound, at: start, part.mimeType))
                return
            }
        }
        for r in ranges {
            if partCount >= options.maxParts {
                defects.append(Defect(.partLimit, at: r.lowerBound))
                part.opaque = part.children.isEmpty
                break
            }
            part.children.append(parsePart(part.source, range: r, depth: part.depth + 1, defaultType: childType,
                                            inheritedCharset: charset, isMessageRoot: false))
        }
    }
}

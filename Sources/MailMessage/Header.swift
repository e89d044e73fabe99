/// One header field as it appears in the message: positions into the message bytes, so that
/// a header-heavy message costs no string until a field is asked for.
public struct HeaderField: Sendable {
    public let nameRange: Range<Int>
    /// The value after the colon, folded lines included, line end excluded.
    public let valueRange: Range<Int>
}

/// The ordered header fields of one part, with case-insensitive lookup and the raw bytes kept.
public struct Headers {
    let source: ByteBuffer
    public let fields: [HeaderField]

    public var count: Int { fields.count }

    public func name(_ f: HeaderField) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: source.bytes[f.nameRange]), as: UTF8.self)
    }

    /// The raw value bytes, unfolded (CR and LF removed), without the leading white space. A line
    /// that was joined to the field without indentation (repaired) is kept apart by one space.
    public func rawValue(_ f: HeaderField) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(f.valueRange.count)
        let b = source.bytes
        var started = false
        var afterLF = false
        for i in f.valueRange {
            let c = b[i]
            if c == Byte.cr || c == Byte.lf {
                if c == Byte.lf { afterLF = true }
                continue
            }
            // A line joined without indentation (a header line with no colon, repaired) still
            // starts a new word.
            if afterLF {
                afterLF = false
                if started && !Byte.isWSP(c) { out.append(Byte.sp) }
            }
            if !started {
                if Byte.isWSP(c) { continue }
                started = true
            }
            out.append(c)
        }
        while let l = out.last, Byte.isSpace(l) { out.removeLast() }
        return out
    }

    @inline(__always) func matches(_ f: HeaderField, _ lowerName: String) -> Bool {
        let b = source.bytes
        var i = f.nameRange.lowerBound
        if f.nameRange.count != lowerName.utf8.count { return false }
        for c in lowerName.utf8 {
            if Byte.lower(b[i]) != c { return false }
            i += 1
        }
        return true
    }

    /// The first field with this name (case-insensitive).
    public func first(_ name: String) -> HeaderField? {
        let l = name.asciiLowercased
        return fields.first { matches($0, l) }
    }

    public func all(_ name: String) -> [HeaderField] {
        let l = name.asciiLowercased
        return fields.filter { matches($0, l) }
    }

    /// The first field's raw value, unfolded.
    public func raw(_ name: String) -> [UInt8]? { first(name).map(rawValue) }

    /// The first field's value decoded (RFC 2047 and raw 8-bit), white space folded.
    public func text(_ name: String, fallbackCharset: String? = nil) -> String? {
        guard let raw = raw(name) else { return nil }
        return decodeUnstructured(raw, fallbackCharset: fallbackCharset)
    }
}

/// Result of scanning a header block.
struct HeaderBlock {
    var fields: [HeaderField] = []
    var bodyStart: Int
}

/// Scans header fields from `start` up to the first empty line. Lines are ended by LF or CRLF.
/// Lines without a colon stay in the header when a field line follows them (see
/// `headerRunEnd`): joined to the field above, or skipped before the first field; else the body
/// starts at the first of them (a missing separator line, as Python's parser reads it). Past
/// `maxHeaderBytes` the header is too large: a line running over the cap ends there and the rest
/// of the header is skipped.
func scanHeaderBlock(_ buf: UnsafeBufferPointer<UInt8>, start: Int, end: Int, options: ParserOptions,
                     defects: inout DefectLog, allowMboxFrom: Bool) -> HeaderBlock {
    var block = HeaderBlock(bodyStart: end)
    var i = start
    var first = true
    // Lines without a colon before this offset were found to be followed by a field.
    var headerUntil = start
    let limit = min(end, start + options.maxHeaderBytes)
    func tooLarge(at offset: Int, skippingFrom next: Int) -> HeaderBlock {
        defects.append(Defect(.headerTooLarge, at: offset, "header block over \(options.maxHeaderBytes) bytes"))
        block.bodyStart = lineAfterEmptyLine(buf, from: next, end: end)
        return block
    }
    func addField(_ name: Range<Int>, _ value: Range<Int>) {
        if block.fields.count >= options.maxHeaderFields {
            defects.append(Defect(.tooManyHeaderFields, at: name.lowerBound))
        } else {
            block.fields.append(HeaderField(nameRange: name, valueRange: value))
        }
    }
    // A UTF-8 byte-order mark before the first field (a message saved by a Windows editor).
    if end - start >= 3, buf[start] == 0xEF, buf[start + 1] == 0xBB, buf[start + 2] == 0xBF {
        var e = buf.nextLF(from: start, end: end)
        if e > start, buf[e - 1] == Byte.cr { e -= 1 }
        if fieldColon(buf, start + 3, min(e, limit)) != nil {
            defects.append(Defect(.byteOrderMark, at: start))
            i = start + 3
        }
    }
    while i < end {
        let lf = buf.nextLF(from: i, end: end)
        var e = lf
        if e > i, buf[e - 1] == Byte.cr { e -= 1 }
        let next = lf < end ? lf + 1 : end
        if e == i {
            block.bodyStart = next
            return block
        }
        if i >= limit { return tooLarge(at: i, skippingFrom: next) }
        // A line over the cap is read up to the cap; if it belongs to the header, the header
        // ends there.
        let cut = e > limit
        if cut { e = limit }
        let c0 = buf[i]
        if Byte.isWSP(c0) {
            // A line of white space only: folding if a field follows, else the separator
            // written with a stray space (the text after it is the body, not lost).
            if isBlank(buf, i, e), !block.fields.isEmpty, next < end, !Byte.isWSP(buf[next]), nextLineIsField(buf, next, end) == nil {
                defects.append(Defect(.missingHeaderBodySeparator, at: i, "white space on the empty line"))
                block.bodyStart = next
                return block
            }
            if let last = block.fields.last {
                block.fields[block.fields.count - 1] = HeaderField(nameRange: last.nameRange,
                                                                   valueRange: last.valueRange.lowerBound..<e)
            } else if !first || !isBlank(buf, i, e) {
                defects.append(Defect(.continuationWithoutField, at: i))
            }
            if cut { return tooLarge(at: limit, skippingFrom: next) }
            i = next
            first = false
            continue
        }
        // An mbox "From " separator line before the first field ("From : x" is a field, in
        // obsolete syntax).
        if first, allowMboxFrom, e - i >= 5, buf[i] == 70, buf[i + 1] == 114, buf[i + 2] == 111, buf[i + 3] == 109, buf[i + 4] == 32,
           fieldColon(buf, i, e) == nil {
            if cut { return tooLarge(at: limit, skippingFrom: next) }
            i = next
            first = false
            continue
        }
        first = false
        if let colon = fieldColon(buf, i, e) {
            var ne = colon
            while ne > i, Byte.isWSP(buf[ne - 1]) { ne -= 1 }
            addField(i..<ne, (colon + 1)..<e)
            if cut { return tooLarge(at: limit, skippingFrom: next) }
            i = next
            continue
        }
        // No colon.
        if i >= headerUntil {
            if !cut, let f = foldedFieldName(buf, i, e, next: next, end: end, limit: limit) {
                defects.append(Defect(.headerWithoutColon, at: i, "field name folded before its colon"))
                addField(i..<f.nameEnd, (f.colon + 1)..<f.valueEnd)
                i = f.next
                continue
            }
            guard let runEnd = headerRunEnd(buf, i, next: next, end: end, limit: limit, afterField: !block.fields.isEmpty) else {
                defects.append(Defect(.missingHeaderBodySeparator, at: i))
                block.bodyStart = i
                return block
            }
            headerUntil = runEnd
        }
        if let last = block.fields.last {
            // A value a broken mailer wrapped without indenting it.
            defects.append(Defect(.headerWithoutColon, at: i))
            block.fields[block.fields.count - 1] = HeaderField(nameRange: last.nameRange, valueRange: last.valueRange.lowerBound..<e)
        } else {
            // A banner a gateway wrote above the header.
            defects.append(Defect(.headerWithoutColon, at: i, "line before the first field, skipped"))
        }
        if cut { return tooLarge(at: limit, skippingFrom: next) }
        i = next
    }
    block.bodyStart = end
    return block
}

/// How many lines a run of header lines without colon may have before the field after it:
/// enough for a wrapped spam report or tracking token, few enough not to read a body as header.
let maxHeaderRunLines = 32

/// Where the header lines that follow the line without colon at `s` end, if that line belongs
/// to the header: the start of the field line after the run. A single such line between fields
/// is followed by any field line or the empty line (the common repair). A longer run (lines
/// without colon, or indented) must be followed, within `maxHeaderRunLines`, by a field that
/// mailers write, so that a body starting without the empty line is not read as header; so
/// must a banner line before the first field, which is one line. A "--" line (a MIME delimiter)
/// after a field is never header. Nil: the body starts at `s`.
/// Reads at most `maxHeaderRunLines` lines, none past `limit`.
private func headerRunEnd(_ buf: UnsafeBufferPointer<UInt8>, _ s: Int, next: Int, end: Int, limit: Int,
                          afterField: Bool) -> Int? {
    // A MIME delimiter (or a signature separator) is never a header line.
    if afterField, isDashDash(buf, s, end) { return nil }
    var p = next
    var lines = 0
    while p < end, lines < (afterField ? maxHeaderRunLines : 1) {
        // Between fields, a run that reaches the cap is header: the caller stops there.
        if p >= limit { return afterField ? limit : nil }
        let lf = buf.nextLF(from: p, end: end)
        var e = lf
        if e > p, buf[e - 1] == Byte.cr { e -= 1 }
        if e == p { return afterField && lines == 0 ? p : nil }
        e = min(e, limit)
        if Byte.isWSP(buf[p]) {
            if isBlank(buf, p, e) { return nil }
        } else if isDashDash(buf, p, end) {
            return nil
        } else if let colon = fieldColon(buf, p, e) {
            if afterField && lines == 0 { return p }
            return isCommonFieldName(buf, p, colon) ? p : nil
        }
        lines += 1
        p = lf < end ? lf + 1 : end
    }
    return nil
}

@inline(__always) private func isDashDash(_ buf: UnsafeBufferPointer<UInt8>, _ s: Int, _ end: Int) -> Bool {
    s + 1 < end && buf[s] == Byte.dash && buf[s + 1] == Byte.dash
}

/// "From" alone on the line `s..<e` and ": value" on the next, indented: a field whose name a
/// broken mailer folded before its colon.
private func foldedFieldName(_ buf: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int, next: Int, end: Int,
                             limit: Int) -> (nameEnd: Int, colon: Int, valueEnd: Int, next: Int)? {
    guard next < end, Byte.isWSP(buf[next]) else { return nil }
    var ne = e
    while ne > s, Byte.isWSP(buf[ne - 1]) { ne -= 1 }
    for k in s..<ne where buf[k] <= 32 || buf[k] >= 127 { return nil }
    var k = next
    while k < end, Byte.isWSP(buf[k]) { k += 1 }
    guard k < end, buf[k] == Byte.colon else { return nil }
    let lf = buf.nextLF(from: k, end: end)
    var ve = lf
    if ve > k, buf[ve - 1] == Byte.cr { ve -= 1 }
    guard ve <= limit else { return nil }
    return (ne, k, ve, lf < end ? lf + 1 : end)
}

private let commonFieldNames: [StaticString] = [
    "from", "to", "cc", "bcc", "subject", "date", "sender", "reply-to", "message-id", "in-reply-to", "references",
    "received", "return-path", "delivered-to", "envelope-to", "errors-to", "mime-version", "importance", "priority",
    "user-agent", "organization", "precedence", "thread-topic", "thread-index", "auto-submitted", "received-spf",
    "authentication-results", "domainkey-signature", "disposition-notification-to", "feedback-id", "keywords",
]
private let commonFieldPrefixes: [StaticString] = ["x-", "content-", "list-", "resent-", "arc-", "dkim-", "original-"]

/// Whether the field name before `colon` is one that mailers write.
private func isCommonFieldName(_ buf: UnsafeBufferPointer<UInt8>, _ s: Int, _ colon: Int) -> Bool {
    var ne = colon
    while ne > s, Byte.isWSP(buf[ne - 1]) { ne -= 1 }
    for n in commonFieldNames where bytesEqualLower(buf, s, ne, n) { return true }
    for p in commonFieldPrefixes where ne - s > p.utf8CodeUnitCount && bytesEqualLower(buf, s, s + p.utf8CodeUnitCount, p) {
        return true
    }
    return false
}

/// The start of the line after the next empty line at or after the line start `s`, or `end`.
private func lineAfterEmptyLine(_ buf: UnsafeBufferPointer<UInt8>, from s: Int, end: Int) -> Int {
    var i = s
    while i < end {
        let lf = buf.nextLF(from: i, end: end)
        var e = lf
        if e > i, buf[e - 1] == Byte.cr { e -= 1 }
        if e == i { return lf < end ? lf + 1 : end }
        i = lf + 1
    }
    return end
}

@inline(__always) private func isBlank(_ buf: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) -> Bool {
    for k in s..<e where !Byte.isSpace(buf[k]) { return false }
    return true
}

/// The colon of a field line if the name before it is printable ASCII without spaces
/// (white space just before the colon is obsolete syntax, and allowed).
@inline(__always) private func fieldColon(_ buf: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) -> Int? {
    var k = s
    while k < e {
        let c = buf[k]
        if c == Byte.colon { return k > s ? k : nil }
        if c <= 32 || c >= 127 {
            // Allow "Name  :" but not "two words:".
            if Byte.isWSP(c) {
                var j = k
                while j < e, Byte.isWSP(buf[j]) { j += 1 }
                return (j < e && buf[j] == Byte.colon && k > s) ? j : nil
            }
            return nil
        }
        k += 1
    }
    return nil
}

private func nextLineIsField(_ buf: UnsafeBufferPointer<UInt8>, _ s: Int, _ end: Int) -> Int? {
    let lf = buf.nextLF(from: s, end: end)
    var e = lf
    if e > s, buf[e - 1] == Byte.cr { e -= 1 }
    if e == s { return s }  // an empty line: the header ends right after the junk line
    return fieldColon(buf, s, e)
}

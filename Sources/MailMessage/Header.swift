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
/// A line with no colon is skipped when a header line follows it, else the body starts there
/// (a missing separator line, as Python's parser reads it). Past `maxHeaderBytes` the header is
/// too large: a line running over the cap ends there and the rest of the header is skipped.
func scanHeaderBlock(_ buf: UnsafeBufferPointer<UInt8>, start: Int, end: Int, options: ParserOptions,
                     defects: inout DefectLog, allowMboxFrom: Bool) -> HeaderBlock {
    var block = HeaderBlock(bodyStart: end)
    var i = start
    var first = true
    let limit = min(end, start + options.maxHeaderBytes)
    func tooLarge(at offset: Int, skippingFrom next: Int) -> HeaderBlock {
        defects.append(Defect(.headerTooLarge, at: offset, "header block over \(options.maxHeaderBytes) bytes"))
        block.bodyStart = lineAfterEmptyLine(buf, from: next, end: end)
        return block
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
            if block.fields.count >= options.maxHeaderFields {
                defects.append(Defect(.tooManyHeaderFields, at: i))
            } else {
                block.fields.append(HeaderField(nameRange: i..<ne, valueRange: (colon + 1)..<e))
            }
            if cut { return tooLarge(at: limit, skippingFrom: next) }
            i = next
            continue
        }
        // No colon: a line a broken mailer wrapped without indenting it when a field or the
        // end of the header follows, else the body starting without an empty line.
        if next < end, let last = block.fields.last, nextLineIsField(buf, next, end) != nil {
            defects.append(Defect(.headerWithoutColon, at: i))
            block.fields[block.fields.count - 1] = HeaderField(nameRange: last.nameRange, valueRange: last.valueRange.lowerBound..<e)
            if cut { return tooLarge(at: limit, skippingFrom: next) }
            i = next
            continue
        }
        defects.append(Defect(.missingHeaderBodySeparator, at: i))
        block.bodyStart = i
        return block
    }
    block.bodyStart = end
    return block
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

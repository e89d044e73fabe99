/// A body ready to write: CRLF lines, each at most 998 octets, the last ending CRLF.
struct EncodedBody {
    var bytes: [UInt8]
    var quotedPrintable: Bool
}

/// Line ends made one kind: CRLF, LF and a lone CR each end a line (a lone CR is an old Mac
/// line end, not data), and a last line without a line end gets one.
func normalizedLines(_ s: String) -> [UInt8] {
    var s = s
    return s.withUTF8 { p in
        var out: [UInt8] = []
        out.reserveCapacity(p.count + 1)
        var afterCR = false
        for i in 0..<p.count {
            let c = p[i]
            if c == 13 {
                out.append(10)
                afterCR = true
                continue
            }
            if c != 10 || !afterCR { out.append(c) }
            afterCR = false
        }
        if let last = out.last, last != 10 { out.append(10) }
        return out
    }
}

/// 7bit when every line is short ASCII without controls other than TAB, else quoted-printable
/// (UTF-8, NUL and other controls, lines over 998 octets).
func encodeBody(_ s: String, forceQuotedPrintable: Bool = false) -> EncodedBody {
    let lines = normalizedLines(s)
    return lines.withUnsafeBufferPointer { p in
        var qp = forceQuotedPrintable
        var length = 0
        var i = 0
        while i < p.count && !qp {
            let c = p[i]
            i += 1
            if c == 10 {
                length = 0
                continue
            }
            length += 1
            if length > maxLine || c >= 0x7F || (c < 0x20 && c != 9) { qp = true }
        }
        if qp { return EncodedBody(bytes: quotedPrintable(p), quotedPrintable: true) }
        var out: [UInt8] = []
        out.reserveCapacity(p.count + p.count / 32)
        for k in 0..<p.count {
            if p[k] == 10 { out.append(13) }
            out.append(p[k])
        }
        return EncodedBody(bytes: out, quotedPrintable: false)
    }
}

private let hexDigits = Array("0123456789ABCDEF".utf8)

/// RFC 2045 quoted-printable of LF-ended lines: lines of at most 76 octets, soft breaks never
/// inside an escape, white space before a line end escaped. "=" only ever starts an escape or
/// a soft break, so "=_" (how multipart boundaries start) cannot occur.
private func quotedPrintable(_ lines: UnsafeBufferPointer<UInt8>) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(lines.count + lines.count / 4)
    var column = 0
    let n = lines.count
    var i = 0
    while i < n {
        let c = lines[i]
        i += 1
        if c == 10 {
            out += crlf
            column = 0
            continue
        }
        let atLineEnd = i == n || lines[i] == 10
        let plain = (c >= 33 && c <= 126 && c != UInt8(ascii: "=")) || ((c == 32 || c == 9) && !atLineEnd)
        let width = plain ? 1 : 3
        // A soft break ("=") takes one octet of the 76, except after the last octet of a line.
        if column + width > (atLineEnd ? 76 : 75) {
            out += [UInt8(ascii: "="), 13, 10]
            column = 0
        }
        if plain {
            out.append(c)
        } else {
            out.append(UInt8(ascii: "="))
            out.append(hexDigits[Int(c >> 4)])
            out.append(hexDigits[Int(c & 15)])
        }
        column += width
    }
    return out
}

/// A boundary found in neither part: "=_" and 32 hex digits hashed from the message ID and a
/// counter. Content can hold a few candidates by chance or on purpose; after 8, the parts are
/// written quoted-printable, which cannot hold "=_".
func multipartBoundary(_ messageID: String, _ sources: [String], _ parts: inout [EncodedBody]) -> String {
    var counter: UInt64 = 0
    while true {
        let b = boundaryCandidate(messageID, counter)
        let needle = Array(b.utf8)
        if !parts.contains(where: { contains($0.bytes, needle) }) { return b }
        counter += 1
        if counter == 8 {
            for k in parts.indices where !parts[k].quotedPrintable {
                parts[k] = encodeBody(sources[k], forceQuotedPrintable: true)
            }
        }
    }
}

func boundaryCandidate(_ messageID: String, _ counter: UInt64) -> String {
    // Two FNV-1a hashes with different offsets.
    var h1: UInt64 = 0xcbf2_9ce4_8422_2325
    var h2: UInt64 = 0x8422_2325_cbf2_9ce4
    func mix(_ c: UInt8) {
        h1 = (h1 ^ UInt64(c)) &* 0x0000_0100_0000_01B3
        h2 = (h2 ^ UInt64(c)) &* 0x0000_0100_0000_01B3
    }
    for c in messageID.utf8 { mix(c) }
    mix(0)
    for k in 0..<8 { mix(UInt8(truncatingIfNeeded: counter >> (8 * UInt64(k)))) }
    func hex(_ v: UInt64) -> String {
        var s = ""
        for k in stride(from: 60, through: 0, by: -4) { s.append(Character(Unicode.Scalar(hexDigits[Int(v >> UInt64(k) & 15)]))) }
        return s
    }
    return "=_" + hex(h1) + hex(h2)
}

/// Whether `needle` occurs in `hay`; the needle is short, so this is linear in practice.
func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
    guard let first = needle.first, hay.count >= needle.count else { return false }
    return hay.withUnsafeBufferPointer { h in
        needle.withUnsafeBufferPointer { nd in
            var i = 0
            let last = h.count - nd.count
            while i <= last {
                if h[i] == first {
                    var k = 1
                    while k < nd.count && h[i + k] == nd[k] { k += 1 }
                    if k == nd.count { return true }
                }
                i += 1
            }
            return false
        }
    }
}

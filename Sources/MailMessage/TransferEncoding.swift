/// Content-Transfer-Encoding decoders. Each is tolerant: bytes that do not belong are skipped
/// (and counted), never fatal, as real mail has junk in base64 and bare `=` in quoted-printable.

/// A consumer of decoded bytes, fed in blocks.
public typealias ByteSink = (UnsafeBufferPointer<UInt8>) -> Void

private let b64Table: [UInt8] = {
    var t = [UInt8](repeating: 0xFF, count: 256)
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
    // URL-safe alphabet too: some senders use it.
    t[Int(UInt8(ascii: "-"))] = 62
    t[Int(UInt8(ascii: "_"))] = 63
    return t
}()

private let hexValue: [UInt8] = {
    var t = [UInt8](repeating: 0xFF, count: 256)
    for (i, c) in Array("0123456789ABCDEF".utf8).enumerated() { t[Int(c)] = UInt8(i) }
    for (i, c) in Array("abcdef".utf8).enumerated() { t[Int(c)] = UInt8(10 + i) }
    return t
}()

public struct DecodeStats: Sendable, Equatable {
    /// Bytes that were not part of the encoding and were skipped.
    public var junkBytes = 0
    /// Base64 ended in the middle of a quantum (missing padding or truncated data).
    public var truncated = false
}

private let blockSize = 32 * 1024

/// Decodes base64 in `src`, skipping line breaks, white space and junk. Padding is optional;
/// a `=` ends the current quantum so concatenated base64 runs still decode.
@discardableResult
public func decodeBase64(_ src: UnsafeBufferPointer<UInt8>, into sink: ByteSink) -> DecodeStats {
    var stats = DecodeStats()
    let out = UnsafeMutablePointer<UInt8>.allocate(capacity: blockSize + 4)
    defer { out.deallocate() }
    var o = 0
    var acc: UInt32 = 0
    var n = 0
    b64Table.withUnsafeBufferPointer { table in
        var i = 0
        let end = src.count
        while i < end {
            // Fast path: four valid characters in a row.
            if n == 0, i + 4 <= end {
                let a = table[Int(src[i])], b = table[Int(src[i + 1])]
                let c = table[Int(src[i + 2])], d = table[Int(src[i + 3])]
                if (a | b | c | d) & 0x80 == 0 {
                    let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    out[o] = UInt8(truncatingIfNeeded: v >> 16)
                    out[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
                    out[o + 2] = UInt8(truncatingIfNeeded: v)
                    o += 3
                    i += 4
                    if o >= blockSize { sink(UnsafeBufferPointer(start: out, count: o)); o = 0 }
                    continue
                }
            }
            let ch = src[i]
            i += 1
            let v = table[Int(ch)]
            if v & 0x80 != 0 {
                if ch == UInt8(ascii: "=") {
                    // Flush a partial quantum at padding.
                    if n == 2 { out[o] = UInt8(truncatingIfNeeded: acc >> 4); o += 1 }
                    else if n == 3 {
                        out[o] = UInt8(truncatingIfNeeded: acc >> 10)
                        out[o + 1] = UInt8(truncatingIfNeeded: acc >> 2)
                        o += 2
                    } else if n == 1 { stats.truncated = true }
                    acc = 0; n = 0
                } else if !Byte.isSpace(ch) {
                    stats.junkBytes += 1
                }
                continue
            }
            acc = acc << 6 | UInt32(v)
            n += 1
            if n == 4 {
                out[o] = UInt8(truncatingIfNeeded: acc >> 16)
                out[o + 1] = UInt8(truncatingIfNeeded: acc >> 8)
                out[o + 2] = UInt8(truncatingIfNeeded: acc)
                o += 3
                acc = 0; n = 0
                if o >= blockSize { sink(UnsafeBufferPointer(start: out, count: o)); o = 0 }
            }
        }
    }
    // Missing padding: decode what the partial quantum holds.
    if n == 2 { out[o] = UInt8(truncatingIfNeeded: acc >> 4); o += 1; stats.truncated = true }
    else if n == 3 {
        out[o] = UInt8(truncatingIfNeeded: acc >> 10)
        out[o + 1] = UInt8(truncatingIfNeeded: acc >> 2)
        o += 2
        stats.truncated = true
    } else if n == 1 { stats.truncated = true }
    if o > 0 { sink(UnsafeBufferPointer(start: out, count: o)) }
    return stats
}

/// Decodes quoted-printable. `=XX` becomes the byte, `=` before a line break joins lines, and
/// a `=` that starts neither is kept as it is (as most readers do). In headers `_` is a space.
@discardableResult
public func decodeQuotedPrintable(_ src: UnsafeBufferPointer<UInt8>, header: Bool = false, into sink: ByteSink) -> DecodeStats {
    var stats = DecodeStats()
    let out = UnsafeMutablePointer<UInt8>.allocate(capacity: blockSize + 4)
    defer { out.deallocate() }
    var o = 0
    hexValue.withUnsafeBufferPointer { hex in
        var i = 0
        let end = src.count
        while i < end {
            let c = src[i]
            if c == Byte.equals {
                if i + 2 < end {
                    let h = hex[Int(src[i + 1])], l = hex[Int(src[i + 2])]
                    if h != 0xFF && l != 0xFF {
                        out[o] = h << 4 | l
                        o += 1
                        i += 3
                        if o >= blockSize { sink(UnsafeBufferPointer(start: out, count: o)); o = 0 }
                        continue
                    }
                }
                // Soft line break: "=", optional white space, then a line end or the end.
                var j = i + 1
                while j < end, Byte.isWSP(src[j]) { j += 1 }
                if j == end { i = j; continue }
                if src[j] == Byte.lf { i = j + 1; continue }
                if src[j] == Byte.cr {
                    i = (j + 1 < end && src[j + 1] == Byte.lf) ? j + 2 : j + 1
                    continue
                }
                stats.junkBytes += 1
                out[o] = c
            } else if header && c == UInt8(ascii: "_") {
                out[o] = Byte.sp
            } else {
                out[o] = c
            }
            o += 1
            i += 1
            if o >= blockSize { sink(UnsafeBufferPointer(start: out, count: o)); o = 0 }
        }
    }
    if o > 0 { sink(UnsafeBufferPointer(start: out, count: o)) }
    return stats
}

/// A uuencoded file found inside a text body.
public struct UUFile: Sendable {
    public var name: String
    public var data: [UInt8]
}

/// Decodes the lines of one uuencoded block (between `begin` and `end`).
func decodeUULines(_ src: UnsafeBufferPointer<UInt8>) -> [UInt8] {
    var out = [UInt8]()
    var i = 0
    let end = src.count
    while i < end {
        let lineEnd = src.nextLF(from: i, end: end)
        var e = lineEnd
        if e > i, src[e - 1] == Byte.cr { e -= 1 }
        if e > i {
            let n = Int((src[i] &- 32) & 63)
            var k = i + 1
            var produced = 0
            while produced < n, k < e {
                @inline(__always) func v(_ idx: Int) -> UInt8 { idx < e ? (src[idx] &- 32) & 63 : 0 }
                let a = v(k), b = v(k + 1), c = v(k + 2), d = v(k + 3)
                let bytes = [a << 2 | b >> 4, b << 4 | c >> 2, c << 6 | d]
                for x in bytes where produced < n { out.append(x); produced += 1 }
                k += 4
            }
        }
        i = lineEnd + 1
    }
    return out
}

internal import CKernels

/// Content-Transfer-Encoding decoders. Each is tolerant: bytes that do not belong are skipped
/// (and counted), never fatal, as real mail has junk in base64 and bare `=` in quoted-printable.

/// A consumer of decoded bytes, fed in blocks.
public typealias ByteSink = (UnsafeBufferPointer<UInt8>) -> Void

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
    /// Where in the input text after the end of the base64 data (a mailing list's footer)
    /// was left out, through the end.
    public var trailingText: Range<Int>? = nil
}

private let blockSize = 32 * 1024

/// Decodes base64 in `src`, skipping line breaks, white space and junk. Padding is optional;
/// a `=` ends the current quantum so concatenated base64 runs still decode. The first line
/// after the data that is not base64 ends it (see `Base64Decoder`).
@discardableResult
public func decodeBase64(_ src: UnsafeBufferPointer<UInt8>, into sink: ByteSink) -> DecodeStats {
    var decoder = Base64Decoder()
    decoder.feed(src, into: sink)
    return decoder.finish(into: sink)
}

/// Base64 decoding of input that comes in pieces (as `decodeBase64` reads it, in blocks): a
/// quantum cut by the end of a piece is completed by the next one, so any way of cutting the
/// input gives the same bytes and stats.
///
/// The data ends at the first line, after its first, that is neither as long as its full
/// lines nor clean base64: text a mailing list or a virus scanner appended to the part is
/// not decoded. The bytes of a line are held back until its end shows which it is.
public struct Base64Decoder: Sendable {
    private var state = wt_b64_state()
    /// Output of the line not finished yet (at most about 48 KiB: longer lines are data).
    private var held: [UInt8] = []

    public init() {}

    /// Decodes `chunk` and hands the bytes to `sink`, in blocks of at most 32 KiB.
    public mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>, into sink: ByteSink) {
        guard let base = chunk.baseAddress, chunk.count > 0 else { return }
        let inBlock = blockSize / 3 * 4
        let first = min(inBlock, chunk.count)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: first / 4 * 3 + 8) { out in
            var i = 0
            while i < chunk.count {
                let n = min(inBlock, chunk.count - i)
                let o = wt_base64_decode(&state, base + i, n, out.baseAddress!)
                settle(UnsafeBufferPointer(start: out.baseAddress, count: o), into: sink)
                i += n
            }
        }
    }

    /// Hands on what the decoder says is data, holding back the unfinished line.
    private mutating func settle(_ out: UnsafeBufferPointer<UInt8>, into sink: ByteSink) {
        if state.verdict != 0 && !held.isEmpty {
            if state.verdict == 1 { held.withUnsafeBufferPointer { sink($0) } }
            held.removeAll(keepingCapacity: true)
        }
        let commit = Int(state.commit)
        if commit > 0 { sink(UnsafeBufferPointer(rebasing: out[0..<commit])) }
        if out.count > commit { held.append(contentsOf: out[commit...]) }
    }

    /// Ends the input: the last line, and a partial quantum left, give their bytes to `sink`
    /// when they are data. Returns what was skipped or cut short over all the input.
    public mutating func finish(into sink: ByteSink) -> DecodeStats {
        var tail: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        let o = withUnsafeMutableBytes(of: &tail) { raw in
            wt_base64_finish(&state, raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        settle(UnsafeBufferPointer(start: nil, count: 0), into: sink)
        if o > 0 { withUnsafeBytes(of: tail) { sink(UnsafeBufferPointer(rebasing: $0.bindMemory(to: UInt8.self)[0..<o])) } }
        return DecodeStats(junkBytes: Int(state.junk), truncated: state.truncated != 0,
                           trailingText: state.ended != 0 ? Int(state.trailer_at)..<Int(state.pos) : nil)
    }
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

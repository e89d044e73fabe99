internal import CKernels

/// SHA-256 (FIPS 180-4), streaming. Here so that attachment hashing needs no crypto
/// dependency on the per-message path; the block function is C (CKernels) for the CPU's SHA
/// instructions.
public struct SHA256 {
    private var h: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
    private var pending = [UInt8](repeating: 0, count: 64)
    private var pendingCount = 0
    private var total: UInt64 = 0

    public init() {}

    private mutating func compress(_ p: UnsafePointer<UInt8>, blocks: Int) {
        withUnsafeMutableBytes(of: &h) { raw in
            wt_sha256_blocks(raw.baseAddress!.assumingMemoryBound(to: UInt32.self), p, blocks)
        }
    }

    public mutating func update(_ data: UnsafeBufferPointer<UInt8>) {
        guard var p = data.baseAddress, data.count > 0 else { return }
        var n = data.count
        total &+= UInt64(n)
        if pendingCount > 0 {
            let take = min(64 - pendingCount, n)
            for i in 0..<take { pending[pendingCount + i] = p[i] }
            pendingCount += take
            p += take
            n -= take
            if pendingCount < 64 { return }  // all of `data` went into the partial block
            pending.withUnsafeBufferPointer { compress($0.baseAddress!, blocks: 1) }
            pendingCount = 0
        }
        let blocks = n / 64
        if blocks > 0 {
            compress(p, blocks: blocks)
            p += blocks * 64
            n -= blocks * 64
        }
        for i in 0..<n { pending[i] = p[i] }
        pendingCount = n
    }

    public mutating func update<C: Collection<UInt8>>(_ bytes: C) {
        let a = Array(bytes)
        a.withUnsafeBufferPointer { update($0) }
    }

    public mutating func finalize() -> [UInt8] {
        let bitLength = total &* 8
        var tail: [UInt8] = [0x80]
        let rem = (pendingCount + 1) % 64
        tail += [UInt8](repeating: 0, count: rem <= 56 ? 56 - rem : 120 - rem)
        for i in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bitLength >> (UInt64(i) * 8))) }
        let saved = total
        tail.withUnsafeBufferPointer { update($0) }
        total = saved
        var out = [UInt8]()
        for v in [h.0, h.1, h.2, h.3, h.4, h.5, h.6, h.7] {
            out += [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
        }
        return out
    }

    public static func hex(_ digest: [UInt8]) -> String {
        let d = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(digest.count * 2)
        for b in digest { out.append(d[Int(b >> 4)]); out.append(d[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

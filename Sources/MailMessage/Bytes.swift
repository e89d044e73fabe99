#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An owned, growable byte buffer. Grows with `realloc`, which glibc serves with `mremap`
/// for large blocks, so spooling a 50 MB message does not copy it again and again.
public final class ByteBuffer {
    public private(set) var base: UnsafeMutablePointer<UInt8>
    public private(set) var count: Int = 0
    public private(set) var capacity: Int
    /// False for memory the buffer only borrows (a mapped mbox); it is then never grown or freed.
    private let owned: Bool

    public init(capacity: Int = 64 * 1024) {
        owned = true
        self.capacity = max(capacity, 16)
        guard let p = malloc(self.capacity) else { fatalError("out of memory") }
        base = p.assumingMemoryBound(to: UInt8.self)
    }

    public convenience init(_ bytes: some Collection<UInt8>) {
        self.init(capacity: bytes.count)
        append(contentsOf: bytes)
    }

    /// Borrows `count` writable bytes at `base`, which must outlive the buffer.
    public init(borrowing base: UnsafeMutablePointer<UInt8>, count: Int) {
        self.base = base
        self.count = count
        capacity = count
        owned = false
    }

    deinit { if owned { free(base) } }

    public func reserve(_ extra: Int) {
        let need = count + extra
        if need <= capacity { return }
        precondition(owned, "a borrowed buffer cannot grow")
        var newCap = capacity
        while newCap < need { newCap = newCap < (1 << 24) ? newCap * 2 : newCap + newCap / 2 }
        guard let p = realloc(base, newCap) else { fatalError("out of memory") }
        base = p.assumingMemoryBound(to: UInt8.self)
        capacity = newCap
    }

    /// Space for at least `n` more bytes; call `commit` with what was written.
    public func writableTail(atLeast n: Int) -> UnsafeMutablePointer<UInt8> {
        reserve(n)
        return base + count
    }

    public func commit(_ n: Int) { count += n }

    public func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    public func append(contentsOf bytes: some Collection<UInt8>) {
        let n = bytes.count
        reserve(n)
        var i = count
        for b in bytes { base[i] = b; i += 1 }
        count = i
    }

    public func append(_ p: UnsafeRawBufferPointer) {
        guard let src = p.baseAddress, p.count > 0 else { return }
        reserve(p.count)
        memcpy(base + count, src, p.count)
        count += p.count
    }

    public func removeAll(keepingCapacity: Bool = true) { count = 0 }

    public var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }
}

/// Byte classes and helpers used across the parser.
enum Byte {
    static let cr: UInt8 = 13, lf: UInt8 = 10, sp: UInt8 = 32, tab: UInt8 = 9
    static let colon: UInt8 = 58, semicolon: UInt8 = 59, equals: UInt8 = 61
    static let dquote: UInt8 = 34, backslash: UInt8 = 92, dash: UInt8 = 45

    @inline(__always) static func isWSP(_ b: UInt8) -> Bool { b == sp || b == tab }
    @inline(__always) static func isSpace(_ b: UInt8) -> Bool { b == sp || b == tab || b == cr || b == lf }
    @inline(__always) static func lower(_ b: UInt8) -> UInt8 { (b >= 65 && b <= 90) ? b | 0x20 : b }
}

extension UnsafeBufferPointer where Element == UInt8 {
    /// Index of the next LF at or after `from`, or `end`.
    @inline(__always) func nextLF(from: Int, end: Int) -> Int {
        guard from < end, let b = baseAddress else { return end }
        if let p = memchr(b + from, 10, end - from) {
            return b.distance(to: p.assumingMemoryBound(to: UInt8.self))
        }
        return end
    }
}

/// Case-insensitive ASCII comparison of bytes against a lowercase literal.
@inline(__always)
func bytesEqualLower(_ buf: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, _ lower: StaticString) -> Bool {
    let n = lower.utf8CodeUnitCount
    guard end - start == n else { return false }
    let l = lower.utf8Start
    for i in 0..<n where Byte.lower(buf[start + i]) != l[i] { return false }
    return true
}

extension String {
    /// Lowercased ASCII letters only; leaves everything else alone (no locale, no ICU).
    var asciiLowercased: String {
        var out = [UInt8]()
        out.reserveCapacity(utf8.count)
        for b in utf8 { out.append(Byte.lower(b)) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Trimmed of ASCII white space at both ends.
    var trimmedWS: String {
        let u = Array(utf8)
        var s = 0, e = u.count
        while s < e, Byte.isSpace(u[s]) { s += 1 }
        while e > s, Byte.isSpace(u[e - 1]) { e -= 1 }
        if s == 0 && e == u.count { return self }
        return String(decoding: u[s..<e], as: UTF8.self)
    }

    /// Runs of white space (including line breaks) folded to one space, ends trimmed.
    var foldedWS: String {
        var out = [UInt8]()
        out.reserveCapacity(utf8.count)
        var pendingSpace = false
        for b in utf8 {
            if Byte.isSpace(b) { pendingSpace = !out.isEmpty; continue }
            if pendingSpace { out.append(Byte.sp); pendingSpace = false }
            out.append(b)
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// All rules compiled into one Aho-Corasick automaton over lowercased UTF-8, so one pass over
/// a field finds the first rule (in rule order) whose text occurs in it, and where, and the
/// cost of a delivery hardly grows with the number of rules.
///
/// The compiled form is a flat byte image, stored in the database and used where it lies:
/// matching reads only the nodes the text walks through. An image read back is untrusted (a
/// damaged page, a hand edit), so matching checks every index it follows, and counts fail
/// links against edges taken (a sound automaton never follows more fail links than edges, as
/// each edge goes one level down and each fail link at least one up): a damaged image throws
/// `CorruptRuleImage`, and can never crash, loop, or cost more than linear time.
public struct CompiledRules {
    static let magic: UInt32 = 0x3252_5457  // "WTR2"
    static let none = UInt32.max
    static let headerSize = 24

    /// The image; its layout is described in `compile`.
    public let image: UnsafeRawBufferPointer
    private let owner: AnyObject?

    public let version: UInt64
    public let ruleCount: Int
    let nodeCount: Int
    let edgeCount: Int
    let idsOffset: Int, lengthsOffset: Int, rootOffset: Int, nodesOffset: Int, labelsOffset: Int, targetsOffset: Int

    /// Reads an image whose header, counts and length agree; nil if it is not one. The rest
    /// is checked as matching reads it.
    public init?(image: UnsafeRawBufferPointer, owner: AnyObject?) {
        guard image.count >= Self.headerSize, image.loadUnaligned(as: UInt32.self) == Self.magic else { return nil }
        self.image = image
        self.owner = owner
        version = image.loadUnaligned(fromByteOffset: 4, as: UInt64.self)
        ruleCount = Int(image.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        nodeCount = Int(image.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        edgeCount = Int(image.loadUnaligned(fromByteOffset: 20, as: UInt32.self))
        idsOffset = Self.headerSize
        lengthsOffset = idsOffset + ruleCount * 8
        rootOffset = lengthsOffset + ruleCount * 4
        nodesOffset = rootOffset + 256 * 4
        labelsOffset = nodesOffset + nodeCount * 16
        targetsOffset = labelsOffset + (edgeCount + 3) / 4 * 4
        guard nodeCount >= 1, ruleCount < Int(Self.none), image.count == targetsOffset + edgeCount * 4 else { return nil }
    }

    /// The database id of the rule at position `i` in rule order.
    public func ruleID(at i: Int) -> Int64 { image.loadUnaligned(fromByteOffset: idsOffset + i * 8, as: Int64.self) }

    /// The length of rule `i`'s lowercased text in UTF-8 bytes.
    func textLength(at i: Int) -> Int { Int(u32(lengthsOffset + i * 4)) }

    @inline(__always) private func u32(_ offset: Int) -> UInt32 { image.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }

    /// The node after `node` on byte `b`. `balance` is edges taken minus fail links followed.
    @inline(__always) private func next(_ node: UInt32, _ b: UInt8, _ balance: inout Int) throws(CorruptRuleImage) -> UInt32 {
        let nodes = UInt32(truncatingIfNeeded: nodeCount)
        var n = node
        while true {
            if n == 0 {
                let t = u32(rootOffset + Int(b) * 4)
                guard t < nodes else { throw CorruptRuleImage() }
                if t != 0 { balance += 1 }
                return t
            }
            let base = nodesOffset + Int(n) * 16
            let start = Int(u32(base)), count = Int(u32(base + 4))
            guard start <= edgeCount, count <= edgeCount - start else { throw CorruptRuleImage() }
            // Edges are sorted by label: binary search.
            var lo = start, hi = start + count
            while lo < hi {
                let mid = (lo + hi) >> 1
                let l = image[labelsOffset + mid]
                if l == b {
                    let t = u32(targetsOffset + mid * 4)
                    guard t < nodes else { throw CorruptRuleImage() }
                    balance += 1
                    return t
                }
                if l < b { lo = mid + 1 } else { hi = mid }
            }
            n = u32(base + 8)  // fail link
            balance -= 1
            guard n < nodes, balance >= 0 else { throw CorruptRuleImage() }
        }
    }

    /// The lowest rule position (rule order) whose text occurs in `lowercased` (as made by
    /// `RuleText.lowercased`), and the offset just after its first occurrence; or nil.
    ///
    /// A position is reported where it first becomes the lowest seen, which is where that
    /// rule's text first ends: an earlier occurrence would have made it the lowest already.
    public func firstRule(in lowercased: UnsafeBufferPointer<UInt8>) throws(CorruptRuleImage) -> (position: Int, end: Int)? {
        var best = Self.none
        var end = 0
        var node: UInt32 = 0
        var balance = 0
        let rules = UInt32(truncatingIfNeeded: ruleCount)
        for i in 0..<lowercased.count {
            node = try next(node, lowercased[i], &balance)
            if node != 0 {
                let out = u32(nodesOffset + Int(node) * 16 + 12)
                if out < best {
                    guard out < rules else { throw CorruptRuleImage() }
                    best = out
                    end = i + 1
                    if best == 0 { break }
                }
            }
        }
        return best == Self.none ? nil : (Int(best), end)
    }

    /// `firstRule(in:)` for text not yet lowercased.
    public func firstRule(in text: String) throws(CorruptRuleImage) -> (position: Int, end: Int)? {
        let lowered = RuleText.lowercased(text)
        return try lowered.withUnsafeBufferPointer { (p) throws(CorruptRuleImage) in try firstRule(in: p) }
    }

    /// Compiles rule texts, given in rule order, into an image. Empty texts never match.
    public static func compile(texts: [String], ids: [Int64], version: UInt64) -> [UInt8] {
        precondition(texts.count == ids.count)
        // Trie with per-node children maps (compile time only).
        var children: [[UInt8: UInt32]] = [[:]]
        var output: [UInt32] = [none]
        var lengths: [UInt32] = []
        for (i, t) in texts.enumerated() {
            let needle = RuleText.lowercased(t)
            lengths.append(UInt32(needle.count))
            if needle.isEmpty { continue }
            var n: UInt32 = 0
            for b in needle {
                if let c = children[Int(n)][b] { n = c; continue }
                let c = UInt32(children.count)
                children.append([:])
                output.append(none)
                children[Int(n)][b] = c
                n = c
            }
            output[Int(n)] = min(output[Int(n)], UInt32(i))
        }
        // Fail links breadth-first; each node's output becomes the lowest along its fail chain.
        let count = children.count
        var fail = [UInt32](repeating: 0, count: count)
        var queue: [UInt32] = []
        queue.reserveCapacity(count)
        for (_, c) in children[0] { queue.append(c) }
        var head = 0
        while head < queue.count {
            let n = queue[head]
            head += 1
            for (b, c) in children[Int(n)] {
                var f = fail[Int(n)]
                while f != 0 && children[Int(f)][b] == nil { f = fail[Int(f)] }
                let target = children[Int(f)][b] ?? 0
                fail[Int(c)] = target == c ? 0 : target
                queue.append(c)
            }
            // Children are processed after their parent, so fail[n] is final here.
            output[Int(n)] = min(output[Int(n)], output[Int(fail[Int(n)])])
        }
        // Flatten.
        var labels: [UInt8] = []
        var targets: [UInt32] = []
        var nodes: [UInt32] = []
        nodes.reserveCapacity(count * 4)
        for n in 0..<count {
            let sorted = children[n].sorted { $0.key < $1.key }
            nodes += [UInt32(labels.count), UInt32(sorted.count), fail[n], output[n]]
            for (b, c) in sorted { labels.append(b); targets.append(c) }
        }
        var root = [UInt32](repeating: 0, count: 256)
        for (b, c) in children[0] { root[Int(b)] = c }

        var image: [UInt8] = []
        func put32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { image += $0 } }
        put32(magic)
        withUnsafeBytes(of: version.littleEndian) { image += $0 }
        put32(UInt32(ids.count))
        put32(UInt32(count))
        put32(UInt32(labels.count))
        for id in ids { withUnsafeBytes(of: id.littleEndian) { image += $0 } }
        for l in lengths { put32(l) }
        for r in root { put32(r) }
        for v in nodes { put32(v) }
        image += labels
        image += [UInt8](repeating: 0, count: (4 - labels.count % 4) % 4)
        for t in targets { put32(t) }
        return image
    }
}

/// A compiled rule image that does not hold together: rebuild it from the rules.
public struct CorruptRuleImage: Error, Sendable {}

/// Owns an image held in memory.
final class ImageBox {
    let buffer: UnsafeMutableRawBufferPointer
    init(_ bytes: [UInt8]) {
        buffer = .allocate(byteCount: max(bytes.count, 1), alignment: 8)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
    }
    deinit { buffer.deallocate() }
}

/// Which rule matched, in which field, and the text as it stands there.
public struct RuleHit: Sendable, Equatable {
    /// Position in rule order.
    public var position: Int
    public var field: MatchField
    public var matchedText: String
}

extension CompiledRules {
    /// An image this process just compiled.
    public static func inMemory(_ bytes: [UInt8]) -> CompiledRules? {
        let box = ImageBox(bytes)
        return CompiledRules(image: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(box.buffer)[0..<bytes.count]), owner: box)
    }

    /// The first rule (lowest position) whose text occurs in any field, the first field it
    /// occurs in (sender, then subject, then body), and where. One pass over each field, and
    /// the matched text comes from the offsets the pass found: linear whatever the rules.
    public func firstMatch(_ m: some RuleSubject) throws(CorruptRuleImage) -> RuleHit? {
        var best: (position: Int, end: Int, field: MatchField, text: String)? = nil
        for (field, text) in [(MatchField.sender, m.sender), (.subject, m.subject), (.body, m.body)] {
            guard let hit = try firstRule(in: text) else { continue }
            if best == nil || hit.position < best!.position { best = (hit.position, hit.end, field, text) }
            if hit.position == 0 { break }
        }
        guard let b = best else { return nil }
        let start = max(0, b.end - textLength(at: b.position))
        return RuleHit(position: b.position, field: b.field, matchedText: RuleText.original(b.text, lowercasedRange: start..<b.end))
    }
}

/// How rule texts and message fields are compared: each Unicode scalar replaced by its
/// lowercase mapping, as UTF-8. Being per scalar, an offset in the lowercased bytes leads back
/// to the scalar it came from.
public enum RuleText {
    public static func lowercased(_ s: String) -> [UInt8] {
        var s = s
        return s.withUTF8 { u in
            // The ASCII prefix (usually all of it) in one tight loop.
            var out = [UInt8](unsafeUninitializedCapacity: u.count) { buf, n in
                var i = 0
                while i < u.count {
                    let c = u[i]
                    if c >= 0x80 { break }
                    buf[i] = c &- 65 < 26 ? c | 0x20 : c
                    i += 1
                }
                n = i
            }
            var i = out.count
            // Then ASCII byte by byte, other scalars through their lowercase mapping.
            while i < u.count {
                let c = u[i]
                if c < 0x80 {
                    out.append(c &- 65 < 26 ? c | 0x20 : c)
                    i += 1
                    continue
                }
                let (scalar, n) = decodeScalar(u, i)
                out += scalar.properties.lowercaseMapping.utf8
                i += n
            }
            return out
        }
    }

    /// The part of `text` whose lowercased bytes are `range`, widened to whole scalars.
    public static func original(_ text: String, lowercasedRange range: Range<Int>) -> String {
        var text = text
        return text.withUTF8 { u -> String in
            // Up to the first non-ASCII byte, offsets in both are the same.
            var i = 0
            while i < u.count, i < range.upperBound, u[i] < 0x80 { i += 1 }
            if i >= range.upperBound {
                return String(decoding: UnsafeBufferPointer(rebasing: u[range.lowerBound..<range.upperBound]), as: UTF8.self)
            }
            var offset = i
            var start = range.lowerBound < i ? range.lowerBound : -1
            while i < u.count {
                let n: Int, width: Int
                if u[i] < 0x80 {
                    (n, width) = (1, 1)
                } else {
                    let (scalar, length) = decodeScalar(u, i)
                    (n, width) = (length, scalar.properties.lowercaseMapping.utf8.count)
                }
                if start < 0 && offset + width > range.lowerBound { start = i }
                offset += width
                i += n
                if offset >= range.upperBound { break }
            }
            return String(decoding: UnsafeBufferPointer(rebasing: u[max(start, 0)..<i]), as: UTF8.self)
        }
    }

    /// The scalar whose UTF-8 starts at `i` of valid UTF-8 (a String's), and its length.
    @inline(__always) static func decodeScalar(_ u: UnsafeBufferPointer<UInt8>, _ i: Int) -> (Unicode.Scalar, Int) {
        let c = UInt32(u[i])
        let v: UInt32, n: Int
        if c >= 0xF0 {
            (v, n) = ((c & 0x07) << 18 | UInt32(u[i + 1] & 0x3F) << 12 | UInt32(u[i + 2] & 0x3F) << 6 | UInt32(u[i + 3] & 0x3F), 4)
        } else if c >= 0xE0 {
            (v, n) = ((c & 0x0F) << 12 | UInt32(u[i + 1] & 0x3F) << 6 | UInt32(u[i + 2] & 0x3F), 3)
        } else {
            (v, n) = ((c & 0x1F) << 6 | UInt32(u[i + 1] & 0x3F), 2)
        }
        return (Unicode.Scalar(v) ?? "\u{FFFD}", n)
    }
}

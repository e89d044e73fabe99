/// All rules compiled into one Aho-Corasick automaton over the UTF-8 of lowercased text, so
/// one pass over a field finds the first rule (in rule order) whose text occurs in it, and
/// the cost of a delivery hardly grows with the number of rules.
///
/// The compiled form is a flat byte image that can be used where it lies (a mapped file):
/// matching reads only the nodes the text walks through.
public struct CompiledRules {
    static let magic: UInt32 = 0x3152_5457  // "WTR1"
    static let none = UInt32.max

    /// The image; its layout is described in `compile`.
    public let image: UnsafeRawBufferPointer
    private let owner: AnyObject?

    public let version: UInt64
    public let ruleCount: Int
    let nodeCount: Int
    let edgeCount: Int
    let idsOffset: Int, rootOffset: Int, nodesOffset: Int, labelsOffset: Int, targetsOffset: Int

    /// Reads an image; nil if it is not one (wrong magic, truncated).
    public init?(image: UnsafeRawBufferPointer, owner: AnyObject?) {
        guard image.count >= 24, image.loadUnaligned(as: UInt32.self) == Self.magic else { return nil }
        self.image = image
        self.owner = owner
        version = image.loadUnaligned(fromByteOffset: 4, as: UInt64.self)
        ruleCount = Int(image.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        nodeCount = Int(image.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        edgeCount = Int(image.loadUnaligned(fromByteOffset: 20, as: UInt32.self))
        idsOffset = 24
        rootOffset = idsOffset + ruleCount * 8
        nodesOffset = rootOffset + 256 * 4
        labelsOffset = nodesOffset + nodeCount * 16
        targetsOffset = labelsOffset + (edgeCount + 3) / 4 * 4
        guard image.count >= targetsOffset + edgeCount * 4 else { return nil }
    }

    /// The database id of the rule at position `i` in rule order.
    public func ruleID(at i: Int) -> Int64 { image.loadUnaligned(fromByteOffset: idsOffset + i * 8, as: Int64.self) }

    @inline(__always) private func u32(_ offset: Int) -> UInt32 { image.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }

    @inline(__always) private func next(_ node: UInt32, _ b: UInt8) -> UInt32 {
        var n = node
        while true {
            if n == 0 { return u32(rootOffset + Int(b) * 4) }
            let base = nodesOffset + Int(n) * 16
            let start = Int(u32(base)), count = Int(u32(base + 4))
            // Edges are sorted by label: binary search.
            var lo = start, hi = start + count
            while lo < hi {
                let mid = (lo + hi) >> 1
                let l = image[labelsOffset + mid]
                if l == b { return u32(targetsOffset + mid * 4) }
                if l < b { lo = mid + 1 } else { hi = mid }
            }
            n = u32(base + 8)  // fail link
        }
    }

    /// The lowest rule position (rule order) whose text occurs in `lowercasedText`, or nil.
    public func firstRule(inLowercased text: String) -> Int? {
        var best = Self.none
        var node: UInt32 = 0
        var text = text
        text.withUTF8 { u in
            for b in u {
                node = next(node, b)
                if node != 0 {
                    let out = u32(nodesOffset + Int(node) * 16 + 12)
                    if out < best {
                        best = out
                        if best == 0 { return }
                    }
                }
            }
        }
        return best == Self.none ? nil : Int(best)
    }

    /// Compiles rule texts, given in rule order, into an image. Empty texts never match.
    public static func compile(texts: [String], ids: [Int64], version: UInt64) -> [UInt8] {
        precondition(texts.count == ids.count)
        // Trie with per-node children maps (compile time only).
        var children: [[UInt8: UInt32]] = [[:]]
        var output: [UInt32] = [none]
        for (i, t) in texts.enumerated() {
            let needle = Array(t.lowercased().utf8)
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
        for r in root { put32(r) }
        for v in nodes { put32(v) }
        image += labels
        image += [UInt8](repeating: 0, count: (4 - labels.count % 4) % 4)
        for t in targets { put32(t) }
        return image
    }
}

/// Owns an image held in memory.
final class ImageBox {
    let buffer: UnsafeMutableRawBufferPointer
    init(_ bytes: [UInt8]) {
        buffer = .allocate(byteCount: max(bytes.count, 1), alignment: 8)
        buffer.copyMemory(from: UnsafeRawBufferPointer(start: bytes, count: bytes.count))
    }
    deinit { buffer.deallocate() }
}

extension CompiledRules {
    /// An image kept in memory (compiled on the spot, or read from a file).
    public static func inMemory(_ bytes: [UInt8]) -> CompiledRules? {
        let box = ImageBox(bytes)
        return CompiledRules(image: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(box.buffer)[0..<bytes.count]), owner: box)
    }

    /// The first rule (lowest position) whose text occurs in any field, and the first field it
    /// occurs in (sender, then subject, then body).
    public func firstMatch(_ m: some RuleSubject) -> (position: Int, field: MatchField)? {
        var best: (Int, MatchField)? = nil
        for (field, text) in [(MatchField.sender, m.sender), (.subject, m.subject), (.body, m.body)] {
            guard let p = firstRule(inLowercased: text.lowercased()) else { continue }
            if best == nil || p < best!.0 { best = (p, field) }
            if p == 0 { break }
        }
        return best.map { (position: $0.0, field: $0.1) }
    }
}

/// Where `needle` stands in `text`, case-insensitively, as written in `text`.
public func locate(_ needle: String, in text: String) -> String? {
    let n = needle.lowercased()
    guard !n.isEmpty else { return nil }
    // Walk character by character so the answer is a slice of the original text.
    var i = text.startIndex
    while i < text.endIndex {
        var j = i
        var acc = ""
        while j < text.endIndex, acc.count < n.count {
            acc += text[j].lowercased()
            j = text.index(after: j)
        }
        if acc.hasPrefix(n) || acc == n { return String(text[i..<j]) }
        i = text.index(after: i)
    }
    return nil
}

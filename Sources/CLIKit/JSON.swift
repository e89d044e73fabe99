/// A minimal JSON writer: the explain output is a flat object of strings, numbers and lists,
/// and writing it by hand keeps Foundation off the delivery path.
public struct JSONWriter {
    public var out: [UInt8] = []
    private var needComma: [Bool] = [false]

    public init(capacity: Int = 4096) { out.reserveCapacity(capacity) }

    private mutating func separate() {
        if needComma[needComma.count - 1] { out.append(UInt8(ascii: ",")) }
        needComma[needComma.count - 1] = true
    }

    public mutating func beginObject() { out.append(UInt8(ascii: "{")); needComma.append(false) }
    public mutating func endObject() { out.append(UInt8(ascii: "}")); needComma.removeLast() }
    public mutating func beginArray() { out.append(UInt8(ascii: "[")); needComma.append(false) }
    public mutating func endArray() { out.append(UInt8(ascii: "]")); needComma.removeLast() }

    public mutating func key(_ k: String) {
        separate()
        writeString(k)
        out.append(UInt8(ascii: ":"))
        needComma[needComma.count - 1] = false
        pendingValueAfterKey = true
    }

    private var pendingValueAfterKey = false

    private mutating func valuePrefix() {
        if pendingValueAfterKey {
            pendingValueAfterKey = false
            needComma[needComma.count - 1] = true
        } else {
            separate()
        }
    }

    public mutating func objectValue(_ body: (inout JSONWriter) -> Void) { valuePrefix(); beginObject(); body(&self); endObject() }
    public mutating func arrayValue(_ body: (inout JSONWriter) -> Void) { valuePrefix(); beginArray(); body(&self); endArray() }
    public mutating func string(_ s: String?) {
        valuePrefix()
        if let s { writeString(s) } else { out += Array("null".utf8) }
    }
    public mutating func int(_ v: Int) { valuePrefix(); out += Array(String(v).utf8) }
    public mutating func bool(_ v: Bool) { valuePrefix(); out += Array((v ? "true" : "false").utf8) }
    public mutating func null() { valuePrefix(); out += Array("null".utf8) }

    public mutating func field(_ k: String, _ s: String?) { key(k); string(s) }
    public mutating func field(_ k: String, _ v: Int) { key(k); int(v) }
    public mutating func field(_ k: String, _ v: Bool) { key(k); bool(v) }

    private static let hex = Array("0123456789abcdef".utf8)

    private mutating func writeString(_ s: String) {
        var s = s
        out.append(UInt8(ascii: "\""))
        s.withUTF8 { u in
            var runStart = 0
            for (i, b) in u.enumerated() where b < 32 || b == 34 || b == 92 {
                if runStart < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: u[runStart..<i])) }
                runStart = i + 1
                switch b {
                case 34: out += [92, 34]
                case 92: out += [92, 92]
                case 10: out += [92, UInt8(ascii: "n")]
                case 13: out += [92, UInt8(ascii: "r")]
                case 9: out += [92, UInt8(ascii: "t")]
                default: out += [92, UInt8(ascii: "u"), 48, 48, Self.hex[Int(b >> 4)], Self.hex[Int(b & 15)]]
                }
            }
            if runStart < u.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: u[runStart...])) }
        }
        out.append(UInt8(ascii: "\""))
    }
}

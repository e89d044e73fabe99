/// RFC 2047 encoded words, leniently: encoded words are found inside other text too (as most
/// mail readers do), white space between two encoded words is dropped, and the bytes of
/// adjacent words in the same charset are joined before decoding, so a character split
/// across two words survives. Raw 8-bit bytes outside encoded words are read as UTF-8, else
/// in `fallbackCharset`, else windows-1252.
public func decodeUnstructured(_ raw: [UInt8], fallbackCharset: String? = nil, foldWhitespace: Bool = true) -> String {
    var s = decodeEncodedWords(raw, fallbackCharset: fallbackCharset)
    // A NUL would cut the text short in C strings and databases: show it as U+FFFD.
    if s.utf8.contains(0) { s = String(s.unicodeScalars.map { $0 == "\u{0}" ? "\u{FFFD}" : Character($0) }) }
    return foldWhitespace ? s.foldedWS : s
}

private enum Piece {
    case literal(ArraySlice<UInt8>)
    case encoded(charset: String, bytes: [UInt8])
}

func decodeEncodedWords(_ raw: [UInt8], fallbackCharset: String?) -> String {
    // Quick exit: no "=?" at all.
    var hasMarker = false
    if raw.count >= 2 {
        for i in 0..<(raw.count - 1) where raw[i] == Byte.equals && raw[i + 1] == 63 { hasMarker = true; break }
    }
    if !hasMarker { return literalText(raw[...], fallbackCharset) }

    var pieces: [Piece] = []
    var i = 0
    var litStart = 0
    let n = raw.count
    // Where the next "?=" and the next line break are, from each position, found in one pass
    // from the end, so that many "=?" without a closing "?=" cost linear time, not quadratic.
    var nextClose = [Int32](repeating: Int32(n), count: n + 1)
    var nextBreak = [Int32](repeating: Int32(n), count: n + 1)
    if n >= 2 {
        for k in stride(from: n - 1, through: 0, by: -1) {
            nextClose[k] = (k + 1 < n && raw[k] == 63 && raw[k + 1] == Byte.equals) ? Int32(k) : nextClose[k + 1]
            nextBreak[k] = (raw[k] == Byte.cr || raw[k] == Byte.lf) ? Int32(k) : nextBreak[k + 1]
        }
    }
    while i + 1 < n {
        if raw[i] == Byte.equals && raw[i + 1] == 63, let (word, next) = parseEncodedWord(raw, i, nextClose, nextBreak) {
            if litStart < i { pieces.append(.literal(raw[litStart..<i])) }
            pieces.append(word)
            i = next
            litStart = next
            continue
        }
        i += 1
    }
    if litStart < n { pieces.append(.literal(raw[litStart..<n])) }

    // Drop white space between encoded words; join adjacent words of one charset.
    var out = ""
    var pendingCharset: String? = nil
    var pendingBytes: [UInt8] = []
    var utf7 = UTF7Tail()
    func flush() {
        if let cs = pendingCharset {
            out += Charset.decode(pendingBytes, label: cs).text
            pendingCharset = nil
            pendingBytes.removeAll(keepingCapacity: true)
            utf7 = UTF7Tail()
        }
    }
    var k = 0
    while k < pieces.count {
        switch pieces[k] {
        case .encoded(let cs, let bytes):
            // Labels spelled alike need no canonical names (most headers use one spelling).
            if let p = pendingCharset, p != cs, Charset.canonicalName(p) != Charset.canonicalName(cs) { flush() }
            pendingCharset = cs
            pendingBytes += bytes
            // A UTF-7 word may end inside a base64 run, which its end closes; joined to the next
            // word the run would swallow that word's letters. Join only a word cut mid-character.
            if cs.utf8.contains(UInt8(ascii: "7")), Charset.canonicalName(cs) == "UTF-7" {
                utf7.feed(bytes)
                if utf7.endsOnCharacter { flush() }
            }
        case .literal(let lit):
            let isWS = lit.allSatisfy { Byte.isSpace($0) }
            if isWS, k > 0, case .encoded = pieces[k - 1], k + 1 < pieces.count, case .encoded = pieces[k + 1] {
                break  // white space between two encoded words
            }
            flush()
            out += literalText(lit, fallbackCharset)
        }
        k += 1
    }
    flush()
    return out
}

/// Where UTF-7 text stands at its end: outside a base64 run, or inside one on a character boundary.
struct UTF7Tail {
    private var inBase64 = false
    private var bits = 0
    private var acc: UInt32 = 0
    private var highSurrogate = false

    mutating func feed(_ bytes: [UInt8]) {
        for b in bytes {
            if !inBase64 {
                if b == UInt8(ascii: "+") { inBase64 = true; bits = 0; acc = 0; highSurrogate = false }
                continue
            }
            let v: UInt32
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(b - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(b - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(b - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): v = 62
            case UInt8(ascii: "/"): v = 63
            default:
                inBase64 = false
                continue
            }
            acc = (acc << 6 | v) & 0x3FFFFF
            bits += 6
            if bits >= 16 {
                bits -= 16
                let unit = (acc >> UInt32(bits)) & 0xFFFF
                highSurrogate = unit >= 0xD800 && unit <= 0xDBFF
            }
        }
    }

    /// True when no character is cut: the next word may start afresh.
    var endsOnCharacter: Bool {
        !inBase64 || (bits < 6 && acc & ((1 << UInt32(bits)) - 1) == 0 && !highSurrogate)
    }
}

private func literalText(_ bytes: ArraySlice<UInt8>, _ fallback: String?) -> String {
    bytes.withUnsafeBufferPointer { Charset.decodeHeaderBytes($0, fallback: fallback) }
}

/// Parses "=?charset?E?text?=" at `at`; returns the decoded piece and the index after it.
private func parseEncodedWord(_ raw: [UInt8], _ at: Int, _ nextClose: [Int32], _ nextBreak: [Int32]) -> (Piece, Int)? {
    let n = raw.count
    var i = at + 2
    let csStart = i
    while i < n, raw[i] != 63 {
        let c = raw[i]
        // Charset names are short; a long run is not one.
        if c <= 32 || c >= 127 || i - csStart > 64 { return nil }
        i += 1
    }
    guard i + 2 < n, i > csStart else { return nil }
    let charset = String(decoding: raw[csStart..<i], as: UTF8.self)
    let enc = Byte.lower(raw[i + 1])
    guard enc == UInt8(ascii: "b") || enc == UInt8(ascii: "q"), raw[i + 2] == 63 else { return nil }
    let textStart = i + 3
    // The text ends at the first "?=" on the same line.
    let j = Int(nextClose[textStart])
    guard j + 1 < n, Int(nextBreak[textStart]) > j else { return nil }
    var decoded: [UInt8] = []
    _ = raw[textStart..<j].withUnsafeBufferPointer { text in
        if enc == UInt8(ascii: "b") {
            decodeBase64(text) { decoded.append(contentsOf: $0) }
        } else {
            decodeQuotedPrintable(text, header: true) { decoded.append(contentsOf: $0) }
        }
    }
    return (.encoded(charset: charset, bytes: decoded), j + 2)
}

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
    func flush() {
        if let cs = pendingCharset {
            out += Charset.decode(pendingBytes, label: cs).text
            pendingCharset = nil
            pendingBytes.removeAll(keepingCapacity: true)
        }
    }
    var k = 0
    while k < pieces.count {
        switch pieces[k] {
        case .encoded(let cs, let bytes):
            if let p = pendingCharset, Charset.canonicalName(p) != Charset.canonicalName(cs) { flush() }
            pendingCharset = cs
            pendingBytes += bytes
        case .literal(let lit):
            let isWS = lit.allSatisfy { Byte.isSpace($0) }
            if isWS, pendingCharset != nil, k + 1 < pieces.count, case .encoded = pieces[k + 1] {
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

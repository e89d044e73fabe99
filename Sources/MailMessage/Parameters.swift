/// A Content-Type or Content-Disposition value: the main value and its parameters, with
/// RFC 2231 continuations and charsets resolved, and RFC 2047 words in values decoded (a
/// common violation that every reader accepts).
public struct ParameterizedValue: Sendable {
    /// Lowercased main value ("text/plain", "attachment").
    public var value: String
    /// Parameters by lowercased name.
    public var parameters: [String: String]
    public var tooManySections = false

    public subscript(_ name: String) -> String? { parameters[name] }
}

func parseParameterized(_ raw: [UInt8], fallbackCharset: String?, maxSections: Int) -> ParameterizedValue {
    var i = 0
    let n = raw.count
    func skipCFWS() {
        while i < n {
            if Byte.isSpace(raw[i]) { i += 1; continue }
            if raw[i] == UInt8(ascii: "(") { skipComment(raw, &i); continue }
            break
        }
    }
    skipCFWS()
    let vStart = i
    while i < n, raw[i] != Byte.semicolon, !Byte.isSpace(raw[i]), raw[i] != UInt8(ascii: "(") { i += 1 }
    var value = String(decoding: raw[vStart..<i], as: UTF8.self).asciiLowercased
    if value.hasSuffix("\"") { value.removeLast() }
    if value.hasPrefix("\"") { value.removeFirst() }
    var result = ParameterizedValue(value: value, parameters: [:])

    // name -> raw value, and name -> [section index: (value, extended)]
    var simple: [String: [UInt8]] = [:]
    var extended: [String: [UInt8]] = [:]
    var sections: [String: [Int: ([UInt8], Bool)]] = [:]
    var sectionCount = 0

    while i < n {
        // Move to the next parameter (lenient: a missing ";" is tolerated).
        while i < n, raw[i] == Byte.semicolon || Byte.isSpace(raw[i]) { i += 1 }
        skipCFWS()
        guard i < n else { break }
        let nStart = i
        while i < n, raw[i] != Byte.equals, raw[i] != Byte.semicolon, !Byte.isSpace(raw[i]) { i += 1 }
        let name = String(decoding: raw[nStart..<i], as: UTF8.self).asciiLowercased
        skipCFWS()
        guard i < n, raw[i] == Byte.equals else {
            // "name" without a value: skip to the next ";".
            while i < n, raw[i] != Byte.semicolon { i += 1 }
            continue
        }
        i += 1
        skipCFWS()
        var v: [UInt8] = []
        if i < n, raw[i] == Byte.dquote {
            i += 1
            while i < n, raw[i] != Byte.dquote {
                if raw[i] == Byte.backslash, i + 1 < n { i += 1 }
                v.append(raw[i])
                i += 1
            }
            if i < n { i += 1 }
            // Junk after the closing quote up to ";" is ignored.
            while i < n, raw[i] != Byte.semicolon { i += 1 }
        } else {
            // A token; leniently, up to ";" with trailing white space dropped (unquoted names
            // with spaces are common).
            while i < n, raw[i] != Byte.semicolon { v.append(raw[i]); i += 1 }
            while let l = v.last, Byte.isSpace(l) { v.removeLast() }
            dropTrailingComment(&v)
        }
        if name.isEmpty { continue }
        // RFC 2231: name*, name*N, name*N*
        if let star = name.firstIndex(of: "*") {
            let base = String(name[..<star])
            let rest = name[name.index(after: star)...]
            if rest.isEmpty {
                extended[base] = v
            } else {
                let isExt = rest.hasSuffix("*")
                let numText = isExt ? rest.dropLast() : rest
                if let num = Int(numText), num >= 0 {
                    sectionCount += 1
                    if sectionCount > maxSections { result.tooManySections = true; continue }
                    sections[base, default: [:]][num] = (v, isExt)
                }
            }
        } else if simple[name] == nil {
            simple[name] = v
        }
    }

    for (name, v) in simple {
        result.parameters[name] = decodeEncodedWords(v, fallbackCharset: fallbackCharset)
    }
    for (name, parts) in sections {
        var bytes: [UInt8] = []
        var charset: String? = nil
        for idx in parts.keys.sorted() {
            let (v, isExt) = parts[idx]!
            if isExt {
                var body = v[...]
                if idx == parts.keys.min()!, let (cs, rest) = splitCharsetLanguage(v) {
                    charset = cs
                    body = rest
                }
                bytes += percentDecode(body)
            } else {
                bytes += v
            }
        }
        result.parameters[name] = charset.map { Charset.decode(bytes, label: $0).text }
            ?? decodeEncodedWords(bytes, fallbackCharset: fallbackCharset)
    }
    for (name, v) in extended {
        if let (cs, rest) = splitCharsetLanguage(v) {
            result.parameters[name] = Charset.decode(percentDecode(rest), label: cs.isEmpty ? "us-ascii" : cs).text
        } else {
            result.parameters[name] = Charset.decode(percentDecode(v[...]), label: fallbackCharset).text
        }
    }
    return result
}

/// "us-ascii (Plain text)" -> "us-ascii" (RFC 2045's own example). Only a comment set off by
/// white space at the end goes, so "report(1).pdf" and "report (1).pdf" keep their names.
private func dropTrailingComment(_ v: inout [UInt8]) {
    guard v.last == UInt8(ascii: ")") else { return }
    var depth = 0
    var j = v.count - 1
    while j >= 0 {
        if v[j] == UInt8(ascii: ")") { depth += 1 } else if v[j] == UInt8(ascii: "(") {
            depth -= 1
            if depth == 0 { break }
        }
        j -= 1
    }
    guard j > 0, depth == 0, Byte.isSpace(v[j - 1]) else { return }
    v.removeSubrange(j...)
    while let l = v.last, Byte.isSpace(l) { v.removeLast() }
}

/// "charset'language'rest" -> (charset, rest)
private func splitCharsetLanguage(_ v: [UInt8]) -> (String, ArraySlice<UInt8>)? {
    guard let q1 = v.firstIndex(of: 39) else { return nil }
    guard let q2 = v[(q1 + 1)...].firstIndex(of: 39) else { return nil }
    return (String(decoding: v[..<q1], as: UTF8.self), v[(q2 + 1)...])
}

private func percentDecode(_ v: ArraySlice<UInt8>) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(v.count)
    var i = v.startIndex
    while i < v.endIndex {
        if v[i] == 37, i + 2 < v.endIndex, let h = hexDigit(v[i + 1]), let l = hexDigit(v[i + 2]) {
            out.append(h << 4 | l)
            i += 3
        } else {
            out.append(v[i])
            i += 1
        }
    }
    return out
}

@inline(__always) func hexDigit(_ c: UInt8) -> UInt8? {
    switch c {
    case 48...57: return c - 48
    case 65...70: return c - 55
    case 97...102: return c - 87
    default: return nil
    }
}

/// Skips a (possibly nested) comment starting at `i`.
func skipComment(_ raw: [UInt8], _ i: inout Int) {
    var depth = 0
    while i < raw.count {
        let c = raw[i]
        if c == Byte.backslash { i += 2; continue }
        if c == UInt8(ascii: "(") { depth += 1 } else if c == UInt8(ascii: ")") {
            depth -= 1
            if depth == 0 { i += 1; return }
        }
        i += 1
    }
}

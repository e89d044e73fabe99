private let sp: UInt8 = 32
private let dquote = UInt8(ascii: "\"")
private let backslash = UInt8(ascii: "\\")

/// Writes header fields folded at white space: every value is a sequence of unbreakable
/// chunks, each after one space, and a chunk that would pass `lineLimit` starts a new line.
struct HeaderWriter {
    var out: [UInt8] = []
    /// Octets on the current line.
    var column = 0
    /// Whether the current line holds more than the field name.
    var lineHasValue = false

    mutating func begin(_ name: String) {
        out += name.utf8
        out.append(UInt8(ascii: ":"))
        column = name.utf8.count + 1
        lineHasValue = false
    }

    mutating func end() {
        out += crlf
        column = 0
    }

    /// A whole field line written as is (our own ASCII fields).
    mutating func line(_ s: String) {
        out += s.utf8
        out += crlf
        column = 0
    }

    mutating func fold() {
        out += crlf
        column = 0
        lineHasValue = false
    }

    /// One unbreakable piece after a space, on a new line when it would pass the limit. Never
    /// right after the field name: some readers keep the space that starts a folded line.
    mutating func chunk(_ c: some Collection<UInt8>) {
        let n = c.count
        if lineHasValue && column + 1 + n > lineLimit { fold() }
        out.append(sp)
        out += c
        column += 1 + n
        lineHasValue = true
    }

    /// An unstructured value (already `headerText`): plain words as they are, runs of other
    /// words (non-ASCII, "=?" that a reader would decode, longer than a line) as encoded words
    /// that carry the spaces between them, since readers drop white space between encoded words.
    mutating func unstructured(_ text: String) {
        var run: [UInt8] = []
        for w in text.utf8.split(separator: sp) {
            // A first word too long for the first line is encoded, so that it can be split.
            let fits = lineHasValue || !run.isEmpty || column + 1 + w.count <= lineLimit
            if fits && isPlainWord(w) {
                if !run.isEmpty {
                    encodedWords(run)
                    run.removeAll(keepingCapacity: true)
                }
                chunk(w)
            } else {
                if !run.isEmpty { run.append(sp) }
                run += w
            }
        }
        if !run.isEmpty { encodedWords(run) }
    }

    /// A display name (already `headerText`, not empty): atoms as they are, other ASCII as one
    /// quoted string (folded at its spaces), anything else as encoded words.
    mutating func displayName(_ name: String) {
        let bytes = Array(name.utf8)
        let words = bytes.split(separator: sp)
        var atoms = true
        for w in words {
            if !isASCIIPrintable(w) || hasEncodedWordMarker(w) || quotedLength(w) + 2 > lineLimit - 1 {
                encodedWords(bytes)
                return
            }
            if atoms && !w.allSatisfy(isAtext) { atoms = false }
        }
        var pieces = words.map { Array($0) }
        if !atoms {
            for k in pieces.indices {
                var piece: [UInt8] = k == 0 ? [dquote] : []
                for c in pieces[k] {
                    if c == dquote || c == backslash { piece.append(backslash) }
                    piece.append(c)
                }
                if k == pieces.count - 1 { piece.append(dquote) }
                pieces[k] = piece
            }
        }
        // A first piece too long for the first line: encoded words can be split.
        if !lineHasValue, let first = pieces.first, column + 1 + first.count > lineLimit {
            encodedWords(bytes)
            return
        }
        for p in pieces { chunk(p) }
    }

    /// "Name <addr>, <addr>": the comma stays with the address before it.
    mutating func mailboxes(_ list: [MailAddress]) {
        for (k, m) in list.enumerated() {
            let name = headerText(m.name ?? "")
            if !name.isEmpty { displayName(name) }
            var a = [UInt8(ascii: "<")] + Array(m.address.utf8) + [UInt8(ascii: ">")]
            if k < list.count - 1 { a.append(UInt8(ascii: ",")) }
            chunk(a)
        }
    }

    /// UTF-8 text as RFC 2047 encoded words of whole characters, each at most 75 characters
    /// and filling the line it starts on; Q or B, whichever is shorter for the whole text.
    mutating func encodedWords(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { p in
            var q = 0
            for k in 0..<p.count { q += qCost(p[k]) }
            let useB = (p.count + 2) / 3 * 4 < q
            let overhead = 12  // "=?utf-8?q?" and "?="
            func cost(_ n: Int, _ qLen: Int) -> Int { useB ? (n + 2) / 3 * 4 : qLen }
            var i = 0
            while i < p.count {
                // Whole characters only, as many as fit the line (at least one, on a new line).
                var j = scalarEnd(p, i)
                var qLen = 0
                for k in i..<j { qLen += qCost(p[k]) }
                var room = min(maxEncodedWord, lineLimit - column - 1) - overhead
                if cost(j - i, qLen) > room {
                    fold()
                    room = maxEncodedWord - overhead
                }
                while j < p.count {
                    let e = scalarEnd(p, j)
                    var ql = qLen
                    for k in j..<e { ql += qCost(p[k]) }
                    if cost(e - i, ql) > room { break }
                    qLen = ql
                    j = e
                }
                var word = useB ? bPrefix : qPrefix
                word.reserveCapacity(overhead + cost(j - i, qLen))
                let piece = UnsafeBufferPointer(rebasing: p[i..<j])
                if useB { base64(piece, into: &word) } else { qEncode(piece, into: &word) }
                word.append(UInt8(ascii: "?"))
                word.append(UInt8(ascii: "="))
                chunk(word)
                i = j
            }
        }
    }
}

private let qPrefix = Array("=?utf-8?q?".utf8)
private let bPrefix = Array("=?utf-8?b?".utf8)

/// A word that can be written as it is: printable ASCII, no "=?", short enough for a line.
private func isPlainWord(_ w: some Collection<UInt8>) -> Bool {
    w.count <= lineLimit - 1 && isASCIIPrintable(w) && !hasEncodedWordMarker(w)
}

private func isASCIIPrintable(_ w: some Collection<UInt8>) -> Bool {
    w.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
}

private func hasEncodedWordMarker(_ w: some Collection<UInt8>) -> Bool {
    var prev: UInt8 = 0
    for c in w {
        if prev == UInt8(ascii: "=") && c == UInt8(ascii: "?") { return true }
        prev = c
    }
    return false
}

/// RFC 5322 atext.
private func isAtext(_ c: UInt8) -> Bool {
    switch c {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    default:
        return "!#$%&'*+-/=?^_`{|}~".utf8.contains(c)
    }
}

private func quotedLength(_ w: some Collection<UInt8>) -> Int {
    var n = 0
    for c in w { n += (c == dquote || c == backslash) ? 2 : 1 }
    return n
}

/// The end of the UTF-8 sequence starting at `i`.
private func scalarEnd(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int {
    var j = i + 1
    while j < b.count, b[j] & 0xC0 == 0x80 { j += 1 }
    return j
}

/// Characters Q writes as they are: those RFC 2047 allows in a phrase, so that one encoder
/// serves subjects and display names.
@inline(__always) private func qLiteral(_ c: UInt8) -> Bool {
    let l = c | 0x20
    return (l >= 0x61 && l <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == sp || c == 0x21 || c == 0x2A || c == 0x2B
        || c == 0x2D || c == 0x2F
}

@inline(__always) private func qCost(_ c: UInt8) -> Int { qLiteral(c) ? 1 : 3 }

private let hexDigits = Array("0123456789ABCDEF".utf8)

private func qEncode(_ s: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
    for k in 0..<s.count {
        let c = s[k]
        if c == sp {
            out.append(UInt8(ascii: "_"))
        } else if qLiteral(c) {
            out.append(c)
        } else {
            out.append(UInt8(ascii: "="))
            out.append(hexDigits[Int(c >> 4)])
            out.append(hexDigits[Int(c & 15)])
        }
    }
}

private let base64Digits = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

private func base64(_ s: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
    var i = 0
    while i < s.count {
        let n = min(3, s.count - i)
        let b0 = UInt32(s[i])
        let b1 = n > 1 ? UInt32(s[i + 1]) : 0
        let b2 = n > 2 ? UInt32(s[i + 2]) : 0
        let v = b0 << 16 | b1 << 8 | b2
        out.append(base64Digits[Int(v >> 18 & 63)])
        out.append(base64Digits[Int(v >> 12 & 63)])
        out.append(n > 1 ? base64Digits[Int(v >> 6 & 63)] : UInt8(ascii: "="))
        out.append(n > 2 ? base64Digits[Int(v & 63)] : UInt8(ascii: "="))
        i += n
    }
}

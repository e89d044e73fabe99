/// A mailbox from an address header: the display name (decoded) and the address.
public struct Mailbox: Sendable, Equatable {
    public var name: String?
    /// Nil when the field named someone without an address.
    public var address: String?

    public init(name: String?, address: String?) {
        self.name = name
        self.address = address
    }
}

/// Parses an address list (RFC 5322 with obsolete syntax): groups, comments, quoted names,
/// routes, encoded words in names (quoted or not), and the common breakage of real mail
/// (unquoted commas are not guessed at, but a missing angle bracket or a bare
/// "Name addr@host" is). A lone lower-case or all-capitals word is an address without domain
/// ("MAILER-DAEMON"), as Python reads it. Returns the mailboxes in order; group names are dropped.
public func parseAddressList(_ raw: [UInt8], fallbackCharset: String? = nil, limit: Int = 2_000) -> (mailboxes: [Mailbox], truncated: Bool) {
    var tokens = tokenizeAddress(raw)
    var result: [Mailbox] = []
    var words: [AddrToken] = []
    var angle: [UInt8]? = nil
    var comments: [[UInt8]] = []
    var truncated = false
    // Mailboxes read from one bare word (an address without domain), with the name-only
    // mailbox they become if the list also has a real address.
    var bare: [(index: Int, asName: Mailbox)] = []

    func finish() {
        defer { words.removeAll(); angle = nil; comments.removeAll() }
        if result.count >= limit { truncated = true; return }
        if let a = angle {
            var addr = withoutSpaceOutsideQuotes(a)
            // Obsolete route "@a,@b:user@host".
            if addr.first == UInt8(ascii: "@"), let colon = addr.lastIndex(of: Byte.colon) { addr = Array(addr[(colon + 1)...]) }
            let name = phrase(words, fallbackCharset)
            if addr.isEmpty && name.isEmpty { return }
            result.append(Mailbox(name: name.isEmpty ? commentName(comments, fallbackCharset) : name,
                                  address: String(decoding: addr, as: UTF8.self)))
            return
        }
        guard !words.isEmpty else { return }
        // No angle brackets: "user@host", or a name followed by a bare address.
        var split = words.count
        if let at = words.lastIndex(where: { !$0.quoted && $0.text.contains(UInt8(ascii: "@")) }) {
            // The address is the run of adjacent (unspaced) words around the "@" word.
            var s = at
            while s > 0, !words[s].spaceBefore { s -= 1 }
            split = s
        } else {
            split = 0
        }
        var addr: [UInt8] = []
        for w in words[split...] {
            if w.quoted { addr.append(Byte.dquote); addr += w.text; addr.append(Byte.dquote) } else { addr += w.text }
        }
        let name = phrase(Array(words[..<split]), fallbackCharset)
        let cname = commentName(comments, fallbackCharset)
        if split == 0, !addr.contains(UInt8(ascii: "@")) {
            let n = phrase(words, fallbackCharset)
            if words.count == 1, isBareLocalPart(words[0]) {
                // "From: MAILER-DAEMON": an address without domain, as Python reads it.
                bare.append((result.count, Mailbox(name: n, address: nil)))
                result.append(Mailbox(name: cname, address: String(decoding: addr, as: UTF8.self)))
                return
            }
            // "From: Mail Delivery System": a name with no address.
            result.append(Mailbox(name: n, address: nil))
            return
        }
        result.append(Mailbox(name: name.isEmpty ? cname : name, address: String(decoding: addr, as: UTF8.self)))
    }

    var i = 0
    while i < tokens.count {
        let t = tokens[i]
        switch t.kind {
        case .special(let c):
            if c == UInt8(ascii: ",") { finish() }
            else if c == Byte.colon {
                if angle == nil, !words.isEmpty, !words.contains(where: { !$0.quoted && $0.text.contains(UInt8(ascii: "@")) }) {
                    words.removeAll()  // group display name
                    comments.removeAll()
                } else {
                    words.append(AddrToken(kind: .word, text: [c], quoted: false, spaceBefore: t.spaceBefore))
                }
            } else if c == Byte.semicolon { finish() }
        case .angle:
            if angle == nil { angle = t.text } else { words.append(AddrToken(kind: .word, text: t.text, quoted: false, spaceBefore: true)) }
        case .comment:
            comments.append(t.text)
        case .word:
            if angle != nil {
                // Text after "<addr>" before the next comma: part of the name in broken mail.
                words.append(t)
            } else {
                words.append(t)
            }
        }
        i += 1
    }
    finish()
    tokens.removeAll()
    // "Doe, Jane <jane@example.com>": beside a real address, a bare word is part of a name
    // written with an unquoted comma, not a second sender.
    if !bare.isEmpty, result.contains(where: { $0.address?.utf8.contains(UInt8(ascii: "@")) == true }) {
        for b in bare { result[b.index] = b.asName }
    }
    return (result, truncated)
}

/// One unquoted word that can be the local part of an address (RFC 5322 atext and dots): not
/// an encoded word, and not capitalized like a name ("Whomever", "Moderator-Address"; local
/// parts are lower case, or all capitals as in "MAILER-DAEMON").
private func isBareLocalPart(_ w: AddrToken) -> Bool {
    let t = w.text
    guard !w.quoted, !t.isEmpty else { return false }
    if t.count >= 4, t[0] == Byte.equals, t[1] == 63, t[t.count - 2] == 63, t[t.count - 1] == Byte.equals { return false }
    if t[0] >= UInt8(ascii: "A"), t[0] <= UInt8(ascii: "Z"), t.contains(where: { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }) {
        return false
    }
    for c in t {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            continue
        default:
            if !"!#$%&'*+-/=?^_`{|}~.".utf8.contains(c) { return false }
        }
    }
    return true
}

/// "< john@example.com >" -> "john@example.com"; "<\"john doe\"@example.com>" keeps its space.
private func withoutSpaceOutsideQuotes(_ a: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(a.count)
    var inQuote = false
    var k = 0
    while k < a.count {
        let c = a[k]
        if inQuote && c == Byte.backslash && k + 1 < a.count {
            out.append(c)
            out.append(a[k + 1])
            k += 2
            continue
        }
        if c == Byte.dquote { inQuote.toggle() }
        if inQuote || !Byte.isSpace(c) { out.append(c) }
        k += 1
    }
    return out
}

struct AddrToken {
    enum Kind { case word, angle, comment, special(UInt8) }
    var kind: Kind
    var text: [UInt8]
    var quoted: Bool
    var spaceBefore: Bool
}

private func tokenizeAddress(_ raw: [UInt8]) -> [AddrToken] {
    var out: [AddrToken] = []
    var i = 0
    let n = raw.count
    var space = false
    while i < n {
        let c = raw[i]
        if Byte.isSpace(c) { space = true; i += 1; continue }
        switch c {
        case Byte.dquote:
            var v: [UInt8] = []
            i += 1
            while i < n, raw[i] != Byte.dquote {
                if raw[i] == Byte.backslash, i + 1 < n { i += 1 }
                if raw[i] != Byte.cr && raw[i] != Byte.lf { v.append(raw[i]) }
                i += 1
            }
            i += 1
            out.append(AddrToken(kind: .word, text: v, quoted: true, spaceBefore: space))
        case UInt8(ascii: "("):
            let s = i
            skipComment(raw, &i)
            let e = min(i, n)
            var inner = Array(raw[(s + 1)..<max(s + 1, e)])
            if inner.last == UInt8(ascii: ")") { inner.removeLast() }
            out.append(AddrToken(kind: .comment, text: inner, quoted: false, spaceBefore: space))
        case UInt8(ascii: "<"):
            var v: [UInt8] = []
            i += 1
            while i < n, raw[i] != UInt8(ascii: ">") {
                if raw[i] == Byte.dquote {
                    // Quoted local part inside the brackets.
                    v.append(raw[i]); i += 1
                    while i < n, raw[i] != Byte.dquote {
                        if raw[i] == Byte.backslash, i + 1 < n { v.append(raw[i]); i += 1 }
                        v.append(raw[i]); i += 1
                    }
                    if i < n { v.append(raw[i]); i += 1 }
                    continue
                }
                if raw[i] == UInt8(ascii: "(") { skipComment(raw, &i); continue }
                v.append(raw[i])
                i += 1
            }
            i += 1
            out.append(AddrToken(kind: .angle, text: v, quoted: false, spaceBefore: space))
        case UInt8(ascii: ","), Byte.colon, Byte.semicolon:
            out.append(AddrToken(kind: .special(c), text: [], quoted: false, spaceBefore: space))
            i += 1
        default:
            let s = i
            while i < n {
                let d = raw[i]
                if Byte.isSpace(d) || d == Byte.dquote || d == UInt8(ascii: "(") || d == UInt8(ascii: "<")
                    || d == UInt8(ascii: ",") || d == Byte.colon || d == Byte.semicolon { break }
                i += 1
            }
            // An encoded word may legitimately contain "," or ":" or "(" etc? Only "?" and "=",
            // but broken mailers put spaces and specials in them: keep a whole "=?...?=" intact.
            if i < n, raw[s] == Byte.equals, s + 1 < n, raw[s + 1] == 63, let end = encodedWordEnd(raw, s) , end > i {
                i = end
            }
            out.append(AddrToken(kind: .word, text: Array(raw[s..<i]), quoted: false, spaceBefore: space))
        }
        space = false
    }
    return out
}

/// End of "=?cs?e?text?=" starting at s, if there is one on this line.
private func encodedWordEnd(_ raw: [UInt8], _ s: Int) -> Int? {
    var q = 0
    var i = s + 2
    while i < raw.count {
        if raw[i] == 63 {
            q += 1
            if q >= 3, i + 1 < raw.count, raw[i + 1] == Byte.equals { return i + 2 }
        }
        if raw[i] == Byte.lf || raw[i] == UInt8(ascii: "<") && q < 3 { return nil }
        i += 1
    }
    return nil
}

private func phrase(_ words: [AddrToken], _ fallback: String?) -> String {
    var raw: [UInt8] = []
    for (k, w) in words.enumerated() {
        if k > 0 && (w.spaceBefore || w.quoted || words[k - 1].quoted) { raw.append(Byte.sp) }
        raw += w.text
    }
    return decodeUnstructured(raw, fallbackCharset: fallback)
}

private func commentName(_ comments: [[UInt8]], _ fallback: String?) -> String? {
    guard let c = comments.first(where: { !$0.allSatisfy(Byte.isSpace) }) else { return nil }
    let s = decodeUnstructured(c, fallbackCharset: fallback)
    return s.isEmpty ? nil : s
}

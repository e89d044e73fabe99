// Plain text from HTML mail bodies, using only the standard library.
//
// A single forward pass over the UTF-8 bytes: `Scanner` tokenizes tolerantly
// (much as a browser would) and hands tags and text runs to `Renderer`, which
// lays the text out into a byte buffer. Line breaks and spaces are owed lazily
// and settled only when the next visible text arrives, so adjacent blocks,
// collapsed whitespace and table cells merge without a second pass.

/// Readable plain text from an HTML body, for a ticket's body when a message has no text/plain part.
public func htmlToText(_ html: String) -> String {
    var html = html
    return html.withUTF8 { input in
        var renderer = Renderer(input: input)
        Scanner(b: input).run(into: &renderer)
        return renderer.finish()
    }
}

// MARK: - Bytes

private enum ASCII {
    static let tab: UInt8 = 0x09, lf: UInt8 = 0x0A, ff: UInt8 = 0x0C, cr: UInt8 = 0x0D, space: UInt8 = 0x20
    static let bang = UInt8(ascii: "!"), quote = UInt8(ascii: "\""), hash = UInt8(ascii: "#")
    static let amp = UInt8(ascii: "&"), apostrophe = UInt8(ascii: "'"), dash = UInt8(ascii: "-")
    static let slash = UInt8(ascii: "/"), semicolon = UInt8(ascii: ";"), lt = UInt8(ascii: "<")
    static let equals = UInt8(ascii: "="), gt = UInt8(ascii: ">"), question = UInt8(ascii: "?")
    static let pipe = UInt8(ascii: "|")

    /// HTML's whitespace: tab, LF, FF, CR, space.
    static func isSpace(_ c: UInt8) -> Bool {
        c == space || c == lf || c == tab || c == cr || c == ff
    }
    static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }
    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    static func isAlphanumeric(_ c: UInt8) -> Bool { isLetter(c) || isDigit(c) }
    static func lower(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5A ? c | 0x20 : c }
    static func isTagNameEnd(_ c: UInt8) -> Bool { isSpace(c) || c == slash || c == gt }
}

private func appendUTF8(_ v: UInt32, to out: inout [UInt8]) {
    switch v {
    case ..<0x80:
        out.append(UInt8(v))
    case ..<0x800:
        out.append(UInt8(0xC0 | v >> 6))
        out.append(UInt8(0x80 | v & 0x3F))
    case ..<0x10000:
        out.append(UInt8(0xE0 | v >> 12))
        out.append(UInt8(0x80 | v >> 6 & 0x3F))
        out.append(UInt8(0x80 | v & 0x3F))
    default:
        out.append(UInt8(0xF0 | v >> 18))
        out.append(UInt8(0x80 | v >> 12 & 0x3F))
        out.append(UInt8(0x80 | v >> 6 & 0x3F))
        out.append(UInt8(0x80 | v & 0x3F))
    }
}

// MARK: - Tags

private enum Tag {
    case unknown          // includes namespaced Office tags like <o:p>: ignored, content kept
    case inline           // known body tags without layout effect
    case html, head, body
    case headContent      // meta, link, ...: allowed in <head>, no output
    case rawText          // script, style, title, ...: content skipped by the scanner
    case template
    case paragraph, heading, block, pre, blockquote
    case unorderedList, orderedList, listItem
    case table, row, cell
    case anchor, image, lineBreak, rule

    init(_ name: some Collection<UInt8>) {
        self = nameKey(name).flatMap { tagTable[$0] } ?? .unknown
    }
}

/// Case-insensitive key for a tag name of up to 10 letters/digits, 6 bits a character,
/// so lookups need no String allocation.
private func nameKey(_ name: some Collection<UInt8>) -> UInt64? {
    guard name.count <= 10 else { return nil }
    var key: UInt64 = 0
    for c in name {
        let code: UInt8
        if ASCII.isDigit(c) {
            code = c - 0x30 + 27
        } else if ASCII.isLetter(c) {
            code = (c | 0x20) - 0x61 + 1
        } else {
            return nil
        }
        key = key << 6 | UInt64(code)
    }
    return key
}

private let tagTable: [UInt64: Tag] = {
    var table: [UInt64: Tag] = [:]
    func add(_ names: String, _ tag: Tag) {
        for name in names.split(separator: " ") { table[nameKey(name.utf8)!] = tag }
    }
    add("html", .html)
    add("head", .head)
    add("body", .body)
    add("meta link base basefont bgsound", .headContent)
    add("script style title noscript iframe noembed noframes xmp", .rawText)
    add("template", .template)
    add("p", .paragraph)
    add("h1 h2 h3 h4 h5 h6", .heading)
    add("""
        address article aside caption center details dialog div dl dt dd fieldset figcaption \
        figure footer form header hgroup legend main nav section summary
        """, .block)
    add("pre listing", .pre)
    add("blockquote", .blockquote)
    add("ul dir menu", .unorderedList)
    add("ol", .orderedList)
    add("li", .listItem)
    add("table", .table)
    add("tr", .row)
    add("td th", .cell)
    add("a", .anchor)
    add("img", .image)
    add("br", .lineBreak)
    add("hr", .rule)
    add("""
        abbr acronym area audio b bdi bdo big button canvas cite code col colgroup del dfn em \
        embed font i input ins kbd label map mark nobr object option picture q s samp select \
        small source span strike strong sub sup svg tbody textarea tfoot thead time tt u var video wbr
        """, .inline)
    return table
}()

// MARK: - Entities

/// Set on names a browser also decodes without the trailing ';' (`&amp`, `&nbsp`, `&eacute`).
private let legacyFlag: UInt32 = 0x8000_0000

/// Case-sensitive key for an entity name of up to 8 bytes (the longest HTML 4 name, "thetasym").
private func entityKey(_ name: some Collection<UInt8>) -> UInt64? {
    guard name.count <= 8 else { return nil }
    var key: UInt64 = 0
    for c in name { key = key << 8 | UInt64(c) }
    return key
}

/// The HTML 4 entity set plus `apos` and the upper-case legacy aliases.
private let entityTable: [UInt64: UInt32] = {
    var table: [UInt64: UInt32] = [:]
    // U+00A0...U+00FF in code point order.
    let latin1 = """
        nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr deg \
        plusmn sup2 sup3 acute micro para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest \
        Agrave Aacute Acirc Atilde Auml Aring AElig Ccedil Egrave Eacute Ecirc Euml Igrave Iacute \
        Icirc Iuml ETH Ntilde Ograve Oacute Ocirc Otilde Ouml times Oslash Ugrave Uacute Ucirc Uuml \
        Yacute THORN szlig agrave aacute acirc atilde auml aring aelig ccedil egrave eacute ecirc \
        euml igrave iacute icirc iuml eth ntilde ograve oacute ocirc otilde ouml divide oslash \
        ugrave uacute ucirc uuml yacute thorn yuml
        """
    for (offset, name) in latin1.split(separator: " ").enumerated() {
        table[entityKey(name.utf8)!] = (0xA0 + UInt32(offset)) | legacyFlag
    }
    let legacy = "quot=34 amp=38 lt=60 gt=62 QUOT=34 AMP=38 LT=60 GT=62 COPY=169 REG=174"
    // lang/rang use HTML5's code points, as browsers do.
    let others = """
        apos=39 OElig=338 oelig=339 Scaron=352 scaron=353 Yuml=376 fnof=402 circ=710 tilde=732 \
        Alpha=913 Beta=914 Gamma=915 Delta=916 Epsilon=917 Zeta=918 Eta=919 Theta=920 Iota=921 \
        Kappa=922 Lambda=923 Mu=924 Nu=925 Xi=926 Omicron=927 Pi=928 Rho=929 Sigma=931 Tau=932 \
        Upsilon=933 Phi=934 Chi=935 Psi=936 Omega=937 alpha=945 beta=946 gamma=947 delta=948 \
        epsilon=949 zeta=950 eta=951 theta=952 iota=953 kappa=954 lambda=955 mu=956 nu=957 xi=958 \
        omicron=959 pi=960 rho=961 sigmaf=962 sigma=963 tau=964 upsilon=965 phi=966 chi=967 \
        psi=968 omega=969 thetasym=977 upsih=978 piv=982 ensp=8194 emsp=8195 thinsp=8201 \
        zwnj=8204 zwj=8205 lrm=8206 rlm=8207 ndash=8211 mdash=8212 lsquo=8216 rsquo=8217 \
        sbquo=8218 ldquo=8220 rdquo=8221 bdquo=8222 dagger=8224 Dagger=8225 bull=8226 hellip=8230 \
        permil=8240 prime=8242 Prime=8243 lsaquo=8249 rsaquo=8250 oline=8254 frasl=8260 euro=8364 \
        image=8465 weierp=8472 real=8476 trade=8482 alefsym=8501 larr=8592 uarr=8593 rarr=8594 \
        darr=8595 harr=8596 crarr=8629 lArr=8656 uArr=8657 rArr=8658 dArr=8659 hArr=8660 \
        forall=8704 part=8706 exist=8707 empty=8709 nabla=8711 isin=8712 notin=8713 ni=8715 \
        prod=8719 sum=8721 minus=8722 lowast=8727 radic=8730 prop=8733 infin=8734 ang=8736 \
        and=8743 or=8744 cap=8745 cup=8746 int=8747 there4=8756 sim=8764 cong=8773 asymp=8776 \
        ne=8800 equiv=8801 le=8804 ge=8805 sub=8834 sup=8835 nsub=8836 sube=8838 supe=8839 \
        oplus=8853 otimes=8855 perp=8869 sdot=8901 lceil=8968 rceil=8969 lfloor=8970 rfloor=8971 \
        lang=10216 rang=10217 loz=9674 spades=9824 clubs=9827 hearts=9829 diams=9830
        """
    for (list, flag) in [(legacy, legacyFlag), (others, 0)] {
        for pair in list.split(separator: " ") {
            let parts = pair.split(separator: "=")
            table[entityKey(parts[0].utf8)!] = UInt32(parts[1])! | flag
        }
    }
    return table
}()

/// What browsers show for `&#128;`...`&#159;`: the Windows-1252 characters (0 = undefined, kept as is).
private let windows1252: [UInt32] = [
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
    0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
]

/// Decodes the character reference starting at `b[amp] == "&"`, following the HTML5 rules:
/// returns the code point and the index after the reference, or nil if the '&' is literal.
private func decodeEntity(
    _ b: UnsafeBufferPointer<UInt8>, at amp: Int, end: Int, inAttribute: Bool
) -> (scalar: UInt32, next: Int)? {
    var j = amp + 1
    guard j < end else { return nil }

    if b[j] == ASCII.hash {
        j += 1
        let hex = j < end && b[j] | 0x20 == UInt8(ascii: "x")
        if hex { j += 1 }
        let digitsStart = j
        var value: UInt32 = 0
        while j < end {
            let c = b[j]
            let digit: UInt32
            if ASCII.isDigit(c) {
                digit = UInt32(c - 0x30)
            } else if hex, (c | 0x20) >= 0x61, (c | 0x20) <= 0x66 {
                digit = UInt32((c | 0x20) - 0x61 + 10)
            } else {
                break
            }
            // Saturates past the Unicode range so long digit runs can't overflow.
            if value <= 0x10FFFF { value = value * (hex ? 16 : 10) + digit }
            j += 1
        }
        guard j > digitsStart else { return nil }
        if j < end && b[j] == ASCII.semicolon { j += 1 }
        switch value {
        case 0, 0xD800...0xDFFF, 0x110000...:
            return (0xFFFD, j)
        case 0x80...0x9F:
            let mapped = windows1252[Int(value - 0x80)]
            return (mapped == 0 ? value : mapped, j)
        default:
            return (value, j)
        }
    }

    // Named: look at no more than 9 name characters, so a long run of letters stays linear.
    let nameStart = j
    while j < end && j - nameStart < 9 && ASCII.isAlphanumeric(b[j]) { j += 1 }
    let nameEnd = j
    guard nameEnd > nameStart else { return nil }
    if nameEnd < end && b[nameEnd] == ASCII.semicolon,
       let key = entityKey(b[nameStart..<nameEnd]), let value = entityTable[key] {
        return (value & ~legacyFlag, nameEnd + 1)
    }
    if inAttribute {
        // `?a=1&copy=2` in a URL stays literal: only a whole legacy name not followed by '=' decodes.
        if nameEnd < end && (b[nameEnd] == ASCII.equals || ASCII.isAlphanumeric(b[nameEnd])) { return nil }
        if let key = entityKey(b[nameStart..<nameEnd]), let value = entityTable[key], value & legacyFlag != 0 {
            return (value & ~legacyFlag, nameEnd)
        }
        return nil
    }
    // In text a browser takes the longest legacy name that prefixes the run (`&copy2024` is "©2024").
    var length = min(nameEnd - nameStart, 6)
    while length >= 2 {
        if let key = entityKey(b[nameStart..<nameStart + length]), let value = entityTable[key],
           value & legacyFlag != 0 {
            return (value & ~legacyFlag, nameStart + length)
        }
        length -= 1
    }
    return nil
}

/// Attribute value with character references decoded.
private func decodeAttribute(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> [UInt8] {
    var value: [UInt8] = []
    value.reserveCapacity(range.count)
    var i = range.lowerBound
    while i < range.upperBound {
        if b[i] == ASCII.amp, let (scalar, next) = decodeEntity(b, at: i, end: range.upperBound, inAttribute: true) {
            appendUTF8(scalar, to: &value)
            i = next
        } else {
            value.append(b[i])
            i += 1
        }
    }
    return value
}

// MARK: - Scanner

/// The only attributes the text needs, as ranges into the input (first occurrence wins).
private struct Attributes {
    var href: Range<Int>?
    var alt: Range<Int>?
    var start: Range<Int>?
}

private struct Scanner {
    let b: UnsafeBufferPointer<UInt8>

    func run(into r: inout Renderer) {
        let n = b.count
        var i = 0
        while i < n {
            var lt = i
            while lt < n && b[lt] != ASCII.lt { lt += 1 }
            if lt > i { r.text(b, i..<lt, entities: true) }
            guard lt < n else { break }
            i = markup(at: lt, into: &r)
        }
    }

    /// Handles whatever starts with the '<' at `lt`; returns where text resumes.
    private func markup(at lt: Int, into r: inout Renderer) -> Int {
        let n = b.count
        let next = lt + 1
        guard next < n else {
            r.text(b, lt..<n, entities: true)   // '<' at the very end is text
            return n
        }
        let c = b[next]
        if ASCII.isLetter(c) { return tag(nameStart: next, isEnd: false, into: &r) }
        switch c {
        case ASCII.bang:
            if has("--", at: next + 1) { return comment(from: next + 3) }
            if has("[CDATA[", at: next + 1) { return index(after: "]]>", from: next + 8) }
            return index(after: ">", from: next + 1)   // <!DOCTYPE>, Outlook's <![if ...]>
        case ASCII.question:
            return index(after: ">", from: next + 1)   // <?xml ...?> and other processing instructions
        case ASCII.slash:
            let k = next + 1
            guard k < n else {
                r.text(b, lt..<n, entities: true)
                return n
            }
            if ASCII.isLetter(b[k]) { return tag(nameStart: k, isEnd: true, into: &r) }
            if b[k] == ASCII.gt { return k + 1 }       // "</>" is dropped
            return index(after: ">", from: k)          // "</ ...>" is a bogus comment
        default:
            r.text(b, lt..<next, entities: true)       // "a < b", "1<2": the '<' is text
            return next
        }
    }

    private func tag(nameStart: Int, isEnd: Bool, into r: inout Renderer) -> Int {
        let n = b.count
        var j = nameStart
        while j < n && !ASCII.isTagNameEnd(b[j]) { j += 1 }
        let name = nameStart..<j
        var attributes = Attributes()
        // A tag cut off by the end of the input is dropped, as browsers do.
        guard let end = skipAttributes(from: j, recording: &attributes) else { return n }
        let tag = Tag(b[name])
        if isEnd {
            r.endTag(tag)
            return end
        }
        r.startTag(tag, attributes)
        return tag == .rawText ? skipRawText(named: name, from: end) : end
    }

    /// Parses attributes up to the closing '>'; nil if the input ends first.
    private func skipAttributes(from start: Int, recording attributes: inout Attributes) -> Int? {
        let n = b.count
        var j = start
        while true {
            while j < n && (ASCII.isSpace(b[j]) || b[j] == ASCII.slash) { j += 1 }
            guard j < n else { return nil }
            if b[j] == ASCII.gt { return j + 1 }
            let nameStart = j
            j += 1   // the first character may be anything, even '='
            while j < n && !ASCII.isTagNameEnd(b[j]) && b[j] != ASCII.equals { j += 1 }
            let name = nameStart..<j
            while j < n && ASCII.isSpace(b[j]) { j += 1 }
            var value = j..<j
            if j < n && b[j] == ASCII.equals {
                j += 1
                while j < n && ASCII.isSpace(b[j]) { j += 1 }
                guard j < n else { return nil }
                let quote = b[j]
                if quote == ASCII.quote || quote == ASCII.apostrophe {
                    let valueStart = j + 1
                    j = valueStart
                    while j < n && b[j] != quote { j += 1 }
                    guard j < n else { return nil }
                    value = valueStart..<j
                    j += 1
                } else {
                    let valueStart = j
                    while j < n && !ASCII.isSpace(b[j]) && b[j] != ASCII.gt { j += 1 }
                    value = valueStart..<j
                }
            }
            if attributes.href == nil && equalsLowercased(name, "href") {
                attributes.href = value
            } else if attributes.alt == nil && equalsLowercased(name, "alt") {
                attributes.alt = value
            } else if attributes.start == nil && equalsLowercased(name, "start") {
                attributes.start = value
            }
        }
    }

    /// Skips the content of script/style/...: everything up to the matching end tag is not markup.
    private func skipRawText(named name: Range<Int>, from start: Int) -> Int {
        let n = b.count
        var j = start
        while j + 1 < n {
            if b[j] == ASCII.lt && b[j + 1] == ASCII.slash {
                let nameEnd = j + 2 + name.count
                if nameEnd <= n && (nameEnd == n || ASCII.isTagNameEnd(b[nameEnd]))
                    && (0..<name.count).allSatisfy({ ASCII.lower(b[j + 2 + $0]) == ASCII.lower(b[name.lowerBound + $0]) }) {
                    var ignored = Attributes()
                    return skipAttributes(from: nameEnd, recording: &ignored) ?? n
                }
            }
            j += 1
        }
        return n
    }

    /// After `<!--`: ends at `-->` or `--!>`; `<!-->` and `<!--->` are empty comments;
    /// an unterminated comment swallows the rest of the input, as in a browser.
    private func comment(from start: Int) -> Int {
        let n = b.count
        if has(">", at: start) { return start + 1 }
        if has("->", at: start) { return start + 2 }
        var j = start
        while j + 2 < n {
            if b[j] == ASCII.dash && b[j + 1] == ASCII.dash {
                if b[j + 2] == ASCII.gt { return j + 3 }
                if b[j + 2] == ASCII.bang && has(">", at: j + 3) { return j + 4 }
            }
            j += 1
        }
        return n
    }

    private func has(_ literal: StaticString, at i: Int) -> Bool {
        literal.withUTF8Buffer { p in
            guard i + p.count <= b.count else { return false }
            for k in 0..<p.count where b[i + k] != p[k] { return false }
            return true
        }
    }

    private func index(after literal: StaticString, from start: Int) -> Int {
        var j = start
        while j < b.count {
            if has(literal, at: j) { return j + literal.utf8CodeUnitCount }
            j += 1
        }
        return b.count
    }

    private func equalsLowercased(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { p in
            guard range.count == p.count else { return false }
            for k in 0..<p.count where ASCII.lower(b[range.lowerBound + k]) != p[k] { return false }
            return true
        }
    }
}

// MARK: - Renderer

/// Quote marks and list indentation stop growing past this depth, so hostile nesting
/// (thousands of <blockquote>s, each later line re-prefixed) can't make the output quadratic.
private let maxPrefixDepth = 32

private struct Renderer {
    private enum Marker { case bullet, number(Int) }
    private struct List { var ordered: Bool; var next: Int }

    let input: UnsafeBufferPointer<UInt8>
    private var out: [UInt8] = []

    // Owed layout, settled by `beginText()`.
    private var newlinesOwed = 0          // 1 = line break, 2 = blank line
    private var lineHasText = false       // text on the current line and no break owed
    private var spaceOwed = false         // collapsed whitespace
    private var nbspOwed = 0              // &nbsp; does not collapse
    private var separatorOwed = false     // " | " before the next cell's text
    private var marker: Marker?           // list item marker not yet written
    private var cellIsFresh = false       // in a table cell with no text yet: blocks don't break

    private var quoteDepth = 0
    private var quoteDepthOfLastText = 0
    private var lists: [List] = []
    private var rowHasText: [Bool] = []   // one per open table
    private var preDepth = 0
    private var skipNewlineAfterPre = false
    private var templateDepth = 0
    private var inHead = false
    private var linkHref: [UInt8]?
    private var linkTextStart: Int?

    init(input: UnsafeBufferPointer<UInt8>) {
        self.input = input
        out.reserveCapacity(input.count / 2)
    }

    // MARK: Text

    mutating func text(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, entities: Bool) {
        if templateDepth > 0 || inHead { return }
        var i = range.lowerBound
        let end = range.upperBound
        if skipNewlineAfterPre {
            // A newline right after <pre> is not content.
            skipNewlineAfterPre = false
            if i < end && b[i] == ASCII.cr { i += 1 }
            if i < end && b[i] == ASCII.lf { i += 1 }
        }
        while i < end {
            let c = b[i]
            if c > ASCII.space && c != ASCII.amp && c != 0xC2 {
                // Fast path: copy a run of ordinary bytes (multi-byte UTF-8 included) at once.
                var j = i + 1
                while j < end {
                    let d = b[j]
                    if d <= ASCII.space || d == ASCII.amp || d == 0xC2 { break }
                    j += 1
                }
                beginText()
                out.append(contentsOf: UnsafeBufferPointer(rebasing: b[i..<j]))
                i = j
                continue
            }
            switch c {
            case ASCII.amp:
                if entities, let (scalar, next) = decodeEntity(b, at: i, end: end, inAttribute: false) {
                    character(scalar)
                    i = next
                } else {
                    beginText()
                    out.append(c)
                    i += 1
                }
            case 0xC2 where i + 1 < end && b[i + 1] == 0xA0:   // U+00A0 NO-BREAK SPACE
                nbsp()
                i += 2
            case ASCII.cr:
                if !(i + 1 < end && b[i + 1] == ASCII.lf) { whitespace(ASCII.lf) }   // CRLF counts once
                i += 1
            case ASCII.space, ASCII.tab, ASCII.lf, ASCII.ff:
                whitespace(c)
                i += 1
            case 0:
                i += 1   // NUL is dropped, as browsers do
            default:
                beginText()
                out.append(c)
                i += 1
            }
        }
    }

    private mutating func character(_ scalar: UInt32) {
        switch scalar {
        case 0x09, 0x0A, 0x0C, 0x20: whitespace(UInt8(scalar))
        case 0x0D: whitespace(ASCII.lf)
        case 0xA0: nbsp()
        default:
            beginText()
            appendUTF8(scalar, to: &out)
        }
    }

    private mutating func whitespace(_ c: UInt8) {
        if preDepth > 0 {
            if c == ASCII.lf {
                lineBreak()
            } else {
                beginText()
                out.append(c == ASCII.tab ? ASCII.tab : ASCII.space)
            }
        } else if lineHasText {
            spaceOwed = true
        }
    }

    private mutating func nbsp() {
        if preDepth > 0 {
            beginText()
            out.append(ASCII.space)
        } else {
            nbspOwed += 1
        }
    }

    /// Settles owed breaks, prefixes and spaces before visible text.
    private mutating func beginText() {
        if out.isEmpty {
            writeLinePrefix()   // owed breaks at the very start are dropped
        } else if newlinesOwed > 0 {
            // Blank lines take only the quote marks shared with the text above, so a quote
            // that follows a paragraph starts after an empty line, not after ">".
            let blankDepth = min(quoteDepth, quoteDepthOfLastText, maxPrefixDepth)
            for _ in 1..<newlinesOwed {
                out.append(ASCII.lf)
                for level in 0..<blankDepth {
                    if level > 0 { out.append(ASCII.space) }
                    out.append(ASCII.gt)
                }
            }
            out.append(ASCII.lf)
            writeLinePrefix()
        } else if separatorOwed {
            out.append(ASCII.space)
            out.append(ASCII.pipe)
            out.append(ASCII.space)
        } else if spaceOwed {
            out.append(ASCII.space)
        }
        switch marker {
        case .bullet?:
            out.append(ASCII.dash)
            out.append(ASCII.space)
        case .number(let n)?:
            out.append(contentsOf: String(n).utf8)
            out.append(UInt8(ascii: "."))
            out.append(ASCII.space)
        case nil:
            break
        }
        for _ in 0..<nbspOwed { out.append(ASCII.space) }

        marker = nil
        newlinesOwed = 0
        spaceOwed = false
        nbspOwed = 0
        separatorOwed = false
        cellIsFresh = false
        lineHasText = true
        quoteDepthOfLastText = quoteDepth
        if !rowHasText.isEmpty { rowHasText[rowHasText.count - 1] = true }
        if linkHref != nil && linkTextStart == nil { linkTextStart = out.count }
    }

    private mutating func writeLinePrefix() {
        for _ in 0..<min(quoteDepth, maxPrefixDepth) {
            out.append(ASCII.gt)
            out.append(ASCII.space)
        }
        // List item text lines up under the item's first character; the marker sits one level out.
        let depth = min(lists.count, maxPrefixDepth)
        let indent = marker != nil ? max(depth - 1, 0) : depth
        for _ in 0..<indent * 2 { out.append(ASCII.space) }
    }

    // MARK: Breaks

    /// A block boundary: at least `count` newlines before the next text (2 = blank line).
    private mutating func blockBreak(_ count: Int) {
        if cellIsFresh { return }   // a <p> or <div> at the start of a cell stays on the row's line
        newlinesOwed = max(newlinesOwed, count)
        endLine()
    }

    /// `<br>` and newlines in `<pre>` add up, unlike block boundaries.
    private mutating func lineBreak() {
        newlinesOwed = min(newlinesOwed + 1, 2)
        endLine()
    }

    private mutating func endLine() {
        lineHasText = false
        spaceOwed = false
        nbspOwed = 0
        separatorOwed = false
    }

    // MARK: Tags

    mutating func startTag(_ tag: Tag, _ attributes: Attributes) {
        skipNewlineAfterPre = false
        if templateDepth > 0 {
            if tag == .template { templateDepth += 1 }
            return
        }
        if inHead {
            switch tag {
            case .unknown, .html, .head, .headContent, .rawText: return
            case .template: break
            default: inHead = false   // body content without <body>: the head is over
            }
        }
        switch tag {
        case .unknown, .inline, .html, .body, .headContent, .rawText:
            break
        case .head:
            inHead = true
        case .template:
            templateDepth += 1
        case .paragraph, .heading:
            blockBreak(2)
        case .block:
            blockBreak(1)
        case .pre:
            blockBreak(1)
            preDepth += 1
            skipNewlineAfterPre = true
        case .blockquote:
            blockBreak(1)
            quoteDepth += 1
        case .unorderedList, .orderedList:
            blockBreak(1)
            lists.append(List(ordered: tag == .orderedList, next: attributes.start.flatMap { startNumber(input, $0) } ?? 1))
        case .listItem:
            blockBreak(1)
            if let last = lists.indices.last, lists[last].ordered {
                marker = .number(lists[last].next)
                lists[last].next += 1
            } else {
                marker = .bullet
            }
        case .table:
            blockBreak(1)
            rowHasText.append(false)
        case .row:
            cellIsFresh = false
            blockBreak(1)
            if !rowHasText.isEmpty { rowHasText[rowHasText.count - 1] = false }
        case .cell:
            // Cells of a row share a line: undo breaks from blocks that closed in the previous cell.
            if rowHasText.last ?? lineHasText {
                newlinesOwed = 0
                endLine()
                lineHasText = true
                separatorOwed = true
            }
            cellIsFresh = true
        case .anchor:
            finishLink()
            if let href = attributes.href {
                linkHref = cleanHref(decodeAttribute(input, href))
                linkTextStart = nil
            }
        case .image:
            // Alt text in brackets, so the reader sees an image stood there.
            if let alt = attributes.alt {
                var decoded = decodeAttribute(input, alt)[...]
                while let f = decoded.first, f <= 32 { decoded.removeFirst() }
                while let l = decoded.last, l <= 32 { decoded.removeLast() }
                if !decoded.isEmpty {
                    let shown = [UInt8(ascii: "[")] + decoded + [UInt8(ascii: "]")]
                    shown.withUnsafeBufferPointer { text($0, 0..<$0.count, entities: false) }
                }
            }
        case .lineBreak:
            lineBreak()
        case .rule:
            blockBreak(1)
            beginText()
            out.append(contentsOf: repeatElement(ASCII.dash, count: 40))
            blockBreak(1)
        }
    }

    mutating func endTag(_ tag: Tag) {
        skipNewlineAfterPre = false
        if templateDepth > 0 {
            if tag == .template { templateDepth -= 1 }
            return
        }
        if inHead {
            if tag == .head { inHead = false }
            return
        }
        switch tag {
        case .paragraph, .heading:
            blockBreak(2)
        case .block:
            blockBreak(1)
        case .pre:
            blockBreak(1)
            preDepth = max(preDepth - 1, 0)
        case .blockquote:
            blockBreak(1)
            quoteDepth = max(quoteDepth - 1, 0)
        case .unorderedList, .orderedList:
            blockBreak(1)
            _ = lists.popLast()
            marker = nil
        case .listItem:
            blockBreak(1)
            marker = nil
        case .table:
            cellIsFresh = false
            blockBreak(1)
            _ = rowHasText.popLast()
            // The enclosing row's next cell starts a new line below the nested table.
            if !rowHasText.isEmpty { rowHasText[rowHasText.count - 1] = false }
        case .row:
            cellIsFresh = false
            blockBreak(1)
        case .cell:
            cellIsFresh = false
        case .anchor:
            finishLink()
        case .lineBreak:
            lineBreak()   // browsers treat a stray </br> as <br>
        default:
            break
        }
    }

    // MARK: Links

    /// Appends " <URL>" after the link text unless the URL adds nothing the text doesn't say.
    private mutating func finishLink() {
        guard let href = linkHref else { return }
        let textStart = linkTextStart
        linkHref = nil
        linkTextStart = nil
        guard let textStart, textStart < out.count, let first = href.first, first != ASCII.hash,
              !hasPrefixLowercased(href[...], "javascript:"),
              linkKey(out[textStart...]) != linkKey(href[...]) else { return }
        let savedSpace = spaceOwed, savedNbsp = nbspOwed, sameLine = newlinesOwed == 0
        if sameLine {
            spaceOwed = true
            nbspOwed = 0
        }
        beginText()
        out.append(ASCII.lt)
        out.append(contentsOf: href)
        out.append(ASCII.gt)
        if sameLine {
            // Whitespace that followed the link text now follows the URL.
            spaceOwed = savedSpace
            nbspOwed = savedNbsp
        }
    }

    // MARK: Finish

    /// Trims trailing blanks, keeps at most one blank line in a row and none at either end.
    mutating func finish() -> String {
        finishLink()
        let count = out.withUnsafeMutableBufferPointer { p -> Int in
            let n = p.count
            var write = 0, read = 0, blankOwed = false
            while read < n {
                var lineEnd = read
                while lineEnd < n && p[lineEnd] != ASCII.lf { lineEnd += 1 }
                var textEnd = lineEnd
                while textEnd > read && (p[textEnd - 1] == ASCII.space || p[textEnd - 1] == ASCII.tab) { textEnd -= 1 }
                if textEnd == read {
                    blankOwed = write > 0
                } else {
                    // In place: `write` never passes `read`, and a blank line freed the byte for the extra LF.
                    if write > 0 {
                        p[write] = ASCII.lf
                        write += 1
                        if blankOwed {
                            p[write] = ASCII.lf
                            write += 1
                        }
                    }
                    blankOwed = false
                    for k in read..<textEnd {
                        p[write] = p[k]
                        write += 1
                    }
                }
                read = lineEnd + 1
            }
            return write
        }
        out.removeLast(out.count - count)
        return String(decoding: out, as: UTF8.self)
    }
}

// MARK: - Helpers

/// `<ol start="3">`; nil unless it is a plain (optionally negative) integer.
private func startNumber(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int? {
    let value = decodeAttribute(b, range).filter { !ASCII.isSpace($0) }
    let negative = value.first == ASCII.dash
    let digits = value.dropFirst(negative ? 1 : 0)
    guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy(ASCII.isDigit) else { return nil }
    let magnitude = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    return negative ? -magnitude : magnitude
}

/// href with surrounding control characters and spaces removed, and embedded tabs/newlines dropped, as browsers do.
private func cleanHref(_ href: [UInt8]) -> [UInt8] {
    var start = 0, end = href.count
    while start < end && href[start] <= ASCII.space { start += 1 }
    while end > start && href[end - 1] <= ASCII.space { end -= 1 }
    return href[start..<end].filter { $0 != ASCII.tab && $0 != ASCII.lf && $0 != ASCII.cr }
}

private func hasPrefixLowercased(_ s: ArraySlice<UInt8>, _ literal: StaticString) -> Bool {
    literal.withUTF8Buffer { p in
        guard s.count >= p.count else { return false }
        return zip(s, p).allSatisfy { ASCII.lower($0) == $1 }
    }
}

/// Link text and href compare equal when they name the same target: case-insensitive,
/// ignoring an http(s)/mailto scheme, a mailto query and a trailing slash.
private func linkKey(_ s: ArraySlice<UInt8>) -> [UInt8] {
    var s = s
    if hasPrefixLowercased(s, "mailto:") {
        s = s.dropFirst(7)
        if let query = s.firstIndex(of: ASCII.question) { s = s[..<query] }
    } else if hasPrefixLowercased(s, "http://") {
        s = s.dropFirst(7)
    } else if hasPrefixLowercased(s, "https://") {
        s = s.dropFirst(8)
    }
    if s.last == ASCII.slash { s = s.dropLast() }
    return s.map(ASCII.lower)
}

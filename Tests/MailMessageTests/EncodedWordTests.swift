import Testing
@testable import MailMessage

@Suite("RFC 2047 encoded words")
struct EncodedWordTests {
    static let cases: [(String, String)] = [
        // B and Q, charset names in any case.
        ("=?utf-8?B?Y2Fmw6k=?=", "café"),
        ("=?UTF-8?b?Y2Fmw6k=?=", "café"),
        ("=?UTF-8?Q?caf=C3=A9?=", "café"),
        ("=?utf-8?q?caf=c3=a9?=", "café"),
        ("=?utf-8?q?a_b?=", "a b"),
        ("=?utf-8?q?what=3F?=", "what?"),
        ("=?utf-8?q??=", ""),
        // Adjacent words: the white space between them is dropped, folding included.
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),
        ("=?utf-8?q?a?=   \t =?utf-8?q?b?=", "ab"),
        ("=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab"),
        ("=?utf-8?q?a?=\n\t=?utf-8?q?b?=", "ab"),
        ("=?utf-8?q?a?==?utf-8?q?b?=", "ab"),
        ("=?utf-8?q?a_?= =?utf-8?q?_b?=", "a b"),  // folded, as all header text
        // A character split across two words (bytes joined before decoding).
        ("=?utf-8?b?4oI=?= =?utf-8?b?rA==?=", "€"),
        ("=?utf-8?q?=E2=82?= =?utf-8?q?=AC?=", "€"),
        ("=?utf-8?q?=E2?=\r\n =?UTF-8?Q?=82=AC?=", "€"),
        // Words and text: text keeps its spaces, a word glued to text is still decoded.
        ("Hello =?utf-8?q?W=C3=B6rld?= !", "Hello Wörld !"),
        ("=?utf-8?q?a?= x =?utf-8?q?b?=", "a x b"),
        ("foo=?utf-8?q?bar?=baz", "foobarbaz"),
        ("Re:=?utf-8?q?caf=C3=A9?=", "Re:café"),
        ("a  =?utf-8?q?b?=   c", "a b c"),
        // Invalid words are left as they are.
        ("=?utf-8?x?abc?=", "=?utf-8?x?abc?="),
        ("=?utf-8?q?unterminated", "=?utf-8?q?unterminated"),
        ("=??q?abc?=", "=??q?abc?="),
        ("=?utf-8?q", "=?utf-8?q"),
        ("=?utf 8?q?abc?=", "=?utf 8?q?abc?="),
        ("2+2=?4", "2+2=?4"),
        // Unknown charset: guessed (UTF-8 if valid, else windows-1252).
        ("=?x-unknown?q?caf=C3=A9?=", "café"),
        ("=?x-unknown?q?caf=E9?=", "café"),
        // Mixed charsets, each word in its own.
        ("=?iso-8859-1?q?caf=E9?= =?utf-8?q?_na=C3=AFve?=", "café naïve"),
        ("=?utf-8?q?a?= =?iso-8859-1?q?=E9?=", "aé"),
        ("=?koi8-r?b?8NLJ18XU?=", "Привет"),
        ("=?ISO-2022-JP?B?GyRCRnxLXDhsJE4lYSE8JWsbKEI=?=", "日本語のメール"),
        ("=?gb2312?B?1tDOxNPKvP4=?=", "中文邮件"),
        ("=?windows-1252?q?=93quoted=94?=", "“quoted”"),
        // UTF-7 words as Exchange writes them; a word ends its base64 run, so the next word's
        // letters are not read as base64; a word cut mid-character is joined to the next.
        ("=?utf-7?Q?Gr+APwA3w?= =?utf-7?Q?e_aus_K+APY-ln?=", "Grüße aus Köln"),
        ("=?utf-7?Q?a+AOQ?= =?UTF-7?B?Yg==?=", "aäb"),
        ("=?utf-7?Q?x+2D3?= =?utf-7?Q?eAA-y?=", "x😀y"),
        ("=?utf-7?B?SitBUHctcmdlbg==?=", "Jürgen"),
        ("=?unicode-1-1-utf-7?Q?Stra+AN8-e?=", "Straße"),
        // An ASCII label on UTF-8 bytes; an ISO-2022-JP label on Shift_JIS; Windows' ISO-2022-JP.
        ("=?us-ascii?Q?caf=C3=A9?=", "café"),
        ("=?ISO-2022-JP?B?jsqQXg==?=", "写真"),
        ("=?iso-2022-jp?B?GyRCLSFIVhsoQg==?=", "①番"),
        // RFC 2231 language suffix on the charset.
        ("=?utf-8*en?q?hi?=", "hi"),
        // Raw 8-bit text around words.
        ("Gr\u{FC}\u{DF}e =?utf-8?q?aus?=", "Grüße aus"),
    ]

    @Test(arguments: cases)
    func decodes(_ raw: String, _ expected: String) {
        #expect(decodeUnstructured(Array(raw.utf8)) == expected)
    }

    @Test func subjectAndNamesInAMessage() {
        let m = Fixture.message("encoded-words-split-character.eml")
        #expect(m.subject == "Price € and more")
        #expect(m.from == [Mailbox(name: "Jürgen Müller", address: "juergen@example.com")])
        #expect(m.to == [Mailbox(name: "François", address: "francois@example.fr")])
    }

    @Test func withoutFoldingWhitespace() {
        #expect(decodeUnstructured(Array("a  =?utf-8?q?b?=\tc".utf8), foldWhitespace: false) == "a  b\tc")
    }
}

@Suite("RFC 2231 and Content-Type parameters")
struct ParameterTests {
    static func parse(_ s: String, maxSections: Int = 128) -> ParameterizedValue {
        parseParameterized(Array(s.utf8), fallbackCharset: nil, maxSections: maxSections)
    }

    /// (header value, parameter, expected value)
    static let cases: [(String, String, String?)] = [
        ("text/plain; charset=utf-8", "charset", "utf-8"),
        ("text/plain; charset=\"UTF-8\"; format=flowed", "charset", "UTF-8"),
        ("text/plain; charset=\"UTF-8\"; format=flowed", "format", "flowed"),
        ("text/plain;charset=utf-8;delsp=yes", "delsp", "yes"),
        ("TEXT/PLAIN; CHARSET=Windows-1252", "charset", "Windows-1252"),
        ("text/plain charset=utf-8", "charset", "utf-8"),
        ("text/plain; name=\"a\"; name=\"b\"", "name", "a"),
        ("text/plain; name", "name", nil),
        ("text/plain; (comment) charset = \"utf-8\"", "charset", "utf-8"),
        // RFC 2231 continuations, the first with charset and language.
        ("attachment; filename*0*=utf-8''%E2%82%AC; filename*1=\" rate.txt\"", "filename", "€ rate.txt"),
        ("attachment; filename*0*=utf-8''caf%C3; filename*1*=%A9.txt", "filename", "café.txt"),
        ("attachment; filename*=iso-8859-1'fr'caf%E9.txt", "filename", "café.txt"),
        ("attachment; filename*=utf-8'en'%E2%82%AC%20report.pdf", "filename", "€ report.pdf"),
        ("attachment; filename*=\"utf-8''quoted%20ext.txt\"", "filename", "quoted ext.txt"),
        ("attachment; filename*=''plain.txt", "filename", "plain.txt"),
        ("attachment; filename*=''caf%C3%A9.txt", "filename", "café.txt"),  // no charset: ASCII, UTF-8 bytes
        ("attachment; filename*=caf%C3%A9.txt", "filename", "café.txt"),
        ("attachment; filename*=UTF-8''100%25%ZZ%4", "filename", "100%%ZZ%4"),
        ("attachment; filename*=koi8-r''%F0%D2%C9%D7%C5%D4.txt", "filename", "Привет.txt"),
        // Sections out of order, and plain sections joined.
        ("attachment; filename*1=b; filename*0=a; filename*2=c", "filename", "abc"),
        ("attachment; filename*2*=%21; filename*0*=utf-8''caf; filename*1*=%C3%A9", "filename", "café!"),
        ("attachment; filename*0=\"long \"; filename*1=\"name.txt\"", "filename", "long name.txt"),
        // filename* wins over the sections, and the sections over filename.
        ("attachment; filename=plain.txt; filename*0=sec; filename*1=tions.txt", "filename", "sections.txt"),
        ("attachment; filename*=utf-8''ext.txt; filename=plain.txt; filename*0=sec.txt", "filename", "ext.txt"),
        // RFC 2047 inside a quoted value (a violation every reader accepts).
        ("attachment; filename=\"=?utf-8?b?Y2Fmw6kucGRm?=\"", "filename", "café.pdf"),
        ("attachment; filename=\"=?utf-8?q?a?= =?utf-8?q?b?=.txt\"", "filename", "ab.txt"),
        ("attachment; filename*0=\"=?utf-8?b?Y2Fm?=\"; filename*1=\"=?utf-8?b?w6kucGRm?=\"", "filename", "café.pdf"),
        // Unquoted values with spaces.
        ("attachment; filename=my report.pdf", "filename", "my report.pdf"),
        ("attachment; filename=my report.pdf  ; size=10", "filename", "my report.pdf"),
        ("attachment; filename=my report.pdf  ; size=10", "size", "10"),
        // Backslash escapes in quoted strings.
        ("attachment; filename=\"a \\\"quoted\\\" name.txt\"", "filename", "a \"quoted\" name.txt"),
        ("attachment; filename=\"back\\\\slash.txt\"", "filename", "back\\slash.txt"),
        ("attachment; filename=\"semi;colon.txt\"; size=3", "filename", "semi;colon.txt"),
        ("attachment; filename=\"semi;colon.txt\"; size=3", "size", "3"),
        // Junk after a closing quote is dropped.
        ("attachment; filename=\"a.txt\"junk; size=3", "filename", "a.txt"),
        // A comment after an unquoted value (RFC 2045's example) is not part of it.
        ("text/plain; charset=us-ascii (Plain text)", "charset", "us-ascii"),
        ("text/plain; charset=us-ascii (Plain (nested) text) ; format=flowed", "charset", "us-ascii"),
        ("attachment; filename=report (1).pdf", "filename", "report (1).pdf"),
        ("attachment; filename=report(1)", "filename", "report(1)"),
        ("attachment; filename=(only a comment)", "filename", ""),  // CFWS before a value
        // Unterminated quote: the rest of the value.
        ("attachment; filename=\"open.txt", "filename", "open.txt"),
    ]

    @Test(arguments: cases)
    func parameter(_ raw: String, _ name: String, _ expected: String?) {
        #expect(Self.parse(raw)[name] == expected)
    }

    @Test(arguments: [
        ("text/plain; charset=utf-8", "text/plain"),
        ("TEXT/HTML", "text/html"),
        ("\"text/plain\"; charset=utf-8", "text/plain"),
        ("  multipart/mixed;boundary=x", "multipart/mixed"),
        ("(comment) text/plain", "text/plain"),
        ("attachment;filename=x", "attachment"),
    ])
    func mainValue(_ raw: String, _ expected: String) {
        #expect(Self.parse(raw).value == expected)
    }

    /// A raw 8-bit file name in a charset nothing declares is detected like other header text.
    @Test func rawLegacyFilename() {
        let raw: [UInt8] = Array("attachment; filename=\"".utf8) + [0xB7, 0xA2, 0xC6, 0xB1, 0xC7, 0xE5, 0xB5, 0xA5] + Array(".pdf\"".utf8)
        #expect(parseParameterized(raw, fallbackCharset: nil, maxSections: 8)["filename"] == "发票清单.pdf")
    }

    @Test func sectionCap() {
        let v = Self.parse("attachment; filename*0=a; filename*1=b; filename*2=c; filename*3=d", maxSections: 2)
        #expect(v.tooManySections)
        #expect(v["filename"] == "ab")
        let under = Self.parse("attachment; filename*0=a; filename*1=b", maxSections: 2)
        #expect(!under.tooManySections)
        #expect(under["filename"] == "ab")
    }

    @Test func sectionCapInAMessage() {
        var options = ParserOptions()
        options.maxParameterSections = 3
        let m = Fixture.message("rfc2231-section-cap.eml", options: options)
        #expect(m.defects.map(\.code) == [.parameterLimit, .parameterLimit])
        #expect(m.defects.map(\.detail) == ["Content-Type", "Content-Disposition"])
        let part = m.root.children[1]
        #expect(part.filename == "abc")
        #expect(part.contentType["name"] == "abc")
    }

    @Test func filenamesInAMessage() {
        let m = Fixture.message("rfc2231-filename.eml")
        let c = m.content()
        #expect(c.attachments.map(\.filename) == ["rapport été.pdf", "Grüße aus Köln.txt"])
        #expect(c.attachments.map(\.size) == [19, 8])
        // printf '%%PDF-1.4\n%%äüöß\n' | sha256sum; printf 'Grüße\n' | sha256sum
        #expect(c.attachments.map(\.sha256) == [
            "840a4b1dbee66ca1c2ec78e8c95ceab3d17b77b49e88cde8f9db420216b9382e",
            "b1de61b8108f15d9913e0fa2e6371ed737fbe2be84e63a89ca8ae7a370322371",
        ])
        #expect(c.bodyText == "Two files.")
    }
}

@Suite struct EncodedWordBoundsTests {
    /// Many "=?" with no closing "?=" stay literal text (and cost linear time: each position
    /// finds the next "?=" from a table, instead of scanning to the end again).
    @Test func unclosedEncodedWordsStayLiteral() {
        let raw = Array(String(repeating: "=?a?q?x", count: 2000).utf8)
        #expect(decodeUnstructured(raw) == String(repeating: "=?a?q?x", count: 2000))
    }

    @Test func aClosedWordAfterManyOpenOnesStillDecodes() {
        let raw = Array((String(repeating: "=?x", count: 100) + " =?utf-8?q?caf=C3=A9?=").utf8)
        #expect(decodeUnstructured(raw) == String(repeating: "=?x", count: 100) + " café")
    }
}

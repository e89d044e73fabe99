import Testing
@testable import MailMessage

@Suite("charsets")
struct CharsetTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var label: String?
        var bytes: [UInt8]
        var text: String
        var invalid: Int
        var unknown: Bool
        var testDescription: String { "\(label ?? "nil") \(text.debugDescription)" }
    }

    static let cases: [Case] = [
        Case(label: "utf-8", bytes: Array("café €".utf8), text: "café €", invalid: 0, unknown: false),
        Case(label: "UTF8", bytes: Array("café".utf8), text: "café", invalid: 0, unknown: false),
        Case(label: "\"utf-8\"", bytes: Array("café".utf8), text: "café", invalid: 0, unknown: false),
        Case(label: " UTF-8 ", bytes: Array("café".utf8), text: "café", invalid: 0, unknown: false),
        // Invalid UTF-8: each bad sequence is one U+FFFD, and counted.
        Case(label: "utf-8", bytes: [0x6F, 0x6B, 0x20, 0xFF, 0xFE, 0x20, 0xE2, 0x82, 0x20, 0x65],
             text: "ok \u{FFFD}\u{FFFD} \u{FFFD} e", invalid: 3, unknown: false),
        Case(label: "utf-8", bytes: [0xC3], text: "\u{FFFD}", invalid: 1, unknown: false),
        Case(label: "utf-8", bytes: [0xED, 0xA0, 0x80], text: "\u{FFFD}\u{FFFD}\u{FFFD}", invalid: 3, unknown: false),
        // ISO-8859-1 is read as windows-1252: 0x80-0x9F are the typographic characters.
        Case(label: "iso-8859-1", bytes: [0x35, 0x80, 0x20, 0x93, 0x78, 0x94, 0x20, 0xE9, 0x85],
             text: "5€ “x” é…", invalid: 0, unknown: false),
        Case(label: "ISO_8859-1", bytes: [0x96, 0x97, 0x99], text: "–—™", invalid: 0, unknown: false),
        Case(label: "latin1", bytes: [0x8A, 0x9A, 0x9F], text: "ŠšŸ", invalid: 0, unknown: false),
        // The five bytes windows-1252 leaves unassigned become the C1 controls.
        Case(label: "windows-1252", bytes: [0x81, 0x8D, 0x8F, 0x90, 0x9D], text: "\u{81}\u{8D}\u{8F}\u{90}\u{9D}", invalid: 0, unknown: false),
        Case(label: "us-ascii", bytes: [0x63, 0x61, 0x66, 0xE9], text: "café", invalid: 0, unknown: false),
        // An ASCII label on valid UTF-8: UTF-8 (software that labels everything ASCII).
        Case(label: "us-ascii", bytes: Array("a — b €".utf8), text: "a — b €", invalid: 0, unknown: false),
        Case(label: "ANSI_X3.4-1968", bytes: Array("naïve".utf8), text: "naïve", invalid: 0, unknown: false),
        Case(label: "iso-8859-15", bytes: [0xA4], text: "€", invalid: 0, unknown: false),
        Case(label: "iso-8859-2", bytes: [0xA3, 0xF3, 0x64, 0xBC], text: "Łódź", invalid: 0, unknown: false),
        Case(label: "windows-1251", bytes: [0xCF, 0xF0, 0xE8, 0xE2, 0xE5, 0xF2], text: "Привет", invalid: 0, unknown: false),
        // GB2312 is read as GB18030 (senders that say GB2312 write GBK).
        Case(label: "gb2312", bytes: [0xD6, 0xD0, 0xCE, 0xC4, 0xD3, 0xCA, 0xBC, 0xFE], text: "中文邮件", invalid: 0, unknown: false),
        Case(label: "GB2312", bytes: [0x95, 0x4E], text: "昇", invalid: 0, unknown: false),  // GBK-only
        Case(label: "gbk", bytes: [0xD6, 0xD0], text: "中", invalid: 0, unknown: false),
        Case(label: "big5", bytes: [0xA4, 0xA4, 0xA4, 0xE5], text: "中文", invalid: 0, unknown: false),
        Case(label: "iso-2022-jp", bytes: [0x1B, 0x24, 0x42, 0x46, 0x7C, 0x4B, 0x5C, 0x38, 0x6C, 0x24, 0x4E, 0x25, 0x61,
                                           0x21, 0x3C, 0x25, 0x6B, 0x1B, 0x28, 0x42],
             text: "日本語のメール", invalid: 0, unknown: false),
        // An ISO-2022-JP label on 8-bit text lies: UTF-8, else EUC-JP, else Shift_JIS.
        Case(label: "iso-2022-jp", bytes: [0xE3, 0x83, 0x86, 0xE3, 0x82, 0xB9, 0xE3, 0x83, 0x88], text: "テスト", invalid: 0, unknown: false),
        Case(label: "ISO-2022-JP", bytes: [0xB2, 0xF1, 0xB5, 0xC4], text: "会議", invalid: 0, unknown: false),
        Case(label: "iso-2022-jp", bytes: [0x8E, 0xCA, 0x90, 0x5E], text: "写真", invalid: 0, unknown: false),
        Case(label: "iso-2022-jp", bytes: [0x41, 0x87, 0x40, 0x20, 0x83, 0x65], text: "A① テ", invalid: 0, unknown: false),
        // Windows' ISO-2022-JP: NEC row 13 (①, ㈱) and a NEC-selected IBM extension (髙) in JIS X 0208 mode.
        Case(label: "iso-2022-jp", bytes: [0x1B, 0x24, 0x42, 0x2D, 0x21, 0x2D, 0x6A, 0x7C, 0x62, 0x1B, 0x28, 0x42],
             text: "①㈱髙", invalid: 0, unknown: false),
        Case(label: "CP50221", bytes: [0x1B, 0x24, 0x42, 0x2D, 0x62, 0x2D, 0x35, 0x2D, 0x74, 0x79, 0x21, 0x1B, 0x28, 0x42, 0x33],
             text: "№Ⅰ∑纊3", invalid: 0, unknown: false),
        // Half-width katakana: ESC ( I, or SO after ESC ) I (CP50222).
        Case(label: "iso-2022-jp", bytes: [0x1B, 0x28, 0x49, 0x43, 0x3D, 0x44, 0x1B, 0x28, 0x42], text: "ﾃｽﾄ", invalid: 0, unknown: false),
        Case(label: "iso-2022-jp", bytes: [0x1B, 0x29, 0x49, 0x0E, 0x43, 0x3D, 0x44, 0x0F, 0x21], text: "ﾃｽﾄ!", invalid: 0, unknown: false),
        // JIS X 0212 (ESC $ ( D), and JIS X 0208 mode kept across a line end.
        Case(label: "iso-2022-jp", bytes: [0x1B, 0x24, 0x28, 0x44, 0x22, 0x71, 0x64, 0x69, 0x1B, 0x28, 0x42], text: "№鍈", invalid: 0, unknown: false),
        Case(label: "iso-2022-jp", bytes: [0x1B, 0x24, 0x42, 0x46, 0x7C, 0x0A, 0x46, 0x7C, 0x1B, 0x28, 0x42], text: "日\n日", invalid: 0, unknown: false),
        // A half pair and a lone ESC are each one U+FFFD.
        Case(label: "iso-2022-jp", bytes: [0x1B, 0x24, 0x42, 0x46, 0x7C, 0x46, 0x1B, 0x28, 0x42, 0x61, 0x1B], text: "日\u{FFFD}a\u{FFFD}", invalid: 2, unknown: false),
        // ISO-2022-JP-2's other sets are left to iconv.
        Case(label: "iso-2022-jp-2", bytes: [0x1B, 0x24, 0x41, 0x56, 0x50, 0x4E, 0x44, 0x1B, 0x28, 0x42], text: "中文", invalid: 0, unknown: false),
        // ISO-2022-JP text mixed with UTF-8 (a bounce quoting the original).
        Case(label: "iso-2022-jp", bytes: Array("é ".utf8) + [0x1B, 0x24, 0x42, 0x46, 0x7C, 0x1B, 0x28, 0x42] + Array(" ü".utf8),
             text: "é 日 ü", invalid: 0, unknown: false),
        // Shift_JIS is read as CP932 (Windows' superset).
        Case(label: "Shift_JIS", bytes: [0x93, 0xFA, 0x96, 0x7B, 0x8C, 0xEA], text: "日本語", invalid: 0, unknown: false),
        Case(label: "shift_jis", bytes: [0x87, 0x40], text: "①", invalid: 0, unknown: false),  // CP932-only
        Case(label: "euc-jp", bytes: [0xC6, 0xFC, 0xCB, 0xDC], text: "日本", invalid: 0, unknown: false),
        Case(label: "euc-kr", bytes: [0xC7, 0xD1, 0xB1, 0xB9, 0xBE, 0xEE], text: "한국어", invalid: 0, unknown: false),
        Case(label: "ks_c_5601-1987", bytes: [0xC7, 0xD1, 0xB1, 0xB9, 0xBE, 0xEE], text: "한국어", invalid: 0, unknown: false),
        // An incomplete sequence at the end becomes one U+FFFD.
        Case(label: "euc-kr", bytes: [0xC7, 0xD1, 0xC7], text: "한\u{FFFD}", invalid: 1, unknown: false),
        Case(label: "koi8-r", bytes: [0xF0, 0xD2, 0xC9, 0xD7, 0xC5, 0xD4], text: "Привет", invalid: 0, unknown: false),
        Case(label: "utf-7", bytes: Array("Hi +A6k-mega +IKw-".utf8), text: "Hi Ωmega €", invalid: 0, unknown: false),
        Case(label: "unicode-2-0-utf-7", bytes: Array("Hi +A6k-".utf8), text: "Hi Ω", invalid: 0, unknown: false),
        Case(label: "x-unicode-2-0-utf-7", bytes: Array("+AOQ".utf8), text: "ä", invalid: 0, unknown: false),
        Case(label: "utf-16le", bytes: [0x41, 0x00, 0x42, 0x00], text: "AB", invalid: 0, unknown: false),
        // ASCII in a known charset needs no converter.
        Case(label: "koi8-r", bytes: Array("plain".utf8), text: "plain", invalid: 0, unknown: false),
        // No label: UTF-8 if it is valid, else windows-1252; nothing is unknown.
        Case(label: nil, bytes: Array("café".utf8), text: "café", invalid: 0, unknown: false),
        Case(label: nil, bytes: [0x63, 0x61, 0x66, 0xE9], text: "café", invalid: 0, unknown: false),
        Case(label: "", bytes: [0x80], text: "€", invalid: 0, unknown: false),
        // An unknown label: the same guess, flagged.
        Case(label: "x-made-up", bytes: Array("café".utf8), text: "café", invalid: 0, unknown: true),
        Case(label: "x-made-up", bytes: [0x63, 0x61, 0x66, 0xE9], text: "café", invalid: 0, unknown: true),
        // ASCII text needs no guess, so an unknown label on it is not reported.
        Case(label: "x-made-up", bytes: Array("ascii".utf8), text: "ascii", invalid: 0, unknown: false),
    ]

    @Test(arguments: cases)
    func decodes(_ c: Case) {
        let r = Charset.decode(c.bytes, label: c.label)
        #expect(r.text == c.text)
        #expect(r.invalidBytes == c.invalid)
        #expect(r.unknownLabel == c.unknown)
    }

    @Test(arguments: [
        ("utf-8", "UTF-8"), ("UTF8", "UTF-8"), ("iso-8859-1", "CP1252"), ("us-ascii", "US-ASCII"),
        ("gb2312", "GB18030"), ("shift_jis", "CP932"), ("euc-kr", "CP949"), ("iso-2022-jp", "ISO-2022-JP"),
        ("CP50220", "ISO-2022-JP"), ("iso-2022-jp-3", "ISO-2022-JP-3"), ("x-unicode-2-0-utf-7", "UTF-7"),
        ("x-sjis", "CP932"), ("iso8859-2", "ISO-8859-2"), ("ISO_8859-5", "ISO-8859-5"), ("utf-8*en", "UTF-8"),
        ("'koi8-r'", "KOI8-R"), ("windows-1250", "WINDOWS-1250"),
    ])
    func canonicalNames(_ label: String, _ expected: String) {
        #expect(Charset.canonicalName(label) == expected)
    }

    /// Raw 8-bit header bytes: UTF-8 first, then the message's declared charset, then windows-1252.
    @Test(arguments: [
        ([0x47, 0x72, 0xC3, 0xBC, 0xC3, 0x9F, 0x65], "koi8-r", "Grüße"),
        ([0xF0, 0xD2, 0xC9, 0xD7, 0xC5, 0xD4], "koi8-r", "Привет"),
        ([0xF0, 0xD2, 0xC9, 0xD7, 0xC5, 0xD4], nil, "ðÒÉ×ÅÔ"),
        ([0x63, 0x61, 0x66, 0xE9, 0x80], "utf-8", "café€"),
        ([0x63, 0x61, 0x66, 0xE9], "x-unknown", "café"),
        ([0x63, 0x61, 0x66, 0xE9], "euc-kr", "café"),  // not valid EUC-KR: windows-1252
        ([0x93, 0xFA, 0x96, 0x7B], "shift_jis", "日本"),
        // An ASCII label says nothing about 8-bit bytes: they are detected.
        ([0xD6, 0xD0, 0xCE, 0xC4, 0xD3, 0xCA, 0xBC, 0xFE], "us-ascii", "中文邮件"),
        // A declared charset the bytes do not fit gives way to detection (or to the label's lie).
        ([0xC7, 0xD1, 0xB1, 0xB9, 0xBE, 0xEE], "shift_jis", "한국어"),
        ([0x8E, 0xCA, 0x90, 0x5E, 0x82, 0xF0], "iso-2022-jp", "写真を"),
        // No charset declared: the legacy East Asian charset that reads the bytes as common text.
        ([0xD6, 0xD0, 0xCE, 0xC4, 0xD3, 0xCA, 0xBC, 0xFE], nil, "中文邮件"),
        ([0xB9, 0xD8, 0xD3, 0xDA, 0xB7, 0xA2, 0xC6, 0xB1, 0xB5, 0xC4, 0xCE, 0xCA, 0xCC, 0xE2], nil, "关于发票的问题"),
        ([0xC4, 0xFA, 0xBA, 0xC3, 0xA3, 0xAC, 0xC7, 0xEB, 0xB2, 0xE9, 0xCA, 0xD5, 0xB8, 0xBD, 0xBC, 0xFE], nil, "您好，请查收附件"),
        ([0x52, 0x65, 0x3A, 0x20, 0xB2, 0xE2, 0xCA, 0xD4], nil, "Re: 测试"),
        ([0xB7, 0x7C, 0xC4, 0xB3, 0xB3, 0x71, 0xAA, 0xBE], nil, "會議通知"),
        ([0xC3, 0xF6, 0xA9, 0xF3, 0xB5, 0x6F, 0xB2, 0xBC, 0xAA, 0xBA, 0xB0, 0xDD, 0xC3, 0x44], nil, "關於發票的問題"),
        ([0x83, 0x65, 0x83, 0x58, 0x83, 0x67], nil, "テスト"),
        ([0x8E, 0x52, 0x93, 0x63, 0x91, 0xBE, 0x98, 0x59], nil, "山田太郎"),
        ([0xBE, 0xC8, 0xB3, 0xE7, 0xC7, 0xCF, 0xBC, 0xBC, 0xBF, 0xE4], nil, "안녕하세요"),
        ([0xB1, 0xE8, 0xC3, 0xB6, 0xBC, 0xF6], nil, "김철수"),
        ([0xC5, 0xD7, 0xBD, 0xBA, 0xC6, 0xAE, 0x20, 0xB8, 0xDE, 0xC0, 0xCF], nil, "테스트 메일"),
        // Latin-1 and KOI8-R text stays windows-1252: its letters stand alone or pair into rare characters.
        ([0xC4, 0xE4, 0x6E, 0x69], nil, "Ääni"),
        ([0x47, 0x72, 0xFC, 0xDF, 0x65, 0x20, 0x61, 0x75, 0x73, 0x20, 0x4B, 0xF6, 0x6C, 0x6E], nil, "Grüße aus Köln"),
        ([0x63, 0x72, 0xE9, 0xE9, 0x20, 0xE0, 0x20, 0x50, 0x61, 0x72, 0x69, 0x73], nil, "créé à Paris"),
        ([0x46, 0x72, 0xF6, 0x73, 0x63, 0x68, 0x65], nil, "Frösche"),
        ([0xC7, 0x61, 0x20, 0x63, 0x6F, 0xFB, 0x74, 0x65, 0x20, 0x35, 0x80], nil, "Ça coûte 5€"),
        ([0x93, 0xDC, 0x62, 0x65, 0x72, 0x94, 0x20, 0x96, 0x20, 0x6F, 0x6B], nil, "“Über” – ok"),
        ([0xF3, 0xDE, 0xA3, 0xD4, 0x20, 0xCE, 0xC1, 0x20, 0xCF, 0xD0, 0xCC, 0xC1, 0xD4, 0xD5], nil, "óÞ£Ô ÎÁ ÏÐÌÁÔÕ"),  // KOI8-R
    ] as [([UInt8], String?, String)])
    func headerBytes(_ bytes: [UInt8], _ fallback: String?, _ expected: String) {
        let s = bytes.withUnsafeBufferPointer { Charset.decodeHeaderBytes($0, fallback: fallback) }
        #expect(s == expected)
    }

    /// (fixture, subject, body text, content defect codes)
    static let messages: [(String, String, String, [Defect.Code])] = [
        ("iso-8859-1-body.eml", "Latin-1 body", "Price: 5€ “net”, café\n", []),
        ("gb2312-body.eml", "中文邮件", "中文邮件\n", []),
        ("iso-2022-jp-body.eml", "日本語のメール", "日本語のメール\n", []),
        ("shift-jis-body.eml", "Shift_JIS", "日本語\n", []),
        ("euc-kr-body.eml", "EUC-KR", "한국어\n", []),
        ("koi8-r-body.eml", "KOI8-R", "Привет\n", []),
        ("utf-7-body.eml", "UTF-7", "Hi Ωmega €\n", []),
        ("unknown-charset-body.eml", "Unknown charset", "Café\n", [.unknownCharset]),
        ("invalid-utf8-body.eml", "Invalid UTF-8", "ok \u{FFFD}\u{FFFD} then \u{FFFD} end\n", [.invalidCharacters]),
        ("us-ascii-label-utf8-body.eml", "Invoice — March", "The total is 42 € — paid on 3 March.\n", []),
        ("iso-2022-jp-label-utf8.eml", "配送エラーのお知らせ", "このメッセージは配信できませんでした。\n宛先: sato@example.jp\n", []),
        ("iso-2022-jp-label-euc-jp.eml", "会議の予定", "明日の会議は十時からです。\n", []),
        ("iso-2022-jp-label-shift-jis.eml", "写真を送ります", "今日の写真です。①と②を見てください。\n", []),
        ("iso-2022-jp-microsoft-extensions.eml", "①会議室の予約", "会議室①は㈱髙橋の予約です。\n№3 Ⅱ期 ∑ 纊 ﾃｽﾄ\n", []),
        ("utf-7-encoded-words.eml", "Grüße aus Köln", "Sehr geehrte Frau Schäfer,\ndie Rechnung #4711 über 25 € ist bezahlt.\n", []),
    ]

    @Test(arguments: messages)
    func messageBodies(_ fixture: String, _ subject: String, _ body: String, _ defects: [Defect.Code]) {
        let m = Fixture.message(fixture)
        #expect(m.subject == subject)
        let c = m.content()
        #expect(c.bodyText == body)
        #expect(c.defects.map(\.code) == defects)
        #expect(m.bodyText() == body)
    }

    /// Converters keep state between calls (ISO-2022-JP shifts); parsing on several threads at
    /// once must give every thread its own correct text.
    @Test func concurrentDecoding() async {
        let inputs = Self.cases.filter { $0.label.map { ["iso-2022-jp", "gb2312", "koi8-r", "utf-7", "euc-kr"].contains($0) } ?? false }
        let wrong = await withTaskGroup(of: Int.self) { group in
            for t in 0..<8 {
                group.addTask {
                    var wrong = 0
                    for k in 0..<300 {
                        let c = inputs[(t + k) % inputs.count]
                        let r = Charset.decode(c.bytes, label: c.label)
                        if r.text != c.text || r.invalidBytes != c.invalid { wrong += 1 }
                    }
                    return wrong
                }
            }
            return await group.reduce(0, +)
        }
        #expect(inputs.count == 17)
        #expect(wrong == 0)
    }

    @Test func invalidCharactersDetail() {
        let c = Fixture.message("invalid-utf8-body.eml").content()
        #expect(c.defects.map(\.detail) == ["3 bytes not utf-8"])
        let u = Fixture.message("unknown-charset-body.eml").content()
        #expect(u.defects.map(\.detail) == ["x-made-up"])
    }

    /// (fixture, subject, from name)
    @Test(arguments: [
        ("raw-8bit-header-utf8.eml", "Grüße aus Köln", "Jürgen"),
        ("raw-8bit-header-declared-charset.eml", "Привет мир", "Привет"),
        ("raw-8bit-header-windows-1252.eml", "Café costs 5€ “quoted”", nil),
        // Declared by the text part only, not by the (multipart) message.
        ("raw-8bit-header-gbk-text-part.eml", "关于发票的问题", "张伟"),
        // Declared nowhere: detected.
        ("raw-8bit-header-big5-undeclared.eml", "關於發票的問題", "陳大文"),
        ("raw-8bit-header-shift-jis-undeclared.eml", "お問い合わせ", "山田太郎"),
        ("raw-8bit-header-euc-kr-undeclared.eml", "문의 사항입니다", "김철수"),
        // Encoded words whose label lies, or in UTF-7.
        ("iso-2022-jp-label-euc-jp.eml", "会議の予定", "鈴木"),
        ("iso-2022-jp-label-shift-jis.eml", "写真を送ります", "山田"),
        ("iso-2022-jp-microsoft-extensions.eml", "①会議室の予約", "髙橋"),
        ("utf-7-encoded-words.eml", "Grüße aus Köln", "Jürgen Müller"),
    ] as [(String, String, String?)])
    func rawEightBitHeaders(_ fixture: String, _ subject: String, _ name: String?) {
        let m = Fixture.message(fixture)
        #expect(m.subject == subject)
        #expect(m.from.first?.name == name)
    }

    /// Which candidate the detector picks, and that text it cannot place is left alone.
    @Test func legacyCJKDetection() {
        func detect(_ s: String, _ encoded: [UInt8]) -> LegacyCJK.Candidate? {
            encoded.withUnsafeBufferPointer { LegacyCJK.detectCharset($0) }.map { $0.text == s ? $0.candidate : nil } ?? nil
        }
        #expect(detect("中文邮件", [0xD6, 0xD0, 0xCE, 0xC4, 0xD3, 0xCA, 0xBC, 0xFE]) == .gbk)
        #expect(detect("會議通知", [0xB7, 0x7C, 0xC4, 0xB3, 0xB3, 0x71, 0xAA, 0xBE]) == .big5)
        #expect(detect("テスト", [0x83, 0x65, 0x83, 0x58, 0x83, 0x67]) == .shiftJIS)
        #expect(detect("안녕하세요", [0xBE, 0xC8, 0xB3, 0xE7, 0xC7, 0xCF, 0xBC, 0xBC, 0xBF, 0xE4]) == .eucKR)
        // One non-ASCII character, or bytes no candidate reads: no guess.
        #expect([UInt8]([0xD6, 0xD0]).withUnsafeBufferPointer { LegacyCJK.detectCharset($0) } == nil)
        #expect([UInt8]([0xFF, 0xFE, 0xFD, 0xFC]).withUnsafeBufferPointer { LegacyCJK.detectCharset($0) } == nil)
    }

    /// Text that switches between two charsets thousands of times decodes in full, each run in its charset.
    @Test func iso2022JPWithManySwitches() {
        let unit: [UInt8] = [0x1B, 0x24, 0x28, 0x44, 0x22, 0x71, 0x1B, 0x24, 0x42, 0x2D, 0x21, 0x1B, 0x28, 0x42, 0x61]
        let bytes = Array([[UInt8]](repeating: unit, count: 20_000).joined())
        let r = Charset.decode(bytes, label: "iso-2022-jp")
        #expect(r.invalidBytes == 0)
        #expect(r.text == String(repeating: "№①a", count: 20_000))
    }
}

import Testing
@testable import MailCompose
import MailMessage

// MARK: - Helpers

let helpdesk = MailAddress(name: "Helpdesk", address: "helpdesk@example.com")
let jane = MailAddress(name: "Jane Doe", address: "jane@example.org")
let ourID = "wt-12-345-abcdef@helpdesk.example.com"

func mail(subject: String = "Printer jammed", from: MailAddress = helpdesk, to: [MailAddress] = [jane],
          inReplyTo: String? = nil, references: [String] = [], date: Int64 = 1_740_821_400,
          text: String = "Hello.\n", html: String? = nil, headers: [(name: String, value: String)] = []) -> OutgoingMail {
    OutgoingMail(from: from, to: to, subject: subject, messageID: ourID, inReplyTo: inReplyTo, references: references,
                 date: date, text: text, html: html, headers: headers)
}

func composed(_ m: OutgoingMail) throws -> (bytes: [UInt8], message: Message) {
    let b = try compose(m)
    return (b, parse(b))
}

func fieldNames(_ m: Message) -> [String] { m.headers.fields.map { m.headers.name($0) } }

/// The header section as lines (CRLF removed), up to the empty line.
func headerLines(_ b: [UInt8]) -> [String] {
    var lines: [String] = []
    var start = 0
    var i = 0
    while i + 1 < b.count {
        if b[i] == 13 && b[i + 1] == 10 {
            if i == start { break }
            lines.append(String(decoding: b[start..<i], as: UTF8.self))
            start = i + 2
            i += 2
            continue
        }
        i += 1
    }
    return lines
}

/// Nil when every CR is followed by LF, every LF preceded by CR and no line passes 998
/// octets; else what is wrong.
func lineProblem(_ b: [UInt8]) -> String? {
    b.withUnsafeBufferPointer { p -> String? in
        var length = 0
        var i = 0
        let n = p.count
        while i < n {
            let c = p[i]
            if c == 13 {
                if i + 1 >= n || p[i + 1] != 10 { return "bare CR at \(i)" }
            } else if c == 10 {
                if i == 0 || p[i - 1] != 13 { return "bare LF at \(i)" }
                length = 0
            } else {
                length += 1
                if length > 998 { return "line over 998 octets at \(i)" }
            }
            i += 1
        }
        return nil
    }
}

/// The parser's input, copied without a per-byte generic loop (debug builds are slow at those).
func parse(_ b: [UInt8]) -> Message {
    let buffer = ByteBuffer(capacity: b.count)
    b.withUnsafeBytes { buffer.append($0) }
    return Message.parse(buffer)
}

/// A field line that holds only its name, its value starting on a folded line.
func firstValueFolded(_ lines: [String]) -> String? {
    for (k, l) in lines.enumerated() where k + 1 < lines.count && l.hasSuffix(":") && !l.contains(" ") && lines[k + 1].hasPrefix(" ") {
        return l
    }
    return nil
}

func scalars(_ s: String?) -> [Unicode.Scalar]? { s.map { Array($0.unicodeScalars) } }

/// Line ends as the composer documents them: CRLF, LF and a lone CR each become LF, and a
/// last line without a line end gets one.
func expectedBody(_ s: String) -> String {
    var out: [UInt8] = []
    var afterCR = false
    for c in s.utf8 {
        if c == 13 { out.append(10); afterCR = true; continue }
        if c == 10 && afterCR { afterCR = false; continue }
        afterCR = false
        out.append(c)
    }
    if let l = out.last, l != 10 { out.append(10) }
    return String(decoding: out, as: UTF8.self)
}

// MARK: - Examples

@Suite("compose: layout")
struct LayoutTests {
    @Test func aPlainReplyIsWrittenExactly() throws {
        let m = mail(subject: "[#12] Printer jammed", to: [MailAddress(name: "Doe, Jane", address: "jane@example.org")],
                     inReplyTo: "abc@mail.example.org", references: ["abc@mail.example.org"],
                     text: "Hello Jane,\n\nthe printer is fixed.\n", headers: [("Auto-Submitted", "auto-generated")])
        let expected = """
            From: Helpdesk <helpdesk@example.com>\r
            To: "Doe, Jane" <jane@example.org>\r
            Subject: [#12] Printer jammed\r
            Date: Sat, 01 Mar 2025 09:30:00 +0000\r
            Message-ID: <wt-12-345-abcdef@helpdesk.example.com>\r
            In-Reply-To: <abc@mail.example.org>\r
            References: <abc@mail.example.org>\r
            Auto-Submitted: auto-generated\r
            MIME-Version: 1.0\r
            Content-Type: text/plain; charset=utf-8\r
            Content-Transfer-Encoding: 7bit\r
            \r
            Hello Jane,\r
            \r
            the printer is fixed.\r

            """
        #expect(String(decoding: try compose(m), as: UTF8.self) == expected)
    }

    @Test func theSameInputGivesTheSameBytes() throws {
        let m = mail(subject: "Grüße 👋 =?x?q?y?=", text: "ü\n", html: "<p>ü</p>", headers: [("X-Loop", "helpdesk@x")])
        #expect(try compose(m) == compose(m))
    }

    @Test func datesAreUTCInRFC5322Form() throws {
        #expect(try rfc5322Date(0) == "Thu, 01 Jan 1970 00:00:00 +0000")
        #expect(try rfc5322Date(-1) == "Wed, 31 Dec 1969 23:59:59 +0000")
        #expect(try rfc5322Date(951_868_799) == "Tue, 29 Feb 2000 23:59:59 +0000")
        #expect(try rfc5322Date(-2_208_988_800) == "Mon, 01 Jan 1900 00:00:00 +0000")
        #expect(try rfc5322Date(253_402_300_799) == "Fri, 31 Dec 9999 23:59:59 +0000")
        #expect(throws: ComposeError.self) { try rfc5322Date(253_402_300_800) }
        #expect(throws: ComposeError.self) { try rfc5322Date(-2_208_988_801) }
        #expect(throws: ComposeError.self) { try compose(mail(date: .max)) }
        #expect(throws: ComposeError.self) { try compose(mail(date: .min)) }
        let (_, msg) = try composed(mail(date: 1_740_821_400))
        #expect(msg.date?.epochSeconds == 1_740_821_400)
        #expect(msg.date?.offsetMinutes == 0)
    }

    @Test func noRecipientThrows() {
        #expect(throws: ComposeError("no recipient")) { try compose(mail(to: [])) }
    }
}

@Suite("compose: header text")
struct HeaderTextTests {
    @Test func controlsAndSeparatorsBecomeOneSpace() {
        #expect(headerText("  a\r\nb\nc\rd\0e\u{2028}f\u{2029}g\th\u{1B}i\u{7F}j\u{85}k\u{9B}l  ") == "a b c d e f g h i j k l")
        #expect(headerText("a \r\n\t b") == "a b")
        #expect(headerText("\u{A0}a\u{3000}\u{2003}b\u{A0}") == "a b")
        #expect(headerText("\r\n\0") == "")
        // Format characters are text: the notifier decides about bidi controls.
        #expect(headerText("a\u{202E}b\u{200B}c") == "a\u{202E}b\u{200B}c")
        #expect(headerText("שלום עולם 👋") == "שלום עולם 👋")
    }

    /// The byte-level reading agrees with the Unicode properties for every scalar up to U+30FF
    /// (the last White_Space character is U+3000) and a few beyond.
    @Test func whiteSpaceIsControlsAndUnicodeWhiteSpace() {
        for v in Array(0..<0x3100) + [0xFEFF, 0xFFFD, 0x1F600, 0xE0001, 0x10FFFF] {
            guard let u = Unicode.Scalar(v) else { continue }
            let space = v < 0x20 || (v >= 0x7F && v <= 0x9F) || u.properties.isWhitespace
            #expect((headerText("a\(u)b") == "a b") == space, "U+\(String(v, radix: 16))")
        }
    }

    @Test func htmlSpecialsAreEscaped() {
        #expect(htmlEscape(#"<a href="x" title='y'>&amp;</a>"#)
            == "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;")
        #expect(htmlEscape("Grüße 👋") == "Grüße 👋")
    }
}

@Suite("compose: header injection")
struct InjectionTests {
    static let expectedNames = ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
                                "Content-Transfer-Encoding"]

    @Test(arguments: ["Hi\r\nBcc: evil@x", "Hi\nX-Injected: 1", "Hi\rX-Injected: 1", "Hi\u{2028}X-Injected: 1",
                      "Hi\r\n\r\nbody", "Hi\0X-Injected: 1", "Hi\u{85}X-Injected: 1"])
    func aSubjectStaysOneField(_ subject: String) throws {
        let (b, m) = try composed(mail(subject: subject))
        #expect(fieldNames(m) == Self.expectedNames)
        #expect(scalars(m.subject) == scalars(headerText(subject)))
        #expect(m.content().bodyText == "Hello.\n")
        #expect(lineProblem(b) == nil)
    }

    @Test func aDisplayNameStaysInItsAddress() throws {
        let evil = MailAddress(name: "Jane\r\nBcc: evil@x", address: "jane@example.org")
        let (_, m) = try composed(mail(to: [evil]))
        #expect(fieldNames(m) == Self.expectedNames)
        #expect(m.to == [Mailbox(name: "Jane Bcc: evil@x", address: "jane@example.org")])
    }

    @Test func anExtraValueStaysOneField() throws {
        let (_, m) = try composed(mail(headers: [("X-Ticket", "12\nX-Injected: 1"), ("X-Loop", "a\r\nBcc: evil@x")]))
        #expect(fieldNames(m) == ["From", "To", "Subject", "Date", "Message-ID", "X-Ticket", "X-Loop", "MIME-Version",
                                  "Content-Type", "Content-Transfer-Encoding"])
        #expect(m.headers.text("X-Ticket") == "12 X-Injected: 1")
        #expect(m.headers.text("X-Loop") == "a Bcc: evil@x")
    }

    @Test(arguments: ["From", "to", "SUBJECT", "Date", "Message-Id", "In-Reply-To", "References", "MIME-Version",
                      "Content-Type", "content-transfer-encoding", "Content-Disposition", "Bcc", "", "X Loop",
                      "X-Loop:", "X-Loop\r\nBcc", "X-Lööp", "X-\u{0}", String(repeating: "X", count: 51)])
    func extraFieldNamesAreChecked(_ name: String) {
        #expect(throws: ComposeError.self) { try compose(mail(headers: [(name, "v")])) }
    }

    @Test func extraFieldNamesThatAreFineAreWritten() throws {
        let names = ["Auto-Submitted", "Precedence", "X-Loop", "Reply-To", "List-Unsubscribe", "X-!#$%&'*+.^_`|~",
                     String(repeating: "X", count: 50)]
        let (_, m) = try composed(mail(headers: names.map { ($0, "x") }))
        #expect(Array(fieldNames(m)[5..<(5 + names.count)]) == names)
    }

    @Test(arguments: ["", "jane", "@example.org", "jane@", "jane@@example.org", "a@b@c", "jane doe@example.org",
                      "jane\r\n@example.org", "jane@example.org\r\nBcc: evil@x", "jane\0@example.org", "<jane@example.org>",
                      "jane@example.org>", "a,b@example.org", "a;b@example.org", "a:b@example.org", "a(b)@example.org",
                      "\"a\"@example.org", "a\\b@example.org", "jäne@example.org", "jane\t@example.org",
                      "a\u{7F}@example.org", String(repeating: "a", count: 310) + "@example.org"])
    func badAddressesThrow(_ address: String) {
        #expect(throws: ComposeError.self) { try compose(mail(to: [MailAddress(name: "x", address: address)])) }
        #expect(throws: ComposeError.self) { try compose(mail(from: MailAddress(name: nil, address: address))) }
    }

    @Test func addressesThatAreFineAreWritten() throws {
        let good = ["jane@example.org", "j.doe+tickets@mail.example.org", "a!#$%&'*/=?^_`{|}~-@x", "user@[192.0.2.1]"]
        let (_, m) = try composed(mail(to: good.map { MailAddress(name: nil, address: $0) }))
        #expect(m.to.map(\.address) == good)
        #expect(m.to.allSatisfy { $0.name == nil })
    }
}

@Suite("compose: encoded words and folding")
struct EncodingTests {
    /// Every header line at most 76 octets, and every encoded word at most 75 characters.
    func checkHeaderShape(_ b: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        for line in headerLines(b) {
            #expect(line.utf8.count <= 76, "\(line)", sourceLocation: sourceLocation)
            #expect(line.utf8.allSatisfy { $0 < 0x80 }, sourceLocation: sourceLocation)
            for word in line.split(separator: " ") where word.hasPrefix("=?") {
                #expect(word.utf8.count <= 75, sourceLocation: sourceLocation)
            }
        }
    }

    @Test func nonASCIIWordsAreEncodedAndPlainWordsKept() throws {
        let subject = "Re: Drucker fällt aus – bitte prüfen [#12]"
        let (b, m) = try composed(mail(subject: subject))
        let lines = headerLines(b)
        // Each run of non-ASCII words is one or more encoded words, Q or B, whichever is shorter.
        #expect(Array(lines[2...3]) == ["Subject: Re: Drucker =?utf-8?b?ZsOkbGx0?= aus =?utf-8?b?4oCT?= bitte",
                                        " =?utf-8?q?pr=C3=BCfen?= [#12]"])
        #expect(m.subject == subject)
        checkHeaderShape(b)
    }

    @Test func mostlyNonASCIIIsWrittenInBase64() throws {
        let subject = "שלום עולם, המדפסת תקועה"
        let (b, m) = try composed(mail(subject: subject))
        #expect(headerLines(b).contains { $0.hasPrefix("Subject: =?utf-8?b?") })
        #expect(m.subject == subject)
        checkHeaderShape(b)
    }

    @Test(arguments: ["=?utf-8?q?Hello?=", "Hi =?UTF-8?B?SGk=?= there", "a=?b", "=?iso-8859-1?q?caf=E9?="])
    func textThatLooksLikeAnEncodedWordReadsBackAsWritten(_ subject: String) throws {
        let (b, m) = try composed(mail(subject: subject))
        #expect(m.subject == subject)
        #expect(!headerLines(b).contains("Subject: " + subject))
        checkHeaderShape(b)
    }

    @Test func aLongSubjectIsFoldedAtSpaces() throws {
        let subject = Array(repeating: "printer", count: 40).joined(separator: " ")
        let (b, m) = try composed(mail(subject: subject))
        #expect(m.subject == subject)
        let lines = headerLines(b)
        #expect(lines.filter { $0.hasPrefix(" printer") }.count >= 3)
        #expect(!lines.joined().contains("=?"))
        checkHeaderShape(b)
    }

    @Test func aWordLongerThanALineBecomesEncodedWords() throws {
        let word = String(repeating: "x", count: 2_000)
        let (b, m) = try composed(mail(subject: "see " + word + " ok", headers: [("X-Long", word)]))
        #expect(m.subject == "see " + word + " ok")
        #expect(m.headers.text("X-Long") == word)
        checkHeaderShape(b)
    }

    /// A folded line right after the field name starts the value with a space for some readers
    /// (Python's email package): a first word that does not fit the first line is encoded.
    @Test func theFirstWordStaysOnTheFieldLine() throws {
        let word = String(repeating: "z", count: 75)
        let name = String(repeating: "z", count: 73)
        let (b, m) = try composed(mail(subject: word, to: [MailAddress(name: name, address: "a@x.org")],
                                       headers: [(String(repeating: "X", count: 50), word)]))
        let lines = headerLines(b)
        #expect(lines[1].hasPrefix("To: =?utf-8?q?zzz"))
        #expect(lines.contains { $0.hasPrefix("Subject: =?utf-8?q?zzz") })
        #expect(m.subject == word)
        #expect(m.to == [Mailbox(name: name, address: "a@x.org")])
        #expect(m.headers.text(String(repeating: "X", count: 50)) == word)
        #expect(firstValueFolded(lines) == nil)
        checkHeaderShape(b)
    }

    @Test func emojiAndCombiningCharactersAreNeverSplit() throws {
        let subject = String(repeating: "👩‍👩‍👧é\u{301}", count: 60)
        let (b, m) = try composed(mail(subject: subject))
        #expect(scalars(m.subject) == scalars(subject))
        checkHeaderShape(b)
        // Each encoded word decodes on its own to valid UTF-8.
        for line in headerLines(b) {
            for word in line.split(separator: " ") where word.hasPrefix("=?") {
                let one = Message.parse(Array("Subject: \(word)\r\n\r\n".utf8))
                #expect(one.subject?.contains("\u{FFFD}") == false)
            }
        }
    }

    @Test func anEmptySubjectIsAnEmptyField() throws {
        let (b, m) = try composed(mail(subject: " \r\n "))
        #expect(headerLines(b).contains("Subject:"))
        #expect(m.subject == "")
    }

    @Test(arguments: [
        ("Doe, Jane", #""Doe, Jane" <jane@example.org>"#),
        ("Jane Doe", "Jane Doe <jane@example.org>"),
        ("O'Brien", "O'Brien <jane@example.org>"),
        (#"Jane "JD" Doe"#, #""Jane \"JD\" Doe" <jane@example.org>"#),
        (#"back\slash"#, #""back\\slash" <jane@example.org>"#),
        ("evil@x.com", #""evil@x.com" <jane@example.org>"#),
        ("a <b@c>", #""a <b@c>" <jane@example.org>"#),
        ("x;y:z (c)", #""x;y:z (c)" <jane@example.org>"#),
        ("J. Doe", #""J. Doe" <jane@example.org>"#),
    ])
    func asciiDisplayNamesAreAtomsOrQuoted(_ name: String, _ written: String) throws {
        let (b, m) = try composed(mail(to: [MailAddress(name: name, address: "jane@example.org"), helpdesk]))
        #expect(headerLines(b).contains("To: \(written), Helpdesk <helpdesk@example.com>"))
        #expect(m.to == [Mailbox(name: name, address: "jane@example.org"), Mailbox(name: "Helpdesk", address: "helpdesk@example.com")])
    }

    @Test(arguments: ["Müller, Hans", "=?utf-8?q?x?=", "عربي \u{202E}gnp.exe", "👋 <evil@x>, \"a\"",
                      String(repeating: "Wolfeschlegelsteinhausenbergerdorff ", count: 12), String(repeating: "y", count: 500)])
    func otherDisplayNamesAreEncodedWithTheirSpecials(_ name: String) throws {
        let to = [MailAddress(name: name, address: "a@example.org"), MailAddress(name: name, address: "b@example.org")]
        let (b, m) = try composed(mail(from: MailAddress(name: name, address: "helpdesk@example.com"), to: to))
        let n = headerText(name)
        #expect(m.from == [Mailbox(name: n, address: "helpdesk@example.com")])
        #expect(m.to == [Mailbox(name: n, address: "a@example.org"), Mailbox(name: n, address: "b@example.org")])
        checkHeaderShape(b)
    }

    @Test func noDisplayNameIsJustTheAddress() throws {
        let (b, m) = try composed(mail(to: [MailAddress(name: nil, address: "a@x.org"), MailAddress(name: " \r\n", address: "b@x.org")]))
        #expect(headerLines(b).contains("To: <a@x.org>, <b@x.org>"))
        #expect(m.to == [Mailbox(name: nil, address: "a@x.org"), Mailbox(name: nil, address: "b@x.org")])
    }

    @Test func manyRecipientsAreFoldedBetweenAddresses() throws {
        let to = (0..<30).map { MailAddress(name: "User \($0)", address: "user\($0)@example.org") }
        let (b, m) = try composed(mail(to: to))
        #expect(m.to.count == 30)
        #expect(m.to.map(\.address) == to.map(\.address))
        checkHeaderShape(b)
    }
}

@Suite("compose: message IDs")
struct MessageIDTests {
    @Test func idsReadBack() throws {
        let (_, m) = try composed(mail(inReplyTo: "p@x", references: ["a@x", "b@x", "p@x"]))
        #expect(m.messageID == ourID)
        #expect(m.inReplyTo == ["p@x"])
        #expect(m.references == ["a@x", "b@x", "p@x"])
    }

    @Test func referencesAreCappedAtTheFirstAndTheLatest19() throws {
        let refs = (0..<50).map { "r\($0)@x" }
        let (b, m) = try composed(mail(references: refs))
        #expect(m.references == ["r0@x"] + (31..<50).map { "r\($0)@x" })
        for l in headerLines(b) { #expect(l.utf8.count <= 76) }
    }

    @Test func idsFromMailThatCannotBeWrittenAreLeftOut() throws {
        let bad = ["", "a b@x", "a>b@x", "<a@x>", "a\r\nBcc: evil@x", "ü@x", "a(b)@x", "a\"b@x", String(repeating: "a", count: 901)]
        let (_, m) = try composed(mail(inReplyTo: "a\r\nX-Injected: 1", references: bad + ["ok@x"]))
        #expect(m.inReplyTo == [])
        #expect(m.headers.first("In-Reply-To") == nil)
        #expect(m.references == ["ok@x"])
        let (_, none) = try composed(mail(references: bad))
        #expect(none.headers.first("References") == nil)
    }

    @Test(arguments: ["", "a b@x", "<a@x>", "a\nb@x", "ü@x"])
    func anInvalidMessageIDThrows(_ id: String) {
        var m = mail()
        m.messageID = id
        #expect(throws: ComposeError.self) { try compose(m) }
    }
}

@Suite("compose: bodies")
struct BodyTests {
    @Test func asciiTextIs7bitWithCRLF() throws {
        let (b, m) = try composed(mail(text: "Line one\nLine two\r\n.\nFrom here\n"))
        #expect(m.headers.text("Content-Transfer-Encoding") == "7bit")
        let s = String(decoding: b, as: UTF8.self)
        #expect(s.hasSuffix("\r\n\r\nLine one\r\nLine two\r\n.\r\nFrom here\r\n"))
        #expect(m.content().bodyText == "Line one\nLine two\n.\nFrom here\n")
    }

    @Test func aLoneCRIsALineEndAndTheLastLineGetsOne() throws {
        let (b, m) = try composed(mail(text: "a\rb\r\r\nc"))
        #expect(lineProblem(b) == nil)
        #expect(m.content().bodyText == "a\nb\n\nc\n")
        #expect(expectedBody("a\rb\r\r\nc") == "a\nb\n\nc\n")
    }

    @Test func anEmptyTextIsAnEmptyBody() throws {
        let (b, m) = try composed(mail(text: ""))
        #expect(String(decoding: b, as: UTF8.self).hasSuffix("7bit\r\n\r\n"))
        #expect(m.content().bodyText == "")
    }

    @Test(arguments: ["Grüße\n", "nul\0here\n", "esc\u{1B}[31m\n", String(repeating: "z", count: 999) + "\n",
                      "trailing space \ntab\t\n", "a=b =3D =?utf-8?q?x?=\n", "\u{2028}x\u{2029}\n"])
    func otherTextIsQuotedPrintable(_ text: String) throws {
        let (b, m) = try composed(mail(text: text))
        #expect(lineProblem(b) == nil)
        let expectQP = text.utf8.contains { $0 >= 0x80 || ($0 < 0x20 && $0 != 9 && $0 != 10) } || text.utf8.count > 999
        #expect(m.headers.text("Content-Transfer-Encoding") == (expectQP ? "quoted-printable" : "7bit"))
        #expect(m.content().bodyText == text)
        // Quoted-printable lines are at most 76 octets.
        if expectQP {
            let lines = b.split(separator: 10)
            #expect(lines.allSatisfy { $0.count <= 77 })
        }
    }

    @Test func trailingWhiteSpaceSurvivesQuotedPrintable() throws {
        let text = "ü \nb\t\n \n"
        let (b, m) = try composed(mail(text: text))
        #expect(String(decoding: b, as: UTF8.self).hasSuffix("=C3=BC=20\r\nb=09\r\n=20\r\n"))
        #expect(m.content().bodyText == text)
    }

    @Test func softBreaksNeverSplitAnEscape() throws {
        for n in 70..<80 {
            let text = String(repeating: "a", count: n) + "éé==" + String(repeating: "ü", count: 40) + "\n"
            let (b, m) = try composed(mail(text: text))
            #expect(m.content().bodyText == text)
            #expect(lineProblem(b) == nil)
        }
    }
}

@Suite("compose: HTML")
struct HTMLTests {
    @Test func htmlMakesMultipartAlternativeTextFirst() throws {
        let html = "<p>" + htmlEscape("Grüße <script>alert(1)</script> & \"q\"") + "</p>"
        let (b, m) = try composed(mail(text: "Grüße\n", html: html))
        #expect(lineProblem(b) == nil)
        #expect(m.root.mimeType == "multipart/alternative")
        #expect(m.root.children.map(\.mimeType) == ["text/plain", "text/html"])
        #expect(m.content().bodyText == "Grüße\n")
        #expect(m.bodyHTML() == html + "\n")
        #expect(m.defects.isEmpty)
        #expect(fieldNames(m) == ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"])
        let boundary = boundaryCandidate(ourID, 0)
        #expect(m.root.contentType["boundary"] == boundary)
        #expect(String(decoding: b, as: UTF8.self).hasSuffix("\r\n--\(boundary)--\r\n"))
    }

    @Test func aBoundaryFoundInAPartIsReplaced() throws {
        let first = boundaryCandidate(ourID, 0)
        let text = "quoting an older mail:\n--\(first)\nContent-Type: text/html\n\n<b>x</b>\n"
        let (_, m) = try composed(mail(text: text, html: "<p>x</p>"))
        #expect(m.root.contentType["boundary"] == boundaryCandidate(ourID, 1))
        #expect(m.content().bodyText == text)
        #expect(m.bodyHTML() == "<p>x</p>\n")
    }

    @Test func partsHoldingEveryCandidateAreWrittenQuotedPrintable() throws {
        let all = (0..<8).map { "--" + boundaryCandidate(ourID, UInt64($0)) }.joined(separator: "\n")
        let (b, m) = try composed(mail(text: all + "\n", html: all))
        #expect(m.root.contentType["boundary"] == boundaryCandidate(ourID, 8))
        #expect(m.root.children.map { $0.headers.text("Content-Transfer-Encoding") } == ["quoted-printable", "quoted-printable"])
        #expect(m.content().bodyText == all + "\n")
        #expect(m.bodyHTML() == all + "\n")
        #expect(lineProblem(b) == nil)
    }

    @Test func anEmptyTextPartStaysEmpty() throws {
        let (_, m) = try composed(mail(text: "", html: ""))
        #expect(m.root.children.count == 2)
        #expect(m.root.children.map { $0.decodedBody() } == [[], []])
    }
}

// MARK: - Property test

/// SplitMix64: small, fast and the same on every platform.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func pick<T>(_ a: [T]) -> T { a[below(a.count)] }
}

@Suite("compose: property")
struct PropertyTests {
    /// 100,000 cases in 10 slices that run in parallel, each from its own seed.
    static let slices = 10
    static let casesPerSlice = 10_000

    static let pool: [String] = [
        "\r", "\n", "\r\n", "\0", "\u{2028}", "\u{2029}", "\t", " ", "   ", "\u{B}", "\u{C}", "\u{1B}", "\u{7F}", "\u{85}",
        "\u{9B}", "\u{A0}", "\u{3000}", "\u{FEFF}", "\u{200B}",
        "=?utf-8?q?hello?=", "=?UTF-8?B?SGVsbG8=?=", "=?iso-8859-1?q?caf=E9?=", "=?", "?=", "=?utf-8?q?", "_", "=", "?",
        "\r\nBcc: evil@x", "\nX-Injected: 1", "\rX-Injected: 1", "\r\n\r\n<html>",
        String(repeating: "ab ", count: 60),
        "שלום", "עולם", "مرحبا", "\u{202E}gnp.exe", "\u{202E}", "\u{200F}", "😀", "👩‍👩‍👧", "🇨🇭", "e\u{301}", "\u{301}",
        "打印机坏了", "Ünïcödé",
        "<script>alert(1)</script>", "&", "&amp;", "<", ">", "\"", "'", "\\", ",", ";", ":", "@", "(", ")", "[", "]",
        "Doe, Jane", "\"Quoted\"", "evil@x.com", "<evil@x.com>",
        "Printer", "jammed", "Re:", "[#12]", "From ", ".", "--", "--=_", "-- \n", "a", "Hello world",
        String(repeating: "y", count: 80), String(repeating: "z", count: 75),
    ]
    static let addresses = ["jane@example.org", "a@b", "j.doe+tickets@mail.example.org", "x!#$%&'*/=?^_`{|}~-@y.example",
                            "user@[192.0.2.1]", "helpdesk@helpdesk.example.com"]
    /// (id, whether it can be written).
    static let ids: [(String, Bool)] = [
        ("a@x", true), ("CAF=?x?=_@mail.example.org", true), ("wt-1-2-abc@h.example", true), ("x.y.z", true),
        ("a,b;c:d[e]@x", true), ("", false), ("a b@x", false), ("a>b", false), ("<a@x>", false), ("a\r\nBcc: e@x", false),
        ("ü@x", false), ("a(b)", false), ("q\"@x", false),
    ]
    static let extraNames = ["X-Loop", "Auto-Submitted", "Precedence", "X-Ticket", "Reply-To", "List-Id"]

    /// Words of 2,000 characters without spaces: one piece in 100, so that about one case in
    /// six has one (they cost most of the parsing time).
    static let longWords = [String(repeating: "x", count: 2_000), String(repeating: "é", count: 2_000),
                            String(repeating: "=?", count: 1_000), String(repeating: "😀\u{202E}", count: 1_000)]

    static func text(_ r: inout SplitMix64, _ maxPieces: Int) -> String {
        var s = ""
        for _ in 0..<r.below(maxPieces + 1) { s += r.below(100) == 0 ? r.pick(longWords) : r.pick(pool) }
        return s
    }

    @Test(arguments: 0..<slices)
    func composedMailReadsBackAsWritten(slice: Int) throws {
        var r = SplitMix64(state: 0x5EED_0011 &+ UInt64(slice) &* 0x1_0000_0001)
        let start = ContinuousClock.now
        var parsed = 0
        var failures = 0
        var long = 0
        for n in (slice * Self.casesPerSlice)..<((slice + 1) * Self.casesPerSlice) {
            let from = MailAddress(name: r.below(4) == 0 ? nil : Self.text(&r, 5), address: r.pick(Self.addresses))
            let to = (0..<(1 + r.below(3))).map { _ in
                MailAddress(name: r.below(4) == 0 ? nil : Self.text(&r, 5), address: r.pick(Self.addresses))
            }
            let subject = Self.text(&r, 6)
            let inReplyTo = r.below(2) == 0 ? nil : r.pick(Self.ids)
            let refs = (0..<r.pick([0, 0, 1, 3, 25])).map { _ in r.pick(Self.ids) }
            let extras = (0..<r.below(3)).map { _ in (name: r.pick(Self.extraNames), value: Self.text(&r, 4)) }
            let body = Self.text(&r, 10)
            let htmlValues = r.below(2) == 0 ? nil : (0..<(1 + r.below(3))).map { _ in Self.text(&r, 5) }
            let html = htmlValues.map { $0.map { "<p>" + htmlEscape($0) + "</p>" }.joined(separator: "\n") }
            let m = OutgoingMail(from: from, to: to, subject: subject, messageID: "wt-\(n)-1-abc@helpdesk.example.com",
                                 inReplyTo: inReplyTo?.0, references: refs.map(\.0), date: Int64(r.below(4_000_000_000)),
                                 text: body, html: html, headers: extras)
            let b = try compose(m)
            if b.count > 4_000 { long += 1 }

            // Cheap byte checks on every case.
            if let p = lineProblem(b) {
                Issue.record("case \(n): \(p)")
                failures += 1
            }
            let header = headerLines(b)
            if let long = header.first(where: { $0.utf8.count > 76 || !$0.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F } }) {
                Issue.record("case \(n): header line \(long.debugDescription)")
                failures += 1
            }
            if let f = firstValueFolded(header) {
                Issue.record("case \(n): value folded right after \(f)")
                failures += 1
            }

            // Read back with wt's parser.
            let msg = parse(b)
            parsed += 1
            var names = ["From", "To", "Subject", "Date", "Message-ID"]
            if inReplyTo?.1 == true { names.append("In-Reply-To") }
            let goodRefs = refs.filter(\.1).map(\.0)
            let expectedRefs = goodRefs.count > 20 ? [goodRefs[0]] + goodRefs.suffix(19) : goodRefs
            if !expectedRefs.isEmpty { names.append("References") }
            names += extras.map(\.name)
            names += ["MIME-Version", "Content-Type"]
            if html == nil { names.append("Content-Transfer-Encoding") }
            let fields = msg.headers.fields
            func check(_ ok: Bool, _ what: @autoclosure () -> String) {
                if !ok {
                    failures += 1
                    if failures <= 20 { Issue.record("case \(n): \(what())") }
                }
            }
            check(fieldNames(msg) == names, "fields \(fieldNames(msg)) != \(names)")
            check(msg.defects.isEmpty, "defects \(msg.defects)")
            check(scalars(msg.subject) == scalars(headerText(subject)), "subject \(msg.subject.debugDescription) for \(subject.debugDescription)")
            func expected(_ a: MailAddress) -> Mailbox {
                let t = headerText(a.name ?? "")
                return Mailbox(name: t.isEmpty ? nil : t, address: a.address)
            }
            func same(_ a: [Mailbox], _ b: [Mailbox]) -> Bool {
                a.count == b.count && zip(a, b).allSatisfy { scalars($0.name) == scalars($1.name) && $0.address == $1.address }
            }
            check(same(msg.from, [expected(from)]), "from \(msg.from) for \(from)")
            check(same(msg.to, to.map(expected)), "to \(msg.to) for \(to)")
            for (k, e) in extras.enumerated() where fields.count > 5 + k {
                let f = fields[fields.count - (html == nil ? 3 : 2) - extras.count + k]
                let v = decodeUnstructured(msg.headers.rawValue(f))
                check(scalars(v) == scalars(headerText(e.value)), "extra \(v.debugDescription) for \(e.value.debugDescription)")
            }
            check(msg.messageID == m.messageID, "message ID \(msg.messageID ?? "nil")")
            check(msg.inReplyTo == (inReplyTo?.1 == true ? [inReplyTo!.0] : []), "in-reply-to \(msg.inReplyTo)")
            check(msg.references == expectedRefs, "references \(msg.references) for \(expectedRefs)")
            check(msg.date?.epochSeconds == Int(m.date), "date")

            let content = msg.content()
            check(scalars(content.bodyText) == scalars(expectedBody(body)),
                  "text \(content.bodyText.debugDescription) for \(body.debugDescription)")
            if let html, let values = htmlValues {
                check(scalars(content.bodyHTML) == scalars(expectedBody(html)), "html \(content.bodyHTML.debugDescription)")
                // The only "<" are the tags the test wrote.
                check(content.bodyHTML?.filter { $0 == "<" }.count == 2 * values.count, "unescaped < in html")
            } else {
                check(content.bodyHTML == nil, "unexpected html")
            }
        }
        let elapsed = ContinuousClock.now - start
        print("MailCompose property test, slice \(slice): \(Self.casesPerSlice) cases, \(parsed) parsed, \(long) over 4,000 octets, \(failures) failures, \(elapsed)")
        #expect(failures == 0)
    }
}

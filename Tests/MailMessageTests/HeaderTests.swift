import Testing
@testable import MailMessage

@Suite("header block")
struct HeaderTests {
    /// (fixture, subject, body text, message defect codes)
    static let cases: [(String, String?, String, [Defect.Code])] = [
        ("plain-text.eml", "Printer on floor 3 is jammed", "Hello,\n\nthe printer is jammed again.\n\nAlice\n", []),
        ("folded-headers.eml", "This subject is folded over three lines", "Body.\n", []),
        ("obsolete-header-syntax.eml", "Spaced colon", "Body.\n", []),
        ("whitespace-only-separator.eml", "Blank line has spaces", "Body starts here.\n", [.missingHeaderBodySeparator]),
        ("header-line-without-colon.eml", "A long subject that a broken mailer wrapped without indenting", "Body.\n", [.headerWithoutColon]),
        ("missing-header-body-separator.eml", "No empty line", "This line is the body.\nAnd so is this.\n", [.missingHeaderBodySeparator]),
        ("mbox-from-line.eml", "After an mbox separator", "Body.\n", []),
        ("bare-cr-line-ends.eml", "Old Mac line ends", "Line one.\nLine two.\n", [.bareCRLineEnds]),
        ("header-banner-line.eml", "Scanner sends blank pages", "The scanner on floor 2 sends blank pages since Monday.\n",
         [.headerWithoutColon]),
        ("header-folded-field-name.eml", "Name folded before its colon", "My keyboard is missing the letter Q.\n",
         [.headerWithoutColon]),
        ("header-wrapped-lines-mid-header.eml", "VPN drops every hour", "The VPN disconnects at ten past every hour.\n",
         [.headerWithoutColon, .headerWithoutColon, .headerWithoutColon]),
        ("header-utf8-bom.eml", "Saved with a byte-order mark", "Please reset my password.\n", [.byteOrderMark]),
    ]

    @Test(arguments: cases)
    func fixtures(_ fixture: String, _ subject: String?, _ body: String, _ defects: [Defect.Code]) {
        let m = Fixture.message(fixture)
        #expect(m.subject == subject)
        #expect(m.content().bodyText == body)
        #expect(m.defectCodes == defects)
    }

    @Test func fieldsInOrderWithRawValues() {
        let m = Fixture.message("plain-text.eml")
        #expect(m.headers.count == 12)
        #expect(m.headers.fields.map { m.headers.name($0) } == [
            "Return-Path", "From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
            "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
        ])
        #expect(m.headers.raw("CONTENT-TYPE") == Array("text/plain; charset=utf-8".utf8))
        #expect(m.headers.raw("x-missing") == nil)
        #expect(m.messageID == "printer-1@example.com")
        #expect(m.inReplyTo == ["earlier@example.com"])
        #expect(m.references == ["first@example.com", "earlier@example.com"])
        #expect(m.date?.iso8601 == "2022-01-31T09:30:00+01:00")
        #expect(m.from == [Mailbox(name: "Alice Example", address: "alice@example.com")])
        #expect(m.to == [Mailbox(name: "Help Desk", address: "help@example.org"), Mailbox(name: nil, address: "bob@example.net")])
        #expect(m.cc == [Mailbox(name: "Doe, Jane", address: "jane@example.com")])
    }

    @Test func foldingKeepsTheWhiteSpace() {
        let m = Fixture.message("folded-headers.eml")
        #expect(m.headers.raw("subject") == Array("This subject is folded over\tthree lines".utf8))
        #expect(m.root.charset == "us-ascii")
    }

    @Test func obsoleteSpaceBeforeColon() {
        let m = Fixture.message("obsolete-header-syntax.eml")
        #expect(m.headers.fields.map { m.headers.name($0) } == ["From", "Subject", "To"])
        #expect(m.from == [Mailbox(name: "Alice", address: "alice@example.com")])
    }

    @Test func mboxFromLineIsNotAField() {
        let m = Fixture.message("mbox-from-line.eml")
        #expect(m.headers.fields.map { m.headers.name($0) } == ["From", "Subject"])
        #expect(m.from == [Mailbox(name: nil, address: "alice@example.com")])
    }

    /// Header blocks that real mailers break: the requester and the rest of the header are read.
    @Test func bannerLineBeforeTheFirstField() {
        let m = Fixture.message("header-banner-line.eml")
        #expect(m.from == [Mailbox(name: "Carol Gateway", address: "carol@example.com")])
        #expect(m.headers.fields.map { m.headers.name($0) } == ["From", "To", "Subject", "Date", "Message-ID"])
        #expect(m.defects == [Defect(.headerWithoutColon, at: 0, "line before the first field, skipped")])
    }

    @Test func fieldNameFoldedBeforeItsColon() {
        let m = Fixture.message("header-folded-field-name.eml")
        #expect(m.from == [Mailbox(name: "Dave Example", address: "dave@example.com")])
        #expect(m.headers.fields.map { m.headers.name($0) } == ["Return-Path", "From", "To", "Subject", "Date"])
        #expect(m.headers.raw("from") == Array("Dave Example <dave@example.com>".utf8))
        #expect(m.date?.iso8601 == "2019-04-03T11:15:00+01:00")
    }

    @Test func wrappedLinesInTheMiddleOfTheHeader() {
        let m = Fixture.message("header-wrapped-lines-mid-header.eml")
        #expect(m.from == [Mailbox(name: "Erin Example", address: "erin@example.com")])
        #expect(m.headers.raw("x-spam-status") == Array(
            "No, score=-1.9 required=5.0 tests=BAYES_00,DKIM_SIGNED, autolearn=ham autolearn_force=no version=3.4.6".utf8))
        #expect(m.headers.fields.map { m.headers.name($0) } == [
            "Received", "X-Spam-Status", "X-Campaign-Track", "X-Spam-Level", "From", "To", "Subject", "Date", "Content-Type",
        ])
        #expect(m.root.charset == "us-ascii")
    }

    @Test func byteOrderMarkBeforeTheFirstField() {
        let m = Fixture.message("header-utf8-bom.eml")
        #expect(m.from == [Mailbox(name: "Frank Example", address: "frank@example.com")])
        #expect(m.headers.fields.map { m.headers.name($0) } == ["From", "To", "Subject", "Date"])
        #expect(m.defects == [Defect(.byteOrderMark, at: 0)])
    }

    /// Lines without a colon are header lines only when a field line follows them; otherwise the
    /// body starts at the first of them, as before.
    @Test(arguments: [
        // A body written without the empty line, with no field line after it.
        ("From: a@example.com\nSubject: s\nHello,\nthe printer is jammed.\n\nThanks.\n",
         "Hello,\nthe printer is jammed.\n\nThanks.\n", [Defect.Code.missingHeaderBodySeparator]),
        // A body line that looks like a field but no mailer writes one: not a header.
        ("From: a@example.com\nSubject: s\nHello,\nthe printer says\nError: paper jam\n\nThanks.\n",
         "Hello,\nthe printer says\nError: paper jam\n\nThanks.\n", [.missingHeaderBodySeparator]),
        // A field line too far after the first line without colon (more than the look-ahead).
        ("Subject: s\n" + String(repeating: "line\n", count: 40) + "X-Real: 1\n\nBody.\n",
         String(repeating: "line\n", count: 40) + "X-Real: 1\n\nBody.\n", [.missingHeaderBodySeparator]),
        // The line with no colon is the last line of the message.
        ("Subject: s\nlast line", "last line", [.missingHeaderBodySeparator]),
    ])
    func linesWithoutColonThatStartTheBody(_ text: String, _ body: String, _ defects: [Defect.Code]) {
        let m = Message.parse(Array(text.utf8))
        #expect(m.bodyText() == body)
        #expect(m.defectCodes == defects)
    }

    /// A multipart whose header ends without the empty line: its first delimiter line is never
    /// read as a header line, so the parts are found.
    @Test(arguments: [
        "Content-Type: multipart/alternative; boundary=\"b\"\nThis is a multi-part message in MIME format.\n--b\n"
            + "Content-Type: text/plain\n\nText.\n--b--\n",
        "Content-Type: multipart/mixed; boundary=b\n--b\nContent-Type: text/plain\n\nText.\n--b--\n",
    ])
    func delimiterAfterTheHeaderStartsTheBody(_ text: String) {
        let m = Message.parse(Array(text.utf8))
        #expect(m.bodyText() == "Text.")
        #expect(m.defectCodes == [.missingHeaderBodySeparator])
    }

    /// Text that has no header stays all body, even with a banner-like first line or a line with
    /// a colon further down.
    @Test(arguments: [
        "Hello,\n\nNote: the printer is jammed.\n",
        "Hello,\nNote: the printer is jammed.\n",
        "---- notes ----\nFirst line\nFrom: Bob\n\nmore\n",
        "\u{FEFF}Hello, no header here.\n",
        "From\nthe printer is jammed\n",
    ])
    func textWithoutHeaderStaysTheBody(_ text: String) {
        let m = Message.parse(Array(text.utf8))
        #expect(m.headers.count == 0)
        #expect(m.bodyText() == text)
        #expect(m.defectCodes.last == .noHeaders)
    }

    /// A run of lines without colon in the middle of the header, then a field: every line is
    /// joined to the field above, one defect each.
    @Test func runOfLinesWithoutColonJoinsTheFieldAbove() {
        let m = Message.parse(Array("Subject: one\ntwo\n\tthree\nfour\nTo: help@example.org\n\nBody.\n".utf8))
        #expect(m.subject == "one two three four")
        #expect(m.to == [Mailbox(name: nil, address: "help@example.org")])
        #expect(m.bodyText() == "Body.\n")
        #expect(m.defects == [Defect(.headerWithoutColon, at: 13), Defect(.headerWithoutColon, at: 24)])
    }

    /// A field name folded before its colon as the first line, with CRLF line ends.
    @Test func foldedFieldNameFirstLine() {
        let m = Message.parse(Array("From\r\n  :  alice@example.com\r\nSubject: x\r\n\r\nBody.\r\n".utf8))
        #expect(m.from == [Mailbox(name: nil, address: "alice@example.com")])
        #expect(m.subject == "x")
        #expect(m.defects == [Defect(.headerWithoutColon, at: 0, "field name folded before its colon")])
    }

    /// Many runs of lines without colon, each followed by a field: read in one pass.
    @Test func manyRunsOfLinesWithoutColon() {
        let text = "Subject: s\n" + String(repeating: "a\nb\nX-A: 1\n", count: 100_000) + "\nBody.\n"
        let m = Message.parse(Array(text.utf8))
        #expect(m.subject == "s a b")
        #expect(m.headers.count == ParserOptions.default.maxHeaderFields)
        #expect(m.bodyText() == "Body.\n")
    }

    @Test func whitespaceOnlyLineFollowedByAField() {
        // Between two fields a blank-looking line is folding, not the end of the header.
        let m = Message.parse(Array("Subject: first\n   \nTo: help@example.org\n\nBody.\n".utf8))
        #expect(m.subject == "first")
        #expect(m.to == [Mailbox(name: nil, address: "help@example.org")])
        #expect(m.bodyText() == "Body.\n")
        #expect(m.defects == [])
    }

    @Test func nulBytes() {
        let m = Fixture.message("nul-bytes.eml")
        #expect(m.defects == [Defect(.nulByte, at: 36)])
        // In header text a NUL becomes U+FFFD; the body keeps it as sent (the nul-byte defect flags the message).
        #expect(m.subject == "Nul\u{FFFD}inside")
        #expect(m.content().bodyText == "before\u{0}after\n")
    }

    @Test func bareCRMatchesLF() {
        let cr = Fixture.bytes("bare-cr-line-ends.eml")
        let lf = cr.map { $0 == 13 ? 10 : $0 }
        let a = Summary(Message.parse(cr)), b = Summary(Message.parse(lf))
        #expect(a.subject == b.subject)
        #expect(a.bodyText == b.bodyText)
        #expect(a.defects == [Defect(.bareCRLineEnds, at: 0)] + b.defects)
    }

    /// Bare CR line ends are read from a rewritten copy: the caller's buffer (which delivery
    /// hashes and stores) keeps the bytes as received.
    @Test func bareCRLeavesTheCallersBufferAlone() {
        let bytes = Fixture.bytes("bare-cr-line-ends.eml")
        let buffer = ByteBuffer(bytes)
        let m = Message.parse(buffer)
        #expect(Array(buffer.bytes) == bytes)
        #expect(m.source !== buffer)
        #expect(Array(m.source.bytes) == bytes.map { $0 == 13 ? 10 : $0 })
        #expect(m.subject == "Old Mac line ends")
        #expect(m.bodyText() == "Line one.\nLine two.\n")
        #expect(m.defectCodes == [.bareCRLineEnds])
    }

    /// Without bare CR line ends the message is read in the caller's buffer (no copy).
    @Test func otherMessagesAreReadInPlace() {
        let buffer = ByteBuffer(Fixture.bytes("plain-text.eml"))
        #expect(Message.parse(buffer).source === buffer)
    }

    /// A message with CR only in its body (not on every line) keeps those CRs.
    @Test func lonelyCRInLFMessageIsKept() {
        let m = Message.parse(Array("Subject: x\n\na\rb\n".utf8))
        #expect(m.bodyText() == "a\rb\n")
        #expect(m.defects == [])
    }

    /// The fixtures the tests below run over are there.
    @Test func fixturesArePresent() {
        #expect(Fixture.all.count >= 45)
        #expect(Fixture.all.contains("large-attachment.eml"))
    }

    /// CRLF and LF line ends give the same message (offsets aside).
    @Test(arguments: Fixture.all.filter { $0 != "bare-cr-line-ends.eml" })
    func crlfMatchesLF(_ fixture: String) {
        let lf = Fixture.bytes(fixture)
        let a = Message.parse(lf), b = Message.parse(lf.withCRLF)
        #expect(a.subject == b.subject)
        #expect(a.from == b.from)
        #expect(a.to == b.to)
        #expect(a.date == b.date)
        let ca = a.content(), cb = b.content()
        #expect(ca.bodyText == cb.bodyText)
        #expect(ca.bodyHTML == cb.bodyHTML)
        #expect(ca.attachments.map(\.filename) == cb.attachments.map(\.filename))
        #expect(ca.attachments.map(\.contentType) == cb.attachments.map(\.contentType))
        #expect(a.defectCodes == b.defectCodes)
        #expect(ca.defects.map(\.code) == cb.defects.map(\.code))
        // Decoded (base64, quoted-printable, uuencoded) attachments are byte for byte the same.
        for (x, y) in zip(a.structure.attachments, b.structure.attachments) where x.transferEncoding != .identity {
            #expect(x.decodedBody() == y.decodedBody())
        }
    }

    @Test func headerSizeCap() {
        var options = ParserOptions()
        options.maxHeaderBytes = 40
        let m = Fixture.message("plain-text.eml", options: options)
        // "Return-Path: <alice@example.com>\n" is 33 bytes; the cap falls in the next field,
        // whose value ends there. The rest of the header is skipped, the body is the body.
        #expect(m.defects == [Defect(.headerTooLarge, at: 40, "header block over 40 bytes")])
        #expect(m.headers.fields.map { m.headers.name($0) } == ["Return-Path", "From"])
        #expect(m.headers.raw("from") == Array("A".utf8))
        #expect(m.subject == nil)
        #expect(m.root.bodyRange.lowerBound == 450)
        #expect(m.bodyText() == "Hello,\n\nthe printer is jammed again.\n\nAlice\n")
    }

    /// A field line longer than the whole header cap: its value ends at the cap, the rest of
    /// the header is skipped, and the body is the real body.
    @Test func fieldLineOverTheCapEndsAtTheCap() {
        let cap = ParserOptions.default.maxHeaderBytes
        let head = "From: alice@example.com\nSubject: "
        let bytes = Array(head.utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 10_000_000)
            + Array("\nTo: help@example.org\n\nThe real body.\n".utf8)
        let m = Message.parse(bytes)
        let subject = m.subject ?? ""
        #expect(subject.utf8.count <= cap)
        // The value runs from the colon to the cap.
        #expect(subject.utf8.count == cap - head.utf8.count)
        #expect(subject.utf8.allSatisfy { $0 == UInt8(ascii: "x") })
        #expect(m.headers.fields.map { m.headers.name($0) } == ["From", "Subject"])
        // (A prefix, so that a failure does not print megabytes.)
        #expect(m.bodyText().prefix(100) == "The real body.\n")
        #expect(m.root.bodyRange.lowerBound == bytes.count - "The real body.\n".utf8.count)
        #expect(m.defects == [Defect(.headerTooLarge, at: cap, "header block over \(cap) bytes")])
    }

    /// Many ordinary lines that together pass the cap: the fields up to the cap are kept, the
    /// body is the real body.
    @Test func manyLinesOverTheCap() {
        let cap = ParserOptions.default.maxHeaderBytes
        // 1,000-byte lines, 1,100 of them: over the byte cap, under the field cap.
        let line = "X-Filler: " + String(repeating: "y", count: 989) + "\n"
        let text = "Subject: many lines\n" + String(repeating: line, count: 1_100) + "\nThe real body.\n"
        let m = Message.parse(Array(text.utf8))
        #expect(m.subject == "many lines")
        // (A prefix, so that a failure does not print megabytes.)
        #expect(m.bodyText().prefix(100) == "The real body.\n")
        #expect(m.defects == [Defect(.headerTooLarge, at: cap, "header block over \(cap) bytes")])
        // The line the cap falls in is kept up to the cap; the lines after it are skipped.
        #expect(m.headers.count == 1 + (cap - 20) / 1_000 + 1)
        #expect(m.headers.fields.last?.valueRange.upperBound == cap)
    }

    /// A header that fills the cap exactly, followed by its empty line, is not too large.
    @Test func headerEndingAtTheCap() {
        var options = ParserOptions()
        options.maxHeaderBytes = 40
        let m = Message.parse(Array("Subject: 0123456789012345678901234567890\n\nBody.\n".utf8), options: options)
        #expect(m.subject == "0123456789012345678901234567890")
        #expect(m.bodyText() == "Body.\n")
        #expect(m.defects == [])
    }

    /// Over the cap in a folded line, or at a line start (CRLF lines too): one defect, the real body.
    @Test(arguments: [
        "Subject: a\n" + String(repeating: " folded\n", count: 20) + "\nBody.\n",
        // Lines of 8 bytes: the sixth starts at the cap.
        String(repeating: "X: 1234\n", count: 10) + "\nBody.\n",
        // The second field ends at the cap; its CRLF and the next field are past it.
        "Subject: a\r\nX: " + String(repeating: "y", count: 25) + "\r\nX: 1\r\n\r\nBody.\n",
    ])
    func overTheCapInOtherShapes(_ text: String) {
        var options = ParserOptions()
        options.maxHeaderBytes = 40
        let m = Message.parse(Array(text.utf8), options: options)
        #expect(m.bodyText() == "Body.\n")
        #expect(m.defectCodes == [.headerTooLarge])
    }

    /// A first line over the cap that is no field is the body (a message without header), as
    /// a short one is.
    @Test func longFirstLineWithoutColonIsTheBody() {
        var options = ParserOptions()
        options.maxHeaderBytes = 40
        let text = String(repeating: "no colon here ", count: 10) + "\nsecond line\n"
        let m = Message.parse(Array(text.utf8), options: options)
        #expect(m.bodyText() == text)
        #expect(m.defectCodes == [.missingHeaderBodySeparator, .noHeaders])
    }

    @Test func headerFieldCap() {
        var options = ParserOptions()
        options.maxHeaderFields = 2
        let m = Fixture.message("plain-text.eml", options: options)
        #expect(m.headers.count == 2)
        // Ten fields dropped: eight defects kept, and one for the other two.
        #expect(m.defectCodes == Array(repeating: .tooManyHeaderFields, count: 9))
        #expect(m.defects.last?.detail == "and 2 more")
        #expect(m.bodyText() == "Hello,\n\nthe printer is jammed again.\n\nAlice\n")
    }

    @Test(arguments: [
        ("", [Defect.Code.emptyMessage]),
        ("\n", [.noHeaders]),
        ("just a body line\n", [.missingHeaderBodySeparator, .noHeaders]),
        (" leading continuation\nSubject: x\n\n", [.continuationWithoutField]),
    ])
    func degenerateMessages(_ text: String, _ defects: [Defect.Code]) {
        #expect(Message.parse(Array(text.utf8)).defectCodes == defects)
    }

    @Test(arguments: [
        ("<a@example.com>", ["a@example.com"]),
        ("<a@example.com> <b@example.com>", ["a@example.com", "b@example.com"]),
        ("<a@example.com>\n\t<b@example.com>", ["a@example.com", "b@example.com"]),
        ("(comment <c@x>) <a@example.com>", ["a@example.com"]),
        ("< a@example.com >", ["a@example.com"]),
        ("bare@example.com", ["bare@example.com"]),
        ("two words", []),
        ("", []),
    ])
    func messageIDLists(_ raw: String, _ ids: [String]) {
        #expect(messageIDs(Array(raw.utf8)) == ids)
    }
}

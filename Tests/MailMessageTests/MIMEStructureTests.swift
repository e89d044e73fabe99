import Testing
@testable import MailMessage

/// The tree as a string: "type[child, child]", attached messages as "type{inner}", opaque parts
/// with a "!".
func shape(_ p: MIMEPart) -> String {
    var s = p.mimeType + (p.opaque ? "!" : "")
    if p.isMultipart { s += "[" + p.children.map(shape).joined(separator: ", ") + "]" }
    if let m = p.message { s += "{" + shape(m) + "}" }
    return s
}

func body(_ p: MIMEPart) -> String { String(decoding: p.decodedBody(), as: UTF8.self) }

@Suite("MIME structure")
struct MIMEStructureTests {
    /// (fixture, tree, message defect codes)
    static let trees: [(String, String, [Defect.Code])] = [
        ("plain-text.eml", "text/plain", []),
        ("nested-multipart.eml", "multipart/mixed[multipart/alternative[text/plain, text/html], application/pdf]", []),
        ("missing-final-boundary.eml", "multipart/mixed[text/plain, text/plain]", [.missingFinalBoundary]),
        ("nested-prefix-boundaries.eml", "multipart/mixed[multipart/alternative[text/plain, text/html], text/plain]", []),
        ("nested-prefix-boundaries-outer-longer.eml", "multipart/mixed[multipart/alternative[text/plain, text/html], text/plain]",
         [.missingFinalBoundary]),
        ("text-after-delimiter.eml", "multipart/mixed[text/plain, text/plain]", []),
        ("attached-message.eml", "multipart/mixed[text/plain, message/rfc822{text/plain}]", []),
        ("attached-message-base64.eml", "multipart/mixed[text/plain, message/rfc822{text/plain}]", []),
        ("digest.eml", "multipart/digest[message/rfc822{text/plain}, message/rfc822{text/plain}, text/plain]", []),
        ("uuencoded-body.eml", "application/octet-stream", []),
        ("deep-nesting.eml", "multipart/mixed[multipart/mixed[multipart/mixed[text/plain]]]", []),
        ("multipart-without-boundary.eml", "multipart/mixed", [.missingBoundary]),
        ("boundary-never-found.eml", "multipart/mixed", [.boundaryNotFound]),
        ("forwarded-message-body.eml", "message/rfc822{multipart/alternative[text/plain, text/html]}", []),
        ("inline-image.eml", "multipart/related[multipart/alternative[text/plain, text/html], image/png, image/png]", []),
    ]

    @Test(arguments: trees)
    func tree(_ fixture: String, _ expected: String, _ defects: [Defect.Code]) {
        let m = Fixture.message(fixture)
        #expect(shape(m.root) == expected)
        #expect(m.defectCodes == defects)
    }

    @Test func nestedBodiesAndPreamble() {
        let m = Fixture.message("nested-multipart.eml")
        let alt = m.root.children[0]
        #expect(alt.children.map(body) == ["Plain body.", "<p>HTML body.</p>"])
        #expect(alt.children.map(\.depth) == [2, 2])
        let pdf = m.root.children[1]
        #expect(pdf.filename == "report.pdf")
        #expect(pdf.decodedBody() == Array("%PDF-1.4\n%äüöß\n".utf8))
        // Preamble and epilogue are no part's body.
        let c = m.content()
        #expect(c.bodyText == "Plain body.")
        #expect(c.bodyHTML == "<p>HTML body.</p>")
        #expect(c.attachments.map(\.filename) == ["report.pdf"])
    }

    @Test func missingFinalBoundary() {
        let m = Fixture.message("missing-final-boundary.eml")
        let size = Fixture.bytes("missing-final-boundary.eml").count
        #expect(m.defects == [Defect(.missingFinalBoundary, at: size, "multipart/mixed")])
        #expect(m.root.children.map(body) == ["First part.", "Second part.\n"])
        #expect(m.content().attachments.map(\.filename) == ["second.txt"])
    }

    /// Inner boundary "frontier-inner" begins with the outer "frontier", and the other way round:
    /// the longest open boundary wins.
    @Test(arguments: ["nested-prefix-boundaries.eml", "nested-prefix-boundaries-outer-longer.eml"])
    func prefixBoundaries(_ fixture: String) {
        let m = Fixture.message(fixture)
        #expect(m.root.children[0].children.map(body) == ["Inner plain.", "<p>Inner html.</p>"])
        #expect(body(m.root.children[1]) == "Outer attachment.")
        let c = m.content()
        #expect(c.bodyText == "Inner plain.")
        #expect(c.bodyHTML == "<p>Inner html.</p>")
        #expect(c.attachments.map(\.filename) == ["outer.txt"])
        // printf 'Outer attachment.' | sha256sum
        #expect(c.attachments.map(\.sha256) == ["c916699463eb8b9b0f8249b5c74c36b699fedd4f1b6e5ee6b2e68018ac1e0f59"])
    }

    @Test func textAfterDelimiter() {
        let m = Fixture.message("text-after-delimiter.eml")
        #expect(m.root.children.map(body) == ["First.", "Second."])
        #expect(m.root.children[1].filename == "two.txt")
        let c = m.content()
        #expect(c.bodyText == "First.")
        // printf 'Second.' | sha256sum
        #expect(c.attachments.map(\.sha256) == ["1e8bbbab2a0b0e51cce5a6867182b081c60b35e2512744847021b624729a8218"])
    }

    @Test(arguments: ["attached-message.eml", "attached-message-base64.eml"])
    func attachedMessage(_ fixture: String) {
        let m = Fixture.message(fixture)
        let att = m.root.children[1]
        let inner = try! #require(att.message)
        #expect(inner.headers.text("subject") == "Server down")
        #expect(parseAddressList(inner.headers.raw("from")!).mailboxes == [Mailbox(name: "Carol", address: "carol@example.com")])
        // The line break before the delimiter belongs to the delimiter.
        #expect(body(inner) == (fixture == "attached-message.eml" ? "The server is down." : "The server is down.\n"))
        #expect(inner.depth == 2)
        let c = m.content()
        #expect(c.bodyText == (fixture == "attached-message.eml" ? "See the message below." : "See the encoded message below."))
        #expect(c.attachments.map(\.filename) == ["Server down.eml"])
        #expect(c.attachments.map(\.contentType) == ["message/rfc822"])
        // The attachment is the message as sent (decoded when it was base64).
        let sent = "From: Carol <carol@example.com>\nTo: bob@example.com\nSubject: Server down\nContent-Type: text/plain\n\nThe server is down.\n"
        #expect(c.attachments.map(\.size) == [sent.utf8.count - (fixture == "attached-message.eml" ? 1 : 0)])
    }

    @Test func digestDefaultType() {
        let m = Fixture.message("digest.eml")
        #expect(m.root.children.map { $0.message?.headers.text("subject") } == ["First digested message", "Second digested message", nil])
        #expect(m.root.children.compactMap(\.message).map(body) == ["One.", "Two."])
        let c = m.content()
        // The explicit text part is the body; the digested messages are attachments.
        #expect(c.bodyText == "Explicitly typed part.")
        #expect(c.attachments.map(\.filename) == ["First digested message.eml", "Second digested message.eml"])
    }

    @Test func depthCap() {
        var options = ParserOptions()
        options.maxDepth = 2
        let m = Fixture.message("deep-nesting.eml", options: options)
        #expect(shape(m.root) == "multipart/mixed[multipart/mixed[multipart/mixed!]]")
        #expect(m.defects == [Defect(.depthLimit, at: 140, "multipart at depth 2")])
        let opaque = m.root.children[0].children[0]
        #expect(opaque.opaque)
        #expect(opaque.children.isEmpty)
        #expect(body(opaque) == "--d2\nContent-Type: text/plain\n\nDeepest text.\n--d2--")
    }

    @Test func depthCapOnAttachedMessage() {
        var options = ParserOptions()
        options.maxDepth = 1
        let m = Fixture.message("attached-message.eml", options: options)
        #expect(shape(m.root) == "multipart/mixed[text/plain, message/rfc822!]")
        #expect(m.defectCodes == [.depthLimit])
        #expect(m.defects.map(\.detail) == ["attached message at depth 1"])
        // The unread message is still kept as an attachment.
        #expect(m.content().attachments.map(\.contentType) == ["message/rfc822"])
    }

    /// Forty multiparts, one inside the other: past the depth limit the rest is one attachment
    /// (the part as sent, a message a mail reader opens), the text inside it is still the
    /// body, and no raw MIME is.
    @Test func depthLimitKeepsTheRestAsOneAttachment() {
        let bytes = Fixture.bytes("deep-nesting-40.eml")
        let m = Fixture.message("deep-nesting-40.eml")
        #expect(shape(m.root) == String(repeating: "multipart/mixed[", count: 32) + "multipart/mixed!" + String(repeating: "]", count: 32))
        let start = try! #require(bytes.firstRange(of: Array("Content-Type: multipart/mixed; boundary=\"lvl-32\"".utf8))).lowerBound
        #expect(m.defects == [Defect(.depthLimit, at: start, "multipart at depth 32")])
        let c = m.content()
        #expect(c.bodyText == "hello")
        #expect(c.bodySource == .plain)
        #expect(m.bodyText() == "hello")
        #expect(c.attachments.map(\.contentType) == ["multipart/mixed"])
        let end = try! #require(bytes.firstRange(of: Array("\n--lvl-31--".utf8))).lowerBound
        let file = Array(bytes[start..<end])
        #expect(c.attachments.map(\.size) == [file.count])
        #expect(c.attachments.map(\.sha256) == [sha256Hex(file)])
        // The file is the rest of the message, readable on its own.
        let inner = Message.parse(file).content()
        #expect(inner.bodyText == "hello")
        #expect(inner.attachments.map(\.size) == [5])
    }

    /// A text forwarded as the whole body forty times: past the limit the text is still found.
    @Test func depthLimitOnForwardedMessages() {
        let m = Fixture.message("deep-forwards-40.eml")
        #expect(m.defects.map(\.code) == [.depthLimit])
        #expect(m.defects.map(\.detail) == ["attached message at depth 32"])
        let c = m.content()
        #expect(c.bodyText == "hello\n")
        #expect(c.attachments.map(\.contentType) == ["message/rfc822", "message/rfc822"])
    }

    @Test func partCap() {
        var options = ParserOptions()
        options.maxParts = 3
        let m = Fixture.message("many-parts.eml", options: options)
        #expect(shape(m.root) == "multipart/mixed[text/plain, text/plain]")
        #expect(m.defectCodes == [.partLimit])
        #expect(m.root.children.map(body) == ["Part one.", "Part two."])
    }

    @Test func partCapOnNestedMultipart() {
        var options = ParserOptions()
        options.maxParts = 2
        let m = Fixture.message("deep-nesting.eml", options: options)
        #expect(shape(m.root) == "multipart/mixed[multipart/mixed!]")
        #expect(m.defectCodes == [.partLimit])
    }

    @Test func multipartWithoutBoundaryIsReadAsText() {
        let m = Fixture.message("multipart-without-boundary.eml")
        #expect(m.defects.map(\.detail) == ["multipart/mixed"])
        #expect(m.content().bodyText == "--whatever\nContent-Type: text/plain\n\nText.\n--whatever--\n")
    }

    @Test func boundaryNeverFoundIsReadAsText() {
        let m = Fixture.message("boundary-never-found.eml")
        #expect(m.content().bodyText == "--actual\nContent-Type: text/plain\n\nText.\n--actual--\n")
    }

    @Test func leavesInReadingOrder() {
        let m = Fixture.message("nested-multipart.eml")
        #expect(m.root.leaves.map(\.mimeType) == ["text/plain", "text/html", "application/pdf"])
    }

    @Test(arguments: [
        ("Content-Type: text\n\nx", "text/plain"),
        ("Content-Type: garbage\n\nx", "text/plain"),
        ("Content-Type: /plain\n\nx", "text/plain"),
        ("Content-Type: image/\n\nx", "text/plain"),
        ("Content-Type: Image/PNG\n\nx", "image/png"),
        ("Subject: none\n\nx", "text/plain"),
    ])
    func contentTypeFallbacks(_ text: String, _ type: String) {
        #expect(Message.parse(Array(text.utf8)).root.mimeType == type)
    }

    /// A boundary with a trailing space that the delimiter lines leave out.
    @Test func boundaryWithTrailingSpace() {
        let m = Message.parse(Array("Content-Type: multipart/mixed; boundary=\"sp \"\n\n--sp\n\nA\n--sp\n\nB\n--sp--\n".utf8))
        #expect(m.root.children.map(body) == ["A", "B"])
        #expect(m.defects == [])
    }

    @Test func boundaryTooLong() {
        var options = ParserOptions()
        options.maxBoundaryLength = 4
        let m = Fixture.message("missing-final-boundary.eml", options: options)
        #expect(m.defectCodes == [.missingFinalBoundary])
        #expect(shape(m.root) == "multipart/mixed[text/plain, text/plain]")
        let n = Fixture.message("nested-multipart.eml", options: options)
        #expect(n.defectCodes == [.boundaryTooLong])
        #expect(shape(n.root) == "multipart/mixed")
    }
}

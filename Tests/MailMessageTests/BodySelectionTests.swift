import Foundation
import Testing
@testable import MailMessage

@Suite("body selection")
struct BodySelectionTests {
    /// (fixture, body source, body text, attachment file names)
    static let cases: [(String, MessageContent.BodySource, String, [String])] = [
        ("plain-text.eml", .plain, "Hello,\n\nthe printer is jammed again.\n\nAlice\n", []),
        ("alternative-plain-html.eml", .plain,
         "Café is open until 5pm. This line is long enough to need a soft line break.", []),
        ("html-only.eml", .html, "First paragraph.\n\nSecond bold paragraph.", []),
        ("inline-image.eml", .plain, "See the logo.", ["image.png", "banner.png"]),
        ("text-parts-after-first.eml", .plain, "Main text.", ["text.txt", "notes.txt", "text.html"]),
        ("single-text-attachment.eml", .plain, "error: disk full\n", ["log.txt"]),
        ("forwarded-message-body.eml", .plain, "The VPN drops every hour.", ["VPN broken.eml"]),
        ("nested-multipart.eml", .plain, "Plain body.", ["report.pdf"]),
        ("uuencoded-body.eml", .none, "", ["hello.txt"]),
        ("alternative-with-related-html.eml", .plain, "Quarterly numbers attached.", ["image.png"]),
        ("digest.eml", .plain, "Explicitly typed part.", ["First digested message.eml", "Second digested message.eml"]),
        ("deep-nesting-40.eml", .plain, "hello", ["nested.eml"]),
        ("unnamed-parts.eml", .plain, "Photos of the damaged rack, the delivery note and the sensor dump.",
         ["image-2.jpg", "image-3.jpg", "image.jpg", "Delivery note 2024-0512.pdf", "attachment.bin"]),
    ]

    @Test(arguments: cases)
    func selects(_ fixture: String, _ source: MessageContent.BodySource, _ text: String, _ names: [String]) {
        let m = Fixture.message(fixture)
        let c = m.content()
        #expect(c.bodySource == source)
        #expect(c.bodyText == text)
        #expect(m.bodyText() == text)
        #expect(c.attachments.map(\.filename) == names)
    }

    @Test func alternativeResolvedToPlain() {
        let m = Fixture.message("alternative-plain-html.eml")
        let s = m.structure
        #expect(s.text?.mimeType == "text/plain")
        #expect(s.html?.mimeType == "text/html")
        #expect(s.attachments.isEmpty)
        #expect(m.bodyHTML() == "<p>Caf&eacute; is open until <b>5pm</b>.</p>")
        #expect(m.content().bodyHTML == "<p>Caf&eacute; is open until <b>5pm</b>.</p>")
    }

    /// The HTML body sits in a multipart/related inside the alternative: still the counterpart.
    @Test func alternativeWithRelatedHTML() {
        let m = Fixture.message("alternative-with-related-html.eml")
        let c = m.content()
        #expect(c.bodySource == .plain)
        #expect(c.bodyText == "Quarterly numbers attached.")
        #expect(c.bodyHTML == "<p>Quarterly numbers <img src=\"cid:chart@example.com\"> attached.</p>")
        #expect(c.attachments.map(\.contentType) == ["image/png"])
        #expect(c.attachments.map(\.inline) == [true])
        #expect(c.attachments.map(\.contentID) == ["chart@example.com"])
    }

    /// An HTML part that is not the text body's alternative is not "the HTML body": it is kept
    /// as an attachment, like any other text part after the body.
    @Test(arguments: [
        ("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nplain\n--b\nContent-Type: text/html\n\n<p>html</p>\n--b--\n",
         nil, ["text/html"]),
        ("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>html</p>\n--b\n\nplain\n--b--\n",
         nil, ["text/html"]),
        ("Content-Type: multipart/alternative; boundary=b\n\n--b\n\nplain\n--b\nContent-Type: text/html\n\n<p>html</p>\n--b--\n",
         "<p>html</p>", []),
    ] as [(String, String?, [String])])
    func htmlCounterpart(_ source: String, _ html: String?, _ attachments: [String]) {
        let c = Message.parse(Array(source.utf8)).content()
        #expect(c.bodyText == "plain")
        #expect(c.bodyHTML == html)
        #expect(c.attachments.map(\.contentType) == attachments)
    }

    @Test func htmlOnlyIsConverted() {
        let m = Fixture.message("html-only.eml")
        #expect(m.structure.text == nil)
        #expect(m.structure.html === m.root)
        #expect(m.content().bodyHTML == "<html><body><p>First paragraph.</p><p>Second <b>bold</b> paragraph.</p></body></html>\n")
    }

    @Test func inlineImagesAreAttachments() {
        let c = Fixture.message("inline-image.eml").content()
        #expect(c.bodyHTML == "<p>See the logo: <img src=\"cid:logo@example.com\" alt=\"Logo\"></p>")
        #expect(c.attachments.map(\.contentType) == ["image/png", "image/png"])
        #expect(c.attachments.map(\.inline) == [true, true])
        #expect(c.attachments.map(\.contentID) == ["logo@example.com", nil])
        #expect(c.attachments.map(\.size) == [17, 17])
        // printf '\x89PNG\r\n\x1a\ntiny-logo' | sha256sum
        #expect(c.attachments.map(\.sha256) == Array(repeating: "34513bbf93eea26d9ba646320c512873f4d564c60254aaa88e69baa44f86f89e", count: 2))
    }

    @Test func laterTextPartsBecomeAttachments() {
        let m = Fixture.message("text-parts-after-first.eml")
        let c = m.content()
        #expect(c.bodyHTML == nil)
        #expect(c.attachments.map(\.contentType) == ["text/plain", "text/plain", "text/html"])
        #expect(c.attachments.map(\.inline) == [false, false, false])
        #expect(c.attachments.map(\.size) == [12, 6, 17])
        // printf 'Second text.' | sha256sum; printf 'Notes.' | sha256sum; printf '<p>Late html.</p>' | sha256sum
        #expect(c.attachments.map(\.sha256) == [
            "0bfb13652680e89e753baaecbafcc53dcc6358974149f950223cfc18e059bc3a",
            "ae0272f9a5be7d4870c445a8ba3b5b4e147ed2acd7645e436c98f2f3c237a2b3",
            "777ecce1920f8741f7bcab206f147906963c8ea7b7d84a385a09f72b30deefb6",
        ])
    }

    @Test func singleTextAttachmentIsTheBody() {
        let m = Fixture.message("single-text-attachment.eml")
        #expect(m.structure.text === m.root)
        let c = m.content()
        #expect(c.attachments.count == 1)
        #expect(c.attachments[0].contentType == "text/plain")
        #expect(c.attachments[0].size == 17)
        #expect(c.attachments[0].inline == false)
        // printf 'error: disk full\n' | sha256sum
        #expect(c.attachments[0].sha256 == "8ed0805cded3042d8396058b2600f7a78265c64cc1d56b73265744ce27ea4a06")
    }

    @Test func forwardedMessageAtTheTop() {
        let m = Fixture.message("forwarded-message-body.eml")
        let c = m.content()
        #expect(c.bodyHTML == "<p>The VPN drops every hour.</p>")
        #expect(c.attachments.count == 1)
        let a = c.attachments[0]
        #expect(a.contentType == "message/rfc822")
        #expect(a.inline == false)
        let inner = Array(Fixture.bytes("forwarded-message-body.eml")[m.root.bodyRange])
        #expect(a.size == inner.count)
        #expect(a.sha256 == sha256Hex(inner))
        #expect(a.size == 261)
    }

    @Test func attachmentFilenamePrecedence() {
        let c = Fixture.message("attachment-filename-precedence.eml").content()
        #expect(c.bodyText == "Four files.")
        // filename* over filename over the Content-Type name.
        #expect(c.attachments.map(\.filename) == ["€-ext.bin", "disp.bin", "ct-name.bin", "attachment.bin"])
        #expect(c.attachments.map(\.size) == [3, 3, 3, 3])
        // printf AAA | sha256sum, ... BBB, CCC, DDD
        #expect(c.attachments.map(\.sha256) == [
            "cb1ad2119d8fafb69566510ee712661f9f14b83385006ef92aec47f523a38358",
            "dcdb704109a454784b81229d2b05f368692e758bfa33cb61d04c1b93791b0273",
            "8c55ff95a660f37cb05e644e7691e6c66593f453cb2cbaa4d64aa59b40ae8032",
            "4c5f91d8424f9529acf7118d133a93d2a6cab19141c35c3064837e6dd57b99a3",
        ])
        #expect(c.attachments.map(\.inline) == [false, false, false, false])
    }

    /// A part without a file name is named as a person expects, once for `--explain` and the
    /// ticket: from its description with the extension of its type, else from its type; a name
    /// already used (the sender's first) is numbered. Where each name comes from is kept.
    @Test func unnamedPartsAreNamed() {
        let c = Fixture.message("unnamed-parts.eml").content()
        #expect(c.attachments.map(\.filename) == ["image-2.jpg", "image-3.jpg", "image.jpg", "Delivery note 2024-0512.pdf", "attachment.bin"])
        #expect(c.attachments.map(\.filenameFrom) == [.type, .type, .sender, .description, .type])
    }

    @Test func deliveryReportPartsAreNamedFromTheirDescriptions() {
        let c = Fixture.message("delivery-report.eml").content()
        #expect(c.bodyText.hasPrefix("This is the mail system at host mx1.example.com."))
        #expect(c.attachments.map(\.filename) == ["Delivery report.txt", "Undelivered Message Headers.txt"])
        #expect(c.attachments.map(\.contentType) == ["message/delivery-status", "text/rfc822-headers"])
    }

    /// Names from the type alone; a description that already ends in the type's extension
    /// keeps it, one with a path separator does not become a path.
    @Test(arguments: [
        ("message/delivery-status", "", "delivery-status.txt"),
        ("message/disposition-notification", "", "disposition-notification.txt"),
        ("message/rfc822", "", "message.eml"),
        ("text/plain", "", "text.txt"),
        ("text/html", "", "text.html"),
        ("text/calendar; method=REQUEST", "", "invite.ics"),
        ("image/jpeg", "", "image.jpg"),
        ("image/png", "", "image.png"),
        ("image/x-unknown-format", "", "image.bin"),
        ("audio/mpeg", "", "audio.mp3"),
        ("application/pdf", "", "document.pdf"),
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "", "spreadsheet.xlsx"),
        ("application/zip", "", "archive.zip"),
        ("application/pkcs7-signature", "", "smime.p7s"),
        ("application/ms-tnef", "", "winmail.dat"),
        ("application/octet-stream", "", "attachment.bin"),
        ("application/x-whatever-this-is", "", "attachment.bin"),
        ("multipart/alternative; boundary=never-there", "", "text.txt"),
        ("application/pdf", "Scan.PDF", "Scan.PDF"),
        ("image/jpeg", "holiday.jpeg", "holiday.jpeg"),
        ("application/pkcs7-signature", "S/MIME Cryptographic Signature", "S-MIME Cryptographic Signature.p7s"),
        ("text/plain", "  =?utf-8?q?Bericht_f=C3=BCr_Mai?=  ", "Bericht für Mai.txt"),
    ])
    func nameFromTypeAndDescription(_ type: String, _ description: String, _ name: String) {
        let source = "Content-Type: multipart/mixed; boundary=b\n\n--b\n\ntext\n--b\nContent-Type: \(type)\n"
            + (description.isEmpty ? "" : "Content-Description: \(description)\n")
            + "Content-Disposition: attachment\n\nx\n--b--\n"
        let c = Message.parse(Array(source.utf8)).content()
        #expect(c.attachments.map(\.filename) == [name])
    }

    /// The digest is computed while decoding, block by block; a last block smaller than what is
    /// pending in the hasher must not be lost (sizes just over the 32 KiB decoding block).
    @Test(arguments: [32_767, 32_768, 32_770, 65_533, 98_301])
    func largeAttachmentDigest(_ n: Int) {
        let data = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 17) }
        let source = "Content-Type: multipart/mixed; boundary=b\n\n--b\n\ntext\n--b\n"
            + "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
            + Data(data).base64EncodedString() + "\n--b--\n"
        let c = Message.parse(Array(source.utf8)).content()
        #expect(c.attachments.map(\.size) == [n])
        #expect(c.attachments.map(\.sha256) == [sha256Hex(data)])
    }

    @Test func pdfAttachmentDigest() {
        let c = Fixture.message("nested-multipart.eml").content()
        #expect(c.attachments.count == 1)
        #expect(c.attachments[0].contentType == "application/pdf")
        #expect(c.attachments[0].size == 19)
        // printf '%%PDF-1.4\n%%äüöß\n' | sha256sum
        #expect(c.attachments[0].sha256 == "840a4b1dbee66ca1c2ec78e8c95ceab3d17b77b49e88cde8f9db420216b9382e")
    }

    /// With a low limit, a part past it that holds only an attachment gives no body, never its MIME.
    @Test func depthLimitWithoutTextInside() {
        var options = ParserOptions()
        options.maxDepth = 1
        let text = "Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/mixed; boundary=b\n\n"
            + "--b\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--b--\n--a--\n"
        let m = Message.parse(Array(text.utf8), options: options)
        #expect(shape(m.root) == "multipart/mixed[multipart/mixed!]")
        let c = m.content()
        #expect(c.bodyText == "")
        #expect(c.attachments.map(\.contentType) == ["multipart/mixed"])
    }

    /// (MIME source, body text, attachments "type inline")
    static let inlineCases: [(String, String, [String])] = [
        // An inline text part with a file name is the body and also kept as a file.
        ("Content-Type: text/plain\nContent-Disposition: inline; filename=notes.txt\n\nhi\n", "hi\n", ["text/plain true"]),
        // An image with no disposition and no Content-ID is inline by type in a mixed multipart.
        ("Content-Type: multipart/mixed; boundary=b\n\n--b\n\ntext\n--b\nContent-Type: image/gif\n\nGIF\n--b--\n",
         "text", ["image/gif false"]),
        // An attachment disposition wins over the type.
        ("Content-Type: multipart/mixed; boundary=b\n\n--b\n\ntext\n--b\nContent-Type: image/gif\nContent-Disposition: attachment\n\nGIF\n--b--\n",
         "text", ["image/gif false"]),
        ("Content-Type: multipart/mixed; boundary=b\n\n--b\n\ntext\n--b\nContent-Type: image/gif\nContent-ID: <g@x>\n\nGIF\n--b--\n",
         "text", ["image/gif true"]),
    ]

    @Test(arguments: inlineCases)
    func inlineFlag(_ source: String, _ text: String, _ attachments: [String]) {
        let c = Message.parse(Array(source.utf8)).content()
        #expect(c.bodyText == text)
        #expect(c.attachments.map { "\($0.contentType) \($0.inline)" } == attachments)
    }
}

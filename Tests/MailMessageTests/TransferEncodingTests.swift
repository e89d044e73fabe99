import Foundation
import Testing
@testable import MailMessage

@Suite("base64")
struct Base64Tests {
    struct Case: Sendable, CustomTestStringConvertible {
        var input: String
        var expected: [UInt8]
        var junk: Int
        var truncated: Bool
        /// Where text after the data starts: it is left out, through the end.
        var trailingFrom: Int? = nil
        var testDescription: String { input.debugDescription }

        var stats: DecodeStats {
            DecodeStats(junkBytes: junk, truncated: truncated, trailingText: trailingFrom.map { $0..<input.utf8.count })
        }
    }

    static let cases: [Case] = [
        Case(input: "", expected: [], junk: 0, truncated: false),
        Case(input: "\r\n", expected: [], junk: 0, truncated: false),
        // Standard, padded.
        Case(input: "SGVsbG8gd29ybGQ=", expected: Array("Hello world".utf8), junk: 0, truncated: false),
        Case(input: "SGVsbG8h", expected: Array("Hello!".utf8), junk: 0, truncated: false),
        Case(input: "QQ==", expected: [0x41], junk: 0, truncated: false),
        Case(input: "QUI=", expected: [0x41, 0x42], junk: 0, truncated: false),
        // No padding: the bytes are all there, the quantum is reported as short.
        Case(input: "SGVsbG8", expected: Array("Hello".utf8), junk: 0, truncated: true),
        Case(input: "QQ", expected: [0x41], junk: 0, truncated: true),
        // Line breaks and white space anywhere, not junk.
        Case(input: "SGVs bG8g\r\nd29y\n\tbGQ=\r\n", expected: Array("Hello world".utf8), junk: 0, truncated: false),
        Case(input: "S\nG\nV\ns\nb\nG\n8\nh", expected: Array("Hello!".utf8), junk: 0, truncated: false),
        // Junk characters are skipped and counted.
        Case(input: "SG*VsbG!8h", expected: Array("Hello!".utf8), junk: 2, truncated: false),
        Case(input: "SGVs*bG8s!IHdv\ncmxk IQ==", expected: Array("Hello, world!".utf8), junk: 2, truncated: false),
        Case(input: "\u{7F}SGVsbG8h.", expected: Array("Hello!".utf8), junk: 2, truncated: false),
        // "=" in the middle ends a quantum: concatenated runs decode as one.
        Case(input: "SGk=SGk=", expected: Array("HiHi".utf8), junk: 0, truncated: false),
        Case(input: "SGk=\nIQ==", expected: Array("Hi!".utf8), junk: 0, truncated: false),
        Case(input: "QQ==QkM=", expected: Array("ABC".utf8), junk: 0, truncated: false),
        Case(input: "QQ=QQ==", expected: Array("AA".utf8), junk: 0, truncated: false),
        // Truncated input: a lone character cannot make a byte.
        Case(input: "QUJDR", expected: Array("ABC".utf8), junk: 0, truncated: true),
        Case(input: "QUJDRA", expected: Array("ABCD".utf8), junk: 0, truncated: true),
        Case(input: "QUJDRA==", expected: Array("ABCD".utf8), junk: 0, truncated: false),
        Case(input: "Q=", expected: [], junk: 0, truncated: true),
        Case(input: "QQ==Q", expected: [0x41], junk: 0, truncated: true),
        // URL-safe alphabet: "-" and "_" for "+" and "/".
        Case(input: "-_-_", expected: [0xFB, 0xFF, 0xBF], junk: 0, truncated: false),
        Case(input: "+/+/", expected: [0xFB, 0xFF, 0xBF], junk: 0, truncated: false),
        Case(input: "PDw_Pz4-", expected: Array("<<??>>".utf8), junk: 0, truncated: false),
        Case(input: "PDw/Pz4+", expected: Array("<<??>>".utf8), junk: 0, truncated: false),
        Case(input: "PDw_Pz4-PDw_\nPz4-\n", expected: Array("<<??>><<??>>".utf8), junk: 0, truncated: false),
        // Text after the data (a mailing list's footer, a scanner's stamp) is left out: after
        // the padded last line, after a short last line, after a last line of full length.
        Case(input: "SGVsbG8gd29ybGQ=\r\n______\r\nUsers mailing list\r\nusers@lists.example.org\r\n",
             expected: Array("Hello world".utf8), junk: 0, truncated: false, trailingFrom: 18),
        Case(input: "SGVsbG8gd29y\nbGQh\nUsers mailing list\n", expected: Array("Hello world!".utf8), junk: 0,
             truncated: false, trailingFrom: 18),
        Case(input: "SGVsbG8h\nSGVsbG8h\nThis is the end\n", expected: Array("Hello!Hello!".utf8), junk: 0,
             truncated: false, trailingFrom: 18),
        Case(input: "SGVsbG8h\nSGVsbG8h\nhttps://lists.example.org", expected: Array("Hello!Hello!".utf8), junk: 0,
             truncated: false, trailingFrom: 18),
        Case(input: "SGVsbG8h\n\n-- \nAnn\n", expected: Array("Hello!".utf8), junk: 0, truncated: false, trailingFrom: 10),
        Case(input: "SGVsbG8h\n.\n", expected: Array("Hello!".utf8), junk: 0, truncated: false, trailingFrom: 9),
        // An unpadded short line keeps its bytes; the footer's are not added to its quantum.
        Case(input: "SGVsbG8gd29y\nbGQ\nUsers list\n", expected: Array("Hello world".utf8), junk: 0, truncated: true,
             trailingFrom: 17),
        Case(input: "SGVsbG8gd29y\nBest regards\n", expected: Array("Hello wor".utf8), junk: 0, truncated: false, trailingFrom: 13),
        // Junk in a line of full length is junk; runs written one after another, then a footer.
        Case(input: "SGVs*bG8h\nSGVs!bG8h\n", expected: Array("Hello!Hello!".utf8), junk: 2, truncated: false),
        Case(input: "SGk=\nIQ==\nUsers mailing list\n", expected: Array("Hi!".utf8), junk: 0, truncated: false, trailingFrom: 10),
    ]

    @Test(arguments: cases)
    func decodes(_ c: Case) {
        let (out, stats) = base64(c.input)
        #expect(out == c.expected)
        #expect(stats == c.stats)
    }

    static let footers = [
        "_______________________________________________\nUsers mailing list\nusers@lists.example.org\nhttps://lists.example.org/listinfo/users\n",
        "-- \nThis message has been scanned for viruses.\n",
        "Sent from my phone",
    ]

    /// Every length from 1 to 200 bytes, as mail writes it, with a footer after it: the data
    /// ends where the encoder stopped, whichever way its last line ends (padded, short, or
    /// as long as the others when the length is a multiple of 57).
    @Test(arguments: Array(1...200))
    func footerAfterEverySmallSize(_ n: Int) {
        let data = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let encoded = Data(data).base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed]) + "\n"
        for footer in Self.footers {
            for crlf in [false, true] {
                let head = crlf ? encoded.replacingCRLF() : encoded
                let input = head + (crlf ? footer.replacingCRLF() : footer)
                let (out, stats) = base64(input)
                #expect(out == data, "\(n) bytes, footer \(footer.prefix(10).debugDescription)")
                #expect(stats == DecodeStats(trailingText: head.utf8.count..<input.utf8.count))
            }
        }
    }

    /// Sizes around the decoder's 32 KiB output block (43,688 input characters per block), with
    /// and without line breaks, so that quanta split across blocks are exercised.
    @Test(arguments: [32_767, 32_768, 32_769, 43_688, 49_151, 49_152, 49_153, 100_000, 1_000_003])
    func largeSizes(_ n: Int) {
        var g = SeededGenerator(seed: UInt64(n))
        let data = (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }
        for options: Data.Base64EncodingOptions in [[], [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed], [.lineLength64Characters, .endLineWithLineFeed]] {
            let encoded = Data(data).base64EncodedString(options: options)
            var size = 0
            var hasher = SHA256()
            var calls = 0
            let stats = Array(encoded.utf8).withUnsafeBufferPointer { src in
                decodeBase64(src) { chunk in
                    size += chunk.count
                    hasher.update(chunk)
                    calls += 1
                }
            }
            #expect(size == n)
            #expect(SHA256.hex(hasher.finalize()) == sha256Hex(data))
            #expect(stats == DecodeStats())
            #expect(calls >= 1)
        }
    }

    /// A footer after data in one line of 133,336 characters (longer than a line is held
    /// back) or in 76-character lines, fed whole and in pieces of every size up to 70,000.
    @Test(arguments: [false, true])
    func footerAfterLongData(_ oneLine: Bool) {
        var g = SeededGenerator(seed: oneLine ? 11 : 12)
        let data = (0..<100_000).map { _ in UInt8.random(in: 0...255, using: &g) }
        let encoded = Array((Data(data).base64EncodedString(options: oneLine ? [] : [.lineLength76Characters, .endLineWithCarriageReturn,
                                                                                     .endLineWithLineFeed]) + "\r\n").utf8)
        let input = encoded + Array("-- \r\nsent from the road\r\n".utf8)
        let whole = input.withUnsafeBufferPointer { src in
            var out: [UInt8] = []
            let stats = decodeBase64(src) { out.append(contentsOf: $0) }
            return (out, stats)
        }
        #expect(whole.0 == data)
        #expect(whole.1 == DecodeStats(trailingText: encoded.count..<input.count))
        for maxPiece in [1_000, 70_000] {
            var sizes: [Int] = []
            var left = input.count
            while left > 0 {
                let n = min(left, Int.random(in: 0...maxPiece, using: &g))
                sizes.append(n)
                left -= n
            }
            let (out, stats) = Self.decodeInPieces(input, sizes)
            #expect(out == whole.0 && stats == whole.1, "pieces of at most \(maxPiece)")
        }
    }

    /// `input` fed to one decoder in pieces of the given sizes; the last piece is the rest.
    static func decodeInPieces(_ input: [UInt8], _ sizes: [Int]) -> ([UInt8], DecodeStats) {
        var decoder = Base64Decoder()
        var out: [UInt8] = []
        input.withUnsafeBufferPointer { src in
            var i = 0
            for n in sizes + [input.count] {
                let m = min(n, input.count - i)
                decoder.feed(UnsafeBufferPointer(rebasing: src[i..<(i + m)])) { out.append(contentsOf: $0) }
                i += m
            }
        }
        let stats = decoder.finish { out.append(contentsOf: $0) }
        return (out, stats)
    }

    /// Every cut of the short inputs above into two and into three pieces (empty ones too)
    /// gives the bytes and stats of one call.
    @Test(arguments: cases)
    func everySplit(_ c: Case) {
        let input = Array(c.input.utf8)
        let whole = base64(c.input)
        for a in 0...input.count {
            for b in a...input.count {
                let (out, stats) = Self.decodeInPieces(input, [a, b - a])
                if out != whole.0 || stats != whole.1 {
                    Issue.record("pieces at \(a), \(b) give \(out) \(stats), one call \(whole.0) \(whole.1)")
                    return
                }
            }
        }
    }

    /// Random pieces (empty, one byte, cutting quanta, line breaks, padding and junk, and over
    /// the decoder's 43,688-byte block) of mail-like input give the bytes and stats of one call.
    @Test(arguments: [(1, 3_000), (2, 3_000), (3, 3_000), (4, 3_000), (5, 120_000), (6, 120_000)])
    func randomPieces(_ seed: Int, _ maxRun: Int) {
        var g = SeededGenerator(seed: UInt64(seed))
        // Runs of padded base64 in 76-character lines, with junk here and there.
        var input: [UInt8] = []
        var data: [UInt8] = []
        let junk = Array("*!.~#\u{7F}".utf8) + [0x80, 0xFF]
        for _ in 0..<Int.random(in: 1...6, using: &g) {
            let run = (0..<Int.random(in: 0...maxRun, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
            data += run
            var lines = Data(run).base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed])
                .split(separator: "\n").map { Array($0.utf8) }
            // Junk inside full lines; the first line of a later run, or a short last line,
            // with junk in it would read as text after the data.
            let full = lines.indices.filter { lines[$0].count == 76 && (input.isEmpty || $0 > 0) }
            for _ in 0..<Int.random(in: 0...5, using: &g) where !full.isEmpty {
                let k = full.randomElement(using: &g)!
                lines[k].insert(junk.randomElement(using: &g)!, at: Int.random(in: 0...lines[k].count, using: &g))
            }
            input += lines.flatMap { $0 + Array("\r\n".utf8) }
        }
        let runs = input
        // A footer after the last run, for the pieces to cut.
        if seed % 3 == 0 { input += Array("Users mailing list\r\nhttps://lists.example.org/listinfo/users\r\n".utf8) }
        // Half the time the input is cut short, in a quantum or its padding.
        let cut = seed % 2 == 0 ? Int.random(in: 1...7, using: &g) : 0
        input.removeLast(min(cut, input.count))
        let whole = input.withUnsafeBufferPointer { src in
            var out: [UInt8] = []
            let stats = decodeBase64(src) { out.append(contentsOf: $0) }
            return (out, stats)
        }
        if cut == 0 {
            #expect(whole.0 == data)
            #expect(whole.1.junkBytes > 0 || !runs.contains { junk.contains($0) })
            #expect(whole.1.trailingText == (seed % 3 == 0 ? runs.count..<input.count : nil))
        }
        for round in 0..<30 {
            let maxPiece = [1, 3, 4, 5, 77, 1_000, 50_000][round % 7]
            var sizes: [Int] = []
            var left = input.count
            while left > 0 {
                let n = min(left, Int.random(in: 0...maxPiece, using: &g))
                sizes.append(n)
                left -= n
            }
            let (out, stats) = Self.decodeInPieces(input, sizes)
            if out != whole.0 || stats != whole.1 {
                Issue.record("pieces \(sizes.prefix(20))... give \(out.count) bytes \(stats), one call \(whole.0.count) bytes \(whole.1)")
                return
            }
        }
    }

    /// A body that is base64 of a known text, with junk: the part decodes and the ticket
    /// records the junk as a defect.
    @Test func junkInMessageBody() {
        let m = Fixture.message("base64-junk.eml")
        let c = m.content()
        #expect(c.bodyText == "Hello, world!")
        #expect(c.defects == [Defect(.base64Junk, at: 125, "2 bytes")])
    }

    /// A 60,000-byte attachment: its base64 is longer than the decoder's 43,688-byte block.
    @Test func largeAttachment() {
        let c = Fixture.message("large-attachment.eml").content()
        #expect(c.bodyText == "The log is attached.")
        #expect(c.attachments.map(\.filename) == ["server.log"])
        #expect(c.attachments.map(\.size) == [60_000])
        // python3 -c "import sys; sys.stdout.buffer.write(bytes((i * 7 + 3) % 256 for i in range(60000)))" | sha256sum
        #expect(c.attachments.map(\.sha256) == ["44323ee3ddef39bd36f84a8b11172cd7de025fa317a10c2d7bb4590df47321fa"])
        #expect(c.defects == [])
    }

    /// A list's footer after a base64 body: the ticket body is the text the sender wrote, and
    /// the footer, left out, a defect where it starts.
    @Test func listFooterAfterBase64Body() {
        let bytes = Fixture.bytes("base64-list-footer.eml")
        let c = Fixture.message("base64-list-footer.eml").content()
        #expect(c.bodyText == "Hi all,\n\nthe VPN drops every 20 minutes since this morning's update. Anyone else?\n\nMarta\n")
        let footer = try! #require(bytes.firstRange(of: Array("_____".utf8))).lowerBound
        #expect(c.defects == [Defect(.textAfterBase64, at: footer, "\(bytes.count - footer) bytes left out")])
    }

    /// The same footer after an attached JPEG whose last base64 line is as long as the others
    /// (171 bytes, no padding): the file has its own bytes and digest.
    @Test func listFooterAfterBase64Attachment() {
        let bytes = Fixture.bytes("base64-attachment-list-footer.eml")
        let m = Fixture.message("base64-attachment-list-footer.eml")
        let c = m.content()
        #expect(c.bodyText == "This is what I see after the update.\n")
        #expect(c.attachments.map(\.filename) == ["error.jpg"])
        #expect(c.attachments.map(\.size) == [171])
        // The bytes written by the fixture's generator, through sha256sum.
        #expect(c.attachments.map(\.sha256) == ["e795a050804fafd84987b46ee2a690cc917d2e0a6b48802ee9d7e242881780ee"])
        let footer = try! #require(bytes.firstRange(of: Array("_____".utf8))).lowerBound
        let end = try! #require(bytes.firstRange(of: Array("\n--=_scr_41--".utf8))).lowerBound
        #expect(c.defects == [Defect(.textAfterBase64, at: footer, "\(end - footer) bytes left out")])
        // Decoding the part's stored range again (as `wt-admin attachment save` does) gives the same file.
        let part = m.root.children[1]
        let again = TransferEncoding(name: part.transferEncoding.name).decode(Array(bytes[part.bodyRange]))
        #expect(sha256Hex(again) == c.attachments[0].sha256)
    }

    @Test func truncatedAttachment() {
        let m = Fixture.message("base64-truncated.eml")
        let c = m.content()
        #expect(c.attachments.count == 1)
        let a = c.attachments[0]
        #expect(a.filename == "cut.bin")
        #expect(a.size == 6)
        // printf 'ABCDEF' | sha256sum
        #expect(a.sha256 == "e9c0f8b575cbfcb42ab3b78ecc87efa3b011d9a5d10b09fa4e96f240bf6a82f5")
        #expect(c.defects.map(\.code) == [.base64Truncated])
    }
}

@Suite("quoted-printable")
struct QuotedPrintableTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var input: String
        var header: Bool
        var expected: [UInt8]
        var junk: Int
        var testDescription: String { (header ? "header " : "") + input.debugDescription }
    }

    static let cases: [Case] = [
        Case(input: "plain text", header: false, expected: Array("plain text".utf8), junk: 0),
        Case(input: "caf=C3=A9", header: false, expected: Array("café".utf8), junk: 0),
        Case(input: "caf=c3=a9", header: false, expected: Array("café".utf8), junk: 0),
        Case(input: "caf=C3=a9", header: false, expected: Array("café".utf8), junk: 0),
        Case(input: "1+1=3D2", header: false, expected: Array("1+1=2".utf8), junk: 0),
        Case(input: "=00=FF", header: false, expected: [0x00, 0xFF], junk: 0),
        // Soft line breaks: LF, CRLF, and white space after the "=".
        Case(input: "soft=\nbreak", header: false, expected: Array("softbreak".utf8), junk: 0),
        Case(input: "soft=\r\nbreak", header: false, expected: Array("softbreak".utf8), junk: 0),
        Case(input: "soft=  \t\r\nbreak", header: false, expected: Array("softbreak".utf8), junk: 0),
        Case(input: "soft= \nbreak", header: false, expected: Array("softbreak".utf8), junk: 0),
        Case(input: "ends in soft break=", header: false, expected: Array("ends in soft break".utf8), junk: 0),
        Case(input: "ends in soft break=\r\n", header: false, expected: Array("ends in soft break".utf8), junk: 0),
        Case(input: "ends=  ", header: false, expected: Array("ends".utf8), junk: 0),
        // Hard line breaks are kept as they are.
        Case(input: "one\r\ntwo\nthree", header: false, expected: Array("one\r\ntwo\nthree".utf8), junk: 0),
        // Invalid "=" sequences are kept as sent and counted.
        Case(input: "50% =zz off", header: false, expected: Array("50% =zz off".utf8), junk: 1),
        Case(input: "a = b", header: false, expected: Array("a = b".utf8), junk: 1),
        Case(input: "=G1", header: false, expected: Array("=G1".utf8), junk: 1),
        Case(input: "=4", header: false, expected: Array("=4".utf8), junk: 1),
        Case(input: "x=4y", header: false, expected: Array("x=4y".utf8), junk: 1),
        Case(input: "==41", header: false, expected: Array("=A".utf8), junk: 1),
        // "_" is a space in headers (RFC 2047 Q) and nothing special in bodies.
        Case(input: "a_b", header: true, expected: Array("a b".utf8), junk: 0),
        Case(input: "a_b", header: false, expected: Array("a_b".utf8), junk: 0),
        Case(input: "=5F_=20", header: true, expected: Array("_  ".utf8), junk: 0),
    ]

    @Test(arguments: cases)
    func decodes(_ c: Case) {
        let (out, stats) = quotedPrintable(c.input, header: c.header)
        #expect(out == c.expected)
        #expect(stats.junkBytes == c.junk)
        #expect(stats.truncated == false)
    }

    /// Output is flushed in 32 KiB blocks; a long body must come out whole.
    @Test func longBodyAcrossBlocks() {
        let line = "caf=C3=A9 na=C3=AFve =\r\n"
        let input = String(repeating: line, count: 5_000)
        let (out, stats) = quotedPrintable(input)
        #expect(out == Array(String(repeating: "café naïve ", count: 5_000).utf8))
        #expect(stats == DecodeStats())
    }

    @Test func softBreaksInMessageBody() {
        let c = Fixture.message("alternative-plain-html.eml").content()
        #expect(c.bodyText == "Café is open until 5pm. This line is long enough to need a soft line break.")
        #expect(c.defects == [])
    }
}

@Suite("uuencode")
struct UUEncodeTests {
    @Test func uuencodedBody() {
        let m = Fixture.message("uuencoded-body.eml")
        #expect(m.root.transferEncoding == .uuencode)
        #expect(m.root.decodedBody() == Array("Hello from uuencode!\n".utf8))
        let c = m.content()
        #expect(c.bodySource == .none)
        #expect(c.attachments.count == 1)
        let a = c.attachments[0]
        #expect(a.filename == "hello.txt")
        #expect(a.contentType == "application/octet-stream")
        #expect(a.size == 21)
        // printf 'Hello from uuencode!\n' | sha256sum
        #expect(a.sha256 == "2fc46e5c6777174febcb25934b3590bedda2e5c4ed7f26b8d11a3efb9b25c180")
    }

    @Test(arguments: [
        ("x-uuencode", TransferEncoding.uuencode), ("uuencode", .uuencode), ("x-uue", .uuencode),
        ("base64", .base64), ("BASE64", .base64), ("\"base64\"", .base64), ("base64 (encoded)", .base64),
        ("Quoted-Printable", .quotedPrintable), ("7bit", .identity), ("8bit", .identity), ("binary", .binary),
        ("x-gzip", .unknown("x-gzip")),
    ])
    func transferEncodingNames(_ name: String, _ expected: TransferEncoding) {
        let m = Message.parse(Array("Content-Transfer-Encoding: \(name)\n\nx\n".utf8))
        #expect(m.root.transferEncoding == expected)
        #expect(m.defectCodes == (expected == .unknown("x-gzip") ? [.unknownTransferEncoding] : []))
    }
}

@Suite struct LineEndTests {
    /// A 7bit or 8bit part is lines: CRLF and LF deliveries of one message give one file.
    @Test func identityPartsHaveTheSameBytesWithCRLFOrLF() {
        let lf = "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: application/x-notes\nContent-Disposition: attachment; filename=n.txt\nContent-Transfer-Encoding: 7bit\n\nline one\nline two\r\n--b--\n"
        let crlf = lf.replacingCRLF()
        let a = Message.parse(Array(lf.utf8)).content().attachments
        let b = Message.parse(Array(crlf.utf8)).content().attachments
        #expect(a.map(\.size) == [17])
        #expect(a.map(\.sha256) == b.map(\.sha256))
    }

    @Test func binaryPartsKeepTheirBytes() {
        let m = "Content-Type: application/octet-stream\nContent-Transfer-Encoding: binary\nContent-Disposition: attachment; filename=x.bin\n\nA\r\nB"
        #expect(Message.parse(Array(m.utf8)).content().attachments.map(\.size) == [4])
        #expect(TransferEncoding.binary.decode([65, 13, 10, 66]) == [65, 13, 10, 66])
        #expect(TransferEncoding.identity.decode([65, 13, 10, 66, 13]) == [65, 10, 66, 13])
    }
}

extension String {
    /// Every LF as CRLF (an LF already after a CR stays as it is).
    func replacingCRLF() -> String {
        var out = ""
        var prev: Character = " "
        for ch in self {
            if ch == "\n" && prev != "\r" { out += "\r\n" } else { out.append(ch) }
            prev = ch
        }
        return out
    }
}

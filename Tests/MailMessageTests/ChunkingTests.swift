import Testing
@testable import MailMessage

/// However the bytes arrive, the message is the same.
@Suite("chunking invariant")
struct ChunkingTests {
    static let smallLimit = 4_096

    static func parse(_ bytes: [UInt8], chunks sizes: [Int]) -> Message {
        var p = MessageParser(expectedSize: 16)
        var i = 0
        for n in sizes {
            p.feed(bytes[i..<(i + n)])
            i += n
        }
        #expect(i == bytes.count)
        #expect(p.byteCount == bytes.count)
        return p.finish()
    }

    @Test func fixturesArePresent() {
        #expect(Fixture.all.count >= 45)
        #expect(Fixture.all.contains("large-attachment.eml"))
    }

    /// Every split into two chunks, for the small fixtures.
    @Test(arguments: Fixture.all)
    func everyTwoChunkSplit(_ fixture: String) {
        let bytes = Fixture.bytes(fixture)
        let whole = Summary(Message.parse(bytes))
        guard bytes.count <= Self.smallLimit else { return }
        for k in 0...bytes.count {
            let s = Summary(Self.parse(bytes, chunks: [k, bytes.count - k]))
            if s != whole {
                Issue.record("\(fixture): split at \(k) gives \(s), whole gives \(whole)")
                return
            }
        }
    }

    /// Random chunk sizes (seeded), for every fixture; the larger ones get more rounds.
    @Test(arguments: Fixture.all)
    func randomChunks(_ fixture: String) {
        let bytes = Fixture.bytes(fixture)
        let whole = Summary(Message.parse(bytes))
        var g = SeededGenerator(seed: UInt64(bytes.count) &* 31 &+ 7)
        let rounds = bytes.count > Self.smallLimit ? 40 : 10
        for round in 0..<rounds {
            let maxChunk = [1, 7, 64, 1_000, 65_536][round % 5]
            var sizes: [Int] = []
            var left = bytes.count
            while left > 0 {
                let n = min(left, Int.random(in: 0...maxChunk, using: &g))
                sizes.append(n)
                left -= n
            }
            let s = Summary(Self.parse(bytes, chunks: sizes))
            if s != whole {
                Issue.record("\(fixture): chunks \(sizes.prefix(20))... give \(s), whole gives \(whole)")
                return
            }
        }
    }

    @Test func rawBufferFeed() {
        let bytes = Fixture.bytes("nested-multipart.eml")
        var p = MessageParser()
        bytes.withUnsafeBytes { raw in
            var i = 0
            while i < raw.count {
                let n = min(17, raw.count - i)
                p.feed(UnsafeRawBufferPointer(rebasing: raw[i..<(i + n)]))
                i += n
            }
        }
        #expect(Summary(p.finish()) == Summary(Message.parse(bytes)))
    }

    /// The large fixture: what it holds, so that the chunking runs above compare real content.
    @Test func largeAttachment() {
        let c = Fixture.message("large-attachment.eml").content()
        #expect(c.bodyText == "The log is attached.")
        #expect(c.attachments.map(\.filename) == ["server.log"])
        #expect(c.attachments.map(\.size) == [60_000])
        // python3 -c "import sys; sys.stdout.buffer.write(bytes((i * 7 + 3) % 256 for i in range(60000)))" | sha256sum
        #expect(c.attachments.map(\.sha256) == [Self.largeDigest])
        #expect(c.defects == [])
    }

    static let largeDigest = "44323ee3ddef39bd36f84a8b11172cd7de025fa317a10c2d7bb4590df47321fa"
}

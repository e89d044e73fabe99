import Testing
@testable import MailMessage

@Suite("SHA-256")
struct SHA256Tests {
    /// FIPS 180-2 / NIST test vectors.
    static let vectors: [(String, [UInt8], String)] = [
        ("empty", [], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", Array("abc".utf8), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("448 bits", Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8),
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("896 bits", Array("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu".utf8),
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
        ("a x 1,000,000", Array(repeating: UInt8(ascii: "a"), count: 1_000_000),
         "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
        // Lengths around the padding boundary (55, 56, 63, 64 bytes): printf 'a%.0s' {1..N} | sha256sum
        ("55 a", Array(repeating: UInt8(ascii: "a"), count: 55), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"),
        ("56 a", Array(repeating: UInt8(ascii: "a"), count: 56), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"),
        ("63 a", Array(repeating: UInt8(ascii: "a"), count: 63), "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"),
        ("64 a", Array(repeating: UInt8(ascii: "a"), count: 64), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"),
    ]

    @Test(arguments: vectors)
    func vector(_ name: String, _ input: [UInt8], _ digest: String) {
        #expect(sha256Hex(input) == digest)
    }

    /// Streaming in odd-sized chunks gives the one-shot digest.
    @Test(arguments: [1, 3, 7, 13, 55, 63, 64, 65, 127, 1_000, 4_099])
    func streamingEqualsOneShot(_ chunk: Int) {
        var g = SeededGenerator(seed: 42)
        let data = (0..<10_007).map { _ in UInt8.random(in: 0...255, using: &g) }
        var h = SHA256()
        var i = 0
        while i < data.count {
            let n = min(chunk, data.count - i)
            data[i..<(i + n)].withUnsafeBufferPointer { h.update($0) }
            i += n
        }
        #expect(SHA256.hex(h.finalize()) == sha256Hex(data))
    }

    @Test func streamingMillionAsInRandomChunks() {
        var g = SeededGenerator(seed: 7)
        var h = SHA256()
        var left = 1_000_000
        let block = [UInt8](repeating: UInt8(ascii: "a"), count: 10_000)
        while left > 0 {
            let n = min(left, Int.random(in: 1...10_000, using: &g))
            block[0..<n].withUnsafeBufferPointer { h.update($0) }
            left -= n
        }
        #expect(SHA256.hex(h.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Every cut into two pieces of every input of 0 to 192 bytes (up to three blocks, the
    /// padding boundary at 55/56 and the block boundary at 64 included) gives the one-shot digest.
    @Test func everySplitAroundTheBlockBoundaries() {
        var g = SeededGenerator(seed: 64)
        let data = (0..<192).map { _ in UInt8.random(in: 0...255, using: &g) }
        for n in 0...data.count {
            let whole = sha256Hex(Array(data[0..<n]))
            for k in 0...n {
                var h = SHA256()
                data[0..<k].withUnsafeBufferPointer { h.update($0) }
                data[k..<n].withUnsafeBufferPointer { h.update($0) }
                let split = SHA256.hex(h.finalize())
                if split != whole {
                    Issue.record("\(n) bytes cut at \(k): \(split), one shot \(whole)")
                    return
                }
            }
        }
    }

    /// Every cut into three pieces of the 896-bit vector (112 bytes: two blocks with padding).
    @Test func everyThreeWaySplitOfAVector() {
        let (_, input, digest) = Self.vectors[3]
        for a in 0...input.count {
            for b in a...input.count {
                var h = SHA256()
                input[0..<a].withUnsafeBufferPointer { h.update($0) }
                input[a..<b].withUnsafeBufferPointer { h.update($0) }
                input[b...].withUnsafeBufferPointer { h.update($0) }
                if SHA256.hex(h.finalize()) != digest {
                    Issue.record("cut at \(a), \(b)")
                    return
                }
            }
        }
    }

    /// Random pieces (empty ones too) of random inputs give the one-shot digest.
    @Test(arguments: 0..<6)
    func randomPieces(_ seed: Int) {
        var g = SeededGenerator(seed: UInt64(seed) &+ 1_000)
        let data = (0..<Int.random(in: 0...20_000, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
        let whole = sha256Hex(data)
        for round in 0..<20 {
            let maxPiece = [1, 63, 64, 65, 200, 5_000][round % 6]
            var h = SHA256()
            var i = 0
            while i < data.count {
                let n = min(data.count - i, Int.random(in: 0...maxPiece, using: &g))
                data[i..<(i + n)].withUnsafeBufferPointer { h.update($0) }
                i += n
            }
            #expect(SHA256.hex(h.finalize()) == whole)
        }
    }

    @Test func emptyUpdatesChangeNothing() {
        var h = SHA256()
        h.update([UInt8]())
        h.update(Array("ab".utf8))
        h.update([UInt8]())
        h.update(Array("c".utf8))
        #expect(SHA256.hex(h.finalize()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func hex() {
        #expect(SHA256.hex([0x00, 0x0F, 0xA0, 0xFF]) == "000fa0ff")
    }
}

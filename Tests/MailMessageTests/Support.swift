import Foundation
import Testing
@testable import MailMessage

/// Fixtures live next to this file in Fixtures/ (the test target has no resources).
enum Fixture {
    static let directory: String = {
        var path = "\(#filePath)"
        while let last = path.last, last != "/" { path.removeLast() }
        return path + "Fixtures"
    }()

    /// Every fixture's file name, sorted.
    static let all: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".eml") }.sorted()
    }()

    static func bytes(_ name: String) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: directory + "/" + name) else {
            Issue.record("fixture \(name) not found in \(directory)")
            return []
        }
        return [UInt8](data)
    }

    static func message(_ name: String, options: ParserOptions = .default) -> Message {
        Message.parse(bytes(name), options: options)
    }
}

extension Array where Element == UInt8 {
    /// LF line ends made CRLF (a CR already before the LF is left alone).
    var withCRLF: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count + count / 16)
        for (i, b) in enumerated() {
            if b == 10 && (i == 0 || self[i - 1] != 13) { out.append(13) }
            out.append(b)
        }
        return out
    }
}

/// Decodes base64 into an array, with the stats.
func base64(_ s: String) -> ([UInt8], DecodeStats) {
    var out: [UInt8] = []
    let st = Array(s.utf8).withUnsafeBufferPointer { decodeBase64($0) { out.append(contentsOf: $0) } }
    return (out, st)
}

/// Decodes quoted-printable into an array, with the stats.
func quotedPrintable(_ s: String, header: Bool = false) -> ([UInt8], DecodeStats) {
    var out: [UInt8] = []
    let st = Array(s.utf8).withUnsafeBufferPointer { decodeQuotedPrintable($0, header: header) { out.append(contentsOf: $0) } }
    return (out, st)
}

func sha256Hex(_ bytes: [UInt8]) -> String {
    var h = SHA256()
    h.update(bytes)
    return SHA256.hex(h.finalize())
}

/// What a ticket takes from a message; two parses of the same bytes must agree on all of it.
struct Summary: Equatable, CustomStringConvertible {
    var subject: String?
    var from: [Mailbox]
    var bodyText: String
    var bodySource: String
    var attachments: [String]
    var defects: [Defect]
    var contentDefects: [Defect]

    init(_ m: Message) {
        let c = m.content()
        subject = m.subject
        from = m.from
        bodyText = c.bodyText
        bodySource = c.bodySource.rawValue
        attachments = c.attachments.map { "\($0.filename) \($0.contentType) \($0.size) \($0.sha256) \($0.inline)" }
        defects = m.defects
        contentDefects = c.defects
    }

    var description: String {
        "subject=\(subject ?? "nil") from=\(from) body=\(bodyText.debugDescription) atts=\(attachments) defects=\(defects) \(contentDefects)"
    }
}

/// A small deterministic generator (SplitMix64) so that "random" chunkings are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Message {
    var defectCodes: [Defect.Code] { defects.map(\.code) }
}

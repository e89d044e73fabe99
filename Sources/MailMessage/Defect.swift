/// Something wrong with a message that the parser worked around. Defects never stop a parse;
/// they are kept so that a person (and `--explain`) can see what was repaired or guessed.
public struct Defect: Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case headerWithoutColon = "header-without-colon"
        case continuationWithoutField = "continuation-without-field"
        case byteOrderMark = "byte-order-mark"
        case missingHeaderBodySeparator = "missing-header-body-separator"
        case headerTooLarge = "header-too-large"
        case tooManyHeaderFields = "too-many-header-fields"
        case nulByte = "nul-byte"
        case bareCRLineEnds = "bare-cr-line-ends"
        case rawEightBitHeader = "raw-8bit-header"
        case invalidEncodedWord = "invalid-encoded-word"
        case missingBoundary = "multipart-without-boundary"
        case boundaryNotFound = "boundary-not-found"
        case missingFinalBoundary = "missing-final-boundary"
        case boundaryTooLong = "boundary-too-long"
        case depthLimit = "mime-depth-limit"
        case partLimit = "mime-part-limit"
        case decodedSizeLimit = "decoded-size-limit"
        case addressLimit = "address-limit"
        case parameterLimit = "rfc2231-continuation-limit"
        case base64Junk = "base64-junk"
        case base64Truncated = "base64-truncated"
        case textAfterBase64 = "text-after-base64"
        case quotedPrintableJunk = "quoted-printable-junk"
        case unknownCharset = "unknown-charset"
        case invalidCharacters = "invalid-characters"
        case unknownTransferEncoding = "unknown-transfer-encoding"
        case invalidDate = "invalid-date"
        case invalidAddress = "invalid-address"
        case emptyMessage = "empty-message"
        case noHeaders = "no-headers"
    }

    public let code: Code
    /// Byte offset in the message (or in the decoded inner message for attached messages).
    public let offset: Int
    public let detail: String

    /// Details quote the message (a charset label, an encoding name): at most this many
    /// characters of one are kept.
    public static let maxDetail = 200

    public init(_ code: Code, at offset: Int, _ detail: String = "") {
        self.code = code
        self.offset = offset
        self.detail = detail.utf8.count <= Self.maxDetail ? detail : String(detail.prefix(Self.maxDetail)) + "…"
    }

    public var description: String {
        detail.isEmpty ? "\(code.rawValue) at byte \(offset)" : "\(code.rawValue) at byte \(offset): \(detail)"
    }
}

/// Defects as they are found, in a list that stays small on hostile input (which can give one
/// defect per line or per part): every defect is counted, the first few of each code are kept,
/// and the rest of a code are summed up in one defect at the end.
public struct DefectLog: Sendable {
    public static let defaultKeptPerCode = 8

    public let keptPerCode: Int
    private var kept: [Defect] = []
    /// Per code seen: how many, and where the first one left out was.
    private var tallies: [(code: Defect.Code, count: Int, firstDropped: Int)] = []

    public init(keptPerCode: Int = DefectLog.defaultKeptPerCode) {
        self.keptPerCode = max(0, keptPerCode)
    }

    public mutating func append(_ d: Defect) {
        // A linear search: there are few codes.
        var k = 0
        while k < tallies.count, tallies[k].code != d.code { k += 1 }
        if k == tallies.count { tallies.append((d.code, 0, 0)) }
        tallies[k].count += 1
        if tallies[k].count <= keptPerCode {
            kept.append(d)
        } else if tallies[k].count == keptPerCode + 1 {
            tallies[k].firstDropped = d.offset
        }
    }

    public mutating func append(contentsOf defects: some Sequence<Defect>) {
        for d in defects { append(d) }
    }

    /// Every defect appended, kept or not.
    public var count: Int { tallies.reduce(0) { $0 + $1.count } }

    /// The kept defects in the order found, then for each code that had more, one defect of
    /// that code at the first one left out, saying how many more there were.
    public var defects: [Defect] {
        kept + tallies.filter { $0.count > keptPerCode }.map {
            Defect($0.code, at: $0.firstDropped, "and \($0.count - keptPerCode) more")
        }
    }
}

/// Caps that keep parsing bounded on hostile input. Anything past a cap becomes an opaque
/// leaf plus a defect.
public struct ParserOptions: Sendable {
    public var maxDepth = 32
    public var maxParts = 2_000
    public var maxHeaderBytes = 1 << 20
    public var maxHeaderFields = 4_000
    public var maxBoundaryLength = 8 << 10
    public var maxAddresses = 2_000
    public var maxParameterSections = 128
    public var maxDecodedSize = 256 << 20

    public init() {}

    public static let `default` = ParserOptions()
}

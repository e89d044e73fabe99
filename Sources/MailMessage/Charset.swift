#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Text decoding for any charset a message may declare, through the C library's iconv.
/// Labels are mapped to the superset real mail needs (a message labelled GB2312 is written by
/// software that emits GBK, a message labelled ISO-8859-1 by software that emits windows-1252).
/// Bytes that do not decode become U+FFFD and are reported, never thrown.
public enum Charset {
    public struct Result {
        public var text: String
        /// Bytes that could not be decoded (each became U+FFFD).
        public var invalidBytes: Int
        /// The label was not a charset we could decode; the text was guessed.
        public var unknownLabel: Bool
    }

    /// Decodes `bytes` declared as `label` (nil, empty or US-ASCII: UTF-8, falling back to windows-1252).
    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>, label: String?) -> Result {
        let name = canonicalName(label)
        switch name {
        case "UTF-8":
            if let s = String(validating: bytes, as: UTF8.self) { return Result(text: s, invalidBytes: 0, unknownLabel: false) }
            return Result(text: String(decoding: bytes, as: UTF8.self), invalidBytes: countInvalidUTF8(bytes), unknownLabel: false)
        case "CP1252":
            return Result(text: decodeWindows1252(bytes), invalidBytes: 0, unknownLabel: false)
        case "":
            return guess(bytes, unknown: label != nil && !(label!.isEmpty))
        case "US-ASCII":
            // 8-bit bytes under an ASCII label: software that labels everything ASCII writes UTF-8 today.
            return guess(bytes, unknown: false)
        case ISO2022JP.name:
            return ISO2022JP.decode(bytes) ?? Iconv.decode(bytes, from: "ISO-2022-JP-2") ?? guess(bytes, unknown: true)
        default:
            if isASCII(bytes) && !name.hasPrefix("UTF-16") && !name.hasPrefix("UTF-32")
                && name != "UTF-7" && !name.hasPrefix("ISO-2022") {
                return Result(text: String(decoding: bytes, as: UTF8.self), invalidBytes: 0, unknownLabel: false)
            }
            if let r = Iconv.decode(bytes, from: name) { return r }
            return guess(bytes, unknown: true)
        }
    }

    public static func decode(_ bytes: [UInt8], label: String?) -> Result {
        bytes.withUnsafeBufferPointer { decode($0, label: label) }
    }

    /// Raw 8-bit header text: UTF-8 if it is valid UTF-8, else the fallback charset (the one the
    /// message declares) if the bytes decode cleanly in it, else the legacy East Asian charset
    /// that reads them as common text, else windows-1252.
    static func decodeHeaderBytes(_ bytes: UnsafeBufferPointer<UInt8>, fallback: String?) -> String {
        if let s = String(validating: bytes, as: UTF8.self) { return s }
        if let fb = fallback, isInformative(fb) {
            let r = decode(bytes, label: fb)
            if r.invalidBytes == 0 && !r.unknownLabel { return r.text }
        }
        if let s = LegacyCJK.detect(bytes) { return s }
        return decodeWindows1252(bytes)
    }

    /// Whether a label says something about 8-bit bytes (UTF-8 is tried anyway; ASCII has none).
    static func isInformative(_ label: String?) -> Bool {
        let n = canonicalName(label)
        return n != "" && n != "UTF-8" && n != "US-ASCII"
    }

    /// Unknown label: valid UTF-8 stays UTF-8, anything else is read as windows-1252.
    private static func guess(_ bytes: UnsafeBufferPointer<UInt8>, unknown: Bool) -> Result {
        if let s = String(validating: bytes, as: UTF8.self) { return Result(text: s, invalidBytes: 0, unknownLabel: unknown) }
        return Result(text: decodeWindows1252(bytes), invalidBytes: 0, unknownLabel: unknown)
    }

    static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for b in bytes where b >= 0x80 { return false }
        return true
    }

    private static func countInvalidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var n = 0
        var it = bytes.makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&it) {
            case .scalarValue: continue
            case .emptyInput: break loop
            case .error: n += 1
            }
        }
        return n
    }

    /// The iconv name to use for a charset label, "UTF-8"/"CP1252" for the built-in decoders,
    /// or "" when there is no label.
    public static func canonicalName(_ label: String?) -> String {
        guard let label else { return "" }
        var l = label.trimmedWS.asciiLowercased
        if l.hasPrefix("\"") || l.hasPrefix("'") { l = String(l.dropFirst()) }
        if l.hasSuffix("\"") || l.hasSuffix("'") { l = String(l.dropLast()) }
        // "utf-8*lang" (RFC 2231 language suffix) and "x-" vendor prefixes.
        if let star = l.firstIndex(of: "*") { l = String(l[..<star]) }
        if l.isEmpty { return "" }
        if let m = aliases[l] { return m }
        if l.hasPrefix("x-") {
            let rest = String(l.dropFirst(2))
            if let m = aliases[rest] { return m }
        }
        if l.hasPrefix("iso8859-") || l.hasPrefix("iso_8859-") {
            return "ISO-8859-" + l.split(separator: "-").last.map(String.init)!.uppercased()
        }
        if l.hasPrefix("cp") || l.hasPrefix("windows-") || l.hasPrefix("iso-") || l.hasPrefix("koi8") { return l.uppercased() }
        return l.uppercased()
    }

    private static let aliases: [String: String] = [
        "utf-8": "UTF-8", "utf8": "UTF-8", "unicode-1-1-utf-8": "UTF-8", "unicode20utf8": "UTF-8",
        "us-ascii": "US-ASCII", "ascii": "US-ASCII", "ansi_x3.4-1968": "US-ASCII", "iso646-us": "US-ASCII",
        "us": "US-ASCII", "csascii": "US-ASCII",
        "iso-8859-1": "CP1252", "iso8859-1": "CP1252", "iso_8859-1": "CP1252", "latin1": "CP1252",
        "latin-1": "CP1252", "l1": "CP1252", "cp819": "CP1252", "iso-ir-100": "CP1252",
        "windows-1252": "CP1252", "cp1252": "CP1252", "cp-1252": "CP1252", "win-1252": "CP1252",
        "iso-8859-9": "CP1254", "latin5": "CP1254", "iso-8859-11": "CP874", "tis-620": "CP874", "windows-874": "CP874",
        "gb2312": "GB18030", "gbk": "GB18030", "cp936": "GB18030", "euc-cn": "GB18030", "gb_2312-80": "GB18030",
        "csgb2312": "GB18030", "chinese": "GB18030", "gb18030": "GB18030", "x-euc-cn": "GB18030",
        "big5": "BIG5-HKSCS", "big5-hkscs": "BIG5-HKSCS", "cn-big5": "BIG5-HKSCS", "x-x-big5": "BIG5-HKSCS",
        // ISO-2022-JP as Windows writes it (CP50220-CP50222), read by ISO2022JP; JIS X 0213 by iconv.
        "iso-2022-jp": "ISO-2022-JP", "csiso2022jp": "ISO-2022-JP", "iso-2022-jp-1": "ISO-2022-JP",
        "iso-2022-jp-2": "ISO-2022-JP", "csiso2022jp2": "ISO-2022-JP", "iso-2022-jp-ms": "ISO-2022-JP",
        "cp50220": "ISO-2022-JP", "cp50221": "ISO-2022-JP", "cp50222": "ISO-2022-JP", "iso-2022-jp-3": "ISO-2022-JP-3",
        "shift_jis": "CP932", "shift-jis": "CP932", "sjis": "CP932", "ms_kanji": "CP932", "csshiftjis": "CP932",
        "windows-31j": "CP932", "cp932": "CP932", "x-sjis": "CP932",
        "euc-jp": "EUC-JP-MS", "eucjp": "EUC-JP-MS", "x-euc-jp": "EUC-JP-MS",
        "euc-kr": "CP949", "ks_c_5601-1987": "CP949", "ksc5601": "CP949", "ks_c_5601": "CP949",
        "cp949": "CP949", "windows-949": "CP949", "korean": "CP949", "iso-2022-kr": "ISO-2022-KR",
        "koi8-r": "KOI8-R", "koi8-u": "KOI8-U", "koi8-ru": "KOI8-RU", "koi8": "KOI8-R",
        "utf-7": "UTF-7", "utf7": "UTF-7", "unicode-1-1-utf-7": "UTF-7", "unicode-2-0-utf-7": "UTF-7",
        "csunicode11utf7": "UTF-7", "utf-16": "UTF-16", "utf-16le": "UTF-16LE",
        "utf-16be": "UTF-16BE", "utf-32": "UTF-32", "ucs-2": "UTF-16", "unicode": "UTF-16",
        "iso-8859-8-i": "ISO-8859-8", "iso-8859-6-i": "ISO-8859-6", "latin2": "ISO-8859-2",
        "mac": "MACINTOSH", "macintosh": "MACINTOSH", "x-mac-roman": "MACINTOSH",
    ]

    private static let cp1252High: [UInt32] = [
        0x20AC, 0x81, 0x201A, 0x192, 0x201E, 0x2026, 0x2020, 0x2021, 0x2C6, 0x2030, 0x160, 0x2039, 0x152, 0x8D, 0x17D, 0x8F,
        0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x2DC, 0x2122, 0x161, 0x203A, 0x153, 0x9D, 0x17E, 0x178,
    ]

    /// windows-1252 as browsers read it (the five unassigned bytes map to C1 controls).
    static func decodeWindows1252(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        if isASCII(bytes) { return String(decoding: bytes, as: UTF8.self) }
        return String(unsafeUninitializedCapacity: bytes.count * 3) { out in
            var o = 0
            for b in bytes {
                if b < 0x80 { out[o] = b; o += 1; continue }
                let v: UInt32 = b < 0xA0 ? cp1252High[Int(b - 0x80)] : UInt32(b)
                if v < 0x800 {
                    out[o] = UInt8(0xC0 | v >> 6); out[o + 1] = UInt8(0x80 | v & 0x3F); o += 2
                } else {
                    out[o] = UInt8(0xE0 | v >> 12); out[o + 1] = UInt8(0x80 | (v >> 6) & 0x3F)
                    out[o + 2] = UInt8(0x80 | v & 0x3F); o += 3
                }
            }
            return o
        }
    }
}

/// iconv descriptors, opened once per charset per process. A descriptor keeps conversion
/// state, so the cache and every conversion are behind one lock (messages may be parsed on
/// several threads by a library user, and are by the tests).
enum Iconv {
    nonisolated(unsafe) private static var cache: [String: iconv_t] = [:]
    nonisolated(unsafe) private static var failed: Set<String> = []
    nonisolated(unsafe) private static let lock: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()

    private static func descriptor(_ name: String) -> iconv_t? {
        if let cd = cache[name] { return cd }
        if failed.contains(name) { return nil }
        let cd = iconv_open("UTF-8", name)
        if cd == iconv_t(bitPattern: -1) {
            failed.insert(name)
            return nil
        }
        cache[name] = cd
        return cd
    }

    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, from name: String) -> Charset.Result? {
        session { s in
            var out = [UInt8]()
            out.reserveCapacity(bytes.count * 2 + 16)
            guard let invalid = s.convert(bytes, from: name, into: &out) else { return nil }
            return Charset.Result(text: String(decoding: out, as: UTF8.self), invalidBytes: invalid, unknownLabel: false)
        }
    }

    /// Runs `body` under the lock, with one scratch buffer for all its conversions (a text
    /// read in many short runs, each in its own charset, costs no lock or allocation per run).
    static func session<T>(_ body: (borrowing Session) -> T) -> T {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        let s = Session()
        defer { s.scratch.deallocate() }
        return body(s)
    }

    struct Session: ~Copyable {
        static let chunk = 16 * 1024
        let scratch = UnsafeMutablePointer<CChar>.allocate(capacity: chunk)

        /// Appends the UTF-8 of `bytes` read in charset `name` to `out`; returns how many bytes
        /// became U+FFFD, or nil when iconv does not know the charset.
        func convert(_ bytes: UnsafeBufferPointer<UInt8>, from name: String, into out: inout [UInt8]) -> Int? {
            guard let cd = descriptor(name) else { return nil }
            iconv(cd, nil, nil, nil, nil)
            guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
            var invalid = 0
            let chunk = Session.chunk
            var inPtr: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(mutating: base).assumingMemoryBound(to: CChar.self)
            var inLeft = bytes.count
            var flushed = false
            while true {
                var outPtr: UnsafeMutablePointer<CChar>? = scratch
                var outLeft = chunk
                let rc: Int
                if inLeft > 0 {
                    rc = iconv(cd, &inPtr, &inLeft, &outPtr, &outLeft)
                } else {
                    // Flush any shift state (ISO-2022 and UTF-7 end in a mode).
                    rc = iconv(cd, nil, nil, &outPtr, &outLeft)
                    flushed = true
                }
                let produced = chunk - outLeft
                scratch.withMemoryRebound(to: UInt8.self, capacity: produced) { out.append(contentsOf: UnsafeBufferPointer(start: $0, count: produced)) }
                if rc == -1 {
                    let e = errno
                    if e == E2BIG { continue }
                    if e == EILSEQ || e == EINVAL {
                        // Skip one undecodable byte; an incomplete sequence at the end is dropped.
                        out.appendReplacementCharacter()
                        invalid += 1
                        if e == EINVAL { inLeft = 0 } else { inPtr! += 1; inLeft -= 1 }
                        continue
                    }
                    return nil
                }
                if flushed { break }
            }
            return invalid
        }
    }
}

extension Array where Element == UInt8 {
    /// U+FFFD in UTF-8.
    @inline(__always) mutating func appendReplacementCharacter() {
        append(0xEF); append(0xBF); append(0xBD)
    }
}

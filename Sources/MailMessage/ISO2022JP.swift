/// ISO-2022-JP as mail software really writes it.
///
/// Windows (CP50220-CP50222) puts NEC row 13 (①, ㈱, №) and the NEC-selected IBM extensions
/// (rows 89-92: 髙, 纊) into JIS X 0208 mode, and half-width katakana after ESC ( I or SO;
/// glibc's ISO-2022-JP rejects all of these. Each JIS X 0208 pair is rewritten as the
/// Shift_JIS pair of the same row and cell and read as CP932, which has exactly those
/// extensions; JIS X 0212 (ESC $ ( D) is read as EUC-JP-MS.
///
/// The label also lies: mobile carriers and bounce generators send UTF-8, EUC-JP or Shift_JIS
/// labelled ISO-2022-JP. ISO-2022-JP is 7-bit, so 8-bit bytes mean the text is in one of those:
/// UTF-8 if it is valid UTF-8, else EUC-JP if it reads cleanly (Shift_JIS kana and most kanji
/// are not valid EUC-JP, while EUC-JP often reads as Shift_JIS), else Shift_JIS.
enum ISO2022JP {
    /// The canonical name `Charset` gives every ISO-2022-JP label this decoder reads.
    static let name = "ISO-2022-JP"

    /// nil when the text designates a character set outside ISO-2022-JP (the ISO-2022-JP-2
    /// additions: GB 2312, KS C 5601, ISO-8859 upper halves), for iconv to read instead.
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> Charset.Result? {
        var has8bit = false
        var hasShift = false
        for b in bytes {
            if b >= 0x80 { has8bit = true } else if b == esc || b == so { hasShift = true }
        }
        if !has8bit && !hasShift {
            return Charset.Result(text: String(decoding: bytes, as: UTF8.self), invalidBytes: 0, unknownLabel: false)
        }
        var eightBit: Segment = .cp932
        if has8bit {
            let (cs, r) = readEightBit(bytes)
            if !hasShift { return r }
            eightBit = cs
        }
        return Iconv.session { session in
            var d = Decoder(eightBit: eightBit)
            return d.run(bytes, session) ? d.result() : nil
        }
    }

    private static let esc: UInt8 = 0x1B
    private static let so: UInt8 = 0x0E
    private static let si: UInt8 = 0x0F

    /// The charsets a run of output bytes is read in.
    enum Segment { case cp932, eucJP, utf8 }

    /// 8-bit text under an ISO-2022-JP label: which charset it is really in, and the text read in it.
    static func readEightBit(_ bytes: UnsafeBufferPointer<UInt8>) -> (Segment, Charset.Result) {
        if let s = String(validating: bytes, as: UTF8.self) {
            return (.utf8, Charset.Result(text: s, invalidBytes: 0, unknownLabel: false))
        }
        // iconv passes 0x80-0x9F through as C1 controls, which Shift_JIS lead bytes are.
        let euc = isEUCJP(bytes) ? Iconv.decode(bytes, from: "EUC-JP-MS") : nil
        if let euc, euc.invalidBytes == 0 { return (.eucJP, euc) }
        let sjis = Iconv.decode(bytes, from: "CP932")
        if let sjis, sjis.invalidBytes == 0 { return (.cp932, sjis) }
        if let euc, euc.invalidBytes < (sjis?.invalidBytes ?? Int.max) { return (.eucJP, euc) }
        if let sjis { return (.cp932, sjis) }
        return (.utf8, Charset.decode(bytes, label: "utf-8"))
    }

    /// Whether every 8-bit byte is part of an EUC-JP character (two bytes A1-FE, or SS2 and
    /// a half-width katakana, or SS3 and two bytes).
    static func isEUCJP(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        @inline(__always) func high(_ k: Int) -> Bool { k < bytes.count && bytes[k] >= 0xA1 && bytes[k] <= 0xFE }
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b < 0x80 { i += 1; continue }
            switch b {
            case 0xA1...0xFE: guard high(i + 1) else { return false }; i += 2
            case 0x8E: guard high(i + 1), bytes[i + 1] <= 0xDF else { return false }; i += 2
            case 0x8F: guard high(i + 1), high(i + 2) else { return false }; i += 3
            default: return false
            }
        }
        return true
    }

    private enum Mode { case ascii, jis0208, jis0212, kana }

    private struct Decoder {
        let eightBit: Segment
        var out: [UInt8] = []
        var invalid = 0
        var pending: [UInt8] = []
        var pendingSegment: Segment = .cp932

        init(eightBit: Segment) {
            self.eightBit = eightBit
            pendingSegment = eightBit
        }

        func result() -> Charset.Result {
            Charset.Result(text: String(decoding: out, as: UTF8.self), invalidBytes: invalid, unknownLabel: false)
        }

        /// Reads the whole text; false on a designation this decoder leaves to iconv.
        mutating func run(_ bytes: UnsafeBufferPointer<UInt8>, _ session: borrowing Iconv.Session) -> Bool {
            out.reserveCapacity(bytes.count * 2 + 16)
            pending.reserveCapacity(min(bytes.count, 64 * 1024))
            var mode = Mode.ascii
            var g1Kana = false   // ESC ) I: SO shifts to half-width katakana
            var shifted = false
            let n = bytes.count
            var i = 0
            while i < n {
                let b = bytes[i]
                if b == ISO2022JP.esc {
                    guard let (m, len) = ISO2022JP.escape(bytes, i) else {
                        if ISO2022JP.isOtherDesignation(bytes, i) { return false }
                        bad(session)   // a lone ESC
                        i += 1
                        continue
                    }
                    if let m { mode = m } else { g1Kana = true }
                    i += len
                    continue
                }
                if b == ISO2022JP.so && g1Kana { shifted = true; i += 1; continue }
                if b == ISO2022JP.si && g1Kana { shifted = false; i += 1; continue }
                if b >= 0x80 {
                    // The label lied: raw bytes in the charset found for them.
                    put(eightBit, b, session)
                    i += 1
                    continue
                }
                let m = shifted ? Mode.kana : mode
                if b < 0x21 || m == .ascii {
                    // ASCII (controls, space and line ends in every mode) reads the same in all
                    // three charsets, so it joins whatever run is open.
                    put(pendingSegment, b, session)
                    i += 1
                    continue
                }
                switch m {
                case .ascii:
                    break
                case .kana:
                    if b <= 0x5F { put(.cp932, b + 0x80, session) } else { bad(session) }
                    i += 1
                case .jis0208, .jis0212:
                    guard b != 0x7F, i + 1 < n, bytes[i + 1] >= 0x21, bytes[i + 1] <= 0x7E else {
                        bad(session)
                        i += 1
                        continue
                    }
                    let c = bytes[i + 1]
                    if m == .jis0208 {
                        // Row and cell to the Shift_JIS pair of the same position.
                        let s1 = (b + 1) / 2 + (b <= 0x5E ? 0x70 : 0xB0)
                        let s2 = b & 1 == 1 ? c + (c >= 0x60 ? 0x20 : 0x1F) : c + 0x7E
                        put(.cp932, s1, session)
                        put(.cp932, s2, session)
                    } else {
                        put(.eucJP, 0x8F, session)
                        put(.eucJP, b | 0x80, session)
                        put(.eucJP, c | 0x80, session)
                    }
                    i += 2
                }
            }
            flush(session)
            return true
        }

        @inline(__always) mutating func put(_ s: Segment, _ b: UInt8, _ session: borrowing Iconv.Session) {
            if s != pendingSegment {
                flush(session)
                pendingSegment = s
            }
            pending.append(b)
        }

        mutating func bad(_ session: borrowing Iconv.Session) {
            flush(session)
            out.appendReplacementCharacter()
            invalid += 1
        }

        mutating func flush(_ session: borrowing Iconv.Session) {
            if pending.isEmpty { return }
            pending.withUnsafeBufferPointer { p in
                switch pendingSegment {
                case .utf8:
                    if String(validating: p, as: UTF8.self) != nil {
                        out.append(contentsOf: p)
                    } else {
                        let r = Charset.decode(p, label: "utf-8")
                        out.append(contentsOf: r.text.utf8)
                        invalid += r.invalidBytes
                    }
                case .cp932, .eucJP:
                    let name = pendingSegment == .cp932 ? "CP932" : "EUC-JP-MS"
                    let before = out.count
                    if let k = session.convert(p, from: name, into: &out) {
                        invalid += k
                    } else {
                        out.removeSubrange(before...)
                        for _ in 0..<p.count { out.appendReplacementCharacter() }
                        invalid += p.count
                    }
                }
            }
            pending.removeAll(keepingCapacity: true)
        }
    }

    /// The escape sequence at `i`: the mode it selects (nil for ESC ) I, which designates
    /// half-width katakana for SO) and its length; nil when it is not one ISO-2022-JP uses.
    private static func escape(_ bytes: UnsafeBufferPointer<UInt8>, _ i: Int) -> (Mode?, Int)? {
        let n = bytes.count
        guard i + 2 < n else { return nil }
        let a = bytes[i + 1], b = bytes[i + 2]
        switch (a, b) {
        case (0x28, 0x42), (0x28, 0x4A), (0x28, 0x48): return (.ascii, 3)   // ASCII, JIS-Roman (read as ASCII, as Windows does)
        case (0x28, 0x49): return (.kana, 3)
        case (0x24, 0x40), (0x24, 0x42): return (.jis0208, 3)
        case (0x29, 0x49): return (nil, 3)
        case (0x26, 0x40):
            // JIS X 0208-1990 announcement; the ESC $ B that follows selects the set.
            guard i + 5 < n, bytes[i + 3] == esc, bytes[i + 4] == 0x24, bytes[i + 5] == 0x42 else { return nil }
            return (.jis0208, 6)
        case (0x24, 0x28):
            guard i + 3 < n else { return nil }
            switch bytes[i + 3] {
            case 0x40, 0x42: return (.jis0208, 4)
            case 0x44: return (.jis0212, 4)
            default: return nil
            }
        default: return nil
        }
    }

    /// ISO-2022-JP-2's other designations (ESC $ A, ESC $ ( C, ESC . A, ESC N ...).
    static func isOtherDesignation(_ bytes: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool {
        guard i + 1 < bytes.count else { return false }
        switch bytes[i + 1] {
        case 0x24: return i + 2 < bytes.count && (bytes[i + 2] == 0x41 || bytes[i + 2] == 0x28)
        case 0x2E, 0x4E: return true
        default: return false
        }
    }
}

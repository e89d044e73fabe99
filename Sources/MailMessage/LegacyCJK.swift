/// Raw 8-bit header text that is not UTF-8 and that no header declares a charset for: which of
/// the legacy East Asian charsets (GBK, Big5, Shift_JIS, EUC-KR) reads it as common text.
///
/// Each candidate's byte structure is walked once and every character scored by where it sits
/// in the charset's own table (the standards put the common characters first: GB 2312 level 1,
/// Big5 level 1, the kana rows of JIS X 0208, the 2,350 Hangul of KS X 1001); rare and
/// vendor-extension characters score low. A candidate must average nearly a common character
/// (2.5 of 3 points), have two non-ASCII characters in a row (Latin-1 text has single accented
/// letters) and decode without errors; the best score wins. Where GBK, Big5 and EUC-KR read the same bytes as common characters, the
/// language's most frequent characters decide. Short text stays ambiguous; a wrong guess is
/// still no worse than the windows-1252 it replaces.
///
/// A general detector (uchardet) was measured on header-length text and read most of it as a
/// single-byte charset, so this one is limited to the four charsets and scored for short text.
enum LegacyCJK {
    enum Candidate: CaseIterable {
        case gbk, big5, shiftJIS, eucKR

        var iconvName: String {
            switch self {
            case .gbk: return "GB18030"
            case .big5: return "BIG5-HKSCS"
            case .shiftJIS: return "CP932"
            case .eucKR: return "CP949"
            }
        }
    }

    struct Score: Equatable {
        var points = 0
        var chars = 0
        var longestRun = 0
    }

    /// The text, when one candidate reads the bytes as common text.
    static func detect(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        detectCharset(bytes)?.text
    }

    static func detectCharset(_ bytes: UnsafeBufferPointer<UInt8>) -> (candidate: Candidate, text: String)? {
        var best: (Candidate, String, Int)? = nil
        for c in Candidate.allCases {
            // Common characters average 3 points; accidental pairs of accented Latin or Cyrillic
            // letters fall below 2.5 (level 2 and extension rows).
            guard let s = score(bytes, c), s.chars > 0, s.longestRun >= 2, 2 * s.points >= 5 * s.chars else { continue }
            guard let r = Iconv.decode(bytes, from: c.iconvName), r.invalidBytes == 0 else { continue }
            let total = s.points + 2 * frequentCount(r.text, c)
            if best == nil || total > best!.2 { best = (c, r.text, total) }
        }
        return best.map { ($0.0, $0.1) }
    }

    /// Points for the non-ASCII characters of `bytes` read as `c`; nil when they are not
    /// well-formed in it.
    static func score(_ bytes: UnsafeBufferPointer<UInt8>, _ c: Candidate) -> Score? {
        var s = Score()
        var run = 0
        let n = bytes.count
        var i = 0
        while i < n {
            let b = bytes[i]
            if b < 0x80 {
                run = 0
                i += 1
                continue
            }
            let step: Int
            let w: Int
            switch c {
            case .gbk:
                guard b != 0x80, b != 0xFF, i + 1 < n else { return nil }
                let t = bytes[i + 1]
                if t >= 0x30 && t <= 0x39 {
                    // GB18030 four-byte form: rare characters.
                    guard i + 3 < n, bytes[i + 2] >= 0x81, bytes[i + 2] <= 0xFE, bytes[i + 3] >= 0x30, bytes[i + 3] <= 0x39 else { return nil }
                    step = 4; w = -2
                } else {
                    guard t >= 0x40, t <= 0xFE, t != 0x7F else { return nil }
                    step = 2; w = gbkWeight(b, t)
                }
            case .big5:
                guard b >= 0x81, b <= 0xFE, i + 1 < n else { return nil }
                let t = bytes[i + 1]
                guard (t >= 0x40 && t <= 0x7E) || (t >= 0xA1 && t <= 0xFE) else { return nil }
                step = 2; w = big5Weight(b, t)
            case .shiftJIS:
                if b >= 0xA1 && b <= 0xDF {
                    step = 1; w = 1   // half-width katakana
                } else {
                    guard (b >= 0x81 && b <= 0x9F) || (b >= 0xE0 && b <= 0xFC), i + 1 < n else { return nil }
                    let t = bytes[i + 1]
                    guard t >= 0x40, t <= 0xFC, t != 0x7F else { return nil }
                    step = 2; w = shiftJISWeight(b, t)
                }
            case .eucKR:
                guard b >= 0x81, b <= 0xFE, i + 1 < n else { return nil }
                let t = bytes[i + 1]
                guard (t >= 0x41 && t <= 0x5A) || (t >= 0x61 && t <= 0x7A) || (t >= 0x81 && t <= 0xFE) else { return nil }
                step = 2; w = eucKRWeight(b, t)
            }
            s.points += w
            s.chars += 1
            run += 1
            s.longestRun = max(s.longestRun, run)
            i += step
        }
        return s
    }

    // Weights: 3 the common characters (which cover nearly all running text), 2 punctuation,
    // 1 rarer standard characters, 0 symbols, negative vendor and rare extensions.

    static func gbkWeight(_ b: UInt8, _ t: UInt8) -> Int {
        guard t >= 0xA1 else { return -1 }            // GBK extension
        switch b {
        case 0xB0...0xD7: return 3                    // GB 2312 level 1 hanzi
        case 0xD8...0xF7: return 1                    // level 2
        case 0xA1: return 2                           // punctuation
        case 0xA3: return fullWidthRow(t)
        case 0xA2: return 1
        case 0xA4...0xA9: return 0                    // kana, Greek, Cyrillic, pinyin, box drawing
        default: return -1                            // user-defined and extension rows
        }
    }

    static func big5Weight(_ b: UInt8, _ t: UInt8) -> Int {
        switch b {
        case 0xA4...0xC5: return 3                    // level 1 hanzi
        case 0xC6: return t <= 0x7E ? 3 : 0
        case 0xC9...0xF9: return 1                    // level 2
        case 0xA1: return 2                           // punctuation
        case 0xA2, 0xA3: return 1                     // symbols, full-width forms, bopomofo
        case 0xC7, 0xC8: return 0
        default: return -1                            // HKSCS and user-defined
        }
    }

    static func shiftJISWeight(_ b: UInt8, _ t: UInt8) -> Int {
        switch b {
        case 0x82: return t >= 0x9F ? 3 : 1           // hiragana; full-width letters and digits
        case 0x83: return t <= 0x96 ? 3 : 0           // katakana; Greek
        case 0x81: return 2                           // punctuation
        case 0x88...0x97: return b == 0x88 && t < 0x9F ? 0 : 3   // JIS level 1 kanji
        case 0x98: return t <= 0x72 ? 3 : 1
        case 0x99...0x9F, 0xE0...0xEA: return 1       // level 2
        case 0xF0...0xF9: return -2                   // user-defined
        default: return 0                             // NEC and IBM extensions, symbols
        }
    }

    static func eucKRWeight(_ b: UInt8, _ t: UInt8) -> Int {
        guard t >= 0xA1 else { return 0 }             // UHC extension Hangul
        switch b {
        case 0xB0...0xC8: return 3                    // KS X 1001 Hangul
        case 0xCA...0xFD: return 1                    // Hanja
        case 0xA1: return 2                           // punctuation
        case 0xA3: return fullWidthRow(t)
        case 0xA4: return 1                           // jamo
        case 0x81...0xA0: return 0                    // UHC extension Hangul
        default: return 0
        }
    }

    /// GB 2312 and KS X 1001 row 3, full-width ASCII: its punctuation (，！？：) is common in
    /// text, its letters and digits less so (and pairs of Cyrillic letters land there).
    static func fullWidthRow(_ t: UInt8) -> Int {
        switch t {
        case 0xB0...0xB9, 0xC1...0xDA, 0xE1...0xFA: return 1
        default: return 2
        }
    }

    /// How many characters of `text` are among the most frequent of the candidate's language.
    static func frequentCount(_ text: String, _ c: Candidate) -> Int {
        let set: Set<Unicode.Scalar>
        switch c {
        case .gbk: set = frequentSimplified
        case .big5: set = frequentTraditional
        case .eucKR: set = frequentHangul
        case .shiftJIS: return 0   // kana already decide
        }
        var k = 0
        for u in text.unicodeScalars where u.value >= 0x80 && set.contains(u) { k += 1 }
        return k
    }

    // Built on first use only: most messages never need them.
    static let frequentSimplified = Set(
        "的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年过发后作里用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心本前开但因只从想实日已请问题件附您谢客户服务单订货票费号码联系电话邮测试通知关议收查确认送回复产品价格公司合报告申".unicodeScalars)
    static let frequentTraditional = Set(
        "的一是不了在人有我他這個們中來上大為和國地到以說時要就出會可也你對生能而子那得於著下自之年過發後作裡用道行所然家種事成方多經麼去法學如都同現當沒動面起看定天分還進好小部其些主樣理心本前開但因只從想實日已請問題件附您謝客戶服務單訂貨票費號碼聯繫電話郵測試通知關議收查確認送回覆產品價格公司合報告申".unicodeScalars)
    static let frequentHangul = Set(
        "이다는의에하고를을가지기사한로서니요습세리있어대수도해시정자인아나보들제주은과라게여안녕문드합입우회전부확님께감메일상품번호발송결신청내용관련오늘참석것그저희립및으면십변경예약객센터담당처완료계좌금액원월날짜간연락소첨파견적".unicodeScalars)
}

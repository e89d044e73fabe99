/// A date from a Date header, as written (local time and its offset from UTC).
public struct MailDate: Sendable, Equatable {
    public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int
    /// Offset from UTC in minutes.
    public var offsetMinutes: Int

    /// ISO 8601, e.g. "2022-01-31T09:30:00+01:00".
    public var iso8601: String {
        func p(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
        }
        let off = offsetMinutes == 0 ? "Z"
            : (offsetMinutes < 0 ? "-" : "+") + p(abs(offsetMinutes) / 60, 2) + ":" + p(abs(offsetMinutes) % 60, 2)
        return "\(p(year, 4))-\(p(month, 2))-\(p(day, 2))T\(p(hour, 2)):\(p(minute, 2)):\(p(second, 2))\(off)"
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    public var epochSeconds: Int {
        // Days from civil (Howard Hinnant's algorithm).
        // Clamped, so that a date built by hand with a wild year cannot overflow.
        let year = min(max(self.year, 1), 9999), month = min(max(self.month, 1), 12)
        let day = min(max(self.day, 1), 31), hour = min(max(self.hour, 0), 23)
        let minute = min(max(self.minute, 0), 59), second = min(max(self.second, 0), 60)
        let offsetMinutes = min(max(self.offsetMinutes, -1440), 1440)
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        return days * 86400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60
    }
}

private let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
private let zoneNames: [String: Int] = [
    "ut": 0, "utc": 0, "gmt": 0, "z": 0, "est": -300, "edt": -240, "cst": -360, "cdt": -300,
    "mst": -420, "mdt": -360, "pst": -480, "pdt": -420, "cet": 60, "cest": 120, "bst": 60, "jst": 540,
]

/// Parses a Date header: an RFC 5322 date-time, leniently (obsolete zones, two-digit years,
/// missing seconds, missing day name, extra comments, "-" separators, month and day swapped
/// order, asctime), else a numeric date that has one reading (see `parseNumericDate`).
public func parseMailDate(_ text: String) -> MailDate? {
    parseTextualDate(text) ?? parseNumericDate(text)
}

/// A date with a month name.
private func parseTextualDate(_ text: String) -> MailDate? {
    var tokens: [String] = []
    var cur = ""
    var depth = 0
    for ch in text.asciiLowercased {
        if ch == "(" { depth += 1; if !cur.isEmpty { tokens.append(cur); cur = "" }; continue }
        if ch == ")" { depth = max(0, depth - 1); continue }
        if depth > 0 { continue }
        if ch == " " || ch == "\t" || ch == "," || ch == "\r" || ch == "\n" || ch == "\r\n" {
            if !cur.isEmpty { tokens.append(cur); cur = "" }
        } else if ch == "-" && !cur.isEmpty && cur.allSatisfy({ $0.isLetter || $0.isNumber }) && !cur.contains(":")
                    && tokens.count < 4 && !(cur.first!.isNumber && cur.count == 4 && tokens.count >= 2) {
            tokens.append(cur); cur = ""
        } else {
            cur.append(ch)
        }
    }
    if !cur.isEmpty { tokens.append(cur) }

    var day: Int?, month: Int?, year: Int?, h: Int?, m: Int?, s = 0, off: Int?, meridiem: String?
    for t in tokens {
        if let sign = t.first, sign == "+" || sign == "-", t.contains(":") {
            // An ISO 8601 offset ("+01:00"), not a time of day.
            let parts = t.dropFirst().split(separator: ":", omittingEmptySubsequences: false)
            if off == nil, parts.count == 2, parts[0].count == 2, parts[1].count == 2, let oh = Int(parts[0]), let om = Int(parts[1]) {
                off = (sign == "-" ? -1 : 1) * (oh * 60 + om)
            }
        } else if t.contains(":") {
            let parts = t.split(separator: ":").map { Int($0) }
            guard parts.count >= 2, let hh = parts[0], let mm = parts[1] else { continue }
            h = hh; m = mm
            if parts.count >= 3, let ss = parts[2] { s = ss }
        } else if let mi = monthNames.firstIndex(where: { t.hasPrefix($0) }), month == nil, t.first!.isLetter {
            month = mi + 1
        } else if (t.hasPrefix("+") || t.hasPrefix("-")), t.count >= 5, let v = Int(t.dropFirst().prefix(4)) {
            let sign = t.hasPrefix("-") ? -1 : 1
            off = sign * ((v / 100) * 60 + v % 100)
        } else if let v = Int(t) {
            // A day may be zero-padded to three digits ("029").
            if day == nil && (t.count <= 2 || t.count == 3 && t.first == "0") && v >= 1 && v <= 31 { day = v }
            else if year == nil { year = v }
        } else if let z = zoneNames[t], off == nil {
            off = z
        } else if t == "am" || t == "pm" {
            meridiem = t
        }
    }
    guard let d = day, let mo = month, var y = year, var hh = h, let mm = m else { return nil }
    if let mer = meridiem { hh = twelveHour(hh, mer) }
    if y < 50 { y += 2000 } else if y < 1000 { y += 1900 }
    // Years outside 1-9999 are garbage (and would overflow the epoch arithmetic).
    guard (0..<24).contains(hh), (0..<60).contains(mm), (0...60).contains(s), (1...31).contains(d), (1...9999).contains(y) else { return nil }
    return MailDate(year: y, month: mo, day: d, hour: hh, minute: mm, second: min(s, 59), offsetMinutes: off ?? 0)
}

/// "1:17 pm" is 13:17, "12:05 am" is 00:05; an hour already on the 24-hour clock stays.
private func twelveHour(_ h: Int, _ meridiem: String) -> Int {
    (1...12).contains(h) ? h % 12 + (meridiem == "pm" ? 12 : 0) : h
}

private let dayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

/// A numeric date that only one reading fits, with a time: year first ("2012-12-08 00:48",
/// ISO 8601 with "T", seconds, fractions, "Z" or an offset), or year last with the day and
/// month told apart by a value over 12 ("29-04-2017 23:34", "04/29/2017 23:34"; "04/05/2017"
/// is either and stays unread). The separator is "-", "/" or "."; no zone is UTC.
func parseNumericDate(_ text: String) -> MailDate? {
    var tokens: [[UInt8]] = []
    var cur: [UInt8] = []
    var depth = 0
    for c in text.utf8 {
        if depth > 0 || c == UInt8(ascii: "(") {
            if c == UInt8(ascii: "(") { depth += 1 } else if c == UInt8(ascii: ")") { depth -= 1 }
            continue
        }
        if Byte.isSpace(c) || c == UInt8(ascii: ",") {
            if !cur.isEmpty { tokens.append(cur); cur = [] }
        } else {
            cur.append(Byte.lower(c))
        }
    }
    if !cur.isEmpty { tokens.append(cur) }
    // An optional day name, then the date.
    var k = 0
    if k < tokens.count, let f = tokens[k].first, !isDigit(f) {
        guard tokens[k].count >= 3, dayNames.contains(String(decoding: tokens[k].prefix(3), as: UTF8.self)),
              tokens[k].allSatisfy({ $0 >= 97 && $0 <= 122 }) else { return nil }
        k += 1
    }
    guard k < tokens.count else { return nil }
    var dateToken = tokens[k][...]
    var timeToken: ArraySlice<UInt8>
    k += 1
    if let t = dateToken.firstIndex(of: UInt8(ascii: "t")) {
        timeToken = dateToken[(t + 1)...]
        dateToken = dateToken[..<t]
    } else {
        guard k < tokens.count else { return nil }
        timeToken = tokens[k][...]
        k += 1
    }
    guard let (y, mo, d) = numericDay(dateToken) else { return nil }
    // The time, and a zone written against it ("00:48:10Z", "00:48:10.25-05:00").
    var fields: [Int] = []
    var p = timeToken.startIndex
    while fields.count < 3 {
        var v = 0, n = 0
        while p < timeToken.endIndex, isDigit(timeToken[p]), n < 2 { v = v * 10 + Int(timeToken[p] - 48); n += 1; p += 1 }
        guard n > 0 else { return nil }
        fields.append(v)
        guard p < timeToken.endIndex, timeToken[p] == Byte.colon else { break }
        p += 1
    }
    guard fields.count >= 2 else { return nil }
    if fields.count == 3, p < timeToken.endIndex, timeToken[p] == UInt8(ascii: ".") {
        p += 1
        while p < timeToken.endIndex, isDigit(timeToken[p]) { p += 1 }
    }
    var off: Int? = nil
    if p < timeToken.endIndex {
        guard let z = zoneOffset(timeToken[p...]) else { return nil }
        off = z
    }
    var hour = fields[0]
    for t in tokens[k...] {
        if t == Array("am".utf8) || t == Array("pm".utf8) {
            hour = twelveHour(hour, String(decoding: t, as: UTF8.self))
        } else if off == nil, let z = zoneOffset(t[...]) {
            off = z
        }
    }
    let minute = fields[1], second = fields.count == 3 ? fields[2] : 0
    guard (0..<24).contains(hour), (0..<60).contains(minute), (0...60).contains(second) else { return nil }
    return MailDate(year: y, month: mo, day: d, hour: hour, minute: minute, second: min(second, 59), offsetMinutes: off ?? 0)
}

@inline(__always) private func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

/// "2012-12-08", "29.04.2017", "04/29/2017" -> (year, month, day), when only one reading fits.
private func numericDay(_ t: ArraySlice<UInt8>) -> (Int, Int, Int)? {
    guard let sep = t.first(where: { !isDigit($0) }), sep == Byte.dash || sep == UInt8(ascii: "/") || sep == UInt8(ascii: ".") else {
        return nil
    }
    let parts = t.split(separator: sep, omittingEmptySubsequences: false)
    guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.count <= 4 && $0.allSatisfy(isDigit) }) else { return nil }
    let v = parts.map { $0.reduce(0) { $0 * 10 + Int($1 - 48) } }
    let y: Int, mo: Int, d: Int
    if parts[0].count == 4, parts[1].count <= 2, parts[2].count <= 2 {
        (y, mo, d) = (v[0], v[1], v[2])
    } else if parts[2].count == 4, parts[0].count <= 2, parts[1].count <= 2 {
        y = v[2]
        if v[0] == v[1] || v[1] <= 12 && v[0] > 12 {
            (d, mo) = (v[0], v[1])
        } else if v[0] <= 12 && v[1] > 12 {
            (mo, d) = (v[0], v[1])
        } else {
            return nil
        }
    } else {
        return nil
    }
    guard (1...9999).contains(y), (1...12).contains(mo), (1...31).contains(d) else { return nil }
    return (y, mo, d)
}

/// "z", "+0200", "-05:00", "+02", or a zone name.
private func zoneOffset(_ t: ArraySlice<UInt8>) -> Int? {
    guard let sign = t.first else { return nil }
    if sign == UInt8(ascii: "+") || sign == Byte.dash {
        let digits = t.dropFirst().filter { $0 != Byte.colon }
        guard digits.count == 4 || digits.count == 2, digits.allSatisfy(isDigit),
              t.dropFirst().count == digits.count || (t.count == 6 && t[t.startIndex + 3] == Byte.colon) else { return nil }
        let v = digits.reduce(0) { $0 * 10 + Int($1 - 48) }
        let (oh, om) = digits.count == 4 ? (v / 100, v % 100) : (v, 0)
        guard oh < 24, om < 60 else { return nil }
        return (sign == Byte.dash ? -1 : 1) * (oh * 60 + om)
    }
    return zoneNames[String(decoding: t, as: UTF8.self)]
}

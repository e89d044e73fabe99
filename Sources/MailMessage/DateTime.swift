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

/// Parses an RFC 5322 date-time, leniently (obsolete zones, two-digit years, missing seconds,
/// missing day name, extra comments, "-" separators, month and day swapped order).
public func parseMailDate(_ text: String) -> MailDate? {
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

    var day: Int?, month: Int?, year: Int?, h: Int?, m: Int?, s = 0, off: Int?
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
            if day == nil && t.count <= 2 && v >= 1 && v <= 31 { day = v }
            else if year == nil { year = v }
        } else if let z = zoneNames[t], off == nil {
            off = z
        }
    }
    guard let d = day, let mo = month, var y = year, let hh = h, let mm = m else { return nil }
    if y < 50 { y += 2000 } else if y < 1000 { y += 1900 }
    // Years outside 1-9999 are garbage (and would overflow the epoch arithmetic).
    guard (0..<24).contains(hh), (0..<60).contains(mm), (0...60).contains(s), (1...31).contains(d), (1...9999).contains(y) else { return nil }
    return MailDate(year: y, month: mo, day: d, hour: hh, minute: mm, second: min(s, 59), offsetMinutes: off ?? 0)
}

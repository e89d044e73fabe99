/// Whether `--db` (or WT_DB) names a PostgreSQL database (a libpq URI) rather than a
/// SQLite file.
public func isPostgresURL(_ s: String) -> Bool {
    s.hasPrefix("postgresql://") || s.hasPrefix("postgres://")
}

/// `s` with any password in it replaced by "(password)": the user-info part of a URI
/// ("postgresql://user:secret@host") and a `password=` parameter, in a URI's query or a
/// keyword/value string. Nothing that names a database is printed or logged unredacted.
public func redactPassword(in s: String) -> String {
    var out = Substring(s)
    var result = ""
    // user:password@ in a URI's authority.
    if let scheme = out.firstRange(of: "://") {
        result += out[..<scheme.upperBound]
        out = out[scheme.upperBound...]
        let authorityEnd = out.firstIndex { $0 == "/" || $0 == "?" } ?? out.endIndex
        let authority = out[..<authorityEnd]
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            if let colon = userInfo.firstIndex(of: ":") {
                result += userInfo[..<colon] + ":(password)"
            } else {
                result += userInfo
            }
            result += authority[at...]
        } else {
            result += authority
        }
        out = out[authorityEnd...]
    }
    // password=... up to the next '&' or space (or the closing quote), anywhere after.
    var rest = Substring(out)
    while let r = rest.firstRange(of: "password=") {
        let before = r.lowerBound == rest.startIndex ? nil : rest[rest.index(before: r.lowerBound)]
        result += rest[..<r.upperBound]
        rest = rest[r.upperBound...]
        guard before == nil || before == "?" || before == "&" || before == " " else { continue }
        var end = rest.startIndex
        if end < rest.endIndex, rest[end] == "'" {
            end = rest.index(after: end)
            while end < rest.endIndex, rest[end] != "'" {
                end = rest[end] == "\\" && rest.index(after: end) < rest.endIndex ? rest.index(end, offsetBy: 2) : rest.index(after: end)
            }
            if end < rest.endIndex { end = rest.index(after: end) }
        } else {
            while end < rest.endIndex, rest[end] != "&", rest[end] != " " { end = rest.index(after: end) }
        }
        result += "(password)"
        rest = rest[end...]
    }
    return result + rest
}

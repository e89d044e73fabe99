public import MailMessage

/// Our own Message-IDs: `wt-TICKET-EVENT-TAG@DOMAIN`, where TAG is an HMAC-SHA256 of the
/// ticket and event numbers under a key the database makes and never shows. A reply naming
/// one is filed into its ticket without a lookup, and nobody without the key can make one
/// up to file mail into someone else's ticket.
public enum NotificationID {
    static let tagBytes = 12

    /// The Message-ID (without angle brackets) of a notification about `event` of `ticket`.
    public static func make(ticket: Int64, event: Int64, key: [UInt8], domain: String) -> String {
        "wt-\(ticket)-\(event)-\(tag(ticket: ticket, event: event, key: key))@\(domain)"
    }

    /// The ticket and event a Message-ID of ours names, when its tag is right; nil for any
    /// other Message-ID.
    public static func verify(_ id: String, key: [UInt8]) -> (ticket: Int64, event: Int64)? {
        guard !key.isEmpty, id.utf8.count < 200, id.hasPrefix("wt-"), let at = id.firstIndex(of: "@") else { return nil }
        let parts = id[id.index(id.startIndex, offsetBy: 3)..<at].split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, let ticket = Int64(parts[0]), let event = Int64(parts[1]), ticket > 0, event >= 0 else { return nil }
        let expected = Array(tag(ticket: ticket, event: event, key: key).utf8)
        let given = Array(parts[2].utf8)
        guard given.count == expected.count else { return nil }
        // Constant time: how much of a guess was right must not show in the time taken.
        var diff: UInt8 = 0
        for i in 0..<given.count { diff |= given[i] ^ expected[i] }
        return diff == 0 ? (ticket, event) : nil
    }

    static func tag(ticket: Int64, event: Int64, key: [UInt8]) -> String {
        let mac = hmacSHA256(key: key, message: Array("\(ticket).\(event)".utf8))
        return SHA256.hex(Array(mac.prefix(tagBytes)))
    }
}

/// HMAC-SHA256 (RFC 2104).
func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
    var k = key
    if k.count > 64 {
        var h = SHA256()
        h.update(k)
        k = h.finalize()
    }
    k += [UInt8](repeating: 0, count: 64 - k.count)
    var inner = SHA256()
    inner.update(k.map { $0 ^ 0x36 } + message)
    var outer = SHA256()
    outer.update(k.map { $0 ^ 0x5C } + inner.finalize())
    return outer.finalize()
}

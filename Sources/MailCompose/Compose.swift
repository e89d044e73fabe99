// Placeholder of the composer API (replaced by the real implementation on merge).
public struct MailAddress: Sendable, Equatable {
    public var name: String?
    public var address: String
    public init(name: String?, address: String) { self.name = name; self.address = address }
}
public struct OutgoingMail: Sendable {
    public var from: MailAddress
    public var to: [MailAddress]
    public var subject: String
    public var messageID: String
    public var inReplyTo: String?
    public var references: [String]
    public var date: Int64
    public var text: String
    public var html: String?
    public var headers: [(name: String, value: String)]
    public init(from: MailAddress, to: [MailAddress], subject: String, messageID: String, inReplyTo: String? = nil,
                references: [String] = [], date: Int64, text: String, html: String? = nil, headers: [(name: String, value: String)] = []) {
        self.from = from; self.to = to; self.subject = subject; self.messageID = messageID; self.inReplyTo = inReplyTo
        self.references = references; self.date = date; self.text = text; self.html = html; self.headers = headers
    }
}
public struct ComposeError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
public func compose(_ mail: OutgoingMail) throws(ComposeError) -> [UInt8] {
    var s = "From: \(mail.from.address)\r\nTo: \(mail.to.map(\.address).joined(separator: ", "))\r\nSubject: \(headerText(mail.subject))\r\n"
    s += "Message-ID: <\(mail.messageID)>\r\n"
    if let r = mail.inReplyTo { s += "In-Reply-To: <\(r)>\r\n" }
    for (n, v) in mail.headers { s += "\(n): \(headerText(v))\r\n" }
    s += "\r\n" + mail.text.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n"
    return Array(s.utf8)
}
public func htmlEscape(_ s: String) -> String { s }
public func headerText(_ s: String) -> String { String(s.map { $0 == "\n" || $0 == "\r" || $0 == "\r\n" ? " " : $0 }) }
extension String {
    func replacingOccurrences(of a: String, with b: String) -> String {
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: a) { out += rest[..<r.lowerBound]; out += b; rest = rest[r.upperBound...] }
        return out + rest
    }
}

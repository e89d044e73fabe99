// Placeholder of the conversation API (replaced by the real implementation on merge).
public struct DSNRecipient: Sendable, Equatable {
    public var address: String
    public var action: String
    public var status: String?
    public var diagnostic: String?
}
public struct DeliveryStatusReport: Sendable, Equatable {
    public var recipients: [DSNRecipient]
    public var originalMessageIDs: [String]
    public var form: String
    public var failedRecipients: [String] { recipients.filter { $0.action == "failed" }.map(\.address) }
}
public struct AuthenticationResults: Sendable, Equatable {
    public struct Result: Sendable, Equatable {
        public var method: String
        public var result: String
        public var properties: [String: String]
    }
    public var authservID: String
    public var results: [Result]
    public func dmarc(forDomain domain: String) -> String? { nil }
}
extension Message {
    public func deliveryStatusReport() -> DeliveryStatusReport? { nil }
    public func authenticationResults() -> [AuthenticationResults] { [] }
    public func automaticMarkers() -> [String] {
        var r: [String] = []
        let h = headers
        if let a = h.text("auto-submitted")?.lowercased(), !a.hasPrefix("no") { r.append("Auto-Submitted: \(a)") }
        if let p = h.text("precedence")?.lowercased(), ["bulk", "junk", "list"].contains(p) { r.append("Precedence: \(p)") }
        if h.first("list-id") != nil { r.append("List-Id") }
        if h.first("x-auto-response-suppress") != nil { r.append("X-Auto-Response-Suppress") }
        let local = (from.first?.address ?? "").lowercased().split(separator: "@").first.map(String.init) ?? ""
        if local == "mailer-daemon" || local == "postmaster" { r.append("From: \(local)") }
        return r
    }
    public func spamMarkers() -> [String] { [] }
}
public func quotedTextOffset(_ text: String) -> Int? { nil }

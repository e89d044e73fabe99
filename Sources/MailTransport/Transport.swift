// Placeholder of the transport API (replaced by the real implementation on merge).
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable { case temporary, permanent }
    public var kind: Kind
    public var message: String
    public var smtpCode: Int?
    public var description: String { message }
    public init(kind: Kind, message: String, smtpCode: Int? = nil) { self.kind = kind; self.message = message; self.smtpCode = smtpCode }
}
public protocol MailTransport: AnyObject {
    func send(_ message: [UInt8], from sender: String, to recipients: [String]) throws(TransportError)
    func close()
}
public final class SendmailTransport: MailTransport {
    public init(path: String = "/usr/sbin/sendmail", timeoutSeconds: Int = 120) {}
    public func send(_ message: [UInt8], from sender: String, to recipients: [String]) throws(TransportError) {
        throw TransportError(kind: .temporary, message: "not built yet", smtpCode: nil)
    }
    public func close() {}
}
public struct SMTPSettings: Sendable {
    public enum Security: String, Sendable { case startTLS = "starttls", implicitTLS = "tls", none = "none" }
    public var host: String
    public var port: Int
    public var security: Security
    public var user: String?
    public var password: String?
    public var caFile: String?
    public var timeoutSeconds: Int
    public var heloName: String?
    public init(host: String, port: Int = 587, security: Security? = nil, user: String? = nil, password: String? = nil, caFile: String? = nil,
                timeoutSeconds: Int = 60, heloName: String? = nil) {
        self.host = host; self.port = port; self.security = security ?? (port == 465 ? .implicitTLS : .startTLS); self.user = user
        self.password = password; self.caFile = caFile; self.timeoutSeconds = timeoutSeconds; self.heloName = heloName
    }
}
public final class SMTPTransport: MailTransport {
    public init(_ settings: SMTPSettings) throws(TransportError) {}
    public func send(_ message: [UInt8], from sender: String, to recipients: [String]) throws(TransportError) {
        throw TransportError(kind: .temporary, message: "not built yet", smtpCode: nil)
    }
    public func close() {}
}

#if canImport(Glibc)
import Glibc
#endif
public import Logging

/// Log lines to syslog (facility mail), and to stderr for a person who asked with --verbose.
/// Message content never goes to the log: only ids, sizes and outcomes.
public struct SyslogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let toStderr: Bool
    let identifier: String

    public init(identifier: String, toStderr: Bool) {
        self.toStderr = toStderr
        self.identifier = identifier
        SyslogHandler.open(identifier)
    }

    nonisolated(unsafe) private static var opened = false
    nonisolated(unsafe) private static var ident: UnsafeMutablePointer<CChar>? = nil

    private static func open(_ identifier: String) {
        if opened { return }
        opened = true
        ident = strdup(identifier)  // openlog keeps the pointer
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        var all = metadata
        if let extra { all.merge(extra) { $1 } }
        // The message is ours, but may quote an error that quotes input: escaped as values are.
        var text = message.description.split(separator: " ", omittingEmptySubsequences: false).map { logSafe(String($0)) }.joined(separator: " ")
        if !all.isEmpty {
            text += " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\(logSafe("\($0.value)"))" }.joined(separator: " ")
        }
        let priority: Int32
        switch level {
        case .trace, .debug: priority = LOG_DEBUG
        case .info, .notice: priority = LOG_INFO
        case .warning: priority = LOG_WARNING
        case .error: priority = LOG_ERR
        case .critical: priority = LOG_CRIT
        }
        text.withCString { c in withVaList([c]) { vsyslog(priority, "%s", $0) } }
        // The program's name first, so no line can start with an SMTP status code.
        if toStderr { writeErr("\(identifier): \(text)\n") }
    }
}

public import Delivery
public import Logging
public import MailCompose
public import MailTransport
public import TicketStore

/// A setting the notifier cannot work with.
public struct SettingsError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// What one pass did.
public struct NotifyReport: Sendable, Equatable {
    public var expanded = 0
    public var sent = 0
    /// Temporary failures, queued again with a later attempt.
    public var retried = 0
    /// Permanent failures, kept for `wt-admin outbox`.
    public var failed = 0
    public var held = 0
    public var suppressed = 0
    public init() {}
}

/// Turns queued ticket events into mails and sends them. Several notifiers may run at once
/// (on several hosts with a shared store): each claims mails with a lease, so none is sent
/// twice unless a notifier dies between sending and recording it, and then again with the
/// same Message-ID.
public final class Notifier {
    public let store: SQLStore
    public let logger: Logger
    public let worker: String
    public var lease: Int64 = 300
    public var batch = 50
    /// Checked between mails: true stops the pass (SIGTERM).
    public var shouldStop: () -> Bool = { false }
    /// Told after each mail (progress for a person at a terminal).
    public var onProgress: (NotifyReport) -> Void = { _ in }
    public var clock: () -> Int64
    let makeTransport: (Configuration) throws -> any MailTransport
    private var transport: (any MailTransport)?

    public init(store: SQLStore, logger: Logger, worker: String, clock: @escaping () -> Int64,
                makeTransport: @escaping (Configuration) throws -> any MailTransport = Notifier.transport(for:)) {
        self.store = store
        self.logger = logger
        self.worker = worker
        self.clock = clock
        self.makeTransport = makeTransport
    }

    /// The transport the settings name: SMTP when smtp_server is set, else sendmail.
    public static func transport(for config: Configuration) throws -> any MailTransport {
        guard let host = config.setting("smtp_server"), !host.isEmpty else {
            return SendmailTransport(path: config.setting("sendmail_path").flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/sbin/sendmail")
        }
        let port = Int(config.setting("smtp_port") ?? "") ?? 587
        let security = config.setting("smtp_security").flatMap { SMTPSettings.Security(rawValue: $0) }
        var user: String? = nil, password: String? = nil
        if config.flag("smtp_requires_auth") {
            user = config.setting("smtp_user")
            do { password = try config.secret("smtp_password") } catch {
                throw SettingsError(message: "cannot read the SMTP password: \(error)")
            }
        }
        let ca = config.setting("smtp_ca_file").flatMap { $0.isEmpty ? nil : $0 }
        let helo = (config.setting("from_email") ?? "").split(separator: "@").last.map(String.init)
        return try SMTPTransport(SMTPSettings(host: host, port: port, security: security, user: user, password: password, caFile: ca,
                                              heloName: helo))
    }

    /// One pass: every queued event expanded into its mails, then every due mail sent.
    public func runOnce() throws -> NotifyReport {
        var report = NotifyReport()
        defer { transport?.close(); transport = nil }
        try expandAll(&report)
        while !shouldStop() {
            let jobs = try store.claimNotifications(worker: worker, now: clock(), lease: lease, limit: batch)
            if jobs.isEmpty { break }
            let config = try store.configuration()
            for (i, job) in jobs.enumerated() {
                if shouldStop() {
                    for rest in jobs[i...] { try store.release(rest.id) }
                    return report
                }
                try send(job, config: config, &report)
                onProgress(report)
            }
        }
        return report
    }

    func expandAll(_ report: inout NotifyReport) throws {
        while !shouldStop() {
            let entries = try store.unexpandedOutbox(limit: 200)
            if entries.isEmpty { return }
            let config = try store.configuration()
            let key = try store.messageIDKey()
            let domain = Self.domain(config)
            for e in entries {
                let now = clock()
                let planned = try store.expand(e, now: now, plan: { facts in
                    try NotificationPolicy.recipients(kind: e.kind, facts: facts, config: config, bouncing: { try self.store.isBouncing($0) },
                                                      counts: { try self.store.mailCounts(address: $0, ticket: e.ticket, event: e.event, now: now) })
                }, messageID: { id in NotificationID.make(ticket: e.ticket, event: id, key: key, domain: domain) })
                report.expanded += 1
                for p in planned where p.state != "queued" {
                    if p.state == "held" { report.held += 1 } else { report.suppressed += 1 }
                    logger.notice("not sent", metadata: ["ticket": "\(e.ticket)", "to": "\(p.address)", "state": "\(p.state)", "reason": "\(p.reason)"])
                }
            }
        }
    }

    static func domain(_ config: Configuration) -> String {
        let from = config.setting("from_email") ?? ""
        return from.split(separator: "@").last.map(String.init) ?? "localhost"
    }

    /// Retry after 1, 2, 4... minutes, at most 6 hours apart; after 3 days, failed for good.
    static func retryDelay(attempts: Int) -> Int64 { min(60 << min(attempts, 20), 6 * 3600) }
    static let giveUpAfterAttempts = 20

    private func send(_ job: NotificationRow, config: Configuration, _ report: inout NotifyReport) throws {
        let now = clock()
        guard let ticket = try store.ticket(number: job.ticket) else {
            try store.markFailed(job.id, error: "ticket \(job.ticket) no longer exists", retryAt: nil, now: now)
            report.failed += 1
            return
        }
        let event = ticket.events.first { $0.id == job.event }
        let rendered = NotificationRenderer.render(kind: job.kind, ticket: ticket, event: event, config: config)
        let fromAddress = config.setting("from_email") ?? "servicedesk@localhost"
        var from = MailAddress(name: config.setting("display_name"), address: fromAddress)
        // Answer from the helpdesk address the ticket came in at, when its type receives for it.
        if let r = ticket.recipient, let type = config.ticketTypes.first(where: { $0.name == ticket.summary.ticketType }),
           type.addresses.contains(where: { $0.lowercased() == r.lowercased() }) {
            from.address = r
        }
        let original = ticket.events.first?.messageID
        var references: [String] = []
        for id in [original, event?.messageID].compactMap({ $0 }) where !references.contains(id) { references.append(id) }
        let mail = OutgoingMail(from: from, to: [MailAddress(name: nil, address: job.address)], subject: rendered.subject,
                                messageID: job.messageID, inReplyTo: event?.messageID ?? original, references: references, date: now,
                                text: rendered.text, html: rendered.html,
                                headers: [("Auto-Submitted", "auto-generated"), ("Precedence", "bulk"), ("X-Loop", fromAddress)])
        let bytes: [UInt8]
        do {
            bytes = try compose(mail)
        } catch {
            try store.markFailed(job.id, error: "cannot write the mail: \(error)", retryAt: nil, now: now)
            report.failed += 1
            logger.error("failed", metadata: meta(job, ["error": "\(error)"]))
            return
        }
        do {
            if transport == nil { transport = try makeTransport(config) }
            try transport!.send(bytes, from: fromAddress, to: [job.address])
        } catch {
            transport?.close()
            transport = nil
            // Anything but a permanent refusal keeps the mail queued: a wrong password or a
            // certificate that does not verify is for an administrator to fix, not a reason to lose it.
            let permanent = (error as? TransportError)?.kind == .permanent
            let message = (error as? TransportError)?.message ?? "\(error)"
            if permanent || job.attempts + 1 >= Self.giveUpAfterAttempts {
                try store.markFailed(job.id, error: message, retryAt: nil, now: clock())
                report.failed += 1
                logger.error("failed", metadata: meta(job, ["error": "\(message)"]))
            } else {
                let at = clock() + Self.retryDelay(attempts: job.attempts)
                try store.markFailed(job.id, error: message, retryAt: at, now: clock())
                report.retried += 1
                logger.warning("deferred", metadata: meta(job, ["error": "\(message)", "retry-in": "\(at - clock())s"]))
            }
            return
        }
        try store.markSent(job.id, worker: worker, now: clock())
        report.sent += 1
        logger.info("sent", metadata: meta(job, [:]))
    }

    private func meta(_ job: NotificationRow, _ extra: Logger.Metadata) -> Logger.Metadata {
        var m: Logger.Metadata = ["notification": "\(job.id)", "ticket": "\(job.ticket)", "kind": "\(job.kind)", "to": "\(job.address)",
                                  "message-id": "<\(job.messageID)>"]
        m.merge(extra) { $1 }
        return m
    }
}

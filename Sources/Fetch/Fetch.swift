// POP3 fetch mode: for sites that cannot pipe mail into a program. Each message is delivered
// exactly as standard input is (the same Deliverer, rules, conversations and delivery key),
// and marked for deletion only after its ticket is committed. The server deletes at QUIT, so
// a pass cut short at any instant deletes nothing unprocessed; what it had delivered comes
// back next pass as the same bytes, and the delivery key makes that a duplicate, not a second
// ticket.
#if canImport(Glibc)
import Glibc
#endif
import CLIKit
public import DeliverCLI
import Delivery
import Logging
import MailMessage
import MailTransport
import TicketStore

/// Set by SIGTERM, SIGINT and SIGHUP: finish the message in hand, QUIT, stop.
nonisolated(unsafe) private var stopRequested: sig_atomic_t = 0

public struct FetchCommand {
    let command: Deliver
    /// Deliveries failing in a row before a pass gives up (the database is down, say).
    static let failuresInARowToStop = 3
    /// Failed attempts after which a message is reported as one that keeps failing.
    static let attemptsToReport = 5

    public init(_ command: Deliver) { self.command = command }

    struct Settings {
        var pop: POP3Settings
        var recipient: String?
        var mailbox: String
    }

    struct PassResult {
        var onServer = 0
        var delivered = 0
        var duplicates = 0
        var failed = 0
        var left = 0
        var keptFromBefore = 0
        /// Whether the mailbox was listed at all.
        var reached = false
        var error: String?
        var complete: Bool { error == nil && left == 0 }
    }

    struct ConfigError: Error { let message: String }

    public func run() -> Int32 {
        let handler: @convention(c) (Int32) -> Void = { _ in stopRequested = 1 }
        signal(SIGTERM, handler)
        signal(SIGINT, handler)
        signal(SIGHUP, handler)
        signal(SIGPIPE, SIG_IGN)
        var logger = Logger(label: "wt-deliver") { _ in SyslogHandler(identifier: "wt-deliver", toStderr: command.verbose) }
        logger.logLevel = .info

        let store: any TicketStore
        do {
            // A lock held longer than this is not a moment's contention: the pass stops and the next one tries again.
            store = try command.openStore(busyTimeoutMilliseconds: 10_000)
        } catch {
            return fail(logger, "cannot open the database \(redactedDatabase(command.databasePath)): \(error)", status: Exit.tempFail)
        }
        guard let ledger = store as? any POPLedger else {
            return fail(logger, "this database cannot remember POP3 messages", status: Exit.tempFail)
        }
        var passes = 0
        while true {
            let settings: Settings
            do {
                settings = try resolve(try store.configuration())
            } catch let e as ConfigError {
                return fail(logger, e.message, status: 78)
            } catch {
                return fail(logger, "cannot read the settings: \(error)", status: Exit.tempFail)
            }
            let r = pass(settings, store: store, ledger: ledger, logger: logger)
            passes += 1
            let summary = !r.reached ? "pop \(settings.pop.endpoint): nothing fetched, the mailbox is as it was"
                : "pop \(settings.pop.endpoint): \(r.onServer) messages on the server, \(r.delivered) delivered, "
                    + "\(r.duplicates) duplicates, \(r.failed) failed, \(r.left) left"
                    + (command.keep ? ", \(r.keptFromBefore) taken before" : "")
            if let e = r.error {
                logger.error("\(e)", metadata: ["pop": "\(settings.pop.endpoint)"])
                writeErr("wt-deliver: pop \(settings.pop.endpoint): \(e)\n")
            }
            let quiet = command.interval != nil && r.error == nil && r.delivered + r.duplicates + r.failed == 0
            if !quiet {
                logger.info("\(summary)")
                writeOut(Array((summary + "\n").utf8))
            }
            guard let interval = command.interval else { return r.complete ? Exit.ok : Exit.tempFail }
            if stopRequested != 0 { return Exit.ok }
            // Sleep in steps so that SIGTERM ends the wait at once.
            let until = monotonicMilliseconds() + Int64(interval) * 1000
            while stopRequested == 0 && monotonicMilliseconds() < until { usleep(100_000) }
            if stopRequested != 0 { return Exit.ok }
        }
    }

    private func fail(_ logger: Logger, _ message: String, status: Int32) -> Int32 {
        logger.error("\(message)")
        writeErr("wt-deliver: \(message)\n")
        return status
    }

    /// Options first, then the database's settings.
    func resolve(_ config: Configuration) throws -> Settings {
        func setting(_ key: String) -> String? {
            guard let v = config.setting(key), !v.isEmpty else { return nil }
            return v
        }
        guard let hostText = command.popHost ?? setting("pop_host") else {
            throw ConfigError(message: "no POP3 server: set pop_host (wt-admin settings set pop_host HOST) or give --pop-host")
        }
        guard let parsed = POP3Settings.parseHost(hostText) else {
            throw ConfigError(message: "the POP3 host \"\(hostText)\" is not host, host:port, pop3s://host or pop3://host")
        }
        guard let user = command.popUser ?? setting("pop_user") else {
            throw ConfigError(message: "no POP3 user: set pop_user (wt-admin settings set pop_user NAME) or give --pop-user")
        }
        var security = POP3Settings.Security.implicitTLS
        if let s = command.popSecurity ?? setting("pop_security") {
            guard let v = POP3Settings.Security(rawValue: s) else { throw ConfigError(message: "pop_security \"\(s)\" is not tls, starttls or none") }
            security = v
        }
        // A URL's scheme says what it means, unless an option says otherwise.
        if command.popSecurity == nil, let implied = parsed.security, !(implied == .startTLS && security == .none) { security = implied }
        if parsed.security == .implicitTLS && security != .implicitTLS {
            throw ConfigError(message: "pop3s:// is implicit TLS, but the security asked for is \(security.rawValue)")
        }
        let password: String
        do {
            if let file = command.popPasswordFile { password = try SecretFile.read(file) } else { password = try config.secret("pop_password") }
        } catch {
            throw ConfigError(message: "cannot read the POP3 password: \(error)")
        }
        let ca = command.popCAFile ?? setting("pop_ca_file")
        var pop = POP3Settings(host: parsed.host, port: parsed.port, security: security, user: user, password: password, caFile: ca,
                               timeoutSeconds: command.popTimeout)
        pop.maxMessageBytes = 64 << 20
        let recipient = command.recipient ?? setting("pop_address") ?? (user.contains("@") ? user : nil)
        return Settings(pop: pop, recipient: recipient, mailbox: "\(user)@\(pop.endpoint)")
    }

    func pass(_ s: Settings, store: any TicketStore, ledger: any POPLedger, logger: Logger) -> PassResult {
        var r = PassResult()
        let client: POP3Client
        let list: [POP3Client.Listing]
        do {
            client = try POP3Client(s.pop)
            list = try client.listing()
        } catch {
            r.error = error.message
            return r
        }
        r.onServer = list.count
        r.reached = true
        let records: [String: POPRecord]
        do {
            records = try ledger.popRecords(mailbox: s.mailbox)
        } catch {
            client.abandon()
            r.error = "cannot read the database: \(error)"
            r.left = list.count
            return r
        }
        let deliverer = Deliverer(store: store, logger: logger)
        var progress = Progress()
        var marked = 0
        var failuresInARow = 0
        var sessionLost = false
        for (i, m) in list.enumerated() {
            progress.update("pop \(s.pop.endpoint): \(i) of \(list.count) messages")
            if stopRequested != 0 {
                r.error = "stopped by a signal"
                r.left += list.count - i
                break
            }
            let known = records[m.uidl]
            if command.keep, known?.state == .delivered {
                r.keptFromBefore += 1
                continue
            }
            func failed(_ message: String) {
                r.failed += 1
                r.left += 1
                let attempts = (try? ledger.recordPOPFailure(mailbox: s.mailbox, uidl: m.uidl, error: message, now: Int64(time(nil)))) ?? 0
                let meta: Logger.Metadata = ["uidl": "\(m.uidl)", "size": "\(m.size)", "attempts": "\(attempts)"]
                if attempts >= Self.attemptsToReport {
                    logger.critical("a message keeps failing and stays on the server (see wt-admin pop list): \(message)", metadata: meta)
                } else {
                    logger.error("not delivered, left on the server for the next pass: \(message)", metadata: meta)
                }
            }
            if m.size > s.pop.maxMessageBytes {
                failed("the message is \(m.size) bytes, more than \(s.pop.maxMessageBytes)")
                continue
            }
            let raw: [UInt8]
            do {
                raw = try client.retrieve(m.number)
            } catch {
                if error.kind == .permanent { failed(error.message); continue }
                r.error = error.message
                r.left += list.count - i
                sessionLost = true
                break
            }
            let envelope = Envelope(sender: returnPath(raw), recipient: s.recipient, receivedAt: Int64(time(nil)))
            do {
                let report = try deliverer.deliver(ByteBuffer(raw), envelope: envelope)
                failuresInARow = 0
                if report.outcome.action == .duplicate { r.duplicates += 1 } else { r.delivered += 1 }
                var metadata = report.logMetadata
                metadata["uidl"] = "\(m.uidl)"
                logger.info("delivered", metadata: metadata)
            } catch let e as StoreError where e.isTransient {
                // The database, not this message: locked past its wait, full, unreadable. Every
                // other message would wait the same, and recording a failure would too.
                r.error = "the database is unavailable (\(e)); the rest is left for the next pass"
                r.left += list.count - i
                break
            } catch {
                failed("\(error)")
                failuresInARow += 1
                if failuresInARow >= Self.failuresInARowToStop {
                    r.error = "\(failuresInARow) deliveries in a row failed (\(error)); the rest is left for the next pass"
                    r.left += list.count - i - 1
                    break
                }
                continue
            }
            if command.keep || known != nil {
                let key = Deliverer.deliveryKey(raw: raw.withUnsafeBufferPointer { $0 }, recipient: s.recipient).key
                try? ledger.recordPOPDelivered(mailbox: s.mailbox, uidl: m.uidl, key: key, now: Int64(time(nil)))
            }
            if command.keep { continue }
            do {
                try client.delete(m.number)
                marked += 1
            } catch {
                r.error = error.message
                r.left += list.count - i
                sessionLost = true
                break
            }
        }
        progress.done()
        if sessionLost {
            client.abandon()
            r.left += marked
        } else {
            do {
                try client.quit()
            } catch {
                // Without the server's word, nothing marked counts as deleted.
                r.error = r.error ?? "QUIT failed, so the server may not have deleted what was delivered: \(error.message)"
                r.left += marked
            }
        }
        // Ids no longer on the server are forgotten (the server may reuse them).
        try? ledger.forgetPOP(mailbox: s.mailbox, keeping: Set(list.map(\.uidl)))
        return r
    }
}

/// The Return-Path the final MTA wrote: the envelope sender, "" for a bounce; nil without one.
func returnPath(_ raw: [UInt8]) -> String? {
    let name = Array("return-path:".utf8)
    var i = 0
    let n = min(raw.count, 256 * 1024)
    while i < n {
        // i is at the start of a line.
        if raw[i] == 0x0A || (raw[i] == 0x0D && i + 1 < n && raw[i + 1] == 0x0A) { return nil }  // end of the header
        var lineEnd = i
        while lineEnd < n && raw[lineEnd] != 0x0A { lineEnd += 1 }
        if lineEnd - i > name.count {
            var match = true
            for k in 0..<name.count where raw[i + k] | (raw[i + k] >= 0x41 && raw[i + k] <= 0x5A ? 0x20 : 0) != name[k] { match = false; break }
            if match {
                let value = raw[(i + name.count)..<lineEnd]
                guard let open = value.firstIndex(of: UInt8(ascii: "<")),
                      let close = value[open...].firstIndex(of: UInt8(ascii: ">")) else { return nil }
                let address = value[(open + 1)..<close]
                guard address.count <= 256, !address.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return nil }
                return String(decoding: address, as: UTF8.self)
            }
        }
        i = lineEnd + 1
    }
    return nil
}

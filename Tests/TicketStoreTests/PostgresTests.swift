import Foundation
import PostgresStore
import PostgresTestSupport
import Testing
@testable import TicketStore

/// Waits until `count` threads have arrived (or a few seconds went by), so that what they do
/// next overlaps.
final class Gate: @unchecked Sendable {
    private let condition = NSCondition()
    private var arrived = 0
    private let count: Int

    init(_ count: Int) { self.count = count }

    func arriveAndWait() {
        condition.lock()
        arrived += 1
        if arrived >= count { condition.broadcast() }
        let deadline = Date().addingTimeInterval(5)
        while arrived < count && condition.wait(until: deadline) {}
        condition.unlock()
    }
}

/// Runs `body(i)` on `n` threads at once and returns what each returned or threw.
func onThreads<T: Sendable>(_ n: Int, _ body: @escaping @Sendable (Int) throws -> T) -> [Result<T, any Error>] {
    let lock = NSLock()
    nonisolated(unsafe) var results = [Result<T, any Error>?](repeating: nil, count: n)
    DispatchQueue.concurrentPerform(iterations: n) { i in
        let r = Result { try body(i) }
        lock.lock()
        results[i] = r
        lock.unlock()
    }
    return results.map { $0! }
}

func deliverOnce(_ store: SQLStore, key: String, raw: String, gate: Gate? = nil,
                 plan makePlan: @escaping (Configuration, any ConversationLookup) throws -> DeliveryPlan) throws -> DeliveryOutcome {
    var first = true
    let bytes = Array(raw.utf8)
    return try bytes.withUnsafeBytes { b in
        try store.deliver(key: key, raw: b, rawSHA256: "digest",
                          envelope: Envelope(sender: "ann@example.org", recipient: "helpdesk@wt.test", receivedAt: 1_800_000_000)) { c, l in
            // Only the first run waits: a run after a conflict goes straight on.
            if first, let gate { first = false; gate.arriveAndWait() }
            return try makePlan(c, l)
        }
    }
}

@Suite struct PostgresStoreTests {
    // MARK: Exactly once across hosts

    @Test func oneMessageFromEightHostsAtOnceIsOneTicket() throws {
        let db = try postgresDatabase()
        _ = try PostgresStore(url: db.url, options: .init(migrate: true))
        let url = db.url
        let gate = Gate(8)
        let outcomes = onThreads(8) { _ in
            let store = try PostgresStore(url: url)
            return try deliverOnce(store, key: "same-key", raw: "the message", gate: gate) { _, _ in
                .newTicket(plan(address: "new.sender@example.org", name: "New"))
            }
        }
        let actions = try outcomes.map { try $0.get().action }
        #expect(actions.filter { $0 == .created }.count == 1)
        #expect(actions.filter { $0 == .duplicate }.count == 7)
        let store = try PostgresStore(url: url)
        #expect(try store.count(.tickets) == 1)
        #expect(try store.count(.deliveries) == 1)
        #expect(try store.count(.rawMessages) == 1)
        #expect(try store.count(.users) == 1)
        #expect(try store.db.scalar("SELECT redeliveries FROM deliveries")?.int == 7)
    }

    @Test func followUpsFromTwoHostsAtOnceAreBothKeptInOrder() throws {
        let db = try postgresDatabase()
        let first = try PostgresStore(url: db.url, options: .init(migrate: true))
        _ = try deliver(first, key: "k0")
        let url = db.url
        let gate = Gate(2)
        let outcomes = onThreads(2) { i in
            let store = try PostgresStore(url: url)
            let event = EventPlan(kind: "followup", authorAddress: "ann@example.org", authorName: "Ann", subject: "Re: \(i)",
                                  body: "more \(i)", quotedAt: nil, messageID: "f\(i)@example.org", flagged: false, detail: "",
                                  reasons: [], attachments: [], automatic: false)
            return try deliverOnce(store, key: "k\(i + 1)", raw: "follow-up \(i)", gate: gate) { _, _ in
                .followUp(ticket: 1, event: event, reopen: false, notify: "ticket_updated")
            }
        }
        #expect(try outcomes.map { try $0.get().action } == [.followUp, .followUp])
        let events = try #require(try first.ticket(number: 1)).events
        #expect(events.map(\.kind) == ["created", "followup", "followup"])
        #expect(Set(events.dropFirst().compactMap(\.subject)) == ["Re: 0", "Re: 1"])
        #expect(events.map(\.id) == events.map(\.id).sorted())
        #expect(try first.count(.outbox) == 3)
    }

    @Test func serializableTransactionsThatConflictAreRunAgain() throws {
        let db = try postgresDatabase()
        _ = try PostgresStore(url: db.url, options: .init(migrate: true))
        let url = db.url
        let gate = Gate(2)
        // Both read the highest order before either writes the next: one is a serialization
        // failure, run again, and sees the other's row.
        let results = onThreads(2) { i in
            let store = try PostgresStore(url: url)
            var runs = 0
            try store.db.transaction(.serializable) {
                runs += 1
                let next = (try store.db.scalar("SELECT coalesce(max(value), 0) + 1 FROM meta WHERE key LIKE 'n%'")?.int) ?? 0
                if runs == 1 { gate.arriveAndWait() }
                try store.db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", [.text("n\(i)"), .int(next)])
            }
            return runs
        }
        let runs = try results.map { try $0.get() }
        #expect(runs.sorted() == [1, 2])
        let store = try PostgresStore(url: url)
        #expect(try store.db.query("SELECT value FROM meta WHERE key LIKE 'n%' ORDER BY value").map { $0[0].int } == [1, 2])
    }

    @Test func aDeferredWriteThatFailsFailsTheCommitAndLeavesNothing() throws {
        let db = try postgresDatabase()
        let store = try PostgresStore(url: db.url, options: .init(migrate: true))
        let e = try #require(throws: StoreError.self) {
            try store.db.transaction(.readCommitted) {
                try store.db.executeDeferred("INSERT INTO meta (key, value) VALUES ('a', 1)", [])
                try store.db.executeDeferred("INSERT INTO meta (key, value) VALUES ('b', NULL)", [])
            }
        }
        #expect(e.sqlState == "23502")
        #expect(e.description.contains("INSERT INTO meta (key, value) VALUES ('b'"))
        #expect(try store.db.scalar("SELECT count(*) FROM meta WHERE key IN ('a', 'b')")?.int == 0)
        // Sent with the next statement, whose result it precedes.
        let seen = try store.db.transaction(.readCommitted) {
            try store.db.executeDeferred("INSERT INTO meta (key, value) VALUES ('c', 3)", [])
            return try store.db.scalar("SELECT value FROM meta WHERE key = 'c'")?.int
        }
        #expect(seen == 3)
    }

    // MARK: Failures

    @Test func aServerClosingTheConnectionIsTransient() throws {
        let db = try postgresDatabase()
        let store = try PostgresStore(url: db.url, options: .init(migrate: true))
        let pid = try #require(try store.db.scalar("SELECT pg_backend_pid()")?.int)
        try PostgresStore.runScript(url: db.url, "SELECT pg_terminate_backend(\(pid))")
        let e = try #require(throws: StoreError.self) { try store.count(.tickets) }
        #expect(e.isTransient)
        #expect(e.sqlState == "57P01" || e.sqlState?.hasPrefix("08") == true, "\(e)")
    }

    @Test func aConnectionKilledInTheMiddleOfADeliveryStoresNothingAndTheRetryDoes() throws {
        let db = try postgresDatabase()
        let store = try PostgresStore(url: db.url, options: .init(migrate: true))
        let pid = try #require(try store.db.scalar("SELECT pg_backend_pid()")?.int)
        let url = db.url
        let e = try #require(throws: StoreError.self) {
            try deliverOnce(store, key: "k1", raw: "message") { _, _ in
                try PostgresStore.runScript(url: url, "SELECT pg_terminate_backend(\(pid))")
                return .newTicket(plan())
            }
        }
        #expect(e.isTransient, "\(e)")
        let again = try PostgresStore(url: url)
        #expect(try again.count(.tickets) == 0)
        #expect(try deliver(again, key: "k1").action == .created)
        #expect(try deliver(again, key: "k1").action == .duplicate)
    }

    @Test func aConnectionLostInCommitIsAnUnknownOutcomeThatTheKeySettles() throws {
        let db = try postgresDatabase()
        let store = try PostgresStore(url: db.url, options: .init(migrate: true))
        // A trigger deferred to COMMIT ends the session there, as a server crash would.
        try store.db.executeScript("""
            CREATE FUNCTION end_session() RETURNS trigger LANGUAGE plpgsql AS
                $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$;
            CREATE CONSTRAINT TRIGGER end_session AFTER INSERT ON deliveries DEFERRABLE INITIALLY DEFERRED
                FOR EACH ROW EXECUTE FUNCTION end_session();
            """)
        let e = try #require(throws: StoreError.self) { try deliver(store, key: "k1") }
        #expect(e.sqlState == "08007", "\(e)")
        #expect(e.isTransient)
        #expect(e.description.contains("outcome unknown"))
        let again = try PostgresStore(url: db.url)
        try again.db.executeScript("DROP TRIGGER end_session ON deliveries")
        // The MTA delivers again: the key says whether the first commit happened.
        let outcome = try deliver(again, key: "k1")
        #expect(outcome.action == .created)
        #expect(try again.count(.tickets) == 1)
        #expect(try deliver(again, key: "k1").action == .duplicate)
    }

    @Test func aStatementTimeoutIsTransient() throws {
        let db = try postgresDatabase()
        let store = try PostgresStore(url: db.url, options: .init(migrate: true))
        try store.db.execute("SET statement_timeout = 50")
        let e = try #require(throws: StoreError.self) { try store.db.query("SELECT pg_sleep(2)") }
        #expect(e.sqlState == "57014")
        #expect(e.isTransient)
    }

    @Test func aRefusedConnectionIsTransientAndItsErrorHasNoPassword() throws {
        let e = try #require(throws: StoreError.self) {
            try PostgresStore(url: "postgresql://wt:hunter2@127.0.0.1:1/wt?connect_timeout=2")
        }
        #expect(e.isTransient)
        #expect(e.sqlState == "08001")
        #expect(!e.description.contains("hunter2"))
        #expect(e.description.contains("postgresql://wt:(password)@127.0.0.1:1/wt"))
    }

    @Test(arguments: [
        ("40001", true), ("40P01", true), ("57014", true), ("53100", true), ("53300", true), ("53200", true), ("57P01", true),
        ("57P03", true), ("08006", true), ("08001", true), ("08007", true), ("25P02", true), ("42501", true), ("55000", true),
        ("XX000", true), ("23505", true), ("22021", false), ("22P02", false), ("23503", false), ("23514", false), ("54000", false),
    ])
    func errorsAreClassifiedBySQLSTATE(state: String, transient: Bool) {
        #expect(StoreError(sqlState: state, message: "", context: "").isTransient == transient)
    }

    @Test(arguments: [
        ("postgresql://wt:hunter2@db.example/wt", "postgresql://wt:(password)@db.example/wt"),
        ("postgres://wt@db.example/wt", "postgres://wt@db.example/wt"),
        ("postgresql://wt:p%40ss@db.example:5433/wt?sslmode=require", "postgresql://wt:(password)@db.example:5433/wt?sslmode=require"),
        ("postgresql://db.example/wt?user=wt&password=hunter2&sslmode=require", "postgresql://db.example/wt?user=wt&password=(password)&sslmode=require"),
        ("postgresql:///wt?service=helpdesk", "postgresql:///wt?service=helpdesk"),
        ("host=db user=wt password='a b' dbname=wt", "host=db user=wt password=(password) dbname=wt"),
        ("/var/lib/wt/wt.db", "/var/lib/wt/wt.db"),
    ])
    func passwordsAreTakenOutOfDatabaseNames(name: String, shown: String) {
        #expect(redactPassword(in: name) == shown)
    }

    // MARK: Schema

    @Test func withoutItsSchemaTheStoreSaysToRunInitAndSeveralInitsAtOnceAreSafe() throws {
        let db = try postgresDatabase()
        let e = try #require(throws: StoreError.self) { try PostgresStore(url: db.url) }
        #expect(e.isTransient)
        #expect(e.description.contains("wt-admin init"))
        let url = db.url
        let results = onThreads(4) { _ in _ = try PostgresStore(url: url, options: .init(migrate: true)) }
        for r in results { try r.get() }
        let store = try PostgresStore(url: url)
        #expect(try store.db.scalar("SELECT value FROM meta WHERE key = 'schema_version'")?.int == Int64(PostgresStore.schemaVersion))
        #expect(try store.configuration().ticketTypes.map(\.name) == ["General"])
        #expect(try store.messageIDKey().count == 32)
        #expect(try store.db.scalar("SELECT count(*) FROM settings")?.int == Int64(SQLStore.defaultSettings.count))
        #expect(try store.integrityCheck() == "ok")
    }

    @Test func textWithANulIsStoredWithAReplacementCharacter() throws {
        let db = try postgresDatabase()
        let store = try PostgresStore(url: db.url, options: .init(migrate: true))
        _ = try deliver(store, key: "k1", plan(subject: "a\u{0}b"))
        #expect(try store.ticket(number: 1)?.summary.subject == "a\u{FFFD}b")
    }

    @Test func theRuleIndexIsKeptInTheDatabaseOnly() throws {
        let db = try postgresDatabase()
        let store = try PostgresStore(url: db.url, options: .init(migrate: true))
        try store.configuration().saveRulesIndex([1, 2, 3])
        let other = try PostgresStore(url: db.url)
        #expect(try other.configuration().storedRulesIndex.map { Array($0.bytes) } == [1, 2, 3])
        #expect(store.rulesIndexPath == nil)
    }
}

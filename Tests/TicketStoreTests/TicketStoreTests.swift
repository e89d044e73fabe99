import Foundation
import PostgresStore
import PostgresTestSupport
import Testing
@testable import TicketStore


/// A fresh store of one kind: a SQLite file in a folder of its own, or a schema of its own
/// on the test PostgreSQL server (a test case is cancelled, with the reason, without one).
final class TestStore {
    let backend: Backend
    private let keep: AnyObject
    let store: SQLStore

    init(_ backend: Backend) throws {
        self.backend = backend
        let t = backend == .sqlite ? try TempDB() : nil
        let fresh = try freshStore(backend, sqlitePath: t?.path ?? "")
        store = fresh.store
        keep = (t as AnyObject?) ?? fresh.postgres!
    }

    /// Another connection to the same database.
    func reopen(readOnly: Bool = false) throws -> SQLStore {
        switch keep {
        case let t as TempDB: return try SQLiteStore(path: t.path, options: .init(readOnly: readOnly))
        case let db as TestPostgres.Database: return try PostgresStore(url: db.url, options: .init(readOnly: readOnly))
        default: fatalError("unknown backend")
        }
    }

    var url: String? { (keep as? TestPostgres.Database)?.url }
}


/// A fresh database file per test.
final class TempDB {
    let dir: URL
    var path: String { dir.appendingPathComponent("wt.db").path }

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("wt-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: dir) }
}

func plan(subject: String = "Printer on fire", address: String? = "ann@example.org", name: String? = "Ann",
          type: String = "General", attachments: [TicketPlan.Attachment] = []) -> TicketPlan {
    TicketPlan(subject: subject, body: "It burns.", requesterAddress: address, requesterName: name, ticketType: type,
               priority: "High", messageID: "m1@example.org", flagged: false, detail: "", attachments: attachments, notify: true)
}

func deliver(_ store: SQLStore, key: String, raw: String = "raw message", _ p: TicketPlan = plan()) throws -> DeliveryOutcome {
    let bytes = Array(raw.utf8)
    return try bytes.withUnsafeBytes { b in
        try store.deliver(key: key, raw: b, rawSHA256: "digest", envelope: Envelope(sender: "ann@example.org", recipient: "helpdesk@wt.test", receivedAt: 1_800_000_000)) { _, _ in .newTicket(p) }
    }
}

@Suite struct TicketStoreTests {
    @Test func createsTheSchemaInWALMode() throws {
        let t = try TempDB()
        let store = try SQLiteStore(path: t.path)
        #expect(try store.connection.scalar("PRAGMA journal_mode")?.text == "wal")
        #expect(try store.connection.scalar("PRAGMA user_version")?.int == Int64(SQLiteStore.schemaVersion))
        #expect(try store.configuration().setting("default_priority") == "Medium")
        #expect(try store.configuration().ticketTypes.map(\.name) == ["General"])
        // Opening again changes nothing.
        _ = try SQLiteStore(path: t.path)
        #expect(try store.count(.tickets) == 0)
    }

    @Test(arguments: Backend.allCases) func deliversATicketWithEverythingInOneTransaction(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = t.store
        let pdf = Array("%PDF-1.4 tiny".utf8)
        let att = TicketPlan.Attachment(filename: "../../etc/passwd", contentType: "application/pdf", size: pdf.count,
                                        sha256: "abc", inline: false, contentID: nil, data: { sink in pdf.withUnsafeBufferPointer { sink($0) } })
        let out = try deliver(store, key: "k1", plan(attachments: [att]))
        #expect(out == DeliveryOutcome(action: .created, ticketNumber: 1))
        let detail = try #require(try store.ticket(number: 1))
        #expect(detail.summary.subject == "Printer on fire")
        #expect(detail.summary.priority == "High")
        // Named by the address; the From name is shown beside it.
        #expect(detail.summary.requester == "Ann <ann@example.org>")
        #expect(detail.requesterAddress == "ann@example.org")
        #expect(detail.events.map(\.kind) == ["created"])
        #expect(detail.attachments.map(\.filename) == ["passwd"])
        #expect(try store.attachment(id: detail.attachments[0].id)?.1 == .decoded(pdf))
        #expect(try store.rawMessage(id: detail.events[0].rawMessageID!) == Array("raw message".utf8))
        #expect(try store.count(.outbox) == 1)
        #expect(try store.count(.deliveries) == 1)
    }

    @Test(arguments: Backend.allCases) func sameKeyTwiceIsADuplicateAndWritesNothing(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = t.store
        _ = try deliver(store, key: "k1")
        let again = try deliver(store, key: "k1", raw: "raw message")
        #expect(again == DeliveryOutcome(action: .duplicate, ticketNumber: 1))
        #expect(try store.count(.tickets) == 1)
        #expect(try store.count(.rawMessages) == 1)
    }

    @Test(arguments: Backend.allCases) func aFailureAfterRowsWereWrittenRollsEverythingBack(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = t.store
        var ticketsSeenInside: Int64 = -1
        // An attachment that hands over fewer bytes than it announced fails in writeBlob, after
        // the raw message, the requester, the ticket and its event were written.
        let short = TicketPlan.Attachment(filename: "a.bin", contentType: "application/octet-stream", size: 10, sha256: "x",
                                          inline: false, contentID: nil, data: { sink in
            ticketsSeenInside = (try? store.db.scalar("SELECT count(*) FROM tickets")?.int) ?? -1
            [UInt8](repeating: 1, count: 3).withUnsafeBufferPointer { sink($0) }
        })
        let e = try #require(throws: StoreError.self) { try deliver(store, key: "k", plan(address: "new@example.org", attachments: [short])) }
        #expect(e.description.contains("wrote 3 of 10 bytes"))
        #expect(ticketsSeenInside == 1)
        for what in [CountedThing.tickets, .rawMessages, .deliveries, .outbox, .users, .attachments] {
            #expect(try store.count(what) == 0, "\(what.rawValue)")
        }
        #expect(try store.db.scalar("SELECT count(*) FROM ticket_events")?.int == 0)
        // The connection is usable after the rollback.
        _ = try deliver(store, key: "k2")
        #expect(try store.count(.tickets) == 1)
    }

    @Test(arguments: Backend.allCases) func attachmentBytesAreStoredOncePerDigest(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = t.store
        var produced = 0
        let bytes = Array(repeating: UInt8(7), count: 1000)
        func att() -> TicketPlan.Attachment {
            TicketPlan.Attachment(filename: "a.bin", contentType: "application/octet-stream", size: 1000, sha256: "same",
                                  inline: false, contentID: nil, data: { sink in produced += 1; bytes.withUnsafeBufferPointer { sink($0) } })
        }
        _ = try deliver(store, key: "k1", plan(attachments: [att()]))
        _ = try deliver(store, key: "k2", plan(attachments: [att()]))
        #expect(produced == 1)
        #expect(try store.db.scalar("SELECT count(*) FROM blobs")?.int == 1)
        #expect(try store.count(.attachments) == 2)
    }

    @Test(arguments: Backend.allCases) func attachmentsInTheRawMessageAreStoredAsARange(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = t.store
        var produced = 0
        let att = TicketPlan.Attachment(filename: "a.txt", contentType: "text/plain", size: 7, sha256: "d", inline: false, contentID: nil,
                                        rawRange: (4..<11, "identity"), data: { _ in produced += 1 })
        _ = try deliver(store, key: "k1", raw: "raw message", plan(attachments: [att]))
        #expect(produced == 0)
        #expect(try store.db.scalar("SELECT count(*) FROM blobs")?.int == 0)
        let id = try #require(try store.ticket(number: 1)?.attachments.first?.id)
        #expect(try store.attachment(id: id)?.1 == .encoded(Array("message".utf8), encoding: "identity"))
    }

    @Test(arguments: Backend.allCases) func requesterIsMatchedAcrossAddressListsAnyCase(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = t.store
        try store.db.execute("INSERT INTO users (id, name, role, emails, created_at) VALUES (7, 'Jane Doe', 'end_user', 'jdoe@corp.example;jane@home.example', 0)")
        try store.db.execute("INSERT INTO user_addresses (address, user_id) VALUES ('jdoe@corp.example', 7), ('jane@home.example', 7)")
        _ = try deliver(store, key: "k1", plan(address: "JANE@Home.Example", name: "J."))
        #expect(try store.ticket(number: 1)?.summary.requester == "Jane Doe")
        #expect(try store.count(.users) == 1)
    }

    @Test(arguments: Backend.allCases) func unknownSendersBecomeEndUsersUnlessTurnedOff(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = t.store
        _ = try deliver(store, key: "k1", plan(address: "new@example.org", name: nil))
        #expect(try store.ticket(number: 1)?.summary.requester == "new@example.org")
        try store.db.execute("UPDATE settings SET value = 'false' WHERE key = 'create_unknown_users'")
        _ = try deliver(store, key: "k2", plan(address: "other@example.org", name: "Other"))
        #expect(try store.ticket(number: 2)?.summary.requester == nil)
        #expect(try store.count(.users) == 1)
    }

    @Test func aMissingFolderIsATransientError() throws {
        let e = try #require(throws: StoreError.self) { try SQLiteStore(path: "/nonexistent/dir/wt.db") }
        #expect(e.isTransient)
        #expect(e.description.contains("unable to open database file"))
    }

    @Test(arguments: [
        (Int32(5), true), (Int32(6), true), (Int32(13), true), (Int32(10), true), (Int32(10 | (4 << 8)), true),
        (Int32(14), true), (Int32(8), true), (Int32(11), true), (Int32(7), true), (Int32(19), false), (Int32(1), false),
    ])
    func errorsAreClassifiedByPrimaryCode(code: Int32, transient: Bool) {
        #expect(StoreError(code: code, message: "", context: "").isTransient == transient)
    }

    @Test(arguments: [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\TEMP\\x.png", "x.png"),
        ("dir/", "dir"),
        ("a\u{0}b\u{7}c\u{2028}.txt", "abc.txt"),
        ("report..final.pdf", "report.final.pdf"),
        ("..", "attachment"),
        ("", "attachment"),
        ("   ", "attachment"),
        (".hidden", "hidden"),
        ("-", "attachment"),
        ("--rf", "rf"),
        ("\u{202E}txt.exe", "txt.exe"),
        ("invoice\u{2066}\u{202E}fdp.exe\u{2069}", "invoicefdp.exe"),
    ])
    func filenamesNeverBecomePaths(name: String, expected: String) {
        #expect(sanitizeFilename(name) == expected)
    }

    @Test func longFilenamesAreCutKeepingTheExtension() {
        let name = String(repeating: "é", count: 300) + ".pdf"
        let s = sanitizeFilename(name)
        #expect(s.utf8.count <= 255)
        #expect(s.hasSuffix(".pdf"))
    }

    @Test(arguments: Backend.allCases) func theRuleIndexIsStoredForOneRulesVersion(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = t.store
        #expect(try store.configuration().storedRulesIndex == nil)
        try store.configuration().saveRulesIndex([1, 2, 3])
        let stored = try #require(try store.configuration().storedRulesIndex)
        #expect(Array(stored.bytes) == [1, 2, 3])
        // Any change to rules or types moves the version: the stored index no longer applies.
        try store.addTicketType(TicketTypeRecord(name: "Network", technician: nil, notifyEmails: []))
        #expect(try store.configuration().storedRulesIndex == nil)
        // A read-only store never writes it.
        let ro = try t.reopen(readOnly: true)
        try ro.configuration().saveRulesIndex([9])
        #expect(try store.configuration().storedRulesIndex == nil)
    }

    @Test func aNewDatabaseIsNotReadableByOtherUsers() throws {
        let t = try TempDB()
        let store = try SQLiteStore(path: t.path)
        _ = try deliver(store, key: "k1")
        // While the store is open, its -wal and -shm files exist.
        for suffix in ["", "-wal", "-shm"] {
            var st = stat()
            #expect(stat(t.path + suffix, &st) == 0)
            #expect(st.st_mode & 0o777 == 0o640, "\(suffix)")
        }
    }

    @Test func restrictingModesTakesOtherUsersAccess() throws {
        let t = try TempDB()
        let store = try SQLiteStore(path: t.path)
        try store.configuration().saveRulesIndex([1, 2, 3])
        chmod(t.path, 0o644)
        chmod(t.path + "-rules", 0o666)
        #expect(store.restrictFileModes() == [t.path, t.path + "-rules"])
        var st = stat()
        #expect(stat(t.path, &st) == 0 && st.st_mode & 0o777 == 0o640)
        #expect(stat(t.path + "-rules", &st) == 0 && st.st_mode & 0o777 == 0o660)
        #expect(store.restrictFileModes() == [])
    }

    @Test func theIndexCopyBesideTheDatabaseIsUsedOnlyForItsDatabaseAndVersion() throws {
        let a = try TempDB(), b = try TempDB()
        let storeA = try SQLiteStore(path: a.path), storeB = try SQLiteStore(path: b.path)
        try storeA.configuration().saveRulesIndex([1, 2, 3])
        var st = stat()
        #expect(stat(a.path + "-rules", &st) == 0 && st.st_mode & 0o777 == 0o640)
        // Read from the copy even with the row gone.
        try storeA.connection.execute("DELETE FROM rule_index")
        #expect(try storeA.configuration().storedRulesIndex.map { Array($0.bytes) } == [1, 2, 3])
        // B is at the same rules version, but the copy names A.
        #expect(try storeA.rulesVersion() == storeB.rulesVersion())
        _ = FileManager.default.createFile(atPath: b.path + "-rules", contents: FileManager.default.contents(atPath: a.path + "-rules"))
        #expect(try storeB.configuration().storedRulesIndex == nil)
        // A missing copy is written again from the row.
        try storeB.configuration().saveRulesIndex([4, 5])
        unlink(b.path + "-rules")
        #expect(try storeB.configuration().storedRulesIndex.map { Array($0.bytes) } == [4, 5])
        #expect(FileManager.default.fileExists(atPath: b.path + "-rules"))
    }

    // MARK: Users from mail

    @Test(arguments: Backend.allCases) func aSenderNeverTakesOrBlocksAName(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = t.store
        _ = try deliver(store, key: "k1", plan(address: "evil@attacker.example", name: "Jane Doe"))
        #expect(try store.ticket(number: 1)?.summary.requester == "Jane Doe <evil@attacker.example>")
        // The administrator's Jane Doe is added as if the sender had never written.
        try store.addUser(UserRecord(name: "Jane Doe", role: .technician, emails: ["jdoe@corp.example"]))
        #expect(try store.users().map(\.name) == ["evil@attacker.example", "Jane Doe"])
        // And the configuration round-trips: senders are not configuration.
        let exported = try store.exportConfiguration()
        #expect(exported.users.map(\.name) == ["Jane Doe"])
        _ = try store.applyConfiguration(exported)
    }

    @Test(arguments: Backend.allCases) func anAdministratorsUserTakesAnAddressFromASenderAndItsTickets(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = t.store
        _ = try deliver(store, key: "k1", plan(address: "ann@example.org", name: "Ann"))
        try store.addUser(UserRecord(name: "Ann Example", role: .endUser, emails: ["ann@example.org", "ann@home.example"]))
        #expect(try store.users().map(\.name) == ["Ann Example"])
        #expect(try store.ticket(number: 1)?.summary.requester == "Ann Example")
        #expect(try store.ticket(number: 1)?.events.first?.author == "Ann Example")
        // An administrator's user still blocks another administrator's.
        #expect(throws: InvalidInput.self) { try store.addUser(UserRecord(name: "Other", role: .endUser, emails: ["ann@home.example"])) }
        #expect(throws: InvalidInput.self) { try store.addUser(UserRecord(name: "ann example", role: .endUser, emails: [])) }
    }

    @Test(arguments: Backend.allCases) func aSenderWhoseAddressIsAUsersNameStillBecomesAUser(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = t.store
        try store.addUser(UserRecord(name: "bob@example.org", role: .endUser, emails: []))
        _ = try deliver(store, key: "k1", plan(address: "bob@example.org", name: nil))
        #expect(try store.count(.users) == 2)
        #expect(try store.ticket(number: 1)?.requesterAddress == "bob@example.org")
    }

    @Test func migratingAnOlderDatabaseMakesUserNamesUnique() throws {
        let t = try TempDB()
        do {
            let c = try Connection(path: t.path, options: .init())
            for m in Schema.migrations.prefix(4) { try c.executeScript(m.sql) }
            try c.executeScript("""
                PRAGMA user_version = 4;
                INSERT INTO users (name, role, emails, created_at) VALUES ('Jane Doe', 'technician', 'jdoe@corp.example', 1),
                    ('Jane Doe', 'end_user', 'evil@attacker.example', 2), ('jane doe', 'end_user', '', 3);
                """)
        }
        let store = try SQLiteStore(path: t.path)
        #expect(try store.users().map(\.name) == ["Jane Doe", "Jane Doe #2", "jane doe #3"])
        #expect(try store.connection.scalar("PRAGMA user_version")?.int == Int64(SQLiteStore.schemaVersion))
    }

    // MARK: Secrets

    @Test(arguments: Backend.allCases) func passwordsLeaveTheExportOnlyWhenAskedAndApplyKeepsThem(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = t.store
        _ = try store.setSetting("smtp_password", "hunter2")
        #expect(!(try store.exportConfiguration().settings.contains { $0.0 == "smtp_password" }))
        #expect(try store.exportConfiguration(withSecrets: true).settings.contains { $0 == ("smtp_password", "hunter2") })
        _ = try store.applyConfiguration(try store.exportConfiguration())
        #expect(try store.configuration().setting("smtp_password") == "hunter2")
    }

    @Test func aPasswordFileIsReadOnlyWhenOtherUsersCannotReadIt() throws {
        let t = try TempDB()
        let store = try SQLiteStore(path: t.path)
        let file = t.dir.appendingPathComponent("smtp.pass").path
        _ = FileManager.default.createFile(atPath: file, contents: Data("s3cret\nignored\n".utf8))
        chmod(file, 0o644)
        let refused = try #require(throws: InvalidInput.self) { try store.setSetting("smtp_password_file", file) }
        #expect(refused.message.contains("readable or writable by other users"))
        chmod(file, 0o600)
        _ = try store.setSetting("smtp_password", "in the database")
        _ = try store.setSetting("smtp_password_file", file)
        #expect(try store.configuration().secret("smtp_password") == "s3cret")
        // A link is refused (the file it points at may be anyone's).
        let link = file + ".link"
        symlink(file, link)
        #expect(throws: SecretFile.Refused.self) { try SecretFile.read(link) }
        #expect(throws: InvalidInput.self) { try store.setSetting("pop_password_file", "relative/path") }
        _ = FileManager.default.createFile(atPath: file, contents: Data(repeating: 65, count: 5000))
        #expect(throws: SecretFile.Refused.self) { try SecretFile.read(file) }
    }
}

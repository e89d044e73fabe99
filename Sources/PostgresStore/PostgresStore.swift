#if canImport(Glibc)
import Glibc
#endif
public import TicketStore

/// The ticket store on a PostgreSQL server that several mail hosts share. The store logic
/// is `SQLStore`'s, the same as SQLite's; this adds the connection and the schema.
///
/// Exactly once: the delivery key is the primary key of `deliveries`, written in the
/// ticket's transaction; of two hosts delivering one message at once, the second's insert
/// fails, its transaction runs again and finds the key. Every commit waits for the server's
/// WAL flush (synchronous_commit as the server sets it, on by default).
public final class PostgresStore: SQLStore {
    let connection: PGConnection
    /// The database as named, without its password.
    public let name: String
    /// The schema version found when opening (0: none), before any migration.
    public private(set) var schemaBefore = 0

    public struct Options: Sendable {
        /// Create or migrate the schema (wt-admin init); otherwise a missing or older schema
        /// is an error that waits for an administrator.
        public var migrate = false
        public var readOnly = false
        /// Shown in pg_stat_activity.
        public var applicationName = "wt"

        public init(migrate: Bool = false, readOnly: Bool = false, applicationName: String = "wt") {
            self.migrate = migrate
            self.readOnly = readOnly
            self.applicationName = applicationName
        }
    }

    public init(url: String, options: Options = Options()) throws {
        connection = try PGConnection(url: url, applicationName: options.applicationName)
        name = connection.name
        super.init(driver: connection, readOnly: options.readOnly)
        let current = try Self.version(connection)
        schemaBefore = current
        if current == Self.schemaVersion { return }
        if current > Self.schemaVersion {
            throw StoreError(sqlState: "55000", message: "database schema \(current) is newer than this wt (\(Self.schemaVersion))", context: name)
        }
        guard options.migrate else {
            throw StoreError(sqlState: "55000", message: current == 0
                                ? "no wt schema in this database (create it with: wt-admin init --db URL)"
                                : "database schema \(current) is older than this wt (\(Self.schemaVersion)): run wt-admin init --db URL",
                             context: name)
        }
        try migrate()
    }

    /// The schema version this build writes.
    public static var schemaVersion: Int { PostgresSchema.migrations.count }

    /// The schema version of the database; 0 when it has none.
    static func version(_ c: PGConnection, inTransaction: Bool = false) throws -> Int {
        if inTransaction {
            // An error would end the transaction: ask first whether the table is there.
            guard try c.scalar("SELECT to_regclass('meta') IS NOT NULL")?.int == 1 else { return 0 }
            return Int(try c.scalar("SELECT value FROM meta WHERE key = 'schema_version'")?.int ?? 0)
        }
        // One round trip, as every delivery asks: no table (42P01) is no schema.
        do {
            return Int(try c.scalar("SELECT value FROM meta WHERE key = 'schema_version'")?.int ?? 0)
        } catch let e as StoreError where e.sqlState == "42P01" {
            return 0
        }
    }

    /// Migrations from several hosts at once: each waits for the advisory lock, then finds
    /// the work done or does it, in one transaction.
    private func migrate() throws {
        let c = connection
        let encoding = try c.scalar("SHOW server_encoding")?.text ?? ""
        guard encoding == "UTF8" || encoding == "SQL_ASCII" else {
            throw StoreError(sqlState: "22021", message: "the database's encoding is \(encoding); wt needs UTF8 (createdb -E UTF8)", context: name)
        }
        try c.transaction(.readCommitted) {
            _ = try c.query("SELECT pg_advisory_xact_lock(\(Self.migrationLock))")
            let current = try Self.version(c, inTransaction: true)
            if current > Self.schemaVersion {
                throw StoreError(sqlState: "55000", message: "database schema \(current) is newer than this wt (\(Self.schemaVersion))", context: name)
            }
            for m in PostgresSchema.migrations.dropFirst(current) { try c.executeScript(m.sql) }
            if current == 0 {
                try c.execute("INSERT INTO meta (key, value) VALUES ('database_id', ?)", [.int(Int64.random(in: Int64.min...Int64.max))])
                // The system generator (getrandom), as SQLite's randomblob.
                var rng = SystemRandomNumberGenerator()
                let key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
                try c.execute("INSERT INTO secrets (name, value) VALUES ('message_id_key', ?)", [.blob(key)])
            }
            for (k, v) in Self.defaultSettings {
                try c.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING", [.text(k), .text(v)])
            }
            try c.execute("""
                INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value
                """, [.int(Int64(Self.schemaVersion))])
        }
    }

    /// Runs `sql` (several statements, no values) on a connection of its own: for setting up
    /// a server (tests, tools), never for the store's data.
    public static func runScript(url: String, _ sql: String) throws {
        try PGConnection(url: url, applicationName: "wt").executeScript(sql)
    }

    /// pg_advisory_xact_lock's key for migrations ("wt schema").
    static let migrationLock: Int64 = 0x7774_5f73_6368_656d

    public override func integrityCheck() throws -> String {
        // What the schema cannot say on its own: every delivery names a stored message.
        let orphans = try connection.scalar("""
            SELECT count(*) FROM deliveries d WHERE NOT EXISTS (SELECT 1 FROM raw_messages m WHERE m.id = d.raw_message_id)
            """)?.int ?? 0
        return orphans == 0 ? "ok" : "\(orphans) deliveries without their message"
    }
}

extension PostgresStore {
    /// How wt-deliver opens a shared database: its schema is made by wt-admin init, never by a
    /// delivery (the delivery role needs no DDL rights, and no host migrates on its own).
    public static func forDelivery(url: String, readOnly: Bool) throws -> PostgresStore {
        try PostgresStore(url: url, options: .init(readOnly: readOnly, applicationName: "wt-deliver"))
    }
}

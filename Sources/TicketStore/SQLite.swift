#if canImport(Glibc)
import Glibc
#endif
internal import CSQLite

/// An error from the database: SQLite's extended result code, or PostgreSQL's SQLSTATE.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public let context: String
    /// PostgreSQL's five-character error code; nil for SQLite.
    public let sqlState: String?

    public init(code: Int32, message: String, context: String) {
        self.code = code
        self.message = message
        self.context = context
        sqlState = nil
    }

    public init(sqlState: String, message: String, context: String) {
        code = -1
        self.message = message
        self.context = context
        self.sqlState = sqlState
    }

    /// The primary result code (the low byte of the extended code).
    public var primaryCode: Int32 { code & 0xFF }

    /// Whether trying again later can succeed. SQLite's errors are classified by primary code,
    /// because a full disk can come back as an I/O error and a locked database as busy or
    /// locked; PostgreSQL's by SQLSTATE.
    public var isTransient: Bool {
        if let sqlState { return Self.isTransient(sqlState: sqlState) }
        switch primaryCode {
        case SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL, SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_READONLY,
             SQLITE_NOMEM, SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_PROTOCOL, SQLITE_INTERRUPT, SQLITE_PERM,
             SQLITE_AUTH, SQLITE_NOLFS, SQLITE_ABORT:
            return true
        default:
            return false
        }
    }

    /// Only what no retry can change is permanent: the data itself (22: an invalid value,
    /// a character the database's encoding lacks), a broken integrity rule other than a
    /// unique key (23, but 23505: a concurrent insert, which a later try resolves), and a
    /// program limit (54: a value too large). Everything else, known or not, is transient:
    /// connections (08), a server shutting down or a statement timeout (57), serialization
    /// failures and deadlocks (40), a full disk or too many connections (53), privileges
    /// and a schema an administrator must fix (42), and what we do not know.
    static func isTransient(sqlState s: String) -> Bool {
        if s == "23505" { return true }
        switch s.prefix(2) {
        case "22", "23", "54": return false
        default: return true
        }
    }

    /// A conflict with a concurrent transaction, which running it again resolves: a
    /// serialization failure, a deadlock, or a unique key another transaction took.
    public var isConflict: Bool { sqlState == "40001" || sqlState == "40P01" || sqlState == "23505" }

    public var description: String {
        if let sqlState {
            return context.isEmpty ? "\(message) (SQLSTATE \(sqlState))" : "\(context): \(message) (SQLSTATE \(sqlState))"
        }
        let name = String(cString: sqlite3_errstr(code))
        return context.isEmpty ? "\(message) (\(name), code \(code))" : "\(context): \(message) (\(name), code \(code))"
    }

    static func misuse(_ message: String) -> StoreError { StoreError(code: SQLITE_MISUSE, message: message, context: "") }
}

/// A value to bind or read.
public enum SQLValue: Sendable, Equatable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])
}

/// One SQLite connection. Not Sendable: a delivery is one process, one thread.
final class Connection: SQLDriver {
    let db: OpaquePointer
    let path: String

    struct OpenOptions {
        var readOnly = false
        var create = true
        var busyTimeoutMilliseconds: Int32 = 30_000
    }

    init(path: String, options: OpenOptions) throws {
        var handle: OpaquePointer?
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        flags |= options.readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | (options.create ? SQLITE_OPEN_CREATE : 0))
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            // Close the half-opened handle before throwing.
            if let handle { sqlite3_close_v2(handle) }
            throw StoreError(code: rc, message: message, context: "opening \(path)")
        }
        db = handle
        self.path = path
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, options.busyTimeoutMilliseconds)
    }

    deinit {
        statements.removeAll()
        sqlite3_close_v2(db)
    }

    func error(_ rc: Int32, _ context: String) -> StoreError {
        StoreError(code: sqlite3_extended_errcode(db) != 0 ? sqlite3_extended_errcode(db) : rc,
                   message: String(cString: sqlite3_errmsg(db)), context: context)
    }

    var dialect: SQLDialect { .sqlite }

    func executeScript(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let message = err.map { String(cString: $0) } ?? ""
            sqlite3_free(err)
            throw StoreError(code: sqlite3_extended_errcode(db), message: message, context: String(sql.prefix(60)))
        }
    }

    /// Statements prepared once per connection: a notifier pass runs the same few hundred
    /// times, and parsing SQL showed in its profile.
    private var statements: [String: Statement] = [:]

    /// A prepared statement for `sql`, reset and with no values bound.
    func prepare(_ sql: String) throws -> Statement {
        if let s = statements[sql] {
            sqlite3_reset(s.stmt)
            sqlite3_clear_bindings(s.stmt)
            return s
        }
        let s = try Statement(self, sql)
        statements[sql] = s
        return s
    }

    /// Ends every statement's run, so that none holds the transaction open.
    func resetStatements() {
        for s in statements.values { sqlite3_reset(s.stmt) }
    }

    /// Runs `sql` with `values` and returns every row.
    func query(_ sql: String, _ values: [SQLValue]) throws -> [[SQLValue]] {
        let s = try prepare(sql)
        defer { sqlite3_reset(s.stmt) }
        try s.bind(values)
        var rows: [[SQLValue]] = []
        while try s.step() { rows.append(s.row()) }
        return rows
    }

    @discardableResult
    func execute(_ sql: String, _ values: [SQLValue]) throws -> Int {
        try prepare(sql).run(values)
        return changes
    }

    func insert(_ sql: String, _ values: [SQLValue]) throws -> Int64? {
        try prepare(sql).run(values)
        return changes == 0 ? nil : lastInsertRowID
    }

    /// The row goes in with a zeroblob, which `writeBlob` then fills.
    @discardableResult
    func insertRow(into table: String, columns: [String], values: [SQLValue], blobColumn: String, blob: BlobSource,
                   returningID: Bool) throws -> Int64? {
        let sql = "INSERT INTO \(table) (\(columns.joined(separator: ", ")), \(blobColumn)) VALUES ("
            + String(repeating: "?, ", count: columns.count) + "zeroblob(?))"
        try prepare(sql).run(values + [.int(Int64(blob.size))])
        let rowid = lastInsertRowID
        try writeBlob(table: table, column: blobColumn, rowid: rowid, size: blob.size, blob.produce)
        return returningID ? rowid : nil
    }

    func transaction<T>(_ isolation: Isolation, _ body: () throws -> T) throws -> T {
        try transaction(immediate: true, body)
    }

    func dryRun<T>(_ body: () throws -> T) throws -> T {
        try executeScript("BEGIN IMMEDIATE")
        defer {
            resetStatements()
            _ = sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
        }
        return try body()
    }

    /// The first column of the first row as bytes in memory of their own (one copy), or nil.
    func blob(_ sql: String, _ values: [SQLValue]) throws -> StoredBytes? {
        let s = try prepare(sql)
        defer { sqlite3_reset(s.stmt) }
        try s.bind(values)
        guard try s.step(), sqlite3_column_type(s.stmt, 0) == SQLITE_BLOB else { return nil }
        return StoredBytes(copying: sqlite3_column_blob(s.stmt, 0), count: Int(sqlite3_column_bytes(s.stmt, 0)))
    }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(db) }

    /// Fills a zeroblob column of row `rowid` from `produce`, which hands over the bytes in
    /// order. Large values go through here so that SQLite never builds a record holding them
    /// whole: a 50 MB message then costs 50 MB of memory, not 100.
    func writeBlob(table: String, column: String, rowid: Int64, size: Int,
                   _ produce: ((UnsafeBufferPointer<UInt8>) -> Void) -> Void) throws {
        var handle: OpaquePointer?
        let rc = sqlite3_blob_open(db, "main", table, column, rowid, 1, &handle)
        guard rc == SQLITE_OK, let handle else { throw error(rc, "opening \(table).\(column) for writing") }
        defer { sqlite3_blob_close(handle) }
        var offset: Int32 = 0
        var failure: Int32 = SQLITE_OK
        produce { chunk in
            guard failure == SQLITE_OK, let base = chunk.baseAddress, chunk.count > 0 else { return }
            if Int(offset) + chunk.count > size { failure = SQLITE_TOOBIG; return }
            let r = sqlite3_blob_write(handle, base, Int32(chunk.count), offset)
            if r != SQLITE_OK { failure = r; return }
            offset += Int32(chunk.count)
        }
        if failure != SQLITE_OK { throw error(failure, "writing \(table).\(column)") }
        if Int(offset) != size {
            throw StoreError(code: SQLITE_MISMATCH, message: "wrote \(offset) of \(size) bytes", context: "writing \(table).\(column)")
        }
    }
    var changes: Int { Int(sqlite3_changes(db)) }

    /// Runs `body` in a transaction (BEGIN IMMEDIATE takes the write lock up front, so a writer
    /// never fails half-way for a lock). Rolls back on any error; the first error wins.
    func transaction<T>(immediate: Bool, _ body: () throws -> T) throws -> T {
        if sqlite3_get_autocommit(db) == 0 {
            // Already inside one (a dry run): nest with a savepoint.
            try executeScript("SAVEPOINT nested")
            do {
                let result = try body()
                try executeScript("RELEASE nested")
                return result
            } catch {
                _ = sqlite3_exec(db, "ROLLBACK TO nested; RELEASE nested", nil, nil, nil)
                throw error
            }
        }
        try executeScript(immediate ? "BEGIN IMMEDIATE" : "BEGIN")
        do {
            let result = try body()
            resetStatements()
            try executeScript("COMMIT")
            return result
        } catch {
            resetStatements()
            if sqlite3_get_autocommit(db) == 0 { _ = sqlite3_exec(db, "ROLLBACK", nil, nil, nil) }
            throw error
        }
    }

    /// A pragma's value as text, retried while another process holds the lock (switching
    /// journal mode can fail with BUSY even with a busy timeout).
    func pragma(_ text: String, retryUntil deadline: Int64) throws -> String? {
        while true {
            do {
                if case .text(let s)? = try scalar("PRAGMA \(text)") { return s }
                return nil
            } catch let e as StoreError where e.primaryCode == SQLITE_BUSY || e.primaryCode == SQLITE_LOCKED {
                if monotonicMilliseconds() >= deadline { throw e }
                usleep(5_000 + UInt32.random(in: 0..<10_000))
            }
        }
    }
}

/// A prepared statement, finalized when released.
final class Statement {
    let stmt: OpaquePointer
    unowned let connection: Connection
    let sql: String

    init(_ connection: Connection, _ sql: String) throws {
        var s: OpaquePointer?
        let rc = sqlite3_prepare_v2(connection.db, sql, -1, &s, nil)
        guard rc == SQLITE_OK, let s else { throw connection.error(rc, "preparing \(sql.prefix(60))") }
        stmt = s
        self.connection = connection
        self.sql = sql
    }

    deinit { sqlite3_finalize(stmt) }

    func bind(_ values: [SQLValue]) throws {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
        for (i, v) in values.enumerated() { try bind(v, at: Int32(i + 1)) }
    }

    func bind(_ v: SQLValue, at i: Int32) throws {
        let rc: Int32
        switch v {
        case .null: rc = sqlite3_bind_null(stmt, i)
        case .int(let x): rc = sqlite3_bind_int64(stmt, i, x)
        case .double(let x): rc = sqlite3_bind_double(stmt, i, x)
        case .text(let s):
            var s = s
            rc = s.withUTF8 { u in
                u.withMemoryRebound(to: CChar.self) { c in
                    // An empty string still needs a non-null pointer, or SQLite binds NULL.
                    c.baseAddress.map { wt_sqlite3_bind_text(stmt, i, $0, Int32(c.count)) } ?? wt_sqlite3_bind_text(stmt, i, "", 0)
                }
            }
        case .blob(let b):
            rc = b.withUnsafeBytes { wt_sqlite3_bind_blob(stmt, i, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32($0.count)) }
        }
        if rc != SQLITE_OK { throw connection.error(rc, "binding \(sql.prefix(60))") }
    }

    /// Binds bytes without copying; they must stay valid until the statement is stepped.
    func bindNoCopy(_ p: UnsafeRawBufferPointer, at i: Int32) throws {
        let rc = wt_sqlite3_bind_blob_static(stmt, i, p.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int64(p.count))
        if rc != SQLITE_OK { throw connection.error(rc, "binding \(sql.prefix(60))") }
    }

    /// Steps once: true when a row is ready, false when done.
    func step() throws -> Bool {
        let rc = sqlite3_step(stmt)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error(rc, "running \(sql.prefix(60))")
        }
    }

    /// Binds, runs to completion, and resets.
    func run(_ values: [SQLValue]) throws {
        try bind(values)
        while try step() {}
        sqlite3_reset(stmt)
    }

    func row() -> [SQLValue] {
        (0..<sqlite3_column_count(stmt)).map { column($0) }
    }

    func column(_ i: Int32) -> SQLValue {
        switch sqlite3_column_type(stmt, i) {
        case SQLITE_INTEGER: return .int(sqlite3_column_int64(stmt, i))
        case SQLITE_FLOAT: return .double(sqlite3_column_double(stmt, i))
        case SQLITE_TEXT:
            let n = Int(sqlite3_column_bytes(stmt, i))
            guard let p = sqlite3_column_text(stmt, i) else { return .text("") }
            return .text(String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self))
        case SQLITE_BLOB:
            let n = Int(sqlite3_column_bytes(stmt, i))
            guard let p = sqlite3_column_blob(stmt, i) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: p, count: n)))
        default: return .null
        }
    }
}

func monotonicMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

extension SQLValue {
    public var int: Int64? { if case .int(let v) = self { return v }; return nil }
    public var text: String? {
        switch self {
        case .text(let s): return s
        case .int(let v): return String(v)
        default: return nil
        }
    }
    public var blob: [UInt8]? { if case .blob(let b) = self { return b }; if case .text(let s) = self { return Array(s.utf8) }; return nil }
}

/// The SQL a store runs, and what it needs of a database. The store logic is written once
/// over this seam, in a subset both SQLite and PostgreSQL speak: `?` placeholders (`?1`
/// to repeat one), RETURNING-free inserts through `insert`, ON CONFLICT ... DO NOTHING/UPDATE.
public enum SQLDialect: Sendable, Equatable { case sqlite, postgres }

/// How a transaction sees others. SQLite ignores it (one writer at a time, BEGIN IMMEDIATE).
public enum Isolation: Sendable {
    /// Check-then-write logic (administration): as if transactions ran one after another.
    case serializable
    /// Deliveries and the notifier: unique keys and row locks decide, which conflict less.
    case readCommitted
}

/// The bytes of a large value to insert: in memory already, or handed over in pieces.
public enum BlobSource {
    case bytes(UnsafeRawBufferPointer)
    case stream(size: Int, produce: ((UnsafeBufferPointer<UInt8>) -> Void) -> Void)

    var size: Int {
        switch self {
        case .bytes(let b): return b.count
        case .stream(let size, _): return size
        }
    }

    /// Hands the bytes over in order, in pieces of at most 1 MiB.
    func produce(_ sink: (UnsafeBufferPointer<UInt8>) -> Void) {
        switch self {
        case .bytes(let raw):
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
            var off = 0
            while off < raw.count {
                let n = min(1 << 20, raw.count - off)
                sink(UnsafeBufferPointer(start: base + off, count: n))
                off += n
            }
        case .stream(_, let produce):
            produce(sink)
        }
    }
}

/// One connection to one database. Not Sendable: a store is used by one thread.
public protocol SQLDriver: AnyObject {
    var dialect: SQLDialect { get }
    /// Every row of `sql` run with `values`.
    func query(_ sql: String, _ values: [SQLValue]) throws -> [[SQLValue]]
    /// Runs one statement; returns how many rows it changed.
    @discardableResult
    func execute(_ sql: String, _ values: [SQLValue]) throws -> Int
    /// A write in a transaction whose outcome nobody reads before the transaction's next
    /// statement: a driver may send it with that statement (PostgreSQL: one round trip for
    /// several); an error it raises is thrown there, or by the commit.
    func executeDeferred(_ sql: String, _ values: [SQLValue]) throws
    /// The rows of several queries, which a driver may send together (one round trip).
    func queries(_ list: [(String, [SQLValue])]) throws -> [[[SQLValue]]]
    /// Runs one INSERT into a table with an `id` key; returns the new id, or nil when
    /// nothing was inserted (ON CONFLICT DO NOTHING).
    func insert(_ sql: String, _ values: [SQLValue]) throws -> Int64?
    /// Inserts one row whose last column is `blob`, without ever holding it twice where the
    /// database allows; returns the new `id` when `returningID`.
    @discardableResult
    func insertRow(into table: String, columns: [String], values: [SQLValue], blobColumn: String, blob: BlobSource,
                   returningID: Bool) throws -> Int64?
    /// The first column of the first row, as bytes in memory of their own, or nil.
    func blob(_ sql: String, _ values: [SQLValue]) throws -> StoredBytes?
    /// Several statements, no values (schema changes).
    func executeScript(_ sql: String) throws
    /// Runs `body` in a transaction, committed when it returns, rolled back when it throws.
    /// Inside another one it nests (a savepoint). A driver may run `body` again after a
    /// conflict with another transaction, so it must only touch the database.
    func transaction<T>(_ isolation: Isolation, _ body: () throws -> T) throws -> T
    /// Runs `body` in a transaction that is always rolled back.
    func dryRun<T>(_ body: () throws -> T) throws -> T
}

extension SQLDriver {
    public func executeDeferred(_ sql: String, _ values: [SQLValue]) throws { try execute(sql, values) }
    public func queries(_ list: [(String, [SQLValue])]) throws -> [[[SQLValue]]] { try list.map { try query($0.0, $0.1) } }
    public func query(_ sql: String) throws -> [[SQLValue]] { try query(sql, []) }
    public func scalar(_ sql: String, _ values: [SQLValue] = []) throws -> SQLValue? { try query(sql, values).first?.first }
    @discardableResult
    public func execute(_ sql: String) throws -> Int { try execute(sql, []) }
    public func transaction<T>(_ body: () throws -> T) throws -> T { try transaction(.serializable, body) }
}

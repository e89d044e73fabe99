#if canImport(Glibc)
import Glibc
#endif
internal import CPostgres
import TicketStore

/// One libpq connection, as a `SQLDriver`. Values go both ways in binary format (no text
/// escaping, bytea as bytes); `?` placeholders become `$n`.
final class PGConnection: SQLDriver {
    let conn: OpaquePointer
    /// The database as named, password taken out: the only form that goes into a message.
    let name: String
    var dialect: SQLDialect { .postgres }
    /// Transactions open (nested ones are savepoints).
    private var depth = 0
    /// Conflicts with other transactions are run again this many times, then reported.
    static let conflictRetries = 2

    /// Connects with libpq's conventions: a URI, a service (PGSERVICE or `service=` in the
    /// URI), the password from the URI, PGPASSWORD or the password file (~/.pgpass,
    /// PGPASSFILE). Settings in the URI override our defaults (a connect timeout).
    init(url: String, applicationName: String) throws {
        name = redactPassword(in: url)
        // Before dbname, which is expanded, so that the URI can override them; the encoding after.
        let params: [(String, String)] = [("connect_timeout", "10"), ("application_name", applicationName),
                                          ("dbname", url), ("client_encoding", "UTF8")]
        let keys = params.map { strdup($0.0) }, values = params.map { strdup($0.1) }
        defer { (keys + values).forEach { free($0) } }
        var k: [UnsafePointer<CChar>?] = keys.map { UnsafePointer($0) } + [nil]
        var v: [UnsafePointer<CChar>?] = values.map { UnsafePointer($0) } + [nil]
        guard let c = PQconnectdbParams(&k, &v, 1) else {
            throw StoreError(sqlState: "08001", message: "out of memory", context: "connecting to \(name)")
        }
        guard PQstatus(c) == CONNECTION_OK else {
            let message = Self.trim(String(cString: PQerrorMessage(c)))
            PQfinish(c)
            // A URI libpq cannot parse is for an administrator; anything else may pass.
            let state = message.hasPrefix("invalid") || message.contains("missing \"=\"") ? "42602" : "08001"
            throw StoreError(sqlState: state, message: message, context: "connecting to \(name)")
        }
        conn = c
        PQsetNoticeProcessor(c, { _, _ in }, nil)
    }

    deinit { PQfinish(conn) }

    static func trim(_ s: String) -> String {
        var s = Substring(s)
        while let last = s.last, last == "\n" || last == " " { s.removeLast() }
        return String(s)
    }

    var isBroken: Bool { PQstatus(conn) == CONNECTION_BAD }

    /// Between transactions, a connection the server closed (a restart) is made again, so
    /// that a long-running notifier or fetcher goes on; inside one, the error stands.
    private func reconnectIfBroken() throws {
        guard depth == 0, isBroken else { return }
        PQreset(conn)
        if isBroken {
            throw StoreError(sqlState: "08001", message: Self.trim(String(cString: PQerrorMessage(conn))), context: "connecting again to \(name)")
        }
    }

    // MARK: Statements

    /// `?` and `?N` outside quotes and comments, as `$n`; translated once per statement text.
    private var translated: [String: String] = [:]

    func translate(_ sql: String) -> String {
        if let t = translated[sql] { return t }
        var out = [UInt8](), n = 0
        out.reserveCapacity(sql.utf8.count + 16)
        let b = Array(sql.utf8)
        var i = 0
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") {
                // A quoted literal or identifier: copied as is ('' and "" stay inside).
                var j = i + 1
                while j < b.count && b[j] != c { j += 1 }
                out += b[i..<min(j + 1, b.count)]
                i = j + 1
                continue
            }
            if c == UInt8(ascii: "-"), i + 1 < b.count, b[i + 1] == UInt8(ascii: "-") {
                var j = i
                while j < b.count && b[j] != 10 { j += 1 }
                out += b[i..<j]
                i = j
                continue
            }
            if c == UInt8(ascii: "?") {
                var j = i + 1
                while j < b.count && b[j] >= 48 && b[j] <= 57 { j += 1 }
                if j > i + 1 {
                    out += Array("$".utf8) + b[(i + 1)..<j]
                } else {
                    n += 1
                    out += Array("$\(n)".utf8)
                }
                i = j
                continue
            }
            out.append(c)
            i += 1
        }
        let t = String(decoding: out, as: UTF8.self)
        translated[sql] = t
        return t
    }

    /// A result, freed with the last reference.
    final class Result {
        let res: OpaquePointer
        init(_ res: OpaquePointer) { self.res = res }
        deinit { PQclear(res) }

        var rowCount: Int { Int(PQntuples(res)) }
        var columnCount: Int { Int(PQnfields(res)) }
        var changed: Int { Int(String(cString: PQcmdTuples(res))) ?? 0 }

        func value(_ row: Int, _ column: Int) -> SQLValue {
            let r = Int32(row), c = Int32(column)
            if PQgetisnull(res, r, c) != 0 { return .null }
            let n = Int(PQgetlength(res, r, c))
            let p = UnsafeRawPointer(PQgetvalue(res, r, c)!)
            func be<T: FixedWidthInteger>(_: T.Type) -> T? {
                n == MemoryLayout<T>.size ? T(bigEndian: p.loadUnaligned(as: T.self)) : nil
            }
            switch PQftype(res, c) {
            case 20: return be(Int64.self).map { .int($0) } ?? .null
            case 23: return be(Int32.self).map { .int(Int64($0)) } ?? .null
            case 21: return be(Int16.self).map { .int(Int64($0)) } ?? .null
            case 26: return be(UInt32.self).map { .int(Int64($0)) } ?? .null
            case 16: return .int(n > 0 && p.load(as: UInt8.self) != 0 ? 1 : 0)
            case 701: return be(UInt64.self).map { .double(Double(bitPattern: $0)) } ?? .null
            case 700: return be(UInt32.self).map { .double(Double(Float(bitPattern: $0))) } ?? .null
            case 2278: return .null  // void
            case 17: return .blob(Array(UnsafeRawBufferPointer(start: p, count: n)))
            case 25, 1043, 1042, 19, 18, 705:
                return .text(String(decoding: UnsafeRawBufferPointer(start: p, count: n), as: UTF8.self))
            default: return .blob(Array(UnsafeRawBufferPointer(start: p, count: n)))
            }
        }

        var rows: [[SQLValue]] {
            let columns = columnCount
            return (0..<rowCount).map { r in (0..<columns).map { value(r, $0) } }
        }
    }

    /// The error of a failed statement, or of a connection that went away.
    func error(_ res: OpaquePointer?, _ context: String) -> StoreError {
        var state: String? = nil, message = ""
        if let res {
            if let s = PQresultErrorField(res, Int32(UInt8(ascii: "C"))) { state = String(cString: s) }
            if let m = PQresultErrorField(res, Int32(UInt8(ascii: "M"))) { message = String(cString: m) }
        }
        if message.isEmpty { message = Self.trim(String(cString: PQerrorMessage(conn))) }
        if state == nil || isBroken && !(state!.hasPrefix("57") || state!.hasPrefix("08")) {
            // No SQLSTATE from the server: the connection failed under the statement.
            state = isBroken ? "08006" : (state ?? "XX000")
        }
        return StoreError(sqlState: state!, message: message, context: context)
    }

    /// Statements whose outcome nobody reads before the next statement or the COMMIT: sent
    /// with that one, in one round trip (libpq's pipeline mode). BEGIN waits here too.
    private var pending: [(sql: String, values: [SQLValue])] = []

    /// Calls `body` with `values` (and a last bytea value of `extra`'s bytes, not copied) in
    /// PQexecParams' binary form: count, types, values, lengths, formats.
    private func withParameters<T>(_ values: [SQLValue], extra: UnsafeRawBufferPointer?,
                                   _ body: (Int32, [UInt32], [UnsafePointer<CChar>?], [Int32], [Int32]) -> T) -> T {
        var storage: [UInt8] = []
        var spans: [(offset: Int, count: Int)] = []
        var types: [UInt32] = []
        for v in values {
            switch v {
            case .null:
                types.append(0)
                spans.append((-1, 0))
            case .int(let x):
                types.append(20)
                spans.append((storage.count, 8))
                withUnsafeBytes(of: x.bigEndian) { storage += $0 }
            case .double(let d):
                types.append(701)
                spans.append((storage.count, 8))
                withUnsafeBytes(of: d.bitPattern.bigEndian) { storage += $0 }
            case .text(let s):
                types.append(25)
                spans.append((storage.count, s.utf8.count))
                let start = storage.count
                storage += s.utf8
                // PostgreSQL's text holds no NUL; U+FFFD shows where one was.
                if storage[start...].contains(0) {
                    var fixed: [UInt8] = []
                    for byte in storage[start...] { if byte == 0 { fixed += [0xEF, 0xBF, 0xBD] } else { fixed.append(byte) } }
                    storage.removeSubrange(start...)
                    storage += fixed
                    spans[spans.count - 1].count = fixed.count
                }
            case .blob(let b):
                types.append(17)
                spans.append((storage.count, b.count))
                storage += b
            }
        }
        if extra != nil { types.append(17) }
        storage.append(0)  // never empty: every value needs an address
        return storage.withUnsafeBufferPointer { buf in
            let base = UnsafeRawPointer(buf.baseAddress!)
            var pointers: [UnsafePointer<CChar>?] = spans.map {
                $0.offset < 0 ? nil : (base + $0.offset).assumingMemoryBound(to: CChar.self)
            }
            var lengths: [Int32] = spans.map { Int32(clamping: $0.count) }
            if let extra {
                pointers.append((extra.baseAddress ?? base).assumingMemoryBound(to: CChar.self))
                lengths.append(Int32(clamping: extra.count))
            }
            return body(Int32(types.count), types, pointers, lengths, [Int32](repeating: 1, count: types.count))
        }
    }

    /// Runs one statement with `values` (and a last bytea value of `extra`'s bytes, not copied),
    /// after any pending ones, in the same round trip.
    func run(_ sql: String, _ values: [SQLValue], extra: UnsafeRawBufferPointer? = nil) throws -> Result {
        try reconnectIfBroken()
        if !pending.isEmpty { return try pipeline([(sql, values)], extra: extra)[0] }
        let text = values.isEmpty && extra == nil ? sql : translate(sql)
        let res: OpaquePointer? = withParameters(values, extra: extra) { count, types, pointers, lengths, formats in
            count == 0 ? PQexecParams(conn, text, 0, nil, nil, nil, nil, 1)
                       : PQexecParams(conn, text, count, types, pointers, lengths, formats, 1)
        }
        guard let res else { throw error(nil, "running \(sql.prefix(60))") }
        switch PQresultStatus(res) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
            return Result(res)
        default:
            let e = error(res, "running \(sql.prefix(60))")
            PQclear(res)
            throw e
        }
    }

    /// Sends the pending statements and `list` together, then reads every result: the first
    /// error is thrown (the server skips what follows it), else `list`'s results are returned
    /// (`extra` is the last one's last value).
    private func pipeline(_ list: [(sql: String, values: [SQLValue])], extra: UnsafeRawBufferPointer?) throws -> [Result] {
        let statements = pending + list
        let first = pending.count
        pending = []
        guard PQenterPipelineMode(conn) == 1 else { throw error(nil, "starting a pipeline") }
        defer { PQexitPipelineMode(conn) }
        for (i, s) in statements.enumerated() {
            let text = s.values.isEmpty ? s.sql : translate(s.sql)
            let sent = withParameters(s.values, extra: i == statements.count - 1 ? extra : nil) { count, types, pointers, lengths, formats in
                PQsendQueryParams(conn, text, count, count == 0 ? nil : types, count == 0 ? nil : pointers,
                                  count == 0 ? nil : lengths, count == 0 ? nil : formats, 1)
            }
            guard sent == 1 else { throw error(nil, "sending \(s.sql.prefix(60))") }
        }
        guard PQpipelineSync(conn) == 1 else { throw error(nil, "sending \(statements.last?.sql.prefix(60) ?? "")") }
        var failure: StoreError? = nil
        var results: [Result] = []
        for (i, s) in statements.enumerated() {
            // Each statement's results, then a null.
            while let res = PQgetResult(conn) {
                switch PQresultStatus(res) {
                case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
                    if i >= first { results.append(Result(res)) } else { PQclear(res) }
                case PGRES_PIPELINE_ABORTED:
                    PQclear(res)
                default:
                    if failure == nil { failure = error(res, "running \(s.sql.prefix(60))") }
                    PQclear(res)
                }
            }
            if isBroken { break }
        }
        // The sync point's own result.
        if !isBroken, let res = PQgetResult(conn) { PQclear(res) }
        if let failure { throw failure }
        guard results.count == list.count else { throw error(nil, "running \(list.last?.sql.prefix(60) ?? "")") }
        return results
    }

    /// Several queries in one round trip (with any pending statements before them).
    func queries(_ list: [(String, [SQLValue])]) throws -> [[[SQLValue]]] {
        try reconnectIfBroken()
        return try pipeline(list.map { (sql: $0.0, values: $0.1) }, extra: nil).map(\.rows)
    }

    /// A write in a transaction whose row count nobody reads: it goes to the server with the
    /// next statement or the COMMIT. Outside a transaction it runs at once.
    func executeDeferred(_ sql: String, _ values: [SQLValue]) throws {
        if depth == 0 { _ = try run(sql, values); return }
        pending.append((sql, values))
    }

    func query(_ sql: String, _ values: [SQLValue]) throws -> [[SQLValue]] {
        try run(sql, values).rows
    }

    @discardableResult
    func execute(_ sql: String, _ values: [SQLValue]) throws -> Int {
        try run(sql, values).changed
    }

    func insert(_ sql: String, _ values: [SQLValue]) throws -> Int64? {
        let r = try run(sql + " RETURNING id", values)
        return r.rowCount == 0 ? nil : r.value(0, 0).int
    }

    @discardableResult
    func insertRow(into table: String, columns: [String], values: [SQLValue], blobColumn: String, blob: BlobSource,
                   returningID: Bool) throws -> Int64? {
        let sql = "INSERT INTO \(table) (\((columns + [blobColumn]).joined(separator: ", "))) VALUES ("
            + (1...(columns.count + 1)).map { "$\($0)" }.joined(separator: ", ") + ")" + (returningID ? " RETURNING id" : "")
        let r: Result
        switch blob {
        case .bytes(let raw):
            r = try run(sql, values, extra: raw)
        case .stream(let size, let produce):
            var bytes: [UInt8] = []
            bytes.reserveCapacity(size)
            produce { bytes += $0 }
            guard bytes.count == size else {
                throw StoreError(sqlState: "22000", message: "wrote \(bytes.count) of \(size) bytes", context: "writing \(table).\(blobColumn)")
            }
            r = try bytes.withUnsafeBytes { try run(sql, values, extra: $0) }
        }
        return returningID && r.rowCount > 0 ? r.value(0, 0).int : nil
    }

    func blob(_ sql: String, _ values: [SQLValue]) throws -> StoredBytes? {
        let r = try run(sql, values)
        guard r.rowCount > 0, r.columnCount > 0, PQgetisnull(r.res, 0, 0) == 0 else { return nil }
        return StoredBytes(copying: UnsafeRawPointer(PQgetvalue(r.res, 0, 0)), count: Int(PQgetlength(r.res, 0, 0)))
    }

    func executeScript(_ sql: String) throws {
        try reconnectIfBroken()
        if !pending.isEmpty {
            // COMMIT (or a savepoint) after the pending statements, in the same round trip.
            _ = try pipeline([(sql, [])], extra: nil)
            return
        }
        guard let res = PQexec(conn, sql) else { throw error(nil, String(sql.prefix(60))) }
        defer { PQclear(res) }
        switch PQresultStatus(res) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY: return
        default: throw error(res, String(sql.prefix(60)))
        }
    }

    // MARK: Transactions

    func transaction<T>(_ isolation: Isolation, _ body: () throws -> T) throws -> T {
        if depth > 0 {
            try executeScript("SAVEPOINT nested")
            depth += 1
            defer { depth -= 1 }
            do {
                let result = try body()
                try executeScript("RELEASE SAVEPOINT nested")
                return result
            } catch {
                pending = []  // written after the savepoint: rolled back anyway
                _ = try? executeScript("ROLLBACK TO SAVEPOINT nested; RELEASE SAVEPOINT nested")
                throw error
            }
        }
        var attempt = 0
        while true {
            do {
                return try once(isolation, body)
            } catch let e as StoreError where e.isConflict && attempt < Self.conflictRetries && !isBroken {
                // Another transaction won; after a short, random wait this one reads what it wrote.
                attempt += 1
                usleep(UInt32.random(in: 2_000...20_000) * UInt32(attempt))
            }
        }
    }

    private func once<T>(_ isolation: Isolation, _ body: () throws -> T) throws -> T {
        try reconnectIfBroken()
        // BEGIN goes with the transaction's first statement.
        pending = [(isolation == .serializable ? "BEGIN ISOLATION LEVEL SERIALIZABLE" : "BEGIN ISOLATION LEVEL READ COMMITTED", [])]
        // Until COMMIT has answered: a connection lost in the meantime is never made again
        // under the transaction (a COMMIT on a new session would report success for nothing).
        depth = 1
        defer { depth = 0 }
        let result: T
        do {
            result = try body()
        } catch {
            abandon()
            throw error
        }
        do {
            try executeScript("COMMIT")
        } catch let e as StoreError where e.sqlState?.hasPrefix("08") == true || e.sqlState?.hasPrefix("57") == true || isBroken {
            // The server may have committed before the connection went: nobody knows. The
            // caller reports a transient failure; a delivery's key settles it next time.
            throw StoreError(sqlState: "08007", message: "connection lost during COMMIT, outcome unknown: \(e.message)", context: "committing")
        } catch {
            // A deferred statement failed (or the commit did): the transaction is over.
            abandon()
            throw error
        }
        return result
    }

    /// Drops what was not sent and rolls back what was.
    private func abandon() {
        pending = []
        if !isBroken && PQtransactionStatus(conn) != PQTRANS_IDLE { _ = try? executeScript("ROLLBACK") }
    }

    func dryRun<T>(_ body: () throws -> T) throws -> T {
        try executeScript("BEGIN ISOLATION LEVEL SERIALIZABLE")
        depth = 1
        defer {
            abandon()
            depth = 0
        }
        return try body()
    }
}

#if canImport(Glibc)
import Glibc
#endif
internal import CSQLite

/// The ticket store in one SQLite file: WAL journal, synchronous=FULL, writes in BEGIN
/// IMMEDIATE transactions.
public final class SQLiteStore: SQLStore {
    let connection: Connection
    public let path: String

    public struct Options: Sendable {
        /// How long to wait for another writer before giving up (transient failure).
        public var busyTimeoutMilliseconds: Int32 = 30_000
        public var readOnly = false
        /// Create the file and schema when missing.
        public var create = true
        /// Sync every commit to disk (synchronous=FULL). The notifier's own records may go
        /// without: a commit still survives the process being killed, and what a power cut
        /// could take back is a mail marked sent, sent again with the same Message-ID.
        public var syncEveryCommit = true

        public init(busyTimeoutMilliseconds: Int32 = 30_000, readOnly: Bool = false, create: Bool = true, syncEveryCommit: Bool = true) {
            self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
            self.readOnly = readOnly
            self.create = create
            self.syncEveryCommit = syncEveryCommit
        }
    }

    /// Mail and secrets are not for other users: a new database is created owner
    /// read-write, group read (an administrators' group), whatever the umask. SQLite gives
    /// its -wal and -shm files the same mode.
    public static let fileMode: UInt32 = 0o640

    public init(path: String, options: Options = Options()) throws {
        self.path = path
        if !options.readOnly && options.create {
            // Created here, not by SQLite, so that the mode does not depend on the umask.
            let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(Self.fileMode))
            if fd >= 0 {
                fchmod(fd, mode_t(Self.fileMode))
                close(fd)
            }
        }
        connection = try Connection(path: path, options: .init(readOnly: options.readOnly, create: options.create,
                                                               busyTimeoutMilliseconds: options.busyTimeoutMilliseconds))
        super.init(driver: connection, readOnly: options.readOnly)
        rulesIndexPath = path + "-rules"
        if options.readOnly { return }
        let deadline = monotonicMilliseconds() + Int64(options.busyTimeoutMilliseconds)
        // WAL once per file; racing processes may see BUSY while another switches it.
        if try connection.pragma("journal_mode", retryUntil: deadline)?.lowercased() != "wal" {
            let mode = try connection.pragma("journal_mode=WAL", retryUntil: deadline)
            if mode?.lowercased() != "wal" {
                throw StoreError(code: SQLITE_CANTOPEN, message: "cannot switch to WAL (journal mode \(mode ?? "?"))", context: path)
            }
        }
        try connection.executeScript("PRAGMA synchronous=\(options.syncEveryCommit ? "FULL" : "NORMAL"); PRAGMA foreign_keys=ON")
        try migrate()
    }

    /// Takes from the database, its -wal and -shm files and the rule index copy every
    /// permission other users have (files made by older versions, or by hand); returns the
    /// files changed.
    public func restrictFileModes() -> [String] {
        var changed: [String] = []
        for file in [path, path + "-wal", path + "-shm", path + "-rules"] {
            var st = stat()
            guard stat(file, &st) == 0, st.st_mode & 0o007 != 0 else { continue }
            if chmod(file, st.st_mode & 0o770) == 0 { changed.append(file) }
        }
        return changed
    }

    /// The schema version this build writes.
    public static var schemaVersion: Int { Schema.migrations.count }

    private func migrate() throws {
        if try connection.scalar("PRAGMA user_version")?.int == Int64(Schema.migrations.count) { return }
        try connection.transaction(immediate: true) {
            let current = Int(try connection.scalar("PRAGMA user_version")?.int ?? 0)
            if current > Schema.migrations.count {
                throw StoreError(code: SQLITE_CANTOPEN, message: "database schema \(current) is newer than this wt (\(Schema.migrations.count))", context: path)
            }
            for (i, m) in Schema.migrations.enumerated() where i >= current {
                try connection.executeScript(m.sql)
            }
            // Settings a migration brings start at their defaults; set ones stay as they are.
            for (k, v) in Schema.defaultSettings {
                try connection.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING", [.text(k), .text(v)])
            }
            try connection.executeScript("PRAGMA user_version = \(Schema.migrations.count)")
        }
    }

    public override func integrityCheck() throws -> String {
        try connection.query("PRAGMA integrity_check").compactMap { $0.first?.text }.joined(separator: "\n")
    }
}

/// The copy of the compiled rule index beside the database ("wt.db-rules"): a header naming
/// the database (its random id) and the rules version, then the image. Anyone who can write
/// the folder can write it, so it is only a candidate: a copy for another database or
/// version is ignored, and the image's own checks (as matching reads it) catch damage.
struct RulesIndexFile {
    static let magic: UInt64 = 0x3243_5457_0000_0002  // "WTC2"
    static let headerSize = 32
    let path: String
    let databaseID: Int64
    let version: UInt64

    /// The image of a copy made for this database and version, mapped; nil otherwise.
    func map() -> StoredBytes? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size >= Self.headerSize,
              let p = mmap(nil, Int(st.st_size), PROT_READ, MAP_SHARED, fd, 0), p != MAP_FAILED else { return nil }
        let whole = UnsafeRawBufferPointer(start: p, count: Int(st.st_size))
        let ok = whole.loadUnaligned(as: UInt64.self) == Self.magic
            && whole.loadUnaligned(fromByteOffset: 8, as: Int64.self) == databaseID
            && whole.loadUnaligned(fromByteOffset: 16, as: UInt64.self) == version
            && whole.loadUnaligned(fromByteOffset: 24, as: UInt64.self) == UInt64(st.st_size) - UInt64(Self.headerSize)
        guard ok else {
            munmap(p, Int(st.st_size))
            return nil
        }
        return StoredBytes(mapping: p, length: Int(st.st_size), bytes: UnsafeRawBufferPointer(rebasing: whole[Self.headerSize...]))
    }

    /// Writes a copy beside the database, aside and renamed so that no reader sees half of
    /// one; best effort (without it, deliveries read the row).
    func write(_ image: [UInt8]) {
        var header: [UInt8] = []
        for v in [Self.magic, UInt64(bitPattern: databaseID), version, UInt64(image.count)] { withUnsafeBytes(of: v.littleEndian) { header += $0 } }
        let tmp = path + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode_t(SQLiteStore.fileMode))
        guard fd >= 0 else { return }
        fchmod(fd, mode_t(SQLiteStore.fileMode))
        let ok = writeAll(fd, header) && writeAll(fd, image) && fsync(fd) == 0
        close(fd)
        if !ok || rename(tmp, path) != 0 { unlink(tmp) }
    }
}

func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { p in
        var off = 0
        while off < p.count {
            let n = write(fd, p.baseAddress! + off, p.count - off)
            if n < 0 { if errno == EINTR { continue }; return false }
            off += n
        }
        return true
    }
}

/// A display name that can never become a path or an option: the last component of any path
/// in it, no NUL, control or bidi characters (a right-to-left override turns "txt.exe" into
/// what reads as "exe.txt"), no leading dot or dash ("-" is standard output to many tools),
/// no "..", at most 255 bytes of UTF-8.
public func sanitizeFilename(_ name: String) -> String {
    // "C:\TEMP\x.png" and "../../etc/passwd" name the files "x.png" and "passwd".
    let last = name.split(omittingEmptySubsequences: true) { $0 == "/" || $0 == "\\" }.last.map(String.init) ?? ""
    var scalars = String.UnicodeScalarView()
    for s in last.unicodeScalars {
        switch s.value {
        case 0..<0x20, 0x7F, 0x80..<0xA0, 0x2028, 0x2029, 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: continue
        default: scalars.append(s)
        }
    }
    var out = String(scalars).trimmingSpaces
    while out.contains("..") { out = out.replacingAll("..", with: ".") }
    while out.hasPrefix(".") || out.hasPrefix("-") { out.removeFirst() }
    out = out.trimmingSpaces
    if out.isEmpty { out = "attachment" }
    if out.utf8.count > 255 {
        // Cut on a character boundary, keeping the extension where there is one.
        let ext = out.lastIndex(of: ".").map { String(out[$0...]) }.flatMap { $0.utf8.count <= 16 ? $0 : nil } ?? ""
        var stem = ""
        for ch in out.dropLast(ext.count) {
            if stem.utf8.count + String(ch).utf8.count + ext.utf8.count > 255 { break }
            stem.append(ch)
        }
        out = stem + ext
    }
    return out
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return String(s)
    }

    func replacingAll(_ a: String, with b: String) -> String {
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: a) {
            out += rest[..<r.lowerBound]
            out += b
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}

func splitLines(_ s: String) -> [String] { s.split(separator: "\n").map(String.init) }

#if canImport(Glibc)
import Glibc
#endif

/// Progress on stderr, only when a person is watching it.
public struct Progress {
    public let enabled = isatty(2) == 1

    public init() {}
    private var last: timespec = timespec()

    public mutating func update(_ text: @autoclosure () -> String) {
        guard enabled else { return }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let ms = (now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1_000_000
        if ms < 200 { return }
        last = now
        writeErr("\r\u{1B}[K" + text())
    }

    public func done() { if enabled { writeErr("\r\u{1B}[K") } }
}

/// Writes all of `bytes` to `fd`, across short writes and EINTR; false on an error (errno says which).
@discardableResult
public func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBufferPointer { p in
        var off = 0
        while off < p.count {
            let n = write(fd, p.baseAddress! + off, p.count - off)
            if n < 0 { if errno == EINTR { continue }; return false }
            if n == 0 { return false }
            off += n
        }
        return true
    }
}

public func writeOut(_ bytes: [UInt8]) { writeAll(1, bytes) }

public func writeErr(_ s: String) {
    var s = s
    s.withUTF8 { p in _ = write(2, p.baseAddress, p.count) }
}

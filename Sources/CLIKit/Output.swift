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

public func writeOut(_ bytes: [UInt8]) {
    bytes.withUnsafeBufferPointer { p in
        var off = 0
        while off < p.count {
            let n = write(1, p.baseAddress! + off, p.count - off)
            if n <= 0 { if errno == EINTR { continue }; return }
            off += n
        }
    }
}

public func writeErr(_ s: String) {
    var s = s
    s.withUTF8 { p in _ = write(2, p.baseAddress, p.count) }
}

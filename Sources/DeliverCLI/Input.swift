#if canImport(Glibc)
import Glibc
#endif
import CLIKit
import MailMessage
import CKernels

enum InputError: Error, CustomStringConvertible {
    case read(String, Int32)
    case open(String, Int32)

    var description: String {
        switch self {
        case .read(let what, let e): return "cannot read \(what): \(String(cString: strerror(e)))"
        case .open(let what, let e): return "cannot open \(what): \(String(cString: strerror(e)))"
        }
    }
}

/// Reads a whole file descriptor into one buffer, sized from fstat when it is a regular file.
func readAll(fd: Int32, what: String) throws -> ByteBuffer {
    var st = stat()
    var hint = 256 * 1024
    if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size > 0 { hint = Int(st.st_size) + 1 }
    let buf = ByteBuffer(capacity: hint)
    while true {
        let p = buf.writableTail(atLeast: 64 * 1024)
        let n = read(fd, p, buf.capacity - buf.count)
        if n > 0 { buf.commit(n); continue }
        if n == 0 { break }
        if errno == EINTR { continue }
        throw InputError.read(what, errno)
    }
    return buf
}

/// Splits an mbox into messages: every line that starts with "From " begins one. Lines quoted
/// as ">From " (mboxrd) lose one ">".
struct MboxReader {
    let data: ByteBuffer
    private var pos = 0
    private let mapping: Mapping?

    /// A private, copy-on-write mapping of the file, unmapped when the reader goes.
    final class Mapping {
        let base: UnsafeMutableRawPointer
        let length: Int
        init(base: UnsafeMutableRawPointer, length: Int) { self.base = base; self.length = length }
        deinit { munmap(base, length) }
    }

    init(path: String) throws {
        let fd = open(path, O_RDONLY)
        if fd < 0 { throw InputError.open(path, errno) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size > 0,
           let p = mmap(nil, Int(st.st_size), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), p != MAP_FAILED {
            madvise(p, Int(st.st_size), MADV_SEQUENTIAL)
            mapping = Mapping(base: p, length: Int(st.st_size))
            data = ByteBuffer(borrowing: p.assumingMemoryBound(to: UInt8.self), count: Int(st.st_size))
        } else {
            mapping = nil
            data = try readAll(fd: fd, what: path)
        }
    }

    var offset: Int { pos }

    /// The next message's bytes, without its "From " line.
    mutating func next() -> ByteBuffer? {
        let b = data.bytes
        let end = b.count
        // Skip to the first "From " line (leading junk is ignored).
        while pos < end {
            if isFromLine(b, pos, end) { break }
            pos = b.nextLine(pos, end)
        }
        guard pos < end else { return nil }
        pos = b.nextLine(pos, end)
        let start = pos
        // The next "From " line, found sixteen bytes at a time rather than line by line.
        let hit = wt_find_from_line(data.base + start - 1, end - start + 1)
        let scan = hit == end - start + 1 ? end : start + hit
        // Lines quoted as ">From " need unquoting; without one, the bytes are used as they are.
        var quoted = false
        ">From ".utf8CString.withUnsafeBufferPointer { needle in
            quoted = scan > start && wt_memmem(data.base + start, scan - start, needle.baseAddress!, 6) != nil
        }
        var stop = scan
        // The blank line before the next "From " belongs to the mbox, not the message.
        if stop > start, b[stop - 1] == 10 { stop -= 1; if stop > start, b[stop - 1] == 13 { stop -= 1 } }
        pos = scan
        let raw = UnsafeRawBufferPointer(b)
        if !quoted {
            // Nothing to unquote: the message is read in place.
            return ByteBuffer(borrowing: data.base + start, count: stop - start)
        }
        let msg = ByteBuffer(capacity: stop - start + 1)
        var i = start
        while i < stop {
            let lineEnd = min(b.nextLine(i, stop), stop)
            var k = i
            while k < lineEnd, b[k] == UInt8(ascii: ">") { k += 1 }
            let s = (k > i && isFromLine(b, k, lineEnd)) ? i + 1 : i
            msg.append(UnsafeRawBufferPointer(rebasing: raw[s..<lineEnd]))
            i = lineEnd
        }
        return msg
    }

    private func isFromLine(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> Bool {
        i + 5 <= end && b[i] == 70 && b[i + 1] == 114 && b[i + 2] == 111 && b[i + 3] == 109 && b[i + 4] == 32
    }
}

extension UnsafeBufferPointer where Element == UInt8 {
    /// The index after the next LF at or after `i` (or `end`).
    func nextLine(_ i: Int, _ end: Int) -> Int {
        guard let base = baseAddress, i < end else { return end }
        if let p = memchr(base + i, 10, end - i) {
            return base.distance(to: p.assumingMemoryBound(to: UInt8.self)) + 1
        }
        return end
    }
}


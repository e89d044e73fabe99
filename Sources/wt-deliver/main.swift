// wt-deliver, the fully static build: stdin into SQLite, the path every message takes. What
// needs libcurl or libpq (--pop, a postgresql:// database) is done by wt-deliver-net, which
// this execs with the same arguments.
#if canImport(Glibc)
import Glibc
#endif
import CLIKit
import DeliverCLI

/// Replaces this process with wt-deliver-net from the same folder; returns only on failure.
func execNetworkBuild() -> Int32 {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    var dir = "."
    if n > 0 {
        let path = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if let slash = path.lastIndex(of: "/") { dir = String(path[..<slash]) }
    }
    let sibling = dir + "/wt-deliver-net"
    var argv: [UnsafeMutablePointer<CChar>?] = [strdup(sibling)]
    for a in CommandLine.arguments.dropFirst() { argv.append(strdup(a)) }
    argv.append(nil)
    execv(sibling, argv)
    let reason = String(cString: strerror(errno))
    writeErr("wt-deliver: cannot run \(sibling) (\(reason)): it does POP3 and PostgreSQL; not delivered, will be retried\n")
    return Exit.tempFail
}

commandLineMain { command in command.needsNetworkBuild ? execNetworkBuild() : command.runMapped() }

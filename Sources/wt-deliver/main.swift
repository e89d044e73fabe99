// wt-deliver, the fully static build: stdin into SQLite, the path every message takes. What
// needs libcurl or libpq (--pop, a postgresql:// database) is done by a sibling build, which
// this execs with the same arguments.
#if canImport(Glibc)
import Glibc
#endif
import CLIKit
import DeliverCLI

// --pop needs libcurl: wt-deliver-net. A postgresql:// database: wt-deliver-pg (fully static
// with libpq), else wt-deliver-net (the system's shared libpq).
commandLineMain { command in
    if command.pop { return execSibling("wt-deliver-net") }
    if command.needsNetworkBuild { return execSibling("wt-deliver-pg", else: "wt-deliver-net") }
    return command.runMapped()
}

// wt-deliver-net: wt-deliver with what links libcurl and libpq (POP3 fetch mode, the
// PostgreSQL store). The static wt-deliver execs it for those; it never execs anything.
#if canImport(Glibc)
import Glibc
#endif
import CLIKit
import DeliverCLI
import Fetch

Extensions.fetch = { command in FetchCommand(command).run() }

let status: Int32
do {
    if let command = try Deliver.parse(Array(CommandLine.arguments.dropFirst())) {
        status = command.runMapped()
    } else {
        writeOut(Array(Deliver.usage.utf8))
        status = Exit.ok
    }
} catch let e as Deliver.UsageError {
    writeErr("wt-deliver: \(e.message)\n  See 'wt-deliver --help'.\n")
    status = Exit.usage
}
exit(status)

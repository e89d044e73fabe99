// wt-deliver-net: wt-deliver with what links libcurl and libpq (POP3 fetch mode, the
// PostgreSQL store). The static wt-deliver execs it for those; it never execs anything.
#if canImport(Glibc)
import Glibc
#endif
import CLIKit
import DeliverCLI
import Fetch
import PostgresStore

Extensions.fetch = { command in FetchCommand(command).run() }
// A shared PostgreSQL store: its schema is made by wt-admin init, never here.
Extensions.openURLStore = { url, readOnly, _ in
    try PostgresStore(url: url, options: .init(readOnly: readOnly, applicationName: "wt-deliver"))
}

commandLineMain { command in command.runMapped() }

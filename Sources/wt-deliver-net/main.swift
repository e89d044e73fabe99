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
Extensions.openURLStore = { url, readOnly, _ in try PostgresStore.forDelivery(url: url, readOnly: readOnly) }

commandLineMain { command in command.runMapped() }

// wt-deliver-net: wt-deliver with what links libcurl and libpq (POP3 fetch mode, the
// PostgreSQL store). The static wt-deliver execs it for those; it never execs anything.
#if canImport(Glibc)
import Glibc
#endif
import CLIKit
import DeliverCLI
import Fetch

Extensions.fetch = { command in FetchCommand(command).run() }

commandLineMain { command in command.runMapped() }

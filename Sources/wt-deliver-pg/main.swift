// wt-deliver-pg: wt-deliver for a shared PostgreSQL database, linked fully statically with
// libpq and OpenSSL (no dynamic loader at start-up: that was most of a delivery's time).
// The static wt-deliver execs it for a postgresql:// database; Postfix may also run it
// directly. --pop goes on to wt-deliver-net.
#if canImport(Glibc)
import Glibc
#endif
import CLIKit
import CPostgresStatic
import DeliverCLI
import PostgresStore

_ = wt_pq_static_build()
// A shared PostgreSQL store: its schema is made by wt-admin init, never here.
Extensions.openURLStore = { url, readOnly, _ in
    try PostgresStore(url: url, options: .init(readOnly: readOnly, applicationName: "wt-deliver"))
}

commandLineMain { command in command.pop ? execSibling("wt-deliver-net") : command.runMapped() }

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
Extensions.openURLStore = { url, readOnly, _ in try PostgresStore.forDelivery(url: url, readOnly: readOnly) }

commandLineMain { command in command.pop ? execSibling("wt-deliver-net") : command.runMapped() }

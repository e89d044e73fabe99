import Foundation
import PostgresTestSupport
import Testing

/// The commands on a shared PostgreSQL database, named in WT_DB as on an MX host.
@Suite struct PostgresCommandTests {
    func database() throws -> TestPostgres.Database {
        do { return try TestPostgres.database() } catch let e as TestPostgres.Unavailable { try Test.cancel(Comment(rawValue: e.message)) }
    }

    @Test func initThenDeliverThroughTheNetworkBuildThenList() throws {
        let db = try database()
        let env = ["WT_DB": db.url]
        let raw = Data("From: Ann <ann@example.org>\r\nSubject: Printer on fire\r\nMessage-ID: <e2e-pg@example.org>\r\n\r\nIt burns.\r\n".utf8)
        // Before init: the store says what to run, and the MTA keeps the message.
        let early = try Run.tool("wt-deliver", ["-f", "ann@example.org", "--", "help@example.org"], stdin: raw, env: env)
        #expect(early.status == 75)
        #expect(early.stderr.contains("wt-admin init"))
        let made = try Run.tool("wt-admin", ["init"], env: env)
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.text.contains("created (schema"))
        #expect(try Run.tool("wt-admin", ["init"], env: env).text.contains("up to date"))
        // The static wt-deliver execs wt-deliver-pg (or wt-deliver-net) for a postgresql:// database.
        for _ in 0..<2 {
            let delivered = try Run.tool("wt-deliver", ["-f", "ann@example.org", "--", "help@example.org"], stdin: raw, env: env)
            #expect(delivered.status == 0, "\(delivered.stderr)")
        }
        let list = try Run.tool("wt-admin", ["tickets", "list", "--json"], env: env)
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.text.split(separator: "\n").count == 1)
        #expect(list.text.contains("Printer on fire"))
    }

    @Test func aPasswordOnTheCommandLineIsRefusedAndNeverShown() throws {
        let db = try database()
        // The user name of whichever server the tests use, with a password put in.
        let at = try #require(db.url.firstIndex(of: "@"))
        let withPassword = String(db.url[..<at]) + ":hunter2" + String(db.url[at...])
        #expect(withPassword.hasPrefix("postgresql://") && withPassword.contains(":hunter2@"))
        let admin = try Run.tool("wt-admin", ["tickets", "list", "--db", withPassword])
        #expect(admin.status != 0)
        #expect(admin.stderr.contains("~/.pgpass"))
        #expect(!(admin.stdout + Data(admin.stderr.utf8)).contains(Data("hunter2".utf8)))
        let deliver = try Run.tool("wt-deliver", ["--db", withPassword, "-f", "a@example.org", "--", "help@example.org"],
                                   stdin: Data("Subject: x\r\n\r\nx\r\n".utf8))
        #expect(deliver.status == 75)
        #expect(!deliver.stderr.contains("hunter2"))
        let notify = try Run.tool("wt-notify", ["--once", "--db", withPassword])
        #expect(notify.status == 64)
        #expect(!notify.stderr.contains("hunter2"))
    }
}

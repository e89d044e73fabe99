import Foundation
import Testing

@Suite struct StoredMessageTests {
    /// A message with bare CR line ends (old Mac mail) is stored as received, and its text
    /// attachment, read with the line ends rewritten, is saved as the digest recorded for it says.
    @Test func bareCRMessageIsStoredAsReceived() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wt-e2e-store-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("wt.db").path
        let raw = Data(("From: alice@example.com\rSubject: Old Mac\rContent-Type: multipart/mixed; boundary=b\r\r"
            + "--b\rContent-Type: text/plain\r\rSee the notes.\r"
            + "--b\rContent-Type: text/plain\rContent-Disposition: attachment; filename=notes.txt\r\rline one\rline two\r"
            + "--b--\r").utf8)

        let delivered = try Run.tool("wt-deliver", ["--db", db, "-f", "alice@example.com", "--", "help@example.org"], stdin: raw)
        #expect(delivered.status == 0, "\(delivered.stderr)")
        let stored = try Run.tool("wt-admin", ["ticket", "raw", "1", "--db", db])
        #expect(stored.status == 0, "\(stored.stderr)")
        #expect(stored.stdout == raw)

        let shown = try Run.tool("wt-admin", ["ticket", "show", "1", "--json", "--db", db])
        let ticket = try #require(JSONSerialization.jsonObject(with: shown.stdout) as? [String: Any])
        #expect(ticket["body"] as? String == "See the notes.")
        let attachments = try #require(ticket["attachments"] as? [[String: Any]])
        let id = try #require(attachments.first?["id"] as? Int)
        let saved = try Run.tool("wt-admin", ["attachment", "save", String(id), "-o", "-", "--db", db])
        #expect(saved.status == 0, "\(saved.stderr)")
        #expect(saved.stdout == Data("line one\nline two".utf8))
    }
}

import Foundation
import Testing

@Suite struct DeliverExplainTests {
    func json(_ r: Run) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
    }

    @Test func explainsAMessageAsJSON() throws {
        let r = try Run.tool("wt-deliver", ["--explain", "--json"], stdin: Run.fixture("welcome.eml"))
        #expect(r.status == 0)
        let o = try json(r)
        #expect(o["subject"] as? String == "Internet down in Room 312 – urgent")
        let from = try #require(o["from"] as? [String: Any])
        #expect(from["name"] as? String == "Ana María Ruiz")
        #expect(from["address"] as? String == "ana.ruiz@example.org")
        #expect(o["date"] as? String == "2026-11-29T09:14:03+01:00")
        #expect(o["message_id"] as? String == "20261129091403.4412@mail.example.org")
        #expect((o["body_text"] as? String)?.hasPrefix("Hello,\n\nthe Internet connection in room 312") == true)
        #expect((o["body_html"] as? String)?.contains("<p>Hello,</p>") == true)
        let atts = try #require(o["attachments"] as? [[String: Any]])
        #expect(atts.count == 1)
        #expect(atts.first?["filename"] as? String == "cabinet – room 312.png")
        #expect(atts.first?["filename_from"] as? String == "sender")
        #expect(atts.first?["content_type"] as? String == "image/png")
        #expect(atts.first?["size"] as? Int == 70)
        #expect(atts.first?["inline"] as? Bool == false)
        #expect((o["defects"] as? [String])?.isEmpty == true)
        #expect(r.stderr.isEmpty)
    }

    @Test func explainsForAPerson() throws {
        let r = try Run.tool("wt-deliver", ["--explain"], stdin: Run.fixture("welcome.eml"))
        #expect(r.status == 0)
        #expect(r.text.contains("Subject:     Internet down in Room 312 – urgent"))
        #expect(r.text.contains("From:        Ana María Ruiz <ana.ruiz@example.org>"))
        #expect(r.text.contains("1. cabinet – room 312.png  image/png, 70 bytes"))
    }

    /// A part without a file name is shown under the name the ticket stores, and says so.
    @Test func anUnnamedPartIsShownUnderItsMadeName() throws {
        let m = "Subject: bounce\r\nContent-Type: multipart/report; boundary=r\r\n\r\n--r\r\n\r\nNot delivered.\r\n"
            + "--r\r\nContent-Type: message/delivery-status\r\nContent-Description: Delivery report\r\n\r\nAction: failed\r\n--r--\r\n"
        let r = try Run.tool("wt-deliver", ["--explain", "--json"], stdin: Data(m.utf8))
        let atts = try #require(try json(r)["attachments"] as? [[String: Any]])
        #expect(atts.map { $0["filename"] as? String } == ["Delivery report.txt"])
        #expect(atts.map { $0["filename_from"] as? String } == ["description"])
        let text = try Run.tool("wt-deliver", ["--explain"], stdin: Data(m.utf8)).text
        #expect(text.contains("1. Delivery report.txt (name made from the description)  message/delivery-status, 14 bytes"))
    }

    @Test func emptyInputIsExplainedWithADefect() throws {
        let r = try Run.tool("wt-deliver", ["--explain", "--json"], stdin: Data())
        #expect(r.status == 0)
        let o = try json(r)
        #expect((o["defects"] as? [String])?.contains { $0.hasPrefix("empty-message") } == true)
        #expect(o["from"] is NSNull)
    }

    @Test func garbageIsExplainedNotRejected() throws {
        var bytes = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919) })
        bytes.append(contentsOf: Array("\r\n\r\n--x--\r\n".utf8))
        let r = try Run.tool("wt-deliver", ["--explain", "--json"], stdin: bytes)
        #expect(r.status == 0)
        _ = try json(r)
    }

    @Test func readsAnMboxOneObjectPerLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wt-e2e-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("three.mbox")
        try Run.fixture("three.mbox").write(to: path)
        let r = try Run.tool("wt-deliver", ["--explain", "--json", "--mbox", path.path])
        #expect(r.status == 0)
        let lines = r.text.split(separator: "\n")
        #expect(lines.count == 3)
        let objects = try lines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(objects.map { $0["subject"] as? String } == ["one", "two", "dréi"])
        // mboxrd quoting is undone: ">From the start" was "From the start" in the message.
        #expect(objects[0]["body_text"] as? String == "first\nFrom the start\n")
        #expect(r.stderr.isEmpty, "no progress output when stderr is not a terminal")
    }

    @Test func missingMboxIsAClearError() throws {
        let r = try Run.tool("wt-deliver", ["--explain", "--mbox", "/nonexistent/box.mbox"])
        #expect(r.status == 66)
        #expect(r.stderr.contains("cannot open /nonexistent/box.mbox: No such file or directory"))
        #expect(r.stdout.isEmpty)
    }

    @Test(arguments: [
        (["--frobnicate"], "unknown option '--frobnicate'"),
        (["--db"], "--db needs a value"),
        (["--deadline", "soon"], "--deadline: \"soon\" is not a whole number"),
        (["--mbox", "x.mbox"], "--mbox needs --explain"),
        (["--json"], "--json needs --explain"),
    ])
    func badOptionsExit64NeverOne(args: [String], message: String) throws {
        let r = try Run.tool("wt-deliver", args, stdin: Data("Subject: x\n\nbody\n".utf8))
        #expect(r.status == 64)
        #expect(r.stderr.contains(message))
        #expect(r.stdout.isEmpty)
    }

    @Test func helpExitsZero() throws {
        let r = try Run.tool("wt-deliver", ["--help"])
        #expect(r.status == 0)
        #expect(r.text.contains("--explain"))
    }
}

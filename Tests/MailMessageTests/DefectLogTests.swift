import Testing
@testable import MailMessage

@Suite("defect log")
struct DefectLogTests {
    @Test func keepsTheFirstOfEachCodeAndCountsTheRest() {
        var log = DefectLog(keptPerCode: 3)
        for k in 0..<10 { log.append(Defect(.headerWithoutColon, at: k)) }
        log.append(Defect(.nulByte, at: 100))
        for k in 0..<4 { log.append(Defect(.base64Junk, at: 200 + k, "1 bytes")) }
        #expect(log.count == 15)
        #expect(log.defects == [
            Defect(.headerWithoutColon, at: 0), Defect(.headerWithoutColon, at: 1), Defect(.headerWithoutColon, at: 2),
            Defect(.nulByte, at: 100),
            Defect(.base64Junk, at: 200, "1 bytes"), Defect(.base64Junk, at: 201, "1 bytes"), Defect(.base64Junk, at: 202, "1 bytes"),
            // One summary per code that overflowed, at the first defect left out.
            Defect(.headerWithoutColon, at: 3, "and 7 more"),
            Defect(.base64Junk, at: 203, "and 1 more"),
        ])
    }

    @Test func underTheCapNothingChanges() {
        var log = DefectLog()
        let all = (0..<DefectLog.defaultKeptPerCode).map { Defect(.invalidDate, at: $0) } + [Defect(.noHeaders, at: 0)]
        log.append(contentsOf: all)
        #expect(log.defects == all)
        #expect(log.count == all.count)
        #expect(DefectLog().defects.isEmpty)
    }

    /// 100,000 header lines without a colon (and as many fields, over the field cap): a few
    /// defects of each code, and exact counts of the rest.
    @Test func manyLinesWithoutColon() {
        let text = "Subject: s\n" + String(repeating: "x\nY:\n", count: 100_000) + "\nBody.\n"
        let m = Message.parse(Array(text.utf8))
        // The first "x" is joined to the Subject, the others to the last field kept.
        #expect(m.subject == "s x")
        #expect(m.bodyText() == "Body.\n")
        #expect(m.defects.count == 2 * DefectLog.defaultKeptPerCode + 2)
        let kept = m.defects.dropLast(2)
        #expect(kept.filter { $0.code == .headerWithoutColon }.count == DefectLog.defaultKeptPerCode)
        #expect(kept.filter { $0.code == .tooManyHeaderFields }.count == DefectLog.defaultKeptPerCode)
        // "x" lines are at 11 + 5k; the 4,000th field is the 3,999th "Y:" (k = 3998).
        #expect(Array(m.defects.suffix(2)) == [
            Defect(.headerWithoutColon, at: 11 + 5 * 8, "and \(100_000 - 8) more"),
            Defect(.tooManyHeaderFields, at: 11 + 5 * (3999 + 8) + 2, "and \(100_001 - 4_000 - 8) more"),
        ])
    }

    /// 50,000 attachments with junk in their base64: the content's defects are capped the same way.
    @Test func manyJunkAttachments() {
        var options = ParserOptions()
        options.maxParts = 100_000
        let part = "--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nQUJD*\n"
        let text = "Content-Type: multipart/mixed; boundary=b\n\n" + String(repeating: part, count: 50_000) + "--b--\n"
        let m = Message.parse(Array(text.utf8), options: options)
        #expect(m.defects == [])
        let c = m.content()
        #expect(c.attachments.count == 50_000)
        #expect(c.attachments.allSatisfy { $0.size == 3 })
        #expect(c.defects.count == DefectLog.defaultKeptPerCode + 1)
        #expect(c.defects.dropLast().allSatisfy { $0.code == .base64Junk && $0.detail == "1 bytes" })
        let bodyStart = 43 + 78
        #expect(c.defects.first == Defect(.base64Junk, at: bodyStart, "1 bytes"))
        #expect(c.defects.last == Defect(.base64Junk, at: bodyStart + 8 * part.utf8.count, "and \(50_000 - 8) more"))
    }
}

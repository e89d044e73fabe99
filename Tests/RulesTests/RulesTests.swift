import Testing
@testable import Rules

func rule(_ name: String, _ text: String, order: Int, type: String = "General", priority: String = "Medium", enabled: Bool = true) -> Rule {
    Rule(name: name, textToMatch: text, ticketType: type, priority: priority, order: order, enabled: enabled)
}

func msg(sender: String = "Bob <bob@example.org>", subject: String = "", body: String = "") -> PlainSubject {
    PlainSubject(sender: sender, subject: subject, body: body)
}

@Suite struct RuleMatchingTests {
    /// The Web Tracks manual's own example.
    let seed = [
        rule("Internet Problem", "Internet", order: 2, type: "Network", priority: "High"),
        rule("Internet Problem 2", "Internet Down", order: 5, type: "Network", priority: "Urgent"),
    ]

    @Test func theSeedScenarioFirstRuleWins() {
        let m = RuleSet(seed).firstMatch(msg(subject: "Internet down since 8"))
        #expect(m?.rule.name == "Internet Problem")
        #expect(m?.field == .subject)
        #expect(m?.matchedText == "Internet")
    }

    @Test(arguments: [
        // (message, expected rule, field, matched text)
        (msg(subject: "Printer jam"), nil, nil, nil),
        (msg(body: "the INTERNET is slow"), "Internet Problem", MatchField.body, "INTERNET"),
        (msg(sender: "Internet Services <noc@isp.example>", subject: "hello"), "Internet Problem", .sender, "Internet"),
        (msg(sender: "x@internet.example"), "Internet Problem", .sender, "internet"),
    ] as [(PlainSubject, String?, MatchField?, String?)])
    func fieldsAreSearchedIgnoringCase(m: PlainSubject, name: String?, field: MatchField?, text: String?) {
        let r = RuleSet(seed).firstMatch(m)
        #expect(r?.rule.name == name)
        #expect(r?.field == field)
        #expect(r?.matchedText == text)
    }

    @Test func lowestOrderWinsWhereverItsTextStands() {
        let rules = [rule("late", "printer", order: 9), rule("early", "toner", order: 1)]
        // "printer" comes first in the text, but "toner" belongs to the rule that runs first.
        let m = RuleSet(rules).firstMatch(msg(body: "printer needs toner"))
        #expect(m?.rule.name == "early")
    }

    @Test func tiesRunInCreationOrder() {
        let rules = [rule("first", "disk", order: 3), rule("second", "disk full", order: 3)]
        #expect(RuleSet(rules).firstMatch(msg(subject: "disk full"))?.rule.name == "first")
        #expect(RuleSet(rules.reversed()).firstMatch(msg(subject: "disk full"))?.rule.name == "second")
    }

    @Test func disabledRulesAreIgnored() {
        let rules = [rule("off", "vpn", order: 1, enabled: false), rule("on", "vpn", order: 2)]
        #expect(RuleSet(rules).firstMatch(msg(subject: "VPN down"))?.rule.name == "on")
        #expect(RuleSet([rules[0]]).firstMatch(msg(subject: "VPN down")) == nil)
    }

    @Test func theReportedFieldIsTheFirstOneHoldingTheWinningText() {
        let rules = [rule("vpn", "vpn", order: 1)]
        let m = RuleSet(rules).firstMatch(msg(subject: "VPN", body: "vpn again"))
        #expect(m?.field == .subject)
    }

    @Test(arguments: [
        ("über", "ÜBER die Brücke", "ÜBER"),
        ("ÉCOLE", "une école fermée", "école"),
        ("δίκτυο", "ΔΊΚΤΥΟ κάτω", "ΔΊΚΤΥΟ"),
        ("ошибка", "Ошибка сервера", "Ошибка"),
    ])
    func caseInsensitiveBeyondASCII(text: String, subject: String, matched: String) {
        let m = RuleSet([rule("r", text, order: 1)]).firstMatch(msg(subject: subject))
        #expect(m?.matchedText == matched)
    }

    @Test func emptyTextNeverMatches() {
        #expect(RuleSet([rule("empty", "", order: 1)]).firstMatch(msg(subject: "anything")) == nil)
    }

    @Test func overlappingTextsFindTheLowestOrder() {
        // "he", "she", "his", "hers": the textbook Aho-Corasick case, orders reversed.
        let rules = [rule("hers", "hers", order: 1), rule("his", "his", order: 2), rule("she", "she", order: 3), rule("he", "he", order: 4)]
        #expect(RuleSet(rules).firstMatch(msg(body: "ushers"))?.rule.name == "hers")
        #expect(RuleSet(rules).firstMatch(msg(body: "ushe"))?.rule.name == "she")
        #expect(RuleSet(rules).firstMatch(msg(body: "uh"))?.rule.name == nil)
    }

    @Test func tenThousandRulesOnlyTheLastMatches() {
        var rules = (0..<9_999).map { rule("r\($0)", "never-matching-text-\($0)-x", order: $0) }
        rules.append(rule("last", "needle in the body", order: 10_000))
        let set = RuleSet(rules)
        #expect(set.firstMatch(msg(subject: "hello", body: "there is a Needle In The Body here"))?.rule.name == "last")
        #expect(set.firstMatch(msg(subject: "never-matching-text-42-x"))?.rule.name == "r42")
        #expect(set.firstMatch(msg(subject: "never-matching-text-")) == nil)
    }

    @Test func theCompiledImageReadsBackAndRejectsDamage() throws {
        let image = CompiledRules.compile(texts: ["alpha", "beta"], ids: [10, 20], version: 7)
        let c = image.withUnsafeBytes { CompiledRules(image: $0, owner: nil) }
        #expect(c?.version == 7)
        #expect(c?.ruleCount == 2)
        #expect(c?.ruleID(at: 1) == 20)
        #expect(try c?.firstRule(in: "xx beta alpha")?.position == 0)
        #expect(try c?.firstRule(in: "xx beta alpha")?.end == 13)
        #expect(Array(image.prefix(image.count - 1)).withUnsafeBytes { CompiledRules(image: $0, owner: nil) } == nil)
        #expect([UInt8]([1, 2, 3]).withUnsafeBytes { CompiledRules(image: $0, owner: nil) } == nil)
        #expect([UInt8](repeating: 0, count: 64).withUnsafeBytes { CompiledRules(image: $0, owner: nil) } == nil)
    }
}

/// An image read back from the database is untrusted: damage must never crash, loop or run
/// past linear time. Matching checks what it follows and throws on damage.
@Suite struct RuleImageDamageTests {
    static let texts = ["internet", "internet down", "printer", "he", "she", "his", "hers", "über", "δίκτυο"]
    static let image = CompiledRules.compile(texts: texts, ids: texts.indices.map { Int64($0 + 1) }, version: 3)
    // Walks every node the damage tests touch ("ix" leaves the node of "i" by its fail link)
    // before the first rule's text, which ends matching.
    static let probe = "ushers his ix iy printer über δίκτυο " + String(repeating: "internet dow", count: 200)

    /// Offsets of the parts of the image, as `compile` lays it out.
    static func layout(_ image: [UInt8]) -> (nodes: Int, nodeCount: Int, targets: Int) {
        func u32(_ o: Int) -> Int { Int(image[o]) | Int(image[o + 1]) << 8 | Int(image[o + 2]) << 16 | Int(image[o + 3]) << 24 }
        let rules = u32(12), nodeCount = u32(16), edges = u32(20)
        let nodes = 24 + rules * 12 + 256 * 4
        let targets = nodes + nodeCount * 16 + (edges + 3) / 4 * 4
        return (nodes, nodeCount, targets)
    }

    static func put(_ image: inout [UInt8], _ offset: Int, _ v: UInt32) {
        for k in 0..<4 { image[offset + k] = UInt8(truncatingIfNeeded: v >> (8 * k)) }
    }

    /// Matching the probe text: the rule found, or nil, or "damaged".
    static func match(_ image: [UInt8]) -> String {
        image.withUnsafeBytes { raw in
            guard let c = CompiledRules(image: raw, owner: nil) else { return "refused" }
            do {
                return try c.firstRule(in: probe).map { String($0.position) } ?? "none"
            } catch {
                return "damaged"
            }
        }
    }

    /// The root edge for byte `b`: the node the text reaches on its first letter.
    static func rootEdge(_ b: Character) -> Int { 24 + texts.count * 12 + Int(b.asciiValue!) * 4 }

    @Test func theCompiledImageMatches() {
        #expect(Self.match(Self.image) == "0")
    }

    @Test func aFailLinkToItselfIsDamageNotALoop() {
        var image = Self.image
        let l = Self.layout(image)
        // The node reached on "i" failing to itself: the first mismatch after an "i" would loop.
        let node = Int(image[Self.rootEdge("i")])
        Self.put(&image, l.nodes + node * 16 + 8, UInt32(node))
        #expect(Self.match(image) == "damaged")
    }

    @Test func aChainOfFailLinksCannotCostMoreThanTheText() {
        // Every node failing to the node before it: unbounded fail walks in a bad image.
        var image = Self.image
        let l = Self.layout(image)
        for n in 1..<l.nodeCount { Self.put(&image, l.nodes + n * 16 + 8, UInt32(n - 1)) }
        #expect(Self.match(image) == "damaged")
    }

    @Test func indexesOutsideTheImageAreDamage() {
        let l = Self.layout(Self.image)
        let i = Int(Self.image[Self.rootEdge("i")])
        for (offset, value) in [(l.nodes + i * 16 + 8, UInt32(l.nodeCount)),   // fail link past the last node
                                (l.nodes + i * 16, UInt32.max - 1),             // edge start wraps around
                                (l.nodes + i * 16 + 4, UInt32(1 << 30)),        // edge count past the edges
                                (Self.rootEdge("i"), UInt32(l.nodeCount))] {      // root edge past the last node
            var image = Self.image
            Self.put(&image, offset, value)
            #expect(Self.match(image) == "damaged", "offset \(offset) = \(value)")
        }
        // An output past the last rule, on the node the text reaches on its first "s".
        var image = Self.image
        Self.put(&image, l.nodes + Int(Self.image[Self.rootEdge("s")]) * 16 + 12, UInt32(Self.texts.count))
        #expect(Self.match(image) == "damaged")
    }

    @Test func randomDamageIsRefusedDetectedOrHarmless() {
        var g = SystemRandomNumberGenerator()
        var outcomes: Set<String> = []
        for _ in 0..<3_000 {
            var image = Self.image
            for _ in 0..<Int.random(in: 1...4, using: &g) {
                image[Int.random(in: 0..<image.count, using: &g)] = UInt8.random(in: 0...255, using: &g)
            }
            // Whatever the damage, matching ends with an answer.
            outcomes.insert(Self.match(image) == "damaged" ? "damaged" : "answer")
        }
        #expect(outcomes.contains("damaged"))
    }
}

/// Where a rule matched is read from the matching pass itself.
@Suite struct MatchLocationTests {
    @Test(arguments: [
        // (rule text, field text, matched text as written)
        ("cafe", "Le CAFE\u{301} est fermé", "CAFE"),         // a combining accent after the text
        ("i\u{307}stanbul", "Vol İSTANBUL annulé", "İSTANBUL"), // İ lowercases to two scalars
        ("down", "Ünïcödé first, then DOWN", "DOWN"),
        ("straße", "STRASSE und Straße", "Straße"),
        ("δίκτυο", "ΔΊΚΤΥΟ κάτω", "ΔΊΚΤΥΟ"),
        ("😀 ok", "fine 😀 OK", "😀 OK"),
    ])
    func theMatchedTextIsTheOriginal(text: String, field: String, expected: String) {
        let m = RuleSet([rule("r", text, order: 1)]).firstMatch(msg(body: field))
        #expect(m?.matchedText == expected)
    }

    @Test func aMatchAtTheEndOfALongBodyIsFound() {
        let needle = String(repeating: "x", count: 59) + "!"
        let body = String(repeating: "xxxxxxxxxx xxxxxxxxx\n", count: 200_000) + "last line: " + needle.uppercased()
        let m = RuleSet([rule("long", needle, order: 1)]).firstMatch(msg(body: body))
        #expect(m?.matchedText == needle.uppercased())
    }

    @Test func theFirstOccurrenceIsReported() {
        let m = RuleSet([rule("r", "abc", order: 1)]).firstMatch(msg(body: "ABC abc aBc"))
        #expect(m?.matchedText == "ABC")
    }
}

@Suite struct RuleCheckTests {
    @Test func theSeedsExampleIsCaught() {
        let problems = checkRules([
            rule("Internet Problem", "Internet", order: 2, type: "Network"),
            rule("Internet Problem 2", "Internet Down", order: 5, type: "Network"),
        ], knownTypes: ["General", "Network"])
        #expect(problems.count == 1)
        #expect(problems.first?.kind == .neverFires)
        #expect(problems.first?.rule == "Internet Problem 2")
        #expect(problems.first?.message.contains("\"Internet Problem\" (order 2) matches \"Internet\"") == true)
    }

    @Test func theSameRulesTheOtherWayRoundAreFine() {
        #expect(checkRules([
            rule("Internet Problem", "Internet", order: 5),
            rule("Internet Problem 2", "Internet Down", order: 2),
        ], knownTypes: ["General"]).isEmpty)
    }

    @Test func disabledRulesShadowNothing() {
        #expect(checkRules([rule("a", "net", order: 1, enabled: false), rule("b", "network", order: 2)], knownTypes: ["General"]).isEmpty)
    }

    @Test(arguments: [
        ([rule("a", "Printer", order: 1), rule("b", "printer", order: 2)], RuleProblem.Kind.duplicateText, "b"),
        ([rule("a", "  ", order: 1)], .emptyText, "a"),
        ([rule("a", "x", order: 1, type: "Nope")], .unknownType, "a"),
        ([rule("Same", "x", order: 1), rule("same", "y", order: 2)], .duplicateName, "same"),
        ([rule("a", "disk", order: 1), rule("b", "Disk Full", order: 2)], .neverFires, "b"),
    ])
    func problemsAreNamed(rules: [Rule], kind: RuleProblem.Kind, name: String) {
        let problems = checkRules(rules, knownTypes: ["General"])
        #expect(problems.map(\.kind) == [kind])
        #expect(problems.first?.rule == name)
    }

    @Test func tenThousandRulesAreCheckedQuickly() {
        var rules = (0..<10_000).map { rule("r\($0)", "text \($0) unique", order: $0) }
        rules.append(rule("shadowed", "text 5 unique and more", order: 20_000))
        let problems = checkRules(rules, knownTypes: ["General"])
        #expect(problems.map(\.rule) == ["shadowed"])
    }
}

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

    @Test func theCompiledImageReadsBackAndRejectsDamage() {
        let image = CompiledRules.compile(texts: ["alpha", "beta"], ids: [10, 20], version: 7)
        let c = CompiledRules.inMemory(image)
        #expect(c?.version == 7)
        #expect(c?.ruleCount == 2)
        #expect(c?.ruleID(at: 1) == 20)
        #expect(c?.firstRule(inLowercased: "xx beta alpha") == 0)
        #expect(CompiledRules.inMemory(Array(image.prefix(image.count - 1))) == nil)
        #expect(CompiledRules.inMemory([1, 2, 3]) == nil)
        #expect(CompiledRules.inMemory(Array(repeating: 0, count: 64)) == nil)
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

/// A problem `wt-admin rules check` reports.
public struct RuleProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable { case neverFires = "never-fires", duplicateText = "duplicate-text", emptyText = "empty-text",
                                         unknownType = "unknown-type", duplicateName = "duplicate-name" }
    public var kind: Kind
    public var rule: String
    public var message: String

    public var description: String { "\(kind.rawValue): \(message)" }
}

/// Finds rules that can never fire and why, duplicate and empty texts, duplicate names and
/// ticket types that do not exist.
///
/// A rule can never fire when an enabled rule that runs before it has text that is part of
/// its own text: every message containing the later rule's text (in any field) contains the
/// earlier one's in the same field, and the earlier rule wins.
public func checkRules(_ rules: [Rule], knownTypes: [String]) -> [RuleProblem] {
    var problems: [RuleProblem] = []
    let types = Set(knownTypes.map { $0.lowercased() })
    var names: [String: Rule] = [:]
    for r in rules {
        if let first = names[r.name.lowercased()] {
            problems.append(RuleProblem(kind: .duplicateName, rule: r.name, message: "two rules are named \"\(first.name)\""))
        } else {
            names[r.name.lowercased()] = r
        }
        if r.textToMatch.allSatisfy(\.isWhitespace) {
            problems.append(RuleProblem(kind: .emptyText, rule: r.name,
                                        message: "\"\(r.name)\" has no text to match, so it never matches anything"))
        }
        if !types.contains(r.ticketType.lowercased()) {
            problems.append(RuleProblem(kind: .unknownType, rule: r.name,
                                        message: "\"\(r.name)\" assigns ticket type \"\(r.ticketType)\", which does not exist"))
        }
    }
    let ordered = RuleSet.ordered(rules).filter { !$0.textToMatch.allSatisfy(\.isWhitespace) }
    let compiled = CompiledRules.inMemory(CompiledRules.compile(texts: ordered.map(\.textToMatch), ids: ordered.indices.map { Int64($0) }, version: 0))!
    for (i, r) in ordered.enumerated() {
        guard let p = (try? compiled.firstRule(in: r.textToMatch))??.position, p < i else { continue }
        let earlier = ordered[p]
        if earlier.textToMatch.lowercased() == r.textToMatch.lowercased() {
            problems.append(RuleProblem(kind: .duplicateText, rule: r.name, message:
                "\"\(r.name)\" (order \(r.order)) has the same text as \"\(earlier.name)\" (order \(earlier.order)), \"\(r.textToMatch)\", and runs after it, so it never fires"))
        } else {
            problems.append(RuleProblem(kind: .neverFires, rule: r.name, message:
                "\"\(r.name)\" (order \(r.order)) never fires: \"\(earlier.name)\" (order \(earlier.order)) matches \"\(earlier.textToMatch)\", which every message matching \"\(r.textToMatch)\" contains; give \"\(r.name)\" a lower order to run it first"))
        }
    }
    return problems
}

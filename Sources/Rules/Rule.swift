/// A Web Tracks rule: when its text is found in a message, the ticket gets its type and priority.
public struct Rule: Sendable, Equatable {
    public var name: String
    public var textToMatch: String
    public var ticketType: String
    public var priority: String
    public var order: Int
    public var enabled: Bool

    public init(name: String, textToMatch: String, ticketType: String, priority: String, order: Int, enabled: Bool = true) {
        self.name = name
        self.textToMatch = textToMatch
        self.ticketType = ticketType
        self.priority = priority
        self.order = order
        self.enabled = enabled
    }
}

/// What a rule can look at. Rules see a message only through this, so they can be tested
/// with plain strings.
public protocol RuleSubject {
    /// The sender's address and display name.
    var sender: String { get }
    var subject: String { get }
    var body: String { get }
}

public struct PlainSubject: RuleSubject, Sendable {
    public var sender: String
    public var subject: String
    public var body: String

    public init(sender: String, subject: String, body: String) {
        self.sender = sender
        self.subject = subject
        self.body = body
    }
}

/// Which part of the message a rule's text was found in.
public enum MatchField: String, Sendable { case sender, subject, body }

public struct RuleMatch: Sendable, Equatable {
    public var rule: Rule
    public var field: MatchField
    /// The text as it stands in the message.
    public var matchedText: String
}

/// The enabled rules in the order they run: ascending Priority Order, ties by creation
/// (the order given). The first rule whose text is found wins.
public struct RuleSet: Sendable {
    public let rules: [Rule]
    private let needles: [String]

    public init(_ rules: [Rule]) {
        self.rules = rules.enumerated()
            .filter { $0.element.enabled }
            .sorted { ($0.element.order, $0.offset) < ($1.element.order, $1.offset) }
            .map(\.element)
        needles = self.rules.map { $0.textToMatch.lowercased() }
    }

    /// The first matching rule, or nil (the default type and priority then apply).
    public func firstMatch(_ m: some RuleSubject) -> RuleMatch? {
        let fields: [(MatchField, String)] = [(.sender, m.sender), (.subject, m.subject), (.body, m.body)]
        let lowered = fields.map { ($0.0, $0.1, $0.1.lowercased()) }
        for (i, needle) in needles.enumerated() where !needle.isEmpty {
            for (field, original, text) in lowered {
                if let r = text.firstRange(of: needle) {
                    // Lowercasing can change lengths (rarely); fall back to the needle then.
                    let matched = original.count == text.count
                        ? String(original[original.index(original.startIndex, offsetBy: text.distance(from: text.startIndex, to: r.lowerBound))...]
                            .prefix(needle.count))
                        : String(text[r])
                    return RuleMatch(rule: rules[i], field: field, matchedText: matched)
                }
            }
        }
        return nil
    }
}

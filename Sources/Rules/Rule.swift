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

    public init(rule: Rule, field: MatchField, matchedText: String) {
        self.rule = rule
        self.field = field
        self.matchedText = matchedText
    }
}

/// The enabled rules in the order they run: ascending Priority Order, ties by creation
/// (the order given). The first rule whose text is found wins.
public struct RuleSet {
    public let rules: [Rule]
    public let compiled: CompiledRules

    public init(_ rules: [Rule], version: UInt64 = 0) {
        self.rules = Self.ordered(rules)
        compiled = CompiledRules.inMemory(CompiledRules.compile(texts: self.rules.map(\.textToMatch),
                                                                 ids: self.rules.indices.map { Int64($0) }, version: version))!
    }

    /// Enabled rules in running order.
    public static func ordered(_ rules: [Rule]) -> [Rule] {
        rules.enumerated()
            .filter { $0.element.enabled }
            .sorted { ($0.element.order, $0.offset) < ($1.element.order, $1.offset) }
            .map(\.element)
    }

    /// The first matching rule, or nil (the default type and priority then apply).
    public func firstMatch(_ m: some RuleSubject) -> RuleMatch? {
        // Compiled here, so never damaged.
        (try? compiled.firstMatch(m))?.map { RuleMatch(rule: rules[$0.position], field: $0.field, matchedText: $0.matchedText) }
    }
}

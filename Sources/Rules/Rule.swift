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

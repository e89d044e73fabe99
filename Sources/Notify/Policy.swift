public import TicketStore

/// Who is told of a ticket event, under the Web Tracks e-mail settings.
public enum NotificationPolicy {
    /// The mails one outbox entry becomes. `bouncing` and `counts` read the store; the
    /// limits on automatic mail hold mails back, recorded with the reason, never dropped.
    public static func recipients(kind: String, facts: NotificationFacts, config: Configuration,
                                  bouncing: (String) throws -> Bool, counts: (String) throws -> MailCounts) throws -> [PlannedNotification] {
        var wanted: [(address: String, role: String)] = []
        func add(_ addresses: [String], _ role: String) { for a in addresses { wanted.append((a, role)) } }
        switch kind {
        case "ticket_created":
            if config.flag("email_technician_on_create") { add(facts.technicianAddresses, "technician") }
            if config.flag("email_end_user_on_create") { add(facts.requesterAddresses, "requester") }
            add(facts.typeAddresses, "watcher")
        case "ticket_updated":
            if config.flag("email_technician_on_update") { add(facts.technicianAddresses, "technician") }
            if config.flag("email_end_user_on_update") { add(facts.requesterAddresses, "requester") }
        case "reply":
            // A technician's answer always reaches the requester.
            add(facts.requesterAddresses, "requester")
        default:
            return []
        }
        let author = Set(facts.authorAddresses.map { $0.lowercased() })
        let selfNotify = config.flag("self_notify")
        let perDay = Int(config.setting("max_mails_per_recipient_per_day") ?? "") ?? 20
        let perHour = Int(config.setting("max_mails_per_ticket_per_hour") ?? "") ?? 10
        var seen = Set<String>()
        var out: [PlannedNotification] = []
        for (address, role) in wanted {
            let key = address.lowercased()
            guard !address.isEmpty, seen.insert(key).inserted else { continue }
            var p = PlannedNotification(address: address, role: role)
            if author.contains(key) && facts.automatic {
                p.state = "suppressed"
                p.reason = "automatic mail: nothing answers its sender"
            } else if author.contains(key) && !selfNotify && kind != "ticket_created" {
                // Self Notify off: whoever caused the event is not told of it. A ticket made
                // from mail is the helpdesk's doing: its requester's confirmation is what
                // "Email end-user when a ticket is created" is for.
                continue
            } else if try bouncing(address) {
                p.state = "suppressed"
                p.reason = "the address is bouncing (wt-admin users clear-bounce)"
            } else if kind != "reply" {
                // Limits on automatic mail; a technician's answer is a person's mail.
                let c = try counts(address)
                if perDay > 0 && c.toAddressInDay >= perDay {
                    p.state = "held"
                    p.reason = "limit: \(c.toAddressInDay) mails to this address in 24 hours (max_mails_per_recipient_per_day)"
                } else if perHour > 0 && c.aboutTicketInHour >= perHour {
                    p.state = "held"
                    p.reason = "limit: \(c.aboutTicketInHour) events of this ticket mailed in the last hour (max_mails_per_ticket_per_hour)"
                }
            }
            out.append(p)
        }
        return out
    }
}

import CLIKit
import Delivery
import MailMessage

/// The dry run: everything wt-deliver read from a message, for a person or a script.
struct Explanation {
    let message: Message
    let size: Int
    let content: MessageContent
    var delivery: Delivery?

    /// What delivery would do with the message.
    struct Delivery {
        var database: String
        var decision: Deliverer.RuleDecision?
        /// new, follow-up, duplicate, bounce or loop.
        var action: String?
        var ticket: Int64?
        var linkedTicket: Int64?
        var automatic = false
        var flagged = false
        var reasons: [String] = []
        var note: String?
    }

    init(message: Message, size: Int) {
        self.message = message
        self.size = size
        content = message.content()
    }

    func json() -> [UInt8] {
        let m = message
        var w = JSONWriter(capacity: 4096 + size / 2)
        w.beginObject()
        w.field("subject", m.subject)
        w.key("from")
        if let f = m.from.first { mailbox(&w, f) } else { w.null() }
        for (k, list) in [("to", m.to), ("cc", m.cc), ("reply_to", m.replyTo)] {
            w.key(k)
            w.arrayValue { w in for b in list { mailbox(&w, b) } }
        }
        w.field("date", m.date?.iso8601)
        w.field("message_id", m.messageID)
        w.key("in_reply_to")
        w.arrayValue { w in for id in m.inReplyTo { w.string(id) } }
        w.key("references")
        w.arrayValue { w in for id in m.references { w.string(id) } }
        w.field("body_text", content.bodyText)
        w.field("body_html", content.bodyHTML)
        w.key("attachments")
        w.arrayValue { w in
            for a in content.attachments {
                w.objectValue { w in
                    w.field("filename", a.filename)
                    w.field("filename_from", a.filenameFrom.rawValue)
                    w.field("content_type", a.contentType)
                    w.field("size", a.size)
                    w.field("sha256", a.sha256)
                    w.field("inline", a.inline)
                }
            }
        }
        w.field("size", size)
        if let d = delivery {
            w.key("delivery")
            w.objectValue { w in
                w.field("database", d.database)
                w.field("action", d.action)
                w.key("ticket")
                if let t = d.ticket { w.int(Int(t)) } else { w.null() }
                w.key("links_to")
                if let t = d.linkedTicket { w.int(Int(t)) } else { w.null() }
                w.field("automatic", d.automatic)
                w.field("flagged", d.flagged)
                w.key("reasons")
                w.arrayValue { w in for r in d.reasons { w.string(r) } }
                w.field("note", d.note)
                if let r = d.decision {
                    w.key("rules_tried")
                    w.arrayValue { w in
                        for t in r.tried {
                            w.objectValue { w in
                                w.field("name", t.name)
                                w.field("text", t.textToMatch)
                                w.field("order", t.order)
                            }
                        }
                    }
                    w.key("rule")
                    if let m = r.match {
                        w.objectValue { w in
                            w.field("name", m.rule.name)
                            w.field("field", m.field.rawValue)
                            w.field("matched_text", m.matchedText)
                        }
                    } else { w.null() }
                    w.field("ticket_type", r.ticketType)
                    w.field("priority", r.priority)
                    w.field("technician", r.technician)
                }
            }
        }
        w.key("defects")
        w.arrayValue { w in for d in m.defects + content.defects { w.string(d.description) } }
        w.endObject()
        w.out.append(10)
        return w.out
    }

    private func mailbox(_ w: inout JSONWriter, _ b: Mailbox) {
        w.objectValue { w in
            w.field("name", b.name)
            w.field("address", b.address)
        }
    }

    /// The same, for a person at a terminal.
    func text() -> String {
        let m = message
        func fmt(_ b: Mailbox) -> String {
            switch (b.name, b.address) {
            case let (n?, a?): return "\(n) <\(a)>"
            case let (nil, a?): return a
            case let (n?, nil): return "\(n) (no address)"
            default: return ""
            }
        }
        var s = ""
        s += "Subject:     \(m.subject ?? "(none)")\n"
        s += "From:        \(m.from.first.map(fmt) ?? "(none)")\n"
        if !m.to.isEmpty { s += "To:          \(m.to.map(fmt).joined(separator: ", "))\n" }
        if !m.cc.isEmpty { s += "Cc:          \(m.cc.map(fmt).joined(separator: ", "))\n" }
        if !m.replyTo.isEmpty { s += "Reply-To:    \(m.replyTo.map(fmt).joined(separator: ", "))\n" }
        s += "Date:        \(m.date?.iso8601 ?? "(none or unreadable)")\n"
        s += "Message-ID:  \(m.messageID ?? "(none)")\n"
        if !m.inReplyTo.isEmpty { s += "In-Reply-To: \(m.inReplyTo.joined(separator: " "))\n" }
        s += "Size:        \(size) bytes\n"
        let body = content.bodyText
        let source = content.bodySource == .html ? "text/html, converted" : content.bodySource.rawValue
        s += "\nBody (\(source), \(body.count) characters):\n"
        let lines = body.split(separator: "\n", omittingEmptySubsequences: false)
        for l in lines.prefix(20) { s += "  | \(l)\n" }
        if lines.count > 20 { s += "  | ... \(lines.count - 20) more lines\n" }
        let atts = content.attachments
        s += "\nAttachments: \(atts.isEmpty ? "none" : String(atts.count))\n"
        for (i, a) in atts.enumerated() {
            s += "  \(i + 1). \(a.filename)\(a.filenameFrom == .sender ? "" : " (name made from the \(a.filenameFrom.rawValue))")  \(a.contentType), \(a.size) bytes\(a.inline ? ", inline" : "")\n"
            s += "     sha256 \(a.sha256)\n"
        }
        let defects = m.defects + content.defects
        s += "\nDefects: \(defects.isEmpty ? "none" : String(defects.count))\n"
        for d in defects { s += "  - \(d)\n" }
        if let d = delivery {
            s += "\nDelivery (database \(d.database)):\n"
            if let note = d.note { s += "  \(note)\n" }
            if let r = d.decision {
                s += "  Rules tried, in order:\(r.tried.isEmpty ? " none (no enabled rules)" : "")\n"
                for t in r.tried {
                    let hit = r.match?.rule.name == t.name
                    s += "    \(hit ? "✔" : "✘") \(t.name) (order \(t.order), text \"\(t.textToMatch)\")\n"
                }
                if let mt = r.match {
                    s += "  Matched \"\(mt.rule.name)\": \"\(mt.matchedText)\" in the \(mt.field.rawValue)\n"
                } else {
                    s += "  No rule matched: the default ticket type and priority apply\n"
                }
                s += "  Ticket type \(r.ticketType), priority \(r.priority), technician \(r.technician ?? "none")\n"
            }
            if let a = d.action {
                var what = a
                if let t = d.ticket { what += a == "duplicate" ? " (ticket \(t))" : " of ticket \(t)" }
                if let l = d.linkedTicket { what += ", linked to ticket \(l)" }
                if d.automatic { what += "; automatic: nothing will answer its sender" }
                if d.flagged { what += "; flagged for a person" }
                s += "  Action: \(what)\n"
                for r in d.reasons { s += "    - \(r)\n" }
            }
        }
        return s
    }
}

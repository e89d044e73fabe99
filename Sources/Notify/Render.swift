#if canImport(Glibc)
import Glibc
#endif
public import MailCompose
public import TicketStore

/// A notification's subject and body, before it becomes a message.
public struct RenderedNotification: Sendable, Equatable {
    public var subject: String
    public var text: String
    /// Set when the html_email setting is on.
    public var html: String?
}

/// Writes what Web Tracks writes: the "Email Subject" with the ticket tag, the prebody text,
/// the chosen fields (at most eight), and the link to the ticket at the top, the bottom, or
/// not at all.
public enum NotificationRenderer {
    public static func render(kind: String, ticket: TicketDetail, event: TicketDetail.Event?, config: Configuration) -> RenderedNotification {
        let s = ticket.summary
        let tag = "\(config.setting("email_subject") ?? "Service Desk Ticket") [#\(s.number)]"
        let subject = s.subject.isEmpty ? tag : "\(tag) \(s.subject)"
        var paragraphs: [String] = []
        switch kind {
        case "ticket_created": paragraphs.append(config.setting("new_ticket_prebody") ?? "")
        case "reply":
            // The technician's answer first: it is what the requester is waiting for.
            if let e = event { paragraphs.append(String(e.newText).trimmingLines) }
        default: paragraphs.append(config.setting("update_ticket_prebody") ?? "")
        }
        var fields: [(label: String, value: String)] = []
        for f in splitList(config.setting("email_fields") ?? "").prefix(8) {
            switch f {
            case "number": fields.append(("Ticket", "#\(s.number)"))
            case "subject": fields.append(("Subject", s.subject))
            case "status": fields.append(("Status", s.status))
            case "priority": fields.append(("Priority", s.priority))
            case "ticket_type": fields.append(("Type", s.ticketType ?? "-"))
            case "technician": fields.append(("Technician", s.technician ?? "-"))
            case "requester": fields.append(("Requester", s.requester ?? "-"))
            case "created": fields.append(("Created", timestamp(s.createdAt)))
            case "updated": fields.append(("Updated", timestamp(s.updatedAt)))
            case "body": fields.append(("Description", ticket.body.trimmingLines))
            case "update":
                if kind != "ticket_created", let e = event { fields.append(("Update", String(e.newText).trimmingLines)) }
            case "attachments":
                let names = ticket.attachments.map(\.filename)
                if !names.isEmpty { fields.append(("Attachments", names.joined(separator: ", "))) }
            case "history":
                let lines = ticket.events.suffix(10).map { "\(timestamp($0.createdAt)) \($0.kind)\($0.author.map { " (\($0))" } ?? "")" }
                fields.append(("History", lines.joined(separator: "\n")))
            default: break
            }
        }
        var link: String? = nil
        if let root = config.setting("root_url"), !root.isEmpty {
            link = root + (root.hasSuffix("/") ? "" : "/") + "tickets/\(s.number)"
        }
        let position = config.setting("linkback_position") ?? "Bottom"

        var text = ""
        if let link, position == "Top" { text += "\(link)\n\n" }
        for p in paragraphs where !p.isEmpty { text += p + "\n\n" }
        for f in fields {
            if f.value.contains("\n") {
                text += "\(f.label):\n\(f.value)\n\n"
            } else {
                text += "\(f.label): \(f.value)\n"
            }
        }
        if let link, position == "Bottom" { text += "\n\(link)\n" }

        var html: String? = nil
        if config.flag("html_email") {
            var h = "<!DOCTYPE html>\n<html><body>\n"
            func a(_ url: String) -> String { "<p><a href=\"\(htmlEscape(url))\">\(htmlEscape(url))</a></p>\n" }
            if let link, position == "Top" { h += a(link) }
            for p in paragraphs where !p.isEmpty { h += "<p>\(htmlEscape(p).replacingNewlines)</p>\n" }
            if !fields.isEmpty {
                h += "<table>\n"
                for f in fields { h += "<tr><th align=\"left\">\(htmlEscape(f.label))</th><td>\(htmlEscape(f.value).replacingNewlines)</td></tr>\n" }
                h += "</table>\n"
            }
            if let link, position == "Bottom" { h += a(link) }
            h += "</body></html>\n"
            html = h
        }
        return RenderedNotification(subject: subject, text: text, html: html)
    }

    static func timestamp(_ t: Int64) -> String {
        var tt = time_t(t)
        var tmv = tm()
        gmtime_r(&tt, &tmv)
        var buf = [CChar](repeating: 0, count: 32)
        strftime(&buf, buf.count, "%Y-%m-%d %H:%M UTC", &tmv)
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension String {
    var trimmingLines: String {
        var s = Substring(self)
        while let c = s.first, c == "\n" || c == "\r" || c == " " { s.removeFirst() }
        while let c = s.last, c == "\n" || c == "\r" || c == " " { s.removeLast() }
        return String(s)
    }

    var replacingNewlines: String {
        var out = ""
        for ch in self { if ch == "\n" || ch == "\r\n" { out += "<br>\n" } else { out.append(ch) } }
        return out
    }
}

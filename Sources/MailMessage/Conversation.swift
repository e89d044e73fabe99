internal import CKernels

// What a helpdesk needs to place a message in a conversation: is it a bounce (and of what),
// did a robot write it, did a filter call it spam, what did the receiving MTA verify, and where
// does the quoted history of a reply begin. Everything here reads the parsed message only.

// MARK: Delivery status notifications

/// One recipient of a delivery status notification.
public struct DSNRecipient: Sendable, Equatable {
    /// The failed or delayed recipient: a bare address, its domain lowercased.
    public var address: String
    /// "failed", "delayed", "delivered", "relayed" or "expanded" (lowercased); "" when the
    /// report gives neither an action nor a status.
    public var action: String
    /// The enhanced status code ("5.1.1"), when the report gives one.
    public var status: String?
    /// What the remote server said, on one line, at most 300 characters.
    public var diagnostic: String?

    public init(address: String, action: String, status: String? = nil, diagnostic: String? = nil) {
        self.address = address
        self.action = action
        self.status = status
        self.diagnostic = diagnostic
    }
}

public struct DeliveryStatusReport: Sendable, Equatable {
    /// At most 1,000, in the report's order.
    public var recipients: [DSNRecipient]
    /// Message-IDs (without <>) of the message the report is about: from the returned message or
    /// headers part (message/rfc822, message/global, text/rfc822-headers, message/global-headers,
    /// or the quoted original in non-standard forms), then the report's X-Original-Message-ID
    /// (Gmail), then the report's own In-Reply-To / References. In order, no duplicates.
    public var originalMessageIDs: [String]
    /// In-Reply-To then References of the returned message (or headers): the conversation the
    /// undelivered message belonged to. In order, no duplicates.
    public var originalReferences: [String]
    /// Who wrote the report: "postfix", "exim", "qmail", "exchange" or "gmail" when recognised,
    /// else "rfc3464" for any other standard report. "qmail" and the text-only forms of the
    /// others are read from their text.
    public var form: String

    /// Addresses with action "failed" (permanent).
    public var failedRecipients: [String] { recipients.filter { $0.action == "failed" }.map(\.address) }

    public init(recipients: [DSNRecipient], originalMessageIDs: [String], form: String, originalReferences: [String] = []) {
        self.recipients = recipients
        self.originalMessageIDs = originalMessageIDs
        self.originalReferences = originalReferences
        self.form = form
    }
}

/// Caps that keep a hostile report linear and small.
enum ConversationLimits {
    static let maxRecipients = 1_000
    static let maxDiagnostic = 300
    /// Bytes of a delivery-status part, and of a bounce's text, that are read.
    static let maxReportBytes = 2 << 20
    static let maxTextBytes = 1 << 20
    /// Bytes of a bounce's text searched for the text that names its form.
    static let formProbeBytes = 16 << 10
    /// Bytes of a returned header block that are read.
    static let maxOriginalHeaderBytes = 256 << 10
    /// Lines of a bounce's text that are looked at.
    static let maxLines = 50_000
    static let maxAuthResults = 1_000
}

extension Message {
    /// A delivery status notification (RFC 3464 multipart/report; report-type=delivery-status, and
    /// the common non-standard forms written by Exim, qmail, Exchange/Outlook (NDR text) and
    /// Gmail), or nil when the message is not one. Ordinary mail (even mail that quotes an error)
    /// gives nil: a report needs its report type, or a sender such as MAILER-DAEMON, postmaster,
    /// "Mail Delivery Subsystem" or Exchange's system mailbox (or an X-Failed-Recipients or
    /// X-MS-Exchange-Message-Is-Ndr field) together with the text its form always has.
    public func deliveryStatusReport() -> DeliveryStatusReport? {
        if root.mimeType == "multipart/report" {
            let type = (root.contentType["report-type"] ?? "").trimmedWS.asciiLowercased
            let leaves = root.leaves
            let status = leaves.first { isDeliveryStatusType($0.mimeType) }
            guard type == "delivery-status" || type == "global-delivery-status" || (type.isEmpty && status != nil) else {
                return nil
            }
            return standardReport(status, leaves)
        }
        // Everything else needs a sender (or field) only mail systems use; the body is not read
        // for ordinary mail.
        guard hasBounceSender else { return nil }
        let leaves = root.leaves
        if let status = leaves.first(where: { isDeliveryStatusType($0.mimeType) }) {
            return standardReport(status, leaves)
        }
        let text = BounceText(bounceText(leaves, cap: ConversationLimits.maxTextBytes))
        guard let parsed = text.nonStandard() else { return nil }
        let original = returnedHeaders(leaves) ?? parsed.originalHeaderStart.map { text.headers(at: $0, options: options) }
        return assemble(recipients: parsed.recipients, form: parsed.form, original: original, extraIDs: [])
    }

    private func standardReport(_ status: MIMEPart?, _ leaves: [MIMEPart]) -> DeliveryStatusReport {
        var parsed = (recipients: [DSNRecipient](), originalIDs: [String]())
        if let status {
            parsed = parseDeliveryStatus(status.decodedPrefix(ConversationLimits.maxReportBytes))
        }
        // The text names the producer near its start; all of it is read only when it must stand
        // in for the status part.
        let text = BounceText(bounceText(leaves, cap: parsed.recipients.isEmpty ? ConversationLimits.maxTextBytes
                                                                                 : ConversationLimits.formProbeBytes))
        var form = text.producer(from: from.first, headers: headers) ?? "rfc3464"
        var recipients = parsed.recipients
        var original = returnedHeaders(leaves)
        // A report with no readable delivery-status part: read its text as the non-standard forms are.
        if recipients.isEmpty, let alt = text.nonStandard() {
            recipients = alt.recipients
            if form == "rfc3464" { form = alt.form }
            if original == nil, let at = alt.originalHeaderStart { original = text.headers(at: at, options: options) }
        }
        return assemble(recipients: recipients, form: form, original: original, extraIDs: parsed.originalIDs)
    }

    private func assemble(recipients: [DSNRecipient], form: String, original: Headers?, extraIDs: [String]) -> DeliveryStatusReport {
        var ids = OrderedIDs()
        var refs = OrderedIDs()
        if let h = original {
            if let raw = h.raw("message-id") { ids.add(messageIDs(raw).prefix(1)) }
            if let raw = h.raw("in-reply-to") { refs.add(messageIDs(raw)) }
            if let raw = h.raw("references") { refs.add(messageIDs(raw)) }
        }
        ids.add(extraIDs)
        ids.add(inReplyTo)
        ids.add(references)
        return DeliveryStatusReport(recipients: recipients, originalMessageIDs: ids.list, form: form,
                                    originalReferences: refs.list)
    }

    /// From MAILER-DAEMON, postmaster, "Mail Delivery Subsystem" or Exchange's system mailbox, or
    /// a field only an MTA writes on a bounce.
    var hasBounceSender: Bool {
        if let f = from.first, isMailSystem(f) { return true }
        return headers.first("x-failed-recipients") != nil || headers.first("x-ms-exchange-message-is-ndr") != nil
    }

    /// The headers of the returned message, or of the returned header block.
    private func returnedHeaders(_ leaves: [MIMEPart]) -> Headers? {
        for p in leaves {
            switch p.mimeType {
            case "message/rfc822", "message/global":
                if let m = p.message { return m.headers }
            case "text/rfc822-headers", "message/global-headers", "message/rfc822-headers":
                return scanHeaders(p.decodedPrefix(ConversationLimits.maxOriginalHeaderBytes), options: options)
            default: continue
            }
        }
        return nil
    }

    /// The first text part a reader would see, at most `cap` bytes of it, as UTF-8.
    private func bounceText(_ leaves: [MIMEPart], cap: Int) -> [UInt8] {
        func text(_ p: MIMEPart, _ cap: Int) -> String {
            let bytes = p.decodedPrefix(cap)
            return normalizeLineEnds(bytes.withUnsafeBufferPointer { Charset.decode($0, label: p.charset) }.text)
        }
        if let p = leaves.first(where: { $0.mimeType == "text/plain" && !$0.isAttachmentDisposition }) {
            return Array(text(p, cap).utf8.prefix(cap))
        }
        if let p = leaves.first(where: { $0.mimeType == "text/html" && !$0.isAttachmentDisposition }) {
            // Markup takes room: read more HTML than the text wanted.
            return Array(htmlToText(text(p, cap * 4)).utf8.prefix(cap))
        }
        return []
    }
}

private func isDeliveryStatusType(_ t: String) -> Bool {
    t == "message/delivery-status" || t == "message/global-delivery-status"
}

/// Whether a mailbox is one that only mail systems send from.
func isMailSystem(_ m: Mailbox) -> Bool {
    if let a = m.address?.asciiLowercased {
        let local = a.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? a
        if mailSystemLocalParts.contains(local) || isExchangeSystemMailbox(local) { return true }
    }
    if let n = m.name?.trimmedWS.asciiLowercased, mailSystemNames.contains(n) { return true }
    return false
}

private let mailSystemLocalParts: Set<String> = ["mailer-daemon", "mailer_daemon", "mailerdaemon", "postmaster"]
private let mailSystemNames: Set<String> = [
    "mail delivery subsystem", "mail delivery system", "mail delivery service", "mailer-daemon", "mail administrator",
    "microsoft outlook", "microsoft exchange", "postmaster", "system administrator",
]

/// Exchange sends its reports from "MicrosoftExchange" followed by 32 hex digits.
private func isExchangeSystemMailbox(_ local: String) -> Bool {
    let u = Array(local.utf8)
    let prefix = Array("microsoftexchange".utf8)
    guard u.count == prefix.count + 32, u.starts(with: prefix) else { return false }
    return u[prefix.count...].allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
}

/// Message-IDs in first-seen order.
private struct OrderedIDs {
    var list: [String] = []
    var seen: Set<String> = []
    mutating func add(_ ids: some Sequence<String>) {
        for id in ids where seen.insert(id).inserted { list.append(id) }
    }
}

extension MIMEPart {
    /// The transfer-decoded body, at most `cap` bytes of it.
    func decodedPrefix(_ cap: Int) -> [UInt8] {
        var out: [UInt8] = []
        decodeBody { chunk in
            let room = cap - out.count
            if room > 0 { out.append(contentsOf: chunk.prefix(room)) }
        }
        return out
    }
}

/// A header block held in `bytes` (a returned header part, or one quoted in a bounce's text).
func scanHeaders(_ bytes: [UInt8], options: ParserOptions) -> Headers {
    let buf = ByteBuffer(bytes)
    var log = DefectLog()
    let block = scanHeaderBlock(buf.bytes, start: 0, end: buf.count, options: options, defects: &log, allowMboxFrom: true)
    return Headers(source: buf, fields: block.fields)
}

// MARK: RFC 3464 fields

/// The per-recipient field groups of a message/delivery-status body, and the per-message
/// X-Original-Message-ID (Gmail writes it).
func parseDeliveryStatus(_ body: [UInt8]) -> (recipients: [DSNRecipient], originalIDs: [String]) {
    var recipients: [DSNRecipient] = []
    var ids: [String] = []
    var group: [(name: String, value: [UInt8])] = []

    func finishGroup() {
        defer { group.removeAll(keepingCapacity: true) }
        guard recipients.count < ConversationLimits.maxRecipients else { return }
        func value(_ name: String) -> [UInt8]? { group.first { $0.name == name }?.value }
        if let v = value("x-original-message-id") { ids += messageIDs(v) }
        guard let rcpt = value("final-recipient") ?? value("original-recipient") else { return }
        let address = recipientAddress(rcpt)
        guard !address.isEmpty else { return }
        let status = value("status").flatMap(findStatusCode)
        var action = value("action").map { firstWord($0) } ?? ""
        if action.isEmpty, let s = status { action = actionForStatus(s) }
        let diagnostic = value("diagnostic-code").map { oneLine(String(decoding: $0, as: UTF8.self)) }
        recipients.append(DSNRecipient(address: address, action: action, status: status, diagnostic: diagnostic))
    }

    var i = 0
    let n = body.count
    while i < n {
        var e = i
        while e < n, body[e] != Byte.lf { e += 1 }
        var le = e
        if le > i, body[le - 1] == Byte.cr { le -= 1 }
        let line = body[i..<le]
        if line.allSatisfy(Byte.isSpace) {
            finishGroup()
        } else if Byte.isWSP(line.first!) {
            // Folded: continues the last field.
            if !group.isEmpty, group[group.count - 1].value.count < ConversationLimits.maxReportBytes {
                group[group.count - 1].value.append(Byte.sp)
                group[group.count - 1].value += line.drop(while: Byte.isWSP)
            }
        } else if let colon = line.firstIndex(of: Byte.colon) {
            let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self).trimmedWS.asciiLowercased
            group.append((name, Array(line[(colon + 1)...].drop(while: Byte.isWSP))))
        }
        i = e + 1
    }
    finishGroup()
    return (recipients, ids)
}

/// "rfc822; Gone@Customer.example.org" -> "Gone@customer.example.org".
private func recipientAddress(_ raw: [UInt8]) -> String {
    var v = raw[...]
    if let semi = v.firstIndex(of: Byte.semicolon) { v = v[(semi + 1)...] }
    return normalizedAddress(String(decoding: v, as: UTF8.self))
}

/// An address as a report writes it, bare: without <>, quotes, a trailing colon or comma; the
/// domain lowercased.
func normalizedAddress(_ s: String) -> String {
    var u = Array(s.trimmedWS.utf8)[...]
    while let c = u.last, c == Byte.colon || c == UInt8(ascii: ",") || c == UInt8(ascii: ".") || Byte.isSpace(c) { u = u.dropLast() }
    while let c = u.first, c == UInt8(ascii: "<") || c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") { u = u.dropFirst() }
    while let c = u.last, c == UInt8(ascii: ">") || c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") { u = u.dropLast() }
    if let at = u.lastIndex(of: UInt8(ascii: "@")) {
        return String(decoding: u[..<at], as: UTF8.self) + String(decoding: u[at...].map(Byte.lower), as: UTF8.self)
    }
    return String(decoding: u, as: UTF8.self)
}

private func firstWord(_ raw: [UInt8]) -> String {
    let w = raw.drop(while: Byte.isSpace).prefix { !Byte.isSpace($0) && $0 != Byte.semicolon && $0 != UInt8(ascii: "(") }
    return String(decoding: w.prefix(40).map(Byte.lower), as: UTF8.self)
}

private func actionForStatus(_ status: String) -> String {
    switch status.first {
    case "5": return "failed"
    case "4": return "delayed"
    case "2": return "delivered"
    default: return ""
    }
}

/// The first enhanced status code (RFC 3463: "5.1.1", "5.1.10") standing alone in the bytes: a
/// class of 2, 4 or 5, a subject of 0 to 7, a detail of up to three digits, and not part of an
/// IP address or version number.
func findStatusCode(_ raw: some Collection<UInt8>) -> String? {
    let b = Array(raw.prefix(ConversationLimits.maxReportBytes))
    let n = b.count
    func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    let dot = UInt8(ascii: ".")
    var i = 0
    while i + 4 < n {
        let c = b[i]
        if c == 50 || c == 52 || c == 53, b[i + 1] == dot, b[i + 2] >= 48, b[i + 2] <= 55, b[i + 3] == dot,
           i == 0 || (!isDigit(b[i - 1]) && b[i - 1] != dot) {
            var m = i + 4
            while m < n, m - (i + 4) < 3, isDigit(b[m]) { m += 1 }
            if m > i + 4, m == n || (!isDigit(b[m]) && !(b[m] == dot && m + 1 < n && isDigit(b[m + 1]))) {
                return String(decoding: b[i..<m], as: UTF8.self)
            }
        }
        i += 1
    }
    return nil
}

/// White space folded, cut to the diagnostic cap.
func oneLine(_ s: String) -> String {
    let f = s.foldedWS
    guard f.count > ConversationLimits.maxDiagnostic else { return f }
    return String(f.prefix(ConversationLimits.maxDiagnostic))
}

// MARK: Bounce text

/// A bounce's text cut into lines, read as the non-standard forms are written.
struct BounceText {
    let bytes: [UInt8]
    /// Content of each line, line end excluded.
    let lines: [Range<Int>]

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        var lines: [Range<Int>] = []
        var i = 0
        let n = bytes.count
        bytes.withUnsafeBufferPointer { b in
            while i < n, lines.count < ConversationLimits.maxLines {
                let lf = b.nextLF(from: i, end: n)
                var e = lf
                if e > i, b[e - 1] == Byte.cr { e -= 1 }
                lines.append(i..<e)
                i = lf + 1
            }
        }
        self.lines = lines
    }

    func line(_ i: Int) -> ArraySlice<UInt8> { bytes[lines[i]] }
    func trimmed(_ i: Int) -> ArraySlice<UInt8> { trimSpace(line(i)) }
    func isBlank(_ i: Int) -> Bool { line(i).allSatisfy(Byte.isSpace) }
    func string(_ i: Int) -> String { String(decoding: trimmed(i), as: UTF8.self) }
    func indent(_ i: Int) -> Int { line(i).prefix(while: Byte.isWSP).count }

    /// The first line at or after `from` containing one of the phrases.
    func firstLine(containing phrases: [String], from: Int = 0, before end: Int? = nil) -> Int? {
        let needles = phrases.map { Array($0.utf8) }
        let end = min(end ?? lines.count, lines.count)
        guard from < end else { return nil }
        for i in from..<end where needles.contains(where: { containsBytes(line(i), $0) }) { return i }
        return nil
    }

    /// The first non-blank line after `i`, looking at most `limit` lines ahead.
    func nextNonBlank(after i: Int, limit: Int = .max) -> Int? {
        var j = i + 1
        while j < lines.count, j - i <= limit { if !isBlank(j) { return j }; j += 1 }
        return nil
    }

    /// Whether the start of the text contains a phrase.
    func probe(_ phrase: String) -> Bool {
        containsBytes(bytes.prefix(ConversationLimits.formProbeBytes), Array(phrase.utf8))
    }

    /// The header block starting at byte `offset`.
    func headers(at offset: Int, options: ParserOptions) -> Headers {
        scanHeaders(Array(bytes[offset..<min(bytes.count, offset + ConversationLimits.maxOriginalHeaderBytes)]), options: options)
    }

    /// Which mail system wrote a report, from its text and sender.
    func producer(from: Mailbox?, headers: Headers) -> String? {
        if probe("This is the mail system at host") { return "postfix" }
        if probe("This message was created automatically by mail delivery software") { return "exim" }
        if probe("Hi. This is the qmail-send program") { return "qmail" }
        let sender = from?.address?.asciiLowercased ?? ""
        if headers.first("x-ms-exchange-message-is-ndr") != nil || probe("Delivery has failed to these recipients or groups")
            || probe("Delivery is delayed to these recipients or groups")
            || isExchangeSystemMailbox(String(sender.prefix { $0 != "@" })) {
            return "exchange"
        }
        if sender.hasSuffix("@googlemail.com") || sender.hasSuffix("@google.com") || probe("Delivery to the following recipient") {
            return "gmail"
        }
        return nil
    }

    /// The recipients of a non-standard report and where its quoted original's header starts.
    struct NonStandard {
        var form: String
        var recipients: [DSNRecipient]
        var originalHeaderStart: Int?
    }

    /// A text-only report in one of the forms below, or nil.
    func nonStandard() -> NonStandard? {
        if probe("Hi. This is the qmail-send program") { return qmail() }
        if probe("This message was created automatically by mail delivery software"), let r = exim() { return r }
        if probe("Delivery has failed to these recipients or groups:") || probe("Delivery is delayed to these recipients or groups:") {
            return exchange()
        }
        if probe("Delivery to the following recipient"), let r = gmail() { return r }
        return nil
    }

    private func finish(_ r: inout DSNRecipient, _ diag: [String]) {
        guard !diag.isEmpty else { return }
        let text = oneLine(diag.joined(separator: " "))
        r.diagnostic = text
        r.status = findStatusCode(text.utf8)
    }

    /// Exim: "The following address(es) failed:" (or, for a delay, "... has not yet been
    /// delivered is:"), then each address indented by two spaces with its reason indented by
    /// four, then the copy of the message.
    private func exim() -> NonStandard? {
        var action = "failed"
        var head = firstLine(containing: ["address(es) failed:", "addresses failed:", "address failed:"])
        if head == nil {
            head = firstLine(containing: ["has not yet been delivered is:", "have not yet been delivered are:"])
            action = "delayed"
        }
        guard let head else { return nil }
        let copy = firstLine(containing: ["------ This is a copy of the message"], from: head)
        var out: [DSNRecipient] = []
        var current: DSNRecipient? = nil
        var diag: [String] = []
        func flush() {
            if var r = current {
                finish(&r, diag)
                if out.count < ConversationLimits.maxRecipients { out.append(r) }
            }
            current = nil
            diag = []
        }
        var i = head + 1
        while i < (copy ?? lines.count) {
            defer { i += 1 }
            if isBlank(i) { continue }
            let ind = indent(i)
            if ind == 0 { break }
            if ind < 4 {
                flush()
                let word = trimmed(i).prefix { !Byte.isSpace($0) }
                let a = normalizedAddress(String(decoding: word, as: UTF8.self))
                if a.contains("@") { current = DSNRecipient(address: a, action: action) }
            } else if current != nil, diag.count < 20 {
                diag.append(string(i))
            }
        }
        flush()
        var start: Int? = nil
        if let c = copy, !containsBytes(line(c), Array("without the headers".utf8)), let h = nextNonBlank(after: c) {
            start = lines[h].lowerBound
        }
        return NonStandard(form: "exim", recipients: out, originalHeaderStart: start)
    }

    /// qmail: "<address>:" lines, each followed by its reason up to an empty line, then
    /// "--- Below this line is a copy of the message."
    private func qmail() -> NonStandard {
        let markers = ["--- Below this line is a copy of the message.", "--- Enclosed are the original headers of the message.",
                       "--- Below this line is the original bounce."]
        let copy = firstLine(containing: markers)
        var out: [DSNRecipient] = []
        var i = 0
        let end = copy ?? lines.count
        while i < end {
            let t = trimmed(i)
            if t.first == UInt8(ascii: "<"), t.count >= 4, t.last == Byte.colon, t[t.endIndex - 2] == UInt8(ascii: ">") {
                var r = DSNRecipient(address: normalizedAddress(String(decoding: t, as: UTF8.self)), action: "failed")
                var diag: [String] = []
                var j = i + 1
                while j < end, !isBlank(j), diag.count < 20 {
                    diag.append(string(j))
                    j += 1
                }
                finish(&r, diag)
                if r.address.contains("@"), out.count < ConversationLimits.maxRecipients { out.append(r) }
                i = j
                continue
            }
            i += 1
        }
        let start = copy.flatMap { nextNonBlank(after: $0) }.map { lines[$0].lowerBound }
        return NonStandard(form: "qmail", recipients: out, originalHeaderStart: start)
    }

    /// Exchange and Outlook: "Delivery has failed to these recipients or groups:", the address
    /// lines, "Diagnostic information for administrators:" with each address and the remote
    /// server's answer, then "Original message headers:".
    private func exchange() -> NonStandard {
        var action = "failed"
        var head = firstLine(containing: ["Delivery has failed to these recipients or groups:"])
        if head == nil {
            head = firstLine(containing: ["Delivery is delayed to these recipients or groups:"])
            action = "delayed"
        }
        let h = head ?? 0
        let diagHead = firstLine(containing: ["Diagnostic information for administrators:"], from: h)
        let originalHead = firstLine(containing: ["Original message headers:"], from: h)
        let listEnd = diagHead ?? originalHead ?? lines.count
        var out: [DSNRecipient] = []
        var index: [String: Int] = [:]
        for i in (h + 1)..<max(h + 1, listEnd) {
            guard out.count < ConversationLimits.maxRecipients, let a = standaloneAddress(trimmed(i)) else { continue }
            if index[a.asciiLowercased] == nil {
                index[a.asciiLowercased] = out.count
                out.append(DSNRecipient(address: a, action: action))
            }
        }
        if let d = diagHead {
            var i = d + 1
            let end = originalHead ?? lines.count
            while i < end {
                if let a = standaloneAddress(trimmed(i)), let k = index[a.asciiLowercased], out[k].diagnostic == nil,
                   let j = nextNonBlank(after: i, limit: 3), j < end, standaloneAddress(trimmed(j)) == nil {
                    finish(&out[k], [exchangeDiagnostic(string(j))])
                    i = j
                }
                i += 1
            }
        }
        let start = originalHead.flatMap { nextNonBlank(after: $0) }.map { lines[$0].lowerBound }
        return NonStandard(form: "exchange", recipients: out, originalHeaderStart: start)
    }

    /// "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##" (Exchange 2010) and "Remote Server
    /// returned '550 5.1.1 ...'" (2013 and later) become the server's answer.
    private func exchangeDiagnostic(_ s: String) -> String {
        var u = Array(s.utf8)[...]
        let remote = Array("remote server returned '".utf8)
        if u.count > remote.count, u.prefix(remote.count).map(Byte.lower) == remote {
            u = u.dropFirst(remote.count)
            if u.last == UInt8(ascii: "'") { u = u.dropLast() }
        }
        while u.first == UInt8(ascii: "#") { u = u.dropFirst() }
        while u.last == UInt8(ascii: "#") || u.last.map(Byte.isSpace) == true { u = u.dropLast() }
        return String(decoding: u, as: UTF8.self).trimmedWS
    }

    /// Gmail before its reports were standard: "Delivery to the following recipient failed
    /// permanently:", the indented addresses, "Technical details of permanent failure:", then
    /// "----- Original message -----".
    private func gmail() -> NonStandard? {
        var action = "failed"
        var head = firstLine(containing: ["Delivery to the following recipient failed permanently:",
                                          "Delivery to the following recipients failed permanently:"])
        if head == nil {
            head = firstLine(containing: ["Delivery to the following recipient has been delayed:",
                                          "Delivery to the following recipients has been delayed:"])
            action = "delayed"
        }
        guard let head else { return nil }
        var out: [DSNRecipient] = []
        var i = head + 1
        while i < lines.count, isBlank(i) { i += 1 }
        while i < lines.count, !isBlank(i), let a = standaloneAddress(trimmed(i)), out.count < ConversationLimits.maxRecipients {
            out.append(DSNRecipient(address: a, action: action))
            i += 1
        }
        let original = firstLine(containing: ["----- Original message -----"], from: head)
        let end = original ?? lines.count
        // The server's answer: after "The error that the other server returned was:" (on the same
        // line or the next), else the paragraph of technical details.
        var diag: [String] = []
        let said = Array("The error that the other server returned was:".utf8)
        if let d = firstLine(containing: ["The error that the other server returned was:"], from: head, before: end) {
            let l = line(d)
            if let at = findBytes(l, said) {
                let rest = String(decoding: trimSpace(l[(at + said.count)...]), as: UTF8.self)
                if !rest.isEmpty { diag.append(rest) }
            }
            var j = d + 1
            while j < end, !isBlank(j), diag.count < 20 { diag.append(string(j)); j += 1 }
        } else if let d = firstLine(containing: ["Technical details of"], from: head, before: end) {
            var j = d + 1
            while j < end, !isBlank(j), diag.count < 20 { diag.append(string(j)); j += 1 }
        }
        for k in out.indices { finish(&out[k], diag) }
        let start = original.flatMap { nextNonBlank(after: $0) }.map { lines[$0].lowerBound }
        return NonStandard(form: "gmail", recipients: out, originalHeaderStart: start)
    }
}

/// The address a line names on its own: "a@b", "a@b<mailto:a@b>", "Name (a@b)", "Name <a@b>"
/// or "'a@b'"; nil for a line of prose.
func standaloneAddress(_ line: ArraySlice<UInt8>) -> String? {
    var t = trimSpace(line)
    guard !t.isEmpty, t.count <= 512 else { return nil }
    let mailto = Array("<mailto:".utf8)
    if t.last == UInt8(ascii: ">"), let m = findBytes(t, mailto) {
        t = t[(m + mailto.count)..<(t.endIndex - 1)]
    } else if t.last == UInt8(ascii: ")"), let open = t.lastIndex(of: UInt8(ascii: "(")) {
        t = t[(open + 1)..<(t.endIndex - 1)]
    } else if t.last == UInt8(ascii: ">"), let open = t.lastIndex(of: UInt8(ascii: "<")) {
        t = t[(open + 1)..<(t.endIndex - 1)]
    }
    let a = normalizedAddress(String(decoding: t, as: UTF8.self))
    let u = Array(a.utf8)
    guard let at = u.firstIndex(of: UInt8(ascii: "@")), at > 0, at < u.count - 1,
          !u.contains(where: { Byte.isSpace($0) || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">")
              || $0 == UInt8(ascii: "(") || $0 == UInt8(ascii: ")") || $0 == UInt8(ascii: ",") || $0 == Byte.semicolon }),
          u[(at + 1)...].contains(UInt8(ascii: ".")), !u[(at + 1)...].contains(UInt8(ascii: "@")) else { return nil }
    return a
}

@inline(__always) func trimSpace<C: BidirectionalCollection>(_ s: C) -> C.SubSequence where C.Element == UInt8 {
    var t = s[...]
    while let c = t.first, Byte.isSpace(c) { t = t.dropFirst() }
    while let c = t.last, Byte.isSpace(c) { t = t.dropLast() }
    return t
}

/// The index (in `hay`'s indices) where `needle` first occurs.
func findBytes(_ hay: ArraySlice<UInt8>, _ needle: [UInt8]) -> Int? {
    guard !needle.isEmpty, hay.count >= needle.count else { return nil }
    return hay.withUnsafeBufferPointer { h in
        needle.withUnsafeBufferPointer { n in
            guard let p = wt_memmem(h.baseAddress!, h.count, n.baseAddress!, n.count) else { return nil }
            return hay.startIndex + UnsafeRawPointer(h.baseAddress!).distance(to: UnsafeRawPointer(p))
        }
    }
}

@inline(__always) func containsBytes(_ hay: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool { findBytes(hay, needle) != nil }

// MARK: Robots and spam

extension Message {
    /// Why no automatic reply may answer this message (RFC 3834 and common practice), each as a
    /// short reason: "Auto-Submitted: auto-replied", "Precedence: bulk", "List-Id",
    /// "X-Auto-Response-Suppress", "Exchange inbox rule (X-MS-Exchange-Inbox-Rules-Loop)",
    /// "X-Autoreply", "From: MAILER-DAEMON", "delivery status notification", ...; empty for
    /// personal mail. `Auto-Submitted: no` is not a reason. The envelope sender is the caller's
    /// to consider.
    public func automaticMarkers() -> [String] {
        var out: [String] = []
        func add(_ s: String) { if !out.contains(s) { out.append(s) } }
        for f in headers.all("auto-submitted") {
            let v = keyword(headers.rawValue(f))
            if !v.isEmpty && v != "no" { add("Auto-Submitted: " + v) }
        }
        for f in headers.all("precedence") {
            let v = keyword(headers.rawValue(f))
            if v == "bulk" || v == "junk" || v == "list" || v == "auto_reply" { add("Precedence: " + v) }
        }
        // RFC 2369 and 2919: mailing list mail.
        for name in ["List-Id", "List-Unsubscribe", "List-Post", "List-Help", "List-Subscribe", "List-Owner", "List-Archive"]
        where headers.first(name) != nil {
            add(name)
        }
        // Exchange's request not to answer: only its "All", "OOF" and "AutoReply" cover replies
        // (the others are about receipts).
        for f in headers.all("x-auto-response-suppress") {
            let words = headers.rawValue(f).split { Byte.isSpace($0) || $0 == UInt8(ascii: ",") || $0 == Byte.semicolon }
            if words.contains(where: { w in ["all", "oof", "autoreply"].contains(String(decoding: w.map(Byte.lower), as: UTF8.self)) }) {
                add("X-Auto-Response-Suppress")
            }
        }
        // Exchange stamps what its inbox rules (out-of-office replies, forwards, redirects) send.
        if headers.first("x-ms-exchange-inbox-rules-loop") != nil {
            add("Exchange inbox rule (X-MS-Exchange-Inbox-Rules-Loop)")
        }
        for name in ["X-Autoreply", "X-Autorespond", "X-Autogenerated", "X-AutoReply-From", "X-Mail-Autoreply", "X-Loop"] {
            for f in headers.all(name) {
                let v = keyword(headers.rawValue(f))
                if v != "no" && v != "false" { add(name) }
            }
        }
        var reportSeen = false
        if root.mimeType == "multipart/report" {
            reportSeen = true
            let type = String((root.contentType["report-type"] ?? "").trimmedWS.asciiLowercased.prefix(40))
            switch type {
            case "delivery-status", "global-delivery-status": add("delivery status notification")
            case "disposition-notification", "global-disposition-notification": add("disposition notification")
            default: add("report (report-type=\(type))")
            }
        }
        if let f = from.first {
            let local = (f.address ?? f.name ?? "").asciiLowercased.prefix { $0 != "@" }
            if local == "mailer-daemon" || local == "mailer_daemon" || local == "mailerdaemon" { add("From: MAILER-DAEMON") }
            if local == "postmaster" { add("From: postmaster") }
            if isExchangeSystemMailbox(String(local)) { add("From: Exchange system mailbox") }
        }
        if !reportSeen, hasBounceSender, deliveryStatusReport() != nil { add("delivery status notification") }
        return out
    }

    /// Spam verdicts an MTA filter wrote, as reasons: "X-Spam-Flag: YES", "X-Spam-Status: Yes",
    /// "X-Spam: Yes", "X-Spamd-Result: action=reject" (rspamd's "default: True"), "X-Rspamd-Action:
    /// add header" (also "reject", "rewrite subject"), "X-Rspamd-Pre-Result: action=reject";
    /// empty when none says spam.
    public func spamMarkers() -> [String] {
        var out: [String] = []
        func add(_ s: String) { if !out.contains(s) { out.append(s) } }
        for f in headers.all("x-spam-flag") where keyword(headers.rawValue(f)) == "yes" { add("X-Spam-Flag: YES") }
        for f in headers.all("x-spam-status") where keyword(headers.rawValue(f), stopAtComma: true) == "yes" {
            add("X-Spam-Status: Yes")
        }
        for f in headers.all("x-spam") {
            let v = keyword(headers.rawValue(f))
            if v == "yes" || v == "true" { add("X-Spam: Yes") }
        }
        // rspamd writes "default: True [score / threshold]" when its action is reject.
        for f in headers.all("x-spamd-result") {
            let v = headers.rawValue(f).prefix(64)
            if let colon = v.firstIndex(of: Byte.colon), keyword(Array(v[(colon + 1)...])) == "true" {
                add("X-Spamd-Result: action=reject")
            }
        }
        for f in headers.all("x-rspamd-action") {
            let v = String(decoding: headers.rawValue(f).prefix(40), as: UTF8.self).foldedWS.asciiLowercased
            if spamActions.contains(v) { add("X-Rspamd-Action: " + v) }
        }
        for f in headers.all("x-rspamd-pre-result") {
            let v = headers.rawValue(f).prefix(64)
            let prefix = Array("action=".utf8)
            guard v.count > prefix.count, v.prefix(prefix.count).map(Byte.lower) == prefix else { continue }
            let action = String(decoding: v.dropFirst(prefix.count).prefix { $0 != Byte.semicolon }, as: UTF8.self)
                .foldedWS.asciiLowercased
            if spamActions.contains(action) { add("X-Rspamd-Pre-Result: action=" + action) }
        }
        return out
    }
}

/// rspamd's actions that mean spam ("soft reject" is a temporary refusal, "greylist" a delay).
private let spamActions: Set<String> = ["reject", "add header", "rewrite subject"]

/// The leading word of a field value, lowercased: up to white space, ";", "(" (or ","); at most
/// 40 bytes, so that a reason stays short.
private func keyword(_ raw: [UInt8], stopAtComma: Bool = false) -> String {
    let w = raw.drop(while: Byte.isSpace).prefix {
        !Byte.isSpace($0) && $0 != Byte.semicolon && $0 != UInt8(ascii: "(") && !(stopAtComma && $0 == UInt8(ascii: ","))
    }
    return String(decoding: w.prefix(40).map(Byte.lower), as: UTF8.self)
}

// MARK: Authentication-Results

public struct AuthenticationResults: Sendable, Equatable {
    public struct Result: Sendable, Equatable {
        /// "dmarc", "spf", "dkim", ... lowercased.
        public var method: String
        /// "pass", "fail", "none", ... lowercased.
        public var result: String
        /// "header.from", "smtp.mailfrom", "reason", ... (keys lowercased, values as written,
        /// quotes removed); the first of a repeated key.
        public var properties: [String: String]

        public init(method: String, result: String, properties: [String: String] = [:]) {
            self.method = method
            self.result = result
            self.properties = properties
        }
    }

    /// Who wrote the header, lowercased; "" when the header starts with a result (Microsoft
    /// writes it so).
    public var authservID: String
    public var results: [Result]

    public init(authservID: String, results: [Result]) {
        self.authservID = authservID
        self.results = results
    }

    /// The dmarc result for the given From domain (header.from), if this header states one.
    public func dmarc(forDomain domain: String) -> String? {
        let d = Self.normalizedDomain(domain)
        for r in results where r.method == "dmarc" {
            if let from = r.properties["header.from"], Self.normalizedDomain(from) == d { return r.result }
        }
        return nil
    }

    private static func normalizedDomain(_ s: String) -> String {
        var t = s.trimmedWS.asciiLowercased
        if let at = t.lastIndex(of: "@") { t = String(t[t.index(after: at)...]) }
        while t.hasSuffix(".") { t.removeLast() }
        return t
    }

    /// Parses one field value (RFC 8601): the authserv-id (and version), then "method=result"
    /// with an optional reason and properties, separated by ";", comments anywhere.
    static func parse(_ raw: [UInt8]) -> AuthenticationResults {
        var i = 0
        let n = raw.count
        func skipCFWS() {
            while i < n {
                if Byte.isSpace(raw[i]) { i += 1 } else if raw[i] == UInt8(ascii: "(") { skipComment(raw, &i) } else { break }
            }
        }
        func isStop(_ c: UInt8, equals: Bool) -> Bool {
            Byte.isSpace(c) || c == Byte.semicolon || c == UInt8(ascii: "(") || (equals && (c == Byte.equals || c == UInt8(ascii: "/")))
        }
        /// A token (up to white space, ";", "(", and "=" or "/" when `equals`) or a quoted string.
        func value(equals: Bool) -> String {
            if i < n, raw[i] == Byte.dquote {
                i += 1
                var out: [UInt8] = []
                while i < n, raw[i] != Byte.dquote {
                    if raw[i] == Byte.backslash, i + 1 < n { i += 1 }
                    out.append(raw[i])
                    i += 1
                }
                i += 1
                return String(decoding: out, as: UTF8.self)
            }
            let s = i
            while i < n, !isStop(raw[i], equals: equals) { i += 1 }
            return String(decoding: raw[s..<i], as: UTF8.self)
        }
        func skipToSemicolon() {
            while i < n, raw[i] != Byte.semicolon {
                if raw[i] == UInt8(ascii: "(") { skipComment(raw, &i) } else if raw[i] == Byte.dquote { _ = value(equals: false) } else { i += 1 }
            }
        }

        skipCFWS()
        var id = ""
        let save = i
        let first = value(equals: true)
        skipCFWS()
        if i < n, raw[i] == Byte.equals || raw[i] == UInt8(ascii: "/") {
            i = save  // No authserv-id: the header starts with a result.
        } else {
            id = first.asciiLowercased
            skipToSemicolon()  // The version, if any.
        }
        var results: [Result] = []
        while i < n, results.count < ConversationLimits.maxAuthResults {
            skipCFWS()
            if i >= n { break }
            if raw[i] == Byte.semicolon { i += 1; continue }
            let start = i
            let method = value(equals: true).asciiLowercased
            skipCFWS()
            if i < n, raw[i] == UInt8(ascii: "/") {  // method version
                i += 1
                skipCFWS()
                _ = value(equals: true)
                skipCFWS()
            }
            guard i < n, raw[i] == Byte.equals, !method.isEmpty else {
                // "none", or something unreadable: on to the next result.
                if i == start { i += 1 }
                skipToSemicolon()
                continue
            }
            i += 1
            skipCFWS()
            let result = value(equals: false).asciiLowercased
            var properties: [String: String] = [:]
            while true {
                skipCFWS()
                if i >= n || raw[i] == Byte.semicolon { break }
                let keyStart = i
                let key = value(equals: true).asciiLowercased
                skipCFWS()
                if i < n, raw[i] == Byte.equals {
                    i += 1
                    skipCFWS()
                    let v = value(equals: false)
                    if !key.isEmpty, properties[key] == nil { properties[key] = v }
                } else if i == keyStart {
                    i += 1  // A stray "/" or similar: skip it.
                }
            }
            if !result.isEmpty { results.append(Result(method: method, result: result, properties: properties)) }
        }
        return AuthenticationResults(authservID: id, results: results)
    }
}

extension Message {
    /// Every Authentication-Results header (RFC 8601), in header order (topmost first).
    public func authenticationResults() -> [AuthenticationResults] {
        headers.all("authentication-results").map { AuthenticationResults.parse(headers.rawValue($0)) }
    }
}

// MARK: Quoted text

/// Where quoted text begins in a reply's body text: the UTF-8 byte offset of the first line of
/// the quoted part, or nil when there is none. The quoted part starts at an attribution line
/// ("On ... wrote:", "Le ... a écrit :", "Am ... schrieb ...:" and the like, on up to three
/// lines), "-----Original Message-----" (and its translations), Outlook's header block ("From:",
/// "Sent:", "To:", "Subject:", also in German, French and others, optionally after a line of
/// underscores), or the first line of a run of ">" lines that continues to the end.
///
/// An attribution followed by ">" lines counts only when those lines run to the end, so that
/// answers written between quoted lines are never cut off; after the last ">" line only a
/// signature ("-- ") may follow, or, when the reply was written above the quote, up to three
/// lines shorter than that reply. Linear in the text.
public func quotedTextOffset(_ text: String) -> Int? {
    var t = text
    return t.withUTF8 { QuoteScanner($0).scan() }
}

private struct QuoteScanner {
    let b: UnsafeBufferPointer<UInt8>
    let n: Int
    /// Lines longer than this are never markers.
    static let maxMarkerLine = 1_000

    init(_ b: UnsafeBufferPointer<UInt8>) {
        self.b = b
        n = b.count
    }

    /// The line starting at `s`: its content end (line end excluded) and the next line's start.
    func line(at s: Int) -> (end: Int, next: Int) {
        let lf = b.nextLF(from: s, end: n)
        var e = lf
        if e > s, b[e - 1] == Byte.cr { e -= 1 }
        return (e, lf < n ? lf + 1 : n)
    }

    /// Like `line(at:)`, but gives up (nil) past `maxMarkerLine` bytes, so that looking ahead
    /// stays bounded.
    func shortLine(at s: Int) -> (end: Int, next: Int)? {
        guard s < n else { return nil }
        let limit = min(n, s + Self.maxMarkerLine)
        let lf = b.nextLF(from: s, end: limit)
        if lf == limit && limit < n { return nil }
        var e = lf
        if e > s, b[e - 1] == Byte.cr { e -= 1 }
        return (e, lf < n ? lf + 1 : n)
    }

    func isBlank(_ s: Int, _ e: Int) -> Bool {
        for k in s..<e where !Byte.isSpace(b[k]) { return false }
        return true
    }

    func isQuoted(_ s: Int, _ e: Int) -> Bool { s < e && b[s] == UInt8(ascii: ">") }

    func bytes(_ s: Int, _ e: Int) -> Slice<UnsafeBufferPointer<UInt8>> { b[s..<e] }

    /// The next non-blank line after the one ending at `next`, skipping at most two blank lines.
    func nextNonBlank(_ next: Int) -> (start: Int, end: Int)? {
        var s = next
        for _ in 0..<3 {
            guard let l = shortLine(at: s) else { return nil }
            if !isBlank(s, l.end) { return (s, l.end) }
            if l.next == s { return nil }
            s = l.next
        }
        return nil
    }

    func scan() -> Int? {
        var pos = 0
        var marker: Int? = nil
        // The last run of ">" lines (blank lines inside it allowed) and what follows it.
        var runStart: Int? = nil
        var tailLines = 0
        var tailBytes = 0
        var tailIsSignature = false
        var interleaved = false
        var bytesBeforeRun = 0
        var otherBytes = 0
        // The last attribution followed by ">" lines: where it starts, where those lines start,
        // and how much text came before it.
        var attribution: (at: Int, quote: Int, bytesBefore: Int)? = nil
        while pos < n {
            let (end, next) = line(at: pos)
            if isQuoted(pos, end) {
                if runStart == nil || tailLines > 0 {
                    if runStart != nil { interleaved = true }
                    runStart = pos
                    bytesBeforeRun = otherBytes
                }
                tailLines = 0
                tailBytes = 0
                tailIsSignature = false
            } else if !isBlank(pos, end) {
                if marker == nil, end - pos <= Self.maxMarkerLine {
                    if isOriginalMessageLine(pos, end) || isHeaderBlock(at: pos) || isRuleBeforeHeaderBlock(pos, end, next) {
                        marker = pos
                    } else if let a = attributionEnd(at: pos) {
                        if let q = nextNonBlank(a.next), isQuoted(q.start, q.end) {
                            attribution = (pos, q.start, otherBytes)
                        } else if a.strong {
                            marker = pos
                        }
                    }
                }
                if runStart != nil {
                    if tailLines == 0 { tailIsSignature = isSignatureDelimiter(pos, end) }
                    tailLines += 1
                    tailBytes += end - pos
                }
                otherBytes += end - pos
            }
            pos = next
        }
        var result = marker
        if let r = runStart {
            var start = r
            var before = bytesBeforeRun
            if let a = attribution, a.quote == r {
                start = a.at
                before = a.bytesBefore
            }
            // A short tail is a name under a reply written above the quote; under a reply written
            // below it (or between quotes), it is the answer.
            let tailOK = tailLines == 0 || (tailIsSignature && tailLines <= 12)
                || (!interleaved && tailLines <= 3 && tailBytes <= 300 && before > tailBytes)
            if tailOK { result = min(result ?? start, start) }
        }
        return result
    }

    /// "-- " (a signature) or "--" alone.
    func isSignatureDelimiter(_ s: Int, _ e: Int) -> Bool {
        let t = trimSpace(bytes(s, e))
        return t.elementsEqual("--".utf8)
    }

    /// "-----Original Message-----" and its translations.
    func isOriginalMessageLine(_ s: Int, _ e: Int) -> Bool {
        let t = trimSpace(bytes(s, e))
        guard t.count >= 8, t.starts(with: "---".utf8), t.reversed().starts(with: "---".utf8) else { return false }
        var inner = t
        while let c = inner.first, c == Byte.dash || Byte.isSpace(c) { inner = inner.dropFirst() }
        while let c = inner.last, c == Byte.dash || Byte.isSpace(c) { inner = inner.dropLast() }
        return originalMessagePhrases.contains(String(decoding: inner.map(Byte.lower), as: UTF8.self))
    }

    /// A line of underscores (Outlook on the web, Outlook mobile) just before a header block.
    func isRuleBeforeHeaderBlock(_ s: Int, _ e: Int, _ next: Int) -> Bool {
        let t = trimSpace(bytes(s, e))
        guard t.count >= 8, t.allSatisfy({ $0 == UInt8(ascii: "_") }), let h = nextNonBlank(next) else { return false }
        return isHeaderBlock(at: h.start)
    }

    /// The label before the colon of a header-like line ("From", "Von", "De "), lowercased, bold
    /// marks removed.
    func label(_ s: Int, _ e: Int) -> String? {
        var k = s
        while k < e, k - s <= 24, b[k] != Byte.colon { k += 1 }
        guard k < e, b[k] == Byte.colon else { return nil }
        var t = trimSpace(bytes(s, k))
        while t.first == UInt8(ascii: "*") { t = t.dropFirst() }
        while t.last == UInt8(ascii: "*") { t = t.dropLast() }
        return String(decoding: trimSpace(t).map(Byte.lower), as: UTF8.self)
    }

    /// Outlook's block: a "From:" line, then within the next lines (no blank line between) a
    /// "Sent:" (or "Date:") line and a "Subject:" line.
    func isHeaderBlock(at s: Int) -> Bool {
        guard let first = shortLine(at: s), let l = label(s, first.end), fromLabels.contains(l) else { return false }
        var sent = false, subject = false
        var p = first.next
        for _ in 0..<8 {
            guard let ln = shortLine(at: p), !isBlank(p, ln.end), !isQuoted(p, ln.end) else { break }
            if let l = label(p, ln.end) {
                if sentLabels.contains(l) { sent = true }
                if subjectLabels.contains(l) { subject = true }
            }
            if sent && subject { return true }
            if ln.next == p { break }
            p = ln.next
        }
        return false
    }

    /// Whether an attribution starts at `s` (it may wrap over three lines): the start of the
    /// line after it, and whether it is strong enough to stand alone (it names an address or a
    /// time).
    func attributionEnd(at s: Int) -> (next: Int, strong: Bool)? {
        // Only a line that starts as attributions do, or names an address, can start one.
        guard let first = shortLine(at: s) else { return nil }
        let head = bytes(s, first.end)
        guard attributionStarts.contains(where: { w in head.count >= w.count && zip(head, w).allSatisfy { Byte.lower($0) == $1 } })
            || head.contains(UInt8(ascii: "@")) else { return nil }
        var joined: [UInt8] = []
        var p = s
        for k in 0..<3 {
            guard let l = shortLine(at: p), !isBlank(p, l.end), !isQuoted(p, l.end) else { return nil }
            if k > 0 { joined.append(Byte.sp) }
            joined += trimSpace(bytes(p, l.end))
            if let strong = isAttribution(joined) { return (l.next, strong) }
            if l.next == p { return nil }
            p = l.next
        }
        return nil
    }
}

/// Whether a (joined) line is an attribution, and if so whether it is strong (names an
/// address or a time); nil when it is not one.
func isAttribution(_ line: [UInt8]) -> Bool? {
    var t = line[...]
    stripTrailingSpaces(&t)
    guard t.last == Byte.colon else { return nil }
    t = t.dropLast()
    stripTrailingSpaces(&t)
    let lower = Array(t.map(Byte.lower))
    let hasAt = lower.contains(UInt8(ascii: "@"))
    let ends = attributionEndings.contains { lower.reversed().starts(with: $0.reversed()) }
        || containsBytes(lower[...], Array(" schrieb".utf8)) || containsBytes(lower[...], Array(" schreef ".utf8))
    guard ends else { return nil }
    guard hasAt || attributionStarts.contains(where: { lower.starts(with: $0) }) else { return nil }
    return hasAt || hasTime(lower)
}

/// Trailing ASCII white space, no-break spaces (U+00A0) and narrow no-break spaces (U+202F),
/// which French writes before a colon.
private func stripTrailingSpaces(_ t: inout ArraySlice<UInt8>) {
    while true {
        if let c = t.last, Byte.isSpace(c) { t = t.dropLast(); continue }
        if t.count >= 2, t[t.endIndex - 2] == 0xC2, t[t.endIndex - 1] == 0xA0 { t = t.dropLast(2); continue }
        if t.count >= 3, t[t.endIndex - 3] == 0xE2, t[t.endIndex - 2] == 0x80, t[t.endIndex - 1] == 0xAF { t = t.dropLast(3); continue }
        return
    }
}

/// A time such as "10:05".
private func hasTime(_ u: [UInt8]) -> Bool {
    func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    guard u.count >= 4 else { return false }
    for k in 1..<(u.count - 2) where u[k] == Byte.colon && isDigit(u[k - 1]) && isDigit(u[k + 1]) && isDigit(u[k + 2]) {
        return true
    }
    return false
}

private let attributionEndings: [[UInt8]] = [
    "wrote", "a écrit", "escribió", "ha scritto", "escreveu", "skrev", "schreef", "napisał", "kirjoitti", "schrieb",
].map { Array($0.utf8) }

private let attributionStarts: [[UInt8]] = [
    "on ", "le ", "am ", "el ", "op ", "il ", "em ", "den ", "w dniu ", "dne ",
].map { Array($0.utf8) }

private let originalMessagePhrases: Set<String> = [
    "original message", "ursprüngliche nachricht", "message d'origine", "oorspronkelijk bericht", "messaggio originale",
    "mensaje original", "mensagem original", "ursprungligt meddelande", "oprindelig meddelelse", "opprinnelig melding",
    "alkuperäinen viesti", "wiadomość oryginalna",
]

private let fromLabels: Set<String> = ["from", "von", "de", "van", "da", "från", "fra", "od"]
private let sentLabels: Set<String> = [
    "sent", "date", "gesendet", "datum", "envoyé", "verzonden", "inviato", "enviado", "data", "skickat", "sendt", "wysłano",
]
private let subjectLabels: Set<String> = [
    "subject", "betreff", "objet", "onderwerp", "oggetto", "asunto", "assunto", "ämne", "emne", "temat",
]

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A parsed message: the MIME tree, the defects found on the way, and the views a helpdesk
/// needs (who wrote it, about what, the body a ticket gets, the attachments).
public final class Message {
    public let source: ByteBuffer
    public let root: MIMEPart
    /// What was repaired or guessed, the first few of each code kept (see `DefectLog`).
    public let defects: [Defect]
    public let options: ParserOptions

    init(source: ByteBuffer, root: MIMEPart, defects: [Defect], options: ParserOptions) {
        self.source = source
        self.root = root
        self.defects = defects
        self.options = options
        charset = root.headerFallbackCharset
    }

    /// Parses a complete message held in `buffer`, which is never changed and which the message
    /// keeps as its source; a message with bare CR line ends is read from a copy with LF ones.
    public static func parse(_ buffer: ByteBuffer, options: ParserOptions = .default) -> Message {
        var builder = TreeBuilder(options: options)
        if buffer.count == 0 { builder.defects.append(Defect(.emptyMessage, at: 0)) }
        var source = buffer
        if hasBareCRLineEnds(buffer) {
            builder.defects.append(Defect(.bareCRLineEnds, at: 0))
            source = copyWithLFLineEnds(buffer)
        }
        if source.count > 0, let nul = memchr(source.base, 0, source.count) {
            builder.defects.append(Defect(.nulByte, at: source.base.distance(to: nul.assumingMemoryBound(to: UInt8.self))))
        }
        let root = builder.parseMessage(source, range: 0..<source.count, depth: 0, isRoot: true)
        return Message(source: source, root: root, defects: builder.defects.defects, options: options)
    }

    public static func parse(_ bytes: some Collection<UInt8>, options: ParserOptions = .default) -> Message {
        parse(ByteBuffer(bytes), options: options)
    }

    public var headers: Headers { root.headers }
    /// The charset unlabelled 8-bit header text is read in, when it is not UTF-8.
    let charset: String?

    // MARK: Envelope

    public var subject: String? { headers.text("subject", fallbackCharset: charset) }

    public var from: [Mailbox] { addresses("from") }
    public var sender: [Mailbox] { addresses("sender") }
    public var to: [Mailbox] { addresses("to") }
    public var cc: [Mailbox] { addresses("cc") }
    public var replyTo: [Mailbox] { addresses("reply-to") }

    /// Every mailbox of every field with this name, in order.
    public func addresses(_ field: String) -> [Mailbox] {
        var out: [Mailbox] = []
        for f in headers.all(field) {
            out += parseAddressList(headers.rawValue(f), fallbackCharset: charset, limit: options.maxAddresses).mailboxes
        }
        return out
    }

    public var date: MailDate? {
        headers.text("date").flatMap(parseMailDate)
    }

    public var messageID: String? { headers.raw("message-id").flatMap { messageIDs($0).first } }
    public var inReplyTo: [String] { headers.raw("in-reply-to").map(messageIDs) ?? [] }
    public var references: [String] { headers.raw("references").map(messageIDs) ?? [] }

    // MARK: Body

    /// The parts a reader shows as the text and HTML bodies, and the rest as attachments.
    public private(set) lazy var structure: BodyStructure = BodyStructure(root: root)

    /// Everything a ticket takes from the body, each part decoded once.
    public func content() -> MessageContent {
        var c = MessageContent()
        var defects = DefectLog()
        func note(_ p: MIMEPart, _ stats: DecodeStats) {
            if stats.junkBytes > 0 {
                defects.append(Defect(p.transferEncoding == .base64 ? .base64Junk : .quotedPrintableJunk,
                                      at: p.bodyRange.lowerBound, "\(stats.junkBytes) bytes"))
            }
            if stats.truncated { defects.append(Defect(.base64Truncated, at: p.bodyRange.lowerBound)) }
            if let t = stats.trailingText {
                defects.append(Defect(.textAfterBase64, at: p.bodyRange.lowerBound + t.lowerBound, "\(t.count) bytes left out"))
            }
        }
        func text(_ p: MIMEPart) -> String {
            let (bytes, stats) = p.decodedBodyWithStats()
            note(p, stats)
            let r = bytes.withUnsafeBufferPointer { Charset.decode($0, label: p.charset) }
            if r.unknownLabel { defects.append(Defect(.unknownCharset, at: p.range.lowerBound, p.charset ?? "")) }
            if r.invalidBytes > 0 {
                defects.append(Defect(.invalidCharacters, at: p.bodyRange.lowerBound,
                                      "\(r.invalidBytes) bytes not \(p.charset ?? "UTF-8")"))
            }
            return normalizeLineEnds(r.text)
        }
        let s = structure
        if let h = s.html { c.bodyHTML = text(h) }
        if let t = s.text {
            c.bodyText = text(t)
            c.bodySource = .plain
        } else if let html = c.bodyHTML {
            c.bodyText = htmlToText(html)
            c.bodySource = .html
        }
        var namer = AttachmentNamer(s.attachments)
        for p in s.attachments {
            var hasher = SHA256()
            var size = 0
            let stats = p.decodeFile { chunk in
                hasher.update(chunk)
                size += chunk.count
            }
            note(p, stats)
            let cid = p.headers.raw("content-id").flatMap { messageIDs($0).first }
            let (name, from) = namer.name(p)
            c.attachments.append(AttachmentInfo(
                filename: name, filenameFrom: from, contentType: p.mimeType, size: size, sha256: SHA256.hex(hasher.finalize()),
                inline: p.disposition?.value == "inline" || (p.disposition == nil && cid != nil), contentID: cid))
        }
        c.defects = defects.defects
        return c
    }

    /// The ticket body: the text/plain body, else the HTML body as readable text.
    public func bodyText() -> String {
        if let p = structure.text { return p.text().text }
        if let p = structure.html { return htmlToText(p.text().text) }
        return ""
    }

    /// The HTML body as sent, or nil.
    public func bodyHTML() -> String? { structure.html?.text().text }
}

/// What a ticket takes from a message body.
public struct MessageContent: Sendable {
    public enum BodySource: String, Sendable { case plain = "text/plain", html = "text/html", none }
    public var bodyText = ""
    public var bodySource = BodySource.none
    public var bodyHTML: String? = nil
    public var attachments: [AttachmentInfo] = []
    /// Defects found while decoding (transfer encodings and charsets), capped per code as
    /// `DefectLog` does.
    public var defects: [Defect] = []
}

/// Splits a message into text body, HTML body and attachments, as JMAP (RFC 8621, 4.1.4)
/// defines it: the first text/plain in reading order with alternatives resolved, the HTML
/// counterpart, and every other leaf, inline images and attached messages included.
public struct BodyStructure {
    public private(set) var textParts: [MIMEPart] = []
    public private(set) var htmlParts: [MIMEPart] = []
    public private(set) var attachments: [MIMEPart] = []
    /// The part whose text is the body (text/plain), and the HTML body.
    public private(set) var text: MIMEPart?
    public private(set) var html: MIMEPart?

    init(root: MIMEPart) {
        // A message whose whole body is an attached message (forwarded as the body) is read
        // through; the attached message is still kept as an attachment.
        var top = root
        var wrappers: [MIMEPart] = []
        while !top.isMultipart, let inner = top.message, top.disposition?.value != "attachment" {
            wrappers.append(top)
            top = inner
        }
        var text: [MIMEPart]? = []
        var html: [MIMEPart]? = []
        var atts: [MIMEPart] = []
        Self.walk([top], multipartType: "mixed", inAlternative: false, &text, &html, &atts)
        textParts = text ?? []
        htmlParts = html ?? []
        self.text = textParts.first { Self.effectiveType($0) == "text/plain" }
        // The HTML body is the text body's counterpart (in the same multipart/alternative), or
        // with no text body the first HTML part. An unrelated later HTML part is an attachment,
        // as any other text part after the body is, so that its content is not lost.
        if let t = self.text {
            self.html = htmlParts.first { Self.effectiveType($0) == "text/html" && Self.isCounterpart($0, of: t, in: top) }
        } else {
            self.html = htmlParts.first { Self.effectiveType($0) == "text/html" }
        }
        // Other text parts that are not the chosen bodies are shown as attachments.
        var seen = Set(atts.map { ObjectIdentifier($0) })
        for p in textParts + htmlParts where p !== self.text && p !== self.html && !seen.contains(ObjectIdentifier(p)) {
            // An alternative of the chosen body is not an attachment.
            if let t = self.text, Self.isAlternative(p, of: t, in: top) { continue }
            if let h = self.html, Self.isAlternative(p, of: h, in: top) { continue }
            atts.append(p)
            seen.insert(ObjectIdentifier(p))
        }
        // Keep reading order.
        let order = Dictionary(uniqueKeysWithValues: Self.allLeaves(top).enumerated().map { (ObjectIdentifier($0.element), $0.offset) })
        attachments = wrappers.prefix(1) + atts.sorted { (order[ObjectIdentifier($0)] ?? 0) < (order[ObjectIdentifier($1)] ?? 0) }
        // A body part sent as a named file ("inline; filename=notes.txt") is also kept as a file.
        for p in [self.text, self.html].compactMap({ $0 }) where p.filename != nil && !seen.contains(ObjectIdentifier(p)) {
            attachments.append(p)
            seen.insert(ObjectIdentifier(p))
        }
        // No body of its own: a message that only carries a text file, or only forwards other
        // messages, is read from that text, or from the first attached message.
        if self.text == nil && self.html == nil {
            if let only = atts.first, atts.count == 1, Self.effectiveType(only) == "text/plain", only.depth == top.depth {
                self.text = only
            } else if let p = atts.first(where: { $0.message != nil || $0.textInside != nil }) {
                if let m = p.message {
                    let inner = BodyStructure(root: m)
                    self.text = inner.text
                    self.html = inner.html
                } else if let t = p.textInside {
                    // Text found inside a part a limit left unread (kept whole as an attachment).
                    if t.mimeType == "text/html" { self.html = t } else { self.text = t }
                }
            }
        }
    }

    static func effectiveType(_ p: MIMEPart) -> String {
        // A multipart whose boundary was never found is read as text; one that a limit left
        // unread is raw MIME, an attachment.
        if p.mimeType.hasPrefix("multipart/") && !p.opaque { return "text/plain" }
        return p.mimeType
    }

    private static func allLeaves(_ p: MIMEPart) -> [MIMEPart] {
        p.isMultipart ? p.children.flatMap(allLeaves) : [p]
    }

    private static func isAlternative(_ a: MIMEPart, of b: MIMEPart, in root: MIMEPart) -> Bool {
        guard let parent = parentOf(b, in: root), parent.mimeType == "multipart/alternative" else { return false }
        return parent.children.contains { $0 === a }
    }

    /// Whether the nearest multipart/alternative above `b` also holds `a`.
    private static func isCounterpart(_ a: MIMEPart, of b: MIMEPart, in root: MIMEPart) -> Bool {
        var p = parentOf(b, in: root)
        while let q = p, q.mimeType != "multipart/alternative" { p = parentOf(q, in: root) }
        guard let alt = p else { return false }
        return allLeaves(alt).contains { $0 === a }
    }

    private static func parentOf(_ target: MIMEPart, in p: MIMEPart) -> MIMEPart? {
        for c in p.children {
            if c === target { return p }
            if let found = parentOf(target, in: c) { return found }
        }
        return nil
    }

    private static func isInlineMediaType(_ t: String) -> Bool {
        t.hasPrefix("image/") || t.hasPrefix("audio/") || t.hasPrefix("video/")
    }

    /// Lists that the JMAP walk appends to; a nil list is switched off for one branch only.
    private final class Lists {
        var text: [MIMEPart] = []
        var html: [MIMEPart] = []
        var attachments: [MIMEPart] = []
    }

    private static func walk(_ parts: [MIMEPart], multipartType: String, inAlternative: Bool,
                             _ textBody: inout [MIMEPart]?, _ htmlBody: inout [MIMEPart]?, _ attachments: inout [MIMEPart]) {
        let lists = Lists()
        walk(parts, multipartType: multipartType, inAlternative: inAlternative, textOn: true, htmlOn: true, lists)
        textBody = lists.text
        htmlBody = lists.html
        attachments = lists.attachments
    }

    private static func walk(_ parts: [MIMEPart], multipartType: String, inAlternative: Bool,
                             textOn: Bool, htmlOn: Bool, _ lists: Lists) {
        var textOn = textOn, htmlOn = htmlOn
        let textLength = textOn ? lists.text.count : -1
        let htmlLength = htmlOn ? lists.html.count : -1
        for (i, part) in parts.enumerated() {
            let type = effectiveType(part)
            let isInline = part.disposition?.value != "attachment"
                && (type == "text/plain" || type == "text/html" || isInlineMediaType(type))
                && (i == 0 || (multipartType != "related" && (isInlineMediaType(type) || part.filename == nil)))
            if part.isMultipart {
                let sub = String(part.mimeType.dropFirst("multipart/".count))
                walk(part.children, multipartType: sub, inAlternative: inAlternative || sub == "alternative",
                     textOn: textOn, htmlOn: htmlOn, lists)
            } else if isInline {
                if multipartType == "alternative" {
                    switch type {
                    case "text/plain": if textOn { lists.text.append(part) }
                    case "text/html": if htmlOn { lists.html.append(part) }
                    default: lists.attachments.append(part)
                    }
                    continue
                } else if inAlternative {
                    if type == "text/plain" { htmlOn = false }
                    if type == "text/html" { textOn = false }
                }
                if textOn { lists.text.append(part) }
                if htmlOn { lists.html.append(part) }
                // Inline images are kept as attachments of the ticket too.
                if isInlineMediaType(type) { lists.attachments.append(part) }
            } else {
                lists.attachments.append(part)
            }
        }
        if multipartType == "alternative" && textOn && htmlOn {
            if textLength == lists.text.count && htmlLength != lists.html.count {
                lists.text += lists.html[max(0, htmlLength)...]
            }
            if htmlLength == lists.html.count && textLength != lists.text.count {
                lists.html += lists.text[max(0, textLength)...]
            }
        }
    }
}

/// Message-IDs in a field: the "<...>" tokens, or the bare value when there are none.
func messageIDs(_ raw: [UInt8]) -> [String] {
    var ids: [String] = []
    var i = 0
    while i < raw.count {
        if raw[i] == UInt8(ascii: "<") {
            var j = i + 1
            while j < raw.count, raw[j] != UInt8(ascii: ">") { j += 1 }
            let id = raw[(i + 1)..<j].filter { !Byte.isSpace($0) }
            if !id.isEmpty { ids.append(String(decoding: id, as: UTF8.self)) }
            i = j + 1
        } else if raw[i] == UInt8(ascii: "(") {
            skipComment(raw, &i)
        } else {
            i += 1
        }
    }
    if ids.isEmpty {
        let t = String(decoding: raw, as: UTF8.self).trimmedWS
        if !t.isEmpty && !t.contains(" ") { ids.append(t) }
    }
    return ids
}

/// Messages written with bare CR line ends (old Mac mail) are read as if they had LF: CRs and
/// no LF in the first 64 KB.
private func hasBareCRLineEnds(_ buffer: ByteBuffer) -> Bool {
    let n = buffer.count
    guard n > 0 else { return false }
    let probe = min(n, 64 * 1024)
    return memchr(buffer.base, Int32(Byte.lf), probe) == nil && memchr(buffer.base, Int32(Byte.cr), probe) != nil
}

/// A copy with every CR not before an LF made LF. A copy, because the caller's bytes are the
/// message as received (delivery hashes and stores them).
private func copyWithLFLineEnds(_ buffer: ByteBuffer) -> ByteBuffer {
    let n = buffer.count
    let copy = ByteBuffer(capacity: n)
    copy.append(UnsafeRawBufferPointer(buffer.bytes))
    let p = copy.base
    var i = 0
    while i < n, let hit = memchr(p + i, Int32(Byte.cr), n - i) {
        let cr = p.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        if cr + 1 == n || p[cr + 1] != Byte.lf { p[cr] = Byte.lf }
        i = cr + 1
    }
    return copy
}

/// What a ticket records of one attachment.
public struct AttachmentInfo: Sendable {
    /// The name a person sees: the sender's, else one made for the part (`AttachmentNamer`).
    public var filename: String
    public var filenameFrom: AttachmentNameSource
    public var contentType: String
    public var size: Int
    public var sha256: String
    public var inline: Bool
    public var contentID: String?
}

/// Names for attachments, made once for everything that shows or stores them (`--explain`,
/// the ticket): the sender's file name, else for an attached message its subject, else the
/// part's Content-Description, else a name for its type; the extension is the type's. A name
/// made here that another attachment of the message already has is numbered ("image-2.jpg").

/// Where an attachment's name comes from.
public enum AttachmentNameSource: String, Sendable {
    /// The sender's: Content-Disposition filename or Content-Type name.
    case sender
    /// The subject of the attached message.
    case subject
    /// The part's Content-Description.
    case description
    /// The part's type alone.
    case type
}

/// A name for files of a type, and the extensions of the type (the first is added to names).
private struct TypeName {
    var stem: String
    var extensions: [String]
}

private let typeNames: [String: TypeName] = {
    var t: [String: TypeName] = [:]
    func add(_ types: [String], _ stem: String, _ extensions: [String]) {
        for type in types { t[type] = TypeName(stem: stem, extensions: extensions) }
    }
    add(["message/rfc822", "message/global", "message/news"], "message", ["eml"])
    add(["message/delivery-status", "message/global-delivery-status"], "delivery-status", ["txt"])
    add(["message/disposition-notification", "message/global-disposition-notification"], "disposition-notification", ["txt"])
    add(["message/feedback-report"], "feedback-report", ["txt"])
    add(["text/plain"], "text", ["txt", "text", "log"])
    add(["text/html"], "text", ["html", "htm"])
    add(["text/rfc822-headers", "text/global-headers"], "headers", ["txt"])
    add(["text/calendar", "application/ics"], "invite", ["ics"])
    add(["text/csv"], "data", ["csv"])
    add(["text/vcard", "text/x-vcard"], "contact", ["vcf"])
    add(["text/rtf", "application/rtf"], "document", ["rtf"])
    add(["text/xml", "application/xml"], "data", ["xml"])
    add(["application/json"], "data", ["json"])
    add(["image/jpeg", "image/jpg", "image/pjpeg"], "image", ["jpg", "jpeg", "jpe"])
    add(["image/png"], "image", ["png"])
    add(["image/gif"], "image", ["gif"])
    add(["image/bmp"], "image", ["bmp"])
    add(["image/tiff"], "image", ["tif", "tiff"])
    add(["image/webp"], "image", ["webp"])
    add(["image/heic"], "image", ["heic"])
    add(["image/svg+xml"], "image", ["svg"])
    add(["image/x-icon", "image/vnd.microsoft.icon"], "image", ["ico"])
    add(["audio/mpeg", "audio/mp3"], "audio", ["mp3"])
    add(["audio/wav", "audio/x-wav", "audio/wave"], "audio", ["wav"])
    add(["audio/ogg"], "audio", ["ogg"])
    add(["audio/mp4", "audio/x-m4a"], "audio", ["m4a"])
    add(["audio/basic"], "audio", ["au"])
    add(["video/mp4"], "video", ["mp4"])
    add(["video/quicktime"], "video", ["mov"])
    add(["video/mpeg"], "video", ["mpg", "mpeg"])
    add(["video/webm"], "video", ["webm"])
    add(["application/pdf"], "document", ["pdf"])
    add(["application/msword"], "document", ["doc"])
    add(["application/vnd.openxmlformats-officedocument.wordprocessingml.document"], "document", ["docx"])
    add(["application/vnd.oasis.opendocument.text"], "document", ["odt"])
    add(["application/vnd.ms-excel"], "spreadsheet", ["xls"])
    add(["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"], "spreadsheet", ["xlsx"])
    add(["application/vnd.oasis.opendocument.spreadsheet"], "spreadsheet", ["ods"])
    add(["application/vnd.ms-powerpoint"], "presentation", ["ppt"])
    add(["application/vnd.openxmlformats-officedocument.presentationml.presentation"], "presentation", ["pptx"])
    add(["application/zip", "application/x-zip-compressed"], "archive", ["zip"])
    add(["application/gzip", "application/x-gzip"], "archive", ["gz"])
    add(["application/x-7z-compressed"], "archive", ["7z"])
    add(["application/x-tar"], "archive", ["tar"])
    add(["application/vnd.rar", "application/x-rar-compressed"], "archive", ["rar"])
    add(["application/pgp-signature"], "signature", ["asc"])
    add(["application/pgp-keys"], "key", ["asc"])
    add(["application/pkcs7-signature", "application/x-pkcs7-signature"], "smime", ["p7s"])
    add(["application/pkcs7-mime", "application/x-pkcs7-mime"], "smime", ["p7m"])
    add(["application/ms-tnef", "application/vnd.ms-tnef"], "winmail", ["dat"])
    add(["application/octet-stream"], "attachment", ["bin"])
    return t
}()

private func typeName(_ type: String) -> TypeName {
    if let t = typeNames[type] { return t }
    let slash = type.firstIndex(of: "/") ?? type.endIndex
    let family = String(type[..<slash])
    var sub = Substring(type[slash...].dropFirst())
    if sub.hasPrefix("x-") { sub = sub.dropFirst(2) }
    // An unknown subtype gives the extension when it looks like one ("image/avif").
    let ext = sub.count <= 8 && !sub.isEmpty && sub.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) ? String(sub) : "bin"
    switch family {
    case "text": return TypeName(stem: "text", extensions: ["txt"])
    case "image", "audio", "video": return TypeName(stem: family, extensions: [ext])
    // A multipart a limit left unread: kept as sent, a message.
    case "multipart": return TypeName(stem: "nested", extensions: ["eml"])
    case "message": return TypeName(stem: "message", extensions: ["txt"])
    default: return TypeName(stem: "attachment", extensions: [ext])
    }
}

/// Text from a header made fit for a file name, and left as it is by the store's sanitizer:
/// one line, no path separators, control or bidi characters, no "..", no "." or "-" first, no
/// "." last, at most 200 bytes.
private func nameText(_ s: String) -> String {
    var out = String.UnicodeScalarView()
    var bytes = 0
    var space = false
    for u in s.unicodeScalars {
        switch u.value {
        case 0..<0x20, 0x7F, 0x80..<0xA0, 0x2028, 0x2029:
            space = true
            continue
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069:
            continue
        default: break
        }
        if u.properties.isWhitespace { space = true; continue }
        let c = u == "/" || u == "\\" ? "-" : u
        if out.isEmpty && (c == "." || c == "-") { continue }
        if c == ".", out.last == ".", !space { continue }
        if space && !out.isEmpty { out.append(" "); bytes += 1 }
        space = false
        if bytes + c.utf8.count > 200 { break }
        out.append(c)
        bytes += c.utf8.count
    }
    // An extension is added after it.
    while out.last == "." || out.last == " " { out.removeLast() }
    return String(out)
}

/// Names the attachments of one message in order.
struct AttachmentNamer {
    /// Names in use, lowercased (names differing in case are one file on many disks).
    private var used: Set<String>
    /// Per name made, the number to try next.
    private var next: [String: Int] = [:]

    init(_ parts: [MIMEPart]) {
        used = Set(parts.compactMap { $0.filename?.lowercased() })
    }

    mutating func name(_ p: MIMEPart) -> (String, AttachmentNameSource) {
        if let f = p.filename { return (f, .sender) }
        // A multipart whose boundary was never found is text; one a limit left unread is kept whole.
        let type = typeName(BodyStructure.effectiveType(p))
        if let m = p.message, let s = m.headers.text("subject", fallbackCharset: m.headerFallbackCharset).map(nameText), !s.isEmpty {
            return (unique(s, "eml"), .subject)
        }
        if let d = p.headers.text("content-description", fallbackCharset: p.headerFallbackCharset).map(nameText), !d.isEmpty {
            let lower = d.lowercased()
            if type.extensions.contains(where: { lower.hasSuffix("." + $0) }) { return (unique(d, ""), .description) }
            return (unique(d, type.extensions[0]), .description)
        }
        return (unique(type.stem, type.extensions[0]), .type)
    }

    /// `stem.ext`, or `stem-2.ext`, `stem-3.ext`... when that is in use.
    private mutating func unique(_ stem: String, _ ext: String) -> String {
        let dotExt = ext.isEmpty ? "" : "." + ext
        let first = stem + dotExt
        let key = first.lowercased()
        if used.insert(key).inserted { return first }
        var k = next[key] ?? 2
        while !used.insert((stem + "-\(k)" + dotExt).lowercased()).inserted { k += 1 }
        next[key] = k + 1
        return stem + "-\(k)" + dotExt
    }
}

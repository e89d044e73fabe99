// libFuzzer target for the MailMessage parser.
//
// Fuzz build (see `make fuzz` and fuzz/README.md):
//   swift build -c release --scratch-path .build-fuzz --product wt-fuzz \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -DWT_FUZZ ...
// main.swift then hands control to libFuzzer through LLVMFuzzerRunDriver: a main.swift that
// only defines LLVMFuzzerTestOneInput builds a binary that does nothing on Linux.
//
// Normal build (`swift build --product wt-fuzz`): no libFuzzer; every file named on the
// command line (directories are walked one level deep) goes through the same entry point,
// which is how a saved crash is reproduced under a debugger or without sanitizers.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MailMessage

/// What both front ends must agree on.
struct Fingerprint: Equatable {
    var subject: String?
    var bodyText: String
    var bodySource: String
    var bodyHTML: String?
    var attachmentHashes: [String]
    var attachmentSizes: [Int]
}

/// Touches every accessor of the message and returns what the invariant compares.
func exercise(_ m: Message) -> Fingerprint {
    var sink = 0
    let subject = m.subject
    sink &+= subject?.utf8.count ?? 0
    for list in [m.from, m.sender, m.to, m.cc, m.replyTo] {
        for mb in list { sink &+= (mb.name?.utf8.count ?? 0) &+ (mb.address?.utf8.count ?? 0) }
    }
    if let d = m.date {
        sink &+= d.iso8601.utf8.count
        sink &+= d.epochSeconds
    }
    sink &+= m.messageID?.utf8.count ?? 0
    for id in m.inReplyTo + m.references { sink &+= id.utf8.count }
    for d in m.defects { sink &+= d.description.utf8.count }

    // The MIME tree: every part's headers, type, name and raw body.
    var stack = [m.root]
    while let p = stack.popLast() {
        for f in p.headers.fields { sink &+= p.headers.name(f).utf8.count &+ p.headers.rawValue(f).count }
        sink &+= p.mimeType.utf8.count &+ (p.filename?.utf8.count ?? 0) &+ (p.charset?.utf8.count ?? 0)
        sink &+= p.rawBody.count
        stack += p.children
        if let inner = p.message { stack.append(inner) }
    }

    let c = m.content()
    sink &+= c.bodyText.utf8.count &+ (c.bodyHTML?.utf8.count ?? 0)
    for d in c.defects { sink &+= d.description.utf8.count }
    for a in c.attachments {
        sink &+= a.filename.utf8.count &+ a.contentType.utf8.count &+ (a.contentID?.utf8.count ?? 0)
    }
    // What decides a conversation: reports, authentication results, markers, quoted text.
    if let r = m.deliveryStatusReport() {
        for x in r.recipients { sink &+= x.address.utf8.count &+ (x.diagnostic?.utf8.count ?? 0) }
        for id in r.originalMessageIDs + r.originalReferences { sink &+= id.utf8.count }
    }
    for ar in m.authenticationResults() { sink &+= ar.authservID.utf8.count &+ ar.results.count }
    for reason in m.automaticMarkers() + m.spamMarkers() { sink &+= reason.utf8.count }
    sink &+= quotedTextOffset(c.bodyText) ?? 0
    blackHole(sink)
    return Fingerprint(subject: subject, bodyText: c.bodyText, bodySource: c.bodySource.rawValue, bodyHTML: c.bodyHTML,
                       attachmentHashes: c.attachments.map(\.sha256), attachmentSizes: c.attachments.map(\.size))
}

@inline(never) func blackHole(_ x: Int) {
    if x == 0x5EED_F00D_5EED_F00D { print("") }
}

/// One fuzz input: the whole parser, the state that really is carried across chunks
/// (base64 and SHA-256), and the header-level functions.
func fuzzOne(_ data: UnsafeBufferPointer<UInt8>) {
    // 1. One-shot parse; the bytes handed in are never rewritten (they are stored as received).
    let buffer = ByteBuffer(data)
    _ = exercise(Message.parse(buffer))
    precondition(buffer.bytes.elementsEqual(data), "Message.parse rewrote the bytes it was given")

    // 2. Streaming decoders fed in two chunks, split where the input says, against one call.
    var split = 0
    if data.count > 0 {
        var h: UInt32 = 2166136261
        for b in data.prefix(16) { h = (h ^ UInt32(b)) &* 16777619 }
        split = Int(h % UInt32(data.count + 1))
    }
    var whole: [UInt8] = []
    let wholeStats = decodeBase64(data) { whole += $0 }
    var pieces: [UInt8] = []
    var decoder = Base64Decoder()
    decoder.feed(UnsafeBufferPointer(rebasing: data[0..<split])) { pieces += $0 }
    decoder.feed(UnsafeBufferPointer(rebasing: data[split...])) { pieces += $0 }
    let piecesStats = decoder.finish { pieces += $0 }
    precondition(whole == pieces && wholeStats == piecesStats, "base64 split at \(split) differs from one call")
    var h1 = SHA256(), h2 = SHA256()
    h1.update(data)
    h2.update(UnsafeBufferPointer(rebasing: data[0..<split]))
    h2.update(UnsafeBufferPointer(rebasing: data[split...]))
    precondition(h1.finalize() == h2.finalize(), "SHA-256 split at \(split) differs from one call")

    // 3. The free functions on the raw bytes (a header value is at most a few KB in practice).
    let head = Array(data.prefix(4096))
    _ = parseAddressList(head, fallbackCharset: "iso-8859-2")
    _ = decodeUnstructured(head)
    _ = Charset.decode(head, label: "iso-2022-jp")   // escapes, extensions, and 8-bit text under the label
    _ = parseMailDate(String(decoding: head, as: UTF8.self)).map { ($0.iso8601, $0.epochSeconds) }
    _ = htmlToText(String(decoding: data, as: UTF8.self))
}

@_cdecl("wt_fuzz_one_input")
func fuzzEntry(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzOne(UnsafeBufferPointer(start: size > 0 ? data : nil, count: size))
    return 0
}

#if WT_FUZZ

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

var fuzzArgc = CommandLine.argc
var fuzzArgv = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&fuzzArgc, &fuzzArgv) { data, size in fuzzEntry(data, size) })

#else

/// Reproducer: parses every file given (directories one level deep, README files skipped), as
/// the fuzzer would.
func readFile(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
        if n <= 0 { break }
        out += chunk[0..<n]
    }
    return out
}

func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

func listDirectory(_ path: String) -> [String] {
    guard let d = opendir(path) else { return [] }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name.hasPrefix(".") || name.hasSuffix(".md") { continue }
        names.append(path + "/" + name)
    }
    return names.sorted().filter { !isDirectory($0) }
}

let args = Array(CommandLine.arguments.dropFirst())
if args.isEmpty || args.contains("-h") || args.contains("--help") {
    print("usage: wt-fuzz FILE|DIR...   (parse each input as the fuzz target does)")
    print("Built without -DWT_FUZZ, so this is the reproducer; see fuzz/README.md for the fuzzer.")
    exit(args.isEmpty ? 2 : 0)
}
var failed = false
for path in args.flatMap({ isDirectory($0) ? listDirectory($0) : [$0] }) {
    guard let bytes = readFile(path) else {
        let text = "wt-fuzz: cannot read \(path)\n"; _ = text.withCString { write(2, $0, strlen($0)) }
        failed = true
        continue
    }
    let start = clock()
    bytes.withUnsafeBufferPointer { fuzzOne($0) }
    let ms = Double(clock() - start) * 1000 / Double(CLOCKS_PER_SEC)
    print("ok \(path) (\(bytes.count) bytes, \(Int(ms)) ms)")
}
exit(failed ? 1 : 0)

#endif

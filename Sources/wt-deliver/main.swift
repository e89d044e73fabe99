// wt-deliver: the delivery agent an MTA starts once per message, with the message on stdin.
//
// The MTA trusts us with one thing, the exit status: 0 only when the message is stored, 75
// (EX_TEMPFAIL) for anything transient or unknown so that the MTA retries, and never a
// bounce because a message could not be parsed. Every error is caught here and mapped.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import MailMessage

enum Exit {
    static let ok: Int32 = 0
    static let usage: Int32 = 64      // EX_USAGE
    static let dataErr: Int32 = 65    // EX_DATAERR
    static let noInput: Int32 = 66    // EX_NOINPUT
    static let ioErr: Int32 = 74      // EX_IOERR
    static let tempFail: Int32 = 75   // EX_TEMPFAIL
}

struct Deliver: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wt-deliver",
        abstract: "Turn one e-mail message on standard input into a helpdesk ticket.",
        discussion: """
            Exit status: 0 delivered; 75 temporary failure (the MTA retries); 64 bad options.
            --explain reads the message and prints what wt-deliver sees, changing nothing.
            """)

    @Flag(name: .long, help: "Print what the message is read as, and change nothing.")
    var explain = false

    @Flag(name: .long, help: "With --explain: print one JSON object (one per message with --mbox).")
    var json = false

    @Option(name: .long, help: "With --explain: read every message of this mbox file instead of stdin.")
    var mbox: String?

    func validate() throws {
        if mbox != nil && !explain { throw ValidationError("--mbox needs --explain") }
        if json && !explain { throw ValidationError("--json needs --explain") }
    }

    func runMapped() -> Int32 {
        do {
            if explain {
                if let mbox { return try explainMbox(mbox) }
                return try explainStdin()
            }
            writeErr("wt-deliver: delivery to a ticket store is not built yet; use --explain\n")
            return Exit.tempFail
        } catch let e as InputError {
            writeErr("wt-deliver: \(e)\n")
            if case .open = e { return Exit.noInput }
            return explain ? Exit.ioErr : Exit.tempFail
        } catch {
            writeErr("wt-deliver: \(error)\n")
            return Exit.tempFail
        }
    }

    private func explainStdin() throws -> Int32 {
        let buf = try readAll(fd: 0, what: "standard input")
        let size = buf.count
        let e = Explanation(message: Message.parse(buf), size: size)
        writeOut(json ? e.json() : Array(e.text().utf8))
        return Exit.ok
    }

    private func explainMbox(_ path: String) throws -> Int32 {
        var reader = try MboxReader(path: path)
        var progress = Progress()
        var count = 0
        var out: [UInt8] = []
        out.reserveCapacity(1 << 20)
        let total = reader.data.count
        while let buf = reader.next() {
            count += 1
            let e = Explanation(message: Message.parse(buf), size: buf.count)
            if json {
                out += e.json()
            } else {
                out += Array("==== message \(count) ====\n".utf8) + Array(e.text().utf8) + [10]
            }
            if out.count >= 1 << 20 { writeOut(out); out.removeAll(keepingCapacity: true) }
            progress.update("\(count) messages, \(reader.offset >> 20) of \(total >> 20) MB")
        }
        writeOut(out)
        progress.done()
        return Exit.ok
    }
}

// Parse options ourselves so that no error escapes with ArgumentParser's own status (1).
let status: Int32
do {
    let command = try Deliver.parse()
    status = command.runMapped()
} catch {
    let code = Deliver.exitCode(for: error)
    let text = Deliver.fullMessage(for: error)
    if code == .success {
        print(text)
        status = Exit.ok
    } else {
        writeErr("wt-deliver: \(text)\n")
        status = Exit.usage
    }
}
exit(status)

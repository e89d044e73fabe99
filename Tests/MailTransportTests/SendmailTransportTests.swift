import Foundation
import MailTransport
import Testing

/// A sendmail stand-in that records its argument vector (NUL-separated) and its input, says
/// something on stderr and exits with the status given.
private func fakeSendmail(_ dir: Scratch, status: Int32 = 0, extra: String = "") throws -> String {
    try dir.write("sendmail", """
        #!/bin/sh
        : > '\(dir.path)/args'
        for a in "$@"; do printf '%s\\000' "$a" >> '\(dir.path)/args'; done
        cat > '\(dir.path)/stdin'
        \(extra)
        printf 'sendmail: fake says status %s\\n' \(status) >&2
        exit \(status)

        """, mode: 0o755)
}

private func recordedArguments(_ dir: Scratch) -> [String]? {
    guard let data = FileManager.default.contents(atPath: dir.file("args")) else { return nil }
    return data.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
}

private func failure(_ body: () throws(TransportError) -> Void) -> TransportError? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}

@Suite("sendmail through posix_spawn")
struct SendmailTransportTests {
    @Test func theArgumentVectorIsPassedWithoutAShell() throws {
        let dir = try Scratch()
        let t = SendmailTransport(path: try fakeSendmail(dir))
        let recipients = ["ann@example.org", "--evil", "a;rm -rf '\(dir.path)'", "$(touch \(dir.file("pwned")))", "`id`@x", "two words@x", "-t"]
        try t.send(sampleMessage(), from: "helpdesk@wt.test", to: recipients)
        #expect(recordedArguments(dir) == ["-oi", "-f", "helpdesk@wt.test", "--"] + recipients)
        #expect(!FileManager.default.fileExists(atPath: dir.file("pwned")))
    }

    @Test func theMessageGoesInWithUnixLineEnds() throws {
        let dir = try Scratch()
        let t = SendmailTransport(path: try fakeSendmail(dir))
        try t.send(Array("Subject: a\r\n\r\nline\r\n.\r\nlone\rcr\r\n".utf8), from: "", to: ["ann@example.org"])
        #expect(FileManager.default.contents(atPath: dir.file("stdin")) == Data("Subject: a\n\nline\n.\nlone\rcr\n".utf8))
        #expect(recordedArguments(dir) == ["-oi", "-f", "", "--", "ann@example.org"], "the null sender is an empty argument")
    }

    @Test(arguments: [
        (75, TransportError.Kind.temporary, "EX_TEMPFAIL"), (71, .temporary, "EX_OSERR"), (74, .temporary, "EX_IOERR"),
        (72, .temporary, "EX_OSFILE"), (73, .temporary, "EX_CANTCREAT"), (77, .temporary, "EX_NOPERM"), (78, .temporary, "EX_CONFIG"),
        (64, .permanent, "EX_USAGE"), (65, .permanent, "EX_DATAERR"), (67, .permanent, "EX_NOUSER"), (68, .permanent, "EX_NOHOST"),
        (69, .permanent, "EX_UNAVAILABLE"), (70, .permanent, "EX_SOFTWARE"), (1, .permanent, "status 1"),
    ] as [(Int32, TransportError.Kind, String)])
    func exitStatusesMapToKinds(status: Int32, kind: TransportError.Kind, name: String) throws {
        let dir = try Scratch()
        let t = SendmailTransport(path: try fakeSendmail(dir, status: status))
        let e = try #require(failure { () throws(TransportError) in try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org"]) })
        #expect(e.kind == kind)
        #expect(e.message.contains("exited with status \(status)"))
        #expect(e.message.contains(name))
        #expect(e.message.hasSuffix("sendmail: fake says status \(status)"), "stderr ends the message: \(e.message)")
        #expect(e.smtpCode == nil)
    }

    @Test func sendmailStartsWithNoSignalBlockedOrIgnoredWhateverTheCallerDid() throws {
        let dir = try Scratch()
        // Perl, not sh: dash clears its signal mask when it starts, which would hide ours.
        let path = try dir.write("sendmail", """
            #!/usr/bin/perl
            open(my $status, '<', '/proc/self/status') or die;
            open(my $out, '>', '\(dir.path)/signals') or die;
            while (<$status>) { print $out $_ if /^Sig(Blk|Ign):/ }
            close $out;
            local $/;
            my $message = <STDIN>;
            exit 0;

            """, mode: 0o755)
        var block = sigset_t()
        sigfillset(&block)
        var old = sigset_t()
        pthread_sigmask(SIG_BLOCK, &block, &old)
        // Ignored as under nohup; no other test sends SIGHUP.
        let previous = signal(SIGHUP, SIG_IGN)
        defer {
            signal(SIGHUP, previous)
            pthread_sigmask(SIG_SETMASK, &old, nil)
        }
        try SendmailTransport(path: path).send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org"])
        let masks = try String(contentsOfFile: dir.file("signals"), encoding: .utf8).split(separator: "\n").map {
            UInt64($0.split(separator: "\t").last ?? "", radix: 16)
        }
        try #require(masks.count == 2)
        #expect(masks[0] == 0, "nothing blocked")
        // Signals 1 to 31 at their defaults, SIGHUP included, but SIGFPE, which Perl ignores
        // itself (glibc keeps its own two real-time signals ignored too).
        #expect(masks[1].map { $0 & 0x7FFF_FF7F } == 0, "nothing ignored")
    }

    @Test func deathBySignalIsTemporary() throws {
        let dir = try Scratch()
        let t = SendmailTransport(path: try fakeSendmail(dir, extra: "kill -KILL $$"))
        let e = try #require(failure { () throws(TransportError) in try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org"]) })
        #expect(e.kind == .temporary)
        #expect(e.message.contains("killed by signal 9"))
    }

    @Test func aSendmailThatCannotBeStartedIsTemporary() throws {
        let e = try #require(failure { () throws(TransportError) in
            try SendmailTransport(path: "/nonexistent/sendmail").send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org"])
        })
        #expect(e.kind == .temporary)
        #expect(e.message == "cannot run /nonexistent/sendmail: No such file or directory")
    }

    @Test func aSendmailThatHangsIsStoppedWithItsChildrenAtTheTimeout() throws {
        let dir = try Scratch()
        // A child that would outlive sendmail, holding its output open.
        let t = SendmailTransport(path: try fakeSendmail(dir, extra: "sleep 60 & echo $! > '\(dir.path)/child'; sleep 60"), timeoutSeconds: 1)
        let start = Date()
        let e = try #require(failure { () throws(TransportError) in try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org"]) })
        #expect(Date().timeIntervalSince(start) < 6)
        #expect(e.kind == .temporary)
        #expect(e.message.contains("did not finish within 1 seconds"))
        let child = try #require(Int32(String(contentsOfFile: dir.file("child"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(waitFor(seconds: 5) {
            // Gone, or a zombie waiting for init.
            guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8) else { return true }
            return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
        })
    }

    @Test func aChildThatOutlivesSendmailDoesNotHoldTheSendBack() throws {
        let dir = try Scratch()
        let t = SendmailTransport(path: try fakeSendmail(dir, extra: "sleep 30 >&2 & echo $! > '\(dir.path)/child'"), timeoutSeconds: 20)
        let start = Date()
        try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org"])
        #expect(Date().timeIntervalSince(start) < 5)
        if let child = Int32((try? String(contentsOfFile: dir.file("child"), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") {
            kill(child, SIGKILL)
        }
    }

    @Test func stderrIsCapped() throws {
        let dir = try Scratch()
        let t = SendmailTransport(path: try fakeSendmail(dir, status: 75, extra: "yes x | head -c 2000000 >&2"))
        let e = try #require(failure { () throws(TransportError) in try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org"]) })
        #expect(e.kind == .temporary)
        #expect(e.message.utf8.count < 4500)
        #expect(e.message.contains("x x x x x x"))
    }

    @Test func aSendmailThatStopsReadingEarlyIsNotASuccess() throws {
        let dir = try Scratch()
        _ = try dir.write("sendmail", "#!/bin/sh\nexit 0\n", mode: 0o755)
        let big = sampleMessage() + Array(repeating: UInt8(ascii: "a"), count: 8 << 20)
        let e = try #require(failure { () throws(TransportError) in
            try SendmailTransport(path: dir.file("sendmail")).send(big, from: "helpdesk@wt.test", to: ["ann@example.org"])
        })
        #expect(e.kind == .temporary)
        #expect(e.message.contains("exited before reading the whole message"))
    }

    @Test(arguments: [[], ["ann@example.org\n-t"], ["ann@example.org", ""], ["a\u{0}b@x"]] as [[String]])
    func badRecipientsAreRefusedBeforeSendmailRuns(recipients: [String]) throws {
        let dir = try Scratch()
        let t = SendmailTransport(path: try fakeSendmail(dir))
        let e = try #require(failure { () throws(TransportError) in try t.send(sampleMessage(), from: "helpdesk@wt.test", to: recipients) })
        #expect(e.kind == .permanent)
        #expect(recordedArguments(dir) == nil, "sendmail never ran")
    }
}

/// A Postfix of its own (configuration, queue, mailboxes and log in a scratch folder, no
/// network listener), so the system's Postfix and other tests are left alone.
private final class ThrowawayPostfix {
    let dir: Scratch
    let config: String
    private var started = false

    init() throws {
        dir = try Scratch("wt-postfix")
        config = dir.file("etc")
        for sub in ["etc", "queue", "data", "mail"] {
            try FileManager.default.createDirectory(atPath: dir.file(sub), withIntermediateDirectories: true)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o1777], ofItemAtPath: dir.file("mail"))
        _ = try dir.write("etc/main.cf", """
            compatibility_level = 3.6
            queue_directory = \(dir.file("queue"))
            data_directory = \(dir.file("data"))
            inet_interfaces = loopback-only
            inet_protocols = ipv4
            myhostname = wt.test
            mydomain = wt.test
            myorigin = wt.test
            mydestination = localhost, wt.test
            alias_maps =
            alias_database =
            mail_spool_directory = \(dir.file("mail"))
            maillog_file_prefixes = \(dir.path)
            maillog_file = \(dir.file("postfix.log"))
            default_transport = error:no mail leaves this test
            relayhost =

            """)
        let services = ["pickup    unix  n  -  n  60    1  pickup", "cleanup   unix  n  -  n  -  0  cleanup",
                        "qmgr      unix  n  -  n  300   1  qmgr", "rewrite   unix  -  -  n  -  -  trivial-rewrite",
                        "bounce    unix  -  -  n  -  0  bounce", "defer     unix  -  -  n  -  0  bounce",
                        "trace     unix  -  -  n  -  0  bounce", "verify    unix  -  -  n  -  1  verify",
                        "flush     unix  n  -  n  1000? 0  flush", "proxymap  unix  -  -  n  -  -  proxymap",
                        "showq     unix  n  -  n  -  -  showq", "error     unix  -  -  n  -  -  error",
                        "retry     unix  -  -  n  -  -  error", "discard   unix  -  -  n  -  -  discard",
                        "local     unix  -  n  n  -  -  local", "anvil     unix  -  -  n  -  1  anvil",
                        "scache    unix  -  -  n  -  1  scache", "postlog   unix-dgram n  -  n  -  1  postlogd"]
        _ = try dir.write("etc/master.cf", services.joined(separator: "\n") + "\n")
        let set = try run("/usr/sbin/postfix", ["-c", config, "set-permissions"])
        let start = try run("/usr/sbin/postfix", ["-c", config, "start"])
        guard start.status == 0 else {
            throw Failure(description: "postfix start: \(set.output) \(start.output) \(log)")
        }
        started = true
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    deinit {
        if started { _ = try? run("/usr/sbin/postfix", ["-c", config, "stop"]) }
    }

    /// Postfix's own sendmail, told which configuration to use; it gets the argument vector as is.
    func sendmailPath() throws -> String {
        try dir.write("sendmail", "#!/bin/sh\nMAIL_CONFIG='\(config)' exec /usr/sbin/sendmail \"$@\"\n", mode: 0o755)
    }

    var log: String { (try? String(contentsOfFile: dir.file("postfix.log"), encoding: .utf8)) ?? "" }
    func mailbox(_ user: String) -> String? { try? String(contentsOfFile: dir.file("mail/\(user)"), encoding: .utf8) }
}

@Suite("the real Postfix sendmail",
       .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/postfix"),
                "needs root and Postfix (/usr/sbin/postfix) to run a throwaway Postfix instance"))
struct PostfixSendmailTests {
    @Test func aMessageReachesTheMailbox() throws {
        let postfix = try ThrowawayPostfix()
        let t = SendmailTransport(path: try postfix.sendmailPath(), timeoutSeconds: 30)
        try t.send(sampleMessage(7, to: "root@localhost"), from: "helpdesk@wt.test", to: ["root@localhost"])
        #expect(waitFor(seconds: 30) { postfix.log.contains("status=sent") }, "Postfix log: \(postfix.log)")
        let box = try #require(postfix.mailbox("root"))
        #expect(box.contains("Return-Path: <helpdesk@wt.test>"))
        #expect(box.contains("Subject: [#7] Your ticket was updated\n"))
        // mbox quoting is Postfix's business; the lines that start with a dot arrive as written.
        #expect(box.contains("\n.a line that starts with a dot\n"))
        #expect(box.contains("merci, José.\n.\n..\n-- \nwt helpdesk\n"))
        #expect(!box.contains("\r"))
    }
}

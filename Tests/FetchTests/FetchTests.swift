import Testing
@testable import DeliverCLI
@testable import Fetch
import MailTransport
import TicketStore

@Suite struct POPOptionTests {
    @Test func popOptionsParse() throws {
        let d = try #require(try Deliver.parse(["--pop", "--pop-host", "pop3s://mail.example.com:1995", "--pop-user", "help",
                                                 "--pop-password-file", "/etc/wt/pop", "--keep", "--interval=60", "--recipient", "help@example.com"]))
        #expect(d.pop && d.keep && d.interval == 60)
        #expect(d.popHost == "pop3s://mail.example.com:1995" && d.popUser == "help" && d.popPasswordFile == "/etc/wt/pop")
        #expect(d.needsNetworkBuild)
    }

    @Test(arguments: [
        (["--keep"], "--keep needs --pop"),
        (["--pop-host", "h"], "--pop-host needs --pop"),
        (["--pop", "--interval", "0"], "--interval"),
        (["--pop", "--interval", "soon"], "--interval"),
        (["--pop", "--pop-security", "ssl"], "--pop-security must be tls, starttls or none"),
        (["--pop", "--explain"], "--pop and --explain do not go together"),
        (["--pop", "--", "help@example.com"], "--recipient"),
        (["--pop", "--deadline", "30"], "--deadline is for one message on standard input"),
    ])
    func badPopOptionsAreUsageErrors(args: [String], message: String) {
        #expect {
            _ = try Deliver.parse(args)
        } throws: { e in
            (e as? Deliver.UsageError)?.message.contains(message) == true
        }
    }

    @Test func stdinDeliveryStaysOnTheStaticBuild() throws {
        let d = try #require(try Deliver.parse(["--db", "/var/lib/wt/wt.db", "--", "help@example.com"]))
        #expect(!d.needsNetworkBuild)
        let pg = try #require(try Deliver.parse(["--db", "postgresql://wt@db.example.com/wt"]))
        #expect(pg.needsNetworkBuild)
    }

    @Test func aDatabaseURLsPasswordIsNeverShown() {
        #expect(redactedDatabase("postgresql://wt:s3cret@db.example.com:5432/wt?sslmode=require")
                == "postgresql://wt:(password)@db.example.com:5432/wt?sslmode=require")
        #expect(redactedDatabase("postgresql://wt@db/wt") == "postgresql://wt@db/wt")
        #expect(redactedDatabase("postgres://u:p:q@h/d") == "postgres://u:(password)@h/d")
        #expect(redactedDatabase("/var/lib/wt/wt.db") == "/var/lib/wt/wt.db")
    }
}

@Suite struct POPHostTests {
    @Test(arguments: [
        ("mail.example.com", "mail.example.com", nil as Int?, nil as POP3Settings.Security?),
        ("mail.example.com:1100", "mail.example.com", 1100, nil),
        ("pop3s://mail.example.com", "mail.example.com", nil, .implicitTLS),
        ("POP3://mail.example.com:110/", "mail.example.com", 110, .startTLS),
        ("[::1]:995", "::1", 995, nil),
        ("127.0.0.1", "127.0.0.1", nil, nil),
    ])
    func hostsParse(text: String, host: String, port: Int?, security: POP3Settings.Security?) throws {
        let p = try #require(POP3Settings.parseHost(text))
        #expect(p.host == host && p.port == port && p.security == security)
    }

    @Test(arguments: ["", "imap://mail.example.com", "mail.example.com:0", "mail.example.com:99999", "mail example.com",
                      "mail.example.com:x", "[::1", "host/path", "a@b"])
    func badHostsAreRefused(text: String) {
        #expect(POP3Settings.parseHost(text) == nil)
    }

    @Test func securityDefaultsToImplicitTLSOnItsPort() {
        let s = POP3Settings(host: "h", user: "u", password: "p")
        #expect(s.security == .implicitTLS && s.port == 995)
        #expect(POP3Settings(host: "h", security: .startTLS, user: "u", password: "p").port == 110)
    }

    @Test func aPasswordWithALineBreakIsRefusedBeforeConnecting() {
        #expect(throws: TransportError.self) { _ = try POP3Client(POP3Settings(host: "127.0.0.1", user: "u", password: "a\r\nDELE 1")) }
    }
}

@Suite struct ReturnPathTests {
    func path(_ s: String) -> String? { returnPath(Array(s.utf8)) }

    @Test func theEnvelopeSenderComesFromReturnPath() {
        #expect(path("Return-Path: <ana@example.org>\r\nFrom: x\r\n\r\nbody") == "ana@example.org")
        #expect(path("Received: by x\nreturn-path:<ana@example.org>\n\n") == "ana@example.org")
    }

    @Test func aBounceHasAnEmptySender() {
        #expect(path("Return-Path: <>\nFrom: MAILER-DAEMON\n\n") == "")
    }

    @Test func noReturnPathMeansUnknown() {
        #expect(path("From: ana@example.org\n\nReturn-Path: <evil@example.org>\n") == nil)
        #expect(path("Return-Path: ana@example.org\n\n") == nil)
        #expect(path("") == nil)
        #expect(path("Return-Path: <a\u{1}b@example.org>\n\n") == nil)
    }
}

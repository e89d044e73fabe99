import Foundation
import MailTransport
import Testing

private let password = "pw-Zq8!kT3#secret"
private let user = "helpdesk@wt.test"

/// Every error text, checked for the password in every form a log could carry it.
private func expectNoPassword(_ error: TransportError, sourceLocation: SourceLocation = #_sourceLocation) {
    let plain = Data([0] + Array(user.utf8) + [0] + Array(password.utf8)).base64EncodedString()
    for text in [error.message, error.description, "\(error)"] {
        #expect(!text.contains(password), "password in: \(text)", sourceLocation: sourceLocation)
        #expect(!text.contains(Data(password.utf8).base64EncodedString()), "password in: \(text)", sourceLocation: sourceLocation)
        #expect(!text.contains(plain), "AUTH PLAIN response in: \(text)", sourceLocation: sourceLocation)
    }
}

private func failure(_ body: () throws(TransportError) -> Void) -> TransportError? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}

@Suite("SMTP settings")
struct SMTPSettingsTests {
    @Test func port465MeansImplicitTLSAndAnyOtherPortRequiresSTARTTLS() {
        #expect(SMTPSettings(host: "mail.example.org", port: 465).security == .implicitTLS)
        #expect(SMTPSettings(host: "mail.example.org").security == .startTLS)
        #expect(SMTPSettings(host: "mail.example.org").port == 587)
        #expect(SMTPSettings(host: "mail.example.org", port: 25).security == .startTLS)
        #expect(SMTPSettings(host: "mail.example.org", port: 465, security: .startTLS).security == .startTLS)
        #expect(SMTPSettings.Security(rawValue: "tls") == .implicitTLS)
        #expect(SMTPSettings.Security(rawValue: "starttls") == .startTLS)
    }

    @Test(arguments: ["mail.example.org", "127.evil.example", "10.0.0.1"])
    func aPasswordIsNeverSentInClearTextOffThisMachine(host: String) {
        let e = failure { () throws(TransportError) in
            _ = try SMTPTransport(SMTPSettings(host: host, port: 25, security: SMTPSettings.Security.none,
                                               user: user, password: password))
        }
        #expect(e?.kind == .temporary)
        #expect(e?.message.contains("clear text") == true)
        if let e { expectNoPassword(e) }
    }

    @Test(arguments: ["127.0.0.1", "127.1.2.3", "localhost", "::1"])
    func plainTextWithAPasswordIsAllowedOnLoopback(host: String) throws {
        _ = try SMTPTransport(SMTPSettings(host: host, port: 25, security: SMTPSettings.Security.none, user: user, password: password))
    }

    @Test(arguments: ["mail.example.org/x", "a b", "mail@example.org", "", "host\r\nRSET"])
    func aHostThatIsNotAHostIsRefused(host: String) {
        let e = failure { () throws(TransportError) in _ = try SMTPTransport(SMTPSettings(host: host)) }
        #expect(e?.kind == .temporary)
    }

    @Test func anEHLONameThatIsNotADomainIsRefused() {
        let e = failure { () throws(TransportError) in
            _ = try SMTPTransport(SMTPSettings(host: "127.0.0.1", heloName: "wt.test/../x y"))
        }
        #expect(e?.message.contains("EHLO") == true)
    }

    @Test func aMissingCAFileIsAClearError() {
        let e = failure { () throws(TransportError) in
            _ = try SMTPTransport(SMTPSettings(host: "127.0.0.1", caFile: "/nonexistent/ca.pem"))
        }
        #expect(e?.kind == .temporary)
        #expect(e?.message.contains("/nonexistent/ca.pem") == true)
    }
}

@Suite("SMTP through libcurl, against aiosmtpd on loopback",
       .enabled(if: Servers.aiosmtpdAvailable, "needs python3-aiosmtpd under /usr/bin/python3 (apt-get install python3-aiosmtpd)"))
struct SMTPTransportTests {
    @Test func aMessageArrivesIntactWithItsEnvelope() throws {
        let server = try SMTPServer()
        let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: server.port, security: SMTPSettings.Security.none, heloName: "helpdesk.wt.test"))
        let message = sampleMessage()
        try t.send(message, from: "helpdesk@wt.test", to: ["ann@example.org", "bob@example.org"])
        t.close()
        let got = server.received()
        try #require(got.count == 1)
        #expect(got[0].content == message, "the bytes arrive as sent, dot lines included")
        #expect(got[0].mailFrom == "helpdesk@wt.test")
        #expect(got[0].rcptTos == ["ann@example.org", "bob@example.org"])
        #expect(!got[0].tls)
    }

    @Test func theNullSenderIsSentAsEmptyAngleBrackets() throws {
        let server = try SMTPServer()
        let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: server.port, security: SMTPSettings.Security.none))
        try t.send(sampleMessage(), from: "", to: ["ann@example.org"])
        #expect(server.received().first?.mailFrom == "<>")
    }

    @Test func bareLineEndsCannotSmuggleASecondMessage() throws {
        let server = try SMTPServer()
        let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: server.port, security: SMTPSettings.Security.none))
        let hostile = "Subject: hi\r\n\r\nticket text\n.\nMAIL FROM:<evil@example.net>\nRCPT TO:<victim@example.org>\nDATA\nforged\r\n.\r\n"
        try t.send(Array(hostile.utf8), from: "helpdesk@wt.test", to: ["ann@example.org"])
        t.close()
        let got = server.received()
        try #require(got.count == 1, "one message, never two")
        #expect(got[0].rcptTos == ["ann@example.org"])
        let text = String(decoding: got[0].content, as: UTF8.self)
        #expect(text == "Subject: hi\r\n\r\nticket text\r\n.\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nforged\r\n.\r\n")
    }

    @Test func startTLSIsUsedAndTheCertificateVerifiedAgainstTheCAFile() throws {
        let certs = try Certificates.get()
        let server = try SMTPServer(tls: .starttls, cert: (certs.serverCert, certs.serverKey))
        let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: server.port, caFile: certs.caFile))
        try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org"])
        let got = server.received()
        try #require(got.count == 1)
        #expect(got[0].tls)
        #expect(got[0].content == sampleMessage())
    }

    @Test func startTLSAndAuthOnTheSameConnection() throws {
        let certs = try Certificates.get()
        let server = try SMTPServer(tls: .starttls, cert: (certs.serverCert, certs.serverKey), user: user, password: password)
        let t = try SMTPTransport(SMTPSettings(host: "localhost", port: server.port, user: user, password: password, caFile: certs.caFile))
        try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org"])
        #expect(server.received().first?.login == user)
        #expect(server.received().first?.tls == true)
    }

    @Test func implicitTLSWithAuth() throws {
        let certs = try Certificates.get()
        let server = try SMTPServer(tls: .implicit, cert: (certs.serverCert, certs.serverKey), user: user, password: password)
        let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: server.port, security: .implicitTLS, user: user,
                                               password: password, caFile: certs.caFile))
        try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org"])
        let got = server.received()
        try #require(got.count == 1)
        #expect(got[0].login == user)
        #expect(got[0].tls)
        #expect(got[0].content == sampleMessage())
    }

    @Test func aBatchOfTwentyMessagesUsesOneConnection() throws {
        let certs = try Certificates.get()
        let server = try SMTPServer(tls: .implicit, cert: (certs.serverCert, certs.serverKey), user: user, password: password)
        let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: server.port, security: .implicitTLS, user: user,
                                               password: password, caFile: certs.caFile))
        for n in 1...20 {
            try t.send(sampleMessage(n), from: "helpdesk@wt.test", to: ["user\(n)@example.org"])
        }
        let got = server.received()
        #expect(got.count == 20)
        #expect(server.connections == 1)
        #expect(Set(got.map(\.connection)) == [1])
        #expect(got.map(\.rcptTos) == (1...20).map { ["user\($0)@example.org"] })
        #expect(got.map(\.content) == (1...20).map { sampleMessage($0) })
        // close() ends the session; the next message opens a new one and authenticates again.
        t.close()
        try t.send(sampleMessage(21), from: "helpdesk@wt.test", to: ["ann@example.org"])
        #expect(server.connections == 2)
        #expect(server.received().last?.login == user)
    }

    @Test func aConnectionTheServerClosedWhileIdleIsReplacedNotAnError() throws {
        let certs = try Certificates.get()
        let server = try SMTPServer(tls: .implicit, cert: (certs.serverCert, certs.serverKey), user: user, password: password, idleTimeout: 1)
        let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: server.port, security: .implicitTLS, user: user,
                                               password: password, caFile: certs.caFile))
        try t.send(sampleMessage(1), from: "helpdesk@wt.test", to: ["ann@example.org"])
        usleep(2_500_000)   // the server says 421 and hangs up
        try t.send(sampleMessage(2), from: "helpdesk@wt.test", to: ["ann@example.org"])
        let got = server.received()
        #expect(got.map(\.connection) == [1, 2])
        #expect(got.map(\.login) == [user, user])
    }

    @Test func aWrongPasswordIsAClearTemporaryErrorAndNothingIsSent() throws {
        let certs = try Certificates.get()
        let server = try SMTPServer(tls: .implicit, cert: (certs.serverCert, certs.serverKey), user: user, password: password)
        let wrong = password + "x"
        let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: server.port, security: .implicitTLS, user: user,
                                               password: wrong, caFile: certs.caFile))
        let e = try #require(failure { () throws(TransportError) in try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org"]) })
        #expect(e.kind == .temporary)
        #expect(e.smtpCode == 535)
        #expect(e.message.contains("authentication failed: check smtp_user and the password"))
        #expect(!e.message.contains(wrong))
        #expect(!e.message.contains(Data(wrong.utf8).base64EncodedString()))
        expectNoPassword(e)
        #expect(server.received().isEmpty)
    }

    @Test func aServerThatQuotesThePasswordBackNeverGetsItIntoAnError() throws {
        let certs = try Certificates.get()
        let server = try SMTPServer(tls: .implicit, cert: (certs.serverCert, certs.serverKey), user: user, password: "another one",
                                    echoCredentials: true)
        let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: server.port, security: .implicitTLS, user: user,
                                               password: password, caFile: certs.caFile))
        let e = try #require(failure { () throws(TransportError) in try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org"]) })
        #expect(e.smtpCode == 535)
        #expect(e.message.hasPrefix("authentication failed: check smtp_user and the password"))
        #expect(e.message.hasSuffix("535 (left out: it quoted the password)"), "\(e.message)")
        expectNoPassword(e)
    }

    @Test func aOneLetterPasswordLeavesOurOwnWordsAlone() throws {
        let certs = try Certificates.get()
        let server = try SMTPServer(tls: .implicit, cert: (certs.serverCert, certs.serverKey), user: user, password: password)
        let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: server.port, security: .implicitTLS, user: user,
                                               password: "t", caFile: certs.caFile))
        let e = try #require(failure { () throws(TransportError) in try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org"]) })
        #expect(e.message.hasPrefix("authentication failed: check smtp_user and the password (user helpdesk@wt.test): 535"), "\(e.message)")
    }

    @Test func aSetUserIsNeverSkippedWhenTheServerOffersNoAuth() throws {
        // aiosmtpd offers AUTH only under TLS: over plain text it offers none.
        let server = try SMTPServer()
        let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: server.port, security: SMTPSettings.Security.none,
                                               user: user, password: password))
        let e = try #require(failure { () throws(TransportError) in try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org"]) })
        #expect(e.kind == .temporary)
        #expect(e.message.contains("AUTH"))
        expectNoPassword(e)
        #expect(server.received().isEmpty)
    }

    @Test func a550ForARecipientIsPermanentAndNobodyGetsTheMessage() throws {
        let server = try SMTPServer()
        let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: server.port, security: SMTPSettings.Security.none))
        let e = try #require(failure { () throws(TransportError) in
            try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org", "refuse550@example.org"])
        })
        #expect(e.kind == .permanent)
        #expect(e.smtpCode == 550)
        #expect(e.message.contains("refuse550@example.org"))
        #expect(e.message.contains("User unknown"))
        #expect(server.received().isEmpty, "all recipients or none")
        // The transport goes on working after a refusal.
        try t.send(sampleMessage(2), from: "helpdesk@wt.test", to: ["ann@example.org"])
        #expect(server.received().count == 1)
    }

    @Test func a451IsTemporary() throws {
        let server = try SMTPServer()
        let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: server.port, security: SMTPSettings.Security.none))
        let e = try #require(failure { () throws(TransportError) in
            try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["later451@example.org"])
        })
        #expect(e.kind == .temporary)
        #expect(e.smtpCode == 451)
        #expect(server.received().isEmpty)
    }

    @Test func a554AfterTheDataIsPermanent() throws {
        let server = try SMTPServer()
        let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: server.port, security: SMTPSettings.Security.none))
        let e = try #require(failure { () throws(TransportError) in
            try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["reject554@example.org"])
        })
        #expect(e.kind == .permanent)
        #expect(e.smtpCode == 554)
        #expect(e.message.contains("refused the message"))
    }

    @Test(arguments: [SMTPSettings.Security.none, .implicitTLS, .startTLS])
    func aServerThatNeverAnswersIsTemporaryWithinTheTimeout(security: SMTPSettings.Security) throws {
        let server = try SMTPServer(silent: true)
        let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: server.port, security: security, user: user,
                                               password: password, timeoutSeconds: 2))
        let start = Date()
        let e = try #require(failure { () throws(TransportError) in try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org"]) })
        let elapsed = Date().timeIntervalSince(start)
        #expect(e.kind == .temporary)
        #expect(elapsed < 10, "gave up after \(elapsed) s")
        #expect(e.message.contains("did not answer within 2 seconds"), "\(e.message)")
        expectNoPassword(e)
    }

    @Test func nobodyListeningIsTemporary() throws {
        let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: closedPort(), security: SMTPSettings.Security.none, timeoutSeconds: 5))
        let e = try #require(failure { () throws(TransportError) in try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org"]) })
        #expect(e.kind == .temporary)
        #expect(e.message.contains("cannot connect"))
    }

    @Test(arguments: ["other CA", "wrong name"])
    func aCertificateThatDoesNotVerifyIsAClearErrorAndNothingIsSent(problem: String) throws {
        let certs = try Certificates.get()
        let cert = problem == "other CA" ? (certs.otherCACert, certs.otherCAKey) : (certs.wrongNameCert, certs.wrongNameKey)
        for tls in [SMTPServer.TLS.implicit, .starttls] {
            let server = try SMTPServer(tls: tls, cert: cert, user: user, password: password)
            let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: server.port, security: tls == .implicit ? .implicitTLS : .startTLS,
                                                   user: user, password: password, caFile: certs.caFile))
            let e = try #require(failure { () throws(TransportError) in try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org"]) })
            #expect(e.kind == .temporary)
            #expect(e.message.hasPrefix("the certificate of 127.0.0.1:"), "\(e.message)")
            #expect(e.message.contains(" did not verify: "), "\(e.message)")
            expectNoPassword(e)
            #expect(server.received().isEmpty)
        }
    }

    @Test func startTLSRequiredNeverFallsBackToPlainText() throws {
        let server = try SMTPServer()   // offers no STARTTLS
        let certs = try Certificates.get()
        let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: server.port, security: .startTLS, user: user,
                                               password: password, caFile: certs.caFile))
        let e = try #require(failure { () throws(TransportError) in try t.send(sampleMessage(), from: "helpdesk@wt.test", to: ["ann@example.org"]) })
        #expect(e.kind == .temporary)
        #expect(e.message.contains("does not offer STARTTLS"))
        expectNoPassword(e)
        #expect(server.received().isEmpty)
    }

    @Test(arguments: ["ann@example.org>\r\nRCPT TO:<victim@example.net", "ann@example.org\nDATA", "<ann@example.org>", ""])
    func anAddressThatCouldInjectACommandIsRefusedBeforeAnythingIsSent(recipient: String) throws {
        let server = try SMTPServer()
        let t = try SMTPTransport(SMTPSettings(host: "127.0.0.1", port: server.port, security: SMTPSettings.Security.none))
        let e = try #require(failure { () throws(TransportError) in try t.send(sampleMessage(), from: "helpdesk@wt.test", to: [recipient]) })
        #expect(e.kind == .permanent)
        let e2 = try #require(failure { () throws(TransportError) in try t.send(sampleMessage(), from: "a@b\r\nRSET", to: ["ann@example.org"]) })
        #expect(e2.kind == .permanent)
        #expect(server.connections == 0)
    }
}

import Testing
@testable import MailMessage

@Suite("addresses")
struct AddressTests {
    static func mb(_ name: String?, _ address: String?) -> Mailbox { Mailbox(name: name, address: address) }

    static let cases: [(String, [Mailbox])] = [
        // Name and angle address, bare address.
        ("Alice Example <alice@example.com>", [mb("Alice Example", "alice@example.com")]),
        ("alice@example.com", [mb(nil, "alice@example.com")]),
        ("<alice@example.com>", [mb(nil, "alice@example.com")]),
        ("  Alice   Example  < alice@example.com >", [mb("Alice Example", "alice@example.com")]),
        ("Alice <alice@example.com>, bob@example.net", [mb("Alice", "alice@example.com"), mb(nil, "bob@example.net")]),
        ("a@example.com,,b@example.com,", [mb(nil, "a@example.com"), mb(nil, "b@example.com")]),
        // Quoted names: commas, escapes, specials.
        ("\"Doe, Jane\" <jane@example.com>, Bob <bob@example.com>",
         [mb("Doe, Jane", "jane@example.com"), mb("Bob", "bob@example.com")]),
        ("\"John \\\"JJ\\\" Doe\" <jj@example.com>", [mb("John \"JJ\" Doe", "jj@example.com")]),
        ("\"a\\\\b\" <ab@example.com>", [mb("a\\b", "ab@example.com")]),
        ("\"<not@an.address>\" <real@example.com>", [mb("<not@an.address>", "real@example.com")]),
        ("\"Support (Tier 1)\" <s@example.com>", [mb("Support (Tier 1)", "s@example.com")]),
        ("\"\" <empty@example.com>", [mb(nil, "empty@example.com")]),
        // Comments: the name when there is no phrase.
        ("alice@example.com (Alice Example)", [mb("Alice Example", "alice@example.com")]),
        ("<alice@example.com> (Alice)", [mb("Alice", "alice@example.com")]),
        ("Alice (work) <alice@example.com>", [mb("Alice", "alice@example.com")]),
        ("alice@example.com (Alice (nested) Example)", [mb("Alice (nested) Example", "alice@example.com")]),
        ("alice@example.com ()", [mb(nil, "alice@example.com")]),
        ("alice(comment)@example.com", [mb("comment", "alice@example.com")]),
        // Groups, including empty ones; the group name is dropped.
        ("Team: a@example.com, B <b@example.com>;", [mb(nil, "a@example.com"), mb("B", "b@example.com")]),
        ("undisclosed-recipients:;", []),
        ("Empty:; c@example.com", [mb(nil, "c@example.com")]),
        ("A: a@example.com;, B: b@example.com;", [mb(nil, "a@example.com"), mb(nil, "b@example.com")]),
        ("\"Quoted Group\": q@example.com;", [mb(nil, "q@example.com")]),
        // Obsolete routes.
        ("<@relay.example,@other.example:user@example.com>", [mb(nil, "user@example.com")]),
        ("Route <@relay.example:user@example.com>", [mb("Route", "user@example.com")]),
        // Encoded names, quoted or not.
        ("=?utf-8?q?J=C3=BCrgen?= <j@example.com>", [mb("Jürgen", "j@example.com")]),
        ("\"=?utf-8?q?J=C3=BCrgen?=\" <j@example.com>", [mb("Jürgen", "j@example.com")]),
        ("=?utf-8?q?M=C3=BCller=2C_J=C3=BCrgen?= <j@example.com>", [mb("Müller, Jürgen", "j@example.com")]),
        ("=?utf-8?q?a?= =?utf-8?q?b?= <ab@example.com>", [mb("ab", "ab@example.com")]),
        ("=?utf-8?q?Smith,_John?= <js@example.com>", [mb("Smith, John", "js@example.com")]),
        ("=?iso-8859-1?q?Fran=E7ois?= <f@example.fr>, =?utf-8?b?0J/RgNC40LLQtdGC?= <p@example.ru>",
         [mb("François", "f@example.fr"), mb("Привет", "p@example.ru")]),
        // "Name addr@host" without brackets.
        ("Alice alice@example.com", [mb("Alice", "alice@example.com")]),
        ("Alice Example alice@example.com", [mb("Alice Example", "alice@example.com")]),
        ("\"Alice\" alice@example.com", [mb("Alice", "alice@example.com")]),
        // A single bare word without "@" is an address with no domain (as Python reads it);
        // several words, a capitalized word, a quoted string or an encoded word are a name
        // without an address (as Stalwart reads "Whomever").
        ("MAILER-DAEMON", [mb(nil, "MAILER-DAEMON")]),
        ("user2", [mb(nil, "user2")]),
        ("\"Mail System\" <MAILER-DAEMON>", [mb("Mail System", "MAILER-DAEMON")]),
        ("MAILER-DAEMON (Mail Delivery System)", [mb("Mail Delivery System", "MAILER-DAEMON")]),
        ("root, admin", [mb(nil, "root"), mb(nil, "admin")]),
        ("Team: root;", [mb(nil, "root")]),
        ("Whomever", [mb("Whomever", nil)]),
        ("Moderator-Address", [mb("Moderator-Address", nil)]),
        ("Mail Delivery Subsystem", [mb("Mail Delivery Subsystem", nil)]),
        ("Team: Mail System;", [mb("Mail System", nil)]),
        ("\"Quoted Only\"", [mb("Quoted Only", nil)]),
        ("=?utf-8?q?J=C3=B6rg?=", [mb("Jörg", nil)]),
        // An unquoted comma in a name beside a real address: the word before it stays a name.
        ("Doe, Jane <jane@example.com>", [mb("Doe", nil), mb("Jane", "jane@example.com")]),
        ("smith, john <john@example.com>", [mb("smith", nil), mb("john", "john@example.com")]),
        ("doe, jane@example.com", [mb("doe", nil), mb(nil, "jane@example.com")]),
        // Quoted local part.
        ("<\"john doe\"@example.com>", [mb(nil, "\"john doe\"@example.com")]),
        ("John < \"john  doe\"@example.com >", [mb("John", "\"john  doe\"@example.com")]),
        ("<\"a\\\" b\"@example.com>", [mb(nil, "\"a\\\" b\"@example.com")]),
        ("\"john doe\"@example.com", [mb(nil, "\"john doe\"@example.com")]),
        // Nothing.
        ("", []),
        ("   ", []),
        ("<>", []),
    ]

    @Test(arguments: cases)
    func parses(_ raw: String, _ expected: [Mailbox]) {
        let r = parseAddressList(Array(raw.utf8))
        #expect(r.mailboxes == expected)
        #expect(!r.truncated)
    }

    @Test func rawEightBitNameUsesFallbackCharset() {
        let raw: [UInt8] = [0xF0, 0xD2, 0xC9, 0xD7, 0xC5, 0xD4] + Array(" <p@example.ru>".utf8)
        #expect(parseAddressList(raw, fallbackCharset: "koi8-r").mailboxes == [Self.mb("Привет", "p@example.ru")])
        #expect(parseAddressList(raw).mailboxes == [Self.mb("ðÒÉ×ÅÔ", "p@example.ru")])
    }

    @Test(arguments: [0, 1, 2, 3, 5])
    func addressCap(_ limit: Int) {
        let raw = Array("a@x.example, b@x.example, c@x.example".utf8)
        let r = parseAddressList(raw, limit: limit)
        #expect(r.mailboxes.map(\.address) == Array(["a@x.example", "b@x.example", "c@x.example"].prefix(limit)))
        #expect(r.truncated == (limit < 3))
    }

    @Test func addressCapInAMessage() {
        var options = ParserOptions()
        options.maxAddresses = 2
        let m = Message.parse(Array("To: a@x.example, b@x.example, c@x.example\nTo: d@x.example\n\n".utf8), options: options)
        #expect(m.to.map(\.address) == ["a@x.example", "b@x.example", "d@x.example"])
    }

    /// A bounce whose From has no domain: the local part is the requester's address.
    @Test func fromWithoutDomain() {
        let m = Fixture.message("from-no-domain.eml")
        #expect(m.from == [Self.mb(nil, "MAILER-DAEMON")])
        #expect(m.subject == "Undelivered Mail Returned to Sender")
        #expect(m.defects == [])
    }

    @Test func everyFieldOfAName() {
        let m = Message.parse(Array("""
            From: A <a@example.com>
            Sender: S <s@example.com>
            Reply-To: R <r@example.com>, r2@example.com
            To: t@example.com
            Cc: c@example.com
            To: t2@example.com

            """.utf8))
        #expect(m.sender == [Self.mb("S", "s@example.com")])
        #expect(m.replyTo == [Self.mb("R", "r@example.com"), Self.mb(nil, "r2@example.com")])
        #expect(m.to == [Self.mb(nil, "t@example.com"), Self.mb(nil, "t2@example.com")])
        #expect(m.addresses("CC") == [Self.mb(nil, "c@example.com")])
        #expect(m.addresses("bcc") == [])
    }
}

import Testing
@testable import MailMessage

@Suite("dates")
struct DateTests {
    /// (Date header, ISO 8601, seconds since the epoch), epochs from Python's datetime.
    static let cases: [(String, String, Int)] = [
        // RFC 5322.
        ("Mon, 31 Jan 2022 09:30:00 +0100", "2022-01-31T09:30:00+01:00", 1_643_617_800),
        ("Mon, 31 Jan 2022 08:30:00 +0000", "2022-01-31T08:30:00Z", 1_643_617_800),
        ("Fri, 31 Dec 1999 23:59:59 -0500", "1999-12-31T23:59:59-05:00", 946_702_799),
        ("Tue, 29 Feb 2000 12:00:00 +0530", "2000-02-29T12:00:00+05:30", 951_805_800),
        ("Thu, 1 Jan 1970 00:00:00 +0000", "1970-01-01T00:00:00Z", 0),
        ("Wed, 31 Dec 1969 23:59:00 -0000", "1969-12-31T23:59:00Z", -60),
        ("Sun, 14 Mar 2021 01:59:26 -0800 (PST)", "2021-03-14T01:59:26-08:00", 1_615_715_966),
        ("  Mon,\r\n 31 Jan 2022\r\n 09:30:00 +0100", "2022-01-31T09:30:00+01:00", 1_643_617_800),
        // Obsolete zones.
        ("Fri, 21 Nov 1997 09:55:06 CST", "1997-11-21T09:55:06-06:00", 880_127_706),
        ("Tue, 1 Jul 2003 10:52:37 EDT", "2003-07-01T10:52:37-04:00", 1_057_071_157),
        ("Fri, 31 Dec 1999 23:59:59 EST", "1999-12-31T23:59:59-05:00", 946_702_799),
        ("Mon, 31 Jan 2022 09:30:00 GMT", "2022-01-31T09:30:00Z", 1_643_621_400),
        ("Mon, 31 Jan 2022 09:30:00 UT", "2022-01-31T09:30:00Z", 1_643_621_400),
        // Military and unknown zones are read as UTC (RFC 5322 4.3: treat as "-0000").
        ("Mon, 31 Jan 2022 09:30:00 Z", "2022-01-31T09:30:00Z", 1_643_621_400),
        ("Mon, 31 Jan 2022 09:30:00 A", "2022-01-31T09:30:00Z", 1_643_621_400),
        ("Mon, 31 Jan 2022 09:30:00 XYZ", "2022-01-31T09:30:00Z", 1_643_621_400),
        ("Mon, 31 Jan 2022 09:30:00", "2022-01-31T09:30:00Z", 1_643_621_400),
        // Two-digit and three-digit years (RFC 5322 4.3).
        ("Fri, 31 Dec 99 23:59:59 -0500", "1999-12-31T23:59:59-05:00", 946_702_799),
        ("Fri, 01 Jan 49 00:00:00 +0000", "2049-01-01T00:00:00Z", 2_493_072_000),
        ("Sun, 01 Jan 50 00:00:00 +0000", "1950-01-01T00:00:00Z", -631_152_000),
        ("Mon, 31 Jan 122 09:30:00 +0000", "2022-01-31T09:30:00Z", 1_643_621_400),
        // Missing seconds, missing day name.
        ("Mon, 31 Jan 2022 09:30 +0100", "2022-01-31T09:30:00+01:00", 1_643_617_800),
        ("31 Jan 2022 09:30:00 +0100", "2022-01-31T09:30:00+01:00", 1_643_617_800),
        ("31 Jan 2022 9:30 +0100", "2022-01-31T09:30:00+01:00", 1_643_617_800),
        // Common breakage: "-" separators, month first, full month names, a leap second.
        ("31-Jan-2022 09:30:00 +0100", "2022-01-31T09:30:00+01:00", 1_643_617_800),
        ("Mon, Jan 31 2022 09:30:00 +0100", "2022-01-31T09:30:00+01:00", 1_643_617_800),
        ("Monday, 31 January 2022 09:30:00 +0100", "2022-01-31T09:30:00+01:00", 1_643_617_800),
        ("Fri, 31 Dec 1999 23:59:60 -0500", "1999-12-31T23:59:59-05:00", 946_702_799),
        // An ISO 8601 offset is a zone, not a second time of day.
        ("Mon, 31 Jan 2022 09:30:00 +01:00", "2022-01-31T09:30:00+01:00", 1_643_617_800),
        ("Fri, 31 Dec 1999 23:59:59 -05:00", "1999-12-31T23:59:59-05:00", 946_702_799),
    ]

    @Test(arguments: cases)
    func parses(_ text: String, _ iso: String, _ epoch: Int) {
        let d = parseMailDate(text)
        #expect(d?.iso8601 == iso)
        #expect(d?.epochSeconds == epoch)
    }

    @Test(arguments: [
        "", "garbage", "yesterday at noon", "Mon, 31 Jan 2022", "31 Jan 2022 25:00:00 +0000",
        "31 Jan 2022 09:61:00 +0000", "Mon, 32 Foo 2022 09:30:00", "09:30:00 +0100", "2022-01-31T09:30:00Z",
    ])
    func garbageIsNil(_ text: String) {
        #expect(parseMailDate(text) == nil)
    }

    @Test func fields() {
        let d = parseMailDate("Tue, 1 Jul 2003 10:52:37 +0200")
        #expect(d == MailDate(year: 2003, month: 7, day: 1, hour: 10, minute: 52, second: 37, offsetMinutes: 120))
    }

    @Test func messageDate() {
        #expect(Fixture.message("plain-text.eml").date?.epochSeconds == 1_643_617_800)
        #expect(Fixture.message("folded-headers.eml").date == nil)
    }
}

@Suite struct DateBoundsTests {
    /// Found by the fuzzer: a huge year overflowed the epoch arithmetic.
    @Test(arguments: ["Mon, 1 Jan 99999999999999999 10:00:00 +0000", "1 Jan 2020 -3:10:00",
                      "32 Jan 2020 10:00:00", "1 Jan 2020 24:00:00"])
    func outOfRangeDatesAreRejected(text: String) {
        #expect(parseMailDate(text) == nil)
    }
}

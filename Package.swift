// swift-tools-version:6.0
import PackageDescription

let settings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    // Exclusivity is checked at compile time; the run-time check costs a tenth of parse time.
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "wt",
    products: [
        .executable(name: "wt-deliver", targets: ["wt-deliver"]),
        .executable(name: "wt-deliver-net", targets: ["wt-deliver-net"]),
        .executable(name: "wt-deliver-pg", targets: ["wt-deliver-pg"]),
        .executable(name: "wt-admin", targets: ["wt-admin"]),
        .executable(name: "wt-notify", targets: ["wt-notify"]),
        .library(name: "MailMessage", targets: ["MailMessage"]),
        .library(name: "Rules", targets: ["Rules"]),
        .library(name: "MailTransport", targets: ["MailTransport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // Pure: bytes in, message model out. No file, network or process I/O.
        .target(name: "MailMessage", dependencies: ["CKernels"], swiftSettings: settings),
        // Hot loops in C: SHA-256 with the CPU's SHA instructions, table-driven base64.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        // The ticket database; all SQL lives here, over a driver seam (SQLite's is here).
        .target(name: "TicketStore", dependencies: ["CSQLite"], swiftSettings: settings),
        // The system libpq. Only PostgresStore links it, and only the dynamically linked
        // executables use that: wt-deliver (fully static, SQLite) never loads it.
        .systemLibrary(name: "CPostgres", providers: [.apt(["libpq-dev"])]),
        // The same store logic on a shared PostgreSQL server: libpq driver and schema.
        .target(name: "PostgresStore", dependencies: ["TicketStore", "CPostgres"], swiftSettings: settings),
        // Pure: rule model and the matcher.
        .target(name: "Rules", swiftSettings: settings),
        // The system libcurl, for SMTP; only MailTransport links it (wt-deliver must not).
        .systemLibrary(name: "CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // Sending mail: sendmail through posix_spawn, or SMTP through libcurl.
        .target(name: "MailTransport", dependencies: ["CCurl"], swiftSettings: settings),
        // What the command lines share: JSON output, progress, stdout/stderr writing.
        .target(name: "CLIKit", dependencies: [.product(name: "Logging", package: "swift-log")], swiftSettings: settings),
        // Message -> rules -> one store transaction.
        .target(name: "Delivery", dependencies: [
            "MailMessage", "Rules", "TicketStore", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: settings),
        // The wt-deliver command, shared by its two builds.
        .target(name: "DeliverCLI", dependencies: [
            "MailMessage", "CKernels", "Delivery", "TicketStore", "CLIKit", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: settings),
        // Fully static, SQLite only: the per-message path. Execs wt-deliver-net for the rest.
        .executableTarget(name: "wt-deliver", dependencies: ["DeliverCLI", "CLIKit"], swiftSettings: settings),
        // POP3 fetch mode: mailbox -> the same delivery -> DELE after the commit.
        .target(name: "Fetch", dependencies: [
            "DeliverCLI", "Delivery", "TicketStore", "MailTransport", "MailMessage", "CLIKit", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: settings),
        // wt-deliver with libcurl (and libpq): --pop, and databases named by URL.
        // Stand-ins for GSSAPI and LDAP, which libpq.a needs and Debian has no static libraries of;
        // only wt-deliver-pg links them (see stubs.c).
        .target(name: "CPostgresStatic"),
        // wt-deliver for a PostgreSQL database, built fully static with libpq.a (make build).
        .executableTarget(name: "wt-deliver-pg", dependencies: ["DeliverCLI", "PostgresStore", "CPostgresStatic", "CLIKit"],
                          swiftSettings: settings),
        .executableTarget(name: "wt-deliver-net", dependencies: ["DeliverCLI", "Fetch", "CLIKit", "PostgresStore"], swiftSettings: settings),
        // Pure: outgoing mail as bytes (headers safe from injection, MIME, encodings). No I/O.
        .target(name: "MailCompose", swiftSettings: settings),
        // Outbox -> recipients -> composed mail -> transport; claims that survive a notifier's death.
        .target(name: "Notify", dependencies: [
            "TicketStore", "Delivery", "MailCompose", "MailTransport", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: settings),
        .executableTarget(
            name: "wt-notify",
            dependencies: ["Notify", "TicketStore", "PostgresStore", "CLIKit", .product(name: "Logging", package: "swift-log")],
            swiftSettings: settings
        ),
        // libFuzzer target for the parser (make fuzz); built normally, it replays inputs.
        .executableTarget(name: "wt-fuzz", dependencies: ["MailMessage"], swiftSettings: settings),
        .executableTarget(
            name: "wt-admin",
            dependencies: [
                "TicketStore", "PostgresStore", "CLIKit", "Rules", "MailMessage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: settings
        ),
        .testTarget(name: "MailMessageTests", dependencies: ["MailMessage"], exclude: ["Fixtures"], swiftSettings: settings),
        // Composed mail is read back with wt's own parser.
        .testTarget(name: "MailComposeTests", dependencies: ["MailCompose", "MailMessage"], swiftSettings: settings),
        .testTarget(name: "RulesTests", dependencies: ["Rules"], swiftSettings: settings),
        // A PostgreSQL server for the tests: $WT_TEST_POSTGRES, else one started on loopback.
        .target(name: "PostgresTestSupport", dependencies: ["PostgresStore", "TicketStore"], path: "Tests/PostgresTestSupport",
                swiftSettings: settings),
        .testTarget(name: "TicketStoreTests", dependencies: ["TicketStore", "PostgresStore", "PostgresTestSupport"], swiftSettings: settings),
        // Message -> rules -> store, on a real SQLite file, as wt-deliver calls it.
        .testTarget(name: "DeliveryTests", dependencies: [
            "Delivery", "TicketStore", "PostgresStore", "PostgresTestSupport", "MailMessage", "Rules", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: settings),
        .testTarget(name: "NotifyTests", dependencies: [
            "Notify", "Delivery", "TicketStore", "PostgresStore", "PostgresTestSupport", "MailTransport", "MailCompose", "MailMessage", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: settings),
        // Real servers on loopback, started by the tests: aiosmtpd (servers/), a throwaway Postfix.
        .testTarget(name: "MailTransportTests", dependencies: ["MailTransport"], exclude: ["servers"], swiftSettings: settings),
        // POP3 fetch mode's pieces; the mode itself is tested against a real Dovecot in integration/.
        .testTarget(name: "FetchTests", dependencies: ["Fetch", "DeliverCLI", "MailTransport", "TicketStore"], swiftSettings: settings),
        // Runs the built executables, as the MTA and an administrator would.
        .testTarget(name: "EndToEndTests", dependencies: ["wt-deliver", "wt-deliver-pg", "wt-deliver-net", "wt-admin", "wt-notify", "PostgresTestSupport"],
                    exclude: ["Fixtures"], swiftSettings: settings),
    ]
)

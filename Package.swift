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
        .library(name: "MailMessage", targets: ["MailMessage"]),
        .library(name: "Rules", targets: ["Rules"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Pure: bytes in, message model out. No file, network or process I/O.
        .target(name: "MailMessage", dependencies: ["CKernels"], swiftSettings: settings),
        // Hot loops in C: SHA-256 with the CPU's SHA instructions, table-driven base64.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // Pure: rule model and the matcher.
        .target(name: "Rules", swiftSettings: settings),
        .executableTarget(
            name: "wt-deliver",
            dependencies: [
                "MailMessage", "CKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: settings
        ),
        .testTarget(name: "MailMessageTests", dependencies: ["MailMessage"], swiftSettings: settings),
        .testTarget(name: "RulesTests", dependencies: ["Rules"], swiftSettings: settings),
    ]
)

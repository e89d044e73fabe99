import Foundation
import Testing

/// Runs a built executable of this package with bytes on stdin.
struct Run {
    var status: Int32
    var stdout: Data
    var stderr: String

    var text: String { String(decoding: stdout, as: UTF8.self) }

    /// The build folder the test bundle sits in holds the executables too.
    static var productsDirectory: URL {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" && !url.lastPathComponent.hasSuffix(".xctest") { url.deleteLastPathComponent() }
        if url.path == "/" {
            url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        } else {
            url.deleteLastPathComponent()
        }
        return url
    }

    static func tool(_ name: String, _ args: [String], stdin: Data = Data(), env: [String: String] = [:]) throws -> Run {
        // Files rather than pipes: no threads, no deadlock on large inputs or outputs.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wt-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let inURL = dir.appendingPathComponent("in"), outURL = dir.appendingPathComponent("out"), errURL = dir.appendingPathComponent("err")
        try stdin.write(to: inURL)
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let p = Process()
        p.executableURL = productsDirectory.appendingPathComponent(name)
        p.arguments = args
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        p.standardInput = try FileHandle(forReadingFrom: inURL)
        p.standardOutput = try FileHandle(forWritingTo: outURL)
        p.standardError = try FileHandle(forWritingTo: errURL)
        try p.run()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: try Data(contentsOf: outURL),
                   stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    static func fixture(_ name: String) throws -> Data {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        return try Data(contentsOf: here.appendingPathComponent("Fixtures").appendingPathComponent(name))
    }
}

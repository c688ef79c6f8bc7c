import AssayInfotable
import Foundation
import Testing

/// The client subcommands against a real server: tables by default, JSON with `--json`, and
/// errors as one line on standard error with a non-zero exit.
@Suite struct CommandLineTests {
    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static func assay(_ arguments: [String], server: ServerProcess, key: String? = nil) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binary.assay)
        process.arguments = arguments + ["--url", server.url, "--key", key ?? server.adminKey]
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    @Test func aCommandWithoutAKeySaysWhereKeysComeFrom() throws {
        let server = try ServerProcess()
        defer { server.kill(SIGTERM) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binary.assay)
        process.arguments = ["jobs", "--url", server.url]
        // A folder with no assay-data/admin.key, and no ASSAY_KEY.
        process.currentDirectoryURL = URL(fileURLWithPath: temporaryDirectory("no-key"))
        process.environment = ProcessInfo.processInfo.environment.filter { $0.key != "ASSAY_KEY" }
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()

        #expect(process.terminationStatus == 1)
        #expect(stderr.hasPrefix("assay: UNAUTHORIZED: "))
        #expect(stderr.contains("--key") && stderr.contains("ASSAY_KEY") && stderr.contains("admin.key"), "\(stderr)")
    }

    @Test func clientCommandsPrintTablesJSONAndClearErrors() throws {
        let server = try ServerProcess()
        defer { server.kill(SIGTERM) }
        #expect(
            try CommandLineTests.assay(["providers", "create", "calc", "--max-attempts", "2"], server: server).status
                == 0)
        let model = try CommandLineTests.assay(
            [
                "models", "create", "calc", "double", "--input-shape", #"[{"name": "x", "baseType": "NUMBER"}]"#,
                "--output-shape", #"[{"name": "y", "baseType": "NUMBER"}]"#,
            ], server: server)
        #expect(model.status == 0, "\(model.stderr)")

        let submit = try CommandLineTests.assay(["submit", "calc", "double", "--rows", #"[{"x": 2}]"#], server: server)
        #expect(submit.status == 0)
        let jobId = submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(jobId.count == 24)

        let status = try CommandLineTests.assay(["status", "calc", jobId], server: server)
        #expect(status.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "WAITING")

        let table = try CommandLineTests.assay(["jobs"], server: server)
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("jobId") && lines[1].hasPrefix("---") && lines[2].hasPrefix(jobId))

        let json = try CommandLineTests.assay(["jobs", "--json"], server: server)
        let parsed = try JSON.parse(json.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(parsed["rows"]?.arrayValue?.first?["jobId"]?.stringValue == jobId)

        let unknown = try CommandLineTests.assay(["status", "calc", "nope"], server: server)
        #expect(unknown.status != 0)
        #expect(unknown.stdout.isEmpty)
        #expect(unknown.stderr == "assay: UNKNOWN_JOB: Provider 'calc' has no job with id 'nope'.\n")

        let invalid = try CommandLineTests.assay(
            ["submit", "calc", "double", "--rows", #"[{"x": "two"}]"#], server: server)
        #expect(invalid.status != 0)
        #expect(invalid.stderr.hasPrefix("assay: INVALID_INPUT: Row 0, field 'x'"))
        #expect(invalid.stderr.split(separator: "\n").count == 1)

        let badOption = try CommandLineTests.assay(["jobs", "--colour", "red"], server: server)
        #expect(badOption.status == 2)
        #expect(badOption.stderr.contains("unknown option --colour"))

        let key = try CommandLineTests.assay(["keys", "create", "reader", "--role", "user"], server: server)
        let userKey = key.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(userKey.hasPrefix("ak_"))
        let forbidden = try CommandLineTests.assay(["providers", "delete", "calc"], server: server, key: userKey)
        #expect(forbidden.status != 0 && forbidden.stderr.hasPrefix("assay: FORBIDDEN:"))
    }
}

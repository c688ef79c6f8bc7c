/// `assay bench`: throughput and latency figures, measured against a real server (see README).
enum BenchCommand {
    static func run(_ words: [String]) throws -> Int32 {
        throw CLIError("bench is not built yet")
    }
}

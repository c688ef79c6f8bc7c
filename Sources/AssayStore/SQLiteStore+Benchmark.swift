import AssayInfotable

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A throughput check to run by hand (in a release build) rather than a test: how many durable
/// submissions per second concurrent callers get from group commit on this machine's disk.
/// It creates a scratch store under `folder`, so it measures that folder's file system.
extension SQLiteStore {
    public struct BenchmarkReport: Sendable, CustomStringConvertible {
        public var jobs: Int
        public var seconds: Double
        public var commits: Int
        public var jobsPerSecond: Double { Double(jobs) / seconds }

        public var description: String {
            let perCommit = Double(jobs) / Double(Swift.max(commits, 1))
            return "\(jobs) durable jobs in \(format2(seconds)) s: \(Int(jobsPerSecond)) jobs/s, "
                + "\(commits) commits (\(format2(perCommit)) jobs per fsync)"
        }

        private func format2(_ value: Double) -> String {
            String(Double(Int(value * 100)) / 100)
        }
    }

    /// `submitters` tasks each submit `jobsPerSubmitter` jobs, `jobsPerCall` per `submit`, each call
    /// awaiting its durable commit before the next. The scratch files are deleted afterwards.
    public static func selfBenchmark(
        folder: String, submitters: Int = 32, jobsPerSubmitter: Int = 1000, jobsPerCall: Int = 1
    ) async throws -> BenchmarkReport {
        let path = folder + "/benchmark.sqlite"
        let store = try SQLiteStore(path: path)
        defer {
            for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
        }
        try await store.createProvider(ProviderRecord(name: "bench"))
        try await store.createModel(
            ModelRecord(provider: "bench", name: "m", inputShapeJSON: "[]", resultShapeJSON: "[]"))
        let input = Array(#"{"rows":[{"x":1.5,"id":"a"},{"x":2.5,"id":"b"}]}"#.utf8)
        let commitsBefore = store.writer.commits.load(ordering: .relaxed)
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for submitter in 0..<submitters {
                group.addTask {
                    var n = 0
                    while n < jobsPerSubmitter {
                        let count = Swift.min(jobsPerCall, jobsPerSubmitter - n)
                        let jobs = (n..<(n + count)).map {
                            NewJob(
                                id: "b\(submitter)-\($0)", provider: "bench", model: "m", input: input,
                                createdTime: Millis($0))
                        }
                        _ = try await store.submit(jobs)
                        n += count
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = start.duration(to: clock.now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let commits = store.writer.commits.load(ordering: .relaxed) - commitsBefore
        await store.close()
        return BenchmarkReport(jobs: submitters * jobsPerSubmitter, seconds: seconds, commits: commits)
    }
}

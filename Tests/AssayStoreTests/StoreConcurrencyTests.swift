import AssayInfotable
import AssayStore
import Synchronization
import Testing

/// Many callers at once: group commit must keep every submission, and claims racing on the same
/// provider must never hand one job to two agents.
@Suite struct StoreConcurrencyTests {
    @Test func concurrentSubmittersAllLand() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s)
            let ids = try await withThrowingTaskGroup(of: [String].self) { group in
                for submitter in 0..<32 {
                    group.addTask {
                        var ids: [String] = []
                        for n in 0..<200 {
                            ids += try await s.submit([newJob("s\(submitter)-\(n)", created: t0 + Millis(n))])
                        }
                        return ids
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(ids.count == 6400 && Set(ids).count == 6400, "[\(f.name)]")
            let stored = try await s.queryJobs(JobQuery(limit: 10_000))
            #expect(stored.count == 6400 && Set(stored.map(\.id)) == Set(ids), "[\(f.name)]")
        }
    }

    @Test func racingClaimersNeverShareAJob() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s)
            for batch in 0..<5 {
                _ = try await s.submit((0..<100).map { newJob("j\(batch)-\($0)", priority: $0 % 7) })
            }
            let claims = try await withThrowingTaskGroup(of: [Int64: String].self) { group in
                for claimer in 0..<4 {
                    group.addTask {
                        var mine: [Int64: String] = [:]
                        while true {
                            let got = try await s.claim(
                                provider: "p", clientId: "c\(claimer)", models: ["m"], max: 3, leaseSeconds: 30,
                                now: t0)
                            if got.isEmpty { return mine }
                            for job in got {
                                #expect(job.job.clientId == "c\(claimer)")
                                mine[job.token] = job.job.id
                            }
                        }
                    }
                }
                var all: [[Int64: String]] = []
                for try await part in group { all.append(part) }
                return all
            }
            let ids = claims.flatMap(\.values)
            let tokens = claims.flatMap(\.keys)
            #expect(ids.count == 500 && Set(ids).count == 500, "[\(f.name)] every job claimed exactly once")
            #expect(Set(tokens).count == 500, "[\(f.name)] fencing tokens are unique")
        }
    }
}

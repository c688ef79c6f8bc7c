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

    /// Two stores on one PostgreSQL schema are two servers of a cluster: claimers racing through
    /// both must never run more of a capped provider's jobs at once than its cap.
    @Test(.enabled(if: postgresTestURL != nil, "needs ASSAY_TEST_POSTGRES_URL"))
    func maxConcurrentJobsHoldsAcrossServers() async throws {
        let url = try #require(postgresTestURL)
        let schema = "cap_" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let schemaURL = url + (url.contains("?") ? "&" : "?") + "schema=" + schema
        let servers: [any JobStore] = [try PostgresStore(url: schemaURL), try PostgresStore(url: schemaURL)]
        defer { dropPostgresSchema(url: url, schema: schema) }
        try await makeProvider(servers[0], maxConcurrentJobs: 3)
        _ = try await servers[0].submit((0..<60).map { newJob("j\($0)", created: t0 + Millis($0)) })

        var completed = 0
        for round in 0..<30 {
            // Six agents, three on each server, claim at once.
            let claimed = try await withThrowingTaskGroup(of: [ClaimedJob].self) { group in
                for agent in 0..<6 {
                    group.addTask {
                        try await servers[agent % 2].claim(
                            provider: "p", clientId: "a\(agent)", models: ["m"], max: 2, leaseSeconds: 30, now: t0)
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let running = try await servers[1].queryJobs(JobQuery(limit: 1000)).filter { $0.status == .inProcess }
            #expect(running.count <= 3, "round \(round): \(running.count) jobs running under a cap of 3")
            #expect(claimed.count <= 3)
            // Finish one of them through the other server, freeing one slot.
            guard let first = claimed.first else { break }
            _ = try await servers[round % 2].complete(
                provider: "p", jobId: first.job.id, token: first.token, results: [], now: t0)
            completed += 1
        }
        #expect(completed == 30, "every round should have found a free slot")
        for server in servers { await server.close() }
    }
}

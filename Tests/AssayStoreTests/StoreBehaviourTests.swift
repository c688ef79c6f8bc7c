import AssayInfotable
import AssayStore
import Foundation
import Testing

/// The `JobStore` contract, written once against `any JobStore` and run on every store kind that
/// `makeFixtures` returns (SQLite always, PostgreSQL when configured).
@Suite struct StoreBehaviourTests {
    // MARK: - Catalog

    @Test func providersCreateReadUpdateDelete() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s, "p", models: [])
            await expectError("CONFLICT", "\(f.name) duplicate provider") {
                try await s.createProvider(ProviderRecord(name: "p"))
            }
            var p = try #require(try await s.provider("p"))
            #expect(p.createdTime == t0 && p.maxAttempts == 3)
            p.maxConcurrentJobs = 7
            p.description = "changed"
            try await s.updateProvider(p)
            #expect(try await s.provider("p") == p)
            await expectError("UNKNOWN_PROVIDER", "\(f.name) update unknown") {
                try await s.updateProvider(ProviderRecord(name: "nope"))
            }
            try await s.createModel(ModelRecord(provider: "p", name: "m", inputShapeJSON: "[]", resultShapeJSON: "[]"))
            await expectError("CONFLICT", "\(f.name) delete provider with models") { try await s.deleteProvider("p") }
            await expectError("UNKNOWN_PROVIDER", "\(f.name) delete unknown") { try await s.deleteProvider("nope") }
            try await s.deleteModel(provider: "p", model: "m")
            try await s.deleteProvider("p")
            #expect(try await s.provider("p") == nil)
            #expect(try await s.providers().isEmpty)
        }
    }

    @Test func modelsAndModelFiles() async throws {
        try await forEachStore { f in
            let s = f.store
            let model = ModelRecord(
                provider: "p", name: "m", description: "d", inputShapeJSON: "[1]", resultShapeJSON: "[2]",
                cardinality: "NxN", fileName: "m.pmml", createdTime: t0)
            await expectError("UNKNOWN_PROVIDER", "\(f.name) model of unknown provider") {
                try await s.createModel(model)
            }
            try await makeProvider(s, "p", models: [])
            try await makeProvider(s, "q", models: ["other"])
            try await s.createModel(model)
            await expectError("CONFLICT", "\(f.name) duplicate model") { try await s.createModel(model) }
            #expect(try await s.model(provider: "p", model: "m") == model)
            #expect(try await s.models(provider: "p") == [model])
            #expect(try await s.models(provider: nil).count == 2)
            try await s.setModelEnabled(provider: "p", model: "m", enabled: false)
            #expect(try await s.model(provider: "p", model: "m")?.enabled == false)
            await expectError("UNKNOWN_MODEL", "\(f.name) enable unknown") {
                try await s.setModelEnabled(provider: "p", model: "x", enabled: true)
            }
            await expectError("UNKNOWN_MODEL", "\(f.name) delete unknown") {
                try await s.deleteModel(provider: "p", model: "x")
            }
            _ = try await s.submit([newJob("j1")])
            await expectError("CONFLICT", "\(f.name) delete model with waiting job") {
                try await s.deleteModel(provider: "p", model: "m")
            }
            let claimed = try await s.claim(
                provider: "p", clientId: "a", models: ["m"], max: 1, leaseSeconds: 30, now: t0)
            await expectError("CONFLICT", "\(f.name) delete model with running job") {
                try await s.deleteModel(provider: "p", model: "m")
            }
            _ = try await s.complete(provider: "p", jobId: "j1", token: claimed[0].token, results: [1], now: t0)
            try await s.deleteModel(provider: "p", model: "m")
            #expect(try await s.model(provider: "p", model: "m") == nil)

            try await s.putModelFile(provider: "p", name: "a.pmml", data: [1, 2, 3])
            #expect(try await s.modelFile(provider: "p", name: "a.pmml") == [1, 2, 3])
            try await s.putModelFile(provider: "p", name: "a.pmml", data: [])
            #expect(try await s.modelFile(provider: "p", name: "a.pmml") == [])
            #expect(try await s.modelFile(provider: "p", name: "b.pmml") == nil)
        }
    }

    @Test func applicationKeys() async throws {
        try await forEachStore { f in
            let s = f.store
            let agent = KeyRecord(name: "agent1", role: .agent, providers: ["p", "q"], hash: "h1", createdTime: t0)
            try await s.createKey(agent)
            try await s.createKey(KeyRecord(name: "admin", role: .admin, hash: "h2", createdTime: t0))
            await expectError("CONFLICT", "\(f.name) duplicate key name") {
                try await s.createKey(KeyRecord(name: "agent1", role: .user, hash: "h3"))
            }
            #expect(try await s.key(hash: "h1") == agent)
            #expect(try await s.key(hash: "zz") == nil)
            #expect(try await s.keys().map(\.name) == ["admin", "agent1"])
            #expect(try await s.deleteKey(name: "agent1"))
            #expect(try await !s.deleteKey(name: "agent1"))
            #expect(try await s.key(hash: "h1") == nil)
        }
    }

    // MARK: - Submitting

    @Test func submittedJobsSurviveReopening() async throws {
        try await forEachStore { f in
            try await makeProvider(f.store)
            var ids: [String] = []
            for batch in 0..<10 {
                let jobs = (0..<10).map { newJob("j\(batch)-\($0)", priority: $0, created: t0 + Millis(batch)) }
                ids += try await f.store.submit(jobs)
            }
            #expect(ids.count == 100)
            await f.store.close()
            let again = try await f.reopen()
            for id in ids {
                let job = try await again.job(provider: "p", id: id)
                #expect(job?.status == .waiting && job?.attempt == 1, "\(f.name) \(id)")
                #expect(try await again.jobInput(provider: "p", id: id) == Array("in-\(id)".utf8))
            }
            await again.close()
        }
    }

    @Test func jobsAreReadManyAtOnceWithinTheirProvider() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s)
            try await makeProvider(s, "other")
            let ids = try await s.submit((0..<5).map { newJob("j\($0)") })
            let foreign = try await s.submit([newJob("x", provider: "other")])

            let read = try await s.jobs(provider: "p", ids: [ids[3], "missing", ids[0], foreign[0], ids[3]])

            #expect(Set(read.map(\.id)) == [ids[0], ids[3]], "\(f.name)")
            #expect(read.count == 2, "\(f.name): each job once")
            #expect(read.allSatisfy { $0.provider == "p" && $0.status == .waiting })
            #expect(try await s.jobs(provider: "p", ids: []).isEmpty)
        }
    }

    @Test(.timeLimit(.minutes(1))) func reportsToAClosedStoreFailAtOnce() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s)
            _ = try await s.submit([newJob("a"), newJob("b")])
            let claimed = try await s.claim(
                provider: "p", clientId: "c", models: ["m"], max: 2, leaseSeconds: 30, now: t0)
            await s.close()

            for job in claimed {
                await expectError("STORE_UNAVAILABLE", "\(f.name) complete") {
                    _ = try await s.complete(provider: "p", jobId: job.job.id, token: job.token, results: [], now: t0)
                }
            }
        }
    }

    @Test func submitValidatesAndRecordsFinishedJobs() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s)
            await expectError("UNKNOWN_PROVIDER", "\(f.name)") { _ = try await s.submit([newJob("x", provider: "z")]) }
            await expectError("UNKNOWN_MODEL", "\(f.name)") { _ = try await s.submit([newJob("x", model: "z")]) }
            _ = try await s.submit([newJob("a")])
            await expectError("CONFLICT", "\(f.name) duplicate id") {
                _ = try await s.submit([newJob("b"), newJob("a")])
            }
            #expect(try await s.job(provider: "p", id: "b") == nil, "a failed batch stores nothing")

            var done = newJob("done")
            done.finishedResult = [9]
            var bad = newJob("bad")
            bad.failure = JobFailure(errorCode: "INVALID_INPUT", message: "row 0", details: "x")
            _ = try await s.submit([done, bad])
            #expect(try await s.job(provider: "p", id: "done")?.status == .completed)
            #expect(try await s.jobResults(provider: "p", id: "done") == [9])
            let failed = try #require(try await s.job(provider: "p", id: "bad"))
            #expect(failed.status == .failed && failed.errorCode == "INVALID_INPUT" && failed.endTime == t0)
            #expect(try await s.jobErrors(provider: "p", id: "bad").map(\.errorCode) == ["INVALID_INPUT"])
            #expect(try await s.jobResults(provider: "p", id: "a") == nil, "no results before completion")
        }
    }

    @Test func idempotencyKeysReturnTheFirstJob() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s, "p")
            try await makeProvider(s, "q")
            let first = try await s.submit([newJob("a", key: "k")])
            let second = try await s.submit([newJob("b", key: "k")])
            #expect(first == ["a"] && second == ["a"])
            #expect(try await s.job(provider: "p", id: "b") == nil)
            #expect(try await s.submit([newJob("c", provider: "q", key: "k")]) == ["c"], "keys are per provider")
            #expect(try await s.submit([newJob("d", key: "k2"), newJob("e", key: "k2")]) == ["d", "d"])
        }
    }

    // MARK: - Claiming

    @Test func claimsByPriorityThenAgeWithIncreasingTokens() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s, models: ["m", "other"])
            _ = try await s.submit([
                newJob("old-low", priority: 0, created: t0),
                newJob("new-high", priority: 5, created: t0 + 10),
                newJob("old-high", priority: 5, created: t0 + 1),
                newJob("new-low", priority: 0, created: t0 + 20),
                newJob("elsewhere", model: "other", priority: 9, created: t0),
            ])
            let first = try await s.claim(
                provider: "p", clientId: "a", models: ["m"], max: 3, leaseSeconds: 30, now: t0)
            #expect(first.map(\.job.id) == ["old-high", "new-high", "old-low"])
            let rest = try await s.claim(provider: "p", clientId: "a", models: ["m"], max: 3, leaseSeconds: 30, now: t0)
            #expect(rest.map(\.job.id) == ["new-low"])
            let tokens = (first + rest).map(\.token)
            #expect(tokens == tokens.sorted() && Set(tokens).count == 4)
            let job = first[0].job
            #expect(job.status == .inProcess && job.clientId == "a" && job.startTime == t0)
            #expect(job.leaseExpires == t0 + 30_000 && job.leaseToken == first[0].token && job.attempt == 1)
            #expect(first[0].input == Array("in-old-high".utf8))
            #expect(
                try await s.claim(provider: "p", clientId: "a", models: ["m"], max: 3, leaseSeconds: 30, now: t0)
                    .isEmpty)
            await expectError("UNKNOWN_PROVIDER", "\(f.name)") {
                _ = try await s.claim(provider: "z", clientId: "a", models: ["m"], max: 1, leaseSeconds: 30, now: t0)
            }
        }
    }

    @Test func claimsHonourMaxConcurrentJobs() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s, maxConcurrentJobs: 2)
            _ = try await s.submit((0..<5).map { newJob("j\($0)", created: t0 + Millis($0)) })
            let a = try await s.claim(provider: "p", clientId: "a", models: ["m"], max: 5, leaseSeconds: 30, now: t0)
            #expect(a.count == 2)
            #expect(
                try await s.claim(provider: "p", clientId: "b", models: ["m"], max: 5, leaseSeconds: 30, now: t0)
                    .isEmpty)
            _ = try await s.complete(provider: "p", jobId: a[0].job.id, token: a[0].token, results: [], now: t0)
            let b = try await s.claim(provider: "p", clientId: "b", models: ["m"], max: 5, leaseSeconds: 30, now: t0)
            #expect(b.map(\.job.id) == ["j2"])
        }
    }

    @Test func delayedRetriesWaitForNotBefore() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s)
            _ = try await s.submit([newJob("j")])
            let c1 = try await s.claim(provider: "p", clientId: "a", models: ["m"], max: 1, leaseSeconds: 30, now: t0)
            let failure = JobFailure(errorCode: "FLAKY", message: "try again", retryable: true)
            let waiting = try await s.fail(provider: "p", jobId: "j", token: c1[0].token, failure: failure, now: t0)
            let notBefore = try #require(waiting.notBefore)
            #expect(notBefore >= t0 + 500 && notBefore <= t0 + 1000, "first retry waits 0.5 to 1 s")
            #expect(
                try await s.claim(
                    provider: "p", clientId: "a", models: ["m"], max: 1, leaseSeconds: 30, now: notBefore - 1
                ).isEmpty)
            let c2 = try await s.claim(
                provider: "p", clientId: "a", models: ["m"], max: 1, leaseSeconds: 30, now: notBefore)
            #expect(c2.map(\.job.attempt) == [2])
            #expect(c2.first?.job.notBefore == nil)
        }
    }

    @Test func statefulSessionsPinJobsToTheFirstClaimer() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s)
            try await s.setSessionStateful("S", stateful: true, now: t0)
            #expect(try await s.isSessionStateful("S"))
            #expect(try await !s.isSessionStateful("T"))
            _ = try await s.submit([
                newJob("s1", priority: 9, created: t0, session: "S"),
                newJob("s2", priority: 9, created: t0 + 1, session: "S"),
                newJob("s3", priority: 9, created: t0 + 2, session: "S"),
                newJob("free", priority: 0, created: t0),
            ])
            let a1 = try await s.claim(provider: "p", clientId: "A", models: ["m"], max: 1, leaseSeconds: 30, now: t0)
            #expect(a1.map(\.job.id) == ["s1"])
            let b1 = try await s.claim(provider: "p", clientId: "B", models: ["m"], max: 5, leaseSeconds: 30, now: t0)
            #expect(b1.map(\.job.id) == ["free"], "B never gets jobs of A's session")
            let a2 = try await s.claim(provider: "p", clientId: "A", models: ["m"], max: 5, leaseSeconds: 30, now: t0)
            #expect(a2.map(\.job.id) == ["s2", "s3"])

            try await s.setSessionStateful("S", stateful: false, now: t0)
            #expect(try await !s.isSessionStateful("S"))
            _ = try await s.submit([newJob("s4", session: "S")])
            let b2 = try await s.claim(provider: "p", clientId: "B", models: ["m"], max: 5, leaseSeconds: 30, now: t0)
            #expect(b2.map(\.job.id) == ["s4"], "an ended session releases its agent")
        }
    }

    // MARK: - Leases and results

    @Test func heartbeatsRenewLeasesAndReportLostAttempts() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s)
            _ = try await s.submit([newJob("a", created: t0), newJob("b", created: t0 + 1)])
            let c = try await s.claim(provider: "p", clientId: "A", models: ["m"], max: 2, leaseSeconds: 10, now: t0)
            _ = try await s.retry(provider: "p", jobId: "b", now: t0 + 1)
            let refs = c.map { AttemptRef(jobId: $0.job.id, token: $0.token) } + [AttemptRef(jobId: "zz", token: 1)]
            let lost = try await s.heartbeat(client: client("A"), attempts: refs, leaseSeconds: 10, now: t0 + 5000)
            #expect(Set(lost) == [refs[1], refs[2]])
            #expect(try await s.job(provider: "p", id: "a")?.leaseExpires == t0 + 15_000)
            let clients = try await s.clients(provider: "p")
            #expect(clients.map(\.clientId) == ["A"] && clients.first?.lastHeartbeat == t0 + 5000)
            #expect(clients.first?.hostName == "host-A")
            try await s.removeClient(clientId: "A")
            #expect(try await s.clients(provider: "p").isEmpty)
        }
    }

    @Test func completeRequiresTheCurrentToken() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s)
            _ = try await s.submit([newJob("j")])
            let c = try await s.claim(provider: "p", clientId: "A", models: ["m"], max: 1, leaseSeconds: 30, now: t0)
            let token = c[0].token
            await expectError("LEASE_LOST", "\(f.name) wrong token") {
                _ = try await s.complete(provider: "p", jobId: "j", token: token + 100, results: [], now: t0)
            }
            await expectError("UNKNOWN_JOB", "\(f.name)") {
                _ = try await s.complete(provider: "p", jobId: "nope", token: token, results: [], now: t0)
            }
            let done = try await s.complete(provider: "p", jobId: "j", token: token, results: [7, 8], now: t0 + 50)
            #expect(done.status == .completed && done.endTime == t0 + 50 && done.errorCode == nil)
            #expect(try await s.jobResults(provider: "p", id: "j") == [7, 8])
            await expectError("LEASE_LOST", "\(f.name) second completion") {
                _ = try await s.complete(provider: "p", jobId: "j", token: token, results: [], now: t0)
            }
            await expectError("LEASE_LOST", "\(f.name) fail after completion") {
                _ = try await s.fail(
                    provider: "p", jobId: "j", token: token, failure: JobFailure(errorCode: "X", message: "x"), now: t0)
            }
        }
    }

    @Test func retryableFailuresRetryUntilAttemptsRunOut() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s)
            _ = try await s.submit([newJob("j", maxAttempts: 2), newJob("k", created: t0 + 1)])
            var now = t0
            let flaky = JobFailure(errorCode: "FLAKY", message: "busy", details: "d", retryable: true)
            let c1 = try await s.claim(provider: "p", clientId: "A", models: ["m"], max: 1, leaseSeconds: 30, now: now)
            let w = try await s.fail(provider: "p", jobId: "j", token: c1[0].token, failure: flaky, now: now)
            #expect(w.status == .waiting && w.attempt == 2 && w.leaseToken == nil && w.clientId == nil)
            #expect(w.errorCode == "FLAKY")
            now += 1_000_000
            let c2 = try await s.claim(provider: "p", clientId: "A", models: ["m"], max: 1, leaseSeconds: 30, now: now)
            #expect(c2.map(\.job.id) == ["j"])
            let final = try await s.fail(provider: "p", jobId: "j", token: c2[0].token, failure: flaky, now: now)
            #expect(final.status == .failed && final.attempt == 2 && final.endTime == now)
            let errors = try await s.jobErrors(provider: "p", id: "j")
            #expect(
                errors.map(\.attempt) == [1, 2] && errors.allSatisfy { $0.errorCode == "FLAKY" && $0.details == "d" })
            #expect(errors.first?.jobId == "j" && errors.first?.timestamp == t0)

            let c3 = try await s.claim(provider: "p", clientId: "A", models: ["m"], max: 1, leaseSeconds: 30, now: now)
            let fatal = JobFailure(errorCode: "MODEL_FAILED", message: "bad", retryable: false)
            let k = try await s.fail(provider: "p", jobId: "k", token: c3[0].token, failure: fatal, now: now)
            #expect(k.status == .failed && k.attempt == 1 && k.errorMessage == "bad")
        }
    }

    @Test func retryJobRestartsFailedAndRunningJobs() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s)
            _ = try await s.submit([
                newJob("f", created: t0), newJob("r", created: t0 + 1), newJob("w", created: t0 + 2),
            ])
            let c = try await s.claim(provider: "p", clientId: "A", models: ["m"], max: 2, leaseSeconds: 30, now: t0)
            _ = try await s.fail(
                provider: "p", jobId: "f", token: c[0].token, failure: JobFailure(errorCode: "E", message: "e"), now: t0
            )
            let f2 = try await s.retry(provider: "p", jobId: "f", now: t0 + 1)
            #expect(f2.status == .waiting && f2.attempt == 2 && f2.notBefore == nil && f2.endTime == nil)
            let r2 = try await s.retry(provider: "p", jobId: "r", now: t0 + 1)
            #expect(r2.status == .waiting && r2.attempt == 2 && r2.leaseToken == nil)
            #expect(try await s.jobErrors(provider: "p", id: "r").map(\.errorCode) == ["ABANDONED"])
            await expectError("LEASE_LOST", "\(f.name) abandoned attempt") {
                _ = try await s.complete(provider: "p", jobId: "r", token: c[1].token, results: [], now: t0)
            }
            await expectError("JOB_NOT_RETRYABLE", "\(f.name) waiting") {
                _ = try await s.retry(provider: "p", jobId: "w", now: t0)
            }
            await expectError("UNKNOWN_JOB", "\(f.name)") { _ = try await s.retry(provider: "p", jobId: "x", now: t0) }
            let again = try await s.claim(
                provider: "p", clientId: "B", models: ["m"], max: 5, leaseSeconds: 30, now: t0)
            #expect(Set(again.map(\.job.id)) == ["f", "r", "w"], "retried jobs are runnable at once")
            let done = again.first { $0.job.id == "w" }!
            _ = try await s.complete(provider: "p", jobId: "w", token: done.token, results: [], now: t0)
            await expectError("JOB_NOT_RETRYABLE", "\(f.name) completed") {
                _ = try await s.retry(provider: "p", jobId: "w", now: t0)
            }
        }
    }

    @Test func expiredLeasesAreRescued() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s)
            _ = try await s.submit([newJob("j", maxAttempts: 2)])
            let c1 = try await s.claim(provider: "p", clientId: "A", models: ["m"], max: 1, leaseSeconds: 10, now: t0)
            #expect(try await s.rescueExpiredLeases(now: t0 + 5000).isEmpty)
            let rescued = try await s.rescueExpiredLeases(now: t0 + 10_001)
            #expect(rescued.map(\.id) == ["j"] && rescued.first?.status == .waiting && rescued.first?.attempt == 2)
            await expectError("LEASE_LOST", "\(f.name) late result") {
                _ = try await s.complete(provider: "p", jobId: "j", token: c1[0].token, results: [], now: t0)
            }
            let later = t0 + 10_000_000
            let c2 = try await s.claim(
                provider: "p", clientId: "B", models: ["m"], max: 1, leaseSeconds: 10, now: later)
            #expect(c2.first?.job.attempt == 2)
            let last = try await s.rescueExpiredLeases(now: later + 20_000)
            #expect(last.first?.status == .failed && last.first?.errorCode == "LEASE_EXPIRED")
            #expect(
                try await s.jobErrors(provider: "p", id: "j").map(\.errorCode) == ["LEASE_EXPIRED", "LEASE_EXPIRED"])
        }
    }

    @Test func lostAgentsEndTheirSessions() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s)
            try await s.setSessionStateful("S", stateful: true, now: t0)
            _ = try await s.heartbeat(client: client("A"), attempts: [], leaseSeconds: 30, now: t0)
            _ = try await s.heartbeat(client: client("B"), attempts: [], leaseSeconds: 30, now: t0 + 20_000)
            _ = try await s.submit([newJob("s1", session: "S"), newJob("s2", created: t0 + 1, session: "S")])
            let a = try await s.claim(provider: "p", clientId: "A", models: ["m"], max: 1, leaseSeconds: 30, now: t0)
            #expect(a.map(\.job.id) == ["s1"])
            #expect(try await s.expireClients(leaseSeconds: 30, now: t0 + 29_000).isEmpty)
            let failed = try await s.expireClients(leaseSeconds: 30, now: t0 + 31_000)
            #expect(failed.map(\.id) == ["s2"] && failed.first?.errorCode == "SESSION_LOST")
            #expect(failed.first?.status == .failed)
            #expect(try await s.clients(provider: "p").map(\.clientId) == ["B"])
            #expect(try await !s.isSessionStateful("S"))
            #expect(try await s.job(provider: "p", id: "s1")?.status == .inProcess, "running jobs await lease expiry")
        }
    }

    @Test func purgeDeletesOldFinishedJobs() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s, "p", purgeHours: 1)
            try await makeProvider(s, "keep", purgeHours: 0)
            var old = newJob("old")
            old.finishedResult = [1]
            var recent = newJob("recent", created: t0 + 3_000_000)
            recent.finishedResult = [1]
            var kept = newJob("kept", provider: "keep")
            kept.finishedResult = [1]
            var failed = newJob("failed")
            failed.failure = JobFailure(errorCode: "E", message: "e")
            _ = try await s.submit([old, recent, kept, failed, newJob("waiting")])
            let deleted = try await s.purgeFinishedJobs(now: t0 + 3_700_000)
            #expect(deleted == 2)
            #expect(try await s.job(provider: "p", id: "old") == nil)
            #expect(try await s.job(provider: "p", id: "failed") == nil)
            #expect(try await s.jobErrors(provider: "p", id: "failed").isEmpty)
            #expect(try await s.job(provider: "p", id: "recent") != nil)
            #expect(try await s.job(provider: "p", id: "waiting") != nil)
            #expect(try await s.job(provider: "keep", id: "kept") != nil)
        }
    }

    @Test func resultFilesBelongToTheRunningAttempt() async throws {
        try await forEachStore { f in
            let s = f.store
            try await makeProvider(s)
            _ = try await s.submit([newJob("j")])
            let c1 = try await s.claim(provider: "p", clientId: "A", models: ["m"], max: 1, leaseSeconds: 30, now: t0)
            let info = FileInfo(name: "out.csv", contentType: "text/csv", size: 3)
            try await s.putResultFile(
                provider: "p", jobId: "j", token: c1[0].token, file: info, data: [1, 2, 3], now: t0)
            try await s.putResultFile(
                provider: "p", jobId: "j", token: c1[0].token,
                file: FileInfo(name: "a.txt", contentType: "text/plain", size: 0), data: [], now: t0)
            #expect(try await s.jobFiles(provider: "p", id: "j").map(\.name) == ["a.txt", "out.csv"])
            let file = try #require(try await s.jobFile(provider: "p", id: "j", name: "out.csv"))
            #expect(file.0 == info && file.1 == [1, 2, 3])
            #expect(try await s.jobFile(provider: "p", id: "j", name: "zz") == nil)
            await expectError("LEASE_LOST", "\(f.name)") {
                try await s.putResultFile(provider: "p", jobId: "j", token: 999_999, file: info, data: [], now: t0)
            }
            _ = try await s.retry(provider: "p", jobId: "j", now: t0)
            _ = try await s.claim(provider: "p", clientId: "A", models: ["m"], max: 1, leaseSeconds: 30, now: t0)
            #expect(try await s.jobFiles(provider: "p", id: "j").isEmpty, "a new attempt starts without files")
        }
    }

    // MARK: - Events

    @Test func eventsFollowCommits() async throws {
        try await forEachStore { f in
            let s = f.store
            let log = EventLog(s)
            try await makeProvider(s, maxConcurrentJobs: 1)
            _ = try await s.submit([newJob("a"), newJob("b", created: t0 + 1)])
            #expect(await log.waitFor(.jobsAvailable(provider: "p")))
            let c = try await s.claim(provider: "p", clientId: "A", models: ["m"], max: 1, leaseSeconds: 30, now: t0)
            log.clear()
            _ = try await s.complete(provider: "p", jobId: "a", token: c[0].token, results: [], now: t0)
            #expect(await log.waitFor(.jobChanged(provider: "p", jobId: "a")))
            #expect(await log.waitFor(.jobsAvailable(provider: "p")), "a freed slot on a capped provider")
            let b = try await s.claim(provider: "p", clientId: "A", models: ["m"], max: 1, leaseSeconds: 30, now: t0)
            log.clear()
            // A retry due "now" in wall-clock terms: the writer announces it without any further write.
            let now = Millis(Date.now.timeIntervalSince1970 * 1000)
            _ = try await s.fail(
                provider: "p", jobId: "b", token: b[0].token,
                failure: JobFailure(errorCode: "E", message: "e", retryable: true), now: now)
            #expect(await log.waitFor(.jobChanged(provider: "p", jobId: "b")))
            log.clear()
            #expect(await log.waitFor(.jobsAvailable(provider: "p")), "the delayed retry is announced when due")
        }
    }
}

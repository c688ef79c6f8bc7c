import AssayInfotable
import AssayStore

/// The background work of a server: the maintenance loop (lease rescue, lost agents, retention
/// purge — run by one server of a cluster at a time) and the workers that score the SubmitJob jobs
/// of in-server providers.
extension JobEngine {
    func maintenanceLoop() async {
        var lastPurge = ContinuousClock.now - .seconds(3600)
        var wasLeader = false
        defer { maintenanceRole.store(false, ordering: .relaxed) }
        while !Task.isCancelled {
            let leader = await store.holdsMaintenanceRole()
            maintenanceRole.store(leader, ordering: .relaxed)
            if leader {
                if !wasLeader {
                    Log.info("maintenance role taken", ["server": serverClientId])
                    wasLeader = true
                }
                await runMaintenance(
                    purge: ContinuousClock.now - lastPurge >= .seconds(configuration.purgeIntervalSeconds))
                if ContinuousClock.now - lastPurge >= .seconds(configuration.purgeIntervalSeconds) {
                    lastPurge = ContinuousClock.now
                }
            } else if wasLeader {
                Log.info("maintenance role lost", ["server": serverClientId])
                wasLeader = false
            }
            try? await Task.sleep(for: .milliseconds(Int64(configuration.maintenanceIntervalSeconds * 1000)))
        }
    }

    /// One pass of maintenance; public so tests and tools can run it on demand.
    public func runMaintenance(purge: Bool) async {
        let now = WallClock.nowMillis()
        do {
            for job in try await store.rescueExpiredLeases(now: now) {
                Log.warning(
                    "lease expired, job taken back",
                    [
                        "job.id": job.id, "provider": job.provider, "model": job.model, "attempt": String(job.attempt),
                        "status": job.status.rawValue,
                    ])
            }
            for job in try await store.expireClients(leaseSeconds: configuration.leaseSeconds, now: now) {
                Log.warning(
                    "agent lost, session job failed",
                    ["job.id": job.id, "provider": job.provider, "session": job.sessionId ?? ""])
            }
            if purge {
                let purged = try await store.purgeFinishedJobs(now: now)
                if purged > 0 { Log.info("finished jobs purged", ["count": String(purged)]) }
            }
        } catch {
            Log.warning("maintenance pass failed", ["error": "\(error)"])
        }
    }

    /// Takes jobs of in-server providers and scores them here.
    func inServerWorkerLoop() async {
        while !Task.isCancelled {
            let waiter = waiters.register("in-server")
            var worked = false
            do {
                worked = try await scoreAvailableJobs()
            } catch {
                Log.warning("in-server worker pass failed", ["error": "\(error)"])
            }
            if !worked { await waiter.wait(seconds: configuration.recheckSeconds) }
            waiters.unregister(waiter)
        }
    }

    private func scoreAvailableJobs() async throws -> Bool {
        var worked = false
        let providers = try await store.providers().filter { runtime(for: $0) != nil }
        inServerProviders.withLock { $0 = Set(providers.map(\.name)) }
        for provider in providers {
            guard let runtime = runtime(for: provider) else { continue }
            let models = try await store.models(provider: provider.name).filter(\.enabled).map(\.name)
            guard !models.isEmpty else { continue }
            let jobs = try await store.claim(
                provider: provider.name, clientId: serverClientId, models: models, max: 8,
                leaseSeconds: configuration.leaseSeconds, now: WallClock.nowMillis())
            for claimed in jobs {
                worked = true
                await scoreClaimed(claimed, runtime: runtime)
            }
        }
        return worked
    }

    // TODO: in-server attempts are not heartbeated; a job whose scoring outlasts the lease is taken
    // back and scored again. Split very large inputs until scoring renews its lease.
    private func scoreClaimed(_ claimed: ClaimedJob, runtime: any ModelRuntime) async {
        let job = claimed.job
        do {
            let model = try await catalog.model(provider: job.provider, model: job.model)
            let input = try Infotable(json: try JSON.parse(claimed.input))
            let result = try await score(model, input: input, runtime: runtime)
            _ = try await store.complete(
                provider: job.provider, jobId: job.id, token: claimed.token, results: JSON.serialize(result.json),
                now: WallClock.nowMillis())
        } catch {
            let assayError = error as? AssayError ?? .internalError("\(error)")
            let failure = JobFailure(errorCode: assayError.code, message: assayError.message)
            do {
                let failed = try await store.fail(
                    provider: job.provider, jobId: job.id, token: claimed.token, failure: failure,
                    now: WallClock.nowMillis())
                logFailure(failed, failure)
            } catch {
                Log.warning("could not record a failed job", ["job.id": job.id, "error": "\(error)"])
            }
        }
    }
}

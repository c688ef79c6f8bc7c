import AssayInfotable
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What one server of a PostgreSQL cluster does to cooperate with the others, on one thread with
/// one connection of its own, away from the hot transactions:
///
/// - **Events.** Store events committed here are sent to the other servers with NOTIFY after the
///   commit, coalesced (duplicates dropped, many events per payload), so that no job transaction
///   takes PostgreSQL's notification lock. Events from other servers arrive by LISTEN on the same
///   connection and are handed to the local subscribers. A lost notification costs at most the
///   waiters' recheck interval (one second): ExecuteJob callers and long-polling agents look at
///   the store again that often anyway.
/// - **The maintenance role.** The holder of a session-level advisory lock runs lease rescue,
///   retries and purges. The lock goes with the connection, so when its server dies, or loses
///   PostgreSQL, a survivor's next try (every second) takes it.
/// - **Delayed retries.** A job failed with a retry delay becomes runnable later without any
///   write; this thread announces `.jobsAvailable` for its provider (here and to the others) when
///   the earliest such job of the provider comes due. Its notices live in memory and are read back
///   from the jobs table at start; a server that dies with notices pending leaves them to the
///   others' rechecks.
/// - **Fairness after an outage.** Whoever takes the role first extends the leases of running
///   jobs, and the last-contact times of agents, to one full lease from now: while PostgreSQL (or
///   the previous holder) was away, agents could not renew them, and must not lose their jobs
///   for it.
final class PostgresCluster: @unchecked Sendable {
    private let connection: PostgresConnection
    private let channel: String
    private let lockKey: Int32
    private let instance: String
    private let leaseSeconds: Double
    private let health: PostgresHealth
    private let deliver: @Sendable ([StoreEvent]) -> Void
    private let role = Atomic<Bool>(false)
    private let outgoing = Mutex<[StoreEvent]>([])
    /// Provider → when to announce it.
    private let notices = Mutex<[String: Millis]>([:])
    private let stopping = Atomic<Bool>(false)
    private let stopped = ThreadCondition()
    private var finished = false
    private var wakeRead: Int32 = -1
    private var wakeWrite: Int32 = -1
    private var listening = false
    /// Largest payload NOTIFY accepts is 8000 bytes; stay under it with room for the envelope.
    static let payloadLimit = 7000
    static let checkInterval: Millis = 1000

    init(
        connection: PostgresConnection, channel: String, lockKey: Int32, leaseSeconds: Double, health: PostgresHealth,
        deliver: @escaping @Sendable ([StoreEvent]) -> Void
    ) throws {
        self.connection = connection
        self.channel = channel
        self.lockKey = lockKey
        self.instance = Self.randomInstance()
        self.leaseSeconds = leaseSeconds
        self.health = health
        self.deliver = deliver
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw AssayError.internalError("Could not create the cluster thread's wake-up pipe: errno \(errno).")
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        _ = fcntl(wakeRead, F_SETFL, fcntl(wakeRead, F_GETFL) | O_NONBLOCK)
        _ = fcntl(wakeWrite, F_SETFL, fcntl(wakeWrite, F_GETFL) | O_NONBLOCK)
        // The first try is made before the store is handed out, so a lone server holds the role
        // from its first maintenance pass and its lease extension cannot race its first claims.
        try? prepareConnection()
        try? checkRole()
        try ThreadCondition.spawn { [self] in loop() }
    }

    var holdsRole: Bool { role.load(ordering: .acquiring) }

    /// Queues events for the other servers and wakes the thread.
    func send(_ events: [StoreEvent]) {
        guard !events.isEmpty else { return }
        outgoing.withLock { $0 += events }
        wake()
    }

    /// Announces `.jobsAvailable(provider)` once the wall clock reaches `due`.
    func schedule(_ scheduled: [(provider: String, due: Millis)]) {
        guard !scheduled.isEmpty else { return }
        notices.withLock { pending in
            for (provider, due) in scheduled where pending[provider].map({ due < $0 }) ?? true {
                pending[provider] = due
            }
        }
        wake()
    }

    func stop() {
        stopping.store(true, ordering: .releasing)
        wake()
        stopped.withLock {
            while !finished { stopped.wait() }
        }
        close(wakeRead)
        close(wakeWrite)
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    // MARK: - The thread

    private func loop() {
        var nextCheck: Millis = 0
        while !stopping.load(ordering: .acquiring) {
            do {
                if !connection.isOpen || !listening {
                    role.store(false, ordering: .releasing)
                    try prepareConnection()
                    nextCheck = 0
                }
                let now = WallClock.nowMillis()
                if now >= nextCheck {
                    try checkRole()
                    nextCheck = now + Self.checkInterval
                }
                try announceDueNotices()
                try flushOutgoing()
                let earliest = notices.withLock { $0.values.min() } ?? nextCheck
                waitForInput(untilMillis: Swift.min(nextCheck, earliest))
                let received = try connection.notifications()
                let events = received.filter { $0.channel == channel }.flatMap { decode($0.payload) }
                if !events.isEmpty { deliver(events) }
            } catch {
                role.store(false, ordering: .releasing)
                listening = false
                if let error = error as? PostgresError, error.isUnavailable { health.markDown(error) }
                connection.close()
                waitForInput(untilMillis: WallClock.nowMillis() + 250)
            }
        }
        if role.load(ordering: .acquiring), connection.isOpen {
            _ = try? connection.query("SELECT pg_advisory_unlock($1::int, 1)", [.int(Int64(lockKey))])
        }
        connection.close()
        stopped.withLock {
            finished = true
            stopped.broadcast()
        }
    }

    private func prepareConnection() throws {
        try health.connect(connection)
        try connection.execute("LISTEN \(PostgresStore.quoted(channel))")
        listening = true
        let due = try connection.query(
            "SELECT provider, MIN(not_before) FROM jobs WHERE status = 'WAITING' AND not_before IS NOT NULL "
                + "AND not_before > $1 GROUP BY provider", [.int(WallClock.nowMillis())])
        schedule((0..<due.count).map { (due.text($0, 0), due.int64($0, 1)) })
    }

    /// Publishes the notices that came due, here and to the other servers, and schedules each
    /// provider's next delayed job.
    private func announceDueNotices() throws {
        let now = WallClock.nowMillis()
        let due = notices.withLock { pending -> [String] in
            let providers = pending.filter { $0.value <= now }.map(\.key)
            for provider in providers { pending[provider] = nil }
            return providers
        }
        guard !due.isEmpty else { return }
        let events = due.map { StoreEvent.jobsAvailable(provider: $0) }
        deliver(events)
        outgoing.withLock { $0 += events }
        for provider in due {
            let next = try connection.query(
                "SELECT MIN(not_before) FROM jobs WHERE provider = $1 AND status = 'WAITING' AND not_before > $2",
                [.text(provider), .int(now)])
            if next.count > 0, let at = next.optionalInt64(0, 0) { schedule([(provider, at)]) }
        }
    }

    /// Takes the role when it is free; while holding it, proves the connection (and so the lock)
    /// is still there.
    private func checkRole() throws {
        guard listening else { return }
        if role.load(ordering: .acquiring) {
            try connection.query("SELECT 1")
            return
        }
        let taken = try connection.query("SELECT pg_try_advisory_lock($1::int, 1)", [.int(Int64(lockKey))])
        guard taken.count == 1, taken.bool(0, 0) else { return }
        let now = WallClock.nowMillis()
        let leaseUntil = now + Millis(leaseSeconds * 1000)
        let extended = try connection.run(
            "UPDATE jobs SET lease_expires = $1 WHERE status = 'INPROCESS' AND lease_expires < $1", [.int(leaseUntil)])
        try connection.run("UPDATE clients SET last_heartbeat = $1 WHERE last_heartbeat < $1", [.int(now)])
        role.store(true, ordering: .releasing)
        Log.info("maintenance lock taken", ["store": "postgresql", "leases.extended": String(extended)])
    }

    private func waitForInput(untilMillis deadline: Millis) {
        let timeout = Int32(max(0, min(deadline - WallClock.nowMillis(), 1000)))
        var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        let socket = connection.socket
        if socket >= 0 { fds.append(pollfd(fd: socket, events: Int16(POLLIN), revents: 0)) }
        _ = poll(&fds, nfds_t(fds.count), timeout)
        if fds[0].revents != 0 {
            var buffer = [UInt8](repeating: 0, count: 64)
            while read(wakeRead, &buffer, buffer.count) > 0 {}
        }
    }

    // MARK: - Payloads

    private func flushOutgoing() throws {
        let events = outgoing.withLock { pending -> [StoreEvent] in
            defer { pending.removeAll() }
            return pending
        }
        guard !events.isEmpty else { return }
        var seen: Set<String> = []
        var items: [JSONValue] = []
        for event in events {
            let item: JSONValue
            switch event {
            case .jobsAvailable(let provider): item = ["a", .string(provider)]
            case .jobChanged(let provider, let jobId): item = ["c", .string(provider), .string(jobId)]
            }
            if seen.insert(JSON.string(item)).inserted { items.append(item) }
        }
        var chunk: [JSONValue] = []
        var size = 0
        for item in items {
            let itemSize = JSON.string(item).utf8.count + 1
            if size + itemSize > Self.payloadLimit && !chunk.isEmpty {
                try notify(chunk)
                chunk = []
                size = 0
            }
            chunk.append(item)
            size += itemSize
        }
        if !chunk.isEmpty { try notify(chunk) }
    }

    private func notify(_ items: [JSONValue]) throws {
        let payload = JSON.string(["s": .string(instance), "e": .array(items)])
        guard payload.utf8.count < 8000 else { return }  // one event larger than NOTIFY allows: rechecks cover it
        try connection.query("SELECT pg_notify($1, $2)", [.text(channel), .text(payload)])
    }

    private func decode(_ payload: String) -> [StoreEvent] {
        guard let value = try? JSON.parse(payload), value["s"]?.stringValue != instance,
            let items = value["e"]?.arrayValue
        else { return [] }
        return items.compactMap { item -> StoreEvent? in
            guard let parts = item.arrayValue?.compactMap(\.stringValue) else { return nil }
            switch (parts.first, parts.count) {
            case ("a", 2): return .jobsAvailable(provider: parts[1])
            case ("c", 3): return .jobChanged(provider: parts[1], jobId: parts[2])
            default: return nil
            }
        }
    }

    private static func randomInstance() -> String {
        var bytes = [UInt8](repeating: 0, count: 8)
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
        return bytes.map { String($0, radix: 16) }.joined()
    }
}

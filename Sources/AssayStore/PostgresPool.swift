import AssayInfotable
import Synchronization

/// Worker threads, each owning one PostgreSQL connection, that run the store's operations.
///
/// A batched pool (the writers) takes everything queued so far, up to `maxBatch`, and runs it in
/// ONE transaction, so concurrent submissions, claims and reports share one commit and one WAL
/// flush (group commit, across operations of this server; PostgreSQL itself groups the commits
/// of concurrent connections). Savepoints would cost two round trips per operation, so a batch is
/// optimistic instead: an operation that throws before it changed any row simply fails alone,
/// and when one fails after writing, or PostgreSQL aborts the transaction (a unique violation, a
/// deadlock), the batch is rolled back and every operation runs again in a transaction of its
/// own. Operations therefore must not have effects outside the database before they return.
///
/// A single pool (the readers) runs each operation on its own in autocommit mode.
///
/// A connection that is lost is opened again on the next operation; while PostgreSQL cannot be
/// reached, operations fail at once with `STORE_UNAVAILABLE` instead of queueing up.
final class PostgresPool: @unchecked Sendable {
    /// What an operation may use besides its connection.
    final class Context {
        let connection: PostgresConnection
        let memo: BatchMemo
        fileprivate(set) var events: [StoreEvent] = []
        fileprivate(set) var notices: [(provider: String, due: Millis)] = []

        fileprivate init(connection: PostgresConnection, memo: BatchMemo) {
            self.connection = connection
            self.memo = memo
        }

        /// Announced to subscribers after the commit, unless the operation is rolled back.
        func announce(_ event: StoreEvent) { events.append(event) }

        /// Announces `.jobsAvailable(provider)` once the wall clock reaches `due`.
        func announceJobsAvailable(provider: String, at due: Millis) { notices.append((provider, due)) }
    }

    /// Where committed events and notices go.
    struct Sink: Sendable {
        var publish: @Sendable ([StoreEvent]) -> Void
        var schedule: @Sendable ([(provider: String, due: Millis)]) -> Void
    }

    /// Facts an operation established inside the current transaction, which later operations of
    /// the same batch may rely on (the locks that made them true are held until the commit).
    final class BatchMemo {
        /// "provider\0model" of models locked against deletion.
        var lockedModels: Set<String> = []
    }

    private struct Operation {
        let run: (Context) throws -> Void
        let finish: (Error?) -> Void
    }

    static let maxBatch = 512

    private let name: String
    private let batched: Bool
    private let health: PostgresHealth
    private let sink: Sink
    private let condition = ThreadCondition()
    private var queue: [Operation] = []
    private var head = 0
    private var closing = false
    private var running: Int
    private var stopWaiters: [CheckedContinuation<Void, Never>] = []
    /// Committed transactions, for the benchmark's report.
    let commits = Atomic<Int>(0)

    init(
        name: String, connections: [PostgresConnection], batched: Bool, health: PostgresHealth, sink: Sink
    ) throws {
        self.name = name
        self.batched = batched
        self.health = health
        self.sink = sink
        running = connections.count
        for connection in connections {
            try ThreadCondition.spawn { [self] in loop(connection) }
        }
    }

    func perform<T: Sendable>(_ body: @escaping @Sendable (Context) throws -> T) async throws -> T {
        let box = ResultBox<T>()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let operation = Operation(
                run: { context in box.value = try body(context) },
                finish: { error in
                    if let error {
                        continuation.resume(throwing: error)
                    } else {
                        continuation.resume(returning: box.value!)
                    }
                })
            condition.lock()
            if closing {
                condition.unlock()
                continuation.resume(throwing: AssayError.storeUnavailable("The store is closed."))
                return
            }
            queue.append(operation)
            condition.signal()
            condition.unlock()
        }
    }

    /// Lets queued operations finish, then stops the threads and closes the connections.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            if running == 0 {
                condition.unlock()
                continuation.resume()
                return
            }
            closing = true
            stopWaiters.append(continuation)
            condition.broadcast()
            condition.unlock()
        }
    }

    // MARK: - Worker threads

    private func loop(_ connection: PostgresConnection) {
        while true {
            condition.lock()
            while head == queue.count && !closing { condition.wait() }
            guard head < queue.count else {
                condition.unlock()
                break
            }
            let count = batched ? min(queue.count - head, Self.maxBatch) : 1
            let batch = Array(queue[head..<(head + count)])
            head += count
            if head == queue.count || head > 1024 {
                queue.removeFirst(head)
                head = 0
            }
            condition.unlock()
            run(batch, on: connection)
        }
        connection.close()
        condition.lock()
        running -= 1
        let waiters = running == 0 ? stopWaiters : []
        if running == 0 { stopWaiters = [] }
        condition.unlock()
        for waiter in waiters { waiter.resume() }
    }

    private func run(_ batch: [Operation], on connection: PostgresConnection) {
        do {
            try health.connect(connection)
        } catch {
            for operation in batch { operation.finish(error.asAssayError) }
            return
        }
        if !batched {
            runAlone(batch[0], on: connection, transaction: false)
        } else if batch.count == 1 {
            runAlone(batch[0], on: connection, transaction: true)
        } else {
            runTogether(batch, on: connection)
        }
    }

    /// One transaction for the whole batch; falls back to one transaction per operation.
    private func runTogether(_ batch: [Operation], on connection: PostgresConnection) {
        var outcomes: [Error?] = []
        var events: [StoreEvent] = []
        var notices: [(provider: String, due: Millis)] = []
        var mustSplit = false
        do {
            try connection.execute("BEGIN")
        } catch {
            fail(batch, error, connection)
            return
        }
        let memo = BatchMemo()
        for operation in batch {
            let context = Context(connection: connection, memo: memo)
            connection.resetChanges()
            do {
                try operation.run(context)
                outcomes.append(nil)
                events += context.events
                notices += context.notices
            } catch let error as PostgresError {
                if error.isUnavailable {
                    fail(batch, error, connection)
                    return
                }
                mustSplit = true
                break
            } catch {
                // A refusal (unknown job, lost lease, conflict) that changed nothing stays its own.
                guard connection.changedRows == 0, !connection.isInFailedTransaction else {
                    mustSplit = true
                    break
                }
                outcomes.append(error.asAssayError)
            }
        }
        if mustSplit {
            do {
                try connection.execute("ROLLBACK")
            } catch {
                fail(batch, error, connection)
                return
            }
            for operation in batch { runAlone(operation, on: connection, transaction: true) }
            return
        }
        do {
            try connection.execute("COMMIT")
        } catch {
            // Whether a COMMIT whose connection broke took effect cannot be known; callers get
            // 503 and may repeat (SubmitJob with an idempotency key is safe to repeat).
            fail(batch, error, connection)
            return
        }
        commits.add(1, ordering: .relaxed)
        for (operation, outcome) in zip(batch, outcomes) { operation.finish(outcome) }
        if !events.isEmpty { sink.publish(events) }
        if !notices.isEmpty { sink.schedule(notices) }
    }

    /// Runs one operation in its own transaction (or in autocommit mode), repeating it after a
    /// deadlock or serialisation failure.
    private func runAlone(_ operation: Operation, on connection: PostgresConnection, transaction: Bool) {
        var attempt = 0
        while true {
            attempt += 1
            let context = Context(connection: connection, memo: BatchMemo())
            do {
                if transaction { try connection.execute("BEGIN") }
                do {
                    try operation.run(context)
                } catch {
                    if transaction && connection.isOpen { try? connection.execute("ROLLBACK") }
                    throw error
                }
                if transaction {
                    try connection.execute("COMMIT")
                    commits.add(1, ordering: .relaxed)
                }
                operation.finish(nil)
                if !context.events.isEmpty { sink.publish(context.events) }
                if !context.notices.isEmpty { sink.schedule(context.notices) }
                return
            } catch let error as PostgresError where error.isTransient && attempt < 5 {
                continue
            } catch let error as PostgresError where error.isUnavailable {
                health.markDown(error)
                operation.finish(error.assayError)
                return
            } catch {
                operation.finish(error.asAssayError)
                return
            }
        }
    }

    private func fail(_ batch: [Operation], _ error: Error, _ connection: PostgresConnection) {
        if let error = error as? PostgresError, error.isUnavailable { health.markDown(error) }
        if connection.isOpen { try? connection.execute("ROLLBACK") }
        let assayError = error.asAssayError
        for operation in batch { operation.finish(assayError) }
    }
}

/// Whether PostgreSQL can be reached, as the store's connections last found it, and the one place
/// that (re)opens them, so that while it is down a connection is tried at most every 250 ms and
/// operations fail at once in between. Logs one line when the store goes down and one when it is
/// back.
final class PostgresHealth: Sendable {
    private struct State {
        var available = true
        var retryAfter: Millis = 0
        var lastError = ""
    }

    private let state = Mutex(State())

    var isAvailable: Bool { state.withLock { $0.available } }

    /// Opens `connection` if it is not open; throws `STORE_UNAVAILABLE` when that is not possible.
    func connect(_ connection: PostgresConnection) throws {
        if connection.isOpen { return }
        let now = WallClock.nowMillis()
        let (tooSoon, lastError) = state.withLock { ($0.retryAfter > now && !$0.available, $0.lastError) }
        if tooSoon {
            throw AssayError.storeUnavailable(
                "The PostgreSQL store cannot be reached right now (\(lastError)); retry shortly.")
        }
        do {
            try connection.connectIfNeeded()
        } catch let error as PostgresError {
            markDown(error)
            throw error.assayError
        }
        markUp()
    }

    func markDown(_ error: PostgresError) {
        let wasAvailable = state.withLock { s -> Bool in
            let was = s.available
            s.available = false
            s.retryAfter = WallClock.nowMillis() + 250
            s.lastError = "SQLSTATE \(error.sqlState): \(error.message)"
            return was
        }
        if wasAvailable {
            Log.error("store unavailable", ["store": "postgresql", "sqlstate": error.sqlState, "error": error.message])
        }
    }

    func markUp() {
        let wasAvailable = state.withLock { s -> Bool in
            let was = s.available
            s.available = true
            return was
        }
        if !wasAvailable { Log.info("store available again", ["store": "postgresql"]) }
    }
}

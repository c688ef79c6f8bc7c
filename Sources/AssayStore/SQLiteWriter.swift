import AssayInfotable
import CSQLite
import Synchronization

/// The single writer of an SQLite store: one connection on one thread that drains a queue of write
/// operations and runs everything queued so far in ONE transaction, so that many concurrent
/// callers share one commit and one fsync (group commit). Each operation runs inside a SAVEPOINT,
/// so one that throws (a conflict, a lost lease) rolls back alone while its batch-mates commit.
/// Callers are resumed only after the COMMIT returned, so "returned" means "durable".
///
/// The writer also keeps the notices for delayed retries: a job failed with a retry delay becomes
/// runnable later without any write, so the writer wakes when the earliest one is due and announces
/// `.jobsAvailable` for its provider. The notices live in memory; after a restart the earliest due
/// time per provider is read back from the jobs table.
final class SQLiteWriter: @unchecked Sendable {
    /// What an operation may do besides its SQL: announce events and ask for a notice.
    final class Context {
        let connection: SQLiteConnection
        fileprivate var events: [StoreEvent] = []
        fileprivate var notices: [(provider: String, due: Millis)] = []

        fileprivate init(connection: SQLiteConnection) { self.connection = connection }

        /// Announced to subscribers after the commit, unless the operation is rolled back.
        func announce(_ event: StoreEvent) { events.append(event) }

        /// Announces `.jobsAvailable(provider)` once the wall clock reaches `due`.
        func announceJobsAvailable(provider: String, at due: Millis) {
            notices.append((provider, due))
        }
    }

    private struct Operation {
        let run: (Context) throws -> Void
        let finish: (Error?) -> Void
    }

    /// Enough for one fsync to cover a burst from hundreds of callers while keeping the time any
    /// one of them waits for a batch's commit bounded.
    private static let maxBatch = 1024

    /// Beyond this many WAL pages (about 64 MB) the writer checkpoints itself, blocking, because the
    /// checkpointer's passive checkpoints cannot reset a WAL that is never idle.
    static let walFrameLimit: Int32 = 16384
    /// How much WAL growth (about 4 MB) asks the checkpointer for a passive checkpoint.
    static let signalFrames: Int32 = 1000

    private let connection: SQLiteConnection
    private let checkpointer: SQLiteCheckpointer
    /// Pages in the WAL after the last commit, written by SQLite's WAL hook on the writer thread.
    private let walFrames = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private var framesAtLastRequest: Int32 = 0
    private let publish: @Sendable ([StoreEvent]) -> Void
    private let condition = ThreadCondition()
    private var queue: [Operation] = []
    private var closing = false
    private var stopped = false
    private var stopWaiters: [CheckedContinuation<Void, Never>] = []
    /// Provider → when to announce it. Touched only on the writer thread.
    private var notices: [String: Millis] = [:]
    /// Committed batches, for the benchmark's report.
    let commits = Atomic<Int>(0)

    init(
        connection: SQLiteConnection, checkpointer: SQLiteCheckpointer,
        publish: @escaping @Sendable ([StoreEvent]) -> Void
    ) throws {
        self.connection = connection
        self.checkpointer = checkpointer
        self.publish = publish
        walFrames.initialize(to: 0)
        try connection.execute("PRAGMA wal_autocheckpoint = 0")
        sqlite3_wal_hook(
            connection.handle,
            { context, _, _, frames in
                context?.assumingMemoryBound(to: Int32.self).pointee = frames
                return SQLITE_OK
            }, walFrames)
        try loadNotices()
        try ThreadCondition.spawn { [self] in loop() }
    }

    /// Runs `body` in the next batch and returns its result once the batch is committed.
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

    /// Lets queued operations finish, then stops the thread and closes the connection.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            if stopped {
                condition.unlock()
                continuation.resume()
                return
            }
            closing = true
            stopWaiters.append(continuation)
            condition.signal()
            condition.unlock()
        }
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !closing {
                guard let due = notices.values.min() else {
                    condition.wait()
                    continue
                }
                if due <= ThreadCondition.nowMillis() { break }
                condition.wait(untilMillis: due)
            }
            let count = min(queue.count, Self.maxBatch)
            let batch = Array(queue.prefix(count))
            queue.removeFirst(count)
            let finished = closing && queue.isEmpty
            condition.unlock()

            if !batch.isEmpty { run(batch) }
            announceDueNotices()
            if finished { break }
        }
        connection.close()
        walFrames.deallocate()
        condition.lock()
        stopped = true
        let waiters = stopWaiters
        stopWaiters = []
        condition.unlock()
        for waiter in waiters { waiter.resume() }
    }

    private func run(_ batch: [Operation]) {
        var outcomes: [Error?] = []
        var events: [StoreEvent] = []
        var newNotices: [(provider: String, due: Millis)] = []
        do {
            try connection.run("BEGIN IMMEDIATE")
        } catch {
            for operation in batch { operation.finish(error.asAssayError) }
            return
        }
        var broken: Error?
        for operation in batch {
            let context = Context(connection: connection)
            do {
                try connection.run("SAVEPOINT op")
            } catch {
                broken = error
                break
            }
            do {
                try operation.run(context)
                try connection.run("RELEASE op")
                outcomes.append(nil)
                events += context.events
                newNotices += context.notices
            } catch {
                outcomes.append(error.asAssayError)
                // Some errors (disk full, I/O) make SQLite roll the whole transaction back.
                guard connection.isInTransaction else {
                    broken = error
                    break
                }
                do {
                    try connection.run("ROLLBACK TO op")
                    try connection.run("RELEASE op")
                } catch {
                    broken = error
                    break
                }
            }
        }
        if broken == nil {
            do {
                try connection.run("COMMIT")
            } catch {
                broken = error
            }
        }
        if let broken {
            // Nothing of this batch is durable, so every caller hears of the failure.
            if connection.isInTransaction { try? connection.execute("ROLLBACK") }
            for operation in batch { operation.finish(broken.asAssayError) }
            return
        }
        commits.add(1, ordering: .relaxed)
        checkpointIfNeeded()
        for (operation, outcome) in zip(batch, outcomes) { operation.finish(outcome) }
        for notice in newNotices where notices[notice.provider].map({ notice.due < $0 }) ?? true {
            notices[notice.provider] = notice.due
        }
        if !events.isEmpty { publish(events) }
    }

    private func checkpointIfNeeded() {
        let frames = walFrames.pointee
        if frames < framesAtLastRequest { framesAtLastRequest = 0 }  // the WAL was reset
        if frames >= Self.walFrameLimit {
            _ = try? connection.execute("PRAGMA wal_checkpoint(RESTART)")
            framesAtLastRequest = 0
        } else if frames - framesAtLastRequest >= Self.signalFrames {
            framesAtLastRequest = frames
            checkpointer.request()
        }
    }

    private func announceDueNotices() {
        let now = ThreadCondition.nowMillis()
        var due: [String] = []
        for (provider, time) in notices where time <= now { due.append(provider) }
        guard !due.isEmpty else { return }
        for provider in due {
            notices[provider] = nil
            let next = try? connection.row(
                "SELECT MIN(not_before) FROM jobs WHERE provider = ? AND status = 'WAITING' "
                    + "AND not_before IS NOT NULL AND not_before > ?", .text(provider), .int(now)
            ) { $0.optionalInt64(0) }
            if let next = next ?? nil { notices[provider] = next }
        }
        publish(due.map { .jobsAvailable(provider: $0) })
    }

    private func loadNotices() throws {
        let now = ThreadCondition.nowMillis()
        try connection.forEach(
            "SELECT provider, MIN(not_before) FROM jobs WHERE status = 'WAITING' AND not_before IS NOT NULL "
                + "AND not_before > ? GROUP BY provider", [.int(now)]
        ) { row in
            notices[row.text(0)] = row.int64(1)
            return true
        }
    }
}

/// Carries an operation's result from the worker thread to the resumed caller; the continuation's
/// resume orders the write before the read.
final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}

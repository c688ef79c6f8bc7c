import AssayInfotable

/// The read side of an SQLite store: a few connections, each on a thread of its own, taking read
/// operations from one shared queue. In WAL mode readers never block the writer nor each other and
/// see the last committed state, so a caller that awaited a write reads its effect. Each operation
/// runs in autocommit mode; one needing several statements to agree runs them in `read`'s
/// transaction (`consistent: true`).
final class SQLiteReaderPool: @unchecked Sendable {
    private struct Operation {
        let consistent: Bool
        let run: (SQLiteConnection) throws -> Void
        let finish: (Error?) -> Void
    }

    private let condition = ThreadCondition()
    private var queue: [Operation] = []
    private var head = 0
    private var closing = false
    private var running: Int
    private var stopWaiters: [CheckedContinuation<Void, Never>] = []

    init(connections: [SQLiteConnection]) throws {
        running = connections.count
        for connection in connections {
            try ThreadCondition.spawn { [self] in loop(connection) }
        }
    }

    func perform<T: Sendable>(
        consistent: Bool = false, _ body: @escaping @Sendable (SQLiteConnection) throws -> T
    ) async throws -> T {
        let box = ResultBox<T>()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let operation = Operation(
                consistent: consistent,
                run: { connection in box.value = try body(connection) },
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

    private func loop(_ connection: SQLiteConnection) {
        while true {
            condition.lock()
            while head == queue.count && !closing { condition.wait() }
            guard head < queue.count else {
                condition.unlock()
                break
            }
            let operation = queue[head]
            head += 1
            if head == queue.count || head > 256 {
                // Drop the consumed prefix now and then so the queue does not grow without bound.
                queue.removeFirst(head)
                head = 0
            }
            condition.unlock()
            run(operation, on: connection)
        }
        connection.close()
        condition.lock()
        running -= 1
        let waiters = running == 0 ? stopWaiters : []
        if running == 0 { stopWaiters = [] }
        condition.unlock()
        for waiter in waiters { waiter.resume() }
    }

    private func run(_ operation: Operation, on connection: SQLiteConnection) {
        do {
            if operation.consistent { try connection.run("BEGIN") }
            do {
                try operation.run(connection)
            } catch {
                if operation.consistent { _ = try? connection.run("ROLLBACK") }
                throw error
            }
            if operation.consistent { try connection.run("COMMIT") }
            operation.finish(nil)
        } catch {
            operation.finish(error.asAssayError)
        }
    }
}

// A closed-loop load generator for benchmarking a server by hand (and for `assay bench`): N threads, each with
// its own keep-alive HTTPClient, send the same request back to back for a fixed time. It measures throughput
// only, not latency distribution; the client threads share the machine with the server, so the figure is a lower
// bound of what the server alone could do.

import Glibc
import Synchronization

public enum HTTPLoad {
    /// Runs `connections` client threads for `seconds`; returns the answered requests (any status below 500) and
    /// their rate over the wall-clock time of the run.
    public static func run(
        host: String, port: UInt16, method: String = "POST", path: String, body: [UInt8],
        headers: [(name: String, value: String)] = [], connections: Int, seconds: Double
    ) -> (requests: Int, perSecond: Double) {
        let start = monotonicSeconds()
        let plan = LoadPlan(
            host: host, port: port, method: method, path: path, body: body, headers: headers,
            deadline: start + seconds)
        var threads: [pthread_t] = []
        for _ in 0..<max(1, connections) {
            var thread = pthread_t()
            let created = pthread_create(
                &thread, nil,
                { argument in
                    let plan = Unmanaged<LoadPlan>.fromOpaque(argument!).takeRetainedValue()
                    plan.drive()
                    return nil
                }, Unmanaged.passRetained(plan).toOpaque())
            if created == 0 {
                threads.append(thread)
            } else {
                Unmanaged.passUnretained(plan).release()
            }
        }
        for thread in threads {
            pthread_join(thread, nil)
        }
        let elapsed = monotonicSeconds() - start
        let requests = plan.answered.load(ordering: .relaxed)
        return (requests, elapsed > 0 ? Double(requests) / elapsed : 0)
    }

    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}

private final class LoadPlan: Sendable {
    let host: String
    let port: UInt16
    let method: String
    let path: String
    let body: [UInt8]
    let headers: [(name: String, value: String)]
    let deadline: Double
    let answered = Atomic<Int>(0)

    init(
        host: String, port: UInt16, method: String, path: String, body: [UInt8],
        headers: [(name: String, value: String)], deadline: Double
    ) {
        self.host = host
        self.port = port
        self.method = method
        self.path = path
        self.body = body
        self.headers = headers
        self.deadline = deadline
    }

    func drive() {
        let client = HTTPClient(host: host, port: port, timeoutSeconds: 30)
        var count = 0
        // Checking the clock every request costs little next to two system calls per request.
        while HTTPLoad.monotonicSeconds() < deadline {
            if let response = try? client.send(method: method, path: path, headers: headers, body: body),
                response.status < 500
            {
                count += 1
            } else {
                usleep(1000)  // a refused or failing server must not turn the loop into a busy spin
            }
        }
        client.close()
        answered.add(count, ordering: .relaxed)
    }
}

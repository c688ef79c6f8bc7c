// A throughput measurement run by hand, not a timed test: it is skipped unless ASSAY_HTTP_BENCH is set.
//   ASSAY_HTTP_BENCH=5 swift test -c release --filter HTTPLoadBenchmark
// (the value is the duration in seconds).

import Foundation
import Testing

@testable import AssayHTTP

@Suite struct HTTPLoadBenchmark {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["ASSAY_HTTP_BENCH"] != nil))
    func smallPostsOver32KeepAliveConnections() throws {
        let seconds = Double(ProcessInfo.processInfo.environment["ASSAY_HTTP_BENCH"] ?? "") ?? 5
        try withServer { server, _ in
            let body = Array("{\"input\":[1,2,3]}".utf8)
            let result = HTTPLoad.run(
                host: "127.0.0.1", port: server.port, path: "/fast", body: body, connections: 32, seconds: seconds)
            print("HTTPLoad: \(result.requests) requests in \(seconds) s = \(Int(result.perSecond)) requests/s")
            #expect(result.requests > 0)
        }
    }
}

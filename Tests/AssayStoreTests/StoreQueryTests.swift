import AssayInfotable
import AssayStore
import Testing

/// QueryJobs on every store kind. Each case is also run through `JobQueryEvaluator` over all jobs,
/// so the SQL a store generates and the shared in-memory semantics are checked to agree.
@Suite struct StoreQueryTests {
    /// j1..j5, created in that order (the default order is newest first: j5 ... j1).
    private func seed(_ s: any JobStore) async throws {
        try await makeProvider(s, models: ["churn-a", "churn-b", "Score", "score"])
        try await s.setSessionStateful("S", stateful: true, now: t0)
        _ = try await s.submit([
            newJob("j1", model: "churn-a", priority: 1, created: t0 + 1, extra: #"{"region":"eu"}"#),
            newJob("j2", model: "churn-b", priority: 5, created: t0 + 2),
            newJob("j3", model: "Score", priority: 3, created: t0 + 3),
            newJob("j4", model: "score", priority: 0, created: t0 + 4, extra: #"{"region":"us","n":2}"#),
            newJob("j5", model: "churn-a", priority: 2, created: t0 + 5, session: "S", custom: #"{"rows":[]}"#),
        ])
        let b = try await s.claim(
            provider: "p", clientId: "B", models: ["Score", "score"], max: 2, leaseSeconds: 30, now: t0 + 10)
        for claimed in b where claimed.job.id == "j3" {
            _ = try await s.complete(provider: "p", jobId: "j3", token: claimed.token, results: [], now: t0 + 20)
        }
        for claimed in b where claimed.job.id == "j4" {
            _ = try await s.fail(
                provider: "p", jobId: "j4", token: claimed.token, failure: JobFailure(errorCode: "E1", message: "no"),
                now: t0 + 30)
        }
        _ = try await s.claim(provider: "p", clientId: "A", models: ["churn-b"], max: 1, leaseSeconds: 30, now: t0 + 40)
    }

    private static let cases: [(String, JobQuery, [String])] = {
        typealias Q = JobQuery
        let all = ["j5", "j4", "j3", "j2", "j1"]
        func f(_ filter: JobFilter, sorts: [JobSort] = [], limit: Int = 500) -> Q {
            Q(filter: filter, sorts: sorts, limit: limit)
        }
        return [
            ("everything, newest first", Q(), all),
            ("EQ status", f(.compare(.status, .eq, "WAITING")), ["j5", "j1"]),
            ("NE includes nulls", f(.compare(.clientId, .ne, "A")), ["j5", "j4", "j3", "j1"]),
            ("EQ null", f(.compare(.clientId, .eq, nil)), ["j5", "j1"]),
            ("GT", f(.compare(.priority, .gt, 2)), ["j3", "j2"]),
            ("GE", f(.compare(.priority, .ge, 2)), ["j5", "j3", "j2"]),
            ("LT", f(.compare(.priority, .lt, 1)), ["j4"]),
            ("LE with a double", f(.compare(.priority, .le, 1.5)), ["j4", "j1"]),
            ("GT datetime as numeric string", f(.compare(.createdTime, .gt, .string(String(t0 + 3)))), ["j5", "j4"]),
            ("GT on a null field", f(.compare(.endTime, .gt, .int(t0))), ["j4", "j3"]),
            ("unconvertible EQ", f(.compare(.priority, .eq, "abc")), []),
            ("unconvertible NE", f(.compare(.priority, .ne, "abc")), all),
            ("Between", f(.between(.priority, from: 1, to: 3, negated: false)), ["j5", "j3", "j1"]),
            ("NotBetween", f(.between(.priority, from: 1, to: 3, negated: true)), ["j4", "j2"]),
            (
                "NotBetween includes nulls",
                f(.between(.endTime, from: .int(t0), to: .int(t0 + 25), negated: true)), ["j5", "j4", "j2", "j1"]
            ),
            (
                "Like", f(.like(.modelName, pattern: "churn*", caseSensitive: false, negated: false)),
                ["j5", "j2", "j1"]
            ),
            (
                "Like ? ignoring case", f(.like(.modelName, pattern: "CHURN-?", caseSensitive: false, negated: false)),
                ["j5", "j2", "j1"]
            ),
            ("Like case-sensitive", f(.like(.modelName, pattern: "CHURN*", caseSensitive: true, negated: false)), []),
            (
                "Like exact ignoring case",
                f(.like(.modelName, pattern: "score", caseSensitive: false, negated: false)),
                ["j4", "j3"]
            ),
            (
                "Like exact with case", f(.like(.modelName, pattern: "score", caseSensitive: true, negated: false)),
                ["j4"]
            ),
            (
                "NotLike with %", f(.like(.modelName, pattern: "churn%", caseSensitive: false, negated: true)),
                ["j4", "j3"]
            ),
            ("Like on a number", f(.like(.priority, pattern: "5", caseSensitive: false, negated: false)), ["j2"]),
            ("In", f(.oneOf(.status, ["WAITING", "COMPLETED"], negated: false)), ["j5", "j3", "j1"]),
            ("NotIn", f(.oneOf(.status, ["WAITING", "COMPLETED"], negated: true)), ["j4", "j2"]),
            ("In with null", f(.oneOf(.clientId, [nil, "A"], negated: false)), ["j5", "j2", "j1"]),
            ("MissingValue", f(.missing(.clientId, negated: false)), ["j5", "j1"]),
            ("NotMissingValue", f(.missing(.endTime, negated: true)), ["j4", "j3"]),
            ("MissingValue JSON", f(.missing(.extraParams, negated: false)), ["j5", "j3", "j2"]),
            ("MissingValue customData", f(.missing(.customData, negated: true)), ["j5"]),
            ("Matches", f(.matches(.errorCode, expression: #"^E\d$"#, negated: false)), ["j4"]),
            ("NotMatches", f(.matches(.modelName, expression: "^churn", negated: true)), ["j4", "j3"]),
            ("extraParams EQ object", f(.compare(.extraParams, .eq, ["region": "eu"])), ["j1"]),
            ("extraParams EQ JSON text", f(.compare(.extraParams, .eq, #"{ "region" : "eu" }"#)), ["j1"]),
            ("extraParams member order", f(.compare(.extraParams, .eq, ["n": 2, "region": "us"])), ["j4"]),
            (
                "extraParams Like",
                f(
                    .like(
                        .extraParams, pattern: #"*"region":"us"*"#, caseSensitive: false,
                        negated: false)), ["j4"]
            ),
            (
                "Or",
                f(
                    .or([
                        .compare(.status, .eq, "FAILED"),
                        .like(
                            .modelName, pattern: "churn-b",
                            caseSensitive: false, negated: false),
                    ])),
                ["j4", "j2"]
            ),
            (
                "And mixing SQL and memory",
                f(
                    .and([
                        .compare(.priority, .ge, 1),
                        .like(
                            .modelName, pattern: "churn*", caseSensitive: false,
                            negated: false),
                    ])), ["j5", "j2", "j1"]
            ),
            (
                "nested Or in And",
                f(
                    .and([
                        .or([.compare(.priority, .eq, 0), .compare(.priority, .eq, 5)]),
                        .missing(.clientId, negated: true),
                    ])), ["j4", "j2"]
            ),
            (
                "values", Q(values: [[(.status, "COMPLETED")], [(.modelName, "churn-a"), (.priority, 2)]]),
                ["j5", "j3"]
            ),
            ("values ignore nulls", Q(values: [[(.status, "FAILED"), (.clientId, nil)]]), ["j4"]),
            ("values with JSON", Q(values: [[(.extraParams, ["region": "us", "n": 2])]]), ["j4"]),
            (
                "values and filter", Q(filter: .compare(.priority, .gt, 0), values: [[(.modelName, "churn-a")]]),
                ["j5", "j1"]
            ),
            ("sort ascending", f(.and([]), sorts: [JobSort(field: .priority)]), ["j4", "j1", "j5", "j3", "j2"]),
            (
                "sort text descending", f(.and([]), sorts: [JobSort(field: .modelName, ascending: false)]),
                ["j4", "j2", "j5", "j1", "j3"]
            ),
            ("sort with nulls first", f(.and([]), sorts: [JobSort(field: .endTime)]), ["j5", "j2", "j1", "j3", "j4"]),
            ("limit", Q(limit: 2), ["j5", "j4"]),
            (
                "limit after in-memory filtering",
                f(.like(.modelName, pattern: "churn*", caseSensitive: false, negated: false), limit: 2), ["j5", "j2"]
            ),
        ]
    }()

    @Test func everyFilterTypeValuesSortsAndLimit() async throws {
        try await forEachStore { f in
            let s = f.store
            try await seed(s)
            let everything = try await s.queryJobs(JobQuery(limit: 10_000))
            for (label, query, expected) in Self.cases {
                let ids = try await s.queryJobs(query).map(\.id)
                #expect(ids == expected, "[\(f.name)] \(label)")
                let evaluated = JobQueryEvaluator.sort(
                    everything.filter { JobQueryEvaluator.matches(query, $0) }, by: query.sorts
                ).prefix(query.limit).map(\.id)
                #expect(evaluated == expected, "[evaluator] \(label)")
            }
        }
    }

    @Test func invalidRegularExpressionsAreRefused() async throws {
        try await forEachStore { f in
            try await seed(f.store)
            await expectError("BAD_REQUEST", f.name) {
                _ = try await f.store.queryJobs(
                    JobQuery(filter: .matches(.modelName, expression: "([", negated: false)))
            }
        }
    }
}

import AssayInfotable
import AssayStore
import Testing

/// The in-memory query semantics on their own (the store tests check SQL agrees with them).
@Suite struct JobQueryEvaluatorTests {
    private func job(model: String, priority: Int = 0, clientId: String? = nil) -> JobRecord {
        JobRecord(
            id: "j", provider: "p", model: model, status: .waiting, priority: priority, attempt: 1, maxAttempts: 3,
            timeoutSeconds: 0, clientId: clientId, sessionId: nil, createdTime: 1, startTime: nil, endTime: nil,
            lastUpdated: 1, errorCode: nil, errorMessage: nil, extraParamsJSON: "{}", customDataJSON: nil,
            idempotencyKey: nil, leaseToken: nil, leaseExpires: nil, notBefore: nil)
    }

    @Test(arguments: [
        ("churn*", "churn-model", true), ("*model", "churn-model", true), ("c?urn*", "churn", true),
        ("c?urn", "chhurn", false), ("%-%", "a-b", true), ("*", "", true), ("?", "", false),
        ("a*b*c", "aXbYbZc", true), ("a*b*c", "aXbYbZ", false), ("CHURN*", "churn", true), ("é?", "ÉA", true),
    ])
    func likePatterns(pattern: String, text: String, expected: Bool) {
        let filter = JobFilter.like(.modelName, pattern: pattern, caseSensitive: false, negated: false)
        #expect(JobQueryEvaluator.matches(filter, job(model: text)) == expected, "\(pattern) ~ \(text)")
    }

    @Test func caseSensitiveLikeAndRegex() {
        #expect(
            !JobQueryEvaluator.matches(
                .like(.modelName, pattern: "A*", caseSensitive: true, negated: false),
                job(model: "abc")))
        #expect(JobQueryEvaluator.matches(.matches(.modelName, expression: "b.", negated: false), job(model: "abc")))
        #expect(!JobQueryEvaluator.matches(.matches(.modelName, expression: "(", negated: false), job(model: "(")))
        #expect(throws: AssayError.self) {
            try JobMatcher(filter: .matches(.modelName, expression: "(", negated: true))
        }
    }

    @Test func nullFieldsPassOnlyNegatedTests() {
        let j = job(model: "m")
        #expect(JobQueryEvaluator.matches(.compare(.clientId, .ne, "a"), j))
        #expect(!JobQueryEvaluator.matches(.compare(.clientId, .lt, "a"), j))
        #expect(JobQueryEvaluator.matches(.like(.clientId, pattern: "*", caseSensitive: false, negated: true), j))
        #expect(JobQueryEvaluator.matches(.missing(.clientId, negated: false), j))
        #expect(JobQueryEvaluator.matches(.and([]), j) && !JobQueryEvaluator.matches(.or([]), j))
    }

    @Test func valuesNeedOneMatchingRow() {
        let j = job(model: "m", priority: 3)
        #expect(JobQueryEvaluator.matches(values: [], job: j))
        #expect(JobQueryEvaluator.matches(values: [[(.priority, 4)], [(.priority, "3"), (.modelName, "m")]], job: j))
        #expect(!JobQueryEvaluator.matches(values: [[(.priority, 3), (.modelName, "x")]], job: j))
        #expect(JobQueryEvaluator.matches(values: [[(.clientId, nil)]], job: j))
    }
}

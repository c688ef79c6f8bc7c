import AssayInfotable

/// QueryJobs' filters in a store-neutral form. The API layer parses ThingWorx query JSON into it;
/// each store runs what it can in its own SQL and may use `JobQueryEvaluator` for the rest.

/// The fields of `PTC.Capability.Analysis.SolvableDataShape` that queries may name.
public enum JobField: String, Sendable, CaseIterable {
    case jobId, providerName, modelName, status, priority, attempt, maxAttempts, clientId, sessionId
    case createdTime, startTime, endTime, lastUpdated, errorCode, errorMessage, extraParams, customData

    /// Looks a field up by name, ignoring case as ThingWorx does.
    public init?(named name: String) {
        guard let field = JobField.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else {
            return nil
        }
        self = field
    }
}

public enum CompareOperator: String, Sendable {
    case eq, ne, gt, ge, lt, le
}

public indirect enum JobFilter: Sendable, Equatable {
    case and([JobFilter])
    case or([JobFilter])
    case compare(JobField, CompareOperator, JSONValue)
    /// Inclusive at both ends; `negated` is NotBetween.
    case between(JobField, from: JSONValue, to: JSONValue, negated: Bool)
    /// `*` or `%` match any run of characters, `?` one character.
    case like(JobField, pattern: String, caseSensitive: Bool, negated: Bool)
    case oneOf(JobField, [JSONValue], negated: Bool)
    /// MissingValue (null or empty); `negated` is NotMissingValue.
    case missing(JobField, negated: Bool)
    /// A regular expression that must match somewhere in the value.
    case matches(JobField, expression: String, negated: Bool)
}

public struct JobSort: Sendable, Equatable {
    public var field: JobField
    public var ascending: Bool

    public init(field: JobField, ascending: Bool = true) {
        self.field = field
        self.ascending = ascending
    }
}

public struct JobQuery: Sendable, Equatable {
    public var filter: JobFilter?
    /// QueryJobs' `values`: a job matches when it equals all non-null fields of at least one row. Empty: no constraint.
    public var values: [[(JobField, JSONValue)]]
    /// Newest first (`createdTime` descending) when empty.
    public var sorts: [JobSort]
    public var limit: Int

    public init(
        filter: JobFilter? = nil, values: [[(JobField, JSONValue)]] = [], sorts: [JobSort] = [], limit: Int = 500
    ) {
        self.filter = filter
        self.values = values
        self.sorts = sorts
        self.limit = limit
    }

    public static func == (lhs: JobQuery, rhs: JobQuery) -> Bool {
        lhs.filter == rhs.filter && lhs.sorts == rhs.sorts && lhs.limit == rhs.limit
            && lhs.values.count == rhs.values.count
            && zip(lhs.values, rhs.values).allSatisfy { a, b in
                a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            }
    }
}

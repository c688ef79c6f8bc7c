import AssayInfotable

/// QueryJobs' semantics, evaluated in memory. Both stores translate what they can to SQL and use
/// this for the rest (Like, Matches, the JSON fields); the SQL they generate must agree with it, and
/// the shared store tests check that it does.
///
/// The rules, decided once here:
/// - Values are converted to the field's kind first. Numeric fields (`priority`, `attempt`,
///   `maxAttempts` and the DATETIME fields, which are milliseconds) take numbers or numeric strings;
///   text fields take strings, and numbers or booleans as their JSON text. A value that cannot be
///   converted (an object for `status`, `"abc"` for `priority`) matches nothing, so only the negated
///   forms (NE, NotBetween, NotIn, NotLike, NotMatches, NotMissingValue) hold for it.
///   TODO: accept ISO 8601 strings for DATETIME fields once AssayInfotable offers a parser.
/// - A null field fails every positive test except EQ null, In with null, and MissingValue, and so
///   passes every negated one: `clientId NE "a"` includes jobs that never ran.
/// - Text compares by UTF-8 bytes (SQLite's BINARY collation), case-sensitively, except Like,
///   which ignores case unless `caseSensitive`.
/// - `extraParams` and `customData` hold JSON text. EQ, NE, In and `values` compare them as JSON
///   (member order ignored); a string value is parsed as JSON first, so `"{\"a\":1}"` equals
///   `{"a":1}`. Ordering, Between, Like and Matches use the stored text, so `Like extraParams
///   "*\"region\":\"eu\"*"` finds a member. MissingValue holds for null, "", `{}`, `[]` and `null`.
/// - Sorting: nulls first when ascending, last when descending (as SQL does); ties are broken by
///   `createdTime` descending, then `jobId` descending, then `providerName` descending.
public enum JobQueryEvaluator {
    /// A field's value as queries see it.
    public enum FieldValue: Sendable, Equatable {
        case null
        case integer(Int64)
        case text(String)
    }

    /// A filter value converted to a field's kind.
    public enum Operand: Sendable, Equatable {
        case null
        case integer(Int64)
        case real(Double)
        case text(String)
    }

    public static func isJSONField(_ field: JobField) -> Bool { field == .extraParams || field == .customData }

    public static func isNumericField(_ field: JobField) -> Bool {
        switch field {
        case .priority, .attempt, .maxAttempts, .createdTime, .startTime, .endTime, .lastUpdated: return true
        default: return false
        }
    }

    public static func value(of field: JobField, in job: JobRecord) -> FieldValue {
        func text(_ s: String?) -> FieldValue { s.map { .text($0) } ?? .null }
        func number(_ i: Int64?) -> FieldValue { i.map { .integer($0) } ?? .null }
        switch field {
        case .jobId: return .text(job.id)
        case .providerName: return .text(job.provider)
        case .modelName: return .text(job.model)
        case .status: return .text(job.status.rawValue)
        case .priority: return .integer(Int64(job.priority))
        case .attempt: return .integer(Int64(job.attempt))
        case .maxAttempts: return .integer(Int64(job.maxAttempts))
        case .clientId: return text(job.clientId)
        case .sessionId: return text(job.sessionId)
        case .createdTime: return .integer(job.createdTime)
        case .startTime: return number(job.startTime)
        case .endTime: return number(job.endTime)
        case .lastUpdated: return .integer(job.lastUpdated)
        case .errorCode: return text(job.errorCode)
        case .errorMessage: return text(job.errorMessage)
        case .extraParams: return .text(job.extraParamsJSON)
        case .customData: return text(job.customDataJSON)
        }
    }

    /// `value` converted for comparison with `field`; nil when it cannot be compared with it.
    public static func operand(_ value: JSONValue, for field: JobField) -> Operand? {
        if case .null = value { return .null }
        if isNumericField(field) {
            switch value {
            case .int(let i): return .integer(i)
            case .double(let d): return d.rounded() == d && abs(d) < 9e18 ? .integer(Int64(d)) : .real(d)
            case .string(let s):
                let trimmed = s.trimmingSpaces
                if let i = Int64(trimmed) { return .integer(i) }
                if let d = Double(trimmed), d.isFinite { return .real(d) }
                return nil
            default: return nil
            }
        }
        switch value {
        case .string(let s): return .text(s)
        case .int, .double, .bool: return .text(JSON.string(value))
        case .array, .object: return isJSONField(field) ? .text(JSON.string(value)) : nil
        case .null: return .null
        }
    }

    /// Whether the job passes `filter`. An invalid regular expression matches nothing; use
    /// `JobMatcher` to have it reported.
    public static func matches(_ filter: JobFilter, _ job: JobRecord) -> Bool {
        (try? JobMatcher(filter: filter))?.matches(job) ?? false
    }

    /// QueryJobs' `values`: the job equals all non-null fields of at least one row; no rows, no constraint.
    public static func matches(values: [[(JobField, JSONValue)]], job: JobRecord) -> Bool {
        guard !values.isEmpty else { return true }
        return values.contains { row in
            row.allSatisfy { field, value in value.isNull || equals(field, job, value) }
        }
    }

    /// The filter and the values of `query`, without its sorts and limit.
    public static func matches(_ query: JobQuery, _ job: JobRecord) -> Bool {
        matches(values: query.values, job: job) && (query.filter.map { matches($0, job) } ?? true)
    }

    /// Sorts by `sorts`, then the default order (newest first).
    public static func sort(_ jobs: [JobRecord], by sorts: [JobSort]) -> [JobRecord] {
        jobs.sorted { precedes($0, $1, by: sorts) }
    }

    /// Whether `a` comes before `b` under `sorts` and the default tie-breakers.
    public static func precedes(_ a: JobRecord, _ b: JobRecord, by sorts: [JobSort]) -> Bool {
        let keys =
            sorts + [
                JobSort(field: .createdTime, ascending: false), JobSort(field: .jobId, ascending: false),
                JobSort(field: .providerName, ascending: false),
            ]
        for key in keys {
            let order = compare(value(of: key.field, in: a), value(of: key.field, in: b))
            if order != 0 { return key.ascending ? order < 0 : order > 0 }
        }
        return false
    }

    // MARK: - Building blocks shared with the matcher

    /// -1, 0 or 1, nulls first.
    static func compare(_ a: FieldValue, _ b: FieldValue) -> Int {
        switch (a, b) {
        case (.null, .null): return 0
        case (.null, _): return -1
        case (_, .null): return 1
        case (.integer(let x), .integer(let y)): return x < y ? -1 : x > y ? 1 : 0
        case (.text(let x), .text(let y)): return compareText(x, y)
        case (.integer, .text): return -1  // as SQLite orders mixed types; fields never mix
        case (.text, .integer): return 1
        }
    }

    static func compareText(_ x: String, _ y: String) -> Int {
        if x == y { return 0 }
        return x.utf8.lexicographicallyPrecedes(y.utf8) ? -1 : 1
    }

    /// Compares a non-null field value with a non-null operand; nil when they cannot be ordered.
    static func compare(_ value: FieldValue, _ operand: Operand) -> Int? {
        switch (value, operand) {
        case (.integer(let x), .integer(let y)): return x < y ? -1 : x > y ? 1 : 0
        case (.integer(let x), .real(let y)):
            let d = Double(x)
            return d < y ? -1 : d > y ? 1 : 0
        case (.text(let x), .text(let y)): return compareText(x, y)
        default: return nil
        }
    }

    /// EQ semantics, JSON-aware for the JSON fields.
    static func equals(_ field: JobField, _ job: JobRecord, _ value: JSONValue) -> Bool {
        let current = self.value(of: field, in: job)
        if case .null = value { return current == .null }
        guard case .text(let stored) = current, isJSONField(field) else {
            guard let operand = operand(value, for: field), current != .null else { return false }
            return compare(current, operand) == 0
        }
        guard let parsed = try? JSON.parse(stored) else { return operand(value, for: field) == .text(stored) }
        if case .string(let text) = value, let given = try? JSON.parse(text), given == parsed { return true }
        return parsed == value
    }

    static func isMissing(_ field: JobField, _ value: FieldValue) -> Bool {
        switch value {
        case .null: return true
        case .integer: return false
        case .text(let s):
            if s.isEmpty { return true }
            guard isJSONField(field) else { return false }
            return ["{}", "[]", "null", ""].contains(s.filter { !$0.isWhitespace })
        }
    }

    /// The text Like and Matches look at: numbers in decimal, JSON fields as stored.
    static func text(_ value: FieldValue) -> String? {
        switch value {
        case .null: return nil
        case .integer(let i): return String(i)
        case .text(let s): return s
        }
    }

    /// `*` or `%`: any run of characters; `?`: one character. Works on Characters, so `?` matches
    /// one user-perceived character.
    static func like(_ text: [Character], _ pattern: [Character]) -> Bool {
        var p = 0
        var t = 0
        var star = -1
        var mark = 0
        while t < text.count {
            if p < pattern.count && (pattern[p] == "*" || pattern[p] == "%") {
                star = p
                mark = t
                p += 1
            } else if p < pattern.count && (pattern[p] == "?" || pattern[p] == text[t]) {
                p += 1
                t += 1
            } else if star >= 0 {
                p = star + 1
                mark += 1
                t = mark
            } else {
                return false
            }
        }
        while p < pattern.count && (pattern[p] == "*" || pattern[p] == "%") { p += 1 }
        return p == pattern.count
    }
}

/// A filter (and `values`) prepared for evaluating many jobs: regular expressions and Like
/// patterns are compiled once. Not Sendable: build one per query.
public struct JobMatcher {
    private indirect enum Node {
        case all([Node])
        case any([Node])
        case leaf(JobFilter)
        case like(JobField, pattern: [Character], caseSensitive: Bool, negated: Bool)
        case regex(JobField, Regex<AnyRegexOutput>, negated: Bool)
        case values([[(JobField, JSONValue)]])
    }

    private let root: Node

    /// Throws `BAD_REQUEST` for a regular expression that does not compile.
    public init(filter: JobFilter?, values: [[(JobField, JSONValue)]] = []) throws {
        var parts: [Node] = []
        if !values.isEmpty { parts.append(.values(values)) }
        if let filter { parts.append(try Self.compile(filter)) }
        root = .all(parts)
    }

    private static func compile(_ filter: JobFilter) throws -> Node {
        switch filter {
        case .and(let filters): return .all(try filters.map(compile))
        case .or(let filters): return .any(try filters.map(compile))
        case .like(let field, let pattern, let caseSensitive, let negated):
            return .like(
                field, pattern: Array(caseSensitive ? pattern : pattern.lowercased()), caseSensitive: caseSensitive,
                negated: negated)
        case .matches(let field, let expression, let negated):
            do {
                return .regex(field, try Regex(expression), negated: negated)
            } catch {
                throw AssayError.badRequest(
                    "The expression '\(expression)' of the Matches filter on '\(field.rawValue)' is not a valid "
                        + "regular expression: \(error).",
                    details: JSONObject([("field", .string(field.rawValue))]))
            }
        default: return .leaf(filter)
        }
    }

    public func matches(_ job: JobRecord) -> Bool { Self.evaluate(root, job) }

    private static func evaluate(_ node: Node, _ job: JobRecord) -> Bool {
        typealias E = JobQueryEvaluator
        switch node {
        case .all(let nodes): return nodes.allSatisfy { evaluate($0, job) }
        case .any(let nodes): return nodes.contains { evaluate($0, job) }
        case .values(let rows): return E.matches(values: rows, job: job)
        case .like(let field, let pattern, let caseSensitive, let negated):
            guard let text = E.text(E.value(of: field, in: job)) else { return negated }
            return E.like(Array(caseSensitive ? text : text.lowercased()), pattern) != negated
        case .regex(let field, let regex, let negated):
            guard let text = E.text(E.value(of: field, in: job)) else { return negated }
            let found = (try? regex.firstMatch(in: text)) != nil
            return found != negated
        case .leaf(let filter): return evaluateLeaf(filter, job)
        }
    }

    private static func evaluateLeaf(_ filter: JobFilter, _ job: JobRecord) -> Bool {
        typealias E = JobQueryEvaluator
        switch filter {
        case .compare(let field, let op, let value):
            if E.isJSONField(field) && (op == .eq || op == .ne) {
                return E.equals(field, job, value) == (op == .eq)
            }
            let current = E.value(of: field, in: job)
            guard let operand = E.operand(value, for: field) else { return op == .ne }
            if operand == .null {
                switch op {
                case .eq: return current == .null
                case .ne: return current != .null
                default: return false
                }
            }
            guard current != .null, let order = E.compare(current, operand) else { return op == .ne }
            switch op {
            case .eq: return order == 0
            case .ne: return order != 0
            case .gt: return order > 0
            case .ge: return order >= 0
            case .lt: return order < 0
            case .le: return order <= 0
            }
        case .between(let field, let from, let to, let negated):
            let current = E.value(of: field, in: job)
            guard let low = E.operand(from, for: field), let high = E.operand(to, for: field), current != .null,
                let a = E.compare(current, low), let b = E.compare(current, high)
            else { return negated }
            return (a >= 0 && b <= 0) != negated
        case .oneOf(let field, let values, let negated):
            let found = values.contains { E.equals(field, job, $0) }
            return found != negated
        case .missing(let field, let negated):
            return E.isMissing(field, E.value(of: field, in: job)) != negated
        case .and, .or, .like, .matches:
            return JobQueryEvaluator.matches(filter, job)  // compiled elsewhere; kept total for safety
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return String(s)
    }
}

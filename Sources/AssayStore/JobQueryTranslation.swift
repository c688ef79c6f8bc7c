import AssayInfotable

/// Builds the WHERE clause of a QueryJobs statement and its arguments, for either store: the SQL it
/// writes is what SQLite and PostgreSQL both read the same way, and only the placeholders differ
/// (`?` or `$n` with a cast, since PostgreSQL cannot infer an untyped parameter's type from
/// `$1 IS NULL`). `add` returns the part of a filter SQL could not take, for `JobMatcher`.
struct JobQueryTranslation {
    enum Placeholders {
        case questionMarks
        case numbered
    }

    let placeholders: Placeholders
    private(set) var conditions: [String] = []
    private(set) var arguments: [JobQueryEvaluator.Operand] = []

    init(placeholders: Placeholders) {
        self.placeholders = placeholders
    }

    var whereClause: String { conditions.isEmpty ? "TRUE" : conditions.joined(separator: " AND ") }

    static func column(_ field: JobField) -> String {
        switch field {
        case .jobId: return "id"
        case .providerName: return "provider"
        case .modelName: return "model"
        case .status: return "status"
        case .priority: return "priority"
        case .attempt: return "attempt"
        case .maxAttempts: return "max_attempts"
        case .clientId: return "client_id"
        case .sessionId: return "session_id"
        case .createdTime: return "created_time"
        case .startTime: return "start_time"
        case .endTime: return "end_time"
        case .lastUpdated: return "last_updated"
        case .errorCode: return "error_code"
        case .errorMessage: return "error_message"
        case .extraParams: return "extra_params"
        case .customData: return "custom_data"
        }
    }

    /// Adds the filter's SQL part; returns the part left for memory. Conjuncts split freely; an Or
    /// goes to SQL only whole.
    mutating func add(_ filter: JobFilter) -> JobFilter? {
        if case .and(let filters) = filter {
            let rest = filters.compactMap { add($0) }
            return rest.isEmpty ? nil : rest.count == 1 ? rest[0] : .and(rest)
        }
        var args = arguments
        guard let sql = sql(filter, &args) else { return filter }
        conditions.append(sql)
        arguments = args
        return nil
    }

    /// Adds `values` when every field they name is a plain column; else returns them for memory.
    mutating func add(values: [[(JobField, JSONValue)]]) -> [[(JobField, JSONValue)]] {
        guard !values.isEmpty else { return [] }
        guard !values.contains(where: { $0.contains { JobQueryEvaluator.isJSONField($0.0) && !$0.1.isNull } })
        else { return values }
        var args = arguments
        let rows = values.map { row -> String in
            let parts = row.filter { !$0.1.isNull }.map { field, value in
                sql(.compare(field, .eq, value), &args) ?? "FALSE"
            }
            return parts.isEmpty ? "TRUE" : "(" + parts.joined(separator: " AND ") + ")"
        }
        conditions.append("(" + rows.joined(separator: " OR ") + ")")
        arguments = args
        return []
    }

    /// Appends `operand` to the arguments and returns its placeholder.
    private func bind(_ operand: JobQueryEvaluator.Operand, _ args: inout [JobQueryEvaluator.Operand]) -> String {
        args.append(operand)
        guard placeholders == .numbered else { return "?" }
        switch operand {
        case .integer: return "$\(args.count)::bigint"
        case .real: return "$\(args.count)::float8"
        case .null, .text: return "$\(args.count)::text"
        }
    }

    /// SQL agreeing with `JobMatcher` for `filter`, or nil when it must run in memory. Negated forms
    /// wrap a positive that is never NULL, so NOT gives the evaluator's answer for null fields.
    private func sql(_ filter: JobFilter, _ args: inout [JobQueryEvaluator.Operand]) -> String? {
        typealias E = JobQueryEvaluator
        switch filter {
        case .and(let filters):
            var parts: [String] = []
            for f in filters {
                guard let part = sql(f, &args) else { return nil }
                parts.append(part)
            }
            return parts.isEmpty ? "TRUE" : "(" + parts.joined(separator: " AND ") + ")"
        case .or(let filters):
            var parts: [String] = []
            for f in filters {
                guard let part = sql(f, &args) else { return nil }
                parts.append(part)
            }
            return parts.isEmpty ? "FALSE" : "(" + parts.joined(separator: " OR ") + ")"
        case .compare(let field, let op, let value):
            guard !E.isJSONField(field) else { return nil }
            let col = Self.column(field)
            guard let operand = E.operand(value, for: field) else { return op == .ne ? "TRUE" : "FALSE" }
            if operand == .null {
                switch op {
                case .eq: return "\(col) IS NULL"
                case .ne: return "\(col) IS NOT NULL"
                default: return "FALSE"
                }
            }
            let mark = bind(operand, &args)
            switch op {
            case .eq: return "\(col) = \(mark)"
            case .ne: return "\(col) IS DISTINCT FROM \(mark)"
            case .gt: return "\(col) > \(mark)"
            case .ge: return "\(col) >= \(mark)"
            case .lt: return "\(col) < \(mark)"
            case .le: return "\(col) <= \(mark)"
            }
        case .between(let field, let from, let to, let negated):
            guard !E.isJSONField(field) else { return nil }
            guard let low = E.operand(from, for: field), let high = E.operand(to, for: field), low != .null,
                high != .null
            else { return negated ? "TRUE" : "FALSE" }
            let from = bind(low, &args)
            let to = bind(high, &args)
            let col = Self.column(field)
            let positive = "(\(col) IS NOT NULL AND \(col) BETWEEN \(from) AND \(to))"
            return negated ? "NOT \(positive)" : positive
        case .oneOf(let field, let values, let negated):
            guard !E.isJSONField(field) else { return nil }
            let col = Self.column(field)
            let operands = values.compactMap { E.operand($0, for: field) }
            let concrete = operands.filter { $0 != .null }
            var parts: [String] = []
            if !concrete.isEmpty {
                let marks = concrete.map { bind($0, &args) }.joined(separator: ", ")
                parts.append("(\(col) IS NOT NULL AND \(col) IN (\(marks)))")
            }
            if operands.contains(.null) { parts.append("\(col) IS NULL") }
            let positive = parts.isEmpty ? "FALSE" : "(" + parts.joined(separator: " OR ") + ")"
            return negated ? "NOT \(positive)" : positive
        case .missing(let field, let negated):
            guard !E.isJSONField(field) else { return nil }
            let col = Self.column(field)
            let positive = E.isNumericField(field) ? "(\(col) IS NULL)" : "(\(col) IS NULL OR \(col) = '')"
            return negated ? "NOT \(positive)" : positive
        case .like, .matches:
            return nil
        }
    }
}

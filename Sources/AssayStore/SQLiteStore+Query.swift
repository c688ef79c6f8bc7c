import AssayInfotable

/// QueryJobs on SQLite. The parts of the filter SQL can answer exactly as `JobQueryEvaluator`
/// would (comparisons, Between, In and MissingValue on the plain columns) become the WHERE clause;
/// the rest (Like, Matches, the JSON fields, an Or mixing both kinds) is evaluated in memory on
/// the rows SQL returns, in the requested order, stopping at `limit` matches. A query made only of
/// in-memory parts therefore reads jobs newest first until it has enough: fine for the occasional
/// admin query, slow on millions of jobs that mostly do not match.
extension SQLiteStore {
    public func queryJobs(_ query: JobQuery) async throws -> [JobRecord] {
        let limit = Swift.max(0, query.limit)
        guard limit > 0 else { return [] }
        var translation = SQLiteQueryTranslation()
        let residualFilter = query.filter.flatMap { translation.add($0) }
        let residualValues = translation.add(values: query.values)
        _ = try JobMatcher(filter: residualFilter, values: residualValues)  // refuses a bad regex before reading
        let needsMemory = residualFilter != nil || !residualValues.isEmpty
        var orderBy = query.sorts.map { "\(SQLiteQueryTranslation.column($0.field)) \($0.ascending ? "ASC" : "DESC")" }
        orderBy += ["created_time DESC", "id DESC", "provider DESC"]
        var sql = "SELECT \(Self.jobColumns) FROM jobs WHERE \(translation.whereClause) ORDER BY "
        sql += orderBy.joined(separator: ", ")
        if !needsMemory { sql += " LIMIT \(limit)" }
        let statementSQL = sql
        let args = translation.arguments
        let filter = residualFilter
        let values = residualValues
        return try await read { c in
            let matcher = try JobMatcher(filter: filter, values: values)
            var jobs: [JobRecord] = []
            try c.forEach(statementSQL, args, cached: false) { row in
                let job = Self.decodeJob(row)
                if !needsMemory || matcher.matches(job) { jobs.append(job) }
                return jobs.count < limit
            }
            return jobs
        }
    }
}

/// Builds the WHERE clause and its arguments; `add` returns what SQL could not take.
struct SQLiteQueryTranslation {
    private(set) var conditions: [String] = []
    private(set) var arguments: [SQLValue] = []

    var whereClause: String { conditions.isEmpty ? "1" : conditions.joined(separator: " AND ") }

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
        var args: [SQLValue] = []
        guard let sql = Self.sql(filter, &args) else { return filter }
        conditions.append(sql)
        arguments += args
        return nil
    }

    /// Adds `values` when every field they name is a plain column; else returns them for memory.
    mutating func add(values: [[(JobField, JSONValue)]]) -> [[(JobField, JSONValue)]] {
        guard !values.isEmpty else { return [] }
        guard !values.contains(where: { $0.contains { JobQueryEvaluator.isJSONField($0.0) && !$0.1.isNull } })
        else { return values }
        var args: [SQLValue] = []
        let rows = values.map { row -> String in
            let parts = row.filter { !$0.1.isNull }.map { field, value in
                Self.sql(.compare(field, .eq, value), &args) ?? "0"
            }
            return parts.isEmpty ? "1" : "(" + parts.joined(separator: " AND ") + ")"
        }
        conditions.append("(" + rows.joined(separator: " OR ") + ")")
        arguments += args
        return []
    }

    private static func bind(_ operand: JobQueryEvaluator.Operand, _ args: inout [SQLValue]) {
        switch operand {
        case .null: args.append(.null)
        case .integer(let i): args.append(.int(i))
        case .real(let d): args.append(.double(d))
        case .text(let s): args.append(.text(s))
        }
    }

    /// SQL agreeing with `JobMatcher` for `filter`, or nil when it must run in memory. Negated forms
    /// wrap a positive that is never NULL, so NOT gives the evaluator's answer for null fields.
    private static func sql(_ filter: JobFilter, _ args: inout [SQLValue]) -> String? {
        typealias E = JobQueryEvaluator
        switch filter {
        case .and(let filters):
            var parts: [String] = []
            for f in filters {
                guard let part = sql(f, &args) else { return nil }
                parts.append(part)
            }
            return parts.isEmpty ? "1" : "(" + parts.joined(separator: " AND ") + ")"
        case .or(let filters):
            var parts: [String] = []
            for f in filters {
                guard let part = sql(f, &args) else { return nil }
                parts.append(part)
            }
            return parts.isEmpty ? "0" : "(" + parts.joined(separator: " OR ") + ")"
        case .compare(let field, let op, let value):
            guard !E.isJSONField(field) else { return nil }
            let col = column(field)
            guard let operand = E.operand(value, for: field) else { return op == .ne ? "1" : "0" }
            if operand == .null {
                switch op {
                case .eq: return "\(col) IS NULL"
                case .ne: return "\(col) IS NOT NULL"
                default: return "0"
                }
            }
            bind(operand, &args)
            switch op {
            case .eq: return "\(col) = ?"
            case .ne: return "\(col) IS NOT ?"
            case .gt: return "\(col) > ?"
            case .ge: return "\(col) >= ?"
            case .lt: return "\(col) < ?"
            case .le: return "\(col) <= ?"
            }
        case .between(let field, let from, let to, let negated):
            guard !E.isJSONField(field) else { return nil }
            guard let low = E.operand(from, for: field), let high = E.operand(to, for: field), low != .null,
                high != .null
            else { return negated ? "1" : "0" }
            bind(low, &args)
            bind(high, &args)
            let col = column(field)
            let positive = "(\(col) IS NOT NULL AND \(col) BETWEEN ? AND ?)"
            return negated ? "NOT \(positive)" : positive
        case .oneOf(let field, let values, let negated):
            guard !E.isJSONField(field) else { return nil }
            let col = column(field)
            let operands = values.compactMap { E.operand($0, for: field) }
            let concrete = operands.filter { $0 != .null }
            var parts: [String] = []
            if !concrete.isEmpty {
                for operand in concrete { bind(operand, &args) }
                let marks = Array(repeating: "?", count: concrete.count).joined(separator: ", ")
                parts.append("(\(col) IS NOT NULL AND \(col) IN (\(marks)))")
            }
            if operands.contains(.null) { parts.append("\(col) IS NULL") }
            let positive = parts.isEmpty ? "0" : "(" + parts.joined(separator: " OR ") + ")"
            return negated ? "NOT \(positive)" : positive
        case .missing(let field, let negated):
            guard !E.isJSONField(field) else { return nil }
            let col = column(field)
            let positive = E.isNumericField(field) ? "(\(col) IS NULL)" : "(\(col) IS NULL OR \(col) = '')"
            return negated ? "NOT \(positive)" : positive
        case .like, .matches:
            return nil
        }
    }
}

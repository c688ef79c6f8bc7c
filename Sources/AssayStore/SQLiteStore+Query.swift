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
        var translation = JobQueryTranslation(placeholders: .questionMarks)
        let residualFilter = query.filter.flatMap { translation.add($0) }
        let residualValues = translation.add(values: query.values)
        _ = try JobMatcher(filter: residualFilter, values: residualValues)  // refuses a bad regex before reading
        let needsMemory = residualFilter != nil || !residualValues.isEmpty
        var orderBy = query.sorts.map { "\(JobQueryTranslation.column($0.field)) \($0.ascending ? "ASC" : "DESC")" }
        orderBy += ["created_time DESC", "id DESC", "provider DESC"]
        var sql = "SELECT \(Self.jobColumns) FROM jobs WHERE \(translation.whereClause) ORDER BY "
        sql += orderBy.joined(separator: ", ")
        if !needsMemory { sql += " LIMIT \(limit)" }
        let statementSQL = sql
        let args = translation.arguments.map(SQLValue.init(operand:))
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

extension SQLValue {
    init(operand: JobQueryEvaluator.Operand) {
        switch operand {
        case .null: self = .null
        case .integer(let i): self = .int(i)
        case .real(let d): self = .double(d)
        case .text(let s): self = .text(s)
        }
    }
}

import AssayInfotable

/// QueryJobs on PostgreSQL: the same split as on SQLite (`JobQueryTranslation` takes what SQL can
/// answer exactly as `JobMatcher` would; the rest is matched in memory on the rows SQL returns, in
/// order, until `limit` match). Sorting follows SQLite's rules so both stores answer alike: nulls
/// first when ascending, bytewise text (the "C" collation of the columns).
extension PostgresStore {
    /// Rows fetched per round trip while matching in memory.
    static let queryPage = 500

    public func queryJobs(_ query: JobQuery) async throws -> [JobRecord] {
        let limit = Swift.max(0, query.limit)
        guard limit > 0 else { return [] }
        var translation = JobQueryTranslation(placeholders: .numbered)
        let residualFilter = query.filter.flatMap { translation.add($0) }
        let residualValues = translation.add(values: query.values)
        _ = try JobMatcher(filter: residualFilter, values: residualValues)  // refuses a bad regex before reading
        let needsMemory = residualFilter != nil || !residualValues.isEmpty
        var orderBy = query.sorts.map {
            "\(JobQueryTranslation.column($0.field)) \($0.ascending ? "ASC NULLS FIRST" : "DESC NULLS LAST")"
        }
        orderBy += ["created_time DESC", "id DESC", "provider DESC"]
        let base =
            "SELECT \(Self.jobColumns) FROM jobs WHERE \(translation.whereClause) ORDER BY "
            + orderBy.joined(separator: ", ")
        let arguments: [PostgresValue] = translation.arguments.map { operand in
            switch operand {
            case .null: return .null
            case .integer(let i): return .int(i)
            case .real(let d): return .double(d)
            case .text(let s): return .text(s)
            }
        }
        let filter = residualFilter
        let values = residualValues
        return try await read { c in
            let matcher = try JobMatcher(filter: filter, values: values)
            var jobs: [JobRecord] = []
            var offset = 0
            let page = needsMemory ? Self.queryPage : limit
            while jobs.count < limit {
                let r = try c.query("\(base) LIMIT \(page) OFFSET \(offset)", arguments, cached: false)
                for i in 0..<r.count {
                    let job = Self.decodeJob(r, i)
                    if !needsMemory || matcher.matches(job) { jobs.append(job) }
                    if jobs.count == limit { break }
                }
                if r.count < page || !needsMemory { break }
                offset += page
            }
            return jobs
        }
    }
}

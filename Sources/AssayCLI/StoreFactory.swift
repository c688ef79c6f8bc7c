import AssayStore

/// Opens a PostgreSQL store for `--database postgres://...`.
func openPostgres(_ url: String, leaseSeconds: Double) throws -> any JobStore {
    do {
        return try PostgresStore(url: url, leaseSeconds: leaseSeconds)
    } catch {
        throw CLIError("cannot open the PostgreSQL store: \(error)", exitCode: 1)
    }
}

/// The same with the default lease, until every caller passes its own.
func openPostgres(_ url: String) throws -> any JobStore {
    try openPostgres(url, leaseSeconds: 15)
}

import AssayStore

/// Opens a PostgreSQL store for `--database postgres://...`.
func openPostgres(_ url: String, leaseSeconds: Double) throws -> any JobStore {
    do {
        return try PostgresStore(url: url, leaseSeconds: leaseSeconds)
    } catch {
        throw CLIError("cannot open the PostgreSQL store: \(error)", exitCode: 1)
    }
}

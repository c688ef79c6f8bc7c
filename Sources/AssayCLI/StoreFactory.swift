import AssayStore

/// Opens a PostgreSQL store for `--database postgres://...`.
func openPostgres(_ url: String) throws -> any JobStore {
    // TODO: the PostgreSQL store is not built yet; until it is, `--database postgres://` is refused.
    throw CLIError("this build has no PostgreSQL store yet; leave out --database to use the embedded SQLite store",
        exitCode: 1)
}

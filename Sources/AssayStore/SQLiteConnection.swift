import AssayInfotable
import CSQLite

/// One SQLite connection with its cache of prepared statements, and the few typed helpers the
/// store needs to bind parameters and read columns.
///
/// A connection is confined to one thread at a time (the writer's thread or one reader's thread);
/// it is opened with SQLITE_OPEN_NOMUTEX because that confinement makes SQLite's own mutexes
/// pointless. Cached statements must not be used re-entrantly: a query running a cached statement
/// must finish (the helpers reset it) before the same SQL text runs again.
final class SQLiteConnection: @unchecked Sendable {
    let handle: OpaquePointer
    let path: String
    private var cache: [String: SQLiteStatement] = [:]
    private var closed = false

    init(path: String) throws {
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: "cannot open database '\(path)': \(message)")
        }
        self.handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
    }

    deinit { close() }

    func close() {
        guard !closed else { return }
        closed = true
        cache.removeAll()  // finalizes the statements before the connection goes
        sqlite3_close_v2(handle)
    }

    func error(_ rc: Int32, _ context: String) -> SQLiteError {
        SQLiteError(code: rc, message: "\(context): \(String(cString: sqlite3_errmsg(handle)))")
    }

    /// Runs SQL without parameters and without caching it: pragmas, DDL, migrations.
    func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(message)
            throw SQLiteError(code: rc, message: "\(text) (in: \(sql.prefix(120)))")
        }
    }

    /// A prepared statement, from the cache when `cached` (the default: the store's SQL is a fixed
    /// set of texts); dynamic texts such as QueryJobs' WHERE clauses are prepared each time.
    func statement(_ sql: String, cached: Bool = true) throws -> SQLiteStatement {
        if cached, let statement = cache[sql] { return statement }
        var raw: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, cached ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0, &raw, nil)
        guard rc == SQLITE_OK, let raw else { throw error(rc, "cannot prepare '\(sql.prefix(120))'") }
        let statement = SQLiteStatement(raw, connection: self)
        if cached { cache[sql] = statement }
        return statement
    }

    /// Runs a statement that returns no rows; returns the number of rows it changed.
    @discardableResult
    func run(_ sql: String, _ args: SQLValue...) throws -> Int {
        let statement = try statement(sql)
        defer { statement.reset() }
        try statement.bind(args)
        while try statement.step() {}
        return Int(sqlite3_changes(handle))
    }

    /// Runs a query, calling `read` for each row while it returns true.
    func forEach(
        _ sql: String, _ args: [SQLValue], cached: Bool = true, _ read: (SQLiteStatement) throws -> Bool
    ) throws {
        let statement = try statement(sql, cached: cached)
        defer { statement.reset() }
        try statement.bind(args)
        while try statement.step() {
            if try !read(statement) { break }
        }
    }

    func rows<T>(_ sql: String, _ args: SQLValue..., read: (SQLiteStatement) throws -> T) throws -> [T] {
        var result: [T] = []
        try forEach(sql, args) { row in
            result.append(try read(row))
            return true
        }
        return result
    }

    func row<T>(_ sql: String, _ args: SQLValue..., read: (SQLiteStatement) throws -> T) throws -> T? {
        var result: T?
        try forEach(sql, args) { row in
            result = try read(row)
            return false
        }
        return result
    }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }
}

/// A value to bind to a statement parameter.
enum SQLValue {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])

    static func of(_ text: String?) -> SQLValue { text.map { .text($0) } ?? .null }
    static func of(_ int: Int64?) -> SQLValue { int.map { .int($0) } ?? .null }
    static func of(_ int: Int) -> SQLValue { .int(Int64(int)) }
}

final class SQLiteStatement {
    let handle: OpaquePointer
    private unowned let connection: SQLiteConnection

    init(_ handle: OpaquePointer, connection: SQLiteConnection) {
        self.handle = handle
        self.connection = connection
    }

    deinit { sqlite3_finalize(handle) }

    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    func bind(_ values: [SQLValue]) throws {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(handle, index)
            case .int(let i): rc = sqlite3_bind_int64(handle, index, i)
            case .double(let d): rc = sqlite3_bind_double(handle, index, d)
            case .text(let s): rc = sqlite3_bind_text(handle, index, s, -1, assay_sqlite_transient())
            case .blob(let bytes):
                // An empty array may have no base address, which SQLite would bind as NULL.
                if bytes.isEmpty {
                    rc = sqlite3_bind_zeroblob(handle, index, 0)
                } else {
                    rc = bytes.withUnsafeBytes {
                        sqlite3_bind_blob(handle, index, $0.baseAddress, Int32($0.count), assay_sqlite_transient())
                    }
                }
            }
            guard rc == SQLITE_OK else { throw connection.error(rc, "cannot bind parameter \(index)") }
        }
    }

    /// Advances; true while there is a row.
    func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw connection.error(rc, "statement failed")
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }
    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }
    func int(_ column: Int32) -> Int { Int(sqlite3_column_int64(handle, column)) }
    func double(_ column: Int32) -> Double { sqlite3_column_double(handle, column) }
    func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }

    func text(_ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }

    func blob(_ column: Int32) -> [UInt8] {
        guard let pointer = sqlite3_column_blob(handle, column) else { return [] }
        let count = Int(sqlite3_column_bytes(handle, column))
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    func optionalBlob(_ column: Int32) -> [UInt8]? { isNull(column) ? nil : blob(column) }
}

/// An error SQLite reported, before the store turns it into an `AssayError`.
struct SQLiteError: Error, CustomStringConvertible {
    var code: Int32
    var message: String

    var description: String { "SQLite error \(code): \(message)" }
    var isConstraintViolation: Bool { code & 0xff == SQLITE_CONSTRAINT }

    /// Disk full, busy beyond the timeout and I/O errors are the operator's to fix and may pass, so
    /// callers get 503 and retry; anything else is a defect and reported as an internal error.
    var assayError: AssayError {
        switch code & 0xff {
        case SQLITE_FULL, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_READONLY:
            return .storeUnavailable("The SQLite store cannot serve right now (\(message)); retry shortly.")
        default:
            return .internalError("The SQLite store failed: \(message).")
        }
    }
}

extension Error {
    /// The error as callers of the store see it.
    var asAssayError: AssayError {
        if let error = self as? AssayError { return error }
        if let error = self as? SQLiteError { return error.assayError }
        if let error = self as? PostgresError { return error.assayError }
        return .internalError("The store failed: \(self).")
    }
}

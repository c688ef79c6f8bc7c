import AssayInfotable
import CLibPQ

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One libpq connection with its cache of prepared statements, and the typed helpers the store
/// needs to send parameters and read columns.
///
/// A connection is confined to one thread at a time (a pool worker's or the cluster thread's).
/// Parameters travel as text, except byte arrays, which travel in binary so that payloads are not
/// escaped; results come back as text (bytea in hex, which `PostgresResult.bytes` decodes). Every
/// statement the store runs more than once is prepared on first use and kept by its SQL text; a
/// lost connection is dropped whole and opened again, cache and all, by `reconnect`.
final class PostgresConnection: @unchecked Sendable {
    private(set) var handle: OpaquePointer?
    let conninfo: String
    /// Run after every (re)connect, before any other statement: the schema's search path.
    private let setup: String
    private var prepared: [String: String] = [:]
    /// Rows changed by modifying statements since the last `resetChanges`: the batch runner uses
    /// it to tell an operation that failed before writing from one that must be rolled back.
    private(set) var changedRows = 0

    init(conninfo: String, setup: String) {
        self.conninfo = conninfo
        self.setup = setup
    }

    deinit { close() }

    var isOpen: Bool { handle.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// Opens the connection when it is not open (first use, or after it was lost).
    func connectIfNeeded() throws {
        if isOpen { return }
        close()
        guard let conn = PQconnectdb(conninfo) else {
            throw PostgresError(sqlState: "08000", message: "libpq could not allocate a connection")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(conn)).trimmingTrailingNewlines
            PQfinish(conn)
            throw PostgresError(sqlState: "08001", message: "cannot connect to PostgreSQL: \(message)")
        }
        handle = conn
        do {
            try execute(setup)
        } catch {
            close()
            throw error
        }
    }

    func close() {
        if let handle { PQfinish(handle) }
        handle = nil
        prepared.removeAll()
    }

    /// A statement failed inside the current transaction, so it can only be rolled back.
    var isInFailedTransaction: Bool { handle.map { PQtransactionStatus($0) == PQTRANS_INERROR } ?? false }

    var backendPID: Int32 { handle.map { PQbackendPID($0) } ?? 0 }
    var socket: Int32 { handle.map { PQsocket($0) } ?? -1 }

    func resetChanges() { changedRows = 0 }

    // MARK: - Running statements

    /// Runs SQL without parameters (it may hold several statements): setup, DDL, BEGIN and COMMIT.
    func execute(_ sql: String) throws {
        let conn = try open()
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        try check(result, sql)
    }

    /// Runs one statement with parameters, preparing it on first use, and returns its rows.
    @discardableResult
    func query(_ sql: String, _ parameters: [PostgresValue] = [], cached: Bool = true) throws -> PostgresResult {
        let conn = try open()
        var name: String?
        if cached {
            if let known = prepared[sql] {
                name = known
            } else {
                let fresh = "s\(prepared.count)"
                let result = PQprepare(conn, fresh, sql, Int32(parameters.count), nil)
                defer { PQclear(result) }
                try check(result, sql)
                prepared[sql] = fresh
                name = fresh
            }
        }
        let result = try withParameters(parameters) { values, lengths, formats in
            if let name {
                return PQexecPrepared(conn, name, Int32(parameters.count), values, lengths, formats, 0)
            }
            return PQexecParams(conn, sql, Int32(parameters.count), nil, values, lengths, formats, 0)
        }
        let wrapped = PostgresResult(result)
        try check(result, sql)
        // SELECT reports its row count in the same place; only other statements change rows.
        if !sql.hasPrefix("SELECT"), wrapped.affectedRows > 0 { changedRows += wrapped.affectedRows }
        return wrapped
    }

    /// Runs a modifying statement and returns how many rows it changed.
    @discardableResult
    func run(_ sql: String, _ parameters: [PostgresValue] = []) throws -> Int {
        let result = try query(sql, parameters)
        return result.affectedRows
    }

    private func open() throws -> OpaquePointer {
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            throw PostgresError(sqlState: "08003", message: "the connection to PostgreSQL is closed")
        }
        return handle
    }

    private func check(_ result: OpaquePointer?, _ sql: String) throws {
        let status = result.map { PQresultStatus($0) } ?? PGRES_FATAL_ERROR
        guard status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK else { return }
        var sqlState = result.flatMap { PQresultErrorField($0, assay_pq_diag_sqlstate()) }.map { String(cString: $0) }
        var message =
            result.flatMap { PQresultErrorField($0, assay_pq_diag_message_primary()) }.map { String(cString: $0) }
            ?? handle.map { String(cString: PQerrorMessage($0)).trimmingTrailingNewlines } ?? "no connection"
        if let detail = result.flatMap({ PQresultErrorField($0, assay_pq_diag_message_detail()) }) {
            message += " (\(String(cString: detail)))"
        }
        if let handle, PQstatus(handle) != CONNECTION_OK {
            sqlState = sqlState ?? "08006"
            close()
        }
        throw PostgresError(sqlState: sqlState ?? "XX000", message: message, statement: String(sql.prefix(160)))
    }

    /// Hands libpq C arrays of the parameters: text as NUL-terminated UTF-8, bytes in binary.
    private func withParameters(
        _ parameters: [PostgresValue],
        _ body: (UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) -> OpaquePointer?
    ) throws -> OpaquePointer? {
        var buffers: [UnsafeMutablePointer<CChar>?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        buffers.reserveCapacity(parameters.count)
        defer { for buffer in buffers { buffer?.deallocate() } }
        for parameter in parameters {
            switch parameter.wire {
            case .null:
                buffers.append(nil)
                lengths.append(0)
                formats.append(0)
            case .text(let text):
                let bytes = text.utf8CString
                let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
                bytes.withUnsafeBufferPointer { buffer.initialize(from: $0.baseAddress!, count: bytes.count) }
                buffers.append(buffer)
                lengths.append(0)
                formats.append(0)
            case .binary(let bytes):
                let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(bytes.count, 1))
                bytes.withUnsafeBytes { raw in
                    if let base = raw.baseAddress {
                        UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: bytes.count)
                    }
                }
                buffers.append(buffer)
                lengths.append(Int32(bytes.count))
                formats.append(1)
            }
        }
        return buffers.withUnsafeBufferPointer { values in
            values.withMemoryRebound(to: UnsafePointer<CChar>?.self) { constValues in
                lengths.withUnsafeBufferPointer { lengthPointer in
                    formats.withUnsafeBufferPointer { formatPointer in
                        body(constValues.baseAddress, lengthPointer.baseAddress, formatPointer.baseAddress)
                    }
                }
            }
        }
    }

    // MARK: - Notifications

    /// Reads what the server sent and returns the notifications received since the last call.
    func notifications() throws -> [(channel: String, payload: String)] {
        let conn = try open()
        guard PQconsumeInput(conn) == 1 else {
            let message = String(cString: PQerrorMessage(conn)).trimmingTrailingNewlines
            close()
            throw PostgresError(sqlState: "08006", message: "lost the connection to PostgreSQL: \(message)")
        }
        var received: [(String, String)] = []
        while let notify = PQnotifies(conn) {
            received.append((String(cString: notify.pointee.relname), String(cString: notify.pointee.extra)))
            PQfreemem(notify)
        }
        return received
    }
}

/// A parameter of a statement.
struct PostgresValue: Sendable {
    enum Wire: Sendable {
        case null
        case text(String)
        case binary([UInt8])
    }

    let wire: Wire

    static let null = PostgresValue(wire: .null)
    static func text(_ value: String) -> PostgresValue { PostgresValue(wire: .text(value)) }
    static func int(_ value: Int64) -> PostgresValue { PostgresValue(wire: .text(String(value))) }
    static func int(_ value: Int) -> PostgresValue { PostgresValue(wire: .text(String(value))) }
    static func double(_ value: Double) -> PostgresValue { PostgresValue(wire: .text(String(value))) }
    static func bool(_ value: Bool) -> PostgresValue { PostgresValue(wire: .text(value ? "t" : "f")) }
    static func bytes(_ value: [UInt8]) -> PostgresValue { PostgresValue(wire: .binary(value)) }

    static func of(_ value: String?) -> PostgresValue { value.map { .text($0) } ?? .null }
    static func of(_ value: Int64?) -> PostgresValue { value.map { .int($0) } ?? .null }
    static func of(_ value: [UInt8]?) -> PostgresValue { value.map { .bytes($0) } ?? .null }

    /// A `text[]` literal.
    static func textArray(_ values: [String]) -> PostgresValue {
        let items = values.map { value -> String in
            var escaped = "\""
            for character in value.unicodeScalars {
                if character == "\"" || character == "\\" { escaped.unicodeScalars.append("\\") }
                escaped.unicodeScalars.append(character)
            }
            return escaped + "\""
        }
        return .text("{" + items.joined(separator: ",") + "}")
    }

    /// A `bigint[]` literal.
    static func intArray(_ values: [Int64]) -> PostgresValue {
        .text("{" + values.map(String.init).joined(separator: ",") + "}")
    }

    /// A `bytea[]` in PostgreSQL's binary array format (a text literal would double every byte):
    /// dimensions, null flag and element type, then the one dimension's length and lower bound,
    /// then each element as its length and bytes, every integer 32-bit big-endian.
    static func bytesArray(_ values: [[UInt8]]) -> PostgresValue {
        var wire: [UInt8] = []
        wire.reserveCapacity(20 + values.reduce(0) { $0 + 4 + $1.count })
        func append(_ number: Int32) {
            withUnsafeBytes(of: number.bigEndian) { wire.append(contentsOf: $0) }
        }
        let byteaType: Int32 = 17
        for header in [1, 0, byteaType, Int32(values.count), 1] { append(header) }
        for value in values {
            append(Int32(value.count))
            wire.append(contentsOf: value)
        }
        return PostgresValue(wire: .binary(wire))
    }
}

/// The rows of one statement, read as text. Owns the libpq result and frees it.
final class PostgresResult {
    private let result: OpaquePointer?

    init(_ result: OpaquePointer?) { self.result = result }
    deinit { PQclear(result) }

    var count: Int { result.map { Int(PQntuples($0)) } ?? 0 }
    var affectedRows: Int { result.flatMap { Int(String(cString: PQcmdTuples($0))) } ?? 0 }

    func isNull(_ row: Int, _ column: Int) -> Bool { PQgetisnull(result, Int32(row), Int32(column)) == 1 }

    func text(_ row: Int, _ column: Int) -> String {
        guard let value = PQgetvalue(result, Int32(row), Int32(column)) else { return "" }
        let length = Int(PQgetlength(result, Int32(row), Int32(column)))
        return value.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    func optionalText(_ row: Int, _ column: Int) -> String? { isNull(row, column) ? nil : text(row, column) }

    func int64(_ row: Int, _ column: Int) -> Int64 {
        guard let value = PQgetvalue(result, Int32(row), Int32(column)) else { return 0 }
        return Int64(strtoll(value, nil, 10))
    }

    func int(_ row: Int, _ column: Int) -> Int { Int(int64(row, column)) }

    func optionalInt64(_ row: Int, _ column: Int) -> Int64? { isNull(row, column) ? nil : int64(row, column) }

    func double(_ row: Int, _ column: Int) -> Double {
        guard let value = PQgetvalue(result, Int32(row), Int32(column)) else { return 0 }
        return strtod(value, nil)
    }

    func bool(_ row: Int, _ column: Int) -> Bool { text(row, column) == "t" }

    /// A bytea column, sent by the server in hex form (`\x0a1b...`).
    func bytes(_ row: Int, _ column: Int) -> [UInt8] {
        guard let value = PQgetvalue(result, Int32(row), Int32(column)) else { return [] }
        let length = Int(PQgetlength(result, Int32(row), Int32(column)))
        return value.withMemoryRebound(to: UInt8.self, capacity: length) { text in
            guard length >= 2, text[0] == 0x5c, text[1] == 0x78 else { return [] }
            let count = (length - 2) / 2
            return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                for i in 0..<count {
                    buffer[i] = Self.nibble(text[2 + 2 * i]) << 4 | Self.nibble(text[3 + 2 * i])
                }
                initialized = count
            }
        }
    }

    func optionalBytes(_ row: Int, _ column: Int) -> [UInt8]? { isNull(row, column) ? nil : bytes(row, column) }

    private static func nibble(_ c: UInt8) -> UInt8 {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        case 0x41...0x46: return c - 0x41 + 10
        default: return 0
        }
    }
}

/// An error PostgreSQL (or libpq) reported, with its SQLSTATE, before the store turns it into an
/// `AssayError`.
struct PostgresError: Error, CustomStringConvertible {
    var sqlState: String
    var message: String
    var statement: String = ""

    var description: String {
        "PostgreSQL error \(sqlState): \(message)" + (statement.isEmpty ? "" : " (in: \(statement))")
    }

    var isUniqueViolation: Bool { sqlState == "23505" }

    /// The connection is gone or the server is not accepting work (class 08, shutdown, start-up,
    /// too many connections, read-only standby): callers get 503 and retry.
    var isUnavailable: Bool {
        sqlState.hasPrefix("08") || sqlState.hasPrefix("57P") || sqlState == "53300" || sqlState == "25006"
    }

    /// A deadlock or serialisation failure: the transaction can simply run again.
    var isTransient: Bool { sqlState == "40P01" || sqlState == "40001" }

    var assayError: AssayError {
        if isUnavailable {
            return .storeUnavailable(
                "The PostgreSQL store cannot be reached right now (SQLSTATE \(sqlState): \(message)); retry shortly.")
        }
        return .internalError("The PostgreSQL store failed with SQLSTATE \(sqlState): \(message).")
    }
}

extension String {
    fileprivate var trimmingTrailingNewlines: String {
        var text = self
        while text.last == "\n" || text.last == "\r" { text.removeLast() }
        return text
    }
}

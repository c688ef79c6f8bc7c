/// The error every Assay layer throws towards a client: it knows its HTTP status and code, and its
/// message says what was wrong and what would be accepted. `details` carries the extra members of the
/// JSON error body (`row`, `field`, `jobId`, `status`, ...).
public struct AssayError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String
    public var details: JSONObject
    /// Seconds for a `Retry-After` header, for `OVERLOADED`.
    public var retryAfter: Int?

    public init(status: Int, code: String, message: String, details: JSONObject = JSONObject(), retryAfter: Int? = nil)
    {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.retryAfter = retryAfter
    }

    public var description: String { "\(code): \(message)" }

    /// The JSON body: `{"error": {"code": ..., "message": ..., <details>}}`.
    public var json: JSONValue {
        var error = JSONObject()
        error.appendUnchecked("code", .string(code))
        error.appendUnchecked("message", .string(message))
        for (k, v) in details where k != "code" && k != "message" { error[k] = v }
        return .object(JSONObject([("error", .object(error))]))
    }

    public static func badRequest(_ message: String, details: JSONObject = JSONObject()) -> AssayError {
        AssayError(status: 400, code: "BAD_REQUEST", message: message, details: details)
    }

    /// Rows that do not fit a data shape: names the 0-based row and the field.
    public static func invalidInput(row: Int?, field: String?, _ message: String) -> AssayError {
        var details = JSONObject()
        if let row { details.appendUnchecked("row", .int(Int64(row))) }
        if let field { details.appendUnchecked("field", .string(field)) }
        return AssayError(status: 400, code: "INVALID_INPUT", message: message, details: details)
    }

    /// Result rows that do not fit a model's result shape, or break its cardinality. Used as a job's
    /// `errorCode`; the status only matters where such an error reaches a client directly.
    public static func resultInvalid(row: Int?, field: String?, _ message: String) -> AssayError {
        var error = invalidInput(row: row, field: field, message)
        error.status = 422
        error.code = "RESULT_INVALID"
        return error
    }

    /// A row mismatch under the given code: `INVALID_INPUT` (400), `RESULT_INVALID` (422), else 400.
    public static func rowMismatch(code: String, row: Int?, field: String?, _ message: String) -> AssayError {
        switch code {
        case "INVALID_INPUT": return invalidInput(row: row, field: field, message)
        case "RESULT_INVALID": return resultInvalid(row: row, field: field, message)
        default:
            var error = invalidInput(row: row, field: field, message)
            error.code = code
            return error
        }
    }

    public static func unauthorized(_ message: String) -> AssayError {
        AssayError(status: 401, code: "UNAUTHORIZED", message: message)
    }

    public static func forbidden(_ message: String) -> AssayError {
        AssayError(status: 403, code: "FORBIDDEN", message: message)
    }

    public static func unknownProvider(_ name: String) -> AssayError {
        AssayError(
            status: 404, code: "UNKNOWN_PROVIDER", message: "There is no provider named '\(name)'.",
            details: JSONObject([("providerName", .string(name))]))
    }

    public static func unknownModel(provider: String, model: String) -> AssayError {
        AssayError(
            status: 404, code: "UNKNOWN_MODEL", message: "Provider '\(provider)' has no model named '\(model)'.",
            details: JSONObject([("providerName", .string(provider)), ("modelName", .string(model))]))
    }

    public static func unknownJob(provider: String, jobId: String) -> AssayError {
        AssayError(
            status: 404, code: "UNKNOWN_JOB", message: "Provider '\(provider)' has no job with id '\(jobId)'.",
            details: JSONObject([("providerName", .string(provider)), ("jobId", .string(jobId))]))
    }

    public static func unknownFile(_ path: String) -> AssayError {
        AssayError(status: 404, code: "UNKNOWN_FILE", message: "There is no file at '\(path)'.")
    }

    public static func notFound(_ message: String) -> AssayError {
        AssayError(status: 404, code: "NOT_FOUND", message: message)
    }

    public static func conflict(_ message: String) -> AssayError {
        AssayError(status: 409, code: "CONFLICT", message: message)
    }

    public static func modelDisabled(provider: String, model: String) -> AssayError {
        AssayError(
            status: 409, code: "MODEL_DISABLED",
            message: "Model '\(model)' of provider '\(provider)' is disabled; enable it to run jobs.",
            details: JSONObject([("providerName", .string(provider)), ("modelName", .string(model))]))
    }

    public static func jobNotCompleted(jobId: String, status: String) -> AssayError {
        AssayError(
            status: 409, code: "JOB_NOT_COMPLETED",
            message: "Job '\(jobId)' is \(status), not COMPLETED; its results are not available yet.",
            details: JSONObject([("jobId", .string(jobId)), ("status", .string(status))]))
    }

    public static func jobNotRetryable(jobId: String, status: String) -> AssayError {
        AssayError(
            status: 409, code: "JOB_NOT_RETRYABLE",
            message: "Job '\(jobId)' is \(status); only FAILED or INPROCESS jobs can be retried.",
            details: JSONObject([("jobId", .string(jobId)), ("status", .string(status))]))
    }

    /// A result or heartbeat from an attempt that no longer holds the job's lease.
    public static func leaseLost(jobId: String, attempt: Int) -> AssayError {
        AssayError(
            status: 409, code: "LEASE_LOST",
            message: "Attempt \(attempt) of job '\(jobId)' no longer holds the job (lease expired or job retried); "
                + "its result was refused.",
            details: JSONObject([("jobId", .string(jobId)), ("attempt", .int(Int64(attempt)))]))
    }

    public static func unsupportedMediaType(_ contentType: String) -> AssayError {
        AssayError(
            status: 415, code: "UNSUPPORTED_MEDIA_TYPE",
            message: "Content-Type '\(contentType)' is not accepted; send application/json.")
    }

    public static func payloadTooLarge(limit: Int) -> AssayError {
        AssayError(
            status: 413, code: "PAYLOAD_TOO_LARGE",
            message: "The request body is larger than the server's limit of \(limit) bytes.",
            details: JSONObject([("limit", .int(Int64(limit)))]))
    }

    public static func jobFailed(jobId: String, errorCode: String, message: String) -> AssayError {
        AssayError(
            status: 422, code: "JOB_FAILED", message: "Job '\(jobId)' failed: \(message)",
            details: JSONObject([("jobId", .string(jobId)), ("errorCode", .string(errorCode))]))
    }

    public static func overloaded(_ message: String, retryAfter: Int = 1) -> AssayError {
        AssayError(status: 503, code: "OVERLOADED", message: message, retryAfter: retryAfter)
    }

    public static func storeUnavailable(_ message: String) -> AssayError {
        AssayError(status: 503, code: "STORE_UNAVAILABLE", message: message, retryAfter: 1)
    }

    public static func executeTimeout(jobId: String, seconds: Double) -> AssayError {
        AssayError(
            status: 504, code: "EXECUTE_TIMEOUT",
            message: "Job '\(jobId)' did not finish within \(seconds) seconds; it goes on, ask for it by id.",
            details: JSONObject([("jobId", .string(jobId))]))
    }

    public static func internalError(_ message: String) -> AssayError {
        AssayError(status: 500, code: "INTERNAL_ERROR", message: message)
    }
}

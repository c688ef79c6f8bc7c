import AssayInfotable

/// How a job's attempt ended, as a handler returns it. Completions carry their result files, which the
/// runner uploads before it reports the completion.
public enum JobOutcome: Sendable {
    /// `results` is an infotable, `{"rows": [...]}` or a JSON array of rows; the server checks it
    /// against the model's result shape.
    case completed(results: JSONValue, files: [ResultFile])
    /// `retryable` asks the server to run the job again while attempts remain.
    case failed(errorCode: String, message: String, details: String?, retryable: Bool)

    public static func completed(_ results: JSONValue) -> JobOutcome { .completed(results: results, files: []) }

    public var isCompleted: Bool {
        if case .completed = self { return true }
        return false
    }
}

/// A file an attempt produced, uploaded to the job's result repository under `name`.
public struct ResultFile: Sendable, Equatable {
    /// A plain file name: no `/`, no `..`, no control characters.
    public var name: String
    public var contentType: String
    public var bytes: [UInt8]

    public init(name: String, contentType: String, bytes: [UInt8]) {
        self.name = name
        self.contentType = contentType
        self.bytes = bytes
    }

    public var size: Int { bytes.count }

    /// Whether the server accepts `name` as a result file name.
    public static func isValidName(_ name: String) -> Bool {
        guard !name.isEmpty, name != ".", name != "..", name.utf8.count <= 255 else { return false }
        for scalar in name.unicodeScalars
        where scalar == "/" || scalar == "\\" || scalar.value < 0x20
            || scalar.value == 0x7f
        {
            return false
        }
        return true
    }
}

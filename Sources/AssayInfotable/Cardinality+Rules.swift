/// Parsing `inputsToResultsCardinality` and applying it to row counts (SPEC §3).
///
/// "N" is read as one or more: an NxN or Nx1 model given no input rows is refused, since a job over
/// nothing is almost always a client mistake and Nx1 could not produce its one result from it. `Any`
/// accepts zero input rows. On the result side 1xN accepts any number of result rows, zero included.
extension Cardinality {
    public init(parsing text: String?) throws(AssayError) {
        let trimmed = (text ?? "").trimmingSpaces
        if trimmed.isEmpty {
            self = .any
            return
        }
        guard let match = Cardinality.allCases.first(where: { $0.rawValue.lowercased() == trimmed.lowercased() })
        else {
            throw .badRequest(
                "inputsToResultsCardinality '\(trimmed)' is not known; use one of "
                    + Cardinality.allCases.map(\.rawValue).joined(separator: ", ") + " (Any when omitted).",
                details: JSONObject([("field", .string("inputsToResultsCardinality"))]))
        }
        self = match
    }

    public func checkInput(rowCount: Int) throws(AssayError) {
        switch self {
        case .any: return
        case .nxn, .nx1:
            if rowCount < 1 {
                throw .invalidInput(
                    row: nil, field: nil,
                    "The model's cardinality is \(rawValue), which needs at least one input row; "
                        + "the infotable has none.")
            }
        case .onexn, .onex1:
            if rowCount != 1 {
                throw .invalidInput(
                    row: nil, field: nil,
                    "The model's cardinality is \(rawValue), which needs exactly one input row; the infotable has "
                        + "\(rowCount).")
            }
        }
    }

    public func acceptsResult(inputRows: Int, resultRows: Int) -> Bool {
        switch self {
        case .any, .onexn: return true
        case .nxn: return resultRows == inputRows
        case .nx1, .onex1: return resultRows == 1
        }
    }

    /// Why a result row count breaks the cardinality, for a job's RESULT_INVALID message.
    public func resultMismatchMessage(inputRows: Int, resultRows: Int) -> String? {
        guard !acceptsResult(inputRows: inputRows, resultRows: resultRows) else { return nil }
        let expected = self == .nxn ? "\(inputRows) (one per input row)" : "exactly 1"
        return "The model's cardinality is \(rawValue), so it must return \(expected) result rows; it returned "
            + "\(resultRows)."
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}

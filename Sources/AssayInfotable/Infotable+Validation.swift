/// Checking rows against a data shape (SPEC §3), for a job's input rows and a provider's result rows.
///
/// Each value is checked and stored in one canonical form per base type, so the layers above never see
/// `2.0` in an INTEGER field or an ISO string in a DATETIME field. The first problem found is thrown,
/// naming the 0-based row and the field; a table of a million rows with one bad value costs one pass.
extension Infotable {
    /// Returns the rows fitted to `shape`: every field of the shape present in every row, in the shape's
    /// order, missing or null values replaced by the field's default or an explicit null. Errors carry
    /// `code` (`INVALID_INPUT` for job inputs, `RESULT_INVALID` for model results).
    public func conformed(to shape: DataShape, code: String = "INVALID_INPUT") throws(AssayError) -> Infotable {
        try checkAgreement(with: shape, code: code)
        // Positions by name, so that a wide table costs one lookup per value rather than a scan.
        var position: [String: Int] = [:]
        for (i, field) in shape.fields.enumerated() { position[field.name] = i }
        var values = [JSONValue](repeating: .null, count: shape.fields.count)
        var result: [JSONObject] = []
        result.reserveCapacity(rows.count)
        for (index, row) in rows.enumerated() {
            for i in values.indices { values[i] = .null }
            for (key, value) in row {
                guard let i = position[key] else {
                    throw .rowMismatch(
                        code: code, row: index, field: key,
                        "Row \(index), field '\(key)': not in the data shape; its fields are "
                            + Infotable.fieldList(shape) + ".")
                }
                values[i] = value
            }
            var out = JSONObject()
            for (i, field) in shape.fields.enumerated() {
                let value = values[i]
                if value.isNull {
                    out.appendUnchecked(field.name, field.defaultValue ?? .null)
                    continue
                }
                do {
                    out.appendUnchecked(field.name, try Infotable.coerce(value, to: field, code: code))
                } catch {
                    throw .rowMismatch(
                        code: code, row: index, field: field.name,
                        "Row \(index), field '\(field.name)': \(error.message)")
                }
            }
            result.append(out)
        }
        return Infotable(dataShape: shape, rows: result)
    }

    static func fieldList(_ shape: DataShape) -> String {
        shape.fields.isEmpty ? "none" : shape.fields.map(\.name).joined(separator: ", ")
    }

    /// A table that declares a shape must declare the same fields with the same base types. An empty
    /// declared shape declares nothing, so it cannot disagree.
    func checkAgreement(with shape: DataShape, code: String) throws(AssayError) {
        guard !dataShape.fields.isEmpty else { return }
        for field in dataShape.fields {
            guard let expected = shape[field.name] else {
                throw .rowMismatch(
                    code: code, row: nil, field: field.name,
                    "The infotable's dataShape has field '\(field.name)', which the expected shape lacks; "
                        + "expected fields are " + Infotable.fieldList(shape) + ".")
            }
            if expected.baseType != field.baseType {
                throw .rowMismatch(
                    code: code, row: nil, field: field.name,
                    "The infotable's dataShape declares field '\(field.name)' as \(field.baseType.rawValue), "
                        + "but it must be \(expected.baseType.rawValue).")
            }
        }
        for field in shape.fields where dataShape[field.name] == nil {
            throw .rowMismatch(
                code: code, row: nil, field: field.name,
                "The infotable's dataShape lacks field '\(field.name)' (\(field.baseType.rawValue)); send the "
                    + "full shape or none at all.")
        }
    }

    /// One non-null value in the canonical form of `field`'s base type, within its bounds. The error's
    /// message is the part after "Row n, field 'x': ", so callers can put it in context.
    static func coerce(_ value: JSONValue, to field: FieldDefinition, code: String) throws(AssayError) -> JSONValue {
        let coerced: JSONValue
        switch field.baseType {
        case .number:
            guard value.doubleValue != nil else { throw mismatch("expected a NUMBER, got \(describe(value)).") }
            coerced = value
        case .integer:
            let i = try wholeNumber(value, typeName: "an INTEGER")
            guard i >= Int64(Int32.min) && i <= Int64(Int32.max) else {
                throw mismatch(
                    "expected an INTEGER, got \(describe(value)), which is outside the 32-bit range "
                        + "\(Int32.min) to \(Int32.max); use a LONG field for larger numbers.")
            }
            coerced = .int(i)
        case .long:
            coerced = .int(try wholeNumber(value, typeName: "a LONG"))
        case .boolean:
            guard case .bool = value else {
                throw mismatch("expected a BOOLEAN (true or false), got \(describe(value)).")
            }
            coerced = value
        case .datetime:
            if case .string(let text) = value, let millis = ISO8601.parseMillis(text) {
                coerced = .int(millis)
            } else if case .string = value {
                throw mismatch(
                    "expected a DATETIME, got \(describe(value)), which is not an ISO 8601 date; write it like "
                        + "2026-12-03T10:15:30Z or as milliseconds since the epoch.")
            } else {
                coerced = .int(try wholeNumber(value, typeName: "a DATETIME (milliseconds since the epoch)"))
            }
        case .string, .text, .hyperlink:
            guard case .string = value else {
                throw mismatch("expected a \(field.baseType.rawValue), got \(describe(value)).")
            }
            coerced = value
        case .guid:
            guard case .string(let text) = value, looksLikeGUID(text) else {
                throw mismatch(
                    "expected a GUID like 123e4567-e89b-12d3-a456-426614174000, got \(describe(value)).")
            }
            coerced = value
        case .json:
            coerced = value
        case .infotable:
            coerced = try nestedTable(value, field: field, code: code)
        }
        if field.minValue != nil || field.maxValue != nil, let number = coerced.doubleValue {
            if let minValue = field.minValue, number < minValue {
                throw mismatch("\(describe(coerced)) is below the minimum \(describe(.double(minValue))).")
            }
            if let maxValue = field.maxValue, number > maxValue {
                throw mismatch("\(describe(coerced)) is above the maximum \(describe(.double(maxValue))).")
            }
        }
        return coerced
    }

    /// Only the message matters; `conformed` rewraps it with the row, field and code.
    static func mismatch(_ message: String) -> AssayError {
        .badRequest(message)
    }

    /// "a string" for most values, the value itself for numbers, which are short and the usual culprit.
    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .int(let i): return String(i)
        case .double(let d):
            if d.rounded() == d && abs(d) < 1e15 { return String(Int64(d)) }
            return JSON.string(value)
        case .string(let s) where s.count <= 40: return "the string '\(s)'"
        default: return value.typeName
        }
    }

    /// An exact 64-bit integer: 2 and 2.0 are, 2.5 and 2^63 are not.
    static func wholeNumber(_ value: JSONValue, typeName: String) throws(AssayError) -> Int64 {
        guard let d = value.doubleValue else { throw mismatch("expected \(typeName), got \(describe(value)).") }
        if let i = value.int64Value { return i }
        if d.rounded() != d {
            throw mismatch("expected \(typeName), got \(describe(value)), which is not a whole number.")
        }
        throw mismatch(
            "expected \(typeName), got \(describe(value)), which is outside the 64-bit range "
                + "\(Int64.min) to \(Int64.max).")
    }

    /// Loosely: 32 hex digits, optionally grouped by dashes and wrapped in braces.
    static func looksLikeGUID(_ text: String) -> Bool {
        var hexCount = 0
        for (i, byte) in text.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
                UInt8(ascii: "A")...UInt8(ascii: "F"):
                hexCount += 1
            case UInt8(ascii: "-"): continue
            case UInt8(ascii: "{") where i == 0: continue
            case UInt8(ascii: "}") where i == text.utf8.count - 1 && text.hasPrefix("{"): continue
            default: return false
            }
        }
        return hexCount == 32
    }

    /// A nested table checked against the field's nested shape when known, else given its own or an
    /// inferred shape; stored in JSON form with its `dataShape`.
    static func nestedTable(_ value: JSONValue, field: FieldDefinition, code: String)
        throws(AssayError) -> JSONValue
    {
        let table: Infotable
        do {
            table = try Infotable(json: value)
        } catch {
            throw mismatch("expected an INFOTABLE (an object with 'rows'), but \(lowercasedFirst(error.message))")
        }
        guard let nestedShape = field.dataShape else { return table.json }
        do {
            return try table.conformed(to: nestedShape, code: code).json
        } catch {
            throw mismatch("in the nested infotable, \(lowercasedFirst(error.message))")
        }
    }

    static func lowercasedFirst(_ text: String) -> String {
        guard let first = text.first else { return text }
        return first.lowercased() + text.dropFirst()
    }
}

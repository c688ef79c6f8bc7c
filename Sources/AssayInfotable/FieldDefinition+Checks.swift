/// Checks shared by both data shape forms (ThingWorx and manual): names, base types, defaults and
/// ranges are judged once here so that the two forms refuse the same mistakes with the same words.
extension BaseType {
    /// Case-insensitive, because hand-written shapes say "number" as often as "NUMBER".
    static func parse(_ text: String, field: String) throws(AssayError) -> BaseType {
        if let type = BaseType(rawValue: text.uppercased()) { return type }
        throw .badRequest(
            "Field '\(field)' has base type '\(text)', which is not supported; use one of "
                + BaseType.allCases.map(\.rawValue).joined(separator: ", ") + ".",
            details: JSONObject([("field", .string(field))]))
    }

    /// Types whose values are numbers, the only ones a minValue or maxValue can bound.
    var isNumeric: Bool {
        switch self {
        case .number, .integer, .long, .datetime: return true
        default: return false
        }
    }
}

extension FieldDefinition {
    static func fieldError(_ field: String, _ message: String) -> AssayError {
        .badRequest(message, details: JSONObject([("field", .string(field))]))
    }

    /// Refuses a definition whose parts contradict each other, and stores the default in the form rows
    /// get (an ISO date becomes milliseconds, 2.0 for an INTEGER becomes 2).
    mutating func check() throws(AssayError) {
        if name.isEmpty {
            throw FieldDefinition.fieldError(name, "A field has an empty name; give every field a name.")
        }
        if (minValue != nil || maxValue != nil) && !baseType.isNumeric {
            throw FieldDefinition.fieldError(
                name,
                "Field '\(name)' is \(baseType.rawValue) and cannot have a minValue or maxValue; "
                    + "only NUMBER, INTEGER, LONG and DATETIME fields can.")
        }
        if let minValue, let maxValue, minValue > maxValue {
            throw FieldDefinition.fieldError(
                name, "Field '\(name)' has minValue \(minValue) above its maxValue \(maxValue); swap or fix them.")
        }
        if dataShape != nil && baseType != .infotable {
            throw FieldDefinition.fieldError(
                name,
                "Field '\(name)' is \(baseType.rawValue) but has nested field definitions; only INFOTABLE "
                    + "fields can.")
        }
        if let value = defaultValue {
            if value.isNull {
                defaultValue = nil
                return
            }
            do {
                defaultValue = try Infotable.coerce(value, to: self, code: "BAD_REQUEST")
            } catch {
                throw FieldDefinition.fieldError(
                    name, "Field '\(name)' has a defaultValue that does not fit it: \(error.message)")
            }
        }
    }
}

extension DataShape {
    /// Refuses duplicate names and sorts by ordinal, keeping document order among equal ordinals.
    static func checked(_ fields: [FieldDefinition]) throws(AssayError) -> DataShape {
        var seen = Set<String>()
        for field in fields where !seen.insert(field.name).inserted {
            throw FieldDefinition.fieldError(
                field.name, "Field '\(field.name)' is defined twice; field names must be unique.")
        }
        let sorted = fields.enumerated().sorted { a, b in
            a.element.ordinal != b.element.ordinal ? a.element.ordinal < b.element.ordinal : a.offset < b.offset
        }
        return DataShape(sorted.map(\.element))
    }

    /// The ordinal written for the field at `index`: its own, or its position when it has none.
    func writtenOrdinal(_ index: Int) -> Int64 {
        let ordinal = fields[index].ordinal
        return Int64(ordinal > 0 ? ordinal : index + 1)
    }
}

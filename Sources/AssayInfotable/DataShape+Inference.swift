/// Data shapes guessed from values, for tables sent without one (a job's `customData`, a provider's
/// free-form results). The guess is per field over all rows: one JSON type throughout gives its base
/// type, a mix gives JSON, and a field null in every row is STRING, the type that claims least.
extension DataShape {
    public static func inferred(from rows: [JSONObject]) -> DataShape {
        var names: [String] = []
        var kinds: [String: InferredKind] = [:]
        var nestedTables: [String: [Infotable]] = [:]
        for row in rows {
            for (name, value) in row {
                if kinds[name] == nil {
                    names.append(name)
                    kinds[name] = InferredKind.none
                }
                let kind = InferredKind(value)
                kinds[name] = kinds[name]!.merged(with: kind)
                if kind == .table, let table = try? Infotable(json: value) {
                    nestedTables[name, default: []].append(table)
                }
            }
        }
        return DataShape(
            names.enumerated().map { index, name in
                var field = FieldDefinition(name: name, baseType: kinds[name]!.baseType, ordinal: index + 1)
                if field.baseType == .infotable, let tables = nestedTables[name] {
                    // A shape one of the tables declares beats a guess from all of their rows.
                    field.dataShape =
                        tables.first { !$0.dataShape.fields.isEmpty }?.dataShape
                        ?? DataShape.inferred(from: tables.flatMap(\.rows))
                }
                return field
            })
    }
}

private enum InferredKind: Equatable {
    case none, number, boolean, string, table, json

    init(_ value: JSONValue) {
        switch value {
        case .null: self = .none
        case .int, .double: self = .number
        case .bool: self = .boolean
        case .string: self = .string
        case .array: self = .json
        case .object: self = Infotable.looksLikeTable(value) ? .table : .json
        }
    }

    func merged(with other: InferredKind) -> InferredKind {
        if self == .none { return other }
        if other == .none || other == self { return self }
        return .json
    }

    var baseType: BaseType {
        switch self {
        case .none, .string: return .string
        case .number: return .number
        case .boolean: return .boolean
        case .table: return .infotable
        case .json: return .json
        }
    }
}

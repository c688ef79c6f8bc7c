/// The ThingWorx form of a data shape: `{"fieldDefinitions": {"x": {"name", "baseType", "ordinal",
/// "description", "aspects": {...}}}}`, as found in every infotable's `dataShape`.
///
/// Aspects read: `defaultValue`, `minValue`, `maxValue`, `unit`; others (isPrimaryKey, ...) are ignored,
/// since ThingWorx writes many that mean nothing here. An INFOTABLE field's nested shape is read when
/// given inline as `"dataShape": {"fieldDefinitions": ...}` in the definition or its aspects; a data shape
/// given by name (ThingWorx's usual `aspects.dataShape: "SomeShape"`) cannot be resolved and is ignored,
/// so such values get a shape inferred from their rows.
extension DataShape {
    public init(thingworx json: JSONValue) throws(AssayError) {
        guard let object = json.objectValue else {
            throw .badRequest("A dataShape must be an object with 'fieldDefinitions', got \(json.typeName).")
        }
        guard let definitions = object["fieldDefinitions"] else {
            throw .badRequest("A dataShape needs 'fieldDefinitions', an object of field definitions by name.")
        }
        if definitions.isNull {
            self.init([])
            return
        }
        guard let members = definitions.objectValue else {
            throw .badRequest(
                "A dataShape's 'fieldDefinitions' must be an object of field definitions by name, "
                    + "got \(definitions.typeName).")
        }
        var fields: [FieldDefinition] = []
        for (index, (key, value)) in members.enumerated() {
            fields.append(try FieldDefinition(thingworx: value, key: key, position: index + 1))
        }
        self = try DataShape.checked(fields)
    }

    public var thingworxJSON: JSONValue {
        var definitions = JSONObject()
        for (index, field) in fields.enumerated() {
            var definition = JSONObject()
            definition.appendUnchecked("name", .string(field.name))
            definition.appendUnchecked("baseType", .string(field.baseType.rawValue))
            definition.appendUnchecked("ordinal", .int(writtenOrdinal(index)))
            definition.appendUnchecked("description", .string(field.description))
            var aspects = JSONObject()
            if let value = field.defaultValue { aspects.appendUnchecked("defaultValue", value) }
            if let value = field.minValue { aspects.appendUnchecked("minValue", .double(value)) }
            if let value = field.maxValue { aspects.appendUnchecked("maxValue", .double(value)) }
            if let value = field.unit { aspects.appendUnchecked("unit", .string(value)) }
            definition.appendUnchecked("aspects", .object(aspects))
            if let nested = field.dataShape { definition.appendUnchecked("dataShape", nested.thingworxJSON) }
            definitions[field.name] = .object(definition)
        }
        return .object(JSONObject([("fieldDefinitions", .object(definitions))]))
    }
}

extension FieldDefinition {
    init(thingworx json: JSONValue, key: String, position: Int) throws(AssayError) {
        guard let object = json.objectValue else {
            throw FieldDefinition.fieldError(
                key, "The definition of field '\(key)' must be an object, got \(json.typeName).")
        }
        let name: String
        switch object["name"] {
        case nil, .null?: name = key
        case .string(let s)? where s == key || key.isEmpty: name = s
        case .string(let s)?:
            throw FieldDefinition.fieldError(
                key, "Field definition '\(key)' is named '\(s)'; the name must match its key.")
        case let other?:
            throw FieldDefinition.fieldError(key, "Field '\(key)' has a name that is \(other.typeName), not a string.")
        }
        guard let typeText = object["baseType"]?.stringValue else {
            throw FieldDefinition.fieldError(
                name,
                "Field '\(name)' needs a 'baseType' string, one of "
                    + BaseType.allCases.map(\.rawValue).joined(separator: ", ") + ".")
        }
        let aspects = object["aspects"]?.objectValue ?? JSONObject()
        self.init(name: name, baseType: try BaseType.parse(typeText, field: name))
        ordinal = try FieldDefinition.ordinal(object["ordinal"], field: name) ?? position
        description = try FieldDefinition.optionalString(object["description"], key: "description", field: name) ?? ""
        defaultValue = aspects["defaultValue"]
        minValue = try FieldDefinition.bound(aspects["minValue"], key: "minValue", field: name)
        maxValue = try FieldDefinition.bound(aspects["maxValue"], key: "maxValue", field: name)
        unit = try FieldDefinition.optionalString(aspects["unit"], key: "unit", field: name)
        if case .object? = object["dataShape"] {
            dataShape = try FieldDefinition.nested(field: name) { () throws(AssayError) in
                try DataShape(thingworx: object["dataShape"]!)
            }
        } else if case .object? = aspects["dataShape"] {
            dataShape = try FieldDefinition.nested(field: name) { () throws(AssayError) in
                try DataShape(thingworx: aspects["dataShape"]!)
            }
        }
        try check()
    }

    /// Runs a nested shape's parser and puts the outer field's name in front of its complaint.
    static func nested(field: String, _ parse: () throws(AssayError) -> DataShape) throws(AssayError) -> DataShape {
        do {
            return try parse()
        } catch {
            var wrapped = error
            wrapped.message = "In the nested fields of '\(field)': \(error.message)"
            let inner = error.details["field"]?.stringValue
            wrapped.details["field"] = .string(inner.map { field + "." + $0 } ?? field)
            throw wrapped
        }
    }

    static func ordinal(_ value: JSONValue?, field: String) throws(AssayError) -> Int? {
        guard let value, !value.isNull else { return nil }
        guard let i = value.int64Value, i >= 0, i <= Int64(Int32.max) else {
            throw fieldError(field, "Field '\(field)' has ordinal \(JSON.string(value)); use a whole number from 0.")
        }
        return Int(i)
    }

    static func optionalString(_ value: JSONValue?, key: String, field: String) throws(AssayError) -> String? {
        guard let value, !value.isNull else { return nil }
        guard let s = value.stringValue else {
            throw fieldError(field, "Field '\(field)' has a '\(key)' that is \(value.typeName); it must be a string.")
        }
        return s
    }

    static func bound(_ value: JSONValue?, key: String, field: String) throws(AssayError) -> Double? {
        guard let value, !value.isNull else { return nil }
        guard let d = value.doubleValue else {
            throw fieldError(field, "Field '\(field)' has a '\(key)' that is \(value.typeName); it must be a number.")
        }
        return d
    }
}

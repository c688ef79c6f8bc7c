/// The manual form of a data shape (SPEC §5, `CreateModelWithManualDatashapes`): a JSON array of flat
/// field objects, or a string holding that array, plus the field-rows infotable `GetModelDatashapes`
/// returns. Unlike the ThingWorx form this one is typed by people, so unknown keys are refused rather
/// than ignored: a misspelt "maxvalue" silently dropped would be worse than an error.
extension DataShape {
    static let manualKeys = [
        "name", "baseType", "ordinal", "description", "defaultValue", "minValue", "maxValue", "unit",
        "fieldDefinitions",
    ]

    public init(manual json: JSONValue) throws(AssayError) {
        var json = json
        if case .string(let text) = json {
            do {
                json = try JSON.parse(text)
            } catch {
                throw .badRequest(
                    "The data shape is a string but not valid JSON (\(error)); send a JSON array of "
                        + "field objects.")
            }
        }
        guard let array = json.arrayValue else {
            throw .badRequest(
                "A data shape must be a JSON array of field objects like {\"name\": \"x\", \"baseType\": \"NUMBER\"}, "
                    + "got \(json.typeName).")
        }
        var fields: [FieldDefinition] = []
        for (index, element) in array.enumerated() {
            fields.append(try FieldDefinition(manual: element, position: index + 1))
        }
        self = try DataShape.checked(fields)
    }

    public var manualJSON: JSONValue {
        .array(
            fields.indices.map { index in
                let field = fields[index]
                var object = JSONObject()
                object.appendUnchecked("name", .string(field.name))
                object.appendUnchecked("baseType", .string(field.baseType.rawValue))
                object.appendUnchecked("ordinal", .int(writtenOrdinal(index)))
                object.appendUnchecked("description", .string(field.description))
                if let value = field.defaultValue { object.appendUnchecked("defaultValue", value) }
                if let value = field.minValue { object.appendUnchecked("minValue", .double(value)) }
                if let value = field.maxValue { object.appendUnchecked("maxValue", .double(value)) }
                if let value = field.unit { object.appendUnchecked("unit", .string(value)) }
                if let nested = field.dataShape { object.appendUnchecked("fieldDefinitions", nested.manualJSON) }
                return .object(object)
            })
    }

    /// The shape of `fieldsInfotable`'s rows.
    public static let fieldsShape = DataShape([
        FieldDefinition(name: "name", baseType: .string, ordinal: 1),
        FieldDefinition(name: "baseType", baseType: .string, ordinal: 2),
        FieldDefinition(name: "ordinal", baseType: .integer, ordinal: 3),
        FieldDefinition(name: "description", baseType: .string, ordinal: 4),
        FieldDefinition(name: "defaultValue", baseType: .json, ordinal: 5),
        FieldDefinition(name: "minValue", baseType: .number, ordinal: 6),
        FieldDefinition(name: "maxValue", baseType: .number, ordinal: 7),
        FieldDefinition(name: "unit", baseType: .string, ordinal: 8),
        FieldDefinition(name: "fieldDefinitions", baseType: .json, ordinal: 9),
    ])

    /// One row per field, for `GetModelDatashapes`; absent parts are null, nested fields in manual form.
    public var fieldsInfotable: Infotable {
        let rows = fields.indices.map { index in
            let field = fields[index]
            return JSONObject([
                ("name", .string(field.name)),
                ("baseType", .string(field.baseType.rawValue)),
                ("ordinal", .int(writtenOrdinal(index))),
                ("description", .string(field.description)),
                ("defaultValue", field.defaultValue ?? .null),
                ("minValue", field.minValue.map(JSONValue.double) ?? .null),
                ("maxValue", field.maxValue.map(JSONValue.double) ?? .null),
                ("unit", field.unit.map(JSONValue.string) ?? .null),
                ("fieldDefinitions", field.dataShape?.manualJSON ?? .null),
            ])
        }
        return Infotable(dataShape: DataShape.fieldsShape, rows: rows)
    }
}

extension FieldDefinition {
    init(manual json: JSONValue, position: Int) throws(AssayError) {
        guard let object = json.objectValue else {
            throw .badRequest(
                "Field \(position) of the data shape is \(json.typeName); each field must be an object like "
                    + "{\"name\": \"x\", \"baseType\": \"NUMBER\"}.")
        }
        guard case .string(let name)? = object["name"], !name.isEmpty else {
            throw .badRequest("Field \(position) of the data shape needs a non-empty 'name' string.")
        }
        for key in object.keys where !DataShape.manualKeys.contains(key) {
            throw FieldDefinition.fieldError(
                name,
                "Field '\(name)' has an unknown key '\(key)'; accepted keys are "
                    + DataShape.manualKeys.joined(separator: ", ") + ".")
        }
        guard let typeText = object["baseType"]?.stringValue else {
            throw FieldDefinition.fieldError(
                name,
                "Field '\(name)' needs a 'baseType' string, one of "
                    + BaseType.allCases.map(\.rawValue).joined(separator: ", ") + ".")
        }
        self.init(name: name, baseType: try BaseType.parse(typeText, field: name))
        ordinal = try FieldDefinition.ordinal(object["ordinal"], field: name) ?? position
        description = try FieldDefinition.optionalString(object["description"], key: "description", field: name) ?? ""
        defaultValue = object["defaultValue"]
        minValue = try FieldDefinition.bound(object["minValue"], key: "minValue", field: name)
        maxValue = try FieldDefinition.bound(object["maxValue"], key: "maxValue", field: name)
        unit = try FieldDefinition.optionalString(object["unit"], key: "unit", field: name)
        if let nested = object["fieldDefinitions"], !nested.isNull {
            dataShape = try FieldDefinition.nested(field: name) { () throws(AssayError) in
                try DataShape(manual: nested)
            }
        }
        try check()
    }
}

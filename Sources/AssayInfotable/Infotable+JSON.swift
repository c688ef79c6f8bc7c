/// Infotables to and from their ThingWorx JSON form `{"dataShape": {"fieldDefinitions": ...}, "rows": [...]}`.
///
/// Reading is lenient about the shape (it may be missing; the caller checks rows against the model's
/// shape with `conformed(to:)`) and strict about structure (rows must be objects). Writing always
/// includes a `dataShape`, inferring one for a table that has rows but no shape, and gives every nested
/// INFOTABLE value one too, because ThingWorx clients cannot read a table without it.
extension Infotable {
    /// Parses an infotable object, or a string holding one (some REST clients send parameters that way).
    /// Members other than `dataShape` and `rows` are ignored.
    public init(json: JSONValue) throws(AssayError) {
        var json = json
        if case .string(let text) = json {
            do {
                json = try JSON.parse(text)
            } catch {
                throw .badRequest("The infotable is a string but not valid JSON (\(error)).")
            }
        }
        guard let object = json.objectValue else {
            throw .badRequest(
                "An infotable must be an object like {\"dataShape\": {...}, \"rows\": [...]}, got \(json.typeName).")
        }
        var shape = DataShape([])
        if let shapeJSON = object["dataShape"], !shapeJSON.isNull {
            shape = try DataShape(thingworx: shapeJSON)
        }
        var rows: [JSONObject] = []
        switch object["rows"] {
        case nil, .null?: break
        case .array(let elements)?:
            rows.reserveCapacity(elements.count)
            for (index, element) in elements.enumerated() {
                guard let row = element.objectValue else {
                    throw .badRequest(
                        "Row \(index) of the infotable is \(element.typeName); every row must be an object of "
                            + "field values.",
                        details: JSONObject([("row", .int(Int64(index)))]))
                }
                rows.append(row)
            }
        case let other?:
            throw .badRequest("An infotable's 'rows' must be an array of objects, got \(other.typeName).")
        }
        self.init(dataShape: shape, rows: rows)
    }

    public var json: JSONValue {
        let shape = dataShape.fields.isEmpty && !rows.isEmpty ? DataShape.inferred(from: rows) : dataShape
        var outputRows = rows
        let tableFields = shape.fields.filter { $0.baseType == .infotable }
        if !tableFields.isEmpty {
            for i in outputRows.indices {
                for field in tableFields {
                    if let value = outputRows[i][field.name], case .object = value {
                        outputRows[i][field.name] = Infotable.nestedJSON(value, knownShape: field.dataShape)
                    }
                }
            }
        }
        return .object(
            JSONObject([
                ("dataShape", shape.thingworxJSON),
                ("rows", .array(outputRows.map(JSONValue.object))),
            ]))
    }

    /// A nested table with a `dataShape`; a value that is not a readable table is left as it was.
    static func nestedJSON(_ value: JSONValue, knownShape: DataShape?) -> JSONValue {
        guard var table = try? Infotable(json: value) else { return value }
        if table.dataShape.fields.isEmpty, let knownShape { table.dataShape = knownShape }
        return table.json
    }

    /// Whether a value reads as a nested table: an object with a `rows` array and nothing but a
    /// `dataShape` besides.
    static func looksLikeTable(_ value: JSONValue) -> Bool {
        guard let object = value.objectValue, case .array? = object["rows"] else { return false }
        return object.keys.allSatisfy { $0 == "rows" || $0 == "dataShape" }
    }

    /// The form of every single-value service result: one field, one row.
    public static func single(_ name: String, _ baseType: BaseType, _ value: JSONValue) -> Infotable {
        Infotable(
            dataShape: DataShape([FieldDefinition(name: name, baseType: baseType, ordinal: 1)]),
            rows: [JSONObject([(name, value)])])
    }

    /// What services that return nothing return.
    public static var empty: Infotable { Infotable(dataShape: DataShape([])) }
}

/// The base types a field of a data shape may have (SPEC §3). Anything else is refused.
public enum BaseType: String, Sendable, CaseIterable {
    case string = "STRING"
    case text = "TEXT"
    case number = "NUMBER"
    case integer = "INTEGER"
    case long = "LONG"
    case boolean = "BOOLEAN"
    case datetime = "DATETIME"
    case json = "JSON"
    case infotable = "INFOTABLE"
    case guid = "GUID"
    case hyperlink = "HYPERLINK"
}

/// One field of a data shape.
public struct FieldDefinition: Sendable, Equatable {
    public var name: String
    public var baseType: BaseType
    public var ordinal: Int
    public var description: String
    public var defaultValue: JSONValue?
    public var minValue: Double?
    public var maxValue: Double?
    public var unit: String?
    /// For INFOTABLE fields whose rows have a known shape.
    public var dataShape: DataShape?

    public init(
        name: String, baseType: BaseType, ordinal: Int = 0, description: String = "", defaultValue: JSONValue? = nil,
        minValue: Double? = nil, maxValue: Double? = nil, unit: String? = nil, dataShape: DataShape? = nil
    ) {
        self.name = name
        self.baseType = baseType
        self.ordinal = ordinal
        self.description = description
        self.defaultValue = defaultValue
        self.minValue = minValue
        self.maxValue = maxValue
        self.unit = unit
        self.dataShape = dataShape
    }
}

/// An ordered set of field definitions, ordered by ordinal.
public struct DataShape: Sendable, Equatable {
    public var fields: [FieldDefinition]

    public init(_ fields: [FieldDefinition]) {
        self.fields = fields
    }

    public subscript(name: String) -> FieldDefinition? {
        fields.first { $0.name == name }
    }
}

/// A table of rows with a data shape: ThingWorx's infotable.
public struct Infotable: Sendable, Equatable {
    public var dataShape: DataShape
    public var rows: [JSONObject]

    public init(dataShape: DataShape, rows: [JSONObject] = []) {
        self.dataShape = dataShape
        self.rows = rows
    }
}

/// How many result rows a model returns for its input rows.
public enum Cardinality: String, Sendable, CaseIterable {
    case any = "Any"
    case nxn = "NxN"
    case nx1 = "Nx1"
    case onexn = "1xN"
    case onex1 = "1x1"
}

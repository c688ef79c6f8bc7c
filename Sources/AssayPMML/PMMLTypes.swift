// The public value types of the PMML runtime: field descriptions, cell values and errors.
// They are what the server's provider code sees; the compiled internals never expose anything else.

/// The data types PMML declares for fields. Types the runtime cannot compute with are still named
/// here so that a document using them can be described; scoring them is refused at load.
public enum PMMLDataType: String, Sendable {
    case string, integer, float, double, boolean, date, time, dateTime
    case dateDaysSince0 = "dateDaysSince[0]"
    case dateDaysSince1960 = "dateDaysSince[1960]"
    case dateDaysSince1970 = "dateDaysSince[1970]"
    case dateDaysSince1980 = "dateDaysSince[1980]"
    case timeSeconds
    case dateTimeSecondsSince0 = "dateTimeSecondsSince[0]"
    case dateTimeSecondsSince1960 = "dateTimeSecondsSince[1960]"
    case dateTimeSecondsSince1970 = "dateTimeSecondsSince[1970]"
    case dateTimeSecondsSince1980 = "dateTimeSecondsSince[1980]"

    var isNumeric: Bool {
        switch self {
        case .integer, .float, .double: return true
        default: return false
        }
    }
}

/// One input or result column of a model.
public struct PMMLField: Sendable {
    public let name: String
    public let dataType: PMMLDataType
    /// `categorical`, `ordinal` or `continuous`.
    public let optype: String

    public init(name: String, dataType: PMMLDataType, optype: String) {
        self.name = name
        self.dataType = dataType
        self.optype = optype
    }
}

/// One cell handed to or returned by the evaluator.
public enum PMMLValue: Sendable, Equatable {
    case missing
    case double(Double)
    case float(Float)
    case int(Int64)
    case string(String)
    case bool(Bool)
}

/// Why a document could not be loaded or a row could not be scored. `element` names the PMML element
/// at fault (if any) and `field` the field (if any), so that callers can tell the two apart.
public struct PMMLError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let element: String?
    public let field: String?

    public init(_ message: String, element: String? = nil, field: String? = nil) {
        self.message = message
        self.element = element
        self.field = field
    }

    public var description: String {
        var text = message
        if let element { text += " (element '\(element)')" }
        if let field { text += " (field '\(field)')" }
        return text
    }

    static func unsupported(_ element: String) -> PMMLError {
        PMMLError("unsupported PMML element '\(element)'", element: element)
    }

    static func unsupported(_ element: String, attribute: String, value: String) -> PMMLError {
        PMMLError(
            "unsupported value '\(value)' of attribute '\(attribute)' on PMML element '\(element)'",
            element: element)
    }

    static func invalid(_ message: String, element: String? = nil, field: String? = nil) -> PMMLError {
        PMMLError(message, element: element, field: field)
    }
}

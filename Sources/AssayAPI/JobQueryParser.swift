import AssayInfotable
import AssayStore

/// Reads QueryJobs' `values`, `query` and `maxItems` (SPEC §4, Queries) into a `JobQuery`. Filter
/// types and field names match case-insensitively; anything unknown is refused with a message
/// that lists what is accepted.
enum JobQueryParser {
    static let maxItemsLimit = 10_000

    static func parse(values: JSONValue?, query: JSONValue?, maxItems: Double?) throws -> JobQuery {
        var result = JobQuery()
        if let maxItems {
            guard maxItems >= 1, maxItems.rounded() == maxItems else {
                throw AssayError.badRequest("maxItems must be a whole number from 1 to \(maxItemsLimit).")
            }
            result.limit = Int(min(maxItems, Double(maxItemsLimit)))
        }
        if let values {
            let table = try Infotable(json: values)
            result.values = try table.rows.map { row in
                try row.compactMap { name, value -> (JobField, JSONValue)? in
                    guard !value.isNull else { return nil }
                    return (try field(name), value)
                }
            }
        }
        if let query {
            guard case .object(let object) = query else {
                throw AssayError.badRequest("query must be a JSON object with 'filters' and/or 'sorts'.")
            }
            for key in object.keys where key != "filters" && key != "sorts" && key != "filter" {
                throw AssayError.badRequest("Unknown member '\(key)' in query; accepted: filters, sorts.")
            }
            if let filters = object["filters"] ?? object["filter"], !filters.isNull {
                result.filter = try filter(filters)
            }
            if let sorts = object["sorts"], !sorts.isNull {
                guard let array = sorts.arrayValue else {
                    throw AssayError.badRequest("query.sorts must be an array of {fieldName, isAscending}.")
                }
                result.sorts = try array.map { sort in
                    guard let name = sort["fieldName"]?.stringValue else {
                        throw AssayError.badRequest("Each entry of query.sorts needs a fieldName.")
                    }
                    let ascending = sort["isAscending"]?.boolValue ?? true
                    return JobSort(field: try field(name), ascending: ascending)
                }
            }
        }
        return result
    }

    static func field(_ name: String) throws -> JobField {
        guard let field = JobField(named: name) else {
            throw AssayError.badRequest(
                "Unknown field '\(name)' in query; jobs have: "
                    + JobField.allCases.map(\.rawValue).joined(separator: ", ") + ".",
                details: JSONObject([("field", .string(name))]))
        }
        return field
    }

    static let filterTypes = [
        "And", "Or", "EQ", "NE", "GT", "GE", "LT", "LE", "Between", "NotBetween", "Like", "NotLike", "In", "NotIn",
        "MissingValue", "NotMissingValue", "Matches", "NotMatches",
    ]

    static func filter(_ value: JSONValue) throws -> JobFilter {
        guard case .object(let object) = value, let type = object["type"]?.stringValue else {
            throw AssayError.badRequest("Each filter must be an object with a 'type'.")
        }
        func required(_ member: String) throws -> JSONValue {
            guard let v = object[member] else {
                throw AssayError.badRequest("A filter of type \(type) needs '\(member)'.")
            }
            return v
        }
        func fieldName() throws -> JobField {
            guard let name = object["fieldName"]?.stringValue else {
                throw AssayError.badRequest("A filter of type \(type) needs a 'fieldName'.")
            }
            return try field(name)
        }
        func text(_ member: String) throws -> String {
            guard let s = try required(member).stringValue else {
                throw AssayError.badRequest("'\(member)' of a \(type) filter must be a string.")
            }
            return s
        }
        switch type.lowercased() {
        case "and", "or":
            guard let children = object["filters"]?.arrayValue else {
                throw AssayError.badRequest("A filter of type \(type) needs a 'filters' array.")
            }
            let parsed = try children.map(filter)
            return type.lowercased() == "and" ? .and(parsed) : .or(parsed)
        case "eq": return .compare(try fieldName(), .eq, try required("value"))
        case "ne": return .compare(try fieldName(), .ne, try required("value"))
        case "gt": return .compare(try fieldName(), .gt, try required("value"))
        case "ge": return .compare(try fieldName(), .ge, try required("value"))
        case "lt": return .compare(try fieldName(), .lt, try required("value"))
        case "le": return .compare(try fieldName(), .le, try required("value"))
        case "between", "notbetween":
            return .between(
                try fieldName(), from: try required("from"), to: try required("to"),
                negated: type.lowercased() == "notbetween")
        case "like", "notlike":
            return .like(
                try fieldName(), pattern: try text("value"),
                caseSensitive: object["isCaseSensitive"]?.boolValue ?? false, negated: type.lowercased() == "notlike")
        case "in", "notin":
            guard let values = object["values"]?.arrayValue else {
                throw AssayError.badRequest("A filter of type \(type) needs a 'values' array.")
            }
            return .oneOf(try fieldName(), values, negated: type.lowercased() == "notin")
        case "missingvalue": return .missing(try fieldName(), negated: false)
        case "notmissingvalue": return .missing(try fieldName(), negated: true)
        case "matches", "notmatches":
            let expression = try text("expression")
            do {
                _ = try Regex(expression)
            } catch {
                throw AssayError.badRequest("'\(expression)' is not a valid regular expression.")
            }
            return .matches(try fieldName(), expression: expression, negated: type.lowercased() == "notmatches")
        default:
            throw AssayError.badRequest(
                "Unknown filter type '\(type)'; accepted: " + filterTypes.joined(separator: ", ") + ".",
                details: JSONObject([("type", .string(type))]))
        }
    }
}

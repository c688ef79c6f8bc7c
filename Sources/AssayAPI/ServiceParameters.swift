import AssayInfotable

/// The named parameters of one service call, read with their types checked. A parameter the
/// service does not know is refused, so that a typo does not silently change what a call does.
struct ServiceParameters {
    let service: String
    let object: JSONObject
    let accepted: [String]

    init(service: String, body: JSONValue, accepted: [String]) throws {
        self.service = service
        self.accepted = accepted
        guard case .object(let object) = body else {
            throw AssayError.badRequest("The body of \(service) must be a JSON object of named parameters.")
        }
        self.object = object
        for key in object.keys where !accepted.contains(key) {
            let list = accepted.isEmpty ? "it takes none" : "accepted: " + accepted.joined(separator: ", ")
            throw AssayError.badRequest(
                "Unknown parameter '\(key)' for \(service); \(list).",
                details: JSONObject([("parameter", .string(key))]))
        }
    }

    private func mistyped(_ name: String, _ expected: String, _ value: JSONValue) -> AssayError {
        AssayError.badRequest(
            "Parameter '\(name)' of \(service) must be \(expected), got \(value.typeName).",
            details: JSONObject([("parameter", .string(name))]))
    }

    private func missing(_ name: String) -> AssayError {
        AssayError.badRequest(
            "Parameter '\(name)' of \(service) is required.", details: JSONObject([("parameter", .string(name))]))
    }

    func value(_ name: String) -> JSONValue? {
        guard let v = object[name], !v.isNull else { return nil }
        return v
    }

    func requiredString(_ name: String) throws -> String {
        guard let s = try string(name), !s.isEmpty else { throw missing(name) }
        return s
    }

    func string(_ name: String) throws -> String? {
        guard let v = value(name) else { return nil }
        guard let s = v.stringValue else { throw mistyped(name, "a string", v) }
        return s
    }

    func number(_ name: String) throws -> Double? {
        guard let v = value(name) else { return nil }
        guard let d = v.doubleValue, d.isFinite else { throw mistyped(name, "a number", v) }
        return d
    }

    func integer(_ name: String, in range: ClosedRange<Int64>) throws -> Int? {
        guard let v = value(name) else { return nil }
        guard let i = v.int64Value, range.contains(i) else {
            throw AssayError.badRequest(
                "Parameter '\(name)' of \(service) must be an integer from \(range.lowerBound) to \(range.upperBound).",
                details: JSONObject([("parameter", .string(name))]))
        }
        return Int(i)
    }

    func bool(_ name: String) throws -> Bool? {
        guard let v = value(name) else { return nil }
        guard let b = v.boolValue else { throw mistyped(name, "true or false", v) }
        return b
    }

    /// A JSON parameter that ThingWorx clients may also send as a string holding JSON.
    func json(_ name: String) throws -> JSONValue? {
        guard let v = value(name) else { return nil }
        if case .string(let text) = v {
            if text.isEmpty { return nil }
            do {
                return try JSON.parse(text)
            } catch {
                throw AssayError.badRequest(
                    "Parameter '\(name)' of \(service) holds malformed JSON: \(error)",
                    details: JSONObject([("parameter", .string(name))]))
            }
        }
        return v
    }

    func jsonObject(_ name: String) throws -> JSONObject? {
        guard let v = try json(name) else { return nil }
        guard let o = v.objectValue else { throw mistyped(name, "a JSON object", v) }
        return o
    }

    func stringArray(_ name: String) throws -> [String]? {
        guard let v = try json(name) else { return nil }
        guard let a = v.arrayValue, a.allSatisfy({ $0.stringValue != nil }) else {
            throw mistyped(name, "a JSON array of strings", v)
        }
        return a.compactMap(\.stringValue)
    }
}

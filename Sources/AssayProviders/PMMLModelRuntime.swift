import AssayEngine
import AssayInfotable
import AssayPMML
import AssayStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The `pmml` connector: scores PMML documents inside the server with the AssayPMML runtime.
/// Documents are compiled once and cached per model together with the bytes they were compiled
/// from; a model created anew, or whose file's bytes differ from those, is compiled again.
public final class PMMLModelRuntime: ModelRuntime {
    private struct Compiled {
        let file: [UInt8]
        let model: PMMLModel
    }

    private let compiled = Mutex<[String: Compiled]>([:])

    public init() {}

    public func describe(file: [UInt8]) throws -> (input: DataShape, result: DataShape, cardinality: Cardinality) {
        let model = try load(file)
        return (
            DataShape(model.inputFields.enumerated().map { PMMLModelRuntime.field($1, ordinal: $0 + 1) }),
            DataShape(model.resultFields.enumerated().map { PMMLModelRuntime.field($1, ordinal: $0 + 1) }),
            .nxn
        )
    }

    public func score(model record: ModelRecord, file: [UInt8], input: Infotable) throws -> Infotable {
        let key = "\(record.provider)/\(record.name)/\(record.createdTime)"
        let model: PMMLModel
        if let cached = compiled.withLock({ $0[key] }), Self.sameBytes(cached.file, file) {
            model = cached.model
            // The same bytes read again into another buffer: keep that buffer, so that the next
            // check is a pointer comparison rather than a memcmp of the whole file.
            if !Self.sameBuffer(cached.file, file) {
                compiled.withLock { $0[key] = Compiled(file: file, model: model) }
            }
        } else {
            model = try load(file)
            compiled.withLock { $0[key] = Compiled(file: file, model: model) }
        }
        var evaluator = model.makeEvaluator()
        let names = model.inputFields.map(\.name)
        let resultNames = model.resultFields.map(\.name)
        var rows: [JSONObject] = []
        rows.reserveCapacity(input.rows.count)
        var values = [PMMLValue](repeating: .missing, count: names.count)
        for (index, row) in input.rows.enumerated() {
            for (i, name) in names.enumerated() { values[i] = PMMLModelRuntime.value(row[name]) }
            let outputs: [PMMLValue]
            do {
                outputs = try evaluator.score(values)
            } catch {
                throw AssayError.invalidInput(
                    row: index, field: error.field,
                    "Row \(index)" + (error.field.map { ", field '\($0)'" } ?? "")
                        + ": \(error.message)")
            }
            var result = JSONObject()
            for (i, name) in resultNames.enumerated() {
                result.appendUnchecked(name, PMMLModelRuntime.json(outputs[i]))
            }
            rows.append(result)
        }
        return Infotable(dataShape: try describeShape(model), rows: rows)
    }

    /// Whether two files hold the same bytes: the same buffer (the usual case, as the engine keeps
    /// files), or equal contents compared with memcmp.
    static func sameBytes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        guard !a.isEmpty, !sameBuffer(a, b) else { return true }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 }
        }
    }

    static func sameBuffer(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { x in b.withUnsafeBytes { y in x.baseAddress == y.baseAddress && x.count == y.count } }
    }

    private func describeShape(_ model: PMMLModel) throws -> DataShape {
        DataShape(model.resultFields.enumerated().map { PMMLModelRuntime.field($1, ordinal: $0 + 1) })
    }

    private func load(_ file: [UInt8]) throws -> PMMLModel {
        do {
            return try PMMLModel.load(file)
        } catch {
            var details = JSONObject()
            if let element = error.element { details["element"] = .string(element) }
            throw AssayError.badRequest("The PMML document cannot be used: \(error.message)", details: details)
        }
    }

    static func field(_ field: PMMLField, ordinal: Int) -> FieldDefinition {
        let baseType: BaseType
        switch field.dataType {
        case .double, .float: baseType = .number
        case .integer: baseType = .long
        case .boolean: baseType = .boolean
        case .date, .dateTime: baseType = .datetime
        default: baseType = .string
        }
        return FieldDefinition(name: field.name, baseType: baseType, ordinal: ordinal)
    }

    static func value(_ json: JSONValue?) -> PMMLValue {
        switch json {
        case nil, .null?: return .missing
        case .int(let i)?: return .int(i)
        case .double(let d)?: return .double(d)
        case .string(let s)?: return .string(s)
        case .bool(let b)?: return .bool(b)
        case .array?, .object?: return .missing
        }
    }

    static func json(_ value: PMMLValue) -> JSONValue {
        switch value {
        case .missing: return .null
        case .double(let d): return d.isFinite ? .double(d) : .null
        case .float(let f): return f.isFinite ? .double(Double(f)) : .null
        case .int(let i): return .int(i)
        case .string(let s): return .string(s)
        case .bool(let b): return .bool(b)
        }
    }
}

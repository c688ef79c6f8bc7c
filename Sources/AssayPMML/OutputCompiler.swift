// Compiles a model's Output element: each OutputField becomes a slot (so that later output fields and,
// in a model chain, later segments can refer to it by name) reading the model's result record.
// Features without an implementation here (residual, standardError, warning, rule features of
// association models) are refused at load.

struct OutputCompiler {
    static func compile(_ output: XMLElement, node: ModelNode, context: ModelContext) throws(PMMLError) {
        let compiler = context.compiler
        let scope = context.scope
        let resultIndex = node.resultIndex
        var outputSlots: [Int32] = []
        // Assigned whole once done: the node's properties are only ever replaced, never modified in place.
        defer { node.outputSlots = outputSlots }
        for field in output.children where field.name == "OutputField" {
            let name = try field.required("name")
            let feature = field.attribute("feature") ?? "predictedValue"
            if field.attribute("segmentId") != nil {
                throw PMMLError(
                    "OutputField '\(name)' reads a segment's result (segmentId), which is not supported",
                    element: "OutputField", field: name)
            }
            var declared = try compiler.parseDataType(field, required: false)
            let computer: Expr
            var inferred: PMMLDataType = .double
            switch feature {
            case "predictedValue":
                inferred =
                    node.function == .regression
                    ? .double
                    : (node.function == .clustering ? .string : node.targetDataType)
                computer = { (scratch: Scratch) throws(PMMLError) -> V in scratch.results[resultIndex].value }
            case "predictedDisplayValue":
                inferred = .string
                let displays = node.displayValues
                let names = node.entityNames
                let isClustering = node.function == .clustering
                computer = { (scratch: Scratch) throws(PMMLError) -> V in
                    let result = scratch.results[resultIndex]
                    if result.value.isMissing { return .missing }
                    if isClustering, result.entity >= 0, Int(result.entity) < names.count,
                        !names[Int(result.entity)].isMissing
                    {
                        return names[Int(result.entity)]
                    }
                    if let display = displays[result.category] { return .string(display) }
                    return Casting.convert(result.value, to: .string, scratch)
                }
            case "probability", "confidence":
                let base = node.probabilityBase
                var fixed = -1
                if let label = field.attribute("value") {
                    guard node.function == .classification else {
                        throw PMMLError(
                            "OutputField '\(name)' asks for a probability of a \(node.function.rawValue) model",
                            element: "OutputField", field: name)
                    }
                    fixed = try context.categoryIndex(node, label)
                }
                let isConfidence = feature == "confidence"
                // Captured by value: a captured `var` would be boxed and checked for exclusivity on every read.
                computer = { [fixed] (scratch: Scratch) throws(PMMLError) -> V in
                    let result = scratch.results[resultIndex]
                    if isConfidence && !result.confidence.isNaN { return .number(result.confidence) }
                    guard result.hasProbabilities else { return .missing }
                    let index = fixed >= 0 ? fixed : Int(result.category)
                    return index >= 0 ? .number(scratch.doubles[base + index]) : .missing
                }
            case "entityId":
                inferred = .string
                let ids = node.entityIds
                let rank = try field.int("rank") ?? 1
                let rankedBase = node.rankedEntityBase, rankedCount = node.rankedEntityCount
                if rank != 1 && (rankedBase < 0 || rank < 1 || rank > rankedCount) {
                    throw PMMLError(
                        "OutputField '\(name)' asks for entity rank \(rank), which this model does not have",
                        element: "OutputField", field: name)
                }
                computer = { (scratch: Scratch) throws(PMMLError) -> V in
                    if scratch.results[resultIndex].value.isMissing { return .missing }
                    let entity =
                        rankedBase >= 0
                        ? Int(scratch.doubles[rankedBase + rank - 1])
                        : Int(scratch.results[resultIndex].entity)
                    return entity >= 0 && entity < ids.count ? ids[entity] : .missing
                }
            case "affinity", "clusterAffinity", "entityAffinity":
                guard node.affinityBase >= 0 else {
                    throw PMMLError(
                        "OutputField '\(name)': this model has no affinities", element: "OutputField",
                        field: name)
                }
                let base = node.affinityBase
                var fixed = -1
                if let label = field.attribute("value") {
                    let value = try compiler.literal(label, .string)
                    fixed = node.entityIds.firstIndex(where: { Comparison.equalStatic($0, value, compiler) }) ?? -1
                    guard fixed >= 0 else {
                        throw PMMLError(
                            "OutputField '\(name)' names an unknown entity '\(label)'",
                            element: "OutputField", field: name)
                    }
                }
                computer = { [fixed] (scratch: Scratch) throws(PMMLError) -> V in
                    let entity = fixed >= 0 ? fixed : Int(scratch.results[resultIndex].entity)
                    if scratch.results[resultIndex].value.isMissing || entity < 0 { return .missing }
                    return .number(scratch.doubles[base + entity])
                }
            case "reasonCode":
                inferred = .string
                guard node.reasonBase >= 0 else {
                    throw PMMLError(
                        "OutputField '\(name)': this model has no reason codes", element: "OutputField",
                        field: name)
                }
                let rank = try field.int("rank") ?? 1
                guard rank >= 1 else {
                    throw PMMLError("OutputField '\(name)' has rank \(rank)", element: "OutputField", field: name)
                }
                let base = node.reasonBase, count = node.reasonCount
                computer = { (scratch: Scratch) throws(PMMLError) -> V in
                    guard rank <= count else { return .missing }
                    let code = scratch.doubles[base + rank - 1]
                    return code.isNaN ? .missing : .string(Int32(code))
                }
            case "transformedValue", "decision":
                guard
                    let body = field.children.first(where: { ExpressionCompiler.expressionElements.contains($0.name) })
                else {
                    if let other = field.children.first(where: { $0.name != "Extension" && $0.name != "Decisions" }) {
                        throw .unsupported(other.name)
                    }
                    throw PMMLError("OutputField '\(name)' has no expression", element: "OutputField", field: name)
                }
                let compiled = try ExpressionCompiler(compiler: compiler, scope: scope).compile(body)
                inferred = compiled.dataType ?? .double
                computer = compiled.expr
            default:
                throw PMMLError(
                    "unsupported OutputField feature '\(feature)' (field '\(name)')",
                    element: "OutputField", field: name)
            }
            if declared == nil { declared = inferred }
            let dataType = declared!
            let slot = compiler.newSlot(name, Casting.cast(computer, from: inferred, to: dataType))
            let info = FieldInfo(
                name: name, slot: slot, dataType: dataType, optype: field.attribute("optype"),
                values: [])
            scope.fields[name] = info
            node.outputFields.append(info)
            outputSlots.append(slot)
            // isFinalResult="false" fields are still results: JPMML-Evaluator returns them too.
            if context.isTop {
                let optype = field.attribute("optype") ?? (dataType.isNumeric ? "continuous" : "categorical")
                compiler.program.results.append(
                    ResultSpec(
                        field: PMMLField(name: name, dataType: dataType, optype: optype),
                        read: { (scratch: Scratch) throws(PMMLError) -> V in try scratch.fetch(slot) },
                        integer: dataType == .integer
                            || (feature == "predictedValue" && node.targetDataType == .integer),
                        slot: slot))
            }
        }
    }
}

extension Comparison {
    /// Equality at load time, before any scratch exists.
    static func equalStatic(_ left: V, _ right: V, _ compiler: Compiler) -> Bool {
        if left.same(right) { return true }
        func text(_ value: V) -> String? {
            switch value.tag {
            case .string: return compiler.table.strings[Int(value.code)]
            case .number: return javaString(value.num, integer: value.num == value.num.rounded())
            case .bool: return value.num != 0 ? "true" : "false"
            case .missing: return nil
            }
        }
        if let a = text(left), let b = text(right) {
            if a == b { return true }
            if let x = parseDouble(a), let y = parseDouble(b) { return x == y }
        }
        return false
    }
}

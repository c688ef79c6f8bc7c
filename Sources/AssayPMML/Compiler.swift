// Turns a parsed PMML document into a `Program`: DataDictionary and TransformationDictionary into slots,
// each model's MiningSchema, LocalTransformations, Targets and Output into slot computers, and the
// model bodies into `ModelNode`s. Field names are resolved here, once; scoring never sees a name.
// Elements the runtime does not implement are refused with an error naming them.

/// A DataField with what validation and category handling need.
struct DataFieldInfo {
    let name: String
    let dataType: PMMLDataType
    let optype: String
    var validValues: [String] = []
    var invalidValues: [String] = []
    var missingValues: [String] = []
    var displayValues: [String: String] = [:]
    var intervals: [Interval] = []
}

/// A field visible in some scope: where its value lives and what it is.
struct FieldInfo {
    let name: String
    let slot: Int32
    let dataType: PMMLDataType?
    let optype: String?
    /// Declared valid values in order (ordinal comparisons, categories of targets).
    let values: [String]
}

/// Names visible at one level: a model's mining fields, local transformations and outputs,
/// falling back to the enclosing model and finally to the document's dictionaries.
final class Scope {
    unowned let compiler: Compiler
    let parent: Scope?
    var fields: [String: FieldInfo] = [:]
    var pending: [String: XMLElement] = [:]
    private var inProgress: Set<String> = []
    /// Function-body scopes see their parameters only.
    let isolated: Bool

    init(compiler: Compiler, parent: Scope?, isolated: Bool = false) {
        self.compiler = compiler
        self.parent = parent
        self.isolated = isolated
    }

    func lookup(_ name: String) throws(PMMLError) -> FieldInfo {
        if let field = fields[name] { return field }
        if let element = pending[name] {
            guard inProgress.insert(name).inserted else {
                throw PMMLError(
                    "derived field '\(name)' is defined in terms of itself", element: "DerivedField",
                    field: name)
            }
            let field = try compiler.compileDerivedField(element, in: self)
            inProgress.remove(name)
            pending[name] = nil
            fields[name] = field
            return field
        }
        if let parent, !isolated { return try parent.lookup(name) }
        throw PMMLError("field '\(name)' is referenced but not defined", field: name)
    }

    func declare(_ element: XMLElement) throws(PMMLError) {
        let name = try element.required("name")
        pending[name] = element
    }
}

final class Compiler {
    let program = Program()
    let table = StringTable()
    var dataFields: [String: DataFieldInfo] = [:]
    var dataFieldOrder: [String] = []
    var functions: [String: XMLElement] = [:]
    var root: Scope!
    var activeInputs: [String] = []
    /// Slots that receive caller values, before any MiningField treatment.
    var rawSlots: [String: Int32] = [:]
    /// Targets of the enclosing models: a segment whose MiningSchema names no target predicts its parent's.
    var targetStack: [String] = []

    static let modelElements: Set<String> = [
        "TreeModel", "RegressionModel", "GeneralRegressionModel", "MiningModel", "NeuralNetwork",
        "SupportVectorMachineModel", "NaiveBayesModel", "ClusteringModel", "NearestNeighborModel",
        "RuleSetModel", "Scorecard",
    ]
    static let unsupportedModelElements: Set<String> = [
        "AssociationModel", "SequenceModel", "TextModel", "TimeSeriesModel", "BaselineModel",
        "BayesianNetworkModel", "GaussianProcessModel", "AnomalyDetectionModel",
    ]

    /// A slot computed by `computer` when first read in a row.
    func newSlot(_ name: String, _ computer: @escaping Expr) -> Int32 {
        newSlot(name, Computer(run: computer))
    }

    /// A slot set by the caller (`computer` nil) or computed.
    func newSlot(_ name: String, _ computer: Computer?) -> Int32 {
        program.computers.append(computer)
        program.slotNames.append(name)
        return Int32(program.computers.count - 1)
    }

    func allocateDoubles(_ count: Int) -> Int {
        let base = program.doubleCount
        program.doubleCount += count
        return base
    }

    func allocateResult() -> Int {
        program.resultCount += 1
        return program.resultCount - 1
    }

    // MARK: Document

    func compile(_ root: XMLElement) throws(PMMLError) -> Program {
        guard root.name == "PMML" else {
            throw PMMLError("the root element is '\(root.name)', not 'PMML'", element: root.name)
        }
        let scope = Scope(compiler: self, parent: nil)
        self.root = scope
        var model: XMLElement?
        for child in root.children {
            switch child.name {
            case "Header", "MiningBuildTask", "Extension": continue
            case "DataDictionary": try compileDataDictionary(child, scope)
            case "TransformationDictionary":
                for item in child.children {
                    switch item.name {
                    case "DerivedField": try scope.declare(item)
                    case "DefineFunction": functions[try item.required("name")] = item
                    case "Extension": continue
                    default: throw .unsupported(item.name)
                    }
                }
            default:
                if Compiler.modelElements.contains(child.name) || Compiler.unsupportedModelElements.contains(child.name)
                {
                    if model == nil { model = child }
                } else {
                    throw .unsupported(child.name)
                }
            }
        }
        guard let model else { throw PMMLError("the document contains no model", element: "PMML") }
        let node = try compileModel(model, parent: scope, isTop: true)
        program.top = node
        try compileResults(node, model)
        program.strings = table.strings
        program.codes = table.codes
        return program
    }

    private func compileDataDictionary(_ element: XMLElement, _ scope: Scope) throws(PMMLError) {
        for child in element.children {
            if child.name == "Extension" || child.name == "Taxonomy" { continue }
            guard child.name == "DataField" else { throw .unsupported(child.name) }
            let name = try child.required("name")
            let dataType = try parseDataType(child, required: true)!
            var info = DataFieldInfo(name: name, dataType: dataType, optype: child.attribute("optype") ?? "continuous")
            for item in child.children {
                switch item.name {
                case "Value":
                    let value = try item.required("value")
                    switch item.attribute("property") ?? "valid" {
                    case "valid": info.validValues.append(value)
                    case "invalid": info.invalidValues.append(value)
                    case "missing": info.missingValues.append(value)
                    case let other: throw .unsupported("Value", attribute: "property", value: other)
                    }
                    if let display = item.attribute("displayValue") { info.displayValues[value] = display }
                case "Interval": info.intervals.append(try Interval(item))
                case "Extension": continue
                default: throw .unsupported(item.name)
                }
            }
            dataFields[name] = info
            dataFieldOrder.append(name)
            let slot = newSlot(name, nil)
            rawSlots[name] = slot
            scope.fields[name] = FieldInfo(
                name: name, slot: slot, dataType: dataType, optype: info.optype,
                values: info.validValues)
        }
    }

    func parseDataType(_ element: XMLElement, required: Bool) throws(PMMLError) -> PMMLDataType? {
        guard let raw = element.attribute("dataType") else {
            if required {
                throw PMMLError(
                    "element '\(element.name)' lacks the required attribute 'dataType'",
                    element: element.name)
            }
            return nil
        }
        guard let type = PMMLDataType(rawValue: raw) else {
            throw .unsupported(element.name, attribute: "dataType", value: raw)
        }
        switch type {
        case .string, .integer, .float, .double, .boolean: return type
        default:
            // TODO: date and time types; documents using them are refused rather than scored wrongly.
            throw PMMLError("unsupported dataType '\(raw)' on element '\(element.name)'", element: element.name)
        }
    }

    /// A literal of the given type as a runtime value (category labels, constants, replacements).
    func literal(_ text: String, _ dataType: PMMLDataType?) throws(PMMLError) -> V {
        switch dataType {
        case .integer?, .double?:
            guard let number = parseDouble(text) else {
                throw PMMLError("'\(text)' is not a valid \(dataType!.rawValue) value")
            }
            return .number(number)
        case .float?:
            guard let number = parseDouble(text) else { throw PMMLError("'\(text)' is not a valid float value") }
            return .number(Double(Float(number)))
        case .boolean?:
            switch text.trimmingSpaces().lowercased() {
            case "true", "1": return .bool(true)
            case "false", "0": return .bool(false)
            default: throw PMMLError("'\(text)' is not a valid boolean value")
            }
        case nil:
            if let number = parseDouble(text) { return .number(number) }
            return .string(table.intern(text))
        default:
            return .string(table.intern(text))
        }
    }

    // MARK: Models

    func compileModel(_ element: XMLElement, parent: Scope, isTop: Bool) throws(PMMLError) -> ModelNode {
        guard Compiler.modelElements.contains(element.name) else { throw .unsupported(element.name) }
        if element.attribute("isScorable") == "false" {
            throw PMMLError("model '\(element.name)' is marked isScorable=\"false\"", element: element.name)
        }
        let functionName = try element.required("functionName")
        guard let function = MiningFunction(rawValue: functionName) else {
            throw PMMLError("unsupported functionName '\(functionName)' on '\(element.name)'", element: element.name)
        }
        let scope = Scope(compiler: self, parent: parent)
        var targetName: String?
        guard let schema = element.child("MiningSchema") else {
            throw PMMLError("model '\(element.name)' has no MiningSchema", element: element.name)
        }
        for field in schema.children where field.name == "MiningField" {
            let name = try field.required("name")
            let usage = field.attribute("usageType") ?? "active"
            switch usage {
            case "predicted", "target":
                if targetName == nil { targetName = name }
            case "active", "supplementary", "group", "order", "frequencyWeight", "analysisWeight":
                let source = try parent.lookup(name)
                if isTop && usage == "active" { activeInputs.append(name) }
                let treated = try compileMiningField(field, source: source, isTop: isTop)
                scope.fields[name] = treated
                // The document's own transformations see the treated value too, as JPMML's do.
                if isTop && parent === root { parent.fields[name] = treated }
            default:
                throw .unsupported("MiningField", attribute: "usageType", value: usage)
            }
        }
        if targetName == nil, let inherited = targetStack.last, !inherited.isEmpty { targetName = inherited }
        if let targetName { targetStack.append(targetName) }
        defer { if targetName != nil { targetStack.removeLast() } }
        if let local = element.child("LocalTransformations") {
            for item in local.children {
                switch item.name {
                case "DerivedField": try scope.declare(item)
                case "Extension": continue
                default: throw .unsupported(item.name)
                }
            }
        }
        let context = ModelContext(
            compiler: self, element: element, scope: scope, function: function,
            targetName: targetName, isTop: isTop)
        let node: ModelNode
        switch element.name {
        case "TreeModel": node = try TreeModelNode.compile(context)
        case "RegressionModel": node = try RegressionModelNode.compile(context)
        case "GeneralRegressionModel": node = try GeneralRegressionNode.compile(context)
        case "MiningModel": node = try MiningModelNode.compile(context)
        case "NeuralNetwork": node = try NeuralNetworkNode.compile(context)
        case "SupportVectorMachineModel": node = try SupportVectorMachineNode.compile(context)
        case "NaiveBayesModel": node = try NaiveBayesNode.compile(context)
        case "ClusteringModel": node = try ClusteringNode.compile(context)
        case "NearestNeighborModel": node = try NearestNeighborNode.compile(context)
        case "RuleSetModel": node = try RuleSetNode.compile(context)
        case "Scorecard": node = try ScorecardNode.compile(context)
        default: throw .unsupported(element.name)
        }
        node.floatContext = element.attribute("x-mathContext") == "float"
        if let targets = element.child("Targets") { try compileTargets(targets, node, context) }
        if let output = element.child("Output") {
            try OutputCompiler.compile(output, node: node, context: context)
        }
        return node
    }

    private func compileMiningField(_ field: XMLElement, source: FieldInfo, isTop: Bool) throws(PMMLError)
        -> FieldInfo
    {
        let name = source.name
        let dataType = source.dataType
        var replacement: V?
        if let text = field.attribute("missingValueReplacement") { replacement = try literal(text, dataType) }
        var invalidReplacement: V?
        if let text = field.attribute("invalidValueReplacement") { invalidReplacement = try literal(text, dataType) }
        let missingTreatment = field.attribute("missingValueTreatment") ?? "asIs"
        guard ["asIs", "asMean", "asMode", "asMedian", "asValue", "returnInvalid"].contains(missingTreatment) else {
            throw .unsupported("MiningField", attribute: "missingValueTreatment", value: missingTreatment)
        }
        let returnInvalidOnMissing = missingTreatment == "returnInvalid"
        var invalidTreatment = field.attribute("invalidValueTreatment") ?? "returnInvalid"
        if invalidTreatment == "asValue" && invalidReplacement == nil { invalidTreatment = "asMissing" }
        guard ["returnInvalid", "asIs", "asMissing", "asValue"].contains(invalidTreatment) else {
            throw .unsupported("MiningField", attribute: "invalidValueTreatment", value: invalidTreatment)
        }
        let outliers = field.attribute("outliers") ?? "asIs"
        let low = try field.double("lowValue")
        let high = try field.double("highValue")
        switch outliers {
        case "asIs": break
        case "asMissingValues", "asExtremeValues":
            guard low != nil || high != nil else {
                throw PMMLError(
                    "MiningField '\(name)' treats outliers but has no lowValue/highValue",
                    element: "MiningField", field: name)
            }
        default: throw .unsupported("MiningField", attribute: "outliers", value: outliers)
        }
        let needsOutliers = outliers != "asIs"
        if !isTop && replacement == nil && !needsOutliers && !returnInvalidOnMissing {
            return source
        }
        let sourceSlot = source.slot
        let passesThrough = replacement == nil && !needsOutliers && !returnInvalidOnMissing
        let lowValue = low ?? -.infinity
        let highValue = high ?? .infinity
        let clamp = outliers == "asExtremeValues"
        // Captured by value: captured `var`s would be boxed and checked for exclusivity on every read.
        let computer: Expr = {
            [replacement, invalidReplacement, invalidTreatment]
            (scratch: Scratch) throws(PMMLError) -> V in
            var value = try scratch.fetch(sourceSlot)
            if value.invalid {
                switch invalidTreatment {
                case "asIs": value.invalid = false
                case "asMissing": value = .missing
                case "asValue": value = invalidReplacement!
                default:
                    let text = scratch.text(of: value) ?? ""
                    throw PMMLError(
                        "value '\(text)' of field '\(name)' is invalid and its invalidValueTreatment is "
                            + "returnInvalid", element: "MiningField", field: name)
                }
            }
            if value.isMissing {
                if let replacement { return replacement }
                if returnInvalidOnMissing {
                    throw PMMLError(
                        "field '\(name)' is missing and its missingValueTreatment is returnInvalid",
                        element: "MiningField", field: name)
                }
                return value
            }
            if needsOutliers, value.tag == .number {
                if value.num < lowValue {
                    return clamp ? .number(lowValue) : (replacement ?? .missing)
                }
                if value.num > highValue {
                    return clamp ? .number(highValue) : (replacement ?? .missing)
                }
            }
            return value
        }
        let slot = newSlot(name, computer)
        if isTop && passesThrough, let raw = rawSlots[name], raw == sourceSlot,
            program.passThroughSlots[raw] == nil
        {
            program.passThroughSlots[raw] = slot
        }
        return FieldInfo(
            name: name, slot: slot, dataType: dataType, optype: field.attribute("optype") ?? source.optype,
            values: source.values)
    }

    private func compileTargets(_ element: XMLElement, _ node: ModelNode, _ context: ModelContext)
        throws(PMMLError)
    {
        for target in element.children where target.name == "Target" {
            if let field = target.attribute("field"), let name = node.targetName, field != name { continue }
            var spec = TargetSpec()
            spec.rescaleFactor = try target.double("rescaleFactor", default: 1)
            spec.rescaleConstant = try target.double("rescaleConstant", default: 0)
            spec.minimum = try target.double("min")
            spec.maximum = try target.double("max")
            if let cast = target.attribute("castInteger") {
                guard ["round", "ceiling", "floor"].contains(cast) else {
                    throw .unsupported("Target", attribute: "castInteger", value: cast)
                }
                spec.castInteger = cast
            }
            let values = target.children("TargetValue")
            if node.function == .classification && !values.isEmpty {
                var priors = [Double](repeating: 0, count: node.categories.count)
                var anyPrior = false
                for value in values {
                    guard let label = value.attribute("value") else { continue }
                    let index = node.category(of: try literal(label, node.targetDataType))
                    guard index >= 0 else { continue }
                    if let display = value.attribute("displayValue") {
                        node.displayValues[Int32(index)] = table.intern(display)
                    }
                    if let prior = try value.double("priorProbability") {
                        priors[index] = prior
                        anyPrior = true
                    }
                }
                if anyPrior { spec.priors = priors }
            } else if node.function == .regression, let value = values.first {
                spec.defaultValue = try value.double("defaultValue")
            }
            node.targets = spec
        }
    }

    // MARK: Derived fields

    func compileDerivedField(_ element: XMLElement, in scope: Scope) throws(PMMLError) -> FieldInfo {
        let name = try element.required("name")
        let dataType = try parseDataType(element, required: false)
        guard let body = element.children.first(where: { $0.name != "Extension" && $0.name != "Value" }) else {
            throw PMMLError("derived field '\(name)' has no expression", element: "DerivedField", field: name)
        }
        let compiled = try ExpressionCompiler(compiler: self, scope: scope).compile(body)
        let expression = Casting.cast(compiled.expr, from: compiled.dataType, to: dataType)
        let slot = newSlot(name, expression)
        let values = element.children("Value").compactMap { $0.attribute("value") }
        return FieldInfo(
            name: name, slot: slot, dataType: dataType ?? compiled.dataType,
            optype: element.attribute("optype"), values: values)
    }

    // MARK: Results

    private func compileResults(_ node: ModelNode, _ element: XMLElement) throws(PMMLError) {
        for name in activeInputs {
            let info = dataFields[name]
            guard let slot = rawSlots[name] else {
                throw PMMLError("active field '\(name)' is not a DataField", element: "MiningField", field: name)
            }
            let dataType = info?.dataType ?? .double
            func strings(_ values: [String]) -> Set<Int32> { Set(values.map { table.intern($0) }) }
            func numbers(_ values: [String]) -> Set<Double> {
                Set(values.compactMap { parseDouble($0).map { dataType == .float ? Double(Float($0)) : $0 } })
            }
            let valid = info?.validValues ?? []
            let numeric = dataType.isNumeric
            program.inputs.append(
                InputSpec(
                    name: name, slot: slot, dataType: dataType,
                    validStrings: !numeric && !valid.isEmpty ? strings(valid) : nil,
                    validNumbers: numeric && !valid.isEmpty ? numbers(valid) : nil,
                    invalidStrings: strings(info?.invalidValues ?? []),
                    invalidNumbers: numbers(info?.invalidValues ?? []),
                    missingStrings: strings(info?.missingValues ?? []),
                    missingNumbers: numbers(info?.missingValues ?? []),
                    intervals: info?.intervals ?? []))
        }
        program.inputPlans = program.inputs.map { spec in
            InputPlan(spec, treatedSlot: program.passThroughSlots[spec.slot] ?? -1)
        }
        if let target = node.targetName {
            let resultIndex = node.resultIndex
            let integer = node.targetDataType == .integer
            program.targets.append(
                (
                    target,
                    { (scratch: Scratch) throws(PMMLError) -> V in
                        scratch.results[resultIndex].value
                    }, integer
                ))
        }
        if !program.results.isEmpty || element.child("Output") != nil { return }
        // Without an Output element the results are the target and, for classification, its probabilities.
        if let target = node.targetName {
            let resultIndex = node.resultIndex
            let dataType = node.function == .classification ? node.targetDataType : .double
            program.results.append(
                ResultSpec(
                    field: PMMLField(
                        name: target, dataType: dataType,
                        optype: node.function == .classification ? "categorical" : "continuous"),
                    read: { (scratch: Scratch) throws(PMMLError) -> V in scratch.results[resultIndex].value },
                    integer: node.targetDataType == .integer))
            if node.function == .classification {
                for index in node.categories.indices {
                    let base = node.probabilityBase
                    program.results.append(
                        ResultSpec(
                            field: PMMLField(
                                name: "probability(\(node.categoryLabels[index]))", dataType: .double,
                                optype: "continuous"),
                            read: { (scratch: Scratch) throws(PMMLError) -> V in
                                scratch.results[resultIndex].hasProbabilities
                                    ? .number(scratch.doubles[base + index]) : .missing
                            }, integer: false))
                }
            }
        }
    }
}

/// What a model compiler gets to work with.
struct ModelContext {
    let compiler: Compiler
    let element: XMLElement
    let scope: Scope
    let function: MiningFunction
    let targetName: String?
    let isTop: Bool

    var targetField: DataFieldInfo? { targetName.flatMap { compiler.dataFields[$0] } }

    /// Creates the node's result record and, for classification, its categories and probability region.
    /// `modelLabels` are the categories the model itself mentions, used when the DataField lists none.
    func setUp(_ node: ModelNode, modelLabels: [String] = []) throws(PMMLError) {
        node.resultIndex = compiler.allocateResult()
        node.targetName = targetName
        if let target = targetName {
            if let info = compiler.dataFields[target] {
                node.targetDataType = info.dataType
            } else if let field = try? scope.lookup(target), let type = field.dataType {
                node.targetDataType = type
            }
        } else if function == .classification {
            node.targetDataType = .string
        }
        guard function == .classification else { return }
        var labels = targetField?.validValues ?? []
        if labels.isEmpty {
            for label in modelLabels where !labels.contains(label) { labels.append(label) }
        }
        var seen: [V] = []
        for label in labels {
            let value = try compiler.literal(label, node.targetDataType)
            if seen.contains(where: { $0.same(value) }) { continue }
            seen.append(value)
            node.categoryLabels.append(label)
        }
        node.categories = seen
        node.probabilityBase = compiler.allocateDoubles(seen.count)
    }

    /// The category index of a label the model mentions; fails clearly if the target does not know it.
    func categoryIndex(_ node: ModelNode, _ label: String) throws(PMMLError) -> Int {
        let index = node.category(of: try compiler.literal(label, node.targetDataType))
        guard index >= 0 else {
            throw PMMLError(
                "category '\(label)' is not a value of target field '\(targetName ?? "?")'",
                element: element.name, field: targetName)
        }
        return index
    }
}

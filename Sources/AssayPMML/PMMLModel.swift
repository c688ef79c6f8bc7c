// The public entry point: load (parse and compile) a PMML document once, then hand out evaluators.
// Loading refuses anything the runtime cannot score faithfully, naming the element at fault.

public final class PMMLModel: Sendable {
    let program: Program
    /// Active MiningFields of the top model with their DataDictionary types, in document order.
    public let inputFields: [PMMLField]
    /// OutputFields in document order, or the target (and its probabilities) when there is no Output.
    public let resultFields: [PMMLField]
    public let isClassification: Bool

    private init(program: Program) {
        self.program = program
        inputFields = program.inputs.map { input in
            PMMLField(name: input.name, dataType: input.dataType, optype: "")
        }
        resultFields = program.results.map(\.field)
        isClassification = program.top.function == .classification
    }

    public static func load(_ document: [UInt8]) throws(PMMLError) -> PMMLModel {
        let root = try XMLReader.parse(document)
        let compiler = Compiler()
        let program = try compiler.compile(root)
        let model = PMMLModel(program: program)
        return model.withOptypes(compiler)
    }

    private func withOptypes(_ compiler: Compiler) -> PMMLModel {
        // The optype of an input comes from its DataField; the MiningField may override it.
        let fields = inputFields.map { field in
            PMMLField(
                name: field.name, dataType: field.dataType,
                optype: compiler.dataFields[field.name]?.optype ?? "continuous")
        }
        return PMMLModel(program: program, inputFields: fields)
    }

    private init(program: Program, inputFields: [PMMLField]) {
        self.program = program
        self.inputFields = inputFields
        resultFields = program.results.map(\.field)
        isClassification = program.top.function == .classification
    }

    public func makeEvaluator() -> PMMLEvaluator {
        PMMLEvaluator(program: program)
    }
}

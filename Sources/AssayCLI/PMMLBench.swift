/// `assay bench pmml`: PMML scoring throughput beside JPMML-Evaluator's.
enum PMMLBench {
    static func run(_ words: [String]) throws -> Int32 {
        // TODO: not built yet; the scoring benchmark lands with the PMML benchmark work.
        throw CLIError("assay bench pmml is not available in this build", exitCode: 1)
    }
}

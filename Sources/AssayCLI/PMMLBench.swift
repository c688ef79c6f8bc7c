import AssayPMML

#if canImport(Glibc)
    import Glibc
#endif

/// `assay bench pmml`: PMML scoring throughput of the in-server runtime, one thread, per benchmark document.
///
/// Each document is parsed and compiled once; then, on this thread, warm-up passes and measured passes of
/// `--rows` rows each (the document's distinct input rows, cycled) go through `PMMLEvaluator.score`. The
/// figure is the median rows per second of the measured passes. scripts/pmml/JpmmlBench.java reads the
/// same rows the same way and folds its results into the same checksum, so scripts/pmml/compare.sh can
/// put the two side by side; with `--expected` every distinct row's results are compared with JPMML's.
enum PMMLBench {
    static let usage = """
        usage: assay bench pmml [--documents DIR] [--rows N] [--warmup N] [--passes N] [--expected DIR] [NAME ...]

        Scores each benchmark document NAME (default: \(names.joined(separator: " "))) on one thread and
        prints its median rows per second. DIR/NAME.pmml is the document, DIR/NAME.input.csv its input rows.

          --documents DIR   the benchmark documents (default: \(defaultDocuments))
          --rows N          rows scored per pass, the input rows cycled (default: 100000)
          --warmup N        unmeasured passes before the measured ones (default: 1)
          --passes N        measured passes; the median is reported (default: 5)
          --expected DIR    compare every input row's results with DIR/NAME.expected.csv (a column per
                            result name; JPMML's, from jpmml_bench.py --expected-dir) before measuring;
                            DIR/NAME.expected.csv in the documents folder is used when present
        """

    static let defaultDocuments = "Tests/AssayPMMLTests/Fixtures/bench"
    static let names = ["tree", "forest", "gbm", "logistic", "mlp"]
    static let descriptions = [
        "tree": "decision tree, depth 10", "forest": "random forest, 50 trees",
        "gbm": "gradient boosting, 100 trees", "logistic": "logistic regression", "mlp": "MLP, 32+16 neurons",
    ]

    static func run(_ words: [String]) throws -> Int32 {
        let args = try Arguments(
            words, valued: ["documents", "rows", "warmup", "passes", "expected"], flags: ["help"])
        if args.flag("help") {
            print(usage)
            return 0
        }
        let folder = args.value("documents") ?? defaultDocuments
        let rowsPerPass = try args.int("rows") ?? 100_000
        let warmup = try args.int("warmup") ?? 1
        let passes = try args.int("passes") ?? 5
        guard rowsPerPass > 0, warmup >= 0, passes > 0 else {
            throw CLIError("--rows and --passes must be positive and --warmup not negative")
        }
        let selected = args.positional.isEmpty ? names : args.positional
        for name in selected where access("\(folder)/\(name).pmml", R_OK) != 0 {
            throw CLIError(
                "no benchmark document \(folder)/\(name).pmml; pass --documents DIR (the default is relative to "
                    + "the repository root)")
        }

        print(
            "assay bench pmml: \(rowsPerPass) rows per pass, \(warmup) warm-up + \(passes) measured passes, one thread")
        flushStandardOutput()
        var failed = false
        for name in selected {
            let benchmark: PMMLBenchmark
            do {
                benchmark = try PMMLBenchmark(
                    document: try ClientCommands.readFile("\(folder)/\(name).pmml"),
                    inputCSV: try ClientCommands.readFile("\(folder)/\(name).input.csv"))
            } catch let error as PMMLError {
                throw CLIError("\(name): \(error)", exitCode: 1)
            }
            let note = descriptions[name] ?? name
            print(BenchCommand.line("pmml_\(name)_load_ms", benchmark.loadSeconds * 1000, "\(note): parse and compile"))

            var expectedPath = args.value("expected").map { "\($0)/\(name).expected.csv" }
            if expectedPath == nil && access("\(folder)/\(name).expected.csv", R_OK) == 0 {
                expectedPath = "\(folder)/\(name).expected.csv"
            }
            if let expectedPath {
                let outcome = try benchmark.compare(expectedCSV: try ClientCommands.readFile(expectedPath))
                if outcome.mismatches.isEmpty {
                    print("pmml_\(name)_rows_matching=\(outcome.rows)  # every result as in \(expectedPath), to 1e-9")
                } else {
                    failed = true
                    print("pmml_\(name)_rows_matching=0  # results differ from \(expectedPath)")
                    for mismatch in outcome.mismatches { printError("assay: \(name): \(mismatch)") }
                }
            }

            let measurement = try benchmark.measure(rowsPerPass: rowsPerPass, warmupPasses: warmup, passes: passes)
            let rates = measurement.passRates
            print(
                BenchCommand.line(
                    "pmml_\(name)_rows_per_second", measurement.medianRate,
                    "\(note): median of \(passes) passes, \(Int(rates.min() ?? 0))..\(Int(rates.max() ?? 0))"))
            print("pmml_\(name)_checksum=\(measurement.checksum)  # sum of the numeric results of one pass")
            flushStandardOutput()
        }
        return failed ? 1 : 0
    }
}

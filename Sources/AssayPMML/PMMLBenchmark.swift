// The throughput probe behind `assay bench pmml`: a document is parsed and compiled once, its input rows
// are read the way scripts/pmml/JpmmlBench.java reads them, and passes of N rows (the inputs cycled) are
// scored on the calling thread through the public `PMMLEvaluator.score`, as a server would. Each pass
// folds its results into a checksum that JpmmlBench computes the same way, so the work cannot be
// optimised away and the two runtimes can be seen to have scored the same rows alike.

#if canImport(Glibc)
    import Glibc
#endif

public final class PMMLBenchmark {
    public let model: PMMLModel
    /// Wall time of parsing and compiling the document.
    public let loadSeconds: Double
    /// The distinct input rows, aligned with `model.inputFields`.
    public let rows: [[PMMLValue]]

    /// What `measure` saw.
    public struct Measurement: Sendable {
        /// Rows per second of each measured pass, in the order they ran.
        public let passRates: [Double]
        /// Sum of the numeric results (targets included) of one pass; every pass must agree.
        public let checksum: Double

        /// The median of `passRates` (the mean of the middle two for an even count).
        public var medianRate: Double {
            let sorted = passRates.sorted()
            guard !sorted.isEmpty else { return 0 }
            let middle = sorted.count / 2
            return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        }
    }

    /// Loads `document` and reads `inputCSV` (a header row naming every input field, then one row per line).
    public init(document: [UInt8], inputCSV: [UInt8]) throws(PMMLError) {
        let start = Self.now()
        model = try PMMLModel.load(document)
        loadSeconds = Self.now() - start
        rows = try Self.readRows(inputCSV, fields: model.inputFields)
        guard !rows.isEmpty else { throw PMMLError("the input CSV holds no rows") }
    }

    /// Scores `warmupPasses` unmeasured passes, then `passes` timed passes of `rowsPerPass` rows each.
    public func measure(rowsPerPass: Int, warmupPasses: Int, passes: Int) throws(PMMLError) -> Measurement {
        var evaluator = model.makeEvaluator()
        for _ in 0..<warmupPasses { _ = try pass(&evaluator, rowsPerPass) }
        var rates: [Double] = []
        var checksum: Double?
        for _ in 0..<passes {
            let start = Self.now()
            let sum = try pass(&evaluator, rowsPerPass)
            rates.append(Double(rowsPerPass) / (Self.now() - start))
            if let checksum, checksum != sum, !(checksum.isNaN && sum.isNaN) {
                throw PMMLError("two passes over the same rows gave different checksums (\(checksum), \(sum))")
            }
            checksum = sum
        }
        return Measurement(passRates: rates, checksum: checksum ?? 0)
    }

    /// One pass: `count` rows, the distinct rows cycled, through the same API a server uses.
    private func pass(_ evaluator: inout PMMLEvaluator, _ count: Int) throws(PMMLError) -> Double {
        // JPMML's results always hold the target; ours only when the document has no Output element.
        let resultNames = Set(model.resultFields.map(\.name))
        let targets = model.program.targets.filter { !resultNames.contains($0.name) }.map(\.read)
        var sum = 0.0
        var index = 0
        for _ in 0..<count {
            for value in try evaluator.score(rows[index]) {
                switch value {
                case .double(let x): sum += x
                case .float(let x): sum += Double(x)
                case .int(let x): sum += Double(x)
                case .missing, .string, .bool: break
                }
            }
            for read in targets {
                let value = try read(evaluator.scratch)
                if value.tag == .number { sum += value.num }
            }
            index += 1
            if index == rows.count { index = 0 }
        }
        return sum
    }

    /// Scores every distinct row and compares its results and targets with `expectedCSV`, a table with one
    /// column per result or target name (written by JpmmlBench). Empty cells are missing; numbers must agree
    /// to `tolerance`, relative. Returns the number of rows compared and up to `limit` differences.
    public func compare(expectedCSV: [UInt8], tolerance: Double = 1e-9, limit: Int = 10) throws(PMMLError)
        -> (rows: Int, mismatches: [String])
    {
        let lines = Self.lines(expectedCSV)
        guard let header = lines.first.map({ Self.cells($0) }) else {
            throw PMMLError("the expected-results CSV is empty")
        }
        let expected = lines.dropFirst().map { Self.cells($0) }
        guard expected.count == rows.count else {
            throw PMMLError("the expected-results CSV has \(expected.count) rows, the input \(rows.count)")
        }
        let names = model.resultFields.map(\.name)
        let evaluator = model.makeEvaluator()
        var mismatches: [String] = []
        for (rowIndex, row) in rows.enumerated() {
            let scored = try evaluator.scoreWithTargets(row)
            for (column, name) in header.enumerated() {
                let actual: PMMLValue
                if let index = names.firstIndex(of: name) {
                    actual = scored.results[index]
                } else if let target = scored.targets[name] {
                    actual = target
                } else {
                    throw PMMLError("the expected results name '\(name)', which this model does not produce")
                }
                let cell = column < expected[rowIndex].count ? expected[rowIndex][column] : ""
                if let problem = Self.mismatch(cell, actual, tolerance) {
                    mismatches.append("row \(rowIndex + 1), '\(name)': \(problem)")
                    if mismatches.count >= limit { return (rowIndex + 1, mismatches) }
                }
            }
        }
        return (rows.count, mismatches)
    }

    private static func mismatch(_ expected: String, _ actual: PMMLValue, _ tolerance: Double) -> String? {
        let text: String
        switch actual {
        case .missing: return expected.isEmpty ? nil : "expected \(expected), got missing"
        case .double(let x): text = "\(x)"
        case .float(let x): text = "\(x)"
        case .int(let x): text = "\(x)"
        case .string(let x): text = x
        case .bool(let x): text = x ? "true" : "false"
        }
        if expected.isEmpty { return "expected missing, got \(text)" }
        if let e = javaDouble(expected), let a = javaDouble(text) {
            let difference = Swift.abs(e - a)
            if e == a || difference <= tolerance * Swift.max(Swift.abs(e), Swift.abs(a)) || difference < 1e-15 {
                return nil
            }
        } else if expected == text {
            return nil
        }
        return "expected \(expected), got \(text)"
    }

    // MARK: - Reading rows as JpmmlBench.java does

    /// Reads a CSV with a header row; columns are matched to `fields` by name. No quoting: a cell is the
    /// text between commas. Empty cells are missing, cells `Double.valueOf` accepts are doubles, others
    /// strings. Empty lines are skipped.
    static func readRows(_ csv: [UInt8], fields: [PMMLField]) throws(PMMLError) -> [[PMMLValue]] {
        let lines = lines(csv)
        guard let headerLine = lines.first else { return [] }
        let header = cells(headerLine)
        var columns: [Int] = []
        for field in fields {
            guard let column = header.firstIndex(of: field.name) else {
                throw PMMLError("input field \(field.name) is not a column of the input CSV", field: field.name)
            }
            columns.append(column)
        }
        var rows: [[PMMLValue]] = []
        for (number, line) in lines.enumerated().dropFirst() {
            let row = cells(line)
            var values: [PMMLValue] = []
            values.reserveCapacity(columns.count)
            for column in columns {
                guard column < row.count else {
                    throw PMMLError("line \(number + 1) of the input CSV has \(row.count) cells, fewer than the header")
                }
                let cell = row[column]
                if cell.isEmpty {
                    values.append(.missing)
                } else if let number = javaDouble(cell) {
                    values.append(.double(number))
                } else {
                    values.append(.string(cell))
                }
            }
            rows.append(values)
        }
        return rows
    }

    /// The non-empty lines of a text, split at \n, \r\n or \r as Java's `BufferedReader.readLine` does.
    private static func lines(_ bytes: [UInt8]) -> [String] {
        var lines: [String] = []
        var start = 0
        var index = 0
        while index <= bytes.count {
            let atEnd = index == bytes.count
            if atEnd || bytes[index] == 10 || bytes[index] == 13 {
                if index > start { lines.append(String(decoding: bytes[start..<index], as: UTF8.self)) }
                if !atEnd && bytes[index] == 13 && index + 1 < bytes.count && bytes[index + 1] == 10 { index += 1 }
                start = index + 1
            }
            index += 1
        }
        return lines
    }

    /// `line.split(",", -1)`: every cell, trailing empty ones included.
    private static func cells(_ line: String) -> [String] {
        line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    }

    /// Java's `Double.valueOf` for decimal text: surrounding characters up to U+0020 are ignored, then
    /// an optional sign and `NaN`, `Infinity` or digits with an optional point and exponent, and an
    /// optional `f`/`F`/`d`/`D` suffix. Hexadecimal forms are not recognised (read as strings).
    static func javaDouble(_ raw: String) -> Double? {
        var bytes = Array(raw.utf8)
        while let last = bytes.last, last <= 32 { bytes.removeLast() }
        var start = 0
        while start < bytes.count && bytes[start] <= 32 { start += 1 }
        bytes.removeFirst(start)
        var body = bytes
        if let last = body.last,
            [UInt8(ascii: "f"), UInt8(ascii: "F"), UInt8(ascii: "d"), UInt8(ascii: "D")].contains(last)
        {
            body.removeLast()
        }
        var position = 0
        var negative = false
        if position < body.count && (body[position] == UInt8(ascii: "+") || body[position] == UInt8(ascii: "-")) {
            negative = body[position] == UInt8(ascii: "-")
            position += 1
        }
        let rest = String(decoding: body[position...], as: UTF8.self)
        if rest == "NaN" || rest == "Infinity" {
            // The suffix is not allowed after these words.
            guard body.count == bytes.count else { return nil }
            return rest == "NaN" ? .nan : (negative ? -.infinity : .infinity)
        }
        func digits() -> Int {
            let first = position
            while position < body.count && body[position] >= UInt8(ascii: "0") && body[position] <= UInt8(ascii: "9") {
                position += 1
            }
            return position - first
        }
        var mantissaDigits = digits()
        if position < body.count && body[position] == UInt8(ascii: ".") {
            position += 1
            mantissaDigits += digits()
        }
        guard mantissaDigits > 0 else { return nil }
        if position < body.count && (body[position] == UInt8(ascii: "e") || body[position] == UInt8(ascii: "E")) {
            position += 1
            if position < body.count && (body[position] == UInt8(ascii: "+") || body[position] == UInt8(ascii: "-")) {
                position += 1
            }
            guard digits() > 0 else { return nil }
        }
        guard position == body.count else { return nil }
        return Double(String(decoding: body, as: UTF8.self))
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}

// Helpers shared by the fixture-driven tests: locating fixtures next to this file, reading the small
// CSV dialect the fixtures use, and comparing a scored row with JPMML's expected one.

import Foundation

@testable import AssayPMML

enum Fixtures {
    static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures")
    static var conformance: URL { root.appendingPathComponent("conformance") }

    static func files(_ directory: URL, suffix: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(suffix) }.sorted()
    }

    static func bytes(_ url: URL) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url))
    }
}

/// A CSV table: header and rows of raw cells (quotes removed).
struct CSVTable {
    let header: [String]
    let rows: [[String]]

    init(_ url: URL) throws {
        let text = try String(contentsOf: url, encoding: .utf8)
        var lines: [[String]] = []
        for line in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lines.append(CSVTable.cells(String(line).trimmingCharacters(in: CharacterSet(charactersIn: "\r"))))
        }
        header = lines.first ?? []
        rows = Array(lines.dropFirst())
    }

    static func cells(_ line: String) -> [String] {
        var cells: [String] = []
        var current = ""
        var quoted = false
        var iterator = Array(line).makeIterator()
        var pending: Character? = nil
        while let character = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if character == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { current.append("\"") } else { quoted = false; pending = next }
                    } else {
                        quoted = false
                    }
                } else {
                    current.append(character)
                }
            } else if character == "\"" {
                quoted = true
            } else if character == "," {
                cells.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        cells.append(current)
        return cells
    }

    func column(_ name: String) -> Int? { header.firstIndex(of: name) }
}

enum Matching {
    static func isMissing(_ cell: String) -> Bool { cell.isEmpty || cell == "NA" }

    static func text(_ value: PMMLValue) -> String? {
        switch value {
        case .missing: return nil
        case .double(let x): return "\(x)"
        case .float(let x): return "\(x)"
        case .int(let x): return "\(x)"
        case .string(let x): return x
        case .bool(let x): return x ? "true" : "false"
        }
    }

    /// Nil when the cell matches, else a description of the difference.
    static func mismatch(
        expected: String, actual: PMMLValue, tolerance: Double = 1e-9,
        absolute: Double = 0
    ) -> String? {
        let missingExpected = isMissing(expected)
        guard let actualText = text(actual) else {
            return missingExpected ? nil : "expected '\(expected)', got missing"
        }
        if missingExpected { return "expected missing, got '\(actualText)'" }
        if let e = Double(expected), let a = Double(actualText) {
            if e == a { return nil }
            let difference = abs(e - a)
            if difference <= absolute || difference <= tolerance * max(abs(e), abs(a)) || difference < 1e-15 {
                return nil
            }
            // Some Rattle expectations were printed by R, whose nnet clamps logistic outputs beyond |15| to
            // exactly 0 or 1; PMML (and this runtime) keeps the tiny remainder. Accept that below 1e-10.
            if (e == 0 || e == 1) && difference < 1e-10 { return nil }
            return "expected \(expected), got \(actualText)"
        }
        if expected.lowercased() == actualText.lowercased() && (expected == "true" || expected == "false") {
            return nil
        }
        return expected == actualText ? nil : "expected '\(expected)', got '\(actualText)'"
    }

    /// Scores every input row with `model` and compares with the expected table. Returns failures.
    static func compare(
        model: PMMLModel, input: CSVTable, expected: CSVTable, tolerance: Double = 1e-9,
        absolute: Double = 0, limit: Int = 10
    ) -> [String] {
        var failures: [String] = []
        var evaluator = model.makeEvaluator()
        let columns = model.inputFields.map { input.column($0.name) }
        let resultNames = model.resultFields.map(\.name)
        for (rowIndex, row) in input.rows.enumerated() {
            guard rowIndex < expected.rows.count else {
                failures.append("expected file has fewer rows (\(expected.rows.count)) than the input")
                break
            }
            let values: [PMMLValue] = columns.map { column in
                guard let column, column < row.count, !isMissing(row[column]) else { return .missing }
                return .string(row[column])
            }
            let scored: (results: [PMMLValue], targets: [String: PMMLValue])
            do {
                scored = try evaluator.scoreWithTargets(values)
            } catch {
                failures.append("row \(rowIndex + 1): \(error)")
                if failures.count >= limit { break }
                continue
            }
            let expectedRow = expected.rows[rowIndex]
            for (columnIndex, name) in expected.header.enumerated() {
                let cell = columnIndex < expectedRow.count ? expectedRow[columnIndex] : ""
                let actual: PMMLValue
                if let index = resultNames.firstIndex(of: name) {
                    actual = scored.results[index]
                } else if let target = scored.targets[name] {
                    actual = target
                } else {
                    failures.append("column '\(name)' is not produced (results: \(resultNames))")
                    return failures
                }
                if let problem = mismatch(
                    expected: cell, actual: actual, tolerance: tolerance,
                    absolute: absolute)
                {
                    failures.append("row \(rowIndex + 1), column '\(name)': \(problem)")
                    if failures.count >= limit { return failures }
                }
            }
        }
        return failures
    }
}

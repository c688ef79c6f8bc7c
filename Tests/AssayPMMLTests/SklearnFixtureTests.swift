// Scores every generated scikit-learn fixture (`Fixtures/sklearn/<name>.pmml` with `<name>.input.csv`
// and `<name>.expected.csv`) when that folder exists. Any fixture that fails to load or to match fails.

import Foundation
import Testing

@testable import AssayPMML

enum SklearnFixtures {
    static var directory: URL { Fixtures.root.appendingPathComponent("sklearn") }

    static func names() -> [String] {
        Fixtures.files(directory, suffix: ".pmml").map { String($0.dropLast(5)) }
    }
}

@Test("scikit-learn fixture matches its expected output", arguments: SklearnFixtures.names())
func sklearnFixture(_ name: String) throws {
    let directory = SklearnFixtures.directory
    let model = try PMMLModel.load(try Fixtures.bytes(directory.appendingPathComponent("\(name).pmml")))
    let input = try CSVTable(directory.appendingPathComponent("\(name).input.csv"))
    let expected = try CSVTable(directory.appendingPathComponent("\(name).expected.csv"))
    #expect(input.rows.count == expected.rows.count, "\(name): input and expected row counts differ")
    let failures = Matching.compare(model: model, input: input, expected: expected)
    #expect(failures.isEmpty, Comment(rawValue: "\(name):\n" + failures.joined(separator: "\n")))
}

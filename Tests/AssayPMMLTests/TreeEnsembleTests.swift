// Tree ensembles scored through the flat-buffer path: rows whose fields are all numbers take the dense
// walk, and rows with missing or invalid values must come out exactly as the general per-tree walk
// (with its missing value strategies) gives them.

import Testing

@testable import AssayPMML

private func ensemble(
    function: String, method: String, fields: String, target: String, output: String,
    trees: String
) throws -> PMMLModel {
    let text = """
        <PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
          <DataDictionary>
            <DataField name="a" optype="continuous" dataType="double"/>
            <DataField name="b" optype="continuous" dataType="double"/>
            \(fields)
          </DataDictionary>
          <MiningModel functionName="\(function)">
            <MiningSchema>
              <MiningField name="\(target)" usageType="target"/>
              <MiningField name="a"/><MiningField name="b"/>
            </MiningSchema>
            <Output>\(output)</Output>
            <Segmentation multipleModelMethod="\(method)">\(trees)</Segmentation>
          </MiningModel>
        </PMML>
        """
    return try PMMLModel.load(Array(text.utf8))
}

private func segment(_ id: Int, _ tree: String) -> String {
    "<Segment id=\"\(id)\"><True/>\(tree)</Segment>"
}

/// Sum of two regression trees; the second returns its last prediction when no child is true.
private func boosted() throws -> PMMLModel {
    let schema = "<MiningSchema><MiningField name=\"a\"/><MiningField name=\"b\"/></MiningSchema>"
    let first = """
        <TreeModel functionName="regression" missingValueStrategy="nullPrediction">\(schema)
          <Node score="0"><True/>
            <Node score="10"><SimplePredicate field="a" operator="lessOrEqual" value="1"/></Node>
            <Node score="20"><True/></Node>
          </Node>
        </TreeModel>
        """
    let second = """
        <TreeModel functionName="regression" missingValueStrategy="nullPrediction"
                   noTrueChildStrategy="returnLastPrediction">\(schema)
          <Node score="5"><True/>
            <Node score="1"><SimplePredicate field="b" operator="lessOrEqual" value="0"/></Node>
            <Node score="2"><SimplePredicate field="b" operator="greaterThan" value="5"/></Node>
          </Node>
        </TreeModel>
        """
    return try ensemble(
        function: "regression", method: "sum",
        fields: "<DataField name=\"y\" optype=\"continuous\" dataType=\"double\"/>", target: "y",
        output: "<OutputField name=\"out\" feature=\"predictedValue\" dataType=\"double\"/>",
        trees: segment(1, first) + segment(2, second))
}

/// Average of two classification trees; the second follows its default child past a missing value.
private func forest() throws -> PMMLModel {
    let schema = "<MiningSchema><MiningField name=\"a\"/><MiningField name=\"b\"/></MiningSchema>"
    func distribution(_ no: Int, _ yes: Int) -> String {
        "<ScoreDistribution value=\"no\" recordCount=\"\(no)\"/>"
            + "<ScoreDistribution value=\"yes\" recordCount=\"\(yes)\"/>"
    }
    let first = """
        <TreeModel functionName="classification" missingValueStrategy="nullPrediction">\(schema)
          <Node><True/>
            <Node><SimplePredicate field="a" operator="lessOrEqual" value="1"/>\(distribution(8, 2))</Node>
            <Node><True/>\(distribution(3, 7))</Node>
          </Node>
        </TreeModel>
        """
    let second = """
        <TreeModel functionName="classification" missingValueStrategy="defaultChild">\(schema)
          <Node id="r" defaultChild="n2"><True/>
            <Node id="n1"><SimplePredicate field="b" operator="lessOrEqual" value="0"/>\(distribution(4, 6))</Node>
            <Node id="n2"><SimplePredicate field="b" operator="greaterThan" value="0"/>\(distribution(1, 9))</Node>
          </Node>
        </TreeModel>
        """
    let field = """
        <DataField name="y" optype="categorical" dataType="string"><Value value="no"/><Value value="yes"/></DataField>
        """
    let output = """
        <OutputField name="label" feature="predictedValue" dataType="string"/>
        <OutputField name="p(no)" feature="probability" value="no" dataType="double"/>
        <OutputField name="p(yes)" feature="probability" value="yes" dataType="double"/>
        """
    return try ensemble(
        function: "classification", method: "average", fields: field, target: "y", output: output,
        trees: segment(1, first) + segment(2, second))
}

private func number(_ value: PMMLValue) -> Double? {
    if case .double(let x) = value { return x }
    return nil
}

@Test("a sum of trees: dense walk, last prediction, and missing values making the sum missing")
func boostedEnsemble() throws {
    let model = try boosted()
    var evaluator = model.makeEvaluator()
    #expect(try evaluator.score([.double(0), .double(-1)]) == [.double(11)])
    #expect(try evaluator.score([.double(2), .double(3)]) == [.double(25)])
    #expect(try evaluator.score([.double(2), .double(6)]) == [.double(22)])
    #expect(try evaluator.score([.missing, .double(-1)]) == [.missing])
    #expect(try evaluator.score([.double(.nan), .double(-1)]) == [.missing])
    #expect(try evaluator.score([.double(0), .missing]) == [.missing])
    do {
        _ = try evaluator.score([.string("high"), .double(-1)])
        Issue.record("an invalid value was accepted")
    } catch {
        #expect(error.field == "a")
    }
    // A row after a failed one is scored afresh.
    #expect(try evaluator.score([.double(0), .double(7)]) == [.double(12)])
}

@Test("an average of trees: trees without a prediction are left out, default children are followed")
func forestEnsemble() throws {
    let model = try forest()
    var evaluator = model.makeEvaluator()
    let cases: [([PMMLValue], String, Double, Double)] = [
        ([.double(0), .double(-1)], "no", 0.6, 0.4),
        ([.double(2), .double(1)], "yes", 0.2, 0.8),
        ([.missing, .double(-1)], "yes", 0.4, 0.6),
        ([.double(0), .missing], "yes", 0.45, 0.55),
        ([.missing, .missing], "yes", 0.1, 0.9),
    ]
    for (row, label, no, yes) in cases {
        let result = try evaluator.score(row)
        #expect(result[0] == .string(label), "row \(row)")
        #expect(abs((number(result[1]) ?? .nan) - no) < 1e-12, "row \(row)")
        #expect(abs((number(result[2]) ?? .nan) - yes) < 1e-12, "row \(row)")
    }
}

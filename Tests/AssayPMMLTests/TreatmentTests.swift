// Input handling: missing-value and invalid-value treatments, outliers, lenient conversion, and fields
// declared as float being computed in 32 bits.

import Testing

@testable import AssayPMML

private func regression(
    _ miningField: String, dataField: String = "<DataField name=\"x\" optype=\"continuous\" dataType=\"double\"/>",
    expression: String = "<FieldRef field=\"x\"/>"
) throws -> PMMLModel {
    let text = """
        <PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
          <DataDictionary>\(dataField)<DataField name="y" optype="continuous" dataType="double"/></DataDictionary>
          <TransformationDictionary>
            <DerivedField name="d" optype="continuous" dataType="double">\(expression)</DerivedField>
          </TransformationDictionary>
          <RegressionModel functionName="regression">
            <MiningSchema><MiningField name="y" usageType="target"/>\(miningField)</MiningSchema>
            <Output><OutputField name="out" feature="predictedValue"/></Output>
            <RegressionTable intercept="1"><NumericPredictor name="d" coefficient="2"/></RegressionTable>
          </RegressionModel>
        </PMML>
        """
    return try PMMLModel.load(Array(text.utf8))
}

private func score(_ model: PMMLModel, _ value: PMMLValue) throws(PMMLError) -> PMMLValue {
    var evaluator = model.makeEvaluator()
    return try evaluator.score([value])[0]
}

@Test("missing values: as is, replacement, returnInvalid")
func missingTreatments() throws {
    let plain = try regression("<MiningField name=\"x\"/>")
    #expect(try score(plain, .missing) == .missing)
    #expect(try score(plain, .string("5.5")) == .double(12))
    let replaced = try regression("<MiningField name=\"x\" missingValueReplacement=\"3\"/>")
    #expect(try score(replaced, .missing) == .double(7))
    let strict = try regression("<MiningField name=\"x\" missingValueTreatment=\"returnInvalid\"/>")
    do {
        _ = try score(strict, .missing)
        Issue.record("missing value accepted")
    } catch {
        #expect(error.field == "x")
    }
    let declared = try regression(
        "<MiningField name=\"x\" missingValueReplacement=\"0\"/>",
        dataField:
            "<DataField name=\"x\" optype=\"continuous\" dataType=\"double\"><Value value=\"-999\" property=\"missing\"/></DataField>"
    )
    #expect(try score(declared, .double(-999)) == .double(1))
}

@Test("invalid values: returnInvalid, asMissing, asIs, asValue, intervals")
func invalidTreatments() throws {
    let dataField = """
        <DataField name="x" optype="continuous" dataType="double"><Interval closure="closedClosed" leftMargin="0" rightMargin="10"/></DataField>
        """
    let strict = try regression("<MiningField name=\"x\"/>", dataField: dataField)
    #expect(try score(strict, .double(5)) == .double(11))
    do {
        _ = try score(strict, .double(50))
        Issue.record("out-of-range value accepted")
    } catch {
        #expect(error.field == "x")
    }
    #expect(throws: PMMLError.self) { _ = try score(strict, .string("abc")) }
    let asMissing = try regression(
        "<MiningField name=\"x\" invalidValueTreatment=\"asMissing\" missingValueReplacement=\"2\"/>",
        dataField: dataField)
    #expect(try score(asMissing, .double(50)) == .double(5))
    let asIs = try regression("<MiningField name=\"x\" invalidValueTreatment=\"asIs\"/>", dataField: dataField)
    #expect(try score(asIs, .double(50)) == .double(101))
    let asValue = try regression(
        "<MiningField name=\"x\" invalidValueTreatment=\"asValue\" invalidValueReplacement=\"1\"/>",
        dataField: dataField)
    #expect(try score(asValue, .double(50)) == .double(3))
}

@Test("outliers: asMissingValues and asExtremeValues")
func outliers() throws {
    let extreme = try regression(
        "<MiningField name=\"x\" outliers=\"asExtremeValues\" lowValue=\"0\" highValue=\"10\"/>")
    #expect(try score(extreme, .double(50)) == .double(21))
    #expect(try score(extreme, .double(-5)) == .double(1))
    let missing = try regression(
        "<MiningField name=\"x\" outliers=\"asMissingValues\" lowValue=\"0\" highValue=\"10\"/>")
    #expect(try score(missing, .double(50)) == .missing)
}

@Test("lenient input conversion for integer and boolean fields")
func lenientInputs() throws {
    let integer = try regression(
        "<MiningField name=\"x\"/>",
        dataField: "<DataField name=\"x\" optype=\"continuous\" dataType=\"integer\"/>")
    #expect(try score(integer, .double(1.0)) == .double(3))
    #expect(try score(integer, .string("4")) == .double(9))
    let boolean = try regression(
        "<MiningField name=\"x\"/>",
        dataField: "<DataField name=\"x\" optype=\"categorical\" dataType=\"boolean\"/>",
        expression:
            "<Apply function=\"if\"><FieldRef field=\"x\"/><Constant>10</Constant><Constant>20</Constant></Apply>")
    #expect(try score(boolean, .string("true")) == .double(21))
    #expect(try score(boolean, .int(0)) == .double(41))
    #expect(try score(boolean, .bool(true)) == .double(21))
}

@Test("float fields are computed in 32 bits")
func floatFields() throws {
    let model = try regression(
        "<MiningField name=\"x\"/>",
        dataField: "<DataField name=\"x\" optype=\"continuous\" dataType=\"float\"/>",
        expression: "<Apply function=\"+\"><FieldRef field=\"x\"/><FieldRef field=\"x\"/></Apply>")
    // 0.1 as a float is 0.100000001490116...; doubled in float and then used by the double regression.
    let expected = 1 + 2 * Double(Float(0.1) + Float(0.1))
    #expect(try score(model, .double(0.1)) == .double(expected))
    #expect(expected != 1 + 2 * (0.1 + 0.1))
    // A tree split on a float field compares in float: 0.1 (double) becomes the float threshold exactly.
    let tree = """
        <PMML version="4.4"><DataDictionary><DataField name="x" optype="continuous" dataType="float"/>
        <DataField name="y" optype="continuous" dataType="double"/></DataDictionary>
        <TreeModel functionName="regression"><MiningSchema><MiningField name="y" usageType="target"/>
        <MiningField name="x"/></MiningSchema><Node score="0"><True/>
        <Node score="1"><SimplePredicate field="x" operator="lessOrEqual" value="0.1"/></Node>
        <Node score="2"><True/></Node></Node></TreeModel></PMML>
        """
    let treeModel = try PMMLModel.load(Array(tree.utf8))
    var evaluator = treeModel.makeEvaluator()
    #expect(try evaluator.score([.double(0.1000000001)]) == [.double(1)])
    #expect(try evaluator.score([.double(0.10000001)]) == [.double(2)])
}

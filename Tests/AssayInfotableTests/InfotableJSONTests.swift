/// Infotables read from and written to JSON: structure errors, the dataShape always written, shapes
/// inferred for tables sent without one, nested tables, and the single-value and empty tables.
import Testing

@testable import AssayInfotable

struct InfotableJSONTests {
    @Test func aTableWithShapeAndRowsIsRead() throws {
        let t = try table(
            """
            {"dataShape": {"fieldDefinitions": {
               "x": {"name": "x", "baseType": "NUMBER", "ordinal": 1, "description": "", "aspects": {}},
               "id": {"name": "id", "baseType": "STRING", "ordinal": 2, "description": "", "aspects": {}}}},
             "rows": [{"x": 1.5, "id": "a"}, {"x": null, "id": "b"}]}
            """)
        #expect(t.dataShape.fields.map(\.name) == ["x", "id"])
        #expect(t.rows.count == 2 && t.rows[1]["x"] == .null)
        #expect(try Infotable(json: t.json) == t)
    }

    @Test func aMissingShapeOrMissingRowsGiveEmptyParts() throws {
        #expect(try table("{\"rows\": [{\"a\": 1}]}").dataShape.fields.isEmpty)
        #expect(try table("{\"dataShape\": {\"fieldDefinitions\": {}}}").rows.isEmpty)
        #expect(try table("{}") == Infotable.empty)
    }

    @Test func aStringHoldingTheTableIsRead() throws {
        #expect(try Infotable(json: .string("{\"rows\": [{\"a\": 1}]}")).rows.count == 1)
    }

    @Test(
        arguments: [
            ("[]", nil), ("{\"rows\": {}}", nil), ("{\"rows\": [{}, 3]}", 1), ("{\"rows\": [[1]]}", 0),
            ("{\"dataShape\": 4, \"rows\": []}", nil), ("\"{bad\"", nil),
        ] as [(String, Int?)])
    func structuralProblemsAreBadRequestsNamingTheRow(text: String, row: Int?) {
        let error = assayError { () throws(AssayError) in _ = try table(text) }
        #expect(error?.code == "BAD_REQUEST")
        #expect(error?.details["row"] == row.map { .int(Int64($0)) })
        if let row { #expect(error?.message.contains("Row \(row)") == true) }
    }

    @Test func writingAlwaysIncludesADataShapeEvenWithoutRows() {
        #expect(JSON.string(Infotable.empty.json) == "{\"dataShape\":{\"fieldDefinitions\":{}},\"rows\":[]}")
        let shaped = Infotable(dataShape: DataShape([FieldDefinition(name: "a", baseType: .long, ordinal: 1)]))
        #expect(shaped.json["dataShape"]?["fieldDefinitions"]?["a"]?["baseType"] == "LONG")
        #expect(shaped.json["rows"] == .array([]))
    }

    @Test func aTableWithRowsButNoShapeIsWrittenWithAnInferredOne() throws {
        let written = try table("{\"rows\": [{\"a\": 1, \"b\": \"x\", \"c\": null}]}").json
        let fields = written["dataShape"]?["fieldDefinitions"]
        #expect(fields?["a"]?["baseType"] == "NUMBER" && fields?["b"]?["baseType"] == "STRING")
        #expect(fields?["c"]?["baseType"] == "STRING" && fields?["c"]?["ordinal"] == .int(3))
    }

    @Test func nestedTablesAreWrittenWithShapesAtEveryDepth() throws {
        let written = try table(
            """
            {"rows": [{"outer": {"rows": [{"inner": {"rows": [{"deep": true}]}}]}}]}
            """
        ).json
        let outer = written["rows"]?.arrayValue?[0]["outer"]
        #expect(outer?["dataShape"]?["fieldDefinitions"]?["inner"]?["baseType"] == "INFOTABLE")
        let inner = outer?["rows"]?.arrayValue?[0]["inner"]
        #expect(inner?["dataShape"]?["fieldDefinitions"]?["deep"]?["baseType"] == "BOOLEAN")
        #expect(written["dataShape"]?["fieldDefinitions"]?["outer"]?["baseType"] == "INFOTABLE")
    }

    @Test func aNestedValueTakesItsFieldsKnownShapeWhenItHasNone() {
        let nested = DataShape([FieldDefinition(name: "n", baseType: .integer, ordinal: 1)])
        let shape = DataShape([FieldDefinition(name: "t", baseType: .infotable, ordinal: 1, dataShape: nested)])
        let t = Infotable(dataShape: shape, rows: [JSONObject([("t", json("{\"rows\": []}"))])])
        let value = t.json["rows"]?.arrayValue?[0]["t"]
        #expect(value?["dataShape"]?["fieldDefinitions"]?["n"]?["baseType"] == "INTEGER")
    }

    @Test func aSingleValueTableHasOneFieldAndOneRow() {
        let t = Infotable.single("result", .string, "abc")
        #expect(t.dataShape.fields.map(\.name) == ["result"] && t.dataShape.fields[0].baseType == .string)
        #expect(t.rows == [JSONObject([("result", "abc")])])
        #expect(
            JSON.string(t.json) == "{\"dataShape\":{\"fieldDefinitions\":{\"result\":{\"name\":\"result\","
                + "\"baseType\":\"STRING\",\"ordinal\":1,\"description\":\"\",\"aspects\":{}}}},"
                + "\"rows\":[{\"result\":\"abc\"}]}")
    }
}

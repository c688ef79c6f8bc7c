/// Data shapes in the ThingWorx and the manual form, their refusals, inference and the field rows of
/// GetModelDatashapes.
import Testing

@testable import AssayInfotable

struct DataShapeThingWorxTests {
    static let sample = """
        {"fieldDefinitions": {
          "temp": {"name": "temp", "baseType": "NUMBER", "ordinal": 2, "description": "in C",
                   "aspects": {"minValue": -40, "maxValue": 125, "unit": "C", "isPrimaryKey": false}},
          "id": {"name": "id", "baseType": "STRING", "ordinal": 1, "description": "", "aspects": {}},
          "when": {"baseType": "DATETIME", "ordinal": 3, "aspects": {"defaultValue": "2026-12-03T00:00:00Z"}},
          "readings": {"name": "readings", "baseType": "INFOTABLE", "ordinal": 4,
                       "dataShape": {"fieldDefinitions": {"v": {"name": "v", "baseType": "INTEGER"}}}}
        }}
        """

    @Test func fieldsAreReadWithAspectsAndSortedByOrdinal() throws {
        let shape = try DataShape(thingworx: json(Self.sample))
        #expect(shape.fields.map(\.name) == ["id", "temp", "when", "readings"])
        let temp = try #require(shape["temp"])
        #expect(temp.baseType == .number && temp.minValue == -40 && temp.maxValue == 125 && temp.unit == "C")
        #expect(temp.description == "in C")
        #expect(shape["when"]?.defaultValue == .int(1_796_256_000_000))
        #expect(shape["readings"]?.dataShape == DataShape([FieldDefinition(name: "v", baseType: .integer, ordinal: 1)]))
    }

    @Test func writingAndReadingBackGivesTheSameShape() throws {
        let shape = try DataShape(thingworx: json(Self.sample))
        let written = shape.thingworxJSON
        #expect(try DataShape(thingworx: written) == shape)
        #expect(written["fieldDefinitions"]?.objectValue?.keys == ["id", "temp", "when", "readings"])
        #expect(written["fieldDefinitions"]?["temp"]?["aspects"]?["unit"] == "C")
        #expect(
            written["fieldDefinitions"]?["readings"]?["dataShape"]?["fieldDefinitions"]?["v"]?["baseType"]
                == "INTEGER")
    }

    @Test func aNestedShapeInlineInTheAspectsIsReadButANamedOneIsIgnored() throws {
        let inline = try DataShape(
            thingworx: json(
                """
                {"fieldDefinitions": {"t": {"baseType": "INFOTABLE",
                  "aspects": {"dataShape": {"fieldDefinitions": {"a": {"baseType": "BOOLEAN"}}}}}}}
                """))
        #expect(inline["t"]?.dataShape?["a"]?.baseType == .boolean)
        let named = try DataShape(
            thingworx: json(
                """
                {"fieldDefinitions": {"t": {"baseType": "INFOTABLE", "aspects": {"dataShape": "SomeShape"}}}}
                """))
        #expect(named["t"]?.dataShape == nil)
    }

    @Test func missingOrdinalsFollowDocumentOrder() throws {
        let shape = try DataShape(
            thingworx: json(
                """
                {"fieldDefinitions": {"b": {"baseType": "STRING"}, "a": {"baseType": "number"}}}
                """))
        #expect(shape.fields.map(\.name) == ["b", "a"])
        #expect(shape["a"]?.baseType == .number)
    }

    @Test(arguments: [
        ("{\"fieldDefinitions\": {\"x\": {\"baseType\": \"FLOAT\"}}}", "x", "'FLOAT'"),
        ("{\"fieldDefinitions\": {\"x\": {\"name\": \"y\", \"baseType\": \"STRING\"}}}", "x", "must match"),
        ("{\"fieldDefinitions\": {\"x\": {}}}", "x", "needs a 'baseType'"),
        ("{\"fieldDefinitions\": {\"x\": 3}}", "x", "must be an object"),
        ("{\"fieldDefinitions\": {\"x\": {\"baseType\": \"NUMBER\", \"ordinal\": -1}}}", "x", "ordinal"),
        (
            "{\"fieldDefinitions\": {\"x\": {\"baseType\": \"NUMBER\", \"aspects\": {\"minValue\": 5, \"maxValue\": 1}}}}",
            "x", "above its maxValue"
        ),
        (
            "{\"fieldDefinitions\": {\"x\": {\"baseType\": \"STRING\", \"aspects\": {\"maxValue\": 1}}}}", "x",
            "cannot have a minValue"
        ),
        (
            "{\"fieldDefinitions\": {\"x\": {\"baseType\": \"NUMBER\", \"aspects\": {\"defaultValue\": \"hot\"}}}}",
            "x",
            "defaultValue"
        ),
        (
            "{\"fieldDefinitions\": {\"t\": {\"baseType\": \"INFOTABLE\", \"dataShape\": "
                + "{\"fieldDefinitions\": {\"v\": {\"baseType\": \"REAL\"}}}}}}", "t.v", "nested fields of 't'"
        ),
    ])
    func badDefinitionsAreRefusedNamingTheField(text: String, field: String, words: String) {
        let error = assayError { () throws(AssayError) in _ = try DataShape(thingworx: json(text)) }
        #expect(error?.status == 400 && error?.code == "BAD_REQUEST")
        #expect(error?.details["field"] == .string(field))
        #expect(error?.message.contains(words) == true, "\(error?.message ?? "")")
    }

    @Test func anUnknownBaseTypeListsTheAcceptedOnes() {
        let error = assayError { () throws(AssayError) in
            _ = try DataShape(thingworx: json("{\"fieldDefinitions\": {\"x\": {\"baseType\": \"FLOAT\"}}}"))
        }
        #expect(error?.message.contains("STRING, TEXT, NUMBER, INTEGER, LONG, BOOLEAN, DATETIME, JSON") == true)
    }

    @Test(arguments: ["3", "{}", "{\"fieldDefinitions\": []}"])
    func aShapeThatIsNotAnObjectOfDefinitionsIsRefused(text: String) {
        let error = assayError { () throws(AssayError) in _ = try DataShape(thingworx: json(text)) }
        #expect(error?.code == "BAD_REQUEST")
    }
}

struct DataShapeManualTests {
    static let sample = """
        [{"name": "temp", "baseType": "NUMBER", "minValue": 0, "maxValue": 100, "unit": "C", "defaultValue": 20},
         {"name": "count", "baseType": "INTEGER", "description": "how many", "defaultValue": 2.0},
         {"name": "parts", "baseType": "INFOTABLE",
          "fieldDefinitions": [{"name": "p", "baseType": "STRING"}, {"name": "q", "baseType": "GUID"}]}]
        """

    @Test func theArrayFormIsReadWithNestedFields() throws {
        let shape = try DataShape(manual: json(Self.sample))
        #expect(shape.fields.map(\.name) == ["temp", "count", "parts"])
        #expect(shape.fields.map(\.ordinal) == [1, 2, 3])
        #expect(shape["temp"]?.defaultValue == .int(20) && shape["temp"]?.unit == "C")
        #expect(shape["count"]?.defaultValue == .int(2))
        #expect(shape["parts"]?.dataShape?.fields.map(\.baseType) == [.string, .guid])
    }

    @Test func aStringHoldingTheArrayIsAccepted() throws {
        #expect(try DataShape(manual: .string(Self.sample)) == DataShape(manual: json(Self.sample)))
    }

    @Test func manualAndThingWorxFormsConvertIntoEachOther() throws {
        let shape = try DataShape(manual: json(Self.sample))
        #expect(try DataShape(manual: shape.manualJSON) == shape)
        #expect(try DataShape(thingworx: shape.thingworxJSON) == shape)
        #expect(shape.manualJSON.arrayValue?[2]["fieldDefinitions"]?.arrayValue?.count == 2)
    }

    @Test(arguments: [
        ("[{\"name\": \"a\", \"baseType\": \"STRING\"}, {\"name\": \"a\", \"baseType\": \"NUMBER\"}]", "a", "twice"),
        ("[{\"name\": \"a\", \"baseType\": \"STRING\", \"size\": 3}]", "a", "unknown key 'size'"),
        ("[{\"name\": \"a\", \"baseType\": \"DECIMAL\"}]", "a", "'DECIMAL'"),
        ("[{\"name\": \"a\", \"baseType\": \"INTEGER\", \"defaultValue\": 1.5}]", "a", "not a whole number"),
        ("[{\"name\": \"a\", \"baseType\": \"BOOLEAN\", \"defaultValue\": \"yes\"}]", "a", "expected a BOOLEAN"),
        (
            "[{\"name\": \"a\", \"baseType\": \"NUMBER\", \"defaultValue\": 500, \"maxValue\": 100}]", "a",
            "above the maximum"
        ),
        ("[{\"name\": \"a\", \"baseType\": \"NUMBER\", \"minValue\": 2, \"maxValue\": 1}]", "a", "above its maxValue"),
        ("[{\"name\": \"a\", \"baseType\": \"NUMBER\", \"minValue\": \"low\"}]", "a", "must be a number"),
        ("[{\"name\": \"a\", \"baseType\": \"NUMBER\", \"unit\": 3}]", "a", "must be a string"),
        ("[{\"name\": \"a\", \"baseType\": \"STRING\", \"fieldDefinitions\": []}]", "a", "only INFOTABLE"),
        (
            "[{\"name\": \"t\", \"baseType\": \"INFOTABLE\", \"fieldDefinitions\": [{\"name\": \"v\"}]}]", "t.v",
            "needs a 'baseType'"
        ),
    ])
    func badFieldsAreRefusedNamingTheField(text: String, field: String, words: String) {
        let error = assayError { () throws(AssayError) in _ = try DataShape(manual: json(text)) }
        #expect(error?.code == "BAD_REQUEST")
        #expect(error?.details["field"] == .string(field))
        #expect(error?.message.contains(words) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("'\(field.split(separator: ".").last!)'") == true)
    }

    @Test(arguments: [
        "{\"name\": \"a\"}", "[3]", "[{\"baseType\": \"STRING\"}]", "[{\"name\": \"\", \"baseType\": \"STRING\"}]",
        "\"not json\"", "\"{}\"",
    ])
    func malformedShapesAreRefused(text: String) {
        let error = assayError { () throws(AssayError) in _ = try DataShape(manual: json(text)) }
        #expect(error?.status == 400)
    }

    @Test func theFieldRowsInfotableDescribesEveryField() throws {
        let shape = try DataShape(manual: json(Self.sample))
        let fields = shape.fieldsInfotable
        #expect(
            fields.dataShape.fields.map(\.name) == [
                "name", "baseType", "ordinal", "description", "defaultValue", "minValue", "maxValue", "unit",
                "fieldDefinitions",
            ])
        #expect(fields.rows.count == 3)
        #expect(fields.rows[0]["maxValue"] == .double(100) && fields.rows[0]["unit"] == "C")
        #expect(fields.rows[1]["minValue"] == .null && fields.rows[1]["description"] == "how many")
        #expect(fields.rows[2]["fieldDefinitions"]?.arrayValue?.count == 2)
        // The rows fit their own shape, so the table can go out as it is.
        #expect(try fields.conformed(to: DataShape.fieldsShape) == fields)
    }
}

struct DataShapeInferenceTests {
    @Test func eachFieldGetsTheTypeOfItsValues() {
        let rows: [JSONObject] = [
            JSONObject([("n", 1), ("b", true), ("s", "x"), ("nul", nil), ("arr", [1]), ("mix", 1)]),
            JSONObject([("n", 2.5), ("b", false), ("obj", ["k": 1]), ("mix", "one"), ("late", nil)]),
            JSONObject([("t", json("{\"rows\": [{\"v\": 1}]}")), ("late", "now")]),
        ]
        let shape = DataShape.inferred(from: rows)
        #expect(shape.fields.map(\.name) == ["n", "b", "s", "nul", "arr", "mix", "obj", "late", "t"])
        #expect(
            shape.fields.map(\.baseType) == [
                .number, .boolean, .string, .string, .json, .json, .json, .string, .infotable,
            ])
        #expect(shape.fields.map(\.ordinal) == Array(1...9))
        #expect(shape["t"]?.dataShape?["v"]?.baseType == .number)
    }

    @Test func noRowsGiveNoFields() {
        #expect(DataShape.inferred(from: []).fields.isEmpty)
    }
}

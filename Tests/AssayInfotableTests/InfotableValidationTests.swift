/// Rows checked against a data shape (SPEC §3): every base type's accepted and refused values, the
/// error's row, field and message, defaults, bounds, dates, shape agreement and nested tables.
import Testing

@testable import AssayInfotable

struct InfotableValidationTests {
    static func shape(_ type: BaseType, min: Double? = nil, max: Double? = nil) -> DataShape {
        DataShape([FieldDefinition(name: "v", baseType: type, ordinal: 1, minValue: min, maxValue: max)])
    }

    /// Conforms a single value in row 0 of a one-field table.
    static func conform(_ value: JSONValue, _ type: BaseType, min: Double? = nil, max: Double? = nil)
        throws(AssayError) -> JSONValue?
    {
        let input = Infotable(dataShape: DataShape([]), rows: [JSONObject([("v", value)])])
        return try input.conformed(to: shape(type, min: min, max: max)).rows[0]["v"]
    }

    @Test(arguments: [
        (JSONValue.int(3), BaseType.number, JSONValue.int(3)), (.double(1.5), .number, .double(1.5)),
        (.int(-2_147_483_648), .integer, .int(-2_147_483_648)), (.int(2_147_483_647), .integer, .int(2_147_483_647)),
        (.double(2.0), .integer, .int(2)), (.int(Int64.max), .long, .int(Int64.max)), (.double(-4), .long, .int(-4)),
        (.bool(false), .boolean, .bool(false)), (.string("é"), .string, .string("é")),
        (.string(""), .text, .string("")),
        (.string("https://x.test/a"), .hyperlink, .string("https://x.test/a")),
        (.string("123e4567-e89b-12d3-a456-426614174000"), .guid, .string("123e4567-e89b-12d3-a456-426614174000")),
        (.string("{123E4567E89B12D3A456426614174000}"), .guid, .string("{123E4567E89B12D3A456426614174000}")),
        (.int(1_796_292_930_000), .datetime, .int(1_796_292_930_000)), (.double(5.0), .datetime, .int(5)),
        (.string("2026-12-03T10:15:30Z"), .datetime, .int(1_796_292_930_000)),
        (.string("2026-12-03T11:15:30.5+01:00"), .datetime, .int(1_796_292_930_500)),
        (.string("2026-12-03"), .datetime, .int(1_796_256_000_000)),
        (json("[1, {\"a\": null}]"), .json, json("[1, {\"a\": null}]")), (.string("s"), .json, .string("s")),
    ])
    func acceptedValuesAreStoredInTheirTypesForm(value: JSONValue, type: BaseType, stored: JSONValue) throws {
        #expect(try Self.conform(value, type) == stored)
    }

    @Test(arguments: [
        (JSONValue.string("12"), BaseType.number, "expected a NUMBER, got the string '12'."),
        (.bool(true), .number, "expected a NUMBER, got a boolean."),
        (.double(1.5), .integer, "expected an INTEGER, got 1.5, which is not a whole number."),
        (.int(2_147_483_648), .integer, "outside the 32-bit range -2147483648 to 2147483647"),
        (.int(-2_147_483_649), .integer, "outside the 32-bit range"),
        (.string("7"), .integer, "expected an INTEGER, got the string '7'."),
        (.double(9_223_372_036_854_775_808), .long, "outside the 64-bit range"),
        (.double(0.5), .long, "expected a LONG, got 0.5, which is not a whole number."),
        (.string("true"), .boolean, "expected a BOOLEAN (true or false), got the string 'true'."),
        (.int(1), .boolean, "expected a BOOLEAN (true or false), got 1."),
        (.int(5), .string, "expected a STRING, got 5."), (.array([]), .text, "expected a TEXT, got an array."),
        (.object(JSONObject()), .hyperlink, "expected a HYPERLINK, got an object."),
        (.string("not-a-guid"), .guid, "expected a GUID"), (.int(1), .guid, "expected a GUID"),
        (.string("3 December"), .datetime, "not an ISO 8601 date"), (.double(1.5), .datetime, "not a whole number"),
        (.bool(true), .datetime, "expected a DATETIME"), (.int(4), .infotable, "expected an INFOTABLE"),
        (json("{\"rows\": [1]}"), .infotable, "expected an INFOTABLE"),
    ])
    func wrongTypesAreRefusedNamingRowAndField(value: JSONValue, type: BaseType, words: String) {
        let rows = [JSONObject([("v", .int(0))]), JSONObject([("v", value)])]
        var okRow = rows[0]
        okRow["v"] = type == .number || type == .integer || type == .long || type == .datetime ? .int(0) : nil
        let input = Infotable(dataShape: DataShape([]), rows: [okRow, rows[1]])
        let error = assayError { () throws(AssayError) in _ = try input.conformed(to: Self.shape(type)) }
        #expect(error?.code == "INVALID_INPUT" && error?.status == 400)
        #expect(error?.details["row"] == .int(1) && error?.details["field"] == "v")
        #expect(error?.message.hasPrefix("Row 1, field 'v': ") == true)
        #expect(error?.message.contains(words) == true, "\(error?.message ?? "")")
    }

    @Test func theMessageReadsAsASentence() {
        let rows = (0..<4).map { i in JSONObject([("temp", i == 3 ? "hot" : .double(20))]) }
        let shape = DataShape([FieldDefinition(name: "temp", baseType: .number)])
        let error = assayError { () throws(AssayError) in
            _ = try Infotable(dataShape: DataShape([]), rows: rows).conformed(to: shape)
        }
        #expect(error?.message == "Row 3, field 'temp': expected a NUMBER, got the string 'hot'.")
        #expect(JSON.string(error!.json).contains("\"row\":3,\"field\":\"temp\""))
    }

    @Test func resultRowsAreRefusedWithTheResultCode() {
        let input = Infotable(dataShape: DataShape([]), rows: [JSONObject([("v", "x")])])
        let error = assayError { () throws(AssayError) in
            _ = try input.conformed(to: Self.shape(.number), code: "RESULT_INVALID")
        }
        #expect(error?.code == "RESULT_INVALID" && error?.status == 422)
        #expect(error?.details["row"] == .int(0) && error?.details["field"] == "v")
    }

    @Test func anUnknownFieldIsRefusedListingTheKnownOnes() {
        let input = Infotable(dataShape: DataShape([]), rows: [JSONObject([("v", 1)]), JSONObject([("w", 1)])])
        let error = assayError { () throws(AssayError) in _ = try input.conformed(to: Self.shape(.number)) }
        #expect(error?.details["row"] == .int(1) && error?.details["field"] == "w")
        #expect(error?.message == "Row 1, field 'w': not in the data shape; its fields are v.")
    }

    @Test(arguments: [
        (JSONValue.int(0), true), (.double(-0.5), false), (.int(100), true), (.double(100.01), false),
        (.int(50), true), (.int(-1), false),
    ])
    func valuesOutsideMinAndMaxAreRefused(value: JSONValue, accepted: Bool) {
        let error = assayError { () throws(AssayError) in _ = try Self.conform(value, .number, min: 0, max: 100) }
        #expect((error == nil) == accepted)
        if let error {
            #expect(error.details["field"] == "v")
            #expect(error.message.contains("below the minimum 0") || error.message.contains("above the maximum 100"))
        }
    }

    @Test func boundsApplyToIntegersAndDates() throws {
        #expect(try Self.conform(.double(7.0), .integer, max: 7) == .int(7))
        #expect(throws: (any Error).self) { try Self.conform(8, .integer, max: 7) }
        #expect(throws: (any Error).self) { try Self.conform("1970-01-01T00:00:01Z", .datetime, max: 999) }
    }

    @Test func missingAndNullValuesTakeTheDefaultOrAnExplicitNull() throws {
        let shape = try DataShape(
            manual: json(
                """
                [{"name": "a", "baseType": "NUMBER", "defaultValue": 1.5},
                 {"name": "b", "baseType": "STRING"},
                 {"name": "c", "baseType": "DATETIME", "defaultValue": "1970-01-02"},
                 {"name": "d", "baseType": "BOOLEAN", "defaultValue": false}]
                """))
        let input = try table("{\"rows\": [{\"a\": null, \"d\": true}, {}]}")
        let rows = try input.conformed(to: shape).rows
        #expect(rows[0] == JSONObject([("a", 1.5), ("b", nil), ("c", .int(86_400_000)), ("d", true)]))
        #expect(rows[1] == JSONObject([("a", 1.5), ("b", nil), ("c", .int(86_400_000)), ("d", false)]))
        #expect(rows[1].keys == ["a", "b", "c", "d"])
    }

    @Test func theResultCarriesTheShapeAndFieldsInItsOrder() throws {
        let shape = DataShape([
            FieldDefinition(name: "x", baseType: .number, ordinal: 1),
            FieldDefinition(name: "id", baseType: .string, ordinal: 2),
        ])
        let input = try table("{\"rows\": [{\"id\": \"a\", \"x\": 1.5}]}")
        let result = try input.conformed(to: shape)
        #expect(result.dataShape == shape)
        #expect(result.rows[0].keys == ["x", "id"])
    }

    @Test func zeroRowsConformToAnyShape() throws {
        #expect(try Infotable.empty.conformed(to: Self.shape(.number)).rows.isEmpty)
    }

    @Test(
        arguments: [
            ("{\"x\": {\"baseType\": \"NUMBER\"}, \"id\": {\"baseType\": \"STRING\"}}", nil),
            ("{\"id\": {\"baseType\": \"STRING\"}, \"x\": {\"baseType\": \"NUMBER\"}}", nil),
            ("{}", nil),
            ("{\"x\": {\"baseType\": \"STRING\"}, \"id\": {\"baseType\": \"STRING\"}}", "x"),
            ("{\"x\": {\"baseType\": \"NUMBER\"}}", "id"),
            (
                "{\"x\": {\"baseType\": \"NUMBER\"}, \"id\": {\"baseType\": \"STRING\"}, \"z\": {\"baseType\": \"JSON\"}}",
                "z"
            ),
        ] as [(String, String?)])
    func aDeclaredShapeMustAgreeWithTheExpectedOne(definitions: String, badField: String?) throws {
        let expected = DataShape([
            FieldDefinition(name: "x", baseType: .number, ordinal: 1),
            FieldDefinition(name: "id", baseType: .string, ordinal: 2),
        ])
        let input = try table("{\"dataShape\": {\"fieldDefinitions\": \(definitions)}, \"rows\": []}")
        let error = assayError { () throws(AssayError) in _ = try input.conformed(to: expected) }
        #expect(error?.details["field"]?.stringValue == badField)
        #expect(error?.code == (badField == nil ? nil : "INVALID_INPUT"))
        if let badField { #expect(error?.message.contains("'\(badField)'") == true) }
    }

    static let nestedShape = DataShape([
        FieldDefinition(name: "id", baseType: .string, ordinal: 1),
        FieldDefinition(
            name: "parts", baseType: .infotable, ordinal: 2,
            dataShape: DataShape([FieldDefinition(name: "n", baseType: .integer, ordinal: 1, defaultValue: 0)])),
        FieldDefinition(name: "extra", baseType: .infotable, ordinal: 3),
    ])

    @Test func nestedTablesAreCheckedAgainstTheirShapeAndCarryOne() throws {
        let input = try table(
            """
            {"rows": [{"id": "a", "parts": {"rows": [{"n": 2.0}, {}]}, "extra": {"rows": [{"q": "x"}]}}]}
            """)
        let row = try input.conformed(to: Self.nestedShape).rows[0]
        #expect(row["parts"]?["rows"] == json("[{\"n\": 2}, {\"n\": 0}]"))
        #expect(row["parts"]?["dataShape"]?["fieldDefinitions"]?["n"]?["baseType"] == "INTEGER")
        #expect(row["extra"]?["dataShape"]?["fieldDefinitions"]?["q"]?["baseType"] == "STRING")
    }

    @Test func aBadValueInANestedTableNamesTheOuterRowAndField() throws {
        let input = try table("{\"rows\": [{\"id\": \"a\"}, {\"id\": \"b\", \"parts\": {\"rows\": [{\"n\": 1.5}]}}]}")
        let error = assayError { () throws(AssayError) in _ = try input.conformed(to: Self.nestedShape) }
        #expect(error?.details["row"] == .int(1) && error?.details["field"] == "parts")
        #expect(
            error?.message == "Row 1, field 'parts': in the nested infotable, row 0, field 'n': expected an "
                + "INTEGER, got 1.5, which is not a whole number.")
    }

    @Test func aNestedTableWhoseShapeDisagreesIsRefused() throws {
        let input = try table(
            """
            {"rows": [{"parts": {"dataShape": {"fieldDefinitions": {"n": {"baseType": "STRING"}}}, "rows": []}}]}
            """)
        let error = assayError { () throws(AssayError) in _ = try input.conformed(to: Self.nestedShape) }
        #expect(error?.details["field"] == "parts" && error?.details["row"] == .int(0))
        #expect(error?.message.contains("'n' as STRING, but it must be INTEGER") == true)
    }
}

struct CardinalityTests {
    @Test(
        arguments: [
            (nil, Cardinality.any), ("", .any), ("  ", .any), ("Any", .any), ("ANY", .any), ("nxn", .nxn),
            ("Nx1", .nx1), ("1XN", .onexn), ("1x1", .onex1), (" NxN ", .nxn),
        ] as [(String?, Cardinality)])
    func namesAreReadCaseInsensitively(text: String?, expected: Cardinality) throws {
        #expect(try Cardinality(parsing: text) == expected)
    }

    @Test func anUnknownNameListsTheAcceptedOnes() {
        let error = assayError { () throws(AssayError) in _ = try Cardinality(parsing: "NxM") }
        #expect(error?.code == "BAD_REQUEST")
        #expect(error?.message.contains("Any, NxN, Nx1, 1xN, 1x1") == true)
    }

    @Test(arguments: [
        (Cardinality.any, 0, true), (.any, 5, true), (.nxn, 0, false), (.nxn, 3, true), (.nx1, 0, false),
        (.nx1, 3, true), (.onexn, 1, true), (.onexn, 0, false), (.onexn, 2, false), (.onex1, 1, true),
        (.onex1, 2, false), (.onex1, 0, false),
    ])
    func theInputSideCountsRows(cardinality: Cardinality, rows: Int, accepted: Bool) {
        let error = assayError { () throws(AssayError) in try cardinality.checkInput(rowCount: rows) }
        #expect((error == nil) == accepted)
        if let error { #expect(error.code == "INVALID_INPUT" && error.message.contains(cardinality.rawValue)) }
    }

    @Test(arguments: [
        (Cardinality.any, 3, 0, true), (.any, 3, 7, true), (.nxn, 3, 3, true), (.nxn, 3, 2, false),
        (.nx1, 3, 1, true), (.nx1, 3, 3, false), (.onexn, 1, 0, true), (.onexn, 1, 9, true),
        (.onex1, 1, 1, true), (.onex1, 1, 2, false), (.onex1, 1, 0, false),
    ])
    func theResultSideComparesCounts(cardinality: Cardinality, inputs: Int, results: Int, accepted: Bool) {
        #expect(cardinality.acceptsResult(inputRows: inputs, resultRows: results) == accepted)
        #expect((cardinality.resultMismatchMessage(inputRows: inputs, resultRows: results) == nil) == accepted)
    }
}

import AssayInfotable
import Foundation
import Testing

/// QueryJobs over HTTP: `values`, every filter type, sorts and maxItems.
@Suite(.serialized) struct QueryJobsTests {
    final class Fixture: @unchecked Sendable {
        lazy var setup: (ServerProcess, [String: String]) = {
            let server = try! ServerProcess()
            let client = Client(server)
            try! client.createProvider("calc")
            try! client.createModel("calc", "churn-score")
            try! client.createModel("calc", "churn-risk")
            try! client.createModel("calc", "failure")
            var ids: [String: String] = [:]
            ids["a"] = try! client.submit("calc", "churn-score", rows: [["x": 1]], extra: ["priority": 1])
            ids["b"] = try! client.submit("calc", "churn-risk", rows: [["x": 1]], extra: ["priority": 5])
            ids["c"] = try! client.submit("calc", "failure", rows: [["x": 1]], extra: ["priority": 9])
            return (server, ids)
        }()
    }

    static let fixture = Fixture()

    func models(_ filters: JSONValue?, values: JSONValue? = nil, sorts: JSONValue? = nil, max: Int? = nil) throws
        -> [String]
    {
        let (server, _) = QueryJobsTests.fixture.setup
        var query = JSONObject()
        if let filters { query["filters"] = filters }
        if let sorts { query["sorts"] = sorts }
        var p = JSONObject([("query", .object(query))])
        if let values { p["values"] = values }
        if let max { p["maxItems"] = .int(Int64(max)) }
        let reply = try Client(server).job("QueryJobs", .object(p))
        #expect(reply.status == 200, "\(reply.json)")
        return reply.rows.compactMap { $0["modelName"]?.stringValue }
    }

    func f(_ type: String, _ members: JSONObject) -> JSONValue {
        var o = members
        o["type"] = .string(type)
        return .object(o)
    }

    @Test func newestFirstByDefault() throws {
        #expect(try models(nil) == ["failure", "churn-risk", "churn-score"])
    }

    @Test func comparisonFilters() throws {
        #expect(try models(f("EQ", ["fieldName": "modelName", "value": "failure"])) == ["failure"])
        #expect(try models(f("NE", ["fieldName": "modelName", "value": "failure"])).count == 2)
        #expect(try models(f("GT", ["fieldName": "priority", "value": 5])) == ["failure"])
        #expect(try models(f("GE", ["fieldName": "priority", "value": 5])).count == 2)
        #expect(try models(f("LT", ["fieldName": "priority", "value": 5])) == ["churn-score"])
        #expect(try models(f("LE", ["fieldName": "priority", "value": 5])).count == 2)
        #expect(try models(f("eq", ["fieldName": "STATUS", "value": "WAITING"])).count == 3)
    }

    @Test func rangeSetAndPatternFilters() throws {
        #expect(try models(f("Between", ["fieldName": "priority", "from": 1, "to": 5])).count == 2)
        #expect(try models(f("NotBetween", ["fieldName": "priority", "from": 1, "to": 5])) == ["failure"])
        #expect(
            Set(try models(f("Like", ["fieldName": "modelName", "value": "CHURN*"]))) == ["churn-score", "churn-risk"])
        #expect(try models(f("Like", ["fieldName": "modelName", "value": "CHURN*", "isCaseSensitive": true])).isEmpty)
        #expect(try models(f("Like", ["fieldName": "modelName", "value": "churn-r?sk"])) == ["churn-risk"])
        #expect(try models(f("NotLike", ["fieldName": "modelName", "value": "churn%"])) == ["failure"])
        #expect(try models(f("In", ["fieldName": "priority", "values": [1, 9]])).count == 2)
        #expect(try models(f("NotIn", ["fieldName": "priority", "values": [1, 9]])) == ["churn-risk"])
        #expect(try models(f("Matches", ["fieldName": "modelName", "expression": "^churn-(s|x)"])) == ["churn-score"])
        #expect(try models(f("NotMatches", ["fieldName": "modelName", "expression": "churn"])) == ["failure"])
        #expect(try models(f("MissingValue", ["fieldName": "errorCode"])).count == 3)
        #expect(try models(f("NotMissingValue", ["fieldName": "errorCode"])).isEmpty)
        #expect(try models(f("MissingValue", ["fieldName": "startTime"])).count == 3)
    }

    @Test func logicalFiltersSortsAndLimits() throws {
        let and = f(
            "And",
            [
                "filters": [
                    f("Like", ["fieldName": "modelName", "value": "churn*"]),
                    f("GT", ["fieldName": "priority", "value": 2]),
                ]
            ])
        #expect(try models(and) == ["churn-risk"])
        let or = f(
            "Or",
            [
                "filters": [
                    f("EQ", ["fieldName": "modelName", "value": "failure"]),
                    f("EQ", ["fieldName": "priority", "value": 1]),
                ]
            ])
        #expect(try models(or).count == 2)
        #expect(
            try models(nil, sorts: [["fieldName": "priority", "isAscending": true]]) == [
                "churn-score", "churn-risk", "failure",
            ])
        #expect(try models(nil, sorts: [["fieldName": "modelName"]]) == ["churn-risk", "churn-score", "failure"])
        #expect(try models(nil, max: 2) == ["failure", "churn-risk"])
    }

    @Test func valuesMatchAnyRowOnItsNonNullFields() throws {
        let values: JSONValue = ["rows": [["modelName": "failure", "status": nil], ["priority": 1]]]
        #expect(Set(try models(nil, values: values)) == ["failure", "churn-score"])
        let both: JSONValue = ["rows": [["status": "WAITING"]]]
        #expect(try models(f("EQ", ["fieldName": "priority", "value": 5]), values: both) == ["churn-risk"])
    }
}

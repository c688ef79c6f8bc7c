import AssayInfotable
import Foundation
import Testing

/// The `pmml` provider over HTTP: a PMML document uploaded, its shapes derived, and rows scored in
/// the server by ExecuteJob and SubmitJob, matching JPMML-Evaluator's outputs.
@Suite struct PMMLProviderTests {
    static let conformance = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../AssayPMMLTests/Fixtures/conformance/rattle").standardized.path

    /// A simple CSV (no quoted commas), as rows of named cells.
    static func csv(_ path: String) throws -> [[String: String]] {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(whereSeparator: \.isNewline)
        let header = lines[0].split(separator: ",", omittingEmptySubsequences: false).map {
            String($0).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return lines.dropFirst().map { line in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map {
                String($0).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
            return Dictionary(uniqueKeysWithValues: zip(header, cells))
        }
    }

    func setUp() throws -> (ServerProcess, Client) {
        let server = try ServerProcess()
        let client = Client(server)
        try client.createProvider("scoring", ["connectorName": "pmml"])
        let document = try Data(
            contentsOf: URL(fileURLWithPath: PMMLProviderTests.conformance + "/pmml/DecisionTreeIris.pmml"))
        let upload = try client.raw(
            "PUT", "/Thingworx/FileRepositories/TW.AnalysisServices.ModelRepository/scoring/iris-tree.pmml",
            body: [UInt8](document), contentType: "application/octet-stream")
        #expect(upload.status == 200, "\(upload.json)")
        let created = try client.model(
            "CreateModelAndDatashapesFromFile",
            [
                "providerName": "scoring", "modelName": "iris",
                "fileURL": "/Thingworx/FileRepositories/TW.AnalysisServices.ModelRepository/scoring/iris-tree.pmml",
            ])
        #expect(created.status == 200, "\(created.json)")
        return (server, client)
    }

    static func inputRows() throws -> [JSONValue] {
        try csv(conformance + "/csv/Iris.csv").map { row in
            var object = JSONObject()
            for name in ["Sepal_Length", "Sepal_Width", "Petal_Length", "Petal_Width"] {
                object[name] = .double(Double(row[name]!)!)
            }
            return .object(object)
        }
    }

    func expectMatches(_ results: [JSONValue]) throws {
        let expected = try PMMLProviderTests.csv(PMMLProviderTests.conformance + "/csv/DecisionTreeIris.csv")
        #expect(results.count == expected.count)
        for (row, (got, want)) in zip(results, expected).enumerated() {
            #expect(got["Predicted_Species"]?.stringValue == want["Predicted_Species"], "row \(row)")
            for name in ["Probability_setosa", "Probability_versicolor", "Probability_virginica"] {
                let g = got[name]?.doubleValue ?? .nan
                let w = Double(want[name]!)!
                #expect(abs(g - w) <= 1e-9 * max(1, abs(w)), "row \(row) \(name): \(g) vs \(w)")
            }
        }
    }

    @Test func shapesAreDerivedFromTheDocument() throws {
        let (server, client) = try setUp()
        defer { server.kill(SIGTERM) }
        let shapes = try client.model("GetModelDatashapes", ["providerName": "scoring", "modelName": "iris"])
        let input = shapes.rows.first?["input"]?["rows"]?.arrayValue ?? []
        #expect(
            input.compactMap { $0["name"]?.stringValue } == [
                "Sepal_Length", "Sepal_Width", "Petal_Length", "Petal_Width",
            ])
        #expect(input.allSatisfy { $0["baseType"] == "NUMBER" })
        let result = shapes.rows.first?["result"]?["rows"]?.arrayValue ?? []
        #expect(
            result.compactMap { $0["name"]?.stringValue }
                == ["Predicted_Species", "Probability_setosa", "Probability_versicolor", "Probability_virginica"])
        #expect(result.first?["baseType"] == "STRING")
        let models = try client.model("GetModels", ["providerName": "scoring"])
        #expect(models.rows.first?["inputsToResultsCardinality"] == "NxN")
    }

    @Test func executeJobScoresInTheServer() throws {
        let (server, client) = try setUp()
        defer { server.kill(SIGTERM) }
        let reply = try client.job(
            "ExecuteJob",
            [
                "providerName": "scoring", "modelName": "iris",
                "inputParams": ["rows": .array(try PMMLProviderTests.inputRows())],
            ])
        #expect(reply.status == 200, "\(reply.json)")
        try expectMatches(reply.rows)
        // Still recorded as a job.
        let jobs = try client.job(
            "QueryJobs", ["query": ["filters": ["type": "EQ", "fieldName": "providerName", "value": "scoring"]]])
        #expect(jobs.rows.first?["status"] == "COMPLETED")
    }

    @Test func replacingTheModelFileScoresWithTheNewDocument() throws {
        let (server, client) = try setUp()
        defer { server.kill(SIGTERM) }
        let row: JSONValue = ["Sepal_Length": 5.1, "Sepal_Width": 3.5, "Petal_Length": 1.4, "Petal_Width": 0.2]
        func predicted() throws -> String? {
            let reply = try client.job(
                "ExecuteJob", ["providerName": "scoring", "modelName": "iris", "inputParams": ["rows": [row]]])
            #expect(reply.status == 200, "\(reply.json)")
            return reply.rows.first?["Predicted_Species"]?.stringValue
        }
        #expect(try predicted() == "setosa")

        // The same document with one class renamed: a file of the very same size.
        let original = try String(
            contentsOfFile: PMMLProviderTests.conformance + "/pmml/DecisionTreeIris.pmml", encoding: .utf8)
        let renamed = original.replacingOccurrences(of: "\"setosa\"", with: "\"SETOSA\"")
        #expect(renamed.utf8.count == original.utf8.count && renamed != original)
        let upload = try client.raw(
            "PUT", "/Thingworx/FileRepositories/TW.AnalysisServices.ModelRepository/scoring/iris-tree.pmml",
            body: Array(renamed.utf8), contentType: "application/octet-stream")
        #expect(upload.status == 200, "\(upload.json)")

        #expect(try predicted() == "SETOSA")
    }

    @Test func submitJobIsScoredByInServerWorkers() throws {
        let (server, client) = try setUp()
        defer { server.kill(SIGTERM) }
        let jobId = try client.submit("scoring", "iris", rows: try PMMLProviderTests.inputRows())
        #expect(try client.waitFor("scoring", jobId, ["COMPLETED", "FAILED"]) == "COMPLETED")
        let results = try client.job("GetJobResults", ["providerName": "scoring", "jobId": .string(jobId)])
        try expectMatches(results.rows)
    }

    /// A linear model whose input must lie in [0, 10]; anything else is refused (`returnInvalid`).
    static let boundedModel = """
        <PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
          <Header/>
          <DataDictionary>
            <DataField name="x" optype="continuous" dataType="double">
              <Interval closure="closedClosed" leftMargin="0" rightMargin="10"/>
            </DataField>
            <DataField name="y" optype="continuous" dataType="double"/>
          </DataDictionary>
          <RegressionModel functionName="regression">
            <MiningSchema>
              <MiningField name="x" invalidValueTreatment="returnInvalid"/>
              <MiningField name="y" usageType="target"/>
            </MiningSchema>
            <RegressionTable intercept="1"><NumericPredictor name="x" coefficient="2"/></RegressionTable>
          </RegressionModel>
        </PMML>
        """

    @Test func unscorableRowFailsTheJobNamingRowAndField() throws {
        let (server, client) = try setUp()
        defer { server.kill(SIGTERM) }
        _ = try client.raw(
            "PUT", "/Thingworx/FileRepositories/TW.AnalysisServices.ModelRepository/scoring/bounded.pmml",
            body: Array(PMMLProviderTests.boundedModel.utf8), contentType: "application/octet-stream")
        let created = try client.model(
            "CreateModelAndDatashapesFromFile",
            ["providerName": "scoring", "modelName": "bounded", "fileURL": "bounded.pmml"])
        #expect(created.status == 200, "\(created.json)")
        let good = try client.job(
            "ExecuteJob", ["providerName": "scoring", "modelName": "bounded", "inputParams": ["rows": [["x": 3]]]])
        #expect(good.rows.first?["y"]?.doubleValue == 7, "\(good.json)")
        let reply = try client.job(
            "ExecuteJob",
            ["providerName": "scoring", "modelName": "bounded", "inputParams": ["rows": [["x": 1], ["x": 20]]]])
        #expect(reply.status == 422 && reply.errorCode == "JOB_FAILED", "\(reply.json)")
        #expect(reply.json["error"]?["errorCode"] == "INVALID_INPUT")
        #expect(reply.errorMessage.contains("Row 1") && reply.errorMessage.contains("'x'"), "\(reply.errorMessage)")
        let jobId = try client.submit("scoring", "bounded", rows: [["x": 20]])
        #expect(try client.waitFor("scoring", jobId, ["FAILED", "COMPLETED"]) == "FAILED")
        let errors = try client.job("GetJobErrors", ["providerName": "scoring", "jobId": .string(jobId)])
        #expect(errors.rows.first?["errorCode"] == "INVALID_INPUT")
    }

    @Test func unsupportedDocumentIsRefusedNamingTheElement() throws {
        let (server, client) = try setUp()
        defer { server.kill(SIGTERM) }
        let document = try Data(
            contentsOf: URL(fileURLWithPath: PMMLProviderTests.conformance + "/pmml/AssociationRulesShopping.pmml"))
        _ = try client.raw(
            "PUT", "/Thingworx/FileRepositories/TW.AnalysisServices.ModelRepository/scoring/rules.pmml",
            body: [UInt8](document), contentType: "application/octet-stream")
        let created = try client.model(
            "CreateModelAndDatashapesFromFile",
            ["providerName": "scoring", "modelName": "rules", "fileURL": "rules.pmml"])
        #expect(created.status == 400)
        #expect(created.errorMessage.contains("AssociationModel"), "\(created.json)")
        #expect(client.healthy)
    }
}

import AssayInfotable

#if canImport(Glibc)
    import Glibc
#endif

/// The client subcommands: one per service, printing tables (or JSON with `--json`).
enum ClientCommands {
    static let jobs = "TW.AnalysisServices.JobManagementServicesAPI"
    static let providers = "TW.AnalysisServices.ProviderManagementServicesAPI"
    static let models = "TW.AnalysisServices.ModelManagementServicesAPI"
    static let keys = "Assay.KeyManagementServicesAPI"
    static let common: Set<String> = ["url", "key"]

    static let usage = """
        client commands (server from --url or ASSAY_URL, key from --key or ASSAY_KEY; add --json for JSON):
          assay submit PROVIDER MODEL [--rows JSON | --input FILE|-] [--extra JSON] [--custom JSON]
          assay execute PROVIDER MODEL [--rows JSON | --input FILE|-] [--extra JSON] [--custom JSON]
          assay status PROVIDER JOB_ID          assay results PROVIDER JOB_ID
          assay files PROVIDER JOB_ID [--download DIR]
          assay errors PROVIDER JOB_ID          assay retry PROVIDER JOB_ID
          assay jobs [--status S] [--provider P] [--model M] [--query JSON] [--values JSON] [--max N]
          assay providers [list | create NAME | update NAME | delete NAME | clients NAME]
                [--connector agent|pmml] [--description D] [--max-attempts N] [--max-concurrent N]
                [--timeout SECONDS] [--purge-hours H]
          assay models [list [PROVIDER] | create PROVIDER NAME --input-shape JSON --output-shape JSON
                [--cardinality C] | upload PROVIDER FILE | create-from-file PROVIDER NAME FILE_NAME
                | enable PROVIDER NAME | disable PROVIDER NAME | delete PROVIDER NAME | shapes PROVIDER NAME]
          assay keys [list | create NAME --role admin|user|agent [--providers P1,P2] | delete NAME]
          assay call RESOURCE SERVICE [JSON]
        """

    static func run(_ command: String, _ words: [String]) throws -> Int32 {
        let args = try Arguments(
            words,
            valued: common.union([
                "rows", "input", "extra", "custom", "download", "status", "provider", "model", "query", "values", "max",
                "connector", "description", "max-attempts", "max-concurrent", "timeout", "purge-hours", "input-shape",
                "output-shape", "cardinality", "role", "providers",
            ]), flags: ["json"])
        let client = try ServiceClient(url: args.value("url"), key: args.value("key"))
        let output: JSONValue
        switch command {
        case "submit", "execute":
            var p = JSONObject([
                ("providerName", .string(try args.positional(0, "provider name"))),
                ("modelName", .string(try args.positional(1, "model name"))),
                ("inputParams", try inputTable(args)),
            ])
            if let extra = args.value("extra") { p["extraParams"] = try json(extra, "--extra") }
            if let custom = args.value("custom") { p["customData"] = try json(custom, "--custom") }
            output = try client.call(jobs, command == "submit" ? "SubmitJob" : "ExecuteJob", p)
        case "status", "results", "errors", "retry":
            let service = [
                "status": "GetJobStatus", "results": "GetJobResults", "errors": "GetJobErrors",
                "retry": "RetryJob",
            ][command]!
            output = try client.call(jobs, service, try jobParameters(args))
        case "files":
            output = try client.call(jobs, "GetJobResultFiles", try jobParameters(args))
            if let dir = args.value("download") { try download(output, to: dir, client: client) }
        case "jobs":
            output = try client.call(jobs, "QueryJobs", try queryParameters(args))
        case "providers":
            output = try providerCommand(args, client)
        case "models":
            output = try modelCommand(args, client)
        case "keys":
            output = try keyCommand(args, client)
        case "call":
            let body =
                args.positional.count > 2 ? try json(args.positional[2], "the parameters") : .object(JSONObject())
            guard let object = body.objectValue else { throw CLIError("the parameters must be a JSON object") }
            output = try client.call(try args.positional(0, "resource"), try args.positional(1, "service"), object)
        default:
            throw CLIError("unknown command '\(command)'")
        }
        if args.flag("json") {
            print(JSON.string(output))
        } else if command == "models", args.positional.first == "shapes", let row = output["rows"]?.arrayValue?.first {
            // Two nested tables: print each as its own table.
            print("input:\n" + TablePrinter.render(row["input"] ?? .null))
            print("\nresult:\n" + TablePrinter.render(row["result"] ?? .null))
        } else {
            print(TablePrinter.render(output))
        }
        return 0
    }

    static func json(_ text: String, _ what: String) throws -> JSONValue {
        do {
            return try JSON.parse(text)
        } catch {
            throw CLIError("\(what) is not valid JSON: \(error)")
        }
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        let file = path == "-" ? fdopen(dup(0), "rb") : fopen(path, "rb")
        guard let file else { throw CLIError("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return data
    }

    static func inputTable(_ args: Arguments) throws -> JSONValue {
        if let rows = args.value("rows") {
            let value = try json(rows, "--rows")
            guard case .array = value else { throw CLIError("--rows must be a JSON array of row objects") }
            return .object(JSONObject([("rows", value)]))
        }
        if let path = args.value("input") {
            let data = try readFile(path)
            do {
                return try JSON.parse(data)
            } catch {
                throw CLIError("\(path) is not valid JSON: \(error)")
            }
        }
        return .object(JSONObject([("rows", .array([]))]))
    }

    static func jobParameters(_ args: Arguments) throws -> JSONObject {
        JSONObject([
            ("providerName", .string(try args.positional(0, "provider name"))),
            ("jobId", .string(try args.positional(1, "job id"))),
        ])
    }

    static func queryParameters(_ args: Arguments) throws -> JSONObject {
        var p = JSONObject()
        var filters: [JSONValue] = []
        for (option, field) in [("status", "status"), ("provider", "providerName"), ("model", "modelName")] {
            if let value = args.value(option) {
                filters.append(["type": "EQ", "fieldName": .string(field), "value": .string(value)])
            }
        }
        if let query = args.value("query") {
            p["query"] = try json(query, "--query")
        } else if !filters.isEmpty {
            p["query"] = ["filters": ["type": "And", "filters": .array(filters)]]
        }
        if let values = args.value("values") { p["values"] = try json(values, "--values") }
        if let max = try args.int("max") { p["maxItems"] = .int(Int64(max)) }
        return p
    }

    static func download(_ files: JSONValue, to dir: String, client: ServiceClient) throws {
        try ServeCommand.makeDirectory(dir)
        for row in files["rows"]?.arrayValue ?? [] {
            guard let name = row["name"]?.stringValue, let link = row["link"]?.stringValue else { continue }
            let data = try client.send("GET", link).body
            let path = dir + "/" + name
            guard let file = fopen(path, "wb") else { throw CLIError("cannot write \(path)") }
            _ = data.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
            fclose(file)
        }
    }

    static func providerCommand(_ args: Arguments, _ client: ServiceClient) throws -> JSONValue {
        let action = args.positional.first ?? "list"
        switch action {
        case "list":
            return try client.call(providers, "GetProviders")
        case "create", "update":
            var p = JSONObject([("providerName", .string(try args.positional(1, "provider name")))])
            if let v = args.value("connector") { p["connectorName"] = .string(v) }
            if let v = args.value("description") { p["description"] = .string(v) }
            if let v = try args.int("max-attempts") { p["maxAttempts"] = .int(Int64(v)) }
            if let v = try args.int("max-concurrent") { p["maxConcurrentJobs"] = .int(Int64(v)) }
            if let v = try args.double("timeout") { p["jobTimeoutSeconds"] = .double(v) }
            if let v = try args.double("purge-hours") { p["purgeJobsAge"] = .double(v) }
            return try client.call(providers, action == "create" ? "CreateProvider" : "UpdateProvider", p)
        case "delete":
            return try client.call(
                providers, "DeleteProvider",
                JSONObject([("providerName", .string(try args.positional(1, "provider name")))]))
        case "clients":
            return try client.call(
                providers, "GetConnectedClients",
                JSONObject([("providerName", .string(try args.positional(1, "provider name")))]))
        default:
            throw CLIError("unknown providers action '\(action)'; use list, create, update, delete or clients")
        }
    }

    static func modelCommand(_ args: Arguments, _ client: ServiceClient) throws -> JSONValue {
        let action = args.positional.first ?? "list"
        func pair() throws -> JSONObject {
            JSONObject([
                ("providerName", .string(try args.positional(1, "provider name"))),
                ("modelName", .string(try args.positional(2, "model name"))),
            ])
        }
        switch action {
        case "list":
            var p = JSONObject()
            if args.positional.count > 1 { p["providerName"] = .string(args.positional[1]) }
            return try client.call(models, "GetModels", p)
        case "create":
            var p = try pair()
            guard let input = args.value("input-shape"), let output = args.value("output-shape") else {
                throw CLIError("models create needs --input-shape JSON and --output-shape JSON")
            }
            p["inputDatashapeJson"] = try json(input, "--input-shape")
            p["outputDatashapeJson"] = try json(output, "--output-shape")
            if let v = args.value("description") { p["description"] = .string(v) }
            if let v = args.value("cardinality") { p["inputsToResultsCardinality"] = .string(v) }
            return try client.call(models, "CreateModelWithManualDatashapes", p)
        case "upload":
            let provider = try args.positional(1, "provider name")
            let path = try args.positional(2, "file")
            let name = String(path.split(separator: "/").last ?? Substring(path))
            let response = try client.send(
                "PUT", "/Thingworx/FileRepositories/TW.AnalysisServices.ModelRepository/\(provider)/\(name)",
                body: try readFile(path), extraHeaders: [(name: "Content-Type", value: "application/octet-stream")])
            return try ServiceClient.parse(response.body)
        case "create-from-file":
            var p = try pair()
            p["fileURL"] = .string(
                "/Thingworx/FileRepositories/TW.AnalysisServices.ModelRepository/\(try args.positional(1, "provider"))/"
                    + (try args.positional(3, "file name")))
            if let v = args.value("description") { p["description"] = .string(v) }
            if let v = args.value("cardinality") { p["inputsToResultsCardinality"] = .string(v) }
            return try client.call(models, "CreateModelAndDatashapesFromFile", p)
        case "enable": return try client.call(models, "EnableModel", try pair())
        case "disable": return try client.call(models, "DisableModel", try pair())
        case "delete": return try client.call(models, "DeleteModel", try pair())
        case "shapes": return try client.call(models, "GetModelDatashapes", try pair())
        default:
            throw CLIError(
                "unknown models action '\(action)'; use list, create, upload, create-from-file, enable, disable, "
                    + "delete or shapes")
        }
    }

    static func keyCommand(_ args: Arguments, _ client: ServiceClient) throws -> JSONValue {
        let action = args.positional.first ?? "list"
        switch action {
        case "list":
            return try client.call(keys, "GetKeys")
        case "create":
            var p = JSONObject([
                ("name", .string(try args.positional(1, "key name"))),
                ("role", .string(args.value("role") ?? "user")),
            ])
            if let providers = args.value("providers") {
                p["providers"] = .array(providers.split(separator: ",").map { .string(String($0)) })
            }
            return try client.call(keys, "CreateKey", p)
        case "delete":
            return try client.call(
                keys, "DeleteKey", JSONObject([("name", .string(try args.positional(1, "key name")))]))
        default:
            throw CLIError("unknown keys action '\(action)'; use list, create or delete")
        }
    }
}

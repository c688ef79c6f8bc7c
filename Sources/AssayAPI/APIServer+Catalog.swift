import AssayEngine
import AssayInfotable
import AssayStore

/// Provider, model and key management: `TW.AnalysisServices.ProviderManagementServicesAPI`,
/// `TW.AnalysisServices.ModelManagementServicesAPI` and `Assay.KeyManagementServicesAPI`.
extension APIServer {
    static let providerResource = "TW.AnalysisServices.ProviderManagementServicesAPI"
    static let modelResource = "TW.AnalysisServices.ModelManagementServicesAPI"
    static let keyResource = "Assay.KeyManagementServicesAPI"
    static let providerParameters = [
        "providerName", "description", "connectorName", "purgeJobsAge", "maxAttempts", "maxConcurrentJobs",
        "jobTimeoutSeconds",
    ]

    func registerProviderServices() {
        let r = APIServer.providerResource
        register(r, "CreateProvider", .admin, APIServer.providerParameters) { [engine] p, _ in
            let provider = try APIServer.providerRecord(
                p, base: ProviderRecord(name: try p.requiredString("providerName")))
            try await engine.createProvider(provider)
            return .json(Infotable.single("result", .string, .string(provider.name)).json)
        }
        register(r, "UpdateProvider", .admin, APIServer.providerParameters) { [engine] p, _ in
            let name = try p.requiredString("providerName")
            guard let existing = try await engine.store.provider(name) else { throw AssayError.unknownProvider(name) }
            let provider = try APIServer.providerRecord(p, base: existing)
            guard provider.connector == existing.connector else {
                throw AssayError.badRequest(
                    "The connectorName of provider '\(name)' cannot change; create a new provider instead.")
            }
            try await engine.updateProvider(provider)
            return .json(Infotable.single("result", .string, .string(name)).json)
        }
        register(r, "DeleteProvider", .admin, ["providerName"]) { [engine] p, _ in
            try await engine.deleteProvider(try p.requiredString("providerName"))
            return .json(Infotable.empty.json)
        }
        register(r, "GetProviders", .user, []) { [engine] _, _ in
            let rows = try await engine.store.providers().map { p in
                JSONObject([
                    ("providerName", .string(p.name)), ("description", .string(p.description)),
                    ("connectorName", .string(p.connector.rawValue)), ("purgeJobsAge", .double(p.purgeJobsAgeHours)),
                    ("maxAttempts", .int(Int64(p.maxAttempts))),
                    ("maxConcurrentJobs", .int(Int64(p.maxConcurrentJobs))),
                    ("jobTimeoutSeconds", .double(p.jobTimeoutSeconds)), ("createdTime", .int(p.createdTime)),
                ])
            }
            return .json(Infotable(dataShape: Shapes.providers, rows: rows).json)
        }
        register(r, "GetConnectedClients", .user, ["providerName"]) { [engine] p, _ in
            let name = try p.requiredString("providerName")
            _ = try await engine.catalog.provider(name)
            let rows = try await engine.store.clients(provider: name).map { c in
                JSONObject([
                    ("clientId", .string(c.clientId)), ("hostName", .string(c.hostName)),
                    ("models", (try? JSON.parse(c.modelsJSON)) ?? .array([])), ("capacity", .int(Int64(c.capacity))),
                    ("runningJobs", .int(Int64(c.runningJobs))), ("lastHeartbeat", .int(c.lastHeartbeat)),
                    ("health", (try? JSON.parse(c.healthJSON)) ?? .object(JSONObject())),
                ])
            }
            return .json(Infotable(dataShape: Shapes.clients, rows: rows).json)
        }
    }

    static func providerRecord(_ p: ServiceParameters, base: ProviderRecord) throws -> ProviderRecord {
        var record = base
        if let description = try p.string("description") { record.description = description }
        if let connector = try p.string("connectorName") {
            guard let value = ConnectorName(rawValue: connector.lowercased()) else {
                throw AssayError.badRequest("connectorName must be 'agent' or 'pmml', got '\(connector)'.")
            }
            record.connector = value
        }
        if let age = try p.number("purgeJobsAge") { record.purgeJobsAgeHours = age }
        if let attempts = try p.integer("maxAttempts", in: 1...100) { record.maxAttempts = attempts }
        if let cap = try p.integer("maxConcurrentJobs", in: 0...1_000_000) { record.maxConcurrentJobs = cap }
        if let timeout = try p.number("jobTimeoutSeconds") { record.jobTimeoutSeconds = timeout }
        return record
    }

    func registerModelServices() {
        let r = APIServer.modelResource
        register(
            r, "CreateModelWithManualDatashapes", .admin,
            [
                "providerName", "modelName", "description", "inputDatashapeJson", "outputDatashapeJson",
                "inputsToResultsCardinality",
            ]
        ) { [engine] p, _ in
            guard let input = try p.json("inputDatashapeJson") else {
                throw AssayError.badRequest(
                    "Parameter 'inputDatashapeJson' of CreateModelWithManualDatashapes is required.")
            }
            guard let output = try p.json("outputDatashapeJson") else {
                throw AssayError.badRequest(
                    "Parameter 'outputDatashapeJson' of CreateModelWithManualDatashapes is required.")
            }
            let name = try p.requiredString("modelName")
            try await engine.createModel(
                provider: try p.requiredString("providerName"), name: name,
                description: try p.string("description") ?? "",
                input: try DataShape(manual: input), result: try DataShape(manual: output),
                cardinality: try Cardinality(parsing: try p.string("inputsToResultsCardinality")))
            return .json(Infotable.single("result", .string, .string(name)).json)
        }
        register(
            r, "CreateModelAndDatashapesFromFile", .admin,
            ["providerName", "modelName", "fileURL", "description", "inputsToResultsCardinality"]
        ) { [engine] p, _ in
            let provider = try p.requiredString("providerName")
            let name = try p.requiredString("modelName")
            let fileName = try APIServer.modelFileName(try p.requiredString("fileURL"), provider: provider)
            let cardinality = try p.string("inputsToResultsCardinality").map { try Cardinality(parsing: $0) }
            try await engine.createModel(
                provider: provider, name: name, description: try p.string("description") ?? "", fileName: fileName,
                cardinality: cardinality)
            return .json(Infotable.single("result", .string, .string(name)).json)
        }
        register(r, "EnableModel", .admin, ["providerName", "modelName"]) { [engine] p, _ in
            try await engine.setModelEnabled(
                provider: try p.requiredString("providerName"), model: try p.requiredString("modelName"), enabled: true)
            return .json(Infotable.empty.json)
        }
        register(r, "DisableModel", .admin, ["providerName", "modelName"]) { [engine] p, _ in
            try await engine.setModelEnabled(
                provider: try p.requiredString("providerName"), model: try p.requiredString("modelName"), enabled: false
            )
            return .json(Infotable.empty.json)
        }
        register(r, "DeleteModel", .admin, ["providerName", "modelName"]) { [engine] p, _ in
            try await engine.deleteModel(
                provider: try p.requiredString("providerName"), model: try p.requiredString("modelName"))
            return .json(Infotable.empty.json)
        }
        register(r, "GetModels", .user, ["providerName"]) { [engine] p, _ in
            let provider = try p.string("providerName")
            if let provider { _ = try await engine.catalog.provider(provider) }
            let rows = try await engine.store.models(provider: provider).map { m in
                JSONObject([
                    ("modelName", .string(m.name)), ("providerName", .string(m.provider)),
                    ("description", .string(m.description)), ("state", .string(m.enabled ? "ENABLED" : "DISABLED")),
                    ("inputsToResultsCardinality", .string(m.cardinality)),
                    ("fileName", m.fileName.map { .string($0) } ?? .null), ("createdTime", .int(m.createdTime)),
                ])
            }
            return .json(Infotable(dataShape: Shapes.models, rows: rows).json)
        }
        register(r, "GetModelDatashapes", .user, ["providerName", "modelName"]) { [engine] p, _ in
            let model = try await engine.catalog.model(
                provider: try p.requiredString("providerName"), model: try p.requiredString("modelName"))
            let row = JSONObject([
                ("input", model.inputShape.fieldsInfotable.json), ("result", model.resultShape.fieldsInfotable.json),
            ])
            return .json(Infotable(dataShape: Shapes.modelDatashapes, rows: [row]).json)
        }
    }

    /// `fileURL` may be the repository path, a full URL ending in it, or the bare file name.
    static func modelFileName(_ fileURL: String, provider: String) throws -> String {
        let marker = "/TW.AnalysisServices.ModelRepository/"
        var parts = fileURL.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if let at = parts.firstIndex(of: "TW.AnalysisServices.ModelRepository"), fileURL.contains(marker) {
            parts = Array(parts[(at + 1)...])
        }
        if parts.count == 2 {
            guard parts[0] == provider else {
                throw AssayError.badRequest(
                    "fileURL '\(fileURL)' belongs to provider '\(parts[0])', not '\(provider)'.")
            }
            return parts[1]
        }
        guard parts.count == 1 else {
            throw AssayError.badRequest(
                "fileURL must be \(modelRepository)<providerName>/<fileName>, got '\(fileURL)'.")
        }
        return parts[0]
    }

    func registerKeyServices() {
        let r = APIServer.keyResource
        register(r, "CreateKey", .admin, ["name", "role", "providers"]) { [keys] p, _ in
            let roleName = try p.requiredString("role")
            guard let role = KeyRole(rawValue: roleName.lowercased()) else {
                throw AssayError.badRequest("role must be admin, user or agent, got '\(roleName)'.")
            }
            let providers = try p.stringArray("providers") ?? []
            if role == .agent && providers.isEmpty {
                throw AssayError.badRequest("An agent key needs 'providers': the providers whose jobs it may take.")
            }
            let secret = try await keys.createKey(name: try p.requiredString("name"), role: role, providers: providers)
            return .json(Infotable.single("result", .string, .string(secret)).json)
        }
        register(r, "DeleteKey", .admin, ["name"]) { [keys] p, _ in
            try await keys.deleteKey(name: try p.requiredString("name"))
            return .json(Infotable.empty.json)
        }
        register(r, "GetKeys", .admin, []) { [engine] _, _ in
            let rows = try await engine.store.keys().map { k in
                JSONObject([
                    ("name", .string(k.name)), ("role", .string(k.role.rawValue)),
                    ("providers", .array(k.providers.map { .string($0) })), ("createdTime", .int(k.createdTime)),
                ])
            }
            return .json(Infotable(dataShape: Shapes.keys, rows: rows).json)
        }
    }
}

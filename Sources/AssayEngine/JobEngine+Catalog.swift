import AssayInfotable
import AssayStore

/// Provider and model management, and stateful sessions.
extension JobEngine {
    /// Names end up in paths of the file repositories, so they are kept to a safe alphabet.
    public static func checkName(_ name: String, what: String) throws {
        let allowed = name.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F
                || c == 0x2E
        }
        guard !name.isEmpty, name.utf8.count <= 200, allowed, name != ".", name != ".." else {
            throw AssayError.badRequest(
                "\(what) '\(name)' is not a valid name: use 1 to 200 letters, digits, '.', '-' or '_'.")
        }
    }

    public func createProvider(_ provider: ProviderRecord) async throws {
        try JobEngine.checkName(provider.name, what: "providerName")
        try JobEngine.checkSettings(provider)
        var record = provider
        record.createdTime = WallClock.nowMillis()
        try await store.createProvider(record)
        catalog.forgetProvider(provider.name)
        Log.info("provider created", ["provider": provider.name, "connector": provider.connector.rawValue])
    }

    public func updateProvider(_ provider: ProviderRecord) async throws {
        try JobEngine.checkSettings(provider)
        try await store.updateProvider(provider)
        catalog.forgetProvider(provider.name)
    }

    static func checkSettings(_ provider: ProviderRecord) throws {
        guard provider.purgeJobsAgeHours >= 0, provider.purgeJobsAgeHours.isFinite else {
            throw AssayError.badRequest("purgeJobsAge must be a number of hours, 0 or more (0 keeps jobs).")
        }
        guard (1...100).contains(provider.maxAttempts) else {
            throw AssayError.badRequest("maxAttempts must be an integer from 1 to 100.")
        }
        guard provider.maxConcurrentJobs >= 0 else {
            throw AssayError.badRequest("maxConcurrentJobs must be 0 (no cap) or more.")
        }
        guard provider.jobTimeoutSeconds >= 0, provider.jobTimeoutSeconds <= 7 * 86400 else {
            throw AssayError.badRequest("jobTimeoutSeconds must be from 0 (none) to 604800.")
        }
    }

    public func deleteProvider(_ name: String) async throws {
        try await store.deleteProvider(name)
        catalog.forgetProvider(name)
        Log.info("provider deleted", ["provider": name])
    }

    public func createModel(
        provider: String, name: String, description: String, input: DataShape, result: DataShape,
        cardinality: Cardinality, fileName: String? = nil
    ) async throws {
        try JobEngine.checkName(name, what: "modelName")
        _ = try await catalog.provider(provider)
        let record = ModelRecord(
            provider: provider, name: name, description: description, inputShapeJSON: JSON.string(input.manualJSON),
            resultShapeJSON: JSON.string(result.manualJSON), cardinality: cardinality.rawValue, enabled: true,
            fileName: fileName, createdTime: WallClock.nowMillis())
        try await store.createModel(record)
        catalog.forgetModel(provider: provider, model: name)
        Log.info("model created", ["provider": provider, "model": name])
    }

    /// CreateModelAndDatashapesFromFile. For in-server providers the runtime derives the shapes from
    /// the file; for agent providers the file is a JSON object with `inputDatashapeJson`,
    /// `outputDatashapeJson` and optionally `inputsToResultsCardinality`.
    public func createModel(
        provider providerName: String, name: String, description: String, fileName: String,
        cardinality requested: Cardinality?
    ) async throws {
        let provider = try await catalog.provider(providerName)
        guard let file = try await store.modelFile(provider: providerName, name: fileName) else {
            throw AssayError.unknownFile(
                "/Thingworx/FileRepositories/TW.AnalysisServices.ModelRepository/\(providerName)/\(fileName)")
        }
        if let runtime = runtime(for: provider) {
            let described = try runtime.describe(file: file)
            try await createModel(
                provider: providerName, name: name, description: description, input: described.input,
                result: described.result, cardinality: described.cardinality, fileName: fileName)
            return
        }
        let document: JSONValue
        do {
            document = try JSON.parse(file)
        } catch {
            throw AssayError.badRequest(
                "Model file '\(fileName)' is not JSON (\(error)); an agent provider's model file holds "
                    + "inputDatashapeJson and outputDatashapeJson.")
        }
        guard let input = document["inputDatashapeJson"], let output = document["outputDatashapeJson"] else {
            throw AssayError.badRequest(
                "Model file '\(fileName)' must be a JSON object with inputDatashapeJson and outputDatashapeJson.")
        }
        let cardinality =
            try requested ?? Cardinality(parsing: document["inputsToResultsCardinality"]?.stringValue)
        try await createModel(
            provider: providerName, name: name, description: description, input: try DataShape(manual: input),
            result: try DataShape(manual: output), cardinality: cardinality, fileName: fileName)
    }

    public func setModelEnabled(provider: String, model: String, enabled: Bool) async throws {
        _ = try await catalog.provider(provider)
        try await store.setModelEnabled(provider: provider, model: model, enabled: enabled)
        catalog.forgetModel(provider: provider, model: model)
    }

    public func deleteModel(provider: String, model: String) async throws {
        _ = try await catalog.provider(provider)
        try await store.deleteModel(provider: provider, model: model)
        catalog.forgetModel(provider: provider, model: model)
        Log.info("model deleted", ["provider": provider, "model": model])
    }

    public func putModelFile(provider: String, name: String, data: [UInt8]) async throws {
        try JobEngine.checkName(name, what: "file name")
        _ = try await catalog.provider(provider)
        try await store.putModelFile(provider: provider, name: name, data: data)
        modelFileCache.forget(provider: provider, name: name)
    }

    public func setSessionStateful(_ sessionId: String, stateful: Bool) async throws {
        try await store.setSessionStateful(sessionId, stateful: stateful, now: WallClock.nowMillis())
    }

    public func isSessionStateful(_ sessionId: String) async throws -> Bool {
        try await store.isSessionStateful(sessionId)
    }
}

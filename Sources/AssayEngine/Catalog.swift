import AssayInfotable
import AssayStore
import Synchronization

/// A model as the engine uses it: its record with the data shapes and cardinality parsed once.
public struct ModelEntry: Sendable {
    public var record: ModelRecord
    public var inputShape: DataShape
    public var resultShape: DataShape
    public var cardinality: Cardinality
}

/// Providers and models read through a short-lived cache, so that a SubmitJob does not cost store
/// reads for settings that rarely change. Local changes drop the cache entry at once; changes made
/// by other servers of a cluster show within `ttl`.
public final class Catalog: Sendable {
    private let store: any JobStore
    private let ttlMillis: Millis
    private let providers = Mutex<[String: (ProviderRecord?, Millis)]>([:])
    private let models = Mutex<[String: (ModelEntry?, Millis)]>([:])

    init(store: any JobStore, ttlSeconds: Double) {
        self.store = store
        self.ttlMillis = Millis(ttlSeconds * 1000)
    }

    public func provider(_ name: String) async throws -> ProviderRecord {
        let now = WallClock.nowMillis()
        if let (cached, at) = providers.withLock({ $0[name] }), now - at < ttlMillis {
            guard let cached else { throw AssayError.unknownProvider(name) }
            return cached
        }
        let record = try await store.provider(name)
        providers.withLock { $0[name] = (record, now) }
        guard let record else { throw AssayError.unknownProvider(name) }
        return record
    }

    public func model(provider: String, model: String) async throws -> ModelEntry {
        let key = provider + "\u{0}" + model
        let now = WallClock.nowMillis()
        if let (cached, at) = models.withLock({ $0[key] }), now - at < ttlMillis {
            guard let cached else { throw AssayError.unknownModel(provider: provider, model: model) }
            return cached
        }
        guard let record = try await store.model(provider: provider, model: model) else {
            _ = try await self.provider(provider)
            models.withLock { $0[key] = (nil, now) }
            throw AssayError.unknownModel(provider: provider, model: model)
        }
        let entry = try Catalog.entry(record)
        models.withLock { $0[key] = (entry, now) }
        return entry
    }

    static func entry(_ record: ModelRecord) throws -> ModelEntry {
        do {
            return ModelEntry(
                record: record,
                inputShape: try DataShape(manual: try JSON.parse(record.inputShapeJSON)),
                resultShape: try DataShape(manual: try JSON.parse(record.resultShapeJSON)),
                cardinality: try Cardinality(parsing: record.cardinality))
        } catch {
            throw AssayError.internalError(
                "The stored data shapes of model '\(record.name)' cannot be read: \(error). Recreate the model.")
        }
    }

    public func forgetProvider(_ name: String) {
        providers.withLock { $0[name] = nil }
        models.withLock { map in
            for key in map.keys where key.hasPrefix(name + "\u{0}") { map[key] = nil }
        }
    }

    public func forgetModel(provider: String, model: String) {
        models.withLock { $0[provider + "\u{0}" + model] = nil }
    }
}

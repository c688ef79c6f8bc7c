import AssayEngine
import AssayInfotable
import AssayStore
import Synchronization

/// Application keys: checks the key of each request and creates keys. Keys are random 32-byte
/// secrets shown once; the store keeps only their SHA-256. Lookups are cached briefly, by the key
/// as presented, so that a request costs neither a hash nor a store read; a deleted key stops
/// working within `ttlSeconds`.
public final class KeyAuthority: Sendable {
    let store: any JobStore
    let ttlMillis: Millis
    private let cache = Mutex<[String: (KeyRecord?, Millis)]>([:])

    public init(store: any JobStore, ttlSeconds: Double = 2) {
        self.store = store
        self.ttlMillis = Millis(ttlSeconds * 1000)
    }

    public static func hash(_ key: String) -> String {
        SHA256.hex(key)
    }

    public static func newSecret() -> String {
        "ak_" + JobID.randomHex(bytes: 32)
    }

    /// The key's record, or `UNAUTHORIZED`.
    public func authenticate(_ key: String?) async throws -> KeyRecord {
        guard let key, !key.isEmpty else {
            throw AssayError.unauthorized("An application key is required: send it in the appKey header.")
        }
        let now = WallClock.nowMillis()
        if let (record, at) = cache.withLock({ $0[key] }), now - at < ttlMillis {
            guard let record else { throw AssayError.unauthorized("The application key is not known to this server.") }
            return record
        }
        let record = try await store.key(hash: KeyAuthority.hash(key))
        cache.withLock { map in
            if map.count > 10_000 { map.removeAll() }
            map[key] = (record, now)
        }
        guard let record else { throw AssayError.unauthorized("The application key is not known to this server.") }
        return record
    }

    /// Creates a key and returns its secret, which is never stored.
    public func createKey(name: String, role: KeyRole, providers: [String]) async throws -> String {
        guard !name.isEmpty, name.utf8.count <= 200 else {
            throw AssayError.badRequest("A key name must have 1 to 200 characters.")
        }
        let secret = KeyAuthority.newSecret()
        try await store.createKey(
            KeyRecord(
                name: name, role: role, providers: providers, hash: KeyAuthority.hash(secret),
                createdTime: WallClock.nowMillis()))
        Log.info("application key created", ["key.name": name, "role": role.rawValue])
        return secret
    }

    public func deleteKey(name: String) async throws {
        guard try await store.deleteKey(name: name) else {
            throw AssayError.notFound("There is no application key named '\(name)'.")
        }
        cache.withLock { $0.removeAll() }
        Log.info("application key deleted", ["key.name": name])
    }
}

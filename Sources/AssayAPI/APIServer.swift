import AssayEngine
import AssayHTTP
import AssayInfotable
import AssayStore
import Synchronization

/// Who may call a service.
enum Access {
    /// Admin keys only: changing providers, models and keys.
    case admin
    /// User and admin keys: the job services and reading providers and models.
    case user
    /// Agent keys naming the call's provider, and admin keys: the agent protocol.
    case agent
}

/// What a service answers: a JSON value, or JSON bytes that are already serialised.
enum Reply {
    case json(JSONValue)
    case bytes([UInt8])
    /// A non-JSON payload (file downloads).
    case raw(contentType: String, [UInt8])
}

/// The state of one call that services may read or change (the session cookie).
final class CallContext: @unchecked Sendable {
    let request: HTTPRequest
    let key: KeyRecord
    var sessionId: String?
    var setCookie: String?

    init(request: HTTPRequest, key: KeyRecord) {
        self.request = request
        self.key = key
        self.sessionId = request.cookies["JSESSIONID"]
    }
}

struct Service: Sendable {
    let access: Access
    let parameters: [String]
    let run: @Sendable (ServiceParameters, CallContext) async throws -> Reply
}

/// The HTTP surface: routes ThingWorx service calls and file-repository requests to the engine,
/// checks keys and roles, and renders errors as the contract's JSON error bodies. A malformed
/// request is always a 4xx, never a 5xx.
public final class APIServer: HTTPHandler {
    let engine: JobEngine
    let keys: KeyAuthority
    private let services = Mutex<[String: Service]>([:])
    /// Requests being served, waiting ones (ExecuteJob, long polls) included.
    private let inFlight = Atomic<Int>(0)
    /// Past this many requests in flight, new ones are turned away with `503 OVERLOADED` rather
    /// than queued without bound.
    let maxInFlight: Int

    public init(engine: JobEngine, keys: KeyAuthority, maxInFlight: Int = 4096) {
        self.engine = engine
        self.keys = keys
        self.maxInFlight = maxInFlight
        registerJobServices()
        registerProviderServices()
        registerModelServices()
        registerKeyServices()
        registerAgentServices()
    }

    func register(
        _ resource: String, _ name: String, _ access: Access, _ parameters: [String],
        _ run: @escaping @Sendable (ServiceParameters, CallContext) async throws -> Reply
    ) {
        services.withLock { $0[resource + "/" + name] = Service(access: access, parameters: parameters, run: run) }
    }

    public func handle(_ request: HTTPRequest, responder: HTTPResponder) {
        if request.path == "/healthz" {
            Task { responder.respond(await health()) }
            return
        }
        if inFlight.add(1, ordering: .relaxed).newValue > maxInFlight {
            inFlight.subtract(1, ordering: .relaxed)
            responder.respond(
                APIServer.errorResponse(
                    .overloaded("The server is serving \(maxInFlight) requests already; try again shortly.")))
            return
        }
        Task {
            defer { inFlight.subtract(1, ordering: .relaxed) }
            let response: HTTPResponse
            do {
                response = try await route(request)
            } catch let error as AssayError {
                response = APIServer.errorResponse(error)
            } catch {
                response = APIServer.errorResponse(.internalError("Unexpected error: \(error)"))
            }
            responder.respond(response)
        }
    }

    /// `GET /healthz`, without a key: 200 with whether this server holds its cluster's maintenance
    /// role while the store can serve, else `503 STORE_UNAVAILABLE`. Load balancers poll it, so it
    /// reads only the store's availability and the engine's last view of the role.
    func health() async -> HTTPResponse {
        guard await engine.store.isAvailable() else {
            return APIServer.errorResponse(
                .storeUnavailable("The server cannot reach its store, so it cannot serve; retry shortly."))
        }
        let body: JSONValue = ["status": "ok", "maintenance": .bool(engine.holdsMaintenanceRole)]
        return .json(200, JSON.serialize(body))
    }

    public static func errorResponse(_ error: AssayError) -> HTTPResponse {
        var response = HTTPResponse.json(error.status, JSON.serialize(error.json))
        if let retryAfter = error.retryAfter {
            response.headers.append((name: "Retry-After", value: String(retryAfter)))
        }
        return response
    }

    static let servicePrefix = "/Thingworx/Resources/"
    static let modelRepository = "/Thingworx/FileRepositories/TW.AnalysisServices.ModelRepository/"
    static let resultRepository = "/Thingworx/FileRepositories/TW.AnalysisServices.JobResultRepository/"

    private func route(_ request: HTTPRequest) async throws -> HTTPResponse {
        let path = request.path
        if path.hasPrefix(APIServer.servicePrefix) {
            return try await callService(request)
        }
        if path.hasPrefix(APIServer.resultRepository) {
            return try await resultFile(request)
        }
        if path.hasPrefix(APIServer.modelRepository) {
            return try await modelFile(request)
        }
        throw AssayError.notFound("No resource at '\(path)'. Services are under \(APIServer.servicePrefix).")
    }

    func authenticate(_ request: HTTPRequest) async throws -> KeyRecord {
        try await keys.authenticate(request.header("appKey") ?? request.query["appKey"])
    }

    private func callService(_ request: HTTPRequest) async throws -> HTTPResponse {
        let parts = request.path.dropFirst(APIServer.servicePrefix.count).split(
            separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1] == "Services" else {
            throw AssayError.notFound(
                "'\(request.path)' is not a service path; use /Thingworx/Resources/<Resource>/Services/<Service>.")
        }
        let resource = String(parts[0])
        let name = String(parts[2])
        guard let service = services.withLock({ $0[resource + "/" + name] }) else {
            throw AssayError.notFound("There is no service '\(name)' on resource '\(resource)'.")
        }
        guard request.method == "POST" else {
            throw AssayError(
                status: 405, code: "METHOD_NOT_ALLOWED",
                message: "Services are called with POST, not \(request.method).")
        }
        let key = try await authenticate(request)
        let body = try APIServer.jsonBody(request)
        let parameters = try ServiceParameters(service: name, body: body, accepted: service.parameters)
        try APIServer.authorize(key, service.access, provider: try? parameters.string("providerName"))
        let context = CallContext(request: request, key: key)
        let reply = try await service.run(parameters, context)
        var response: HTTPResponse
        switch reply {
        case .json(let value): response = .json(200, JSON.serialize(value))
        case .bytes(let bytes): response = .json(200, bytes)
        case .raw(let contentType, let bytes):
            response = HTTPResponse(status: 200, headers: [(name: "Content-Type", value: contentType)], body: bytes)
        }
        if let cookie = context.setCookie {
            response.headers.append((name: "Set-Cookie", value: "JSESSIONID=\(cookie); Path=/; HttpOnly"))
        }
        return response
    }

    static func authorize(_ key: KeyRecord, _ access: Access, provider: String?) throws {
        switch (key.role, access) {
        case (.admin, _), (.user, .user):
            return
        case (.agent, .agent):
            guard let provider, key.providers.contains(provider) else {
                throw AssayError.forbidden(
                    "Agent key '\(key.name)' may not serve provider '\(provider ?? "")'; it serves: "
                        + key.providers.joined(separator: ", ") + ".")
            }
        default:
            throw AssayError.forbidden("A key of role '\(key.role.rawValue)' may not call this service.")
        }
    }

    /// The request body as JSON: `Content-Type` must be JSON; an empty body means no parameters.
    static func jsonBody(_ request: HTTPRequest) throws -> JSONValue {
        if let contentType = request.header("Content-Type") {
            let media = contentType.split(separator: ";").first.map { $0.filter { $0 != " " } }?.lowercased() ?? ""
            guard media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json")) else {
                throw AssayError.unsupportedMediaType(contentType)
            }
        } else if !request.body.isEmpty {
            throw AssayError.unsupportedMediaType("(none)")
        }
        if request.body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            return .object(JSONObject())
        }
        do {
            return try JSON.parse(request.body)
        } catch {
            throw AssayError.badRequest("The request body is not valid JSON: \(error)")
        }
    }
}

/// The job engine's timing. Defaults follow the contract: heartbeats every 5 s, leases of 15 s, so a
/// lost agent's jobs are back in the queue within about 16 s.
public struct EngineConfiguration: Sendable {
    public var leaseSeconds: Double = 15
    public var heartbeatSeconds: Double = 5
    /// How often the maintenance loop rescues expired leases and lost agents.
    public var maintenanceIntervalSeconds: Double = 1
    /// How often finished jobs past their provider's retention are purged.
    public var purgeIntervalSeconds: Double = 60
    public var executeDefaultWaitSeconds: Double = 60
    public var executeMaxWaitSeconds: Double = 600
    public var claimMaxWaitSeconds: Double = 30
    /// Waiting callers look at the store again at least this often, for changes no event announced
    /// (a delayed retry coming due).
    public var recheckSeconds: Double = 1
    /// In-server workers scoring SubmitJob jobs of `pmml` providers.
    public var inServerWorkers: Int = 2
    /// How long provider and model settings are cached; other servers' changes show after this.
    public var catalogCacheSeconds: Double = 2

    public init() {}
}

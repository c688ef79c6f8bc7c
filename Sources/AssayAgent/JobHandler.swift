/// What an agent runs for each claimed attempt. `run` is called on one of the runner's worker threads
/// and may block for as long as the job takes; it should return soon after `cancellation` is set,
/// since the attempt no longer holds the job (or the agent is stopping) and its outcome is dropped.
public protocol JobHandler: Sendable {
    func run(_ job: AgentJob, cancellation: CancellationFlag) -> JobOutcome
}

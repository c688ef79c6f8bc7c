// Model kinds not compiled yet: refused at load with the element's name, never scored wrongly.

final class ScorecardNode: ModelNode {
    static func compile(_ context: ModelContext) throws(PMMLError) -> ModelNode { throw .unsupported(context.element.name) }
}

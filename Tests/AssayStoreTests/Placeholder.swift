import Testing
@testable import AssayStore


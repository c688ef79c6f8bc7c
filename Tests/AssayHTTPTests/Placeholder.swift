import Testing
@testable import AssayHTTP


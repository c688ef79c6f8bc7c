import Testing
@testable import AssayPMML


import Testing
@testable import AssayInfotable


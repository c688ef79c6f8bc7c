/// Helpers shared by the infotable tests: JSON literals from text, and running a throwing call to get
/// its AssayError for assertions on code, row, field and message.
@testable import AssayInfotable

func json(_ text: String) -> JSONValue {
    do {
        return try JSON.parse(text)
    } catch {
        fatalError("test JSON does not parse: \(error) in \(text)")
    }
}

func assayError(_ body: () throws(AssayError) -> Void) -> AssayError? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}

func table(_ text: String) throws(AssayError) -> Infotable {
    try Infotable(json: json(text))
}

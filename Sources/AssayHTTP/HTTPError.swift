// The one error type of the HTTP layer: a sentence a person can act on ("cannot listen on 127.0.0.1:8080: address
// in use"). It carries no code because callers only report it; the API layer maps its own errors itself.

public struct HTTPError: Error, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// A small command-line argument reader: positional words and `--name value` / `--flag` options.
/// Unknown options are refused so that a typo is an error, not a silent default.
struct Arguments {
    private(set) var positional: [String] = []
    private var options: [String: [String]] = [:]
    private var flags: Set<String> = []

    /// - Parameters:
    ///   - valued: options that take a value (`--port 8080` or `--port=8080`).
    ///   - flags: options that take none (`--json`).
    init(_ words: [String], valued: Set<String>, flags allowedFlags: Set<String>) throws {
        var i = 0
        while i < words.count {
            let word = words[i]
            i += 1
            guard word.hasPrefix("--"), word.count > 2 else {
                positional.append(word)
                continue
            }
            var name = String(word.dropFirst(2))
            var inlineValue: String?
            if let eq = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            if valued.contains(name) {
                if let inlineValue {
                    options[name, default: []].append(inlineValue)
                } else {
                    guard i < words.count else { throw CLIError("option --\(name) needs a value") }
                    options[name, default: []].append(words[i])
                    i += 1
                }
            } else if allowedFlags.contains(name), inlineValue == nil {
                flags.insert(name)
            } else {
                let known = (valued.map { "--\($0) VALUE" } + allowedFlags.map { "--\($0)" }).sorted()
                throw CLIError(
                    "unknown option --\(name)" + (known.isEmpty ? "" : "; accepted: " + known.joined(separator: ", ")))
            }
        }
    }

    func value(_ name: String) -> String? { options[name]?.last }
    func values(_ name: String) -> [String] { options[name] ?? [] }
    func flag(_ name: String) -> Bool { flags.contains(name) }

    func int(_ name: String) throws -> Int? {
        guard let text = value(name) else { return nil }
        guard let v = Int(text) else { throw CLIError("--\(name) must be an integer, got '\(text)'") }
        return v
    }

    func double(_ name: String) throws -> Double? {
        guard let text = value(name) else { return nil }
        guard let v = Double(text) else { throw CLIError("--\(name) must be a number, got '\(text)'") }
        return v
    }

    func positional(_ index: Int, _ what: String) throws -> String {
        guard index < positional.count else { throw CLIError("missing \(what)") }
        return positional[index]
    }
}

/// An error the command line reports as one line on standard error, with a non-zero exit.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    let exitCode: Int32

    init(_ message: String, exitCode: Int32 = 2) {
        self.description = message
        self.exitCode = exitCode
    }
}

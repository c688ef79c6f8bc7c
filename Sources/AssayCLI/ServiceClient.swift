import AssayHTTP
import AssayInfotable

#if canImport(Glibc)
    import Glibc
#endif

/// The command line's connection to a server: calls services and turns error bodies into one-line
/// errors. The server comes from `--url` or `ASSAY_URL`, the key from `--key`, `ASSAY_KEY`, or
/// `./assay-data/admin.key` when that file exists (the key a fresh local server writes).
final class ServiceClient {
    let client: HTTPClient
    let key: String?
    var cookie: String?

    init(url: String?, key: String?) throws {
        let env = { (name: String) -> String? in getenv(name).map { String(cString: $0) } }
        let address = url ?? env("ASSAY_URL") ?? "http://127.0.0.1:8080"
        do {
            client = try HTTPClient(url: address)
        } catch {
            throw CLIError("cannot use server URL '\(address)': \(error)")
        }
        self.key = key ?? env("ASSAY_KEY") ?? ServiceClient.readKeyFile("./assay-data/admin.key")
        cookie = env("ASSAY_SESSION").map { "JSESSIONID=" + $0 }
    }

    static func readKeyFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 512)
        guard fgets(&buffer, 512, file) != nil else { return nil }
        let key = String(cString: buffer).trimmingCharacters(in: " \n\r\t")
        return key.isEmpty ? nil : key
    }

    var headers: [(name: String, value: String)] {
        var h: [(name: String, value: String)] = [(name: "Content-Type", value: "application/json")]
        if let key { h.append((name: "appKey", value: key)) }
        if let cookie { h.append((name: "Cookie", value: cookie)) }
        return h
    }

    func call(_ resource: String, _ service: String, _ parameters: JSONObject = JSONObject()) throws -> JSONValue {
        let body = JSON.serialize(.object(parameters))
        let response = try send("POST", "/Thingworx/Resources/\(resource)/Services/\(service)", body: body)
        return try ServiceClient.parse(response.body)
    }

    func send(_ method: String, _ path: String, body: [UInt8] = [], extraHeaders: [(name: String, value: String)] = [])
        throws -> HTTPClientResponse
    {
        let response: HTTPClientResponse
        do {
            var h = headers
            if !extraHeaders.isEmpty {
                h.removeAll { header in extraHeaders.contains { $0.name.lowercased() == header.name.lowercased() } }
                h += extraHeaders
            }
            response = try client.send(method: method, path: path, headers: h, body: body)
        } catch {
            throw CLIError("cannot reach the server at \(client.host):\(client.port): \(error)", exitCode: 1)
        }
        if let setCookie = response.header("Set-Cookie"), let first = setCookie.split(separator: ";").first {
            cookie = String(first)
        }
        guard response.status < 400 else {
            let error = (try? JSON.parse(response.body))?["error"]
            let code = error?["code"]?.stringValue ?? "HTTP_\(response.status)"
            var message = error?["message"]?.stringValue ?? String(decoding: response.body.prefix(300), as: UTF8.self)
            if response.status == 401 && key == nil {
                message += " No key was found: pass --key, set ASSAY_KEY, or run where ./assay-data/admin.key is."
            }
            throw CLIError("\(code): \(message)", exitCode: 1)
        }
        return response
    }

    static func parse(_ body: [UInt8]) throws -> JSONValue {
        do {
            return try JSON.parse(body)
        } catch {
            throw CLIError("the server answered with malformed JSON: \(error)", exitCode: 1)
        }
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s = s.dropFirst() }
        while let l = s.last, chars.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

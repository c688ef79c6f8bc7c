import AssayInfotable

/// Prints infotables as aligned text tables: columns in the data shape's order, DATETIME values as
/// ISO 8601, long cells cut to keep rows on one line.
enum TablePrinter {
    static let maxCell = 60

    static func render(_ value: JSONValue) -> String {
        guard let table = try? Infotable(json: value) else { return JSON.string(value) }
        let fields = table.dataShape.fields.sorted { $0.ordinal < $1.ordinal }
        if fields.count == 1 && table.rows.count == 1, fields[0].name == "result" {
            return cell(table.rows[0][fields[0].name] ?? .null, fields[0].baseType, cut: false)
        }
        if fields.isEmpty { return "(no rows)" }
        var columns = fields.map { [$0.name] }
        for row in table.rows {
            for (i, field) in fields.enumerated() {
                columns[i].append(cell(row[field.name] ?? .null, field.baseType, cut: true))
            }
        }
        let widths = columns.map { $0.map(\.count).max() ?? 0 }
        var lines: [String] = []
        for r in 0..<(table.rows.count + 1) {
            let parts = columns.enumerated().map { i, column in
                column[r] + String(repeating: " ", count: widths[i] - column[r].count)
            }
            lines.append(parts.joined(separator: "  ").trimmingCharacters(in: " "))
            if r == 0 {
                lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
            }
        }
        if table.rows.isEmpty { lines.append("(no rows)") }
        return lines.joined(separator: "\n")
    }

    static func cell(_ value: JSONValue, _ type: BaseType, cut: Bool) -> String {
        var text: String
        switch value {
        case .null: text = ""
        case .string(let s): text = s
        case .int(let i) where type == .datetime: text = ISO8601.format(millis: i)
        case .double(let d) where type == .datetime: text = ISO8601.format(millis: Int64(d))
        default: text = JSON.string(value)
        }
        text = String(text.map { $0 == "\n" || $0 == "\t" ? " " : $0 })
        if cut && text.count > maxCell { text = String(text.prefix(maxCell - 1)) + "…" }
        return text
    }
}

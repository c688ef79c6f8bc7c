import AssayInfotable

/// The data shapes of the infotables the services return, named as in ThingWorx where they exist.
enum Shapes {
    static func shape(_ fields: [(String, BaseType)]) -> DataShape {
        DataShape(fields.enumerated().map { FieldDefinition(name: $1.0, baseType: $1.1, ordinal: $0 + 1) })
    }

    /// `TW.AnalysisServices.JobFilesDatashape`.
    static let jobFiles = shape([("name", .string), ("link", .hyperlink), ("size", .long), ("contentType", .string)])

    /// `TW.AnalysisServices.JobErrorDataShape`.
    static let jobErrors = shape([
        ("jobId", .string), ("attempt", .integer), ("errorCode", .string), ("errorMessage", .string),
        ("details", .text), ("timestamp", .datetime),
    ])

    /// `PTC.Capability.Analysis.SolvableDataShape`.
    static let solvable = shape([
        ("jobId", .string), ("providerName", .string), ("modelName", .string), ("status", .string),
        ("priority", .integer), ("attempt", .integer), ("maxAttempts", .integer), ("clientId", .string),
        ("sessionId", .string), ("createdTime", .datetime), ("startTime", .datetime), ("endTime", .datetime),
        ("lastUpdated", .datetime), ("errorCode", .string), ("errorMessage", .string), ("extraParams", .json),
        ("customData", .infotable),
    ])

    static let providers = shape([
        ("providerName", .string), ("description", .string), ("connectorName", .string), ("purgeJobsAge", .number),
        ("maxAttempts", .integer), ("maxConcurrentJobs", .integer), ("jobTimeoutSeconds", .number),
        ("createdTime", .datetime),
    ])

    static let clients = shape([
        ("clientId", .string), ("hostName", .string), ("models", .json), ("capacity", .integer),
        ("runningJobs", .integer), ("lastHeartbeat", .datetime), ("health", .json),
    ])

    static let models = shape([
        ("modelName", .string), ("providerName", .string), ("description", .string), ("state", .string),
        ("inputsToResultsCardinality", .string), ("fileName", .string), ("createdTime", .datetime),
    ])

    static let modelDatashapes = DataShape([
        FieldDefinition(name: "input", baseType: .infotable, ordinal: 1, dataShape: DataShape.fieldsShape),
        FieldDefinition(name: "result", baseType: .infotable, ordinal: 2, dataShape: DataShape.fieldsShape),
    ])

    static let keys = shape([("name", .string), ("role", .string), ("providers", .json), ("createdTime", .datetime)])
}

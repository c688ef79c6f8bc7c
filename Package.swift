// swift-tools-version:6.0
import PackageDescription

// Assay's layers, bottom to top: infotables (JSON and data shapes), the store (SQLite and PostgreSQL),
// the job engine, the providers (PMML runtime, command agent), HTTP primitives, the ThingWorx-compatible
// API, the agent library and the command line. `assay` only dispatches to `AssayCLI`.
let package = Package(
    name: "Assay",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "assay", targets: ["assay"])
    ],
    targets: [
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),

        .target(name: "AssayInfotable", linkerSettings: [.linkedLibrary("m")]),
        .target(name: "AssayStore", dependencies: ["AssayInfotable", "CSQLite", "CLibPQ"]),
        .target(name: "AssayEngine", dependencies: ["AssayInfotable", "AssayStore"]),
        .target(name: "AssayPMML", linkerSettings: [.linkedLibrary("m")]),
        .target(name: "AssayProviders", dependencies: ["AssayInfotable", "AssayEngine", "AssayPMML"]),
        .target(name: "AssayHTTP", dependencies: ["CMicroHTTPD"]),
        .target(
            name: "AssayAPI",
            dependencies: ["AssayInfotable", "AssayStore", "AssayEngine", "AssayProviders", "AssayHTTP"]
        ),
        .target(name: "AssayAgent", dependencies: ["AssayInfotable", "AssayHTTP"]),
        .target(
            name: "AssayCLI",
            dependencies: ["AssayInfotable", "AssayStore", "AssayEngine", "AssayAPI", "AssayHTTP", "AssayAgent"]
        ),
        .executableTarget(name: "assay", dependencies: ["AssayCLI"]),

        .testTarget(name: "AssayInfotableTests", dependencies: ["AssayInfotable"]),
        .testTarget(name: "AssayStoreTests", dependencies: ["AssayStore", "AssayInfotable"]),
        .testTarget(name: "AssayPMMLTests", dependencies: ["AssayPMML"], exclude: ["Fixtures"]),
        .testTarget(name: "AssayHTTPTests", dependencies: ["AssayHTTP"]),
        .testTarget(name: "AssayAgentTests", dependencies: ["AssayAgent", "AssayInfotable"]),
        .testTarget(
            name: "AssayIntegrationTests",
            dependencies: ["AssayInfotable", "AssayHTTP", "AssayAgent"]
        ),
    ]
)

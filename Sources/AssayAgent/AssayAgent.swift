// The AssayAgent layer; see Package.swift for how the layers fit together.

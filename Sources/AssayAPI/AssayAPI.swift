// The AssayAPI layer; see Package.swift for how the layers fit together.

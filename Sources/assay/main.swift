import AssayCLI

AssayCommandLine.main()

/// Entry point of the `assay` command: parses the subcommand and runs it.
public enum AssayCommandLine {
    public static func main() {
        print("assay: no commands yet")
    }
}

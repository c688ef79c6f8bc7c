import Testing

@testable import AssayAgent

#if canImport(Glibc)
    import Glibc
#endif

/// What a model process inherits from the agent that starts it.
@Suite struct ChildProcessTests {
    /// The descriptors among `candidates` that a command's shell has open, as it reports them.
    func openInChild(_ candidates: [Int32]) throws -> [Int32] {
        let list = candidates.map(String.init).joined(separator: " ")
        // `[ -e ]` only stats the entry, so the check itself opens nothing.
        let command = "for fd in \(list); do if [ -e /proc/$$/fd/$fd ]; then printf '%s ' $fd; fi; done"
        let child = ChildProcess(
            arguments: ["/bin/sh", "-c", command], environment: ["PATH=/usr/bin:/bin"], directory: "/", stdin: [])
        let result = try child.run(cancellation: CancellationFlag())
        #expect(result.termination == .exited(0))
        return String(decoding: result.stdout, as: UTF8.self).split(separator: " ").compactMap { Int32($0) }
    }

    @Test func modelProcessInheritsOnlyStandardInputOutputAndError() throws {
        // Descriptors the agent holds without close-on-exec, like the one its own parent may watch to
        // notice that the agent exited: a model process that outlives the agent must not keep them open.
        let inherited = (0..<3).map { _ in open("/dev/null", O_RDONLY) }
        defer { for fd in inherited { close(fd) } }
        #expect(inherited.allSatisfy { $0 > 2 && fcntl($0, F_GETFD) & FD_CLOEXEC == 0 })

        #expect(try openInChild([0, 1, 2] + inherited) == [0, 1, 2])
    }

    @Test func openDescriptorsListsThisProcesssDescriptors() {
        // What the spawn closes one by one where the C library cannot close a whole range.
        let fd = open("/dev/null", O_RDONLY)
        defer { close(fd) }
        let listed = ChildProcess.openDescriptors()
        #expect(listed.contains(fd))
        #expect([0, 1, 2].allSatisfy(listed.contains))
    }
}

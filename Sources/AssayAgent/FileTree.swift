#if canImport(Glibc)
    import Glibc
#endif

/// The few file operations the command handler needs, on POSIX calls: working folders are made and
/// removed for every job, which is no place for Foundation.
enum FileTree {
    struct Entry {
        var name: String
        var isRegularFile: Bool
    }

    /// Creates `path` (and missing parents); answers what went wrong, or nil.
    static func makeDirectory(_ path: String) -> String? {
        if mkdir(path, 0o700) == 0 { return nil }
        let error = errno
        var info = stat()
        if error == EEXIST, stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { return nil }
        if error == ENOENT, let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            if let problem = makeDirectory(String(path[..<slash])) { return problem }
            if mkdir(path, 0o700) == 0 { return nil }
        }
        return "\(path): \(String(cString: strerror(errno == 0 ? error : errno)))"
    }

    /// Removes `path` and everything below it, without following symbolic links.
    static func remove(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            // A command may leave folders it made read-only.
            chmod(path, 0o700)
            for entry in entries(path) { remove(path + "/" + entry.name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    static func entries(_ path: String) -> [Entry] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var result: [Entry] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name == "." || name == ".." { continue }
            var info = stat()
            let regular = lstat(path + "/" + name, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
            result.append(Entry(name: name, isRegularFile: regular))
        }
        return result
    }

    static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                bytes.append(contentsOf: chunk[0..<n])
            } else if n == 0 {
                return bytes
            } else if errno != EINTR {
                return nil
            }
        }
    }

    /// A folder name for an opaque id: safe characters kept, and a hash of the id added whenever
    /// something had to change, so that distinct ids never share a folder.
    static func safeName(_ id: String) -> String {
        var out = ""
        var changed = false
        for scalar in id.unicodeScalars.prefix(80) {
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "-", "_", ".": out.unicodeScalars.append(scalar)
            default:
                out += "_"
                changed = true
            }
        }
        if id.unicodeScalars.count > 80 || out.isEmpty || out.allSatisfy({ $0 == "." }) { changed = true }
        guard changed else { return out }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in id.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return out + "-" + String(hash, radix: 16)
    }
}

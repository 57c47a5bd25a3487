import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Durable, atomic replacement of a file: a temporary file in the same directory is written and
/// fsynced, renamed over the target, and the directory is fsynced, so a crash leaves either the
/// old file or the new one, never a torn mixture.
enum AtomicFile {
    static func write(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
        func failure(_ what: String, _ path: String) -> AdaptationError {
            .io("\(what) \(path): \(String(cString: strerror(errno)))")
        }
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw failure("cannot create", temporary.path) }
        var closed = false
        defer {
            if !closed { close(fd) }
        }
        do {
            try data.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let written = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        throw failure("cannot write", temporary.path)
                    }
                    offset += written
                }
            }
            guard fsync(fd) == 0 else { throw failure("cannot fsync", temporary.path) }
            closed = true
            guard close(fd) == 0 else { throw failure("cannot close", temporary.path) }
            guard rename(temporary.path, url.path) == 0 else { throw failure("cannot rename onto", url.path) }
        } catch {
            unlink(temporary.path)
            throw error
        }
        let directoryFD = open(directory.path, O_RDONLY | O_DIRECTORY)
        guard directoryFD >= 0 else { throw failure("cannot open directory", directory.path) }
        defer { close(directoryFD) }
        guard fsync(directoryFD) == 0 else { throw failure("cannot fsync directory", directory.path) }
    }
}

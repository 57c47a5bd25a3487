import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// File operations with the fsyncs that make them survive a crash: the one durable write of the
/// project (stream snapshots, checkpoints, journals, model files written by tools and tests).
public enum DurableFile {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
        /// The system's reason (`errno` when the call failed).
        public let code: Int32

        /// The file system has no room (or the user's quota is spent): freeing space, not
        /// retrying at once, is what helps.
        public var isOutOfSpace: Bool { code == ENOSPC || code == EDQUOT }
    }

    /// A failure naming the operation, the path and the system's reason (`errno`).
    public static func failure(_ what: String, _ path: String) -> Failure {
        let code = errno
        return Failure(description: "\(what) \(path): \(String(cString: strerror(code)))", code: code)
    }

    /// Writes all of `bytes` to `fd`, retrying short writes.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("cannot write", path)
            }
            offset += n
        }
    }

    /// Replaces `url` atomically: temporary file, fsync, rename, fsync of the directory.
    public static func replace(_ url: URL, with data: Data) throws {
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UInt32.random(in: 0...UInt32.max)).tmp")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("cannot create", temporary.path) }
        do {
            defer { close(fd) }  // once: a second close could close a descriptor another thread just opened
            try data.withUnsafeBytes { try writeAll(fd, $0, path: temporary.path) }
            guard fsync(fd) == 0 else { throw failure("cannot fsync", temporary.path) }
        } catch {
            unlink(temporary.path)
            throw error
        }
        guard rename(temporary.path, url.path) == 0 else {
            let error = failure("cannot rename onto", url.path)
            unlink(temporary.path)
            throw error
        }
        try syncDirectory(url.deletingLastPathComponent())
    }

    /// fsyncs a directory, making a rename or unlink in it durable.
    public static func syncDirectory(_ directory: URL) throws {
        let fd = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("cannot open directory", directory.path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw failure("cannot fsync directory", directory.path) }
    }
}

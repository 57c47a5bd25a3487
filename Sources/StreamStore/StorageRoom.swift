import Foundation
import SafeTensors
#if canImport(Glibc)
import Glibc
#endif

/// Room on the local store's file system: what a full disk is called (`StreamStoreError.storageFull`)
/// and the free space kept for the writes that acknowledge steps.
///
/// A journal record must be written for a step to be answered, and a snapshot keeps a stream's
/// journal short; a checkpoint or a new stream can wait. So new streams and checkpoints may not
/// take the last `reserve` bytes: a client saving checkpoints until the disk is full stops there,
/// and every stream's steps and snapshots still have the reserve.
public enum StorageRoom {
    /// Refuses a write of `bytes` that would leave less than `reserve` bytes free on the file
    /// system holding `url` (or its nearest existing ancestor). The check and the write are not
    /// one step; the reserve is the margin for writes that race it.
    /// With no reserve it still refuses a write that cannot fit: a snapshot that would fail
    /// anyway must not first take the last free bytes from other streams' journal appends.
    static func ensure(at url: URL, for bytes: Int, keeping reserve: Int) throws {
        guard let free = freeBytes(at: url) else { return }
        let (needed, overflow) = bytes.addingReportingOverflow(reserve)
        guard overflow || free < needed else { return }
        throw StreamStoreError.storageFull(reserve == 0
            ? "writing \(bytes) bytes with \(free) bytes free"
            : "writing \(bytes) bytes would leave less than the \(reserve >> 20) MiB kept free for journals and snapshots (\(free >> 20) MiB free)")
    }

    /// Bytes an unprivileged writer may still use on the file system holding `url`; nil when it
    /// cannot be asked.
    public static func freeBytes(at url: URL) -> Int? {
        var path = url.path
        var status = statvfs()
        while statvfs(path, &status) != 0 {
            guard errno == ENOENT, path != "/", !path.isEmpty else { return nil }
            path = (path as NSString).deletingLastPathComponent
        }
        let (bytes, overflow) = Int(clamping: status.f_bavail).multipliedReportingOverflow(by: Int(clamping: status.f_frsize))
        return overflow ? .max : bytes
    }

    /// Runs a write, reporting a full file system (or a spent disk quota) as
    /// `StreamStoreError.storageFull`; every other error passes through.
    static func writing<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as DurableFile.Failure where error.isOutOfSpace {
            throw StreamStoreError.storageFull(error.description)
        } catch let error as StreamStoreError {
            throw error
        } catch where isOutOfSpace(error) {
            throw StreamStoreError.storageFull("\(error)")
        }
    }

    /// Foundation's file errors for ENOSPC and EDQUOT (`FileManager` reports them as
    /// `CocoaError.fileWriteOutOfSpace`, or as the POSIX error itself).
    static func isOutOfSpace(_ error: any Error) -> Bool {
        let error = error as NSError
        if error.domain == NSCocoaErrorDomain, error.code == CocoaError.fileWriteOutOfSpace.rawValue { return true }
        if error.domain == NSPOSIXErrorDomain, error.code == Int(ENOSPC) || error.code == Int(EDQUOT) { return true }
        if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError { return isOutOfSpace(underlying) }
        return false
    }
}

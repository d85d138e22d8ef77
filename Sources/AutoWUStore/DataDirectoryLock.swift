import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a data directory, so that two daemons never serve one store: `flock` on
/// `<directory>/autowu.lock`, which names the holder's pid. The kernel releases it when the holder exits,
/// however it exits (kill -9 included), so a stale lock file never keeps a new daemon out.
///
/// Held from `init` until the value is gone; the descriptor is close-on-exec, so child processes do not
/// inherit it.
public final class DataDirectoryLock: Sendable {
    public let directory: String
    public let path: String
    private let descriptor: Int32

    /// Takes the lock or throws `StoreError.locked` naming the holder's pid, or `StoreError.notWritable` when
    /// the directory cannot hold the lock file (a read-only file system, permissions). Creates the directory
    /// and its parents if needed.
    public init(directory: String) throws {
        try JobStore.createDirectory(directory)
        self.directory = directory
        path = URL(fileURLWithPath: directory, isDirectory: true).appendingPathComponent("autowu.lock").path
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw StoreError.notWritable(path: directory, reason: "cannot open its lock file \(path): \(Self.errnoText())")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            let holder = Self.readPID(descriptor)
            close(descriptor)
            if failure == EWOULDBLOCK {
                throw StoreError.locked(directory: directory, holderPID: holder)
            }
            throw StoreError.notWritable(path: directory, reason: "cannot lock \(path): \(String(cString: strerror(failure)))")
        }
        // Written over the old pid, then cut to length: the page the file already has is reused, so a full
        // disk does not stop a daemon from taking its lock (the store's own write check decides that).
        let line = Array("\(getpid())\n".utf8)
        let written = line.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        if written == line.count { _ = ftruncate(descriptor, off_t(line.count)) }
        self.descriptor = descriptor
    }

    deinit {
        // Closing the last descriptor releases the flock.
        close(descriptor)
    }

    /// The pid a lock file names, if it names one.
    public static func holder(ofDirectory directory: String) -> Int32? {
        let path = URL(fileURLWithPath: directory, isDirectory: true).appendingPathComponent("autowu.lock").path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        return readPID(descriptor)
    }

    private static func readPID(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Int32(text).flatMap { $0 > 0 ? $0 : nil }
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}

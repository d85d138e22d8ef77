import Foundation

/// A real tmpfs of a few MB, mounted by the test (root, or CAP_SYS_ADMIN) for store faults on a real file
/// system: a full disk, a remount read-only. Unmounted when the value goes away.
public final class TmpfsMount: @unchecked Sendable {
    // Set in init; `remount` is called by the one test that owns the mount.
    public let path: String

    /// Whether this process may mount a tmpfs here: tried once, on a probe mount.
    public static let isPermitted: Bool = {
        guard let probe = try? TmpfsMount(megabytes: 1) else { return false }
        _ = probe
        return true
    }()

    public static let notPermittedReason = "mounting a tmpfs is not permitted here (needs root or CAP_SYS_ADMIN; "
        + "`mount -t tmpfs` failed), so the store's behaviour on a full or read-only file system is not tested"

    public init(megabytes: Int) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("autowu-tmpfs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let result = try runProcess(URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=\(megabytes)m,mode=0755", "tmpfs", path])
        guard result.status == 0 else {
            try? FileManager.default.removeItem(atPath: path)
            throw TmpfsMountError.failed("mount -t tmpfs \(path): \(result.stderr)")
        }
    }

    deinit {
        _ = try? runProcess(URL(fileURLWithPath: "/bin/umount"), ["-l", path])
        try? FileManager.default.removeItem(atPath: path)
    }

    /// `mount -o remount,ro` (or rw): the file system changes under whoever has files open on it.
    public func remount(readOnly: Bool) throws {
        let result = try runProcess(URL(fileURLWithPath: "/bin/mount"), ["-o", "remount,\(readOnly ? "ro" : "rw")", path])
        guard result.status == 0 else { throw TmpfsMountError.failed("remount \(path): \(result.stderr)") }
    }

    /// Fills the file system to the last byte with `name`; returns the bytes written.
    @discardableResult
    public func fill(_ name: String = "filler") throws -> Int {
        let file = path + "/" + name
        let descriptor = open(file, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard descriptor >= 0 else { throw TmpfsMountError.failed("open \(file): errno \(errno)") }
        defer { close(descriptor) }
        var written = 0
        for chunk in [65_536, 4_096, 512, 1] {
            let bytes = [UInt8](repeating: 0xA5, count: chunk)
            while true {
                let count = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, chunk) }
                guard count > 0 else { break }
                written += count
            }
        }
        return written
    }

    /// Frees what `fill` took.
    public func free(_ name: String = "filler") throws {
        try FileManager.default.removeItem(atPath: path + "/" + name)
    }
}

public enum TmpfsMountError: Error, CustomStringConvertible {
    case failed(String)
    public var description: String {
        switch self {
        case .failed(let message): return message
        }
    }
}

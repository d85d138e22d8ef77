import Foundation

/// A private munged for tests (as tests/slurm/lib/cluster.sh runs one): its own key and socket in a temporary
/// directory, so tests neither need nor touch the machine's MUNGE. Stopped, and its directory removed, when the
/// value is gone.
public final class MungeDaemon {
    public let directory: String
    public var socket: String { directory + "/munge.sock" }
    private var pid: pid_t = 0

    /// Why MUNGE tests cannot run here, or nil: munged and munge are needed, and root, to start munged as a
    /// daemon and to make another user's credential with runuser.
    public static var unavailableReason: String? {
        for tool in ["/usr/sbin/munged", "/usr/bin/munge", "/usr/sbin/runuser"] where !FileManager.default.isExecutableFile(atPath: tool) {
            return "\(tool) is missing (apt-get install munge)"
        }
        return geteuid() == 0 ? nil : "not root: munged and runuser need it"
    }

    public init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("munge-test-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // munged insists that every directory up to its socket be searchable by all, and the key private.
        chmod(directory, 0o755)
        var key = [UInt8](repeating: 0, count: 128)
        for index in key.indices { key[index] = UInt8.random(in: 0 ... 255) }
        let keyPath = directory + "/munge.key"
        guard FileManager.default.createFile(atPath: keyPath, contents: Data(key), attributes: [.posixPermissions: 0o400]) else {
            throw TestKitError("cannot write \(keyPath)")
        }
        // munged detaches itself, and its daemon keeps whatever descriptors it was given: Foundation's Process
        // learns of an exit when those close, so it would wait for the daemon's. posix_spawn and waitpid instead.
        let status = try Self.spawnAndWait("/usr/sbin/munged", [
            "--socket=\(socket)", "--key-file=\(keyPath)", "--log-file=\(directory)/munged.log",
            "--pid-file=\(directory)/munged.pid", "--seed-file=\(directory)/munged.seed", "--force"])
        guard status == 0 else {
            throw TestKitError("munged failed (status \(status)): \((try? String(contentsOfFile: directory + "/munged.log", encoding: .utf8)) ?? "")")
        }
        // It detaches itself; its pid file says it is up.
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: directory + "/munged.pid", encoding: .utf8),
               let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                self.pid = pid
                return
            }
            usleep(25_000)
        }
        throw TestKitError("munged wrote no pid file in 5 s")
    }

    /// Runs `path` with /dev/null as its standard streams and returns its wait status.
    private static func spawnAndWait(_ path: String, _ arguments: [String]) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard spawned == 0 else { throw TestKitError("cannot start \(path): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        return status
    }

    /// munged does not always act on SIGTERM promptly (one left running by every test run was found here), and
    /// it is not our child, so nobody else reaps it: SIGTERM, a second to go, then SIGKILL.
    deinit {
        if pid > 0 {
            kill(pid, SIGTERM)
            var waited = 0
            while kill(pid, 0) == 0, waited < 40 {
                usleep(25_000)
                waited += 1
            }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A credential for `payload` made by `user` (e.g. "nobody"), through runuser and the munge tool (whose
    /// `-s ""` would read the payload from stdin: an empty one is `-n`).
    public func credential(payload: String, asUser user: String) throws -> String {
        let output = try runProcess(URL(fileURLWithPath: "/usr/sbin/runuser"),
                                    ["-u", user, "--", "/usr/bin/munge", "-S", socket] + (payload.isEmpty ? ["-n"] : ["-s", payload]), timeoutSeconds: 20)
        guard output.status == 0 else { throw TestKitError("munge as \(user) failed: \(output.stderr)") }
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

public struct TestKitError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

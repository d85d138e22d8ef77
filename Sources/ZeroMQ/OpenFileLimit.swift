#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's limit on open file descriptors (`RLIMIT_NOFILE`). Every ZeroMQ socket takes one
/// descriptor (its mailbox) and every TCP connection another, so a process with many sockets or peers
/// (a daemon with thousands of ranks, `autowu simulate` playing hundreds of ranks) needs more than the
/// usual soft limit of 1024.
public enum OpenFileLimit {
    /// The soft (in force) and hard (the most an unprivileged process may raise it to) limits.
    public static var current: (soft: Int, hard: Int) {
        var limit = rlimit()
        guard getrlimit(Self.resource, &limit) == 0 else { return (1024, 1024) }
        return (clamp(limit.rlim_cur), clamp(limit.rlim_max))
    }

    /// Raises the soft limit to the hard one (no privilege needed); returns the soft limit now in force.
    @discardableResult
    public static func raiseToHardLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Self.resource, &limit) == 0 else { return current.soft }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Self.resource, &limit)
        }
        return current.soft
    }

    private static func clamp(_ value: rlim_t) -> Int {
        value >= rlim_t(Int.max) ? Int.max : Int(value)
    }

    #if canImport(Glibc)
    private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resource = RLIMIT_NOFILE
    #endif
}

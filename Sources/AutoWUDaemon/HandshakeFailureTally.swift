/// Decides which failed handshakes get a log line, so a hostile or misconfigured peer cannot flood the
/// log: at most one line per peer host per interval, and at most `linesPerInterval` lines in all; the
/// failures in between are counted and reported with the host's next line.
///
/// Keyed by host, not by address: every reconnect comes from a new port.
struct HandshakeFailureTally {
    var interval = 60.0
    var linesPerInterval = 60
    /// Hosts remembered at most; beyond, quiet hosts are forgotten (and may log again sooner).
    var maximumHosts = 10_000

    private var hosts: [String: (lastLine: Double, suppressed: Int)] = [:]
    private var windowStart = -Double.infinity
    private var linesInWindow = 0
    /// Every failure recorded, logged or not.
    private(set) var total = 0

    /// Records a failure from `host` at `now` (seconds): the number of its failures not logged since its
    /// last line when this one is to be logged, nil when it is to stay silent.
    mutating func record(host: String, at now: Double) -> Int? {
        total += 1
        if now - windowStart >= interval {
            windowStart = now
            linesInWindow = 0
        }
        let previous = hosts[host]
        if let previous, now - previous.lastLine < interval || linesInWindow >= linesPerInterval {
            hosts[host] = (previous.lastLine, previous.suppressed + 1)
            return nil
        }
        guard linesInWindow < linesPerInterval else {
            hosts[host] = (-Double.infinity, 1)
            return nil
        }
        if previous == nil, hosts.count >= maximumHosts {
            hosts = hosts.filter { now - $0.value.lastLine < interval }
        }
        linesInWindow += 1
        hosts[host] = (now, 0)
        return previous?.suppressed ?? 0
    }

    /// `tcp://10.0.0.5:41234` → `tcp://10.0.0.5` (`tcp://[::1]:41234` → `tcp://[::1]`).
    static func host(ofAddress address: String) -> String {
        guard let colon = address.lastIndex(of: ":"), !address[address.index(after: colon)...].isEmpty,
              address[address.index(after: colon)...].allSatisfy(\.isNumber) else {
            return address
        }
        return String(address[..<colon])
    }
}

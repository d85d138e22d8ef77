/// Whether a ZeroMQ endpoint can be reached from other hosts: what decides if tokens may travel in clear and
/// if anonymous jobs are allowed.
public enum EndpointReach {
    /// ipc://, inproc://, and tcp:// on a loopback address or the loopback interface.
    public static func isLocal(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return true }
        guard endpoint.hasPrefix("tcp://") else { return false }
        var host = String(endpoint.dropFirst("tcp://".count))
        // A source address (tcp://SRC;DST) only matters on connect; a bind's address is the host.
        if let semicolon = host.lastIndex(of: ";") { host = String(host[host.index(after: semicolon)...]) }
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            return host[host.index(after: host.startIndex) ..< close] == "::1"
        }
        if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        return host == "localhost" || host == "lo" || host.hasPrefix("127.")
    }

    /// The endpoints among `endpoints` that other hosts can reach.
    public static func exposed(_ endpoints: [String]) -> [String] {
        endpoints.filter { !isLocal($0) }
    }
}

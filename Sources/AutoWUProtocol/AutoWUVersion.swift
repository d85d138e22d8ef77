/// autowu's release version: the same string in `autowud --version`, `autowu --version`, the daemon's
/// `DaemonStatus.version` (Ping, JobList) and the Python package (`autowu.__version__`, the wheel).
///
/// The one source is the top-level `VERSION` file; this constant is checked against it by
/// `VersionTests` (Tests/AutoWUProtocolTests) and by scripts/build-wheel. Bump both together.
public enum AutoWUVersion {
    public static let string = "0.1.0"
}

/// A parameter that autowu cannot work with, with a message saying which one and why.
public enum ConfigurationError: Error, Equatable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let message): return message
        }
    }
}

/// Throws `ConfigurationError.invalid(message())` unless `condition` holds.
@inline(__always)
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw ConfigurationError.invalid(message()) }
}

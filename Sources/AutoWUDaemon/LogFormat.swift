import Logging

/// How `autowud` writes its log to stderr: `text`, swift-log's `StreamLogHandler` lines (for people and
/// grep; unchanged from before the option existed), or `json`, one object per line (`JSONLogHandler`).
public enum LogFormat: String, CaseIterable, Sendable {
    case text
    case json

    public func handler(label: String, level: Logger.Level) -> any LogHandler {
        switch self {
        case .text:
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        case .json:
            return JSONLogHandler(level: level)
        }
    }
}

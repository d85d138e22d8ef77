#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Logging

/// One JSON object per line on stderr, for log shippers: `ts` (ISO-8601, UTC, milliseconds), `level`, `msg`,
/// then the metadata as fields of their own (`job`, `epoch`, ...), in key order so lines diff well.
/// A metadata key that would overwrite `ts`, `level` or `msg` is written with a leading underscore.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level

    public init(level: Logger.Level = .info, metadataProvider: Logger.MetadataProvider? = nil) {
        self.logLevel = level
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let own = event.metadata { fields.merge(own) { _, new in new } }
        if let error = event.error, fields["error"] == nil { fields["error"] = "\(error)" }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        StandardError.write(Self.line(level: event.level, message: event.message.description, fields: fields, at: now))
    }

    static func line(level: Logger.Level, message: String, fields: Logger.Metadata, at time: timespec) -> String {
        var out = "{\"ts\":\"\(timestamp(time))\",\"level\":\"\(level.rawValue)\",\"msg\":"
        appendString(message, to: &out)
        for key in fields.keys.sorted() {
            out += ","
            appendString(["ts", "level", "msg"].contains(key) ? "_" + key : key, to: &out)
            out += ":"
            appendValue(fields[key]!, to: &out)
        }
        return out + "}\n"
    }

    /// `2024-05-01T12:00:00.123Z`.
    static func timestamp(_ time: timespec) -> String {
        var seconds = time_t(time.tv_sec)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(time.tv_nsec / 1_000_000), 3))Z"
    }

    private static func appendValue(_ value: Logger.Metadata.Value, to out: inout String) {
        switch value {
        case .string(let string): appendString(string, to: &out)
        case .stringConvertible(let convertible): appendString(convertible.description, to: &out)
        case .array(let values):
            out += "["
            for (index, element) in values.enumerated() {
                if index > 0 { out += "," }
                appendValue(element, to: &out)
            }
            out += "]"
        case .dictionary(let dictionary):
            out += "{"
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                appendString(key, to: &out)
                out += ":"
                appendValue(dictionary[key]!, to: &out)
            }
            out += "}"
        }
    }

    /// RFC 8259 string escaping: quote, backslash and control characters; everything else as UTF-8.
    private static func appendString(_ string: String, to out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

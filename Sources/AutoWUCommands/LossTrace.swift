import Foundation

/// A recorded loss trace: a CSV file with a header row naming a `loss` column; data row i (from 0) is the loss
/// of step i. Other columns, a `step` column too, are ignored; `nan`, `inf` and `-inf` are accepted as losses.
public struct LossTrace: Sendable, Equatable {
    public var losses: [Double]

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public var file: String
        /// 1-based line number; 0 when the problem is the file as a whole.
        public var line: Int
        public var message: String

        public var description: String {
            line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)"
        }
    }

    public init(losses: [Double]) { self.losses = losses }

    public static func read(path: String) throws -> LossTrace {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ParseError(file: path, line: 0, message: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ParseError(file: path, line: 0, message: "the file is not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> LossTrace {
        // "\r\n" is one Character in Swift, so split on any newline character, not on "\n".
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        if lines.last?.isEmpty == true { lines.removeLast() }
        guard let header = lines.first, !header.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ParseError(file: file, line: 1, message: "missing header row (expected a `loss` column)")
        }
        let columns = header.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard let lossColumn = columns.firstIndex(of: "loss") else {
            throw ParseError(file: file, line: 1, message: "the header has no `loss` column (columns: \(columns.prefix(8).joined(separator: ", ")))")
        }
        var losses: [Double] = []
        losses.reserveCapacity(lines.count - 1)
        for (offset, line) in lines.enumerated().dropFirst() {
            let number = offset + 1
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == columns.count else {
                throw ParseError(file: file, line: number, message: "expected \(columns.count) fields, found \(fields.count)")
            }
            let field = fields[lossColumn].trimmingCharacters(in: .whitespaces)
            guard let loss = parseLoss(field) else {
                throw ParseError(file: file, line: number, message: "the loss `\(field)` is not a number")
            }
            losses.append(loss)
        }
        guard !losses.isEmpty else {
            throw ParseError(file: file, line: 0, message: "the trace has a header but no rows")
        }
        return LossTrace(losses: losses)
    }

    static func parseLoss(_ field: String) -> Double? {
        switch field.lowercased() {
        case "nan", "-nan": return .nan
        case "inf", "+inf", "infinity": return .infinity
        case "-inf", "-infinity": return -.infinity
        case "": return nil
        default:
            // Double(_:) also accepts "nan"/"inf" spellings handled above and hex floats; that is fine.
            return Double(field)
        }
    }
}

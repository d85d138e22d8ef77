import Foundation

/// Writes a rendered figure: the SVG as is, or a PNG through rsvg-convert. Nothing is left behind on failure.
enum FigureFile {
    static func write(_ svg: String, to path: String) throws {
        guard path.lowercased().hasSuffix(".png") else {
            try writeText(svg, to: path)
            return
        }
        guard let converter = executable(named: "rsvg-convert") else {
            throw CommandFailure(message: "error: a PNG needs rsvg-convert, which is not installed (Debian: apt-get install librsvg2-bin); write an .svg instead")
        }
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("autowu-plot-\(UUID().uuidString).svg").path
        try writeText(svg, to: temporary)
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: converter)
        process.arguments = ["--format", "png", "--output", path, temporary]
        let errors = Pipe()
        process.standardError = errors
        do { try process.run() } catch {
            throw CommandFailure(message: "error: cannot run \(converter): \(error)")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            try? FileManager.default.removeItem(atPath: path)
            throw CommandFailure(message: "error: rsvg-convert failed (status \(process.terminationStatus)): \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    private static func writeText(_ text: String, to path: String) throws {
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CommandFailure(message: "error: cannot write '\(path)': \((error as NSError).localizedDescription)")
        }
    }

    /// The first executable `name` on PATH.
    static func executable(named name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

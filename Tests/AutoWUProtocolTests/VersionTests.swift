import AutoWUProtocol
import Foundation
import Testing

/// The top-level VERSION file is the one source of the release version; the Swift constant must match it.
@Suite struct VersionTests {
    @Test func constantMatchesTheVersionFile() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("VERSION")
        let version = try String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(AutoWUVersion.string == version, "VERSION says \(version): update Sources/AutoWUProtocol/AutoWUVersion.swift")
    }
}

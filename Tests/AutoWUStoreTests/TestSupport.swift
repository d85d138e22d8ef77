import AutoWUStore
import Foundation

/// A fresh directory under the system's temporary directory, removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("autowu-store-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func appending(_ component: String) -> String {
        URL(fileURLWithPath: path).appendingPathComponent(component).path
    }
}

func makeJob(_ id: String, version: Int64, phase: String = "warmup", updatedAt: Double = 1_700_000_000,
             state: [UInt8]? = nil) -> StoredJob {
    StoredJob(jobID: id, spec: Array("spec of \(id)".utf8), tokenHash: "9f86d081884c7d65",
              controller: Array("{\"version\":\(version)}".utf8),
              state: state ?? [1, 2, UInt8(truncatingIfNeeded: version)],
              version: version, phase: phase, updatedAt: updatedAt)
}

func makeVerdict(_ id: String, epoch: Int64, bytes: [UInt8]? = nil) -> StoredVerdict {
    StoredVerdict(jobID: id, epoch: epoch, verdict: bytes ?? [0xAA, UInt8(truncatingIfNeeded: epoch)],
                  recordedAt: 1_700_000_000 + Double(epoch))
}

/// The first column of the first row of `sql`, run on a separate connection to the store's file.
func pragmaText(_ path: String, _ sql: String) throws -> String {
    let database = try SQLiteDatabase(path: path)
    let statement = try database.prepare(sql)
    return try statement.step() ? statement.string(column: 0) : ""
}

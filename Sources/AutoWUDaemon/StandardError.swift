#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Whole lines to file descriptor 2, one `write` loop at a time so lines from different threads never
/// interleave. Errors are dropped: a log line that cannot be written must not take the daemon down
/// (Foundation's FileHandle.write traps on EPIPE).
enum StandardError {
    private static let lock = NSLock()

    static func write(_ line: String) {
        var bytes = Array(line.utf8)
        lock.withLock {
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeMutableBytes { writeStandardError($0.baseAddress! + offset, $0.count - offset) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }
}

private func writeStandardError(_ bytes: UnsafeMutableRawPointer, _ count: Int) -> Int {
    write(2, bytes, count)
}

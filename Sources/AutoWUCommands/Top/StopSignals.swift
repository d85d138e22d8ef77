import Dispatch
import Foundation

/// SIGINT, SIGTERM and SIGWINCH as bytes on a pipe that the view's poll loop watches with its sockets, so
/// that a signal ends the loop (and the terminal is restored) instead of killing the process mid-frame.
final class StopSignals {
    enum Kind: UInt8 {
        case stop = 0x73    // "s"
        case resize = 0x77  // "w"
    }

    private var sources: [any DispatchSourceSignal] = []
    private let readEnd: Int32
    private let writeEnd: Int32

    init() throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw CommandFailure(message: "error: pipe: \(String(cString: strerror(errno)))") }
        (readEnd, writeEnd) = (ends[0], ends[1])
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
        for (number, kind) in [(SIGINT, Kind.stop), (SIGTERM, .stop), (SIGWINCH, .resize)] {
            signal(number, SIG_IGN)  // delivered through the source only
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            let descriptor = writeEnd, byte = kind.rawValue
            source.setEventHandler {
                var value = byte
                _ = Foundation.write(descriptor, &value, 1)
            }
            source.resume()
            sources.append(source)
        }
    }

    deinit {
        for source in sources { source.cancel() }
        for number in [SIGINT, SIGTERM, SIGWINCH] { signal(number, SIG_DFL) }
        close(readEnd)
        close(writeEnd)
    }

    /// Watch this for readability.
    var descriptor: Int32 { readEnd }

    /// The signals received since the last call.
    func take() -> [Kind] {
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(readEnd, &buffer, buffer.count)
        return count > 0 ? buffer.prefix(count).compactMap(Kind.init(rawValue:)) : []
    }
}

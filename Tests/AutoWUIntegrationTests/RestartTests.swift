import AutoWU
import AutoWUClient
import AutoWUProtocol
import AutoWUTestKit
import Foundation
import Testing

@Suite(.serialized) struct RestartTests {
    /// kill -9 of the daemon mid-warmup; the ranks wait at the next gate, the daemon comes back on the same
    /// data and ports, and the job ends with the decisions of an undisturbed run.
    @Test func killNineMidWarmupThenRestartChangesNoDecision() throws {
        let name = "digits_bs128_seed0_spe12_ep80_W960.csv"
        let path = BuildProducts.repository.appendingPathComponent("traces/\(name)").path
        let arguments = [path, "--steps-per-epoch", "12", "--total-steps", "1920", "--ranks", "4", "--job-id", "crash",
                         "--step-interval-us", "2000"]

        let undisturbed = try DaemonProcess()
        let (quiet, quietResult) = try simulate(undisturbed, arguments)
        #expect(quiet.status == 0, "\(quiet.stderr)")
        let quietVerdicts = try status(undisturbed, job: "crash").jobs.first?.lastVerdict
        undisturbed.stop()

        let daemon = try DaemonProcess()
        let runner = Thread.detachNewThreadResult { try simulate(daemon, arguments) }
        // Wait until some epochs are decided, then kill -9.
        let deadline = Date().addingTimeInterval(60)
        var killedAtEpoch = -1
        while Date() < deadline {
            if let job = try? status(daemon, job: "crash").jobs.first, job.hasLastVerdict, job.lastVerdict.epoch >= 15 {
                killedAtEpoch = Int(job.lastVerdict.epoch)
                break
            }
            usleep(20_000)
        }
        #expect(killedAtEpoch >= 15 && killedAtEpoch < 45, "killed mid-warmup at epoch \(killedAtEpoch)")
        daemon.kill()
        Thread.sleep(forTimeInterval: 1.0)
        try daemon.start()
        #expect(daemon.log.contains("job reloaded"))
        let (disturbed, disturbedResult) = try runner.value()
        #expect(disturbed.status == 0, "\(disturbed.stderr)\n\(daemon.log.suffix(3000))")

        let a = try #require(quietResult)
        let b = try #require(disturbedResult)
        #expect(b.disagreements == 0 && a.disagreements == 0)
        #expect(a.switched && b.switched)
        #expect(a.switch_step == b.switch_step)
        #expect(a.lr_after_switch?.bitPattern == b.lr_after_switch?.bitPattern)
        #expect(a.reason == b.reason)
        let final = try status(daemon, job: "crash").jobs.first
        // The figures too, to the last bits BLAS may round differently in another process.
        let before = quietVerdicts?.pMin ?? [], after = final?.lastVerdict.pMin ?? []
        #expect(before.count == 5 && after.count == 5 && zip(before, after).allSatisfy { abs($0 - $1) <= 1e-9 })
    }
}

extension Thread {
    /// Runs `body` on a new thread; `value()` waits for its result.
    static func detachNewThreadResult<T: Sendable>(_ body: @escaping @Sendable () throws -> T) -> ThreadResult<T> {
        let result = ThreadResult<T>()
        let thread = Thread {
            result.set(Result { try body() })
        }
        thread.start()
        return result
    }
}

final class ThreadResult<T: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<T, any Error>?

    func set(_ value: Result<T, any Error>) {
        condition.withLock {
            result = value
            condition.broadcast()
        }
    }

    func value() throws -> T {
        condition.lock()
        defer { condition.unlock() }
        while result == nil { condition.wait() }
        return try result!.get()
    }
}

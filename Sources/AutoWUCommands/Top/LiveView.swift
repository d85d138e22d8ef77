import AutoWUClient
import AutoWUProtocol
import Foundation
import ZeroMQ

/// The loop behind `autowu top`: events from the daemon's PUB socket as they come, the full job list and
/// counters by `Status` every few seconds, a frame every interval (and on changes when drawing on a
/// terminal), until 'q', SIGINT or SIGTERM.
final class LiveView {
    let endpoints: DaemonEndpoints
    /// Seconds between frames.
    let interval: Double
    /// Show only this job.
    let job: String?
    /// A job's token (AUTOWU_TOKEN): the jobs shown are those it opens, and those of this uid's MUNGE credential.
    let token: String

    private var table = LiveJobTable()
    private var daemon: Autowu_V1_DaemonStatus?
    private var daemonSeen = Date()
    private var samples: [CounterSample] = []
    private var problem: String?
    /// `run` asks again after a failed request; `once` does not, and must not say it will.
    private var retrying = false
    /// A notice (the event of a job with a token) told of a change: the next `Status` comes sooner.
    private var noticed = false
    /// The soonest a notice brings the next `Status` after the last one.
    static let noticeGap = 0.25

    init(endpoints: DaemonEndpoints, interval: Double, job: String?, token: String) {
        self.endpoints = endpoints
        self.token = token
        self.interval = interval
        self.job = job
    }

    /// Seconds between `Status` requests: the events carry every change of a job, the list adds jobs that
    /// publish none and the counters.
    var statusInterval: Double { max(2, interval) }

    /// One frame from a single `Status` request; false when the daemon did not answer.
    func once(width: Int?, height: Int?) -> (lines: [String], reachable: Bool) {
        refresh(timeoutSeconds: 5)
        return (frame(width: width, height: height).lines(), problem == nil)
    }

    /// Draws until stopped: on `screen` when there is one, else one frame per interval on stdout, separated
    /// by blank lines.
    func run(on screen: TerminalScreen?) throws {
        retrying = true
        let signals = try StopSignals()
        let context = try ZMQContext()
        defer { context.close() }
        let events = try subscribe(context)
        defer { events.close() }

        var nextStatus = Date.distantPast, nextFrame = Date.distantPast
        var lastDraw = Date.distantPast, changed = false, first = true
        // A changed table is drawn at once on a terminal, but not more than 10 times a second.
        let redrawGap = 0.1
        var lastStatus = Date.distantPast
        while true {
            if noticed {
                nextStatus = min(nextStatus, lastStatus.addingTimeInterval(Self.noticeGap))
                noticed = false
            }
            if Date() >= nextStatus {
                refresh(timeoutSeconds: min(max(interval, 1), 3))
                lastStatus = Date()
                nextStatus = lastStatus.addingTimeInterval(statusInterval)
            }
            let now = Date()
            if now >= nextFrame || (screen != nil && changed && now.timeIntervalSince(lastDraw) >= redrawGap) {
                if let screen {
                    let size = TerminalScreen.size()
                    screen.draw(frame(width: size.width, height: size.height).lines())
                } else {
                    let text = (first ? "" : "\n") + frame(width: nil, height: nil).lines().joined(separator: "\n") + "\n"
                    FileHandle.standardOutput.write(Data(text.utf8))
                    first = false
                }
                if now >= nextFrame { nextFrame = now.addingTimeInterval(interval) }
                lastDraw = now
                changed = false
            }

            var poller = ZMQPoller()
            poller.register(events)
            poller.register(fileDescriptor: signals.descriptor)
            if let keyboard = screen?.keyboardDescriptor { poller.register(fileDescriptor: keyboard) }
            var wake = min(nextStatus, nextFrame)
            if screen != nil, changed { wake = min(wake, lastDraw.addingTimeInterval(redrawGap)) }
            let ready = try poller.poll(timeoutMilliseconds: max(0, Int(wake.timeIntervalSinceNow * 1000) + 1))

            if ready.isReadable(events) { changed = try drain(events) || changed }
            if ready.events(forFileDescriptor: signals.descriptor).contains(.readable) {
                let kinds = signals.take()
                if kinds.contains(.stop) { return }
                if kinds.contains(.resize) { changed = true }
            }
            if let keyboard = screen?.keyboardDescriptor, ready.events(forFileDescriptor: keyboard).contains(.readable) {
                var buffer = [UInt8](repeating: 0, count: 64)
                let count = read(keyboard, &buffer, buffer.count)
                if count <= 0 || buffer.prefix(count).contains(where: { $0 == UInt8(ascii: "q") || $0 == UInt8(ascii: "Q") }) {
                    return
                }
            }
        }
    }

    private func subscribe(_ context: ZMQContext) throws -> ZMQSocket {
        let socket = try context.socket(.sub)
        try socket.set(.linger, 0)
        try socket.set(.rcvhwm, 100_000)
        if let serverKey = endpoints.serverKey {
            let keys = try CurveKeyPair.generate()
            try socket.set(.curveServerKey, serverKey)
            try socket.set(.curvePublicKey, keys.publicKey)
            try socket.set(.curveSecretKey, keys.secretKey)
        }
        // Every job's topic: the topic of one job would miss the jobs that appear while the view is open.
        try socket.subscribe(to: "job/")
        try socket.connect(endpoints.events)
        return socket
    }

    /// Applies every event waiting on the socket; returns whether the table changed.
    private func drain(_ events: ZMQSocket) throws -> Bool {
        var changed = false
        while let frames = try events.receiveMultipart(dontWait: true) {
            guard frames.count == 2, let event = try? Autowu_V1_Event(serializedBytes: frames[1]),
                  event.protocolVersion == WireProtocol.version, event.hasJob else { continue }
            // A notice carries no state, and only the job's token or owner may read it: ask (Status).
            if event.kind == .eventNotice {
                noticed = noticed || table.isNews(event.job)
                continue
            }
            changed = table.apply(event.job) || changed
        }
        return changed
    }

    /// Asks for the full list and the counters; a daemon that does not answer is said so, and asked again
    /// at the next refresh.
    private func refresh(timeoutSeconds: Double) {
        do {
            let reply = try DaemonQuery.status(token: token, endpoints: endpoints, timeoutSeconds: timeoutSeconds)
            switch reply.body {
            case .jobs(let list)?:
                table.replace(with: list.jobs)
                daemon = list.daemon
                daemonSeen = Date()
                samples = Array((samples + [CounterSample(list.daemon)]).suffix(2))
                problem = nil
            case .error(let error)?:
                problem = "autowud at \(endpoints.control) refused the status request: \(error.code): \(error.message)"
            default:
                problem = "autowud at \(endpoints.control) sent an unexpected reply"
            }
        } catch ClientError.daemonUnreachable {
            problem = "autowud at \(endpoints.control) does not answer" + (retrying ? "; retrying" : "")
        } catch {
            problem = "autowud at \(endpoints.control): \(error)" + (retrying ? "; retrying" : "")
        }
    }

    private func frame(width: Int?, height: Int?) -> TopFrame {
        var jobs = table.sorted
        if let job { jobs = jobs.filter { $0.jobID == job } }
        let uptime = daemon.map { $0.uptimeMs + UInt64(max(0, Date().timeIntervalSince(daemonSeen)) * 1000) }
        let rates = samples.count == 2 ? DaemonRates(from: samples[0], to: samples[1]) : nil
        return TopFrame(daemon: daemon, uptimeMilliseconds: problem == nil ? uptime : daemon?.uptimeMs,
                        rates: rates, problem: problem, jobs: jobs, width: width, height: height)
    }
}

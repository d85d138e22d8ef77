import AutoWUClient
import AutoWUTestKit
import Foundation
import Testing

/// A real daemon serving /metrics, with one job played through a few epochs by a real rank.
struct MetricsFixture {
    let daemon: DaemonProcess
    let job = "metrics-job"
    let epochs = 8
    static let stepsPerEpoch = 3

    init() throws {
        daemon = try DaemonProcess(arguments: ["--metrics-address", "127.0.0.1:0"])
        let trace = try Traces.losses("digits_bs512_seed0_spe3_ep120_W360.csv")
        let client = try RankClient(options: .init(endpoints: daemon.endpoints, jobID: job, rank: 0,
                                                   spec: spec(stepsPerEpoch: Self.stepsPerEpoch, totalSteps: 720, worldSize: 1)))
        defer { client.close() }
        _ = try play(client, trace: trace, from: 0, to: Self.stepsPerEpoch * epochs)
    }

    var metricsURL: String { "http://\(daemon.metricsAddress ?? "nowhere")/metrics" }

    /// Scrapes until the exported counters have caught up with the daemon's own `Status` counters (they
    /// follow them once a second) and every tested epoch has its verdict published.
    func settledScrape() throws -> Exposition {
        let deadline = Date().addingTimeInterval(60)
        while true {
            let testsRun = Double(try status(daemon).daemon.counters["tests.run", default: 0])
            let scrape = try Exposition(httpGet(metricsURL).body)
            if testsRun > 0, scrape["autowu_tests_total"] == testsRun,
               scrape["autowu_verdict_latency_seconds_count"] == testsRun,
               scrape["autowu_loss_reports_received_total"] == Double(Self.stepsPerEpoch * epochs) {
                return scrape
            }
            guard Date() < deadline else {
                Issue.record("the exported counters never matched the daemon's (tests.run \(testsRun)):\n\(scrape.text)")
                return scrape
            }
            usleep(200_000)
        }
    }
}

/// The Prometheus text format, parsed as far as the tests need: samples by their full series key
/// (`name{labels}`), and families by their TYPE.
struct Exposition {
    let text: String
    private(set) var samples: [String: Double] = [:]
    private(set) var types: [String: String] = [:]
    /// Series names as scraped (a histogram's `_bucket`, `_sum` and `_count` included).
    private(set) var seriesNames: Set<String> = []

    init(_ text: String) {
        self.text = text
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let words = line.split(separator: " ")
                if words.count == 4 { types[String(words[2])] = String(words[3]) }
            } else if !line.hasPrefix("#"), let space = line.lastIndex(of: " ") {
                let key = String(line[..<space])
                samples[key] = Double(line[line.index(after: space)...])
                seriesNames.insert(String(key.prefix { $0 != "{" }))
            }
        }
    }

    subscript(_ key: String) -> Double? { samples[key] }
}

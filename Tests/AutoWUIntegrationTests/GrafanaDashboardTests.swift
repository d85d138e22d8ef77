import AutoWUTestKit
import Foundation
import Testing

/// deploy/grafana/autowu.json: its panels query only what a real daemon exports.
@Suite(.serialized) struct GrafanaDashboardTests {
    @Test func everyExpressionNamesExportedSeries() throws {
        let dashboard = try GrafanaDashboard()
        #expect(Set(dashboard.panelTitles).isSuperset(of: [
            "Jobs by phase", "Loss reports and drops", "Test duration", "Verdict latency", "Store commit latency"]))
        let fixture = try MetricsFixture()
        let scrape = try fixture.settledScrape()
        #expect(!dashboard.expressions.isEmpty)
        for expression in dashboard.expressions {
            let names = GrafanaDashboard.metricNames(in: expression)
            #expect(!names.isEmpty, "\(expression) names no autowu metric")
            for name in names {
                #expect(scrape.seriesNames.contains(name), "\(expression): the daemon exports no \(name)")
            }
        }
        #expect(fixture.daemon.stop() == 0)
    }
}

/// The dashboard's panels and their PromQL.
struct GrafanaDashboard {
    private(set) var panelTitles: [String] = []
    private(set) var expressions: [String] = []

    init() throws {
        let url = BuildProducts.repository.appendingPathComponent("deploy/grafana/autowu.json")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        collect(root["panels"] as? [[String: Any]] ?? [])
    }

    private mutating func collect(_ panels: [[String: Any]]) {
        for panel in panels {
            if let title = panel["title"] as? String { panelTitles.append(title) }
            for target in panel["targets"] as? [[String: Any]] ?? [] {
                if let expression = target["expr"] as? String { expressions.append(expression) }
            }
            collect(panel["panels"] as? [[String: Any]] ?? [])  // rows hold panels too
        }
    }

    /// The series an expression reads: every `autowu_` identifier in it.
    static func metricNames(in expression: String) -> Set<String> {
        let pattern = /autowu_[a-zA-Z0-9_]+/
        return Set(expression.matches(of: pattern).map { String($0.output) })
    }

    /// As Prometheus itself would get it from Grafana (the range variable filled in).
    static func asQuery(_ expression: String) -> String {
        expression.replacingOccurrences(of: "$__rate_interval", with: "1m")
    }
}

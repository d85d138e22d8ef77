import AutoWUTestKit
import Foundation
import Testing

/// A real Prometheus server scrapes a real daemon; the value comes back through its query API.
@Suite(.serialized) struct PrometheusServerTests {
    static let prometheus = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(.enabled(if: prometheus != nil, "prometheus is not installed (Debian package prometheus; scripts/install-dependencies --test)"))
    func prometheusScrapesTheDaemonsTestCount() throws {
        let fixture = try MetricsFixture()
        let tests = try #require(try fixture.settledScrape()["autowu_tests_total"])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autowu-prometheus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: autowud
                static_configs:
                  - targets: ["\(try #require(fixture.daemon.metricsAddress))"]
            """
        try config.write(to: directory.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        let port = try freeLoopbackPort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: Self.prometheus!)
        server.arguments = ["--config.file=\(directory.path)/prometheus.yml", "--storage.tsdb.path=\(directory.path)/data",
                            "--web.listen-address=127.0.0.1:\(port)"]
        let logPath = directory.appendingPathComponent("prometheus.log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        server.standardOutput = log
        server.standardError = log
        try server.run()
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        // Polled with a generous deadline: the server starts, scrapes every second, and the sample shows.
        let query = "http://127.0.0.1:\(port)/api/v1/query?query=autowu_tests_total"
        let deadline = Date().addingTimeInterval(120)
        var last = ""
        var value: Double?
        while value == nil, Date() < deadline, server.isRunning {
            if let response = try? httpGet(query) {
                last = response.body
                value = Self.firstValue(of: response.body, job: "autowud")
            }
            if value == nil { usleep(500_000) }
        }
        let serverLog = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(value == tests, "Prometheus answered \(last)\nits log:\n\(serverLog.suffix(3000))")
        // The dashboard's PromQL parses and evaluates on a real server.
        for expression in try GrafanaDashboard().expressions {
            var query = URLComponents(string: "http://127.0.0.1:\(port)/api/v1/query")!
            query.queryItems = [URLQueryItem(name: "query", value: GrafanaDashboard.asQuery(expression))]
            let answer = try httpGet(query.url!.absoluteString)
            #expect(answer.status == 200 && answer.body.contains("\"status\":\"success\""), "\(expression): \(answer.body)")
        }
        #expect(fixture.daemon.stop() == 0)
    }

    /// The first vector sample's value in a `/api/v1/query` answer, if it is from scrape job `job`.
    static func firstValue(of body: String, job: String) -> Double? {
        guard let answer = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
              answer["status"] as? String == "success",
              let data = answer["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
              let sample = result.first, (sample["metric"] as? [String: String])?["job"] == job,
              let pair = sample["value"] as? [Any], pair.count == 2, let text = pair[1] as? String else { return nil }
        return Double(text)
    }
}

/// A loopback TCP port that was free a moment ago (for a server that takes a port, not 0).
func freeLoopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw POSIXError(.EMFILE) }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
        }
    }
    guard bound else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: address.sin_port))
}

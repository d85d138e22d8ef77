import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

public struct HTTPResponse: Sendable {
    public var status: Int
    public var body: String
}

/// One plain HTTP GET over a real socket (tests talk to the daemon's /metrics and to Prometheus's API).
public func httpGet(_ url: String, timeoutSeconds: Double = 10) throws -> HTTPResponse {
    guard let address = URL(string: url) else { throw URLError(.badURL) }
    var request = URLRequest(url: address)
    request.timeoutInterval = timeoutSeconds
    let box = HTTPResultBox()
    let done = DispatchSemaphore(value: 0)
    let task = URLSession.shared.dataTask(with: request) { data, response, error in
        box.result = error.map { .failure($0) } ?? .success(HTTPResponse(
            status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: String(decoding: data ?? Data(), as: UTF8.self)))
        done.signal()
    }
    task.resume()
    done.wait()
    return try box.result!.get()
}

private final class HTTPResultBox: @unchecked Sendable {
    // Written once by the session's callback before the semaphore is signalled; read after.
    var result: Result<HTTPResponse, any Error>?
}

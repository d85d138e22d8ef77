import Foundation

/// A daemon process's CPU time and memory as Linux shows them in /proc (the load generator runs beside the
/// daemon, so it can read them at the exact start and end of its run).
struct DaemonProcessSample {
    /// User + system CPU seconds, all threads.
    var cpuSeconds: Double
    /// Resident set now and its peak (VmRSS, VmHWM), in bytes.
    var residentBytes: Int
    var peakResidentBytes: Int

    init?(pid: Int32) {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name (which may hold spaces): utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        cpuSeconds = (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
        func kilobytes(_ key: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }) else { return 0 }
            return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? 0
        }
        residentBytes = kilobytes("VmRSS") * 1024
        peakResidentBytes = kilobytes("VmHWM") * 1024
    }
}

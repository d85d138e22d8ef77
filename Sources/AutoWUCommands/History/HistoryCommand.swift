import ArgumentParser

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Print a stored job's tests, one per line, from the daemon's store.",
        discussion: """
            Reads the store in --data-dir without writing to it (the daemon may be running). Per test: epoch, \
            step, LR, the five P_min, votes, streak, outliers, the fitted hyper-parameters (stores written \
            before they were kept show '-') and the test's note. Exit status 2: no store, or no such job.
            """)

    @Argument(help: "The job id.")
    var job: String

    @Option(help: "The daemon's data directory.")
    var dataDir: String

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    func run() throws {
        let record = try StoredJobRecord.load(job: job, dataDirectory: dataDir)
        print(json ? try record.historyJSON() : record.historyTable(), terminator: json ? "\n" : "")
    }
}

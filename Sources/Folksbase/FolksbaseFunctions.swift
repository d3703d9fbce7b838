import SpoolEngine

/// Every folksbase function, wired to its services.
public enum FolksbaseFunctions {
    /// The event names `all` is triggered by (the cron function's ticks aside).
    public static let eventNames: Set<String> = [
        SendWelcome.event, ProcessCSV.event, ProcessExport.event, RunCancelled.eventName,
    ]

    public static func all(_ services: FolksbaseServices) -> [SpoolFunction] {
        [
            SendWelcome.function(services), WeeklyDigest.function(services), ProcessCSV.function(services),
            ProcessExport.function(services), RecordCancellation.function(services),
        ]
    }
}

import SpoolEngine

/// Every folksbase function, wired to its services.
public enum FolksbaseFunctions {
    public static func all(_ services: FolksbaseServices) -> [SpoolFunction] {
        [
            SendWelcome.function(services), WeeklyDigest.function(services), ProcessCSV.function(services),
            ProcessExport.function(services), RecordCancellation.function(services),
        ]
    }
}

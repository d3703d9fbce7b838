import CSQLite
import Foundation
import Testing

@testable import Folksbase

@Suite struct SQLiteErrorHintTests {
    @Test func fileSystemFailuresSayWhatToDoFromTheSystemError() {
        // A full disk reaches SQLite as an I/O error on its shared-memory file: the errno tells.
        #expect(FolksbaseError.fileSystemHint(code: SQLITE_IOERR, systemError: ENOSPC).contains("free space"))
        #expect(FolksbaseError.fileSystemHint(code: SQLITE_IOERR, systemError: EROFS).contains("read-only"))
        #expect(FolksbaseError.fileSystemHint(code: SQLITE_CANTOPEN, systemError: EACCES).contains("owner"))
        #expect(FolksbaseError.fileSystemHint(code: SQLITE_IOERR, systemError: EIO).contains("I/O error"))
        #expect(FolksbaseError.fileSystemHint(code: SQLITE_FULL, systemError: 0).contains("free space"))
        #expect(FolksbaseError.fileSystemHint(code: SQLITE_READONLY, systemError: 0).contains("owner"))
    }

    @Test func aDatabaseThatCannotBeOpenedNamesTheSystemError() async throws {
        try await withTemporaryDirectory { root in
            let error = try #require(throws: FolksbaseError.self) {
                try SQLiteConnection(path: root + "/missing-folder/db.sqlite")
            }
            #expect(error.description.contains("No such file or directory"), "\(error)")
        }
    }
}

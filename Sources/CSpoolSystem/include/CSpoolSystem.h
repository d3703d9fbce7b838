#ifndef CSPOOL_SYSTEM_H
#define CSPOOL_SYSTEM_H

/// rename(2) that fails with EEXIST instead of replacing the target (renameat2 RENAME_NOREPLACE).
/// Returns 0, or -1 with errno set.
int cspool_rename_noreplace(const char *from, const char *to);

/// Atomically swaps two existing names (renameat2 RENAME_EXCHANGE). Returns 0, or -1 with errno set.
int cspool_rename_exchange(const char *first, const char *second);

/// syncfs(2): flushes every dirty page and inode of the file system that holds `fd`.
/// Returns 0, or -1 with errno set (including a write-back error seen since `fd` was opened).
int cspool_syncfs(int fd);

/// copy_file_range(2) from the current offset of `in` to that of `out`, at most `length` bytes.
/// Returns the bytes copied (0 at the end of `in`), or -1 with errno set.
long cspool_copy_file_range(int in, int out, unsigned long length);

#endif

#ifndef CSPOOL_SYSTEM_H
#define CSPOOL_SYSTEM_H

/// rename(2) that fails with EEXIST instead of replacing the target (renameat2 RENAME_NOREPLACE).
/// Returns 0, or -1 with errno set.
int cspool_rename_noreplace(const char *from, const char *to);

#endif

// What the disk allows for the primitive Spool publishes every file with.
//
// usage: disk_limit DIR SECONDS durable|nofsync
//   durable: create a temp file, write 300 bytes, fsync it, rename it to a new name, fsync DIR
//   nofsync: the same without either fsync
// Repeats for SECONDS and prints one JSON object: {"mode", "ops", "seconds", "ops_per_s"}.
// Every operation leaves a new file in DIR; the caller removes DIR afterwards.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { RECORD_SIZE = 300 };

static double seconds_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static int fail(const char *what, const char *path) {
    fprintf(stderr, "disk_limit: %s %s: %s\n", what, path, strerror(errno));
    return 1;
}

// One publish: temp file, write, optional fsync, rename, optional directory fsync.
static int publish(int dir_fd, const char *dir, long index, const char *record, int durable) {
    char temp[4096], final[4096];
    snprintf(temp, sizeof temp, "%s/.publish-%ld.tmp", dir, index);
    snprintf(final, sizeof final, "%s/record-%ld.json", dir, index);
    int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return fail("open", temp);
    if (write(fd, record, RECORD_SIZE) != RECORD_SIZE) return fail("write", temp);
    if (durable && fsync(fd) != 0) return fail("fsync", temp);
    if (close(fd) != 0) return fail("close", temp);
    if (rename(temp, final) != 0) return fail("rename", final);
    if (durable && fsync(dir_fd) != 0) return fail("fsync", dir);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[3], "durable") != 0 && strcmp(argv[3], "nofsync") != 0)) {
        fprintf(stderr, "usage: %s DIR SECONDS durable|nofsync\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    double duration = atof(argv[2]);
    int durable = strcmp(argv[3], "durable") == 0;

    char record[RECORD_SIZE];
    memset(record, 'x', sizeof record);
    record[0] = '{';
    record[RECORD_SIZE - 2] = '}';
    record[RECORD_SIZE - 1] = '\n';

    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) return fail("open", dir);

    long ops = 0;
    double start = seconds_now(), elapsed = 0;
    while (elapsed < duration) {
        if (publish(dir_fd, dir, ops, record, durable) != 0) return 1;
        ops++;
        elapsed = seconds_now() - start;
    }
    close(dir_fd);
    printf("{\"mode\": \"%s\", \"ops\": %ld, \"seconds\": %.3f, \"ops_per_s\": %.1f}\n",
           argv[3], ops, elapsed, (double)ops / elapsed);
    return 0;
}

// What the spool's layout and write rules cost on their own: the file operations of one tiny-job
// run (3 steps), with nothing else, for many runs at once sharing their flushes (group commit).
// It stands for the ceiling of any program that keeps the layout of spool/README.md and flushes
// as Spool does (one thread per run in flight, woken after each flush): the tiny-job benchmark's
// Spool figure, divided by this one, is the share of it Spool reaches.
//
// usage: layout_floor DIR EVENTS THREADS [PART...]
//   DIR must not exist; it is made and left for the caller to remove.
//   Each PART leaves out one piece of the layout or the write rules, to measure what it costs:
//     no-log                 no log.jsonl (neither its creation nor its line appends)
//     one-flush-per-step     a step file's rename is made durable by the next flush asked for
//                            (the next step's, or the run's end), not by one of its own: this
//                            breaks write rule 1, which flushes the folder before going on
//     no-steps-folder        step files in the run's folder, no steps/
// Per event, as `spool serve` does it (strace of one bench-tiny run):
//   producer: create tmp/<e>.json, write, rename into incoming/
//   intake:   rename it to tmp/.claim-<e>; read it; mkdir the staging folder and its steps/;
//             create event.json, run.json, log.jsonl; flock the folder; flush; rename it into
//             runs/; flush
//   run:      append to log.jsonl; rename the claim to .run.json.spare; per step: create a temp
//             file in steps/, write, flush, rename into place, flush, append to log.jsonl
//   finish:   append to log.jsonl; mkdir done/<day>; write the spare, flush, exchange it with
//             run.json, flush, rename the run into done/<day>/, flush
// A flush is one syncfs(2), shared by every thread that asked before it started.
// Prints one JSON object: {"events", "threads", "seconds", "events_per_s", "cpu_ms_per_event",
// "flushes", "left_out"}.
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *root;
static int root_fd;
static long event_count;
static long next_event;
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;

// Group commit: a flush that starts after a request covers it.
static pthread_mutex_t flush_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t flush_done = PTHREAD_COND_INITIALIZER;
static long flush_requested, flush_completed, flush_count;
static int flushing;

static int no_log, one_flush_per_step, no_steps_folder;
static char event_json[115], run_json[277], final_run_json[369], step_json[69], log_line[100];

static double seconds_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void die(const char *what, const char *path) {
    fprintf(stderr, "layout_floor: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

enum { PATH_SIZE = 4096 };

// Formats a path into `out`, which holds PATH_SIZE bytes; a path too long for it ends the program.
static void path_of(char *out, const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(out, PATH_SIZE, format, arguments);
    va_end(arguments);
    if (length < 0 || length >= PATH_SIZE) {
        errno = ENAMETOOLONG;
        die("path", format);
    }
}

static void flush(void) {
    pthread_mutex_lock(&flush_lock);
    long ticket = ++flush_requested;
    while (flush_completed < ticket) {
        if (flushing) {
            pthread_cond_wait(&flush_done, &flush_lock);
            continue;
        }
        flushing = 1;
        long covered = flush_requested;
        pthread_mutex_unlock(&flush_lock);
        if (syncfs(root_fd) != 0) die("syncfs", root);
        pthread_mutex_lock(&flush_lock);
        flush_completed = covered;
        flush_count++;
        flushing = 0;
        pthread_cond_broadcast(&flush_done);
    }
    pthread_mutex_unlock(&flush_lock);
}

static void create_file(const char *path, const char *bytes, size_t size) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) die("open", path);
    if (write(fd, bytes, size) != (ssize_t)size) die("write", path);
    if (close(fd) != 0) die("close", path);
}

static void append_line(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) die("open", path);
    if (write(fd, log_line, sizeof log_line) != (ssize_t)sizeof log_line) die("write", path);
    if (close(fd) != 0) die("close", path);
}

static void rename_or_die(const char *from, const char *to, unsigned flags) {
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, flags) != 0) die("rename", from);
}

static void make_directory(const char *path) {
    if (mkdir(path, 0700) != 0 && errno != EEXIST) die("mkdir", path);
}

static void run_event(long e) {
    char claim[PATH_SIZE], incoming[PATH_SIZE], stage[PATH_SIZE], run[PATH_SIZE], path[PATH_SIZE], temp[PATH_SIZE],
        log[PATH_SIZE], done[PATH_SIZE];
    path_of(incoming, "%s/incoming/event-%ld.json", root, e);
    path_of(claim, "%s/tmp/.claim-%ld.json", root, e);
    path_of(stage, "%s/runs/.stage-run-%ld", root, e);
    path_of(run, "%s/runs/run-%ld", root, e);
    path_of(done, "%s/done/2026-11-29/run-%ld", root, e);

    // Intake: claim, read, stage, publish.
    rename_or_die(incoming, claim, 0);
    char event[256];
    int fd = open(claim, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || read(fd, event, sizeof event) < 0) die("read", claim);
    close(fd);
    make_directory(stage);
    if (!no_steps_folder) {
        path_of(path, "%s/steps", stage);
        make_directory(path);
    }
    path_of(path, "%s/event.json", stage);
    create_file(path, event_json, sizeof event_json);
    path_of(path, "%s/run.json", stage);
    create_file(path, run_json, sizeof run_json);
    if (!no_log) {
        path_of(path, "%s/log.jsonl", stage);
        create_file(path, log_line, sizeof log_line);
    }
    int lock = open(stage, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) != 0) die("flock", stage);
    flush();
    rename_or_die(stage, run, RENAME_NOREPLACE);
    flush();

    // The run: three steps.
    path_of(log, "%s/log.jsonl", run);
    if (!no_log) append_line(log);
    path_of(path, "%s/.run.json.spare", run);
    rename_or_die(claim, path, 0);
    for (int step = 1; step <= 3; step++) {
        const char *steps = no_steps_folder ? "" : "steps/";
        path_of(temp, "%s/%s.step-%d.json.tmp", run, steps, step);
        path_of(path, "%s/%sstep-%d.json", run, steps, step);
        create_file(temp, step_json, sizeof step_json);
        flush();
        rename_or_die(temp, path, 0);
        if (!one_flush_per_step) flush();
        if (!no_log) append_line(log);
    }

    // Its end: the record, then the move into done/.
    if (!no_log) append_line(log);
    path_of(path, "%s/done/2026-11-29", root);
    make_directory(path);
    path_of(path, "%s/.run.json.spare", run);
    fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || write(fd, final_run_json, sizeof final_run_json) != (ssize_t)sizeof final_run_json) die("write", path);
    close(fd);
    flush();
    path_of(temp, "%s/run.json", run);
    rename_or_die(path, temp, RENAME_EXCHANGE);
    flush();
    rename_or_die(run, done, RENAME_NOREPLACE);
    flush();
    close(lock);
}

static void *worker(void *unused) {
    (void)unused;
    while (1) {
        pthread_mutex_lock(&queue_lock);
        long e = next_event < event_count ? next_event++ : -1;
        pthread_mutex_unlock(&queue_lock);
        if (e < 0) return NULL;
        run_event(e);
    }
}

static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + (double)usage.ru_stime.tv_sec +
           usage.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 4 || atol(argv[2]) <= 0 || atoi(argv[3]) <= 0) {
        fprintf(stderr, "usage: %s DIR EVENTS THREADS [no-log|one-flush-per-step|no-steps-folder]...\n", argv[0]);
        return 2;
    }
    char left_out[128] = "";
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "no-log") == 0) no_log = 1;
        else if (strcmp(argv[i], "one-flush-per-step") == 0) one_flush_per_step = 1;
        else if (strcmp(argv[i], "no-steps-folder") == 0) no_steps_folder = 1;
        else {
            fprintf(stderr, "layout_floor: unknown part %s (no-log, one-flush-per-step or no-steps-folder)\n", argv[i]);
            return 2;
        }
        snprintf(left_out + strlen(left_out), sizeof left_out - strlen(left_out), "%s\"%s\"", i > 4 ? ", " : "",
                 argv[i]);
    }
    root = argv[1];
    event_count = atol(argv[2]);
    int threads = atoi(argv[3]);
    if (mkdir(root, 0700) != 0) die("mkdir", root);
    const char *folders[] = {"tmp", "incoming", "runs", "done"};
    char path[PATH_SIZE], temp[PATH_SIZE];
    for (size_t i = 0; i < sizeof folders / sizeof *folders; i++) {
        path_of(path, "%s/%s", root, folders[i]);
        make_directory(path);
    }
    root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) die("open", root);
    memset(event_json, 'e', sizeof event_json);
    memset(run_json, 'r', sizeof run_json);
    memset(final_run_json, 'q', sizeof final_run_json);
    memset(step_json, 's', sizeof step_json);
    memset(log_line, 'l', sizeof log_line);
    log_line[sizeof log_line - 1] = '\n';
    if (syncfs(root_fd) != 0) die("syncfs", root);

    double cpu_start = cpu_seconds();
    double start = seconds_now();
    for (long e = 0; e < event_count; e++) {
        path_of(temp, "%s/tmp/event-%ld.json", root, e);
        path_of(path, "%s/incoming/event-%ld.json", root, e);
        create_file(temp, "{\"name\": \"bench/tiny\", \"data\": {\"event\": 0}}", 44);
        rename_or_die(temp, path, 0);
    }
    pthread_t *pool = calloc((size_t)threads, sizeof *pool);
    for (int i = 0; i < threads; i++) pthread_create(&pool[i], NULL, worker, NULL);
    for (int i = 0; i < threads; i++) pthread_join(pool[i], NULL);
    double seconds = seconds_now() - start;
    double cpu = cpu_seconds() - cpu_start;
    printf("{\"events\": %ld, \"threads\": %d, \"seconds\": %.6f, \"events_per_s\": %.1f, "
           "\"cpu_ms_per_event\": %.4f, \"flushes\": %ld, \"left_out\": [%s]}\n",
           event_count, threads, seconds, event_count / seconds, cpu * 1000 / event_count, flush_count, left_out);
    return 0;
}

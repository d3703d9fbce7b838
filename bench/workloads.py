"""The measurements: each returns a dict of figures for one system in one round."""
import glob
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import time

from systems import BenchError, cpu_s_of, fresh_directory, log_tail, start_process, stop_process


def elapsed_s(start_ns, end_ns):
    return (end_ns - start_ns) / 1e9


def nearest_rank(sorted_values, percent):
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def tiny_throughput(system, events):
    """End to end: t0 just before the first enqueue, t1 the last D mark. For a system that tells
    its CPU time (Spool's server), also its CPU per event."""
    cpu_s = getattr(system, "cpu_s", None)
    cpu_before = cpu_s() if cpu_s else None
    ids = range(events)
    started = time.monotonic_ns()
    for event in ids:
        system.enqueue(event)
    enqueued = time.monotonic_ns()
    finished = system.marks.wait_done(ids, max(120, events / 10), system.check_alive)
    seconds = elapsed_s(started, finished)
    result = {"events_per_s": events / seconds, "seconds": seconds, "enqueue_s": elapsed_s(started, enqueued)}
    if cpu_s:
        result["cpu_ms_per_event"] = (cpu_s() - cpu_before) * 1000 / events
    return result


def enqueue_to_step1_latency(system, events, spacing_s):
    """Events `spacing_s` apart after an idle second; latency = S1 mark - time before enqueue."""
    time.sleep(1.0)
    ids = range(events)
    spacing_ns = int(spacing_s * 1e9)
    first = time.monotonic_ns() + 10_000_000
    sent = {}
    for index, event in enumerate(ids):
        sleep_until(first + index * spacing_ns)
        sent[event] = system.enqueue(event)
    system.marks.wait_done(ids, 120, system.check_alive)
    latencies_ms = sorted((system.marks.step1_started[event] - sent[event]) / 1e6 for event in ids)
    return {"p50_ms": statistics.median(latencies_ms), "p99_ms": nearest_rank(latencies_ms, 99),
            "max_ms": latencies_ms[-1]}


def sleep_until(target_ns):
    while True:
        remaining = target_ns - time.monotonic_ns()
        if remaining <= 0:
            return
        time.sleep(min(0.001, remaining / 1e9))


def disk_limit(probe, directory, seconds, mode):
    """The disk_limit probe's publishes per second in a fresh directory (left for the end of the
    run, like every spool: freeing many inodes mid-run would slow later measurements)."""
    directory = fresh_directory(f"{directory}-{time.monotonic_ns()}")
    return json.loads(run_checked([probe, directory, str(seconds), mode], "disk_limit"))


def layout_floor(probe, directory, events, threads, left_out=()):
    """The layout_floor probe: the file operations of `events` tiny runs alone, `threads` at once,
    without the parts named in `left_out`."""
    directory = f"{directory}-{time.monotonic_ns()}"
    return json.loads(run_checked([probe, directory, str(events), str(threads), *left_out], "layout_floor"))


def run_checked(command, what, **options):
    result = subprocess.run(command, capture_output=True, text=True, **options)
    if result.returncode != 0:
        output = "\n".join(part.strip() for part in (result.stdout, result.stderr) if part.strip())
        raise BenchError(f"{what} exited with {result.returncode}: {' '.join(command)}\n{output[-3000:]}")
    return result.stdout


def timed(command, what, **options):
    started = time.monotonic_ns()
    output = run_checked(command, what, **options)
    return elapsed_s(started, time.monotonic_ns()), output


def seed_demo_workspace(spool, spool_dir):
    ids = json.loads(run_checked([spool, "demo", "seed", "--spool", spool_dir], "spool demo seed"))
    return ids["workspaceId"], ids["userId"]


class SpoolServe:
    """A fresh `spool serve` process (its default options) on a spool, for one import or export."""

    def __init__(self, spool, spool_dir, log_path):
        self.command = [spool, "serve", "--spool", spool_dir, "--log-level", "info"]
        self.spool_dir = spool_dir
        self.log_path = log_path
        self.process = None

    def __enter__(self):
        self.process = start_process(self.command, self.log_path)
        try:
            self.wait_until_serving()
        except BaseException:
            self.__exit__()
            raise
        return self

    def wait_until_serving(self, timeout=60):
        """Waits for the "serving <dir>" line the server logs once it watches incoming/."""
        deadline = time.monotonic() + timeout
        while "] serving " not in log_tail(self.log_path, lines=50):
            self.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"spool serve did not start within {timeout} s; see {self.log_path}")
            time.sleep(0.01)

    def __exit__(self, *_):
        stop_process(self.process, signal.SIGTERM)

    def peak_rss_mb(self):
        """VmHWM of the running server, in MB (10^6 bytes)."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
        raise BenchError("no VmHWM in /proc/PID/status")

    def check_alive(self):
        if self.process.poll() is not None:
            raise BenchError(f"spool serve exited with {self.process.returncode}:\n{log_tail(self.log_path)}")

    def thread_cpu_s(self):
        """CPU seconds (user + system) used so far by each of the server's threads, by thread id."""
        used = {}
        for task in os.listdir(f"/proc/{self.process.pid}/task"):
            try:
                used[task] = cpu_s_of(f"/proc/{self.process.pid}/task/{task}/stat")
            except FileNotFoundError:
                continue  # the thread ended meanwhile
        return used


def cpu_used_between(before, after):
    """From two `thread_cpu_s` readings: the server's CPU seconds in all, and its busiest thread's."""
    used = [seconds - before.get(thread, 0.0) for thread, seconds in after.items()]
    return {"serve_cpu_s": sum(used), "busiest_thread_cpu_s": max(used, default=0.0)}


def spool_import(spool, spool_dir, csv_path, csv_rows, workspace, user):
    """`spool import` (which waits for process-csv to finish) against a fresh `spool serve`."""
    command = [spool, "import", csv_path, "--workspace", workspace, "--user", user, "--spool", spool_dir]
    with SpoolServe(spool, spool_dir, os.path.join(os.path.dirname(spool_dir), "serve-import.log")) as serve:
        before = serve.thread_cpu_s()
        seconds, output, note = run_waiting_command(command, "spool import", spool_dir, serve)
        cpu = cpu_used_between(before, serve.thread_cpu_s())
        peak_rss_mb = serve.peak_rss_mb()
    record = job_record(spool, spool_dir, "imports", printed_id(output, "import"))
    outcome = (f"{record['totalRows']} rows, {record['inserted']} added, {record['updated']} updated, "
               f"{record['skipped']} skipped")
    return {"rows_per_s": csv_rows / seconds, "seconds": seconds, "rows": csv_rows,
            "serve_peak_rss_mb": peak_rss_mb, "outcome": outcome, **cpu, **({"note": note} if note else {})}


def spool_export(spool, spool_dir, workspace, user):
    """`spool export` (which waits for process-export to finish) against a fresh `spool serve`."""
    command = [spool, "export", "--workspace", workspace, "--user", user, "--spool", spool_dir]
    with SpoolServe(spool, spool_dir, os.path.join(os.path.dirname(spool_dir), "serve-export.log")) as serve:
        seconds, output, note = run_waiting_command(command, "spool export", spool_dir, serve)
        peak_rss_mb = serve.peak_rss_mb()
    rows = int(job_record(spool, spool_dir, "exports", printed_id(output, "export"))["rowCount"])
    return {"rows_per_s": rows / seconds, "seconds": seconds, "rows": rows, "serve_peak_rss_mb": peak_rss_mb,
            "outcome": f"{rows} contacts", **({"note": note} if note else {})}


RUN_NOT_FOUND = "disappeared from the spool"


def run_waiting_command(command, what, spool_dir, serve, timeout=600):
    """Runs `spool import` or `spool export`, which wait for their run; returns (seconds, stdout, note).

    These commands can give up early with "run … disappeared from the spool" when they look for
    the run between the intake's dedupe marker and the run's publication into runs/. The run
    goes on in the server; then its end is watched for here, and the note says what happened.
    """
    started = time.monotonic_ns()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode == 0:
        serve.check_alive()
        return elapsed_s(started, time.monotonic_ns()), result.stdout, None
    output = "\n".join(part.strip() for part in (result.stdout, result.stderr) if part.strip())
    run = printed_id(result.stdout, "run") if RUN_NOT_FOUND in output else None
    if run is None:
        raise BenchError(f"{what} exited with {result.returncode}: {' '.join(command)}\n{output[-3000:]}")
    finished = wait_until_run_leaves_runs(spool_dir, run, timeout, serve.check_alive)
    error = next(line for line in output.splitlines() if RUN_NOT_FOUND in line)
    return (elapsed_s(started, finished), result.stdout,
            f"`{what}` exited with {result.returncode} ({error.strip()}); the run's end was watched for in the spool")


def wait_until_run_leaves_runs(spool_dir, run, timeout, check_alive):
    """Waits until the run is in done/<day>/ or failed/; returns that moment (ns)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.isdir(os.path.join(spool_dir, "failed", run)) or \
                glob.glob(os.path.join(glob.escape(spool_dir), "done", "*", run)):
            return time.monotonic_ns()
        check_alive()
        time.sleep(0.02)
    raise BenchError(f"run {run} did not finish within {timeout} s")


def printed_id(output, label):
    """The id on the `<label> <id>` line `spool import` and `spool export` print."""
    for line in output.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == label:
            return fields[1]
    return None


def job_record(spool, spool_dir, listing, record_id):
    """The finished import or export record from `spool imports|exports --json`."""
    records = json.loads(run_checked([spool, listing, "--json", "--spool", spool_dir], f"spool {listing}"))
    for record in records:
        if record["id"] == record_id:
            if record["status"] != "completed":
                raise BenchError(f"{listing[:-1]} {record_id} ended {record['status']}: {record.get('errorLog', '')}")
            return record
    raise BenchError(f"spool {listing} --json has no {record_id}")


def sqlite_import(csv_path, csv_rows, database):
    """The sqlite3 CLI's `.import --csv` of the same file into a plain table of a fresh database."""
    for leftover in (database, database + "-journal", database + "-wal"):
        if os.path.exists(leftover):
            os.remove(leftover)
    seconds, _ = timed(["sqlite3", database, f".import --csv {csv_path} contacts"], "sqlite3 .import")
    table_rows = count_rows(database)
    return {"rows_per_s": csv_rows / seconds, "seconds": seconds, "rows": csv_rows, "table_rows": table_rows}


# `.import` into a temporary table, then one upsert into the contacts table: what SQLite itself
# does for an import through folksbase's schema, without validation, chunk files or steps.
# Ids in creation order, as Spool makes them; the page cache and synchronous setting are Spool's.
UPSERT_FLOOR_SQL = """INSERT INTO contacts (id, workspace_id, email, first_name, last_name, company, phone,
    created_at, updated_at, import_id, import_row)
SELECT 'ct_' || printf('%012d', rowid) || lower(hex(randomblob(4))), 'ws', lower(trim(email)), nullif(first, ''),
    nullif(last, ''), nullif(company, ''), nullif(phone, ''), 1, 1, 'imp', rowid FROM t WHERE true
ON CONFLICT (workspace_id, email) DO NOTHING"""


def sqlite_upsert_floor(spool, csv_path, csv_rows, directory):
    """The sqlite3 CLI upserting the file into a fresh database with folksbase's schema."""
    schema_spool = os.path.join(directory, "schema-spool")
    run_checked([spool, "demo", "seed", "--spool", schema_spool], "spool demo seed")
    schema = run_checked(["sqlite3", os.path.join(schema_spool, "folksbase.sqlite"), ".schema"], "sqlite3 .schema")
    database = os.path.join(directory, "upsert.sqlite")
    run_checked(["sqlite3", database], "sqlite3 (schema)",
                input=schema + "\nPRAGMA journal_mode=WAL;\nINSERT INTO workspaces VALUES ('ws', 'w', 0);\n")
    seconds, _ = timed(["sqlite3", database, "-cmd", "PRAGMA synchronous=FULL", "-cmd", "PRAGMA cache_size=-16384",
                        "-cmd", "CREATE TEMP TABLE t (email, first, last, company, phone)",
                        f".import --csv --skip 1 {csv_path} t", UPSERT_FLOOR_SQL], "sqlite3 upsert")
    return {"rows_per_s": csv_rows / seconds, "seconds": seconds, "rows": csv_rows,
            "table_rows": count_rows(database)}


def sqlite_export(database, out_path):
    """`sqlite3 -csv DB 'select * from contacts' > file` over the plain table."""
    started = time.monotonic_ns()
    with open(out_path, "wb") as out:
        result = subprocess.run(["sqlite3", "-csv", database, "select * from contacts"], stdout=out,
                                stderr=subprocess.PIPE)
    seconds = elapsed_s(started, time.monotonic_ns())
    if result.returncode != 0:
        raise BenchError(f"sqlite3 -csv export failed: {result.stderr.decode(errors='replace').strip()}")
    rows = count_rows(database)
    return {"rows_per_s": rows / seconds, "seconds": seconds, "rows": rows}


def count_rows(database):
    return int(run_checked(["sqlite3", database, "select count(*) from contacts"], "sqlite3 count").strip())

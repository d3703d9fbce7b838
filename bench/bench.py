#!/usr/bin/env python3
"""`make bench`: Spool against its peers, measured side by side in interleaved rounds.

usage: bench.py --bin-dir DIR   (DIR holds the release builds of spool and spool-bench)

Environment: BENCH_ROUNDS (default 3), BENCH_QUICK=1 (small sizes, one round),
BENCH_SPOOL_CONCURRENCY (default 128, the tiny-job server's --concurrency),
BENCH_PROCRASTINATE=0 (leave out the optional procrastinate peer), BENCH_QUIET_MAX_WAIT
(default 30: most seconds to wait for a quiet machine before each measurement) and
BENCH_QUIET_BUDGET (default 300: most seconds to wait for it over the whole run, which keeps
the run short on a busy machine).
Writes bench/results.md (and the raw figures to bench/.work/results.json) and prints it.
"""
import argparse
import dataclasses
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import postgres
import quiet
import report
import workloads
from history import HistorySpool
from systems import BenchError, HueyPeerServer, ProcrastinatePeerServer, SpoolTinyServer, fresh_directory

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
WORK_DIR = os.path.join(BENCH_DIR, ".work")
RUN_DIR = os.path.join(WORK_DIR, "run")
# `layout_floor` again without parts of the layout or the write rules: what each costs.
LAYOUT_VARIANTS = {
    "no-log": ("no-log",),
    "one-flush-per-step": ("one-flush-per-step",),
    "lean": ("no-log", "one-flush-per-step", "no-steps-folder"),
}
# Where a run that stopped before its end left its files, until the next run has measured.
LEFTOVERS_DIR = os.path.join(WORK_DIR, "leftovers")


@dataclasses.dataclass
class Config:
    rounds: int
    quick: bool
    tiny_events: int
    latency_events: int
    latency_spacing_s: float
    csv_rows: int
    history_runs: int
    disk_seconds: float
    spool_concurrency: int
    quiet_max_wait_s: float
    quiet_budget_s: float
    peer_workers: int = 2

    @classmethod
    def from_environment(cls):
        quick = os.environ.get("BENCH_QUICK") == "1"
        return cls(
            rounds=int(os.environ.get("BENCH_ROUNDS", "1" if quick else "3")),
            quick=quick,
            tiny_events=300 if quick else 2000,
            latency_events=50 if quick else 200,
            latency_spacing_s=0.010,
            csv_rows=10_000 if quick else 100_000,
            history_runs=2_000 if quick else 100_000,
            disk_seconds=1.0 if quick else 3.0,
            spool_concurrency=int(os.environ.get("BENCH_SPOOL_CONCURRENCY", "128")),
            quiet_max_wait_s=float(os.environ.get("BENCH_QUIET_MAX_WAIT", "30")),
            quiet_budget_s=float(os.environ.get("BENCH_QUIET_BUDGET", "60" if quick else "300")),
        )


# The Huey peers: name in results -> (Huey storage, redis appendfsync or None).
HUEY_PEERS = {
    "huey-sqlite": ("huey-sqlite", None),
    "huey-redis-always": ("huey-redis", "always"),
    "huey-redis-everysec": ("huey-redis", "everysec"),
}
PROCRASTINATE_CONCURRENCY_PER_WORKER = 2


def procrastinate_not_run_reason():
    if os.environ.get("BENCH_PROCRASTINATE") == "0":
        return "BENCH_PROCRASTINATE=0"
    return postgres.unavailable_reason()


class Bench:
    def __init__(self, config, spool, spool_bench, disk_probe, layout_probe):
        self.config = config
        self.spool = spool
        self.spool_bench = spool_bench
        self.disk_probe = disk_probe
        self.layout_probe = layout_probe
        self.history = HistorySpool(os.path.join(WORK_DIR, "history"))
        self.procrastinate_not_run = procrastinate_not_run_reason()
        self.peers = list(HUEY_PEERS) + ([] if self.procrastinate_not_run else ["procrastinate"])
        self.rounds = []
        self.failures = []
        self.quiet_wait_left_s = config.quiet_budget_s

    def measure(self, figures, name, measurement, *arguments):
        """Waits for a quiet machine, runs one measurement, and stores its figures or its error."""
        os.sync()
        machine = quiet.wait_until_quiet(max_wait=min(self.config.quiet_max_wait_s, self.quiet_wait_left_s))
        self.quiet_wait_left_s = max(0.0, self.quiet_wait_left_s - machine["waited_s"])
        try:
            result = measurement(*arguments)
        except BenchError as error:
            result = {"error": str(error)}
            self.failures.append(f"{name}: {error}")
        result["machine"] = machine
        figures[name] = result
        print(f"  {name:<28} {report.one_line(name, result)}", flush=True)

    def run_round(self, number):
        figures = {}
        round_dir = fresh_directory(os.path.join(RUN_DIR, f"round-{number}"))
        print(f"round {number} of {self.config.rounds}", flush=True)
        for mode in ("durable", "nofsync"):
            self.measure(figures, f"disk/{mode}", workloads.disk_limit, self.disk_probe,
                         os.path.join(round_dir, f"disk-{mode}"), self.config.disk_seconds, mode)
        self.measure(figures, "layout/c", workloads.layout_floor, self.layout_probe, os.path.join(round_dir, "layout"),
                     self.config.tiny_events, self.config.spool_concurrency)
        for variant, parts in LAYOUT_VARIANTS.items():
            self.measure(figures, f"layout/c-{variant}", workloads.layout_floor, self.layout_probe,
                         os.path.join(round_dir, f"layout-{variant}"), self.config.tiny_events,
                         self.config.spool_concurrency, parts)
        self.measure(figures, "tiny/spool", self.on_spool, round_dir, "tiny", self.throughput)
        for peer in self.peers:
            self.measure(figures, f"tiny/{peer}", self.on_peer, round_dir, peer, "tiny", self.throughput)
        self.measure(figures, "tiny/spool-history", self.on_history_spool, round_dir, self.throughput)
        self.measure(figures, "latency/spool", self.on_spool, round_dir, "latency", self.latency)
        for peer in self.peers:
            self.measure(figures, f"latency/{peer}", self.on_peer, round_dir, peer, "latency", self.latency)
        self.run_data_workloads(figures, round_dir)
        self.rounds.append(figures)

    def throughput(self, system):
        return workloads.tiny_throughput(system, self.config.tiny_events)

    def latency(self, system):
        return workloads.enqueue_to_step1_latency(system, self.config.latency_events, self.config.latency_spacing_s)

    def on_spool(self, round_dir, workload_name, workload):
        """Runs the workload on `spool-bench serve` over a fresh, empty spool.

        The spool is kept until the whole run ends: on a file system that skips recently freed
        inodes when it allocates (ext4 without a journal, as here), removing thousands of files
        slows every file creation for minutes after, and so the next measurements.
        """
        state_dir = fresh_directory(os.path.join(round_dir, f"{workload_name}-spool"))
        spool_dir = os.path.join(state_dir, "spool")
        with SpoolTinyServer(self.spool_bench, spool_dir, state_dir, self.config.spool_concurrency) as server:
            return workload(server)

    def on_peer(self, round_dir, peer, workload_name, workload):
        """Runs the workload on a fresh peer: fresh store, fresh database server, fresh workers."""
        state_dir = fresh_directory(os.path.join(round_dir, f"{workload_name}-{peer}"))
        with self.peer_server(peer, state_dir) as server:
            return workload(server)

    def peer_server(self, peer, state_dir):
        if peer == "procrastinate":
            return ProcrastinatePeerServer(state_dir, self.config.peer_workers, PROCRASTINATE_CONCURRENCY_PER_WORKER)
        storage, appendfsync = HUEY_PEERS[peer]
        return HueyPeerServer(storage, state_dir, self.config.peer_workers, appendfsync)

    def on_history_spool(self, round_dir, workload):
        """Runs the workload on the history spool, then moves the runs it added into the round's
        folder, which goes with the rest at the end of the run."""
        state_dir = fresh_directory(os.path.join(round_dir, "tiny-spool-history"))
        kept = self.history.entries()
        try:
            with SpoolTinyServer(self.spool_bench, self.history.spool_dir, state_dir,
                                 self.config.spool_concurrency) as server:
                return workload(server)
        finally:
            self.history.move_entries_not_in(kept, os.path.join(state_dir, "added"))

    def run_data_workloads(self, figures, round_dir):
        """Import, then export, on Spool and on the sqlite3 CLI; the files stay until the run ends."""
        data_dir = fresh_directory(os.path.join(round_dir, "data"))
        spool_dir = os.path.join(data_dir, "spool")
        database = os.path.join(data_dir, "plain.sqlite")
        workspace, user = workloads.seed_demo_workspace(self.spool, spool_dir)
        self.measure(figures, "import/spool", workloads.spool_import, self.spool, spool_dir, self.csv_path,
                     self.config.csv_rows, workspace, user)
        self.measure(figures, "import/sqlite3", workloads.sqlite_import, self.csv_path, self.config.csv_rows,
                     database)
        self.measure(figures, "import/sqlite3-upsert", workloads.sqlite_upsert_floor, self.spool, self.csv_path,
                     self.config.csv_rows, fresh_directory(os.path.join(data_dir, "upsert")))
        if "error" not in figures["import/spool"]:
            self.measure(figures, "export/spool", workloads.spool_export, self.spool, spool_dir, workspace, user)
        if "error" not in figures["import/sqlite3"]:
            self.measure(figures, "export/sqlite3", workloads.sqlite_export, database,
                         os.path.join(data_dir, "plain-export.csv"))

    def generate_csv(self):
        self.csv_path = os.path.join(RUN_DIR, "contacts.csv")
        result = subprocess.run([self.spool, "demo", "csv", "--rows", str(self.config.csv_rows),
                                 "--out", self.csv_path], capture_output=True, text=True)
        if result.returncode != 0:
            raise BenchError(f"spool demo csv failed: {result.stderr.strip()}")
        return result.stderr.strip()


def environment_facts(spool):
    filesystem = command_output(["findmnt", "-n", "-o", "FSTYPE,SOURCE,OPTIONS", "-T", WORK_DIR])
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_gib": round(memory_kib() / 1024 / 1024, 1),
        "kernel": os.uname().release,
        "filesystem": filesystem,
        "ext4_journal": ext4_journal(filesystem),
        "python": sys.version.split()[0],
        "huey": package_version("huey"),
        "redis_py": package_version("redis"),
        "redis_server": command_output(["redis-server", "--version"]),
        "sqlite3": command_output(["sqlite3", "--version"]).split(" ")[0],
        "sqlite_synchronous_in_wal": sqlite_synchronous_default(),
        "procrastinate": optional_package_version("procrastinate"),
        "postgres": command_output([os.path.join(postgres.binaries() or "", "postgres"), "--version"]),
        "spool_binary": spool,
    }


def ext4_journal(findmnt_line):
    """For ext4, whether the file system `findmnt -o FSTYPE,SOURCE,…` names keeps a journal
    (True/False); else None.

    Without one, every file creation skips the inodes freed in the last minutes, one lookup each:
    the bench removes nothing while it measures.
    """
    source = findmnt_line.split()
    if len(source) < 2 or source[0] != "ext4":
        return None
    try:
        with open(f"/sys/fs/ext4/{os.path.basename(source[1])}/journal_task") as journal_task:
            return journal_task.read().strip() != "<none>"
    except OSError:
        return None


def set_aside_leftovers():
    """Moves what an interrupted run left into LEFTOVERS_DIR: removing it now would slow the
    file creations this run measures (see `ext4_journal`)."""
    if os.path.exists(RUN_DIR):
        os.makedirs(LEFTOVERS_DIR, exist_ok=True)
        os.rename(RUN_DIR, os.path.join(LEFTOVERS_DIR, f"run-{time.time_ns()}"))


def git_commit():
    commit = command_output(["git", "-C", BENCH_DIR, "rev-parse", "--short=12", "HEAD"])
    changed = command_output(["git", "-C", BENCH_DIR, "status", "--porcelain", "--untracked-files=no"])
    return commit + (" (with uncommitted changes)" if changed else "")


def cpu_model():
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def memory_kib():
    with open("/proc/meminfo") as meminfo:
        return int(meminfo.readline().split()[1])


def command_output(command):
    try:
        return subprocess.run(command, capture_output=True, text=True).stdout.strip()
    except (FileNotFoundError, PermissionError):
        return "not installed"


def package_version(name):
    from importlib.metadata import version

    return version(name)


def optional_package_version(name):
    from importlib.metadata import PackageNotFoundError

    try:
        return package_version(name)
    except PackageNotFoundError:
        return None


def sqlite_synchronous_default():
    """PRAGMA synchronous of a fresh WAL database through Python's sqlite3, as SqliteHuey opens it."""
    import sqlite3

    path = os.path.join(WORK_DIR, "synchronous-probe.sqlite")
    connection = sqlite3.connect(path)
    try:
        connection.execute("pragma journal_mode=wal")
        value = connection.execute("pragma synchronous").fetchone()[0]
    finally:
        connection.close()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    return {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(value, str(value))


def stop_on_sigterm():
    """Turns SIGTERM into KeyboardInterrupt so every `finally` stops what it started."""
    def interrupt(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin-dir", required=True, help="folder of the release spool and spool-bench")
    arguments = parser.parse_args()
    stop_on_sigterm()
    config = Config.from_environment()
    spool = os.path.join(arguments.bin_dir, "spool")
    spool_bench = os.path.join(arguments.bin_dir, "spool-bench")
    for binary in (spool, spool_bench):
        if not os.access(binary, os.X_OK):
            sys.exit(f"bench: {binary} is missing; build it with swift build -c release --product {os.path.basename(binary)}")

    started = time.monotonic()
    bench = Bench(config, spool, spool_bench, os.path.join(WORK_DIR, "disk_limit"), os.path.join(WORK_DIR, "layout_floor"))
    set_aside_leftovers()
    fresh_directory(RUN_DIR)
    try:
        history = bench.history.ensure(spool_bench, config.history_runs)
        csv_outcome = bench.generate_csv()
        for number in range(1, config.rounds + 1):
            bench.run_round(number)
    except BenchError as error:
        sys.exit(f"bench: {error}")
    if not bench.failures:
        shutil.rmtree(RUN_DIR, ignore_errors=True)
    shutil.rmtree(LEFTOVERS_DIR, ignore_errors=True)

    run = {"config": dataclasses.asdict(config), "facts": environment_facts(spool), "history": history,
           "csv_outcome": csv_outcome, "procrastinate_not_run": bench.procrastinate_not_run, "rounds": bench.rounds, "failures": bench.failures,
           "duration_s": time.monotonic() - started}
    with open(os.path.join(WORK_DIR, "results.json"), "w") as raw:
        json.dump(run, raw, indent=1)
    markdown = report.render(run)
    with open(os.path.join(BENCH_DIR, "results.md"), "w") as results:
        results.write(markdown)
    print()
    print(markdown)
    print(f"written to bench/results.md in {run['duration_s'] / 60:.1f} minutes")
    if bench.failures:
        sys.exit("bench: some measurements failed (logs kept in bench/.work/run):\n  " + "\n  ".join(bench.failures))


if __name__ == "__main__":
    main()

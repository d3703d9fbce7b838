"""The job systems under test, each a context manager that starts it, warms it up and stops
it (also on an error or Ctrl-C): Spool's benchmark server and the peers (Huey, procrastinate).

Each offers `enqueue(event)`, which returns the CLOCK_MONOTONIC time taken just before the
act that enqueues, and `marks`, the timing marks its job writes.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

WARM_UP_EVENTS = range(-10, 0)
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))


class BenchError(Exception):
    """A measurement or a peer's setup failed; the message says what and where to look."""


def start_process(command, log_path, **options):
    """Starts `command` in a process group of its own, its output appended to `log_path`."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, **options)


def stop_process(process, stop_signal=signal.SIGTERM, timeout=60):
    """Signals the process's group, waits for the leader, and kills the group if it lingers."""
    if process.poll() is None:
        signal_group(process, stop_signal)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            signal_group(process, signal.SIGKILL)
            process.wait()
    signal_group(process, signal.SIGKILL)  # children left behind by the leader


def signal_group(process, number):
    try:
        os.killpg(process.pid, number)
    except ProcessLookupError:
        pass


def log_tail(path, lines=15):
    try:
        with open(path, errors="replace") as log:
            return "".join(log.readlines()[-lines:])
    except FileNotFoundError:
        return ""


def free_loopback_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_s_of(stat_path):
    """CPU seconds (user + system) used so far, from a /proc stat file: a process's
    (/proc/PID/stat, all its threads) or one thread's (/proc/PID/task/TID/stat)."""
    with open(stat_path) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fresh_directory(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


class Marks:
    """Reads the "S1 <event> <ns>" / "D <event> <ns>" lines a job appends, as they come."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.partial = b""
        self.step1_started = {}
        self.done = {}

    def read_new(self):
        try:
            with open(self.path, "rb") as marks:
                marks.seek(self.offset)
                data = marks.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            tag, event, nanoseconds = line.split()
            target = self.step1_started if tag == b"S1" else self.done
            target[int(event)] = int(nanoseconds)

    def wait_done(self, events, timeout, check_alive):
        """Waits until every event has its D mark; returns the last D time (ns)."""
        events = set(events)
        deadline = time.monotonic() + timeout
        while True:
            self.read_new()
            if events <= self.done.keys():
                return max(self.done[event] for event in events)
            if time.monotonic() > deadline:
                missing = len(events - self.done.keys())
                raise BenchError(f"{missing} of {len(events)} events not done after {timeout:.0f} s")
            check_alive()
            time.sleep(0.002)


class SpoolTinyServer:
    """`spool-bench serve` on a spool; events go in by a plain rename into incoming/."""

    def __init__(self, spool_bench, spool_dir, state_dir, concurrency):
        self.spool_bench = spool_bench
        self.spool_dir = spool_dir
        self.state_dir = state_dir
        self.concurrency = concurrency
        self.log_path = os.path.join(state_dir, "serve.log")
        self.marks = Marks(os.path.join(state_dir, "marks.log"))
        self.process = None
        self.sequence = 0

    def __enter__(self):
        command = [self.spool_bench, "serve", "--spool", self.spool_dir, "--marks", self.marks.path,
                   "--concurrency", str(self.concurrency)]
        self.process = start_process(command, self.log_path)
        try:
            self.wait_for_incoming()
            warm_up(self, timeout=300)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_):
        stop_process(self.process, signal.SIGTERM)

    def cpu_s(self):
        return cpu_s_of(f"/proc/{self.process.pid}/stat")

    def wait_for_incoming(self, timeout=60):
        deadline = time.monotonic() + timeout
        while not os.path.isdir(os.path.join(self.spool_dir, "incoming")):
            self.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"spool-bench serve made no incoming/ in {timeout} s; see {self.log_path}")
            time.sleep(0.01)

    def enqueue(self, event):
        self.sequence += 1
        name = f"bench-{os.getpid()}-{self.sequence}-{event}.json"
        staged = os.path.join(self.spool_dir, "tmp", "." + name)
        payload = json.dumps({"name": "bench/tiny", "data": {"event": event}}).encode()
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, payload)
        finally:
            os.close(fd)
        sent = time.monotonic_ns()
        os.rename(staged, os.path.join(self.spool_dir, "incoming", name))
        return sent

    def check_alive(self):
        if self.process.poll() is not None:
            raise BenchError(f"spool-bench serve exited with {self.process.returncode}:\n"
                             f"{log_tail(self.log_path)}")


class RedisServer:
    """A private redis-server on loopback with append-only persistence."""

    def __init__(self, state_dir, appendfsync):
        self.directory = os.path.join(state_dir, "redis")
        self.appendfsync = appendfsync
        self.port = free_loopback_port()
        self.log_path = os.path.join(state_dir, "redis.log")
        self.process = None

    def __enter__(self):
        os.makedirs(self.directory, exist_ok=True)
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                   "--dir", self.directory, "--save", "", "--appendonly", "yes",
                   "--appendfsync", self.appendfsync, "--daemonize", "no", "--protected-mode", "yes"]
        self.process = start_process(command, self.log_path)
        try:
            self.wait_until_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_):
        stop_process(self.process, signal.SIGTERM)

    def wait_until_ready(self, timeout=30):
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                client.close()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"redis-server did not start on port {self.port}:\n{log_tail(self.log_path)}")
                time.sleep(0.01)


class HueyPeerServer:
    """Huey's own consumer (`huey_consumer -k process -w N`) plus an in-process producer."""

    def __init__(self, peer, state_dir, workers, redis_appendfsync=None):
        self.peer = peer
        self.state_dir = state_dir
        self.workers = workers
        self.redis = RedisServer(state_dir, redis_appendfsync) if redis_appendfsync else None
        self.log_path = os.path.join(state_dir, "consumer.log")
        self.marks = Marks(os.path.join(state_dir, "marks.log"))
        self.consumer = None
        self.producer = None

    def __enter__(self):
        try:
            if self.redis:
                self.redis.__enter__()
            self.start_consumer()
            warm_up(self, timeout=60)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_):
        try:
            if self.producer:
                self.producer.close()
            if self.consumer:
                stop_process(self.consumer, signal.SIGINT)  # Huey's graceful shutdown signal
        finally:
            if self.redis and self.redis.process:
                self.redis.__exit__()

    def start_consumer(self):
        import huey_peer

        redis_port = self.redis.port if self.redis else 0
        environment = dict(os.environ, BENCH_PEER=self.peer, BENCH_STATE=self.state_dir,
                           BENCH_REDIS_PORT=str(redis_port), PYTHONPATH=BENCH_DIR)
        consumer = os.path.join(os.path.dirname(sys.executable), "huey_consumer")
        command = [consumer, "huey_peer.huey", "-k", "process", "-w", str(self.workers), "-q", "-C"]
        self.consumer = start_process(command, self.log_path, cwd=BENCH_DIR, env=environment)
        self.producer = huey_peer.HueyPeer(self.peer, self.state_dir, redis_port)

    def enqueue(self, event):
        sent = time.monotonic_ns()
        self.producer.enqueue(event)
        return sent

    def check_alive(self):
        if self.consumer.poll() is not None:
            raise BenchError(f"huey_consumer ({self.peer}) exited with {self.consumer.returncode}:\n"
                             f"{log_tail(self.log_path)}")
        if self.redis and self.redis.process.poll() is not None:
            raise BenchError(f"redis-server exited:\n{log_tail(self.redis.log_path)}")


def warm_up(system, timeout):
    for event in WARM_UP_EVENTS:
        system.enqueue(event)
    system.marks.wait_done(WARM_UP_EVENTS, timeout, system.check_alive)


class ProcrastinatePeerServer:
    """procrastinate's own workers (`procrastinate worker`, N processes) on a private PostgreSQL."""

    def __init__(self, state_dir, workers, concurrency_per_worker):
        from postgres import PostgresServer
        from procrastinate_peer import DATABASE

        self.state_dir = state_dir
        self.workers = workers
        self.concurrency_per_worker = concurrency_per_worker
        self.postgres = PostgresServer(state_dir, DATABASE)
        self.log_path = os.path.join(state_dir, "workers.log")
        self.marks = Marks(os.path.join(state_dir, "marks.log"))
        self.processes = []
        self.producer = None

    def __enter__(self):
        try:
            self.postgres.__enter__()
            self.start_workers()
            warm_up(self, timeout=60)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_):
        try:
            if self.producer:
                self.producer.close()
            for process in self.processes:
                stop_process(process, signal.SIGTERM)
        finally:
            if self.postgres.process:
                self.postgres.__exit__()

    def start_workers(self):
        import procrastinate_peer

        self.producer = procrastinate_peer.ProcrastinatePeer(self.state_dir, self.postgres.socket_dir,
                                                             self.postgres.port)
        self.producer.create_schema()
        environment = dict(os.environ, BENCH_STATE=self.state_dir, BENCH_PG_HOST=self.postgres.socket_dir,
                           BENCH_PG_PORT=str(self.postgres.port), PYTHONPATH=BENCH_DIR)
        command = [os.path.join(os.path.dirname(sys.executable), "procrastinate"),
                   "--app=procrastinate_peer.app", "worker", "--concurrency", str(self.concurrency_per_worker)]
        for number in range(self.workers):
            self.processes.append(start_process(command + ["--name", f"bench-{number}"], self.log_path,
                                                cwd=BENCH_DIR, env=environment))

    def enqueue(self, event):
        sent = time.monotonic_ns()
        self.producer.enqueue(event)
        return sent

    def check_alive(self):
        for process in self.processes:
            if process.poll() is not None:
                raise BenchError(f"procrastinate worker exited with {process.returncode}:\n{log_tail(self.log_path)}")
        if self.postgres.process.poll() is not None:
            raise BenchError(f"PostgreSQL exited:\n{log_tail(self.postgres.log_path)}")

"""A private PostgreSQL cluster for the procrastinate peer, made once in bench/.work/postgres.

Each measurement starts the server on a Unix socket only (no TCP), on a fresh `bench`
database, and stops it afterwards. PostgreSQL keeps its defaults: fsync on,
synchronous_commit on. initdb and the server refuse to run as root, so as root they run
as the `postgres` user.
"""
import glob
import os
import shutil
import signal
import subprocess
import time

from systems import BenchError, free_loopback_port, log_tail, start_process, stop_process

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".work", "postgres")
DATA_DIR = os.path.join(ROOT, "data")
SOCKET_DIR = os.path.join(ROOT, "socket")
SUPERUSER = "postgres"


def binaries():
    """The newest installed server's bin directory, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda path: int(path.split("/")[4]))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def as_server_user(command):
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] + command


def owned_by_server_user(path):
    os.makedirs(path, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
    os.chmod(path, 0o700)


def unavailable_reason():
    """Why the procrastinate peer cannot run here, or None when it can."""
    try:
        import procrastinate  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as error:
        return f"procrastinate is not installed in bench/.venv ({error.name})"
    bin_dir = binaries()
    if bin_dir is None:
        return "PostgreSQL server binaries not found (apt-get install postgresql)"
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        return "running as root and setpriv is missing to run PostgreSQL as the postgres user"
    try:
        ensure_cluster(bin_dir)
    except BenchError as error:
        return str(error)
    return None


def ensure_cluster(bin_dir):
    if os.path.exists(os.path.join(DATA_DIR, "PG_VERSION")):
        return
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    owned_by_server_user(DATA_DIR)
    owned_by_server_user(SOCKET_DIR)
    result = subprocess.run(as_server_user([os.path.join(bin_dir, "initdb"), "-D", DATA_DIR, "-A", "trust",
                                            "-U", SUPERUSER]), capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(DATA_DIR, ignore_errors=True)
        raise BenchError(f"initdb failed: {result.stderr.strip()[-500:]}")


class PostgresServer:
    """The cluster's server for one measurement, with a fresh `bench` database."""

    def __init__(self, state_dir, database):
        self.port = free_loopback_port()
        self.socket_dir = SOCKET_DIR
        self.database = database
        self.log_path = os.path.join(state_dir, "postgres.log")
        self.process = None

    def __enter__(self):
        command = [os.path.join(binaries(), "postgres"), "-D", DATA_DIR, "-p", str(self.port),
                   "-k", SOCKET_DIR, "-c", "listen_addresses="]
        self.process = start_process(as_server_user(command), self.log_path)
        try:
            self.recreate_database()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_):
        stop_process(self.process, signal.SIGINT)  # PostgreSQL's fast shutdown

    def recreate_database(self, timeout=60):
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(host=SOCKET_DIR, port=self.port, user=SUPERUSER, dbname="postgres",
                                     autocommit=True) as connection:
                    connection.execute(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
                    connection.execute(f"CREATE DATABASE {self.database}")
                    return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"PostgreSQL did not start:\n{log_tail(self.log_path)}")
                time.sleep(0.05)

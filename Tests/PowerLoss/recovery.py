"""Start-up recovery on a crash image: `spool serve` until it has nothing left to do, SIGTERM,
then an audit of what it left.

The audit holds the spool to its promises after a power loss:
- the server starts, works and stops on SIGTERM with status 0;
- every event the spool owed (acknowledged to its sender, or found anywhere in the image) ends
  in exactly one run in done/, and nothing is left in runs/, incoming/ or tmp/'s claims;
- nothing is failed, cancelled or rejected (this workload has no reason to);
- every published JSON file parses: run.json, event.json, steps/*.json, ids/*, cron/*;
- no step completed twice in a run's log, each run sent one email, and no email belongs to a
  run that does not exist;
- the database passes SQLite's integrity check.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field

import spool_files
from spool_files import visible


@dataclass
class Recovery:
    problems: list = field(default_factory=list)
    seconds: float = 0.0
    done: int = 0
    emails: int = 0
    # Debris that does no harm but was not cleaned at start-up: "runs/.stage-…".
    leftovers: list = field(default_factory=list)


def recover(binary: str, spool: str, owed: set, seconds: float = 30) -> Recovery:
    """Serves the crash image at `spool` until quiet, stops it, and audits the result."""
    result = Recovery()
    log_path = spool + "-recovery.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [binary, "serve", "--spool", spool, "--rescan-seconds", "0.2"], stdout=log, stderr=log
        )
    try:
        finished = wait_for_quiet(server, spool, log_path, seconds)
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                result.problems.append(f"spool serve did not stop within {seconds} s of SIGTERM")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    result.seconds = time.monotonic() - started
    if not finished:
        result.problems.append(f"work still pending after {seconds} s: {pending(spool)}")
    if server.returncode != 0:
        result.problems.append(f"spool serve exited with {server.returncode}: {tail(log_path)}")
    audit(spool, owed, result)
    return result


def wait_for_quiet(server: subprocess.Popen, spool: str, log: str, seconds: float) -> bool:
    """Waits until the server serves and has nothing left to do, or has exited, or time is up.

    The server logs that it serves only after its start-up recovery: claims finished, runs and
    incoming/ scanned. From then on, with no new input, a quiet spool stays quiet.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return True
        if spool_files.log_says_serving(log) and spool_files.is_quiet(spool):
            return True
        time.sleep(0.02)
    return False


def pending(spool: str) -> list:
    return (
        ["runs/" + name for name in visible(os.path.join(spool, "runs"))]
        + ["incoming/" + name for name in visible(os.path.join(spool, "incoming"))]
        + ["tmp/" + name for name in spool_files.hidden(os.path.join(spool, "tmp"), ".claim-")]
    )


def tail(path: str, lines: int = 5) -> str:
    try:
        with open(path, errors="replace") as file:
            return " / ".join(file.read().strip().splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def audit(spool: str, owed: set, result: Recovery):
    problems = result.problems
    for folder in ("runs", "incoming", "failed", "rejected"):
        names = visible(os.path.join(spool, folder))
        if names:
            problems.append(f"{folder}/ still holds {names}")
    for day in visible(os.path.join(spool, "cancelled")):
        problems.append(f"cancelled/{day} holds {visible(os.path.join(spool, 'cancelled', day))}")
    claims = spool_files.hidden(os.path.join(spool, "tmp"), ".claim-")
    if claims:
        problems.append(f"claims left in tmp/: {claims}")
    runs_by_event = {}
    emails = visible(os.path.join(spool, "outbox"))
    run_ids = set()
    for path, run in spool_files.done_runs(spool):
        run_ids.add(run)
        mark = audit_run(path, run, problems)
        runs_by_event.setdefault(mark, []).append(run)
        sent = [name for name in emails if name.startswith(run + "-")]
        if len(sent) != 1:
            problems.append(f"run {run} sent {len(sent)} emails")
    for mark, runs in sorted(runs_by_event.items(), key=lambda item: str(item[0])):
        if len(runs) > 1:
            problems.append(f"event {mark} ran {len(runs)} times: {runs}")
    lost = sorted(owed - set(runs_by_event))
    if lost:
        problems.append(f"events lost: {lost}")
    for name in emails:
        if not any(name.startswith(run + "-") for run in run_ids):
            problems.append(f"outbox/{name} belongs to no run in done/")
    for folder in ("ids", "cron"):
        for name in visible(os.path.join(spool, folder)):
            parse(os.path.join(spool, folder, name), f"{folder}/{name}", problems)
    check_database(os.path.join(spool, "folksbase.sqlite"), problems)
    result.done = len(run_ids)
    result.emails = len(emails)
    result.leftovers = leftovers(spool)


def audit_run(path: str, run: str, problems: list):
    """Checks one run in done/; returns its event's `data.n`."""
    record = parse(os.path.join(path, "run.json"), f"{run}/run.json", problems)
    if isinstance(record, dict) and record.get("status") != "completed":
        problems.append(f"{run} is {record.get('status')} in done/")
    event = parse(os.path.join(path, "event.json"), f"{run}/event.json", problems)
    for name in visible(os.path.join(path, "steps")):
        step = parse(os.path.join(path, "steps", name), f"{run}/steps/{name}", problems)
        if not name.endswith(".json") or not isinstance(step, dict) or "data" not in step:
            problems.append(f"{run}/steps/{name} is not a step result")
    for step in ("fetch-user", "send-welcome-email"):
        if not os.path.exists(os.path.join(path, "steps", step + ".json")):
            problems.append(f"{run} has no steps/{step}.json")
    completions = {}
    for entry in log_entries(os.path.join(path, "log.jsonl")):
        if entry.get("kind") == "stepCompleted":
            completions[entry.get("step")] = completions.get(entry.get("step"), 0) + 1
    for step, count in sorted(completions.items(), key=lambda item: str(item[0])):
        if count > 1:
            problems.append(f"{run}: step {step} completed {count} times")
    marks = spool_files.event_marks(event) if event is not None else []
    return marks[0] if marks else None


def parse(path: str, label: str, problems: list):
    try:
        return spool_files.read_json(path)
    except ValueError as problem:
        problems.append(f"{label} {problem}")
        return None


def log_entries(path: str) -> list:
    """The log's entries that parse; a torn line (a crash mid-append) is skipped, as the engine does."""
    entries = []
    try:
        with open(path, "rb") as file:
            lines = file.read().split(b"\n")
    except FileNotFoundError:
        return entries
    for line in lines:
        try:
            entries.append(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
    return entries


def check_database(path: str, problems: list):
    try:
        connection = sqlite3.connect(path)
        try:
            verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
            users = connection.execute("SELECT count(*) FROM users").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.Error as error:
        problems.append(f"folksbase.sqlite: {error}")
        return
    if verdict != "ok":
        problems.append(f"folksbase.sqlite integrity check: {verdict}")
    if users < 1:
        problems.append("folksbase.sqlite lost the seeded user")


def is_debris(name: str) -> bool:
    """A temp file or a staging directory: dot-named files the spool documents (a run's
    `.run.json.spare`) are not debris."""
    return name.startswith(".") and (".tmp-" in name or name.startswith(".stage-"))


def leftovers(spool: str) -> list:
    """Temp files and staging directories still in the spool's engine folders and finished runs."""
    found = []
    for folder in ("runs", "tmp", "ids", "outbox", "cron"):
        directory = os.path.join(spool, folder)
        found += [f"{folder}/{name}" for name in listing(directory) if is_debris(name)]
    for path, run in spool_files.done_runs(spool):
        for folder in ("", "steps"):
            names = listing(os.path.join(path, folder))
            found += [f"done/…/{run}/{folder + '/' if folder else ''}{name}" for name in names if is_debris(name)]
    return found


def listing(directory: str) -> list:
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []

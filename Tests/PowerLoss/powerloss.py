"""Power loss on the real binary: record, simulate, crash, recover, audit.

1. Prepare a spool (`spool demo seed`, plus welcome events dropped into incoming/ without an
   id); what it holds before the trace is taken as durable.
2. Record `spool serve` under strace while `spool send` sends more events, until all are done.
3. Replay the trace on a simulated file system (simfs) that keeps a volatile and a durable view.
4. At each chosen crash point, make crash images (simfs.VARIANTS) of what a power loss would
   leave, and run the real `spool serve` on each until it has nothing left to do (recovery).
5. Write a JSON report: the calls seen, every image's state before recovery and every problem.

Usage: python3 -B powerloss.py --bin .build/debug/spool --work /tmp/x --report report.json
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import recovery
import simfs
import spool_files
import strace_log
import trace_replay

HERE = os.path.dirname(os.path.abspath(__file__))
WELCOME = "user/signed.up"


@dataclass
class CrashPoint:
    """A power loss right after the trace's step `after` (-1: before the first step)."""

    after: int
    moment: str  # "before sync #3"
    kind: str  # "fsync runs, flushing renameat2 runs/.stage-<run> → runs/<run>"

    @property
    def label(self) -> str:
        return f"{self.moment}: {self.kind}"


@dataclass
class CrashImage:
    point: CrashPoint
    variant: str
    # The random variant's seed, and which of the point's random images this is.
    seed: int | None
    draw: int
    image: dict
    acknowledged: set
    duplicate_of: str | None = None

    @property
    def name(self) -> str:
        return f"{self.point.after + 1:05d}-{self.variant}" + (f"-{self.draw}" if self.draw else "")

    @property
    def label(self) -> str:
        return self.variant + (f" #{self.draw + 1}" if self.draw else "")


# 1. Prepare


ENGINE_FOLDERS = ("tmp", "incoming", "runs", "done", "failed", "cancelled", "rejected", "ids", "cron")


def prepare(binary: str, spool: str, dropped: int, fresh: bool) -> dict:
    """Seeds the demo workspace and drops `dropped` events without an id; returns the seeded ids.

    A fresh spool has only its database: `spool serve` creates the folders during the trace.
    """
    seeded = subprocess.run([binary, "demo", "seed", "--spool", spool], capture_output=True, text=True, check=True)
    ids = json.loads(seeded.stdout)
    if fresh:
        for folder in ENGINE_FOLDERS:
            os.rmdir(os.path.join(spool, folder))
    for index in range(dropped):
        event = {"name": WELCOME, "data": {"userId": ids["userId"], "workspaceId": ids["workspaceId"]}}
        event["data"]["n"] = f"dropped-{index}"
        staged = os.path.join(spool, "tmp", f"dropped-{index}.json")
        with open(staged, "w") as file:
            json.dump(event, file)
        os.rename(staged, os.path.join(spool, "incoming", f"dropped-{index}.json"))
    os.sync()
    return ids


# 2. Record


def strace_path() -> str | None:
    return shutil.which("strace")


def record(binary: str, work: str, spool: str, ids: dict, sends: int, dropped: int, seconds: float) -> str:
    """Runs the workload under strace; returns the trace's path."""
    trace = os.path.join(work, "serve.trace")
    command = [
        strace_path(), "-f", "-y", "-qq", "-xx", "-s", str(64 << 20), "-o", trace,
        "-e", "trace=" + trace_replay.TRACED_CALLS,
        sys.executable, "-B", os.path.join(HERE, "workload.py"),
        "--bin", binary, "--spool", spool, "--ids", json.dumps(ids), "--sends", str(sends),
        "--expected-runs", str(sends + dropped), "--marker", os.path.join(work, "acknowledged"),
        "--log", os.path.join(work, "serve.log"), "--seconds", str(seconds),
    ]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, timeout=seconds * 3)
    if finished.returncode != 0:
        raise SystemExit(f"the traced workload failed ({finished.returncode}): {finished.stderr[-2000:]}")
    return trace


# 3. Replay


def replay(snapshot: simfs.SimulatedFileSystem, spool: str, work: str, events: list, stop=None):
    replayer = trace_replay.Replayer(snapshot, spool, work, os.path.join(work, "acknowledged"), events)
    replayer.replay(events, stop)
    return replayer


def shorten(text: str) -> str:
    """Text with run ids, unique suffixes and dates replaced by placeholders, for the table."""
    rules = [
        (r"\d{8}T\d{6}\.\d{3}Z-send-welcome-[0-9a-f]{8}", "<run>"),
        (r"\.tmp-[0-9a-z-]+", ".tmp-…"),
        (r"\.claim-[^~ ]*~[^ ]*", ".claim-…"),
        (r"tmp/\d{8}T\d{6}\.\d{3}Z-[0-9a-z-]+\.json", "tmp/<event>.json"),
        (r"incoming/\d{8}T\d{6}\.\d{3}Z-[0-9a-z-]+\.json", "incoming/<event>.json"),
        (r"tmp/\.\d{8}T[^ ]*", "tmp/.<event>.json.tmp-…"),
        (r"\d{4}-\d{2}-\d{2}", "<day>"),
        (r"<run>-send-welcome-email\.[^ ]*\.eml", "<message>.eml"),
        (r"ids/evt_[0-9a-f-]+", "ids/<event id>"),
    ]
    for pattern, replacement in rules:
        text = re.sub(pattern, replacement, text)
    return text


def crash_points(steps: list, choice: str) -> list:
    """Where to cut the power: around syncs, each sync known by the last change it flushes.

    "kinds": just before and just after the first and the last sync of each kind; "all": just
    before and just after every sync; a number N: N points spread over all of them, plus the kinds.
    """
    candidates = {}
    last_change = None
    number = 0
    for step in steps:
        if step.kind == "change":
            last_change = step
        if step.kind != "sync":
            continue
        number += 1
        flushed = f", flushing {shorten(last_change.describe())}" if last_change else ""
        kind = shorten(step.describe()) + flushed
        candidates.setdefault(step.index - 1, CrashPoint(step.index - 1, f"before sync #{number}", kind))
        candidates.setdefault(step.index, CrashPoint(step.index, f"after sync #{number}", kind))
    ordered = [candidates[index] for index in sorted(candidates)]
    if choice == "all":
        return ordered
    by_kind = {}
    for point in ordered:
        by_kind.setdefault((point.moment.split()[0], point.kind), []).append(point)
    picked = {points[0].after: points[0] for points in by_kind.values()}
    picked.update({points[-1].after: points[-1] for points in by_kind.values()})
    if choice != "kinds":
        count = int(choice)
        for position in range(count):
            point = ordered[min(len(ordered) - 1, (position * len(ordered)) // max(1, count))]
            picked.setdefault(point.after, point)
    return [picked[index] for index in sorted(picked)]


def crash_images(
    snapshot_dir: str, spool: str, work: str, events: list, points: list, variants: list, seed: int, draws: int
):
    """The crash images at each point (`draws` of the random variant), replaying the trace once."""
    snapshot = simfs.SimulatedFileSystem.from_directory(snapshot_dir)
    wanted = {point.after: point for point in points}
    images = []
    # Owed from the start: the events the spool held before the trace, all of it durable.
    acknowledged = spool_files.census(snapshot_dir).owed

    def take(point: CrashPoint):
        for variant in variants:
            for draw in range(draws if variant == simfs.RANDOM else 1):
                rng = random.Random(f"{seed}:{point.after}:{draw}") if variant == simfs.RANDOM else None
                image = snapshot.crash_image(variant, rng)
                images.append(CrashImage(point, variant, seed if rng else None, draw, image, set(acknowledged)))

    def stop(step: trace_replay.Step) -> bool:
        if step.kind == "marker":
            acknowledged.update(line.split()[1] for line in step.text.decode().splitlines() if line.strip())
        if step.index in wanted:
            take(wanted[step.index])
        return False

    if -1 in wanted:
        take(wanted[-1])
    replay(snapshot, spool, work, events, stop)
    return images


# 4. Recover


def check(binary: str, work: str, image: CrashImage, seconds: float, keep: bool) -> dict:
    directory = os.path.join(work, "images", image.name)
    spool = os.path.join(directory, "spool")
    simfs.materialize(image.image, spool)
    before = spool_files.census(spool)
    owed = before.owed | image.acknowledged
    result = recovery.recover(binary, spool, owed, seconds)
    # Judged by the outcome: a file torn in the image counts only if recovery leaves it so.
    problems = result.problems
    if problems and keep:
        simfs.materialize(image.image, os.path.join(directory, "crash-image"))
    else:
        shutil.rmtree(directory, ignore_errors=True)
    return {
        "image": image.name,
        "variant": image.label,
        "seed": image.seed,
        "before": before.summary(),
        "acknowledged": sorted(image.acknowledged),
        "owed": sorted(owed, key=str),
        "problems": problems,
        "problems_in_short": [shorten(problem) for problem in problems],
        "leftovers": [shorten(item) for item in result.leftovers],
        "done": result.done,
        "emails": result.emails,
        "seconds": round(result.seconds, 2),
        "kept": directory if problems and keep else None,
    }


# 5. Report


def calls_touching_spool(steps: list) -> dict:
    return dict(sorted(collections.Counter(step.call for step in steps if step.kind != "marker").items()))


def mark_duplicates(images: list):
    """Marks each image equal to an earlier one (same files, same acknowledgements), to check once."""
    first = {}
    for image in images:
        key = (simfs.image_fingerprint(image.image), frozenset(image.acknowledged))
        original = first.setdefault(key, image.name)
        image.duplicate_of = None if original == image.name else original


def check_all(arguments, binary: str, work: str, images: list) -> dict:
    """Recovers every distinct image, `arguments.jobs` at a time; results by image name."""
    distinct = [image for image in images if image.duplicate_of is None]
    with ThreadPoolExecutor(max_workers=arguments.jobs) as pool:
        results = pool.map(lambda image: check(binary, work, image, arguments.seconds, arguments.keep), distinct)
        return dict(zip([image.name for image in distinct], results))


def point_reports(points: list, images: list, results: dict) -> list:
    reports = []
    for point in points:
        entries = []
        for image in (image for image in images if image.point is point):
            if image.duplicate_of:
                same = results[image.duplicate_of]
                entries.append({**same, "image": image.name, "variant": image.label, "same_as": image.duplicate_of})
            else:
                entries.append(results[image.name])
        reports.append(
            {"after_step": point.after, "label": point.label, "moment": point.moment, "kind": point.kind, "images": entries}
        )
    return reports


def trace_report(trace: str, full: trace_replay.Replayer, spool: str) -> dict:
    """What the trace held, and whether the model followed it: after the whole trace, the model's
    volatile view must be the real spool (the mmapped SQLite index aside)."""
    with open(trace) as file:
        lines = sum(1 for _ in file)
    return {
        "lines": lines,
        "calls": calls_touching_spool(full.steps),
        "steps": len(full.steps),
        "syncs": sum(1 for step in full.steps if step.kind == "sync"),
        "acknowledgements": sum(1 for step in full.steps if step.kind == "marker"),
        "path_mismatches": full.path_mismatches,
        "model_differences": full.fs.differences(spool, ignore_content=lambda name: name.endswith(b"-shm")),
    }


def run(arguments) -> dict:
    started = time.monotonic()
    binary = os.path.abspath(arguments.bin)
    work = os.path.abspath(arguments.work)
    os.makedirs(work, exist_ok=True)
    spool = os.path.join(work, "spool")
    ids = prepare(binary, spool, arguments.dropped, arguments.fresh)
    snapshot_dir = os.path.join(work, "snapshot")
    shutil.copytree(spool, snapshot_dir, symlinks=True)
    trace = record(binary, work, spool, ids, arguments.sends, arguments.dropped, arguments.seconds)
    with open(trace) as file:
        events = strace_log.parse(file.read())

    full = replay(simfs.SimulatedFileSystem.from_directory(snapshot_dir), spool, work, events)
    points = crash_points(full.steps, arguments.points)
    variants = arguments.variants.split(",")
    images = crash_images(snapshot_dir, spool, work, events, points, variants, arguments.seed, arguments.draws)
    mark_duplicates(images)
    results = check_all(arguments, binary, work, images)
    return {
        "binary": binary,
        "workload": {
            "sends": arguments.sends,
            "dropped": arguments.dropped,
            "fresh": arguments.fresh,
            "seed": arguments.seed,
            "draws": arguments.draws,
        },
        "trace": trace_report(trace, full, spool),
        "points": point_reports(points, images, results),
        "images": len(images),
        "checked": len(results),
        "failed": sum(1 for result in results.values() if result["problems"]),
        "seconds": round(time.monotonic() - started, 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="the spool binary")
    parser.add_argument("--work", required=True, help="an empty scratch directory")
    parser.add_argument("--report", required=True, help="where to write the JSON report")
    parser.add_argument("--sends", type=int, default=3, help="events sent with `spool send` while serving")
    parser.add_argument("--dropped", type=int, default=2, help="events without an id in incoming/ at the start")
    parser.add_argument("--fresh", action="store_true", help="start from a spool with no folders but its database")
    parser.add_argument("--points", default="kinds", help='"kinds", "all", or a number of crash points')
    parser.add_argument("--variants", default=",".join(simfs.VARIANTS))
    parser.add_argument("--seed", type=int, default=1, help="seed of the random images")
    parser.add_argument("--draws", type=int, default=1, help="random images per crash point")
    parser.add_argument("--jobs", type=int, default=2, help="images recovered at once")
    parser.add_argument("--seconds", type=float, default=30, help="deadline of each wait")
    parser.add_argument("--keep", action="store_true", help="keep the images that failed, for inspection")
    arguments = parser.parse_args(argv)
    if arguments.fresh and arguments.dropped:
        parser.error("a fresh spool has no incoming/ to drop events into: use --dropped 0")
    if strace_path() is None:
        print("strace is not installed", file=sys.stderr)
        return 2
    report = run(arguments)
    with open(arguments.report, "w") as file:
        json.dump(report, file, indent=1)
    print(f"{report['checked']} images checked, {report['failed']} failed, in {report['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

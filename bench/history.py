"""The history spool: finished bench-tiny runs made once by `spool-bench history` and reused.

It lives in bench/.work/history/spool. `complete.json` beside it is written only after a
generation finished, so a spool without it (an interrupted generation) is made anew. Each
measurement on it moves the runs it added out of it, so the spool keeps exactly the runs generated.
"""
import datetime
import json
import os
import shutil
import subprocess
import time

from systems import BenchError

# The server prunes finished runs older than its retention (30 days): regenerate well before.
MAX_AGE_DAYS = 25
# Folders a tiny run can leave entries in; done/ and cancelled/ hold one folder per day.
DAY_FOLDERS = ("done", "cancelled")
FLAT_FOLDERS = ("runs", "failed", "rejected", "incoming", "tmp", "ids")


class HistorySpool:
    def __init__(self, cache_dir):
        self.cache_dir = cache_dir
        self.spool_dir = os.path.join(cache_dir, "spool")
        self.complete_path = os.path.join(cache_dir, "complete.json")

    def ensure(self, spool_bench, runs):
        """Makes sure the spool holds at least `runs` finished runs; says what it did."""
        recorded = self.recorded_runs()
        if recorded and self.too_old():
            print(f"history: {self.spool_dir} is older than {MAX_AGE_DAYS} days; making it anew", flush=True)
            recorded = 0
        if recorded == 0:
            shutil.rmtree(self.cache_dir, ignore_errors=True)
        if recorded >= runs:
            return {"runs": recorded, "generated_s": 0.0}
        missing = runs - recorded
        print(f"history: adding {missing:,} finished runs to {self.spool_dir} with spool-bench history "
              f"(once; reused by later runs; can take ~10 minutes here)", flush=True)
        os.makedirs(self.cache_dir, exist_ok=True)
        if os.path.exists(self.complete_path):
            os.remove(self.complete_path)
        started = time.monotonic()
        result = subprocess.run([spool_bench, "history", "--spool", self.spool_dir, "--runs", str(missing)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise BenchError(f"spool-bench history failed ({result.returncode}):\n{result.stderr[-2000:]}")
        os.sync()
        counted = self.count_finished_runs()
        with open(self.complete_path, "w") as complete:
            json.dump({"runs": counted, "updated_at": datetime.datetime.now().isoformat(timespec="seconds")},
                      complete)
        generated_s = time.monotonic() - started
        print(f"history: {counted:,} finished runs ready after {generated_s:.0f} s", flush=True)
        return {"runs": counted, "generated_s": generated_s}

    def recorded_runs(self):
        try:
            with open(self.complete_path) as complete:
                return int(json.load(complete)["runs"])
        except (FileNotFoundError, ValueError, KeyError):
            return 0

    def too_old(self):
        days = self.day_folders("done")
        if not days:
            return True
        oldest = datetime.date.fromisoformat(min(days))
        return (datetime.date.today() - oldest).days > MAX_AGE_DAYS

    def day_folders(self, folder):
        try:
            return [name for name in os.listdir(os.path.join(self.spool_dir, folder)) if not name.startswith(".")]
        except FileNotFoundError:
            return []

    def count_finished_runs(self):
        done = os.path.join(self.spool_dir, "done")
        return sum(len(os.listdir(os.path.join(done, day))) for day in self.day_folders("done"))

    def entries(self):
        """Every run-level entry in the spool, as paths relative to it."""
        found = set()
        for folder in DAY_FOLDERS:
            for day in self.day_folders(folder):
                found.add(os.path.join(folder, day))
                found.update(os.path.join(folder, day, name)
                             for name in os.listdir(os.path.join(self.spool_dir, folder, day)))
        for folder in FLAT_FOLDERS:
            path = os.path.join(self.spool_dir, folder)
            if os.path.isdir(path):
                found.update(os.path.join(folder, name) for name in os.listdir(path))
        return found

    def move_entries_not_in(self, kept, aside):
        """Renames every entry added since `kept` into `aside` (on the same file system), so the
        spool keeps exactly its generated runs and no inode is freed while measurements go on."""
        os.makedirs(aside, exist_ok=True)
        for index, relative in enumerate(sorted(self.entries() - kept, reverse=True)):
            path = os.path.join(self.spool_dir, relative)
            if os.path.lexists(path):
                os.rename(path, os.path.join(aside, f"{index}-{relative.replace(os.sep, '-')}"))

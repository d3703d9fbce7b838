import json
import os
import sqlite3
import tempfile
import unittest

import powerloss
import recovery
import spool_files
import trace_replay


class FakeSpool:
    """A spool after recovery, written by hand, for checking that the audit sees each problem."""

    def __init__(self, root: str):
        self.root = root
        for folder in ("runs", "incoming", "failed", "rejected", "cancelled", "tmp", "ids", "outbox", "done/2026-01-01"):
            os.makedirs(os.path.join(root, folder))
        database = sqlite3.connect(os.path.join(root, "folksbase.sqlite"))
        database.execute("CREATE TABLE users (id TEXT)")
        database.execute("INSERT INTO users VALUES ('u')")
        database.commit()
        database.close()

    def write(self, path: str, content):
        path = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as file:
            file.write(content if isinstance(content, str) else json.dumps(content))

    def done_run(self, run: str, mark: str, completions=("fetch-user", "send-welcome-email"), email=True):
        base = f"done/2026-01-01/{run}"
        self.write(f"{base}/run.json", {"status": "completed"})
        self.write(f"{base}/event.json", {"name": "user/signed.up", "data": {"n": mark}})
        for step in ("fetch-user", "send-welcome-email"):
            self.write(f"{base}/steps/{step}.json", {"data": {}})
        log = [{"kind": "stepCompleted", "step": step} for step in completions]
        self.write(f"{base}/log.jsonl", "".join(json.dumps(entry) + "\n" for entry in log))
        if email:
            self.write(f"outbox/{run}-send-welcome-email.x.eml", "To: a")


class Audit(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.spool = FakeSpool(os.path.join(self.directory.name, "spool"))

    def tearDown(self):
        self.directory.cleanup()

    def problems(self, owed=frozenset({"a", "b"})) -> list:
        result = recovery.Recovery()
        recovery.audit(self.spool.root, set(owed), result)
        return result.problems

    def test_a_clean_spool_passes(self):
        self.spool.done_run("r1", "a")
        self.spool.done_run("r2", "b")
        self.assertEqual(self.problems(), [])

    def test_an_event_run_twice_is_reported(self):
        self.spool.done_run("r1", "a")
        self.spool.done_run("r2", "b")
        self.spool.done_run("r3", "b")
        self.assertTrue(any("event b ran 2 times" in problem for problem in self.problems()))

    def test_a_lost_event_is_reported(self):
        self.spool.done_run("r1", "a")
        self.assertIn("events lost: ['b']", self.problems())

    def test_a_step_completed_twice_is_reported(self):
        self.spool.done_run("r1", "a", completions=("fetch-user", "fetch-user", "send-welcome-email"))
        self.spool.done_run("r2", "b")
        self.assertIn("r1: step fetch-user completed 2 times", self.problems())

    def test_a_torn_step_file_and_a_torn_marker_are_reported(self):
        self.spool.done_run("r1", "a")
        self.spool.done_run("r2", "b")
        self.spool.write("done/2026-01-01/r1/steps/fetch-user.json", '{"da')
        self.spool.write("ids/evt_1", "")
        problems = self.problems()
        self.assertTrue(any(problem.startswith("r1/steps/fetch-user.json does not parse") for problem in problems))
        self.assertTrue(any(problem.startswith("ids/evt_1 does not parse") for problem in problems))

    def test_emails_without_a_run_or_runs_without_an_email_are_reported(self):
        self.spool.done_run("r1", "a", email=False)
        self.spool.done_run("r2", "b")
        self.spool.write("outbox/r9-send-welcome-email.x.eml", "To: a")
        problems = self.problems()
        self.assertIn("run r1 sent 0 emails", problems)
        self.assertIn("outbox/r9-send-welcome-email.x.eml belongs to no run in done/", problems)

    def test_work_left_behind_is_reported(self):
        self.spool.done_run("r1", "a")
        self.spool.done_run("r2", "b")
        self.spool.write("runs/r3/run.json", {"status": "retrying"})
        self.spool.write("tmp/.claim-x~e.json", "{}")
        self.spool.write("rejected/e.json", "{}")
        problems = self.problems()
        self.assertIn("runs/ still holds ['r3']", problems)
        self.assertIn("claims left in tmp/: ['.claim-x~e.json']", problems)
        self.assertIn("rejected/ still holds ['e.json']", problems)

    def test_temp_files_are_leftovers_and_never_results(self):
        self.spool.done_run("r1", "a")
        self.spool.done_run("r2", "b")
        self.spool.write("done/2026-01-01/r1/steps/.fetch-user.json.tmp-1", "")
        self.spool.write("outbox/.m.eml.tmp-2", "")
        self.spool.write("done/2026-01-01/r1/.run.json.spare", "{}")
        result = recovery.Recovery()
        recovery.audit(self.spool.root, {"a", "b"}, result)
        self.assertEqual(result.problems, [])
        self.assertEqual(result.leftovers, ["outbox/.m.eml.tmp-2", "done/…/r1/steps/.fetch-user.json.tmp-1"])


class Census(unittest.TestCase):
    def test_events_are_found_wherever_they_are(self):
        with tempfile.TemporaryDirectory() as directory:
            spool = FakeSpool(os.path.join(directory, "spool"))
            spool.write("incoming/x.json", [{"data": {"n": "in"}}, {"data": {"n": "in2"}}])
            spool.write("tmp/.claim-1~y.json", {"data": {"n": "claimed"}})
            spool.write("runs/.stage-r/event.json", {"data": {"n": "staged"}})
            spool.write("runs/.stage-torn/event.json", "")
            spool.write("runs/r/event.json", {"data": {"n": "live"}})
            spool.done_run("d", "done")
            spool.write("incoming/torn.json", "")
            found = spool_files.census(spool.root)
            self.assertEqual(found.owed, {"in", "in2", "claimed", "live", "done"})
            self.assertEqual(found.staged, {"staged"})
            self.assertEqual(len(found.unreadable), 1)


class CrashPoints(unittest.TestCase):
    def steps(self):
        calls = [
            ("rename", "change", "runs/a"),
            ("fsync", "sync", "runs"),
            ("rename", "change", "runs/b"),
            ("fsync", "sync", "runs"),
            ("rename", "change", "ids/x"),
            ("fsync", "sync", "ids"),
        ]
        return [trace_replay.Step(index, call, kind, path.encode()) for index, (call, kind, path) in enumerate(calls)]

    def test_kinds_cut_around_the_first_and_last_sync_of_each_kind(self):
        points = powerloss.crash_points(self.steps(), "kinds")
        self.assertEqual([point.after for point in points], [0, 1, 2, 3, 4, 5])
        self.assertEqual(points[1].label, "after sync #1: fsync runs, flushing rename runs/a")
        self.assertEqual(points[1].moment, "after sync #1")

    def test_all_cuts_before_and_after_every_sync(self):
        points = powerloss.crash_points(self.steps(), "all")
        self.assertEqual([point.after for point in points], [0, 1, 2, 3, 4, 5])
        self.assertTrue(points[0].label.startswith("before sync #1"))

    def test_paths_are_shortened_for_the_table(self):
        self.assertEqual(
            powerloss.shorten("fsync runs/20261129T050209.195Z-send-welcome-8f72e234/.run.json.tmp-23263-9-o3oawv"),
            "fsync runs/<run>/.run.json.tmp-…",
        )


if __name__ == "__main__":
    unittest.main()

import unittest

import simfs
import strace_log
import trace_replay
from simfs import PESSIMISTIC, SimulatedFileSystem
from test_simfs import files
from test_strace_log import fd, hexed


def quoted(path: bytes) -> str:
    return f'"{hexed(path)}"'


class TraceBuilder:
    """Lines of a synthetic trace, as `strace -f -y -xx` would print them."""

    def __init__(self):
        self.lines = []

    def add(self, thread: int, text: str):
        self.lines.append(f"{thread} {text}")
        return self

    def create(self, thread: int, path: bytes, number: int, flags: str = "O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC"):
        return self.add(thread, f"openat(AT_FDCWD<{hexed(b'/w')}>, {quoted(path)}, {flags}, 0600) = {fd(number, path)}")

    def open_directory(self, thread: int, path: bytes, number: int):
        return self.add(thread, f"openat(AT_FDCWD, {quoted(path)}, O_RDONLY|O_DIRECTORY) = {fd(number, path)}")

    def write(self, thread: int, number: int, path: bytes, data: bytes):
        return self.add(thread, f'write({fd(number, path)}, "{hexed(data)}", {len(data)}) = {len(data)}')

    def fsync(self, thread: int, number: int, path: bytes, call: str = "fsync"):
        return self.add(thread, f"{call}({fd(number, path)}) = 0")

    def close(self, thread: int, number: int, path: bytes):
        return self.add(thread, f"close({fd(number, path)}) = 0")

    def rename(self, thread: int, source: bytes, target: bytes):
        return self.add(thread, f"rename({quoted(source)}, {quoted(target)}) = 0")

    def replay(self, fs: SimulatedFileSystem | None = None):
        fs = fs or spool_with_folders()
        events = strace_log.parse("\n".join(self.lines))
        replayer = trace_replay.Replayer(fs, "/s", "/w", "/w/acknowledged", events)
        replayer.replay(events)
        return replayer


def spool_with_folders() -> SimulatedFileSystem:
    fs = SimulatedFileSystem()
    for folder in (b"tmp", b"incoming", b"runs"):
        fs.make_directory(folder)
    fs.sync()
    return fs


def publish_lines(builder: TraceBuilder, thread: int, path: bytes, data: bytes, number: int = 5) -> TraceBuilder:
    temp = path + b".tmp"
    directory = path.rsplit(b"/", 1)[0]
    builder.create(thread, temp, number).write(thread, number, temp, data).fsync(thread, number, temp)
    builder.close(thread, number, temp).rename(thread, temp, path)
    return builder.open_directory(thread, directory, number).fsync(thread, number, directory).close(thread, number, directory)


class Replay(unittest.TestCase):
    def test_a_publish_becomes_durable_at_the_fsync_of_its_directory(self):
        replayer = publish_lines(TraceBuilder(), 1, b"/s/runs/run.json", b"{}").replay()
        self.assertEqual(replayer.fs.read(b"runs/run.json"), b"{}")
        self.assertEqual(files(replayer.fs.crash_image(PESSIMISTIC)), {b"runs/run.json": b"{}"})
        kinds = [(step.call, step.kind) for step in replayer.steps]
        self.assertEqual(
            kinds, [("openat", "change"), ("write", "change"), ("fsync", "sync"), ("rename", "change"), ("fsync", "sync")]
        )
        self.assertEqual(replayer.steps[-1].path, b"runs")

    def test_an_open_that_raced_with_a_rename_of_its_folder_lands_where_the_file_is(self):
        builder = TraceBuilder().add(1, f"mkdir({quoted(b'/s/runs/a')}, 0700) = 0")
        builder.add(2, f"openat(AT_FDCWD, {quoted(b'/s/runs/a/.lock')}, O_RDWR|O_CREAT, 0600 <unfinished ...>")
        builder.rename(1, b"/s/runs/a", b"/s/tmp/a")
        builder.add(2, f"<... openat resumed>) = {fd(5, b'/s/tmp/a/.lock')}")
        self.assertTrue(builder.replay().fs.exists(b"tmp/a/.lock"))

    def test_an_open_inside_a_folder_whose_rename_completes_later_applies_the_rename_first(self):
        builder = TraceBuilder().add(1, f"mkdir({quoted(b'/s/runs/.stage-a')}, 0700) = 0")
        builder.add(1, f"rename({quoted(b'/s/runs/.stage-a')}, {quoted(b'/s/runs/a')} <unfinished ...>")
        builder.create(2, b"/s/runs/a/.lock", 5, "O_RDWR|O_CREAT")
        builder.add(1, "<... rename resumed>) = 0")
        replayer = builder.replay()
        self.assertTrue(replayer.fs.exists(b"runs/a/.lock"))
        self.assertEqual([step.call for step in replayer.steps], ["mkdir", "rename", "openat"])

    def test_calls_outside_the_spool_are_ignored(self):
        builder = TraceBuilder().create(1, b"/elsewhere/x", 5).write(1, 5, b"/elsewhere/x", b"data")
        builder.fsync(1, 5, b"/elsewhere/x").add(1, f"write(1<{hexed(b'pipe:[12]')}>, \"{hexed(b'x')}\", 1) = 1")
        self.assertEqual(builder.replay().steps, [])

    def test_writes_follow_the_file_position_append_mode_and_pwrite_offsets(self):
        path = b"/s/tmp/f"
        builder = TraceBuilder().create(1, path, 5).write(1, 5, path, b"abc").write(1, 5, path, b"def")
        builder.add(1, f'pwrite64({fd(5, path)}, "{hexed(b"X")}", 1, 1) = 1')
        builder.add(1, f"lseek({fd(5, path)}, 0, SEEK_SET) = 0").write(1, 5, path, b"Z")
        builder.add(1, f"openat(AT_FDCWD, {quoted(path)}, O_WRONLY|O_APPEND) = {fd(6, path)}").write(1, 6, path, b"!")
        self.assertEqual(builder.replay().fs.read(b"tmp/f"), b"ZXcdef!")

    def test_a_descriptor_number_reused_while_a_close_is_pending_keeps_its_new_file(self):
        builder = TraceBuilder().open_directory(1, b"/s/tmp", 17)
        builder.add(1, f"close({fd(17, b'/s/tmp')} <unfinished ...>")
        builder.open_directory(2, b"/s/runs", 17).add(1, "<... close resumed>) = 0").fsync(2, 17, b"/s/runs")
        replayer = builder.replay()
        self.assertEqual(replayer.steps[-1].path, b"runs")

    def test_threads_share_descriptors_and_a_forked_process_copies_them(self):
        path = b"/s/tmp/f"
        builder = TraceBuilder().create(1, path, 5)
        builder.add(1, "clone3({flags=CLONE_VM|CLONE_FILES|CLONE_THREAD, exit_signal=0}, 88) = 2")
        builder.write(2, 5, path, b"a")
        builder.add(1, "clone(child_stack=NULL, flags=CLONE_CHILD_SETTID|SIGCHLD) = 3").write(3, 5, path, b"b")
        builder.close(3, 5, path).write(1, 5, path, b"c")
        self.assertEqual(builder.replay().fs.read(b"tmp/f"), b"abc")

    def test_acknowledgements_are_marker_steps(self):
        marker = b"/w/acknowledged"
        builder = TraceBuilder().create(1, marker, 4, "O_WRONLY|O_CREAT|O_APPEND").write(1, 4, marker, b"acknowledged sent-0\n")
        (step,) = builder.replay().steps
        self.assertEqual((step.kind, step.text), ("marker", b"acknowledged sent-0\n"))

    def test_renameat2_noreplace_mkdir_unlink_and_syncfs(self):
        builder = TraceBuilder().add(1, f"mkdir({quoted(b'/s/runs/.stage-a')}, 0700) = 0")
        builder.add(
            1,
            f"renameat2(AT_FDCWD, {quoted(b'/s/runs/.stage-a')}, AT_FDCWD, {quoted(b'/s/runs/a')}, RENAME_NOREPLACE) = 0",
        )
        builder.create(1, b"/s/tmp/x", 5).add(1, f"unlink({quoted(b'/s/tmp/x')}) = 0")
        builder.open_directory(1, b"/s", 6).add(1, f"syncfs({fd(6, b'/s')}) = 0")
        replayer = builder.replay()
        image = replayer.fs.crash_image(PESSIMISTIC)
        self.assertIn(b"a", image[b"runs"])
        self.assertEqual(image[b"tmp"], {})
        self.assertEqual(replayer.steps[-1].kind, "sync")

    def test_a_call_the_model_does_not_know_stops_the_replay(self):
        builder = TraceBuilder().add(1, f"symlink({quoted(b'target')}, {quoted(b'/s/incoming/link')}) = 0")
        with self.assertRaises(trace_replay.ReplayError):
            builder.replay()

    def test_a_rename_into_the_spool_from_outside_stops_the_replay(self):
        builder = TraceBuilder().rename(1, b"/elsewhere/x", b"/s/incoming/x")
        with self.assertRaises(trace_replay.ReplayError):
            builder.replay()

    def test_a_write_on_a_descriptor_opened_before_the_trace_stops_the_replay(self):
        fs = spool_with_folders()
        fs.create(b"tmp/f")
        with self.assertRaises(trace_replay.ReplayError):
            TraceBuilder().write(1, 9, b"/s/tmp/f", b"x").replay(fs)

    def test_failed_calls_change_nothing(self):
        builder = TraceBuilder().add(1, f"mkdir({quoted(b'/s/tmp')}, 0700) = -1 EEXIST (File exists)")
        self.assertEqual(builder.replay().steps, [])


class Stepping(unittest.TestCase):
    def test_a_replay_can_stop_after_any_step(self):
        builder = publish_lines(TraceBuilder(), 1, b"/s/runs/run.json", b"{}")
        events = strace_log.parse("\n".join(builder.lines))
        fs = spool_with_folders()
        replayer = trace_replay.Replayer(fs, "/s", "/w", None, events)
        replayer.replay(events, stop=lambda step: step.call == "rename")
        self.assertEqual(files(fs.crash_image(simfs.ENTRIES_WITHOUT_DATA)), {b"runs/run.json": b"{}"})
        self.assertEqual(files(fs.crash_image(PESSIMISTIC)), {})


if __name__ == "__main__":
    unittest.main()

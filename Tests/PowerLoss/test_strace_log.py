import unittest

import strace_log
from strace_log import Call, Exit, TraceError


def hexed(text: bytes) -> str:
    """A string as `strace -xx` prints it."""
    return "".join(f"\\x{byte:02x}" for byte in text)


def fd(number: int, path: bytes) -> str:
    return f"{number}<{hexed(path)}>"


class Lines(unittest.TestCase):
    def test_a_complete_call_with_a_path_string_and_a_descriptor_result(self):
        line = f'7 openat(AT_FDCWD<{hexed(b"/w")}>, "{hexed(b"/s/a b,c")}", O_WRONLY|O_CREAT|O_EXCL, 0600) = {fd(5, b"/s/a b,c")}'
        (call,) = strace_log.parse(line)
        self.assertEqual((call.thread, call.name, call.result), (7, "openat", 5))
        self.assertEqual(call.result_path, b"/s/a b,c")
        self.assertEqual(strace_log.string(call.arguments[1]), b"/s/a b,c")
        self.assertIn("O_CREAT", strace_log.flags(call.arguments[2]))
        self.assertEqual(strace_log.descriptor(call.arguments[0]).path, b"/w")

    def test_a_failed_call_has_its_errno_and_no_success(self):
        (call,) = strace_log.parse(f'3 unlink("{hexed(b"/s/x")}") = -1 ENOENT (No such file or directory)')
        self.assertEqual((call.result, call.error, call.succeeded), (-1, "ENOENT", False))

    def test_a_call_cut_by_a_kill_has_no_result(self):
        (call,) = strace_log.parse(f'3 fsync({fd(4, b"/s")}) = ?')
        self.assertIsNone(call.result)
        self.assertFalse(call.succeeded)

    def test_an_unnamed_call_strace_let_go_of_is_skipped(self):
        text = "\n".join([f'3 fsync({fd(4, b"/s")}) = 0', "5 ???( <detached ...>"])
        (call,) = strace_log.parse(text)
        self.assertEqual(call.name, "fsync")
        with self.assertRaises(TraceError):
            strace_log.parse(f'5 rename("{hexed(b"/s/b")}", "{hexed(b"/s/c")}" <detached ...>')

    def test_an_interrupted_call_takes_its_place_where_it_resumed(self):
        text = "\n".join(
            [
                f'1 write({fd(3, b"/s/a")}, "{hexed(b"hi")}", 2 <unfinished ...>',
                f'2 rename("{hexed(b"/s/b")}", "{hexed(b"/s/c")}") = 0',
                "1 <... write resumed>) = 2",
            ]
        )
        started, rename, write = strace_log.parse(text)
        self.assertIsInstance(started, strace_log.Started)
        self.assertIs(started.call, write)
        self.assertEqual([rename.name, write.name], ["rename", "write"])
        self.assertEqual(strace_log.string(write.arguments[1]), b"hi")
        self.assertEqual(write.result, 2)

    def test_a_close_takes_its_place_where_it_started(self):
        text = "\n".join(
            [
                f'1 close({fd(17, b"/s/tmp")} <unfinished ...>',
                f'2 openat(AT_FDCWD, "{hexed(b"/s/cron")}", O_RDONLY|O_DIRECTORY) = {fd(17, b"/s/cron")}',
                "1 <... close resumed>) = 0",
                f'2 fsync({fd(17, b"/s/cron")}) = 0',
            ]
        )
        calls = strace_log.parse(text)
        self.assertEqual([call.name for call in calls], ["close", "openat", "fsync"])
        self.assertEqual(calls[0].result, 0)
        self.assertEqual(strace_log.descriptor(calls[0].arguments[0]).path, b"/s/tmp")

    def test_a_sync_covers_only_what_came_before_its_start(self):
        text = "\n".join(
            [
                f'1 syncfs({fd(3, b"/s")} <unfinished ...>',
                f'2 write({fd(4, b"/s/a")}, "{hexed(b"x")}", 1) = 1',
                "1 <... syncfs resumed>) = 0",
            ]
        )
        self.assertEqual([call.name for call in strace_log.parse(text)], ["syncfs", "write"])

    def test_signals_are_skipped_and_exits_are_kept(self):
        text = "\n".join(["5 --- SIGTERM {si_signo=SIGTERM} ---", "5 +++ exited with 0 +++", "6 +++ killed by SIGKILL +++"])
        first, second = strace_log.parse(text)
        self.assertEqual((first.status, first.signal), (0, None))
        self.assertEqual((second.status, second.signal), (None, "SIGKILL"))
        self.assertIsInstance(first, Exit)

    def test_a_resumed_call_without_its_start_is_an_error(self):
        with self.assertRaises(TraceError):
            strace_log.parse("4 <... write resumed>) = 2")


class Arguments(unittest.TestCase):
    def test_a_descriptor_of_a_deleted_file(self):
        found = strace_log.descriptor(f"13<{hexed(b'/s/tmp/.claim')}>(deleted)")
        self.assertEqual((found.number, found.path, found.deleted), (13, b"/s/tmp/.claim", True))

    def test_iovecs_are_concatenated(self):
        argument = f'[{{iov_base="{hexed(b"ab")}", iov_len=2}}, {{iov_base="{hexed(b"cd")}", iov_len=2}}]'
        self.assertEqual(strace_log.iovec_data(argument), b"abcd")

    def test_a_string_cut_short_by_strace_is_an_error(self):
        with self.assertRaises(TraceError):
            strace_log.string(f'"{hexed(b"abc")}"...')

    def test_arguments_split_outside_brackets_and_strings(self):
        self.assertEqual(
            strace_log.split_arguments('3, [{a=1, b=2}], "x,y", F(1, 2)'), ["3", "[{a=1, b=2}]", '"x,y"', "F(1, 2)"]
        )

    def test_hex_and_plain_text_decode_together(self):
        self.assertEqual(strace_log.decode_hex("a\\x2fb"), b"a/b")


class Calls(unittest.TestCase):
    def test_a_call_record_knows_success(self):
        self.assertTrue(Call(1, "x", [], 0, None).succeeded)
        self.assertFalse(Call(1, "x", [], -1, "EIO").succeeded)


if __name__ == "__main__":
    unittest.main()

import os
import random
import tempfile
import unittest

import simfs
from simfs import ENTRIES_WITHOUT_DATA, PESSIMISTIC, RANDOM, SimulatedFileSystem


def files(image: dict, prefix: bytes = b"") -> dict:
    """path → content of every file in a crash image."""
    found = {}
    for name, node in image.items():
        if isinstance(node, dict):
            found.update(files(node, prefix + name + b"/"))
        else:
            found[prefix + name] = node.data
    return found


def publish(fs: SimulatedFileSystem, path: bytes, data: bytes, sync_directory: bool = True):
    """The spool's write rule: temp file, fsync, rename, fsync of the directory."""
    temp = path + b".tmp"
    inode = fs.create(temp)
    fs.write(inode, 0, data)
    fs.fsync(inode)
    fs.rename(temp, path)
    if sync_directory:
        fs.fsync(fs.lookup(os.path.dirname(path)))


class DurabilityRules(unittest.TestCase):
    def setUp(self):
        self.fs = SimulatedFileSystem()
        self.fs.make_directory(b"d")
        self.fs.sync()

    def test_a_synced_file_without_its_directory_synced_is_lost(self):
        inode = self.fs.create(b"d/a")
        self.fs.write(inode, 0, b"hello")
        self.fs.fsync(inode)
        self.assertNotIn(b"d/a", files(self.fs.crash_image(PESSIMISTIC)))

    def test_a_file_and_its_directory_synced_survive_whole(self):
        inode = self.fs.create(b"d/a")
        self.fs.write(inode, 0, b"hello")
        self.fs.fsync(inode)
        self.fs.fsync(self.fs.lookup(b"d"))
        for variant in simfs.VARIANTS:
            self.assertEqual(files(self.fs.crash_image(variant, random.Random(2)))[b"d/a"], b"hello")

    def test_a_name_synced_without_its_data_comes_back_empty(self):
        inode = self.fs.create(b"d/a")
        self.fs.write(inode, 0, b"hello")
        self.fs.fsync(self.fs.lookup(b"d"))
        self.assertEqual(files(self.fs.crash_image(PESSIMISTIC))[b"d/a"], b"")
        self.assertEqual(files(self.fs.crash_image(ENTRIES_WITHOUT_DATA))[b"d/a"], b"")

    def test_an_unsynced_rename_may_be_lost_and_the_old_name_survives(self):
        publish(self.fs, b"d/a", b"one")
        self.fs.rename(b"d/a", b"d/b")
        pessimistic = files(self.fs.crash_image(PESSIMISTIC))
        self.assertEqual(pessimistic, {b"d/a": b"one"})
        self.assertEqual(files(self.fs.crash_image(ENTRIES_WITHOUT_DATA)), {b"d/b": b"one"})

    def test_a_replacing_rename_not_synced_keeps_the_old_content(self):
        publish(self.fs, b"d/a", b"old")
        publish(self.fs, b"d/a", b"new", sync_directory=False)
        self.assertEqual(files(self.fs.crash_image(PESSIMISTIC))[b"d/a"], b"old")
        self.fs.fsync(self.fs.lookup(b"d"))
        self.assertEqual(files(self.fs.crash_image(PESSIMISTIC))[b"d/a"], b"new")

    def test_a_rename_between_folders_persists_whole_when_either_folder_is_synced(self):
        self.fs.make_directory(b"e")
        self.fs.sync()
        publish(self.fs, b"d/a", b"x")
        self.fs.rename(b"d/a", b"e/a")
        self.fs.fsync(self.fs.lookup(b"e"))
        self.assertEqual(files(self.fs.crash_image(PESSIMISTIC)), {b"e/a": b"x"})

    def test_sync_makes_everything_durable(self):
        inode = self.fs.create(b"d/a")
        self.fs.write(inode, 0, b"data")
        self.fs.make_directory(b"d/sub")
        self.fs.sync()
        image = self.fs.crash_image(PESSIMISTIC)
        self.assertEqual(files(image), {b"d/a": b"data"})
        self.assertIn(b"sub", image[b"d"])

    def test_fdatasync_keeps_what_was_appended_before_it_and_not_after(self):
        publish(self.fs, b"d/log", b"one\n")
        inode = self.fs.lookup(b"d/log")
        self.fs.write(inode, 4, b"two\n")
        self.fs.fsync(inode)
        self.fs.write(inode, 8, b"three\n")
        self.assertEqual(files(self.fs.crash_image(PESSIMISTIC))[b"d/log"], b"one\ntwo\n")

    def test_the_newest_rename_may_reach_the_disk_before_an_older_one(self):
        self.fs.make_directory(b"e")
        self.fs.sync()
        publish(self.fs, b"d/run.json", b"running")
        publish(self.fs, b"d/run.json", b"completed", sync_directory=False)
        self.fs.rename(b"d", b"e/d")
        self.assertEqual(files(self.fs.crash_image(simfs.NEWEST_CHANGE_ONLY)), {b"e/d/run.json": b"running"})

    def test_an_unsynced_unlink_leaves_the_file(self):
        publish(self.fs, b"d/a", b"x")
        self.fs.unlink(b"d/a")
        self.assertEqual(files(self.fs.crash_image(PESSIMISTIC)), {b"d/a": b"x"})
        self.assertEqual(files(self.fs.crash_image(ENTRIES_WITHOUT_DATA)), {})

    def test_a_synced_folder_whose_own_entry_is_not_synced_is_lost_with_its_files(self):
        self.fs.make_directory(b"d/new")
        publish(self.fs, b"d/new/a", b"x")
        self.assertNotIn(b"new", self.fs.crash_image(PESSIMISTIC)[b"d"])
        self.fs.fsync(self.fs.lookup(b"d"))
        self.assertEqual(files(self.fs.crash_image(PESSIMISTIC)), {b"d/new/a": b"x"})

    def test_a_truncation_not_synced_is_kept_in_the_pessimistic_image(self):
        publish(self.fs, b"d/a", b"old content")
        inode = self.fs.lookup(b"d/a")
        self.fs.truncate(inode, 0)
        self.fs.write(inode, 0, b"new")
        self.assertEqual(files(self.fs.crash_image(PESSIMISTIC))[b"d/a"], b"")


class RandomImages(unittest.TestCase):
    def test_unsynced_writes_tear_at_page_boundaries(self):
        fs = SimulatedFileSystem()
        inode = fs.create(b"f")
        fs.sync()
        fs.write(inode, 0, b"a" * simfs.PAGE + b"b" * simfs.PAGE + b"c" * 10)
        contents = {files(fs.crash_image(RANDOM, random.Random(seed)))[b"f"] for seed in range(40)}
        self.assertIn(b"", contents)
        self.assertIn(b"a" * simfs.PAGE + b"b" * simfs.PAGE + b"c" * 10, contents)
        torn = [content for content in contents if 0 < len(content) and content.count(b"\0")]
        self.assertTrue(torn, "some image keeps a later page but not an earlier one")

    def test_a_file_renamed_again_and_again_never_has_two_names(self):
        fs = SimulatedFileSystem()
        fs.make_directory(b"a")
        fs.make_directory(b"b")
        fs.make_directory(b"c")
        fs.sync()
        inode = fs.create(b"a/x")
        fs.rename(b"a/x", b"b/x")
        fs.rename(b"b/x", b"c/x")
        fs.rename(b"c/x", b"a/x")
        for seed in range(60):
            image = fs.crash_image(RANDOM, random.Random(seed))
            names = [path for path, node in walk(image) if node.inode == inode.number]
            self.assertLessEqual(len(names), 1, f"seed {seed}: the file has two names: {names}")

    def test_the_same_seed_gives_the_same_image(self):
        fs = SimulatedFileSystem()
        for index in range(10):
            fs.write(fs.create(b"f%d" % index), 0, b"x" * index)
        first = fs.crash_image(RANDOM, random.Random(7))
        second = fs.crash_image(RANDOM, random.Random(7))
        self.assertEqual(simfs.image_fingerprint(first), simfs.image_fingerprint(second))


def walk(image: dict, prefix: bytes = b""):
    for name, node in image.items():
        if isinstance(node, dict):
            yield from walk(node, prefix + name + b"/")
        else:
            yield prefix + name, node


class Operations(unittest.TestCase):
    def test_operations_that_the_real_call_would_refuse_raise(self):
        fs = SimulatedFileSystem()
        fs.create(b"a")
        fs.create(b"b")
        with self.assertRaises(simfs.FileSystemError):
            fs.create(b"a")
        with self.assertRaises(simfs.FileSystemError):
            fs.rename(b"a", b"b", replace=False)
        with self.assertRaises(simfs.FileSystemError):
            fs.unlink(b"missing")
        with self.assertRaises(simfs.FileSystemError):
            fs.create(b"no/such/folder")
        fs.make_directory(b"d")
        fs.create(b"d/x")
        with self.assertRaises(simfs.FileSystemError):
            fs.remove_directory(b"d")

    def test_exchange_swaps_two_names(self):
        fs = SimulatedFileSystem()
        fs.write(fs.create(b"a"), 0, b"A")
        fs.write(fs.create(b"b"), 0, b"B")
        fs.exchange(b"a", b"b")
        self.assertEqual((fs.read(b"a"), fs.read(b"b")), (b"B", b"A"))

    def test_a_real_folder_loads_as_durable_and_materializes_with_its_hard_links(self):
        with tempfile.TemporaryDirectory() as directory:
            source = os.path.join(directory, "source")
            os.makedirs(os.path.join(source, "sub"))
            with open(os.path.join(source, "sub", "a"), "wb") as file:
                file.write(b"content")
            os.link(os.path.join(source, "sub", "a"), os.path.join(source, "b"))
            fs = SimulatedFileSystem.from_directory(source)
            image = fs.crash_image(PESSIMISTIC)
            self.assertEqual(files(image), {b"b": b"content", b"sub/a": b"content"})
            target = os.path.join(directory, "deeper", "target")
            simfs.materialize(image, target)
            self.assertEqual(os.stat(os.path.join(target, "b")).st_ino, os.stat(os.path.join(target, "sub", "a")).st_ino)
            self.assertEqual(os.stat(os.path.join(target, "sub")).st_mode & 0o777, 0o700)


if __name__ == "__main__":
    unittest.main()

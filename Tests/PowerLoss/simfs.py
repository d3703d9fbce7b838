"""A simulated file system that knows what a power loss keeps.

Every change lands in the volatile view at once, as in the page cache. What survives a power
loss is the durable view:

- fsync or fdatasync of a file makes its data and size durable, not its name;
- fsync of a directory makes that directory's entries (name -> inode) durable;
- sync and syncfs make everything durable;
- anything else may or may not have reached the disk.

A rename is one change that touches two entries; it persists whole or not at all. Changes to
the same entry persist in order: a later change is never kept while an earlier one is lost.

`crash_image` turns the state into the tree a machine would find after a power loss, under one
of these assumptions about what reached the disk besides what was synced:

- PESSIMISTIC: the worst of it. Every unsynced entry is dropped and every unsynced byte lost (a
  file never synced comes back empty), while unsynced truncations are kept;
- ENTRIES_WITHOUT_DATA: every directory change and truncation, but no unsynced data (ext4's old
  zero-length files after a rename);
- NEWEST_CHANGE_ONLY: of the unsynced directory changes, only the newest (with the earlier changes
  to the same names that it needs): changes that reach the disk out of order. No unsynced data;
- RANDOM: a random choice of unsynced directory changes, writes (in 4 KiB pieces, so a file may
  come back torn) and truncations.

Paths are bytes relative to the root of the simulated tree, such as b"runs/x/run.json".
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

PESSIMISTIC = "pessimistic"
ENTRIES_WITHOUT_DATA = "entries-without-data"
NEWEST_CHANGE_ONLY = "newest-change-only"
RANDOM = "random"
VARIANTS = (PESSIMISTIC, ENTRIES_WITHOUT_DATA, NEWEST_CHANGE_ONLY, RANDOM)

PAGE = 4096


class FileSystemError(Exception):
    """An operation the simulated tree cannot perform (the real call should have failed too)."""


@dataclass
class Write:
    offset: int
    data: bytes


@dataclass
class Truncate:
    size: int


@dataclass
class Inode:
    number: int
    is_directory: bool
    data: bytearray = field(default_factory=bytearray)
    synced_data: bytes = b""
    # Writes and truncations since the last sync of the file, in order.
    unsynced: list = field(default_factory=list)
    entries: dict = field(default_factory=dict)
    durable_entries: dict = field(default_factory=dict)


@dataclass
class EntryChange:
    directory: int
    name: bytes
    target: int | None


@dataclass
class DirectoryChange:
    """One operation's changes to directory entries, persisted together or not at all."""

    sequence: int
    changes: list

    def keys(self):
        return {(change.directory, change.name) for change in self.changes}

    def directories(self):
        return {change.directory for change in self.changes}


def split_components(path: bytes) -> list:
    return [part for part in path.split(b"/") if part and part != b"."]


class SimulatedFileSystem:
    ROOT = 0

    def __init__(self):
        self.inodes = {self.ROOT: Inode(self.ROOT, is_directory=True)}
        self.unsynced_changes: list = []
        self._next_inode = 1
        self._next_sequence = 0

    # Loading a real tree

    @classmethod
    def from_directory(cls, path: str) -> "SimulatedFileSystem":
        """A tree holding `path`'s files and folders, all of it durable (the state before the trace)."""
        fs = cls()
        by_device_inode = {}

        def load(directory_path: str, directory: Inode):
            for entry in sorted(os.scandir(os.fsencode(directory_path)), key=lambda e: e.name):
                info = entry.stat(follow_symlinks=False)
                if entry.is_dir(follow_symlinks=False):
                    child = fs._new_inode(is_directory=True)
                    load(entry.path, child)
                elif entry.is_file(follow_symlinks=False):
                    known = by_device_inode.get((info.st_dev, info.st_ino))
                    if known is None:
                        child = fs._new_inode(is_directory=False)
                        with open(entry.path, "rb") as file:
                            content = file.read()
                        child.data = bytearray(content)
                        child.synced_data = content
                        by_device_inode[(info.st_dev, info.st_ino)] = child
                    else:
                        child = known
                else:
                    raise FileSystemError(f"{entry.path!r}: only files and folders can be simulated")
                directory.entries[entry.name] = child.number
                directory.durable_entries[entry.name] = child.number

        load(path, fs.inodes[cls.ROOT])
        return fs

    # Lookups

    def lookup(self, path: bytes) -> Inode | None:
        inode = self.inodes[self.ROOT]
        for part in split_components(path):
            if not inode.is_directory or part not in inode.entries:
                return None
            inode = self.inodes[inode.entries[part]]
        return inode

    def exists(self, path: bytes) -> bool:
        return self.lookup(path) is not None

    def read(self, path: bytes) -> bytes:
        inode = self._require(path)
        return bytes(inode.data)

    def list(self, path: bytes = b"") -> list:
        return sorted(self._require(path).entries)

    # Changes to the volatile view

    def create(self, path: bytes) -> Inode:
        return self._add_entry(path, is_directory=False)

    def make_directory(self, path: bytes) -> Inode:
        return self._add_entry(path, is_directory=True)

    def _add_entry(self, path: bytes, is_directory: bool) -> Inode:
        directory, name = self._parent(path)
        if name in directory.entries:
            raise FileSystemError(f"{path!r} exists")
        inode = self._new_inode(is_directory=is_directory)
        self._change(EntryChange(directory.number, name, inode.number))
        return inode

    def write(self, inode: Inode, offset: int, data: bytes):
        if inode.is_directory:
            raise FileSystemError("write to a directory")
        self._apply_write(inode.data, Write(offset, data))
        for start in range(offset - offset % PAGE, offset + len(data), PAGE):
            begin = max(start, offset)
            end = min(start + PAGE, offset + len(data))
            inode.unsynced.append(Write(begin, data[begin - offset : end - offset]))

    def truncate(self, inode: Inode, size: int):
        if inode.is_directory:
            raise FileSystemError("truncate of a directory")
        self._apply_truncate(inode.data, Truncate(size))
        inode.unsynced.append(Truncate(size))

    def rename(self, source: bytes, target: bytes, replace: bool = True):
        source_directory, source_name = self._parent(source)
        target_directory, target_name = self._parent(target)
        if source_name not in source_directory.entries:
            raise FileSystemError(f"{source!r} does not exist")
        moved = source_directory.entries[source_name]
        if target_name in target_directory.entries and not replace:
            raise FileSystemError(f"{target!r} exists")
        if (source_directory.number, source_name) == (target_directory.number, target_name):
            return
        replaced = target_directory.entries.get(target_name)
        if replaced is not None and self.inodes[replaced].is_directory and self.inodes[replaced].entries:
            raise FileSystemError(f"{target!r} is a directory that is not empty")
        self._change(
            EntryChange(source_directory.number, source_name, None),
            EntryChange(target_directory.number, target_name, moved),
        )

    def exchange(self, first: bytes, second: bytes):
        first_directory, first_name = self._parent(first)
        second_directory, second_name = self._parent(second)
        a = first_directory.entries.get(first_name)
        b = second_directory.entries.get(second_name)
        if a is None or b is None:
            raise FileSystemError(f"{first!r} or {second!r} does not exist")
        self._change(
            EntryChange(first_directory.number, first_name, b),
            EntryChange(second_directory.number, second_name, a),
        )

    def link(self, source: bytes, target: bytes):
        inode = self._require(source)
        if inode.is_directory:
            raise FileSystemError("hard link to a directory")
        directory, name = self._parent(target)
        if name in directory.entries:
            raise FileSystemError(f"{target!r} exists")
        self._change(EntryChange(directory.number, name, inode.number))

    def unlink(self, path: bytes):
        directory, name = self._parent(path)
        if name not in directory.entries or self.inodes[directory.entries[name]].is_directory:
            raise FileSystemError(f"{path!r} is not a file")
        self._change(EntryChange(directory.number, name, None))

    def remove_directory(self, path: bytes):
        directory, name = self._parent(path)
        number = directory.entries.get(name)
        if number is None or not self.inodes[number].is_directory or self.inodes[number].entries:
            raise FileSystemError(f"{path!r} is not an empty directory")
        self._change(EntryChange(directory.number, name, None))

    # Making things durable

    def fsync(self, inode: Inode):
        """fsync or fdatasync: a file's data, or a directory's entries."""
        if inode.is_directory:
            self._persist(self._closure(lambda change: inode.number in change.directories()))
        else:
            inode.synced_data = bytes(inode.data)
            inode.unsynced = []

    def sync(self):
        """sync or syncfs: everything."""
        self._persist(list(self.unsynced_changes))
        for inode in self.inodes.values():
            if not inode.is_directory:
                inode.synced_data = bytes(inode.data)
                inode.unsynced = []

    def differences(self, path: str, ignore_content=lambda name: False) -> list:
        """How the volatile view differs from the real folder at `path` (after replaying its trace,
        none should): names missing on either side, files whose contents differ."""
        found = []

        def compare(inode: Inode, real: bytes, prefix: bytes):
            names = set(os.listdir(real))
            for name in sorted(names ^ set(inode.entries)):
                side = "only on disk" if name in names else "only in the model"
                found.append(f"{(prefix + name).decode(errors='replace')}: {side}")
            for name in sorted(names & set(inode.entries)):
                child = self.inodes[inode.entries[name]]
                target = real + b"/" + name
                if child.is_directory:
                    compare(child, target, prefix + name + b"/")
                elif not ignore_content(name):
                    with open(target, "rb") as file:
                        if file.read() != bytes(child.data):
                            found.append(f"{(prefix + name).decode(errors='replace')}: contents differ")

        compare(self.inodes[self.ROOT], os.fsencode(path), b"")
        return found

    # Power loss

    def crash_image(self, variant: str, rng: random.Random | None = None) -> dict:
        """The tree left by a power loss now: {name: bytes for a file, dict for a folder}."""
        if variant == PESSIMISTIC:
            kept_changes, keep_piece = [], lambda piece: isinstance(piece, Truncate)
        elif variant == ENTRIES_WITHOUT_DATA:
            kept_changes, keep_piece = list(self.unsynced_changes), lambda piece: isinstance(piece, Truncate)
        elif variant == NEWEST_CHANGE_ONLY:
            newest = self.unsynced_changes[-1:]
            kept_changes = self._closure(lambda change: change in newest)
            keep_piece = lambda piece: isinstance(piece, Truncate)
        elif variant == RANDOM:
            rng = rng or random.Random(0)
            chosen = {id(change) for change in self.unsynced_changes if rng.random() < 0.5}
            kept_changes = self._closure(lambda change: id(change) in chosen)
            keep_piece = lambda piece: rng.random() < 0.5
        else:
            raise ValueError(f"unknown variant {variant}")
        entries = {number: dict(inode.durable_entries) for number, inode in self.inodes.items() if inode.is_directory}
        for operation in kept_changes:
            for change in operation.changes:
                self._set_entry(entries[change.directory], change.name, change.target)
        contents = {}

        def content(inode: Inode) -> bytes:
            if inode.number not in contents:
                kept = [piece for piece in inode.unsynced if keep_piece(piece)]
                data = bytearray(inode.synced_data) if kept else inode.synced_data
                for piece in kept:
                    self._apply(data, piece)
                contents[inode.number] = bytes(data)
            return contents[inode.number]

        def tree(number: int, seen: frozenset) -> dict:
            result = {}
            for name, child in sorted(entries[number].items()):
                inode = self.inodes[child]
                if inode.is_directory:
                    if child not in seen:
                        result[name] = tree(child, seen | {child})
                else:
                    result[name] = FileContent(inode.number, content(inode))
            return result

        return tree(self.ROOT, frozenset({self.ROOT}))

    # Internals

    def _new_inode(self, is_directory: bool) -> Inode:
        inode = Inode(self._next_inode, is_directory)
        self.inodes[inode.number] = inode
        self._next_inode += 1
        return inode

    def _require(self, path: bytes) -> Inode:
        inode = self.lookup(path)
        if inode is None:
            raise FileSystemError(f"{path!r} does not exist")
        return inode

    def _parent(self, path: bytes):
        parts = split_components(path)
        if not parts:
            raise FileSystemError("the root has no parent")
        directory = self.lookup(b"/".join(parts[:-1]))
        if directory is None or not directory.is_directory:
            raise FileSystemError(f"the folder of {path!r} does not exist")
        return directory, parts[-1]

    def _change(self, *changes: EntryChange):
        for change in changes:
            self._set_entry(self.inodes[change.directory].entries, change.name, change.target)
        self.unsynced_changes.append(DirectoryChange(self._next_sequence, list(changes)))
        self._next_sequence += 1

    def _closure(self, selected) -> list:
        """The unsynced changes `selected` picks, with every earlier change to one of their entries."""
        needed_keys = set()
        kept = []
        for operation in reversed(self.unsynced_changes):
            if selected(operation) or operation.keys() & needed_keys:
                kept.append(operation)
                needed_keys |= operation.keys()
        kept.reverse()
        return kept

    def _persist(self, operations: list):
        persisted = {id(operation) for operation in operations}
        for operation in operations:
            for change in operation.changes:
                self._set_entry(self.inodes[change.directory].durable_entries, change.name, change.target)
        self.unsynced_changes = [op for op in self.unsynced_changes if id(op) not in persisted]

    @staticmethod
    def _set_entry(entries: dict, name: bytes, target: int | None):
        if target is None:
            entries.pop(name, None)
        else:
            entries[name] = target

    @classmethod
    def _apply(cls, data: bytearray, piece):
        if isinstance(piece, Write):
            cls._apply_write(data, piece)
        else:
            cls._apply_truncate(data, piece)

    @staticmethod
    def _apply_write(data: bytearray, write: Write):
        end = write.offset + len(write.data)
        if len(data) < end:
            data.extend(bytes(end - len(data)))
        data[write.offset : end] = write.data

    @staticmethod
    def _apply_truncate(data: bytearray, truncate: Truncate):
        if truncate.size < len(data):
            del data[truncate.size :]
        else:
            data.extend(bytes(truncate.size - len(data)))


@dataclass(frozen=True)
class FileContent:
    """A file of a crash image; files with the same inode are hard links of each other."""

    inode: int
    data: bytes


def materialize(image: dict, path: str):
    """Writes a crash image into `path`, which must not exist (its parents may not either):
    folders 0700, files 0600."""
    linked = {}

    def write(tree: dict, directory: bytes):
        os.mkdir(directory, 0o700)
        for name, node in tree.items():
            target = directory + b"/" + name
            if isinstance(node, dict):
                write(node, target)
            elif node.inode in linked:
                os.link(linked[node.inode], target)
            else:
                with open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
                    file.write(node.data)
                linked[node.inode] = target

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write(image, os.fsencode(path))


def image_fingerprint(image: dict) -> tuple:
    """A value equal for two images with the same names and contents."""
    return tuple(
        (name, image_fingerprint(node) if isinstance(node, dict) else node.data) for name, node in sorted(image.items())
    )

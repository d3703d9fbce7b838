"""Replays a strace trace on a simulated file system, one call at a time.

Only what happens under the spool's root counts; every other file (libraries, pipes, sockets, the
test's own files) is ignored, except the workload's marker file, whose writes say when an event
was acknowledged. A call that changes the spool in a way the model does not know (a symbolic
link, copy_file_range into it, O_TMPFILE) stops the replay with an error rather than being ignored.
sync_file_range is traced but makes nothing durable: it flushes no metadata and waits for nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import simfs
import strace_log
from strace_log import Call, Started

# Calls traced while recording; those that are not modeled must never touch the spool.
TRACED_CALLS = (
    "open,openat,openat2,creat,write,pwrite64,writev,pwritev,pwritev2,lseek,ftruncate,truncate,fallocate,"
    "fsync,fdatasync,syncfs,sync,sync_file_range,rename,renameat,renameat2,link,linkat,unlink,unlinkat,"
    "mkdir,mkdirat,rmdir,close,dup,dup2,dup3,fcntl,clone,clone3,fork,vfork,chdir,fchdir,symlink,symlinkat,"
    "mknod,mknodat,copy_file_range,sendfile,splice"
)
NAME_CHANGES = {"rename", "renameat", "renameat2", "mkdir", "mkdirat", "link", "linkat", "unlink", "unlinkat", "rmdir"}
# The inode of the workload's marker file, which is not in the spool.
MARKER = simfs.Inode(-1, is_directory=False)


class ReplayError(Exception):
    """The trace does something to the spool that the model cannot represent."""


class MissingPath(ReplayError):
    """A call names a path the model does not have (yet)."""


@dataclass
class Description:
    """An open file description: what `write` needs to know where it writes."""

    inode: simfs.Inode
    append: bool
    position: int = 0


@dataclass
class Step:
    """A call that changed the spool, made part of it durable, or acknowledged an event."""

    index: int
    call: str
    kind: str  # "change", "sync" or "marker"
    path: bytes
    target: bytes | None = None
    text: bytes = b""
    line: int = 0

    def describe(self) -> str:
        where = self.path.decode(errors="replace") or "the spool's root"
        if self.target is not None:
            where += " → " + self.target.decode(errors="replace")
        return f"{self.call} {where}"


class Replayer:
    def __init__(self, fs: simfs.SimulatedFileSystem, root: str, cwd: str, marker: str | None, events: list):
        self.fs = fs
        self.root = os.fsencode(os.path.realpath(root))
        self.cwd = os.fsencode(cwd)
        self.marker = os.fsencode(os.path.realpath(marker)) if marker else None
        self.table_of = table_owners(events)
        self.descriptions = {}
        self.cwds = {}
        self.steps = []
        self.path_mismatches = []
        self.in_flight = {}
        self.applied_early = set()
        self.stop = None

    def replay(self, events: list, stop=None):
        """Applies calls in order; `stop(step)` may end the replay right after a step."""
        self.stop = stop
        for event in events:
            if isinstance(event, Started):
                self.in_flight[id(event.call)] = event.call
            elif isinstance(event, Call):
                self.in_flight.pop(id(event), None)
                if id(event) in self.applied_early:
                    continue
                if self.apply(event):
                    return

    def apply(self, call: Call) -> bool:
        """Applies one call; true when `stop` asks to end the replay after it."""
        if not call.succeeded:
            return False
        handler = getattr(self, "_" + call.name, None)
        if handler is None:
            return False
        try:
            step = handler(call)
        except (simfs.FileSystemError, MissingPath):
            if not self.apply_in_flight_renames():
                raise
            step = handler(call)
        if step is None:
            return False
        self.steps.append(step)
        return self.stop is not None and bool(self.stop(step))

    def apply_in_flight_renames(self) -> bool:
        """Applies the changes to names that other threads began but the trace shows completing
        later: a call that needs a path one of them makes took effect after it. False if none."""
        early = [call for call in self.in_flight.values() if call.succeeded and call.name in NAME_CHANGES]
        for call in early:
            del self.in_flight[id(call)]
            self.applied_early.add(id(call))
            self.apply(call)
        return bool(early)

    # Paths and descriptors

    def table(self, call: Call):
        """The key of the descriptor table (and working directory) the calling thread uses."""
        return self.table_of.get(call.thread, call.thread)

    def absolute(self, call: Call, path: bytes) -> bytes:
        return path if path.startswith(b"/") else self.cwds.get(self.table(call), self.cwd) + b"/" + path

    def relative(self, path: bytes | None) -> bytes | None:
        """An absolute `path` relative to the spool's root (b"" for the root), or None outside it."""
        if path is None or not path.startswith(b"/"):
            return None
        path = os.path.normpath(path)
        if path == self.root:
            return b""
        if path.startswith(self.root + b"/"):
            return path[len(self.root) + 1 :]
        return None

    def at_path(self, call: Call, directory: str, path: str) -> bytes:
        """The absolute path of an `*at` call's (directory descriptor, path) pair."""
        name = strace_log.string(path)
        if name.startswith(b"/"):
            return name
        base = strace_log.descriptor(directory).path
        if base is None:
            base = self.cwds.get(self.table(call), self.cwd)
        return base + b"/" + name if name else base

    def plain_path(self, call: Call, path: str) -> bytes:
        return self.absolute(call, strace_log.string(path))

    def description(self, call: Call, argument: str) -> Description | None:
        """The description behind a descriptor argument, or None when it is not in the spool."""
        fd = strace_log.descriptor(argument)
        key = (self.table(call), fd.number)
        found = self.descriptions.get(key)
        shown = fd.path or b""
        relative = None if fd.deleted else self.relative(shown)
        if found is None:
            if relative is not None:
                raise ReplayError(f"line {call.line}: {call.name} on {shown!r}, a descriptor opened before the trace")
            return None
        if relative is not None:
            current = self.fs.lookup(relative)
            if current is None or current.number != found.inode.number:
                self.path_mismatches.append(f"line {call.line}: {call.name} on {shown!r}")
        return found

    def step(self, call: Call, kind: str, path: bytes, target: bytes | None = None, text: bytes = b"") -> Step:
        return Step(len(self.steps), call.name, kind, path, target, text, call.line)

    def path_of(self, inode: simfs.Inode) -> bytes:
        """A current name of an inode, for describing steps."""

        def search(directory: simfs.Inode, prefix: bytes):
            for name, number in directory.entries.items():
                path = prefix + name
                if number == inode.number:
                    return path
                child = self.fs.inodes[number]
                if child.is_directory:
                    found = search(child, path + b"/")
                    if found is not None:
                        return found
            return None

        if inode.number == self.fs.ROOT:
            return b""
        return search(self.fs.inodes[self.fs.ROOT], b"") or b"(unlinked)"

    # Opening

    def _open(self, call: Call):
        return self._opened(call, self.plain_path(call, call.arguments[0]), call.arguments[1])

    def _openat(self, call: Call):
        return self._opened(call, self.at_path(call, call.arguments[0], call.arguments[1]), call.arguments[2])

    def _openat2(self, call: Call):
        return self._opened(call, self.at_path(call, call.arguments[0], call.arguments[1]), call.arguments[2])

    def _creat(self, call: Call):
        return self._opened(call, self.plain_path(call, call.arguments[0]), "O_WRONLY|O_CREAT|O_TRUNC")

    def _opened(self, call: Call, path: bytes, flag_text: str) -> Step | None:
        table = self.table(call)
        self.descriptions.pop((table, call.result), None)
        relative = self.relative(path)
        if relative is None:
            if self.marker is not None and os.path.normpath(path) == self.marker:
                self.descriptions[(table, call.result)] = Description(MARKER, append=True)
            return None
        flags = strace_log.flags(flag_text)
        if "O_TMPFILE" in flags:
            raise ReplayError(f"line {call.line}: O_TMPFILE in the spool is not modeled")
        relative = self.settled_path(relative, call)
        inode = self.fs.lookup(relative)
        step = None
        if inode is None:
            if "O_CREAT" not in flags:
                raise MissingPath(f"line {call.line}: {path!r} opened but absent from the model")
            inode = self.fs.create(relative)
            step = self.step(call, "change", relative)
        elif "O_TRUNC" in flags and not inode.is_directory and ("O_WRONLY" in flags or "O_RDWR" in flags):
            if inode.data:
                self.fs.truncate(inode, 0)
                step = self.step(call, "change", relative)
        self.descriptions[(table, call.result)] = Description(inode, append="O_APPEND" in flags)
        return step

    def settled_path(self, requested: bytes, call: Call) -> bytes:
        """Where an open really took place: the requested path, unless a folder on it was renamed
        while the open ran (its line then comes after the rename's); the descriptor `-y` shows on
        the result is where the file is after both."""
        if self.fs.lookup(os.path.dirname(requested)) is not None:
            return requested
        now = None if call.result_path is None else self.relative(call.result_path)
        return now if now is not None else requested

    def _close(self, call: Call):
        fd = strace_log.descriptor(call.arguments[0])
        self.descriptions.pop((self.table(call), fd.number), None)

    def _dup(self, call: Call):
        return self._duplicated(call, call.arguments[0])

    def _dup2(self, call: Call):
        return self._duplicated(call, call.arguments[0])

    def _dup3(self, call: Call):
        return self._duplicated(call, call.arguments[0])

    def _fcntl(self, call: Call):
        if call.arguments[1].startswith("F_DUPFD"):
            return self._duplicated(call, call.arguments[0])
        return None

    def _duplicated(self, call: Call, argument: str):
        table = self.table(call)
        fd = strace_log.descriptor(argument)
        found = self.descriptions.get((table, fd.number))
        self.descriptions.pop((table, call.result), None)
        if found is not None:
            self.descriptions[(table, call.result)] = found

    def _clone(self, call: Call):
        return self._forked(call)

    def _clone3(self, call: Call):
        return self._forked(call)

    def _fork(self, call: Call):
        return self._forked(call)

    def _vfork(self, call: Call):
        return self._forked(call)

    def _forked(self, call: Call):
        parent = self.table(call)
        child = self.table_of.get(call.result, call.result)
        if child == parent:
            return None
        for (table, number), description in list(self.descriptions.items()):
            if table == parent:
                self.descriptions.setdefault((child, number), description)
        if parent in self.cwds:
            self.cwds.setdefault(child, self.cwds[parent])
        return None

    def _chdir(self, call: Call):
        self.cwds[self.table(call)] = self.plain_path(call, call.arguments[0])

    def _fchdir(self, call: Call):
        path = strace_log.descriptor(call.arguments[0]).path
        if path is None or not path.startswith(b"/"):
            raise ReplayError(f"line {call.line}: fchdir to a descriptor without a path")
        self.cwds[self.table(call)] = path

    # Data

    def _write(self, call: Call):
        return self._written(call, strace_log.string(call.arguments[1]), offset=None)

    def _pwrite64(self, call: Call):
        return self._written(call, strace_log.string(call.arguments[1]), strace_log.integer(call.arguments[3]))

    def _writev(self, call: Call):
        return self._written(call, strace_log.iovec_data(call.arguments[1]), offset=None)

    def _pwritev(self, call: Call):
        return self._written(call, strace_log.iovec_data(call.arguments[1]), strace_log.integer(call.arguments[3]))

    def _pwritev2(self, call: Call):
        return self._written(call, strace_log.iovec_data(call.arguments[1]), strace_log.integer(call.arguments[3]))

    def _written(self, call: Call, data: bytes, offset: int | None):
        found = self.description(call, call.arguments[0])
        if found is None:
            return None
        data = data[: call.result]
        if found.inode is MARKER:
            return self.step(call, "marker", b"", text=data)
        if offset is None:
            offset = len(found.inode.data) if found.append else found.position
            found.position = offset + len(data)
        self.fs.write(found.inode, offset, data)
        return self.step(call, "change", self.path_of(found.inode))

    def _lseek(self, call: Call):
        found = self.description(call, call.arguments[0])
        if found is not None:
            found.position = call.result

    def _ftruncate(self, call: Call):
        found = self.description(call, call.arguments[0])
        if found is None:
            return None
        self.fs.truncate(found.inode, strace_log.integer(call.arguments[1]))
        return self.step(call, "change", self.path_of(found.inode))

    def _truncate(self, call: Call):
        relative = self.relative(self.plain_path(call, call.arguments[0]))
        if relative is None:
            return None
        self.fs.truncate(self.fs.lookup(relative), strace_log.integer(call.arguments[1]))
        return self.step(call, "change", relative)

    def _fallocate(self, call: Call):
        found = self.description(call, call.arguments[0])
        if found is None:
            return None
        mode = strace_log.flags(call.arguments[1])
        offset, length = strace_log.integer(call.arguments[2]), strace_log.integer(call.arguments[3])
        if "FALLOC_FL_KEEP_SIZE" in mode:
            return None
        if mode.names:
            raise ReplayError(f"line {call.line}: fallocate {call.arguments[1]} is not modeled")
        if offset + length > len(found.inode.data):
            self.fs.truncate(found.inode, offset + length)
            return self.step(call, "change", self.path_of(found.inode))
        return None

    # Durability

    def _fsync(self, call: Call):
        found = self.description(call, call.arguments[0])
        if found is None or found.inode is MARKER:
            return None
        self.fs.fsync(found.inode)
        return self.step(call, "sync", self.path_of(found.inode))

    _fdatasync = _fsync

    def _syncfs(self, call: Call):
        found = self.description(call, call.arguments[0])
        if found is None:
            return None
        self.fs.sync()
        return self.step(call, "sync", self.path_of(found.inode))

    def _sync(self, call: Call):
        self.fs.sync()
        return self.step(call, "sync", b"")

    # Names

    def _rename(self, call: Call):
        return self._renamed(call, self.plain_path(call, call.arguments[0]), self.plain_path(call, call.arguments[1]), "")

    def _renameat(self, call: Call):
        source = self.at_path(call, call.arguments[0], call.arguments[1])
        return self._renamed(call, source, self.at_path(call, call.arguments[2], call.arguments[3]), "")

    def _renameat2(self, call: Call):
        source = self.at_path(call, call.arguments[0], call.arguments[1])
        return self._renamed(call, source, self.at_path(call, call.arguments[2], call.arguments[3]), call.arguments[4])

    def _renamed(self, call: Call, source: bytes, target: bytes, flag_text: str):
        old, new = self.relative(source), self.relative(target)
        if old is None and new is None:
            return None
        if old is None or new is None:
            raise ReplayError(f"line {call.line}: rename across the spool's boundary: {source!r} → {target!r}")
        flags = strace_log.flags(flag_text)
        if "RENAME_EXCHANGE" in flags:
            self.fs.exchange(old, new)
        else:
            self.fs.rename(old, new, replace="RENAME_NOREPLACE" not in flags)
        return self.step(call, "change", old, new)

    def _link(self, call: Call):
        return self._linked(call, self.plain_path(call, call.arguments[0]), self.plain_path(call, call.arguments[1]))

    def _linkat(self, call: Call):
        if "AT_EMPTY_PATH" in strace_log.flags(call.arguments[4]):
            raise ReplayError(f"line {call.line}: linkat with AT_EMPTY_PATH is not modeled")
        source = self.at_path(call, call.arguments[0], call.arguments[1])
        return self._linked(call, source, self.at_path(call, call.arguments[2], call.arguments[3]))

    def _linked(self, call: Call, source: bytes, target: bytes):
        old, new = self.relative(source), self.relative(target)
        if old is None and new is None:
            return None
        if old is None or new is None:
            raise ReplayError(f"line {call.line}: hard link across the spool's boundary")
        self.fs.link(old, new)
        return self.step(call, "change", old, new)

    def _unlink(self, call: Call):
        return self._removed(call, self.plain_path(call, call.arguments[0]), directory=False)

    def _unlinkat(self, call: Call):
        directory = "AT_REMOVEDIR" in strace_log.flags(call.arguments[2])
        return self._removed(call, self.at_path(call, call.arguments[0], call.arguments[1]), directory)

    def _rmdir(self, call: Call):
        return self._removed(call, self.plain_path(call, call.arguments[0]), directory=True)

    def _removed(self, call: Call, path: bytes, directory: bool):
        relative = self.relative(path)
        if relative is None:
            return None
        if directory:
            self.fs.remove_directory(relative)
        else:
            self.fs.unlink(relative)
        return self.step(call, "change", relative)

    def _mkdir(self, call: Call):
        return self._made_directory(call, self.plain_path(call, call.arguments[0]))

    def _mkdirat(self, call: Call):
        return self._made_directory(call, self.at_path(call, call.arguments[0], call.arguments[1]))

    def _made_directory(self, call: Call, path: bytes):
        relative = self.relative(path)
        if relative is None:
            return None
        self.fs.make_directory(relative)
        return self.step(call, "change", relative)

    def _unmodeled(self, call: Call):
        for argument in call.arguments:
            if argument.startswith('"'):
                path = self.plain_path(call, argument)
            elif "<" in argument:
                path = strace_log.descriptor(argument).path
            else:
                continue
            if self.relative(path) is not None:
                raise ReplayError(f"line {call.line}: {call.name} in the spool is not modeled")
        return None

    _symlink = _symlinkat = _mknod = _mknodat = _copy_file_range = _sendfile = _splice = _unmodeled


def table_owners(events: list) -> dict:
    """Thread id → the thread whose descriptor table it uses (threads and CLONE_FILES share one)."""
    owner = {}
    for event in events:
        if not isinstance(event, Call) or not event.succeeded:
            continue
        if event.name in ("clone", "clone3") and event.result > 0:
            flags = strace_log.flags(", ".join(event.arguments))
            if "CLONE_FILES" in flags or "CLONE_THREAD" in flags:
                owner[event.result] = owner.get(event.thread, event.thread)
    return owner

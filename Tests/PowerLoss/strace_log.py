"""Reads the output of `strace -f -y -qq -xx -s <large>` into system calls.

A call of a multi-threaded process may be split over an `<unfinished ...>` line and a later
`<... name resumed>` line; the two are joined, and the call takes its place in the sequence at
the resumed line, where it completed (but see EFFECT_AT_START). With `-xx` every string, and every path `-y` shows after a
file descriptor (`5<\\x2f\\x74...>`), is hex-escaped, so no argument holds a stray comma or quote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

LINE = re.compile(r"^(\d+)\s+(.*)$")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>\s?(.*)$")
RESULT = re.compile(r"\)\s+=\s+(.*)$")
CALL = re.compile(r"^(\w+)\((.*)$", re.DOTALL)
EXIT = re.compile(r"^\+\+\+ (exited with (\d+)|killed by (\w+).*) \+\+\+$")
HEX_BYTES = re.compile(r"(?:\\x[0-9a-fA-F]{2})+")
# Calls that take their place where they started. close frees its descriptor number at once, and
# another thread may get the number back before the close returns. A sync covers what was written
# before it began; what other threads write while it runs may or may not be covered, so only what
# came before its start counts as synced.
EFFECT_AT_START = {"close", "fsync", "fdatasync", "syncfs", "sync"}


class TraceError(Exception):
    """A line the parser cannot read, or a string strace cut short (raise `-s`)."""


@dataclass
class Call:
    thread: int
    name: str
    arguments: list
    result: int | None
    error: str | None
    result_path: bytes | None = None
    line: int = 0

    @property
    def succeeded(self) -> bool:
        return self.result is not None and self.result >= 0


@dataclass
class Started:
    """Where a call that completed later began: another thread may see its effect from here on."""

    call: Call


@dataclass
class Exit:
    thread: int
    status: int | None
    signal: str | None
    line: int = 0


@dataclass(frozen=True)
class Descriptor:
    """A file descriptor argument, with the path `-y` printed for it (None for AT_FDCWD without one)."""

    number: int | str
    path: bytes | None
    deleted: bool = False


@dataclass
class Flags:
    names: set = field(default_factory=set)

    def __contains__(self, name):
        return name in self.names


def parse(text: str) -> list:
    """The calls and exits of a trace, in the order they took effect.

    A split call appears twice: as `Started` where it began, and as the `Call` itself where it
    completed (or where it began, for EFFECT_AT_START); both hold the same `Call` object.
    """
    events = []
    pending = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        match = LINE.match(raw)
        if not match:
            if raw.strip():
                raise TraceError(f"line {number}: no thread id: {raw[:200]}")
            continue
        thread, rest = int(match.group(1)), match.group(2)
        if rest.startswith("---"):
            continue
        if rest.startswith("???(") and rest.endswith("<detached ...>"):
            # A call strace could not name, in progress when it let go of the thread: nothing to replay.
            continue
        exit_match = EXIT.match(rest)
        if exit_match:
            status = int(exit_match.group(2)) if exit_match.group(2) else None
            events.append(Exit(thread, status, exit_match.group(3), number))
            continue
        if rest.endswith("<unfinished ...>"):
            start = rest[: -len("<unfinished ...>")].rstrip()
            call = Call(thread, start.split("(", 1)[0], [], None, None, line=number)
            events.append(call if call.name in EFFECT_AT_START else Started(call))
            pending[thread] = (start, call)
            continue
        resumed = RESUMED.match(rest)
        if resumed:
            if thread not in pending:
                raise TraceError(f"line {number}: {resumed.group(1)} resumed without its start")
            start, call = pending.pop(thread)
            complete = parse_call(thread, start + resumed.group(2), call.line)
            call.__dict__.update(complete.__dict__)
            if call.name not in EFFECT_AT_START:
                events.append(call)
            continue
        events.append(parse_call(thread, rest, number))
    return events


def parse_call(thread: int, text: str, line: int = 0) -> Call:
    call = CALL.match(text)
    if not call:
        raise TraceError(f"line {line}: not a call: {text[:200]}")
    name, remainder = call.group(1), call.group(2)
    results = list(RESULT.finditer(remainder))
    if not results:
        raise TraceError(f"line {line}: no result: {text[:200]}")
    last = results[-1]
    arguments = split_arguments(remainder[: last.start()])
    result, error, result_path = parse_result(last.group(1))
    return Call(thread, name, arguments, result, error, result_path, line)


def parse_result(text: str):
    """`5<path>`, `0`, `-1 ENOENT (…)` or `?` as (value, errno name, path)."""
    text = text.strip()
    if text.startswith("?"):
        return None, None, None
    match = re.match(r"^(-?\d+|0x[0-9a-f]+)(<([^>]*)>)?(\s+(E\w+))?", text)
    if not match:
        raise TraceError(f"unreadable result {text[:100]}")
    value = int(match.group(1), 0)
    path = decode_hex(match.group(3)) if match.group(2) else None
    return value, match.group(5), path


def split_arguments(text: str) -> list:
    """Top-level arguments, split at commas outside strings, brackets and braces."""
    arguments, depth, start, in_string = [], 0, 0, False
    index = 0
    while index < len(text):
        char = text[index]
        if in_string:
            if char == "\\":
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            arguments.append(text[start:index].strip())
            start = index + 1
        index += 1
    tail = text[start:].strip()
    if tail:
        arguments.append(tail)
    return arguments


def decode_hex(text: str) -> bytes:
    """The bytes of `-xx` output: `\\x2f\\x74` is b"/t"; anything else is taken as it is."""
    out = bytearray()
    position = 0
    for match in HEX_BYTES.finditer(text):
        out += text[position : match.start()].encode()
        out += bytes.fromhex(match.group(0).replace("\\x", ""))
        position = match.end()
    out += text[position:].encode()
    return bytes(out)


def string(argument: str) -> bytes:
    """A quoted string argument; a string strace cut short is an error, not a silent truncation."""
    if not argument.startswith('"'):
        raise TraceError(f"not a string: {argument[:80]}")
    end = argument.rfind('"')
    if argument[end + 1 :].startswith("..."):
        raise TraceError("strace cut a string short: raise -s")
    return decode_hex(argument[1:end])


def descriptor(argument: str) -> Descriptor:
    match = re.match(r"^(-?\d+|AT_FDCWD)(<(.*)>)?(\(deleted\))?$", argument, re.DOTALL)
    if not match:
        raise TraceError(f"not a file descriptor: {argument[:80]}")
    number = match.group(1)
    path = decode_hex(match.group(3)) if match.group(2) else None
    return Descriptor(number if number == "AT_FDCWD" else int(number), path, deleted=bool(match.group(4)))


def flags(argument: str) -> Flags:
    return Flags(set(re.findall(r"[A-Z_][A-Z0-9_]*", argument)))


def integer(argument: str) -> int:
    return int(argument.split("<")[0], 0)


def iovec_data(argument: str) -> bytes:
    """The bytes of an iovec array: `[{iov_base="…", iov_len=2}, …]`."""
    data = b""
    for match in re.finditer(r'iov_base="((?:[^"\\]|\\.)*)"(\.\.\.)?', argument):
        if match.group(2):
            raise TraceError("strace cut an iovec short: raise -s")
        data += decode_hex(match.group(1))
    return data

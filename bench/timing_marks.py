"""The timing marks the peers' jobs append, in the format Spool's bench server writes:
"<tag> <event> <CLOCK_MONOTONIC ns>", one write per line (S1 when step 1 starts, D after step 3)."""
import os
import time


class MarksWriter:
    """Appends marks; reopens the file after a fork so each worker process has its own fd."""

    def __init__(self, path):
        self.path = path
        self.fd = None
        self.pid = None

    def append(self, tag, event):
        if self.pid != os.getpid():
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self.pid = os.getpid()
        os.write(self.fd, f"{tag} {event} {time.monotonic_ns()}\n".encode())

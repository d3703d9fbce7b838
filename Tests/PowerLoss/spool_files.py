"""Reading a spool's folders: where each welcome event is, and whether the work is over.

Events are told apart by `data.n`, which the suite sets on every event it sends or drops: event
ids cannot serve, since an event dropped without one gets an id derived from its claim.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field


def visible(folder: str) -> list:
    """The names in `folder` that are work (not dot-named); an absent folder lists as empty."""
    try:
        return sorted(name for name in os.listdir(folder) if not name.startswith("."))
    except FileNotFoundError:
        return []


def hidden(folder: str, prefix: str) -> list:
    try:
        return sorted(name for name in os.listdir(folder) if name.startswith(prefix))
    except FileNotFoundError:
        return []


def read_json(path: str):
    """The parsed file, or raises ValueError saying why it cannot be read."""
    try:
        with open(path, "rb") as file:
            return json.loads(file.read())
    except FileNotFoundError:
        raise ValueError("missing")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"does not parse ({error})")


def event_marks(document) -> list:
    """The `data.n` of each event in an event file (an object or an array of them)."""
    events = document if isinstance(document, list) else [document]
    return [event.get("data", {}).get("n") for event in events if isinstance(event, dict)]


def log_says_serving(log: str) -> bool:
    try:
        with open(log, "rb") as file:
            return b"[SpoolEngine] serving " in file.read()
    except FileNotFoundError:
        return False


def done_runs(spool: str) -> list:
    """(path, run id) of every run in done/."""
    runs = []
    for day in visible(os.path.join(spool, "done")):
        for run in visible(os.path.join(spool, "done", day)):
            runs.append((os.path.join(spool, "done", day, run), run))
    return runs


def is_settled(spool: str, runs: int) -> bool:
    """At least `runs` runs done and nothing left to do: no live run, event or claim."""
    return (
        len(done_runs(spool)) >= runs
        and not visible(os.path.join(spool, "runs"))
        and not visible(os.path.join(spool, "incoming"))
        and not hidden(os.path.join(spool, "tmp"), ".claim-")
    )


def is_quiet(spool: str) -> bool:
    """No live run, no event in incoming/ and no claim: the server has nothing left to do."""
    return is_settled(spool, 0)


@dataclass
class Census:
    """Where each event of a spool is, by its `data.n`."""

    incoming: set = field(default_factory=set)
    claimed: set = field(default_factory=set)
    staged: set = field(default_factory=set)
    live: set = field(default_factory=set)
    done: set = field(default_factory=set)
    # Accepted files that should hold events but cannot be read: "incoming/x.json: does not parse".
    unreadable: list = field(default_factory=list)

    @property
    def owed(self) -> set:
        """Events the spool has and must complete: dropped, claimed, live or done."""
        return self.incoming | self.claimed | self.live | self.done

    def summary(self) -> dict:
        return {
            "incoming": sorted(self.incoming),
            "claimed": sorted(self.claimed),
            "staged": sorted(self.staged),
            "live": sorted(self.live),
            "done": sorted(self.done),
            "unreadable": self.unreadable,
        }


def census(spool: str) -> Census:
    found = Census()

    def collect(into: set, path: str, label: str):
        try:
            into.update(mark for mark in event_marks(read_json(path)) if mark is not None)
        except ValueError as problem:
            found.unreadable.append(f"{label}: {problem}")

    incoming = os.path.join(spool, "incoming")
    for name in visible(incoming):
        collect(found.incoming, os.path.join(incoming, name), "incoming/" + name)
    tmp = os.path.join(spool, "tmp")
    for name in hidden(tmp, ".claim-"):
        collect(found.claimed, os.path.join(tmp, name), "tmp/" + name)
    runs = os.path.join(spool, "runs")
    for name in hidden(runs, ".stage-"):
        # A staging directory is not accepted work yet: its files may be torn, and then it is redone.
        try:
            found.staged.update(event_marks(read_json(os.path.join(runs, name, "event.json"))))
        except ValueError:
            pass
    for name in visible(runs):
        collect(found.live, os.path.join(runs, name, "event.json"), f"runs/{name}/event.json")
    for path, run in done_runs(spool):
        collect(found.done, os.path.join(path, "event.json"), f"done/…/{run}/event.json")
    return found

"""A peer of the tiny-job benchmark: Huey with its own worker processes.

The driver builds a `HueyPeer` to enqueue; `huey_consumer huey_peer.huey` runs the job with the
instance this module builds from the environment:

  BENCH_PEER        huey-sqlite | huey-redis
  BENCH_STATE       directory holding the peer's store and marks.log
  BENCH_REDIS_PORT  port of the private redis-server (huey-redis only)

The job mirrors Spool's bench-tiny: three steps, each memoized in the peer's own store
(skipped if its result is already there, else computed and persisted), with the same
timing marks (timing_marks.py) in BENCH_STATE/marks.log.
"""
import os

from huey import RedisHuey, SqliteHuey

from timing_marks import MarksWriter


def make_huey(peer, state, redis_port):
    if peer == "huey-sqlite":
        # journal_mode=wal is Huey's default; synchronous is left at SQLite's default (FULL).
        return SqliteHuey("bench", filename=os.path.join(state, "huey.db"))
    if peer == "huey-redis":
        return RedisHuey("bench", host="127.0.0.1", port=redis_port)
    raise SystemExit(f"BENCH_PEER must be huey-sqlite or huey-redis, not {peer!r}")


def define_tiny_job(huey, marks):
    @huey.task(name="tiny_job")
    def tiny_job(event):
        marks.append("S1", event)
        for step in (1, 2, 3):
            key = f"step:{event}:{step}"
            if huey.get(key, peek=True) is None:
                huey.put(key, {"event": event, "step": step, "ok": True})
        marks.append("D", event)

    return tiny_job


class HueyPeer:
    """A peer's Huey instance with the tiny job registered, as producer or consumer."""

    def __init__(self, peer, state, redis_port):
        self.huey = make_huey(peer, state, redis_port)
        self.tiny_job = define_tiny_job(self.huey, MarksWriter(os.path.join(state, "marks.log")))

    @classmethod
    def from_environment(cls):
        return cls(os.environ["BENCH_PEER"], os.environ["BENCH_STATE"],
                   int(os.environ.get("BENCH_REDIS_PORT", "6390")))

    def enqueue(self, event):
        self.tiny_job(event)

    def close(self):
        """Closes the producer's connections to the store."""
        storage = self.huey.storage
        if hasattr(storage, "close"):
            storage.close()
        pool = getattr(storage, "pool", None)
        if pool is not None:
            pool.disconnect()


# What `huey_consumer huey_peer.huey` loads.
if "BENCH_PEER" in os.environ:
    huey = HueyPeer.from_environment().huey

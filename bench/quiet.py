"""Waiting for a quiet machine before a measurement.

The machine is shared (other people build and test on it), so before each measurement,
while the benchmark's own processes are idle, we sample machine-wide CPU use (/proc/stat)
and the share of time some task was stalled on I/O (/proc/pressure/io, where the kernel
has it), and wait until both are below their thresholds, for at most a bounded time. What
we saw is stored with the measurement, so a figure taken on a busy machine can be recognised.
"""
import os
import time

IO_PRESSURE = "/proc/pressure/io"


def cpu_times():
    """(total, idle) jiffies over all CPUs; iowait counts as idle."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields), idle


def io_stall_microseconds():
    """Total time some task waited on I/O, or None without pressure stall information."""
    try:
        with open(IO_PRESSURE) as pressure:
            some = pressure.readline().split()
    except OSError:
        return None
    return int(some[-1].removeprefix("total="))


def sample(interval):
    """(CPU busy %, I/O stall % or None) over `interval` seconds."""
    total_before, idle_before = cpu_times()
    stalled_before = io_stall_microseconds()
    started = time.monotonic()
    time.sleep(interval)
    total_after, idle_after = cpu_times()
    stalled_after = io_stall_microseconds()
    elapsed_us = (time.monotonic() - started) * 1e6
    busy = 100.0 * (1 - (idle_after - idle_before) / max(1, total_after - total_before))
    stall = None if stalled_before is None else 100.0 * (stalled_after - stalled_before) / elapsed_us
    return busy, stall


def wait_until_quiet(cpu_threshold=20.0, io_threshold=10.0, max_wait=90.0, interval=1.0):
    """Blocks until CPU use and I/O stall are below their thresholds (percent), or `max_wait` s."""
    started = time.monotonic()
    while True:
        busy, stall = sample(interval)
        quiet = busy < cpu_threshold and (stall is None or stall < io_threshold)
        if quiet or time.monotonic() - started >= max_wait:
            break
    return {
        "busy_pct": round(busy, 1),
        "io_stall_pct": None if stall is None else round(stall, 1),
        "quiet": quiet,
        "waited_s": round(time.monotonic() - started, 1),
        "load1": round(os.getloadavg()[0], 2),
    }

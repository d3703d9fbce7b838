"""The traced workload: `spool serve` on a prepared spool, welcome events sent to it with
`spool send`, then SIGTERM once every run is done.

Run under `strace -f`, this process is the root of the trace: the server and each `spool send`
are its children. After each `spool send` returns, one line `acknowledged <n>` is written to the
marker file in a single write, so the trace shows the moment the sender was told its event
was accepted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import spool_files


def wait_until(what: str, seconds: float, condition, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            raise SystemExit(f"spool serve exited ({process.returncode}) while waiting for {what}")
        time.sleep(0.02)
    raise SystemExit(f"timed out after {seconds} s waiting for {what}")


def send(binary: str, spool: str, ids: dict, n: str) -> str:
    data = json.dumps({"userId": ids["userId"], "workspaceId": ids["workspaceId"], "n": n})
    sent = subprocess.run(
        [binary, "send", "user/signed.up", "--spool", spool, "--data", data], capture_output=True, text=True, check=False
    )
    if sent.returncode != 0:
        raise SystemExit(f"spool send failed: {sent.stderr}")
    return sent.stdout.strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--spool", required=True)
    parser.add_argument("--ids", required=True, help="the JSON `spool demo seed` printed")
    parser.add_argument("--sends", type=int, required=True)
    parser.add_argument("--expected-runs", type=int, required=True)
    parser.add_argument("--marker", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--seconds", type=float, default=60)
    arguments = parser.parse_args(argv)
    ids = json.loads(arguments.ids)

    with open(arguments.log, "ab") as log:
        server = subprocess.Popen(
            [arguments.bin, "serve", "--spool", arguments.spool, "--rescan-seconds", "0.2"], stdout=log, stderr=log
        )
    try:
        wait_until("the server to serve", arguments.seconds, lambda: spool_files.log_says_serving(arguments.log), server)
        marker = os.open(arguments.marker, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        for index in range(arguments.sends):
            n = f"sent-{index}"
            send(arguments.bin, arguments.spool, ids, n)
            os.write(marker, f"acknowledged {n}\n".encode())
        os.close(marker)
        wait_until(
            f"{arguments.expected_runs} runs done",
            arguments.seconds,
            lambda: spool_files.is_settled(arguments.spool, arguments.expected_runs),
            server,
        )
        server.send_signal(signal.SIGTERM)
        status = server.wait(timeout=arguments.seconds)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    if status != 0:
        print(f"spool serve exited with {status} after SIGTERM", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes cron-reference.json: croniter's answers that CronExpressionTests checks CronExpression against.

Each row is one expression and one start instant, with croniter's next five fire times after the start and its latest
fire time at or before the start, all as ISO-8601 UTC strings. A "TZ=" or "CRON_TZ=" prefix is stripped and the start
is given to croniter in that zone, since croniter itself knows no such prefix.

Run from anywhere with `python3 make_cron_reference.py` (needs `pip install croniter`); the output is deterministic.
"""

import json
import pathlib
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from croniter import croniter

EXPRESSIONS = [
    "* * * * *",
    "*/15 * * * *",
    "0 * * * *",
    "0 8 * * 1",
    "0 9-17/2 * * MON-FRI",
    "0 0 1,15 * *",
    "0 0 * * 0",
    "0 0 * * 7",
    "30 4 1 JAN,JUL *",
    "0 0 29 2 *",
    "5/15 * * * *",
    "59/15 * * * *",
    "10-50/10 * * * *",
    "0 0 13 * FRI",
    "59 23 31 12 *",
    "0 0 31 * *",
    "0 12 * * SAT,SUN",
    "0 0 * * FRI-SUN",
    "0 0 * * 5-7",
    "5 4 * * sun",
    "15 14 1 * *",
    "0 22 * * 1-5",
    "23 0-20/2 * * *",
    "0 0,12 1 */2 *",
    "0 4 8-14 * *",
    "*/5 9-17 * * 1-5",
    "0 */6 * * *",
    "45 23 * * 6",
    "0 12 * JUN-AUG *",
    "30 8 * * 1/2",
    "0 0 1 * MON",
    "0 0 29 2 1",
    "0 0 */2 * 1",
    "0 0 */1 * 1",
    "0 0 1-31 * */2",
    "0 0 1 1 *",
    "0,30 * 1 jan *",
    "@hourly",
    "@daily",
    "@midnight",
    "@weekly",
    "@monthly",
    "@yearly",
    "@annually",
    "TZ=UTC @daily",
    "TZ=America/New_York 30 2 * * *",
    "TZ=America/New_York 0 1 * * *",
    "TZ=America/New_York 15,45 2 * * *",
    "TZ=America/New_York */30 1-3 * * *",
    "TZ=America/New_York */30 * * * *",
    "TZ=America/New_York 0 8 * * 1",
    "CRON_TZ=Europe/Berlin 30 2 * * *",
    "TZ=Europe/London 0 9 * * *",
    "TZ=Asia/Kolkata 0 9 * * MON-FRI",
    "TZ=Australia/Sydney 0 2 * * *",
    "TZ=America/Santiago 0 0 * * *",
]

STARTS = [
    "2026-06-01T00:00:00Z",
    "2026-11-29T07:59:00Z",
    "2026-12-31T23:59:30Z",
    "2028-02-28T12:00:00Z",
]

# Starts around each zone's 2026 daylight-saving changes, so that rows cross a skipped or a repeated hour.
ZONE_STARTS = {
    "America/New_York": ["2026-03-08T05:50:00Z", "2026-03-08T07:00:00Z", "2026-11-01T04:10:00Z",
                         "2026-11-01T05:35:00Z", "2026-11-01T06:10:00Z"],
    "Europe/Berlin": ["2026-03-28T12:00:00Z", "2026-10-24T12:00:00Z", "2026-10-25T00:45:00Z"],
    "Europe/London": ["2026-03-28T12:00:00Z", "2026-10-24T12:00:00Z"],
    "Australia/Sydney": ["2026-04-04T12:00:00Z", "2026-04-04T15:30:00Z", "2026-10-03T12:00:00Z"],
    "America/Santiago": ["2026-04-04T12:00:00Z", "2026-09-04T12:00:00Z"],
}

# Starts for particular expressions: the longest gap between leap days, and an exact fire time.
EXPRESSION_STARTS = {
    "0 0 29 2 *": ["2097-03-01T00:00:00Z", "2104-02-28T00:00:00Z"],
    "0 8 * * 1": ["2026-06-01T08:00:00Z", "2026-06-01T08:00:59Z"],
    "0 0 13 * FRI": ["2026-02-13T00:00:00Z"],
}


def split_zone(expression):
    """The expression without its zone prefix, and the zone (UTC by default)."""
    first, _, rest = expression.partition(" ")
    for prefix in ("TZ=", "CRON_TZ="):
        if first.startswith(prefix):
            return rest, ZoneInfo(first[len(prefix):])
    return expression, timezone.utc


def iso(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def row(expression, after):
    fields, zone = split_zone(expression)
    start = datetime.fromisoformat(after.replace("Z", "+00:00")).astimezone(zone)
    ticks = croniter(fields, start)
    upcoming = [iso(ticks.get_next(datetime)) for _ in range(5)]
    # croniter's get_prev is strictly before its start; fire times are whole minutes, so starting one second later
    # makes it "at or before".
    previous = croniter(fields, start + timedelta(seconds=1)).get_prev(datetime)
    return {"expr": expression, "after": after, "next": upcoming, "previous": iso(previous)}


def main():
    rows = []
    for expression in EXPRESSIONS:
        zone = split_zone(expression)[1]
        starts = STARTS + ZONE_STARTS.get(str(zone), []) + EXPRESSION_STARTS.get(expression, [])
        rows.extend(row(expression, after) for after in starts)
    rows.sort(key=lambda r: (r["expr"], r["after"]))
    output = pathlib.Path(__file__).with_name("cron-reference.json")
    output.write_text(json.dumps(rows, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(rows)} rows for {len(EXPRESSIONS)} expressions to {output}")


if __name__ == "__main__":
    main()

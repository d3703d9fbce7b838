"""bench/results.md from the raw figures of every round."""
import dataclasses
import statistics

# The figure each measurement is summed up by, with its unit and how to print it.
FIGURES = {
    "disk": ("ops_per_s", "ops/s", "{:,.0f}"),
    "layout": ("events_per_s", "runs/s", "{:,.0f}"),
    "tiny": ("events_per_s", "events/s", "{:,.0f}"),
    "latency": ("p50_ms", "ms", "{:.2f}"),
    "import": ("rows_per_s", "rows/s", "{:,.0f}"),
    "export": ("rows_per_s", "rows/s", "{:,.0f}"),
}

PEER_NAMES = {
    "huey-sqlite": "Huey SqliteHuey (WAL, synchronous FULL)",
    "huey-redis-always": "Huey + Redis (AOF always)",
    "huey-redis-everysec": "Huey + Redis (AOF everysec; not durable per step)",
    "procrastinate": "procrastinate + PostgreSQL (commit per step)",
}


def throughput_text(name, result):
    """A workload's main figure with its unit (`1,234 events/s`), for every workload but latency."""
    field, unit, style = FIGURES[name.split("/")[0]]
    return f"{style.format(result[field])} {unit}"


def one_line(name, result):
    """A measurement's result as the progress line shows it."""
    if "error" in result:
        return "FAILED: " + result["error"].splitlines()[0]
    if name.startswith("latency/"):
        text = f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms"
    else:
        text = throughput_text(name, result)
    if "serve_peak_rss_mb" in result:
        text += f", serve peak RSS {result['serve_peak_rss_mb']:.1f} MB"
    if "note" in result:
        text += f" (note: {result['note']})"
    return f"{text}   [before: {machine_state(result['machine'])}]"


def machine_state(machine):
    """What the machine was doing before a measurement, e.g. "cpu 3%, io 0%, waited 12 s"."""
    text = f"cpu {machine['busy_pct']:.0f}%"
    if machine.get("io_stall_pct") is not None:
        text += f", io {machine['io_stall_pct']:.0f}%"
    if machine["waited_s"] >= 2:
        text += f", waited {machine['waited_s']:.0f} s"
    return text if machine["quiet"] else text + ", NOT quiet"


def values(rounds, name, field):
    return [figures[name][field] for figures in rounds
            if name in figures and "error" not in figures[name] and field in figures[name]]


def median(rounds, name, field):
    found = values(rounds, name, field)
    return statistics.median(found) if found else None


def median_of_ratios(rounds, name, numerator, denominator):
    """The median over rounds of one measurement's `numerator` ÷ `denominator`."""
    ratios = [figures[name][numerator] / figures[name][denominator] for figures in rounds
              if name in figures and "error" not in figures[name] and figures[name].get(numerator) is not None
              and figures[name].get(denominator)]
    return statistics.median(ratios) if ratios else None


def round_ratios(rounds, numerator, denominator, field):
    """Per round that has both: measurement `numerator`'s `field` ÷ measurement `denominator`'s."""
    ratios = []
    for figures in rounds:
        above, below = figures.get(numerator, {}), figures.get(denominator, {})
        if field in above and below.get(field):
            ratios.append(above[field] / below[field])
    return ratios


def history_ratios(rounds):
    """Per round: tiny-job throughput on the history spool ÷ on an empty spool."""
    return round_ratios(rounds, "tiny/spool-history", "tiny/spool", "events_per_s")


def median_round_ratio(rounds, numerator, denominator, field):
    """The median of `round_ratios`: unlike `median_of_ratios`, two measurements of each round."""
    ratios = round_ratios(rounds, numerator, denominator, field)
    return statistics.median(ratios) if ratios else None


@dataclasses.dataclass
class Target:
    """`value` (a ratio or an absolute figure) must be above/below `bound`."""
    text: str
    bound: float
    higher_is_better: bool
    strict: bool = False

    def verdict(self, value):
        if value is None:
            return "not measured"
        if self.higher_is_better:
            met = value > self.bound if self.strict else value >= self.bound
            shortfall = self.bound / value if value > 0 else float("inf")
        else:
            met = value < self.bound if self.strict else value <= self.bound
            shortfall = value / self.bound
        if met:
            return "yes"
        return f"no: needs {shortfall:.2f}× better" if shortfall < 10 else f"no: needs {shortfall:,.0f}× better"


@dataclasses.dataclass
class Row:
    """One line of the summary; a figure is None when it was not measured."""
    workload: str
    unit: str
    spool: float | None
    peer_name: str
    peer: float | None
    ratio: float | None
    target: Target | None
    style: str


def short_filesystem(findmnt_line, journal=None):
    fields = findmnt_line.split()
    if len(fields) != 3:
        return findmnt_line
    kind = {True: " with a journal", False: " without a journal", None: ""}[journal]
    return f"{fields[0]}{kind} ({fields[1]}, {fields[2]})"


def short_redis_version(version_line):
    for field in version_line.split():
        if field.startswith("v="):
            return "Redis " + field[2:]
    return version_line


def fmt(value, style):
    return "—" if value is None else style.format(value)


def ratio_of(spool, peer):
    return spool / peer if spool is not None and peer else None


def measured(rounds, name):
    return any(name in figures for figures in rounds)


def summary_rows(rounds, config, history_runs):
    tiny = median(rounds, "tiny/spool", "events_per_s")
    p50 = median(rounds, "latency/spool", "p50_ms")
    p99 = median(rounds, "latency/spool", "p99_ms")
    spool_import = median(rounds, "import/spool", "rows_per_s")
    spool_export = median(rounds, "export/spool", "rows_per_s")
    rss = median(rounds, "import/spool", "serve_peak_rss_mb")
    ratios = history_ratios(rounds)
    tiny_label = f"tiny jobs ({config['tiny_events']:,} × 3 steps)"
    rows = []
    for peer, target in (("huey-sqlite", Target("≥ 2×", 2.0, True)),
                         ("huey-redis-always", Target("> 1×", 1.0, True, strict=True)),
                         ("huey-redis-everysec", None), ("procrastinate", None)):
        if not measured(rounds, f"tiny/{peer}"):
            continue
        peer_tiny = median(rounds, f"tiny/{peer}", "events_per_s")
        rows.append(Row(tiny_label, "events/s", tiny, PEER_NAMES[peer], peer_tiny, ratio_of(tiny, peer_tiny),
                        target, "{:,.0f}"))
    for peer, target in (("huey-redis-always", Target("≤ 1×", 1.0, False)),
                         ("huey-sqlite", None), ("huey-redis-everysec", None), ("procrastinate", None)):
        if not measured(rounds, f"latency/{peer}"):
            continue
        peer_p50 = median(rounds, f"latency/{peer}", "p50_ms")
        rows.append(Row("latency enqueue → step 1, p50", "ms", p50, PEER_NAMES[peer], peer_p50,
                        ratio_of(p50, peer_p50), target, "{:.2f}"))
    redis_p99 = median(rounds, "latency/huey-redis-always", "p99_ms")
    rows.append(Row("latency enqueue → step 1, p99", "ms", p99, PEER_NAMES["huey-redis-always"], redis_p99,
                    ratio_of(p99, redis_p99), Target("< 5 ms (absolute)", 5.0, False, strict=True), "{:.2f}"))
    rows.append(Row(f"import {config['csv_rows']:,} contacts", "rows/s", spool_import, "sqlite3 CLI `.import --csv`",
                    median(rounds, "import/sqlite3", "rows_per_s"),
                    ratio_of(spool_import, median(rounds, "import/sqlite3", "rows_per_s")),
                    Target("≥ 0.8×", 0.8, True), "{:,.0f}"))
    rows.append(Row("export the imported contacts", "rows/s", spool_export, "sqlite3 CLI `-csv select *`",
                    median(rounds, "export/sqlite3", "rows_per_s"),
                    ratio_of(spool_export, median(rounds, "export/sqlite3", "rows_per_s")),
                    Target("≥ 0.8×", 0.8, True), "{:,.0f}"))
    rows.append(Row(f"tiny jobs on {history_runs:,} finished runs", "events/s",
                    median(rounds, "tiny/spool-history", "events_per_s"), "Spool on an empty spool, same round",
                    tiny, statistics.median(ratios) if ratios else None, Target("≥ 0.9", 0.9, True), "{:,.0f}"))
    rows.append(Row("`spool serve` peak RSS during import", "MB", rss, "—", None, None,
                    Target("< 100 MB (absolute)", 100.0, False, strict=True), "{:.1f}"))
    return rows


def verdict_value(row):
    """What a row's target is checked against: the ratio, or the absolute Spool figure."""
    return row.spool if "absolute" in row.target.text else row.ratio


def render_summary(rounds, config, history_runs):
    lines = ["| workload | unit | Spool | peer | peer figure | Spool ÷ peer | target | met |",
             "|---|---|---:|---|---:|---:|---|---|"]
    for row in summary_rows(rounds, config, history_runs):
        target = row.target.text if row.target else "context"
        met = row.target.verdict(verdict_value(row)) if row.target else "—"
        ratio = fmt(row.ratio, "{:.2f}") if row.peer is not None else "—"
        lines.append(f"| {row.workload} | {row.unit} | {fmt(row.spool, row.style)} | {row.peer_name} | "
                     f"{fmt(row.peer, row.style)} | {ratio} | {target} | {met} |")
    return "\n".join(lines)


def render_disk(rounds):
    durable = median(rounds, "disk/durable", "ops_per_s")
    nofsync = median(rounds, "disk/nofsync", "ops_per_s")
    tiny = median(rounds, "tiny/spool", "events_per_s")
    history = median(rounds, "tiny/spool-history", "events_per_s")
    p50 = median(rounds, "latency/spool", "p50_ms")
    layout = median(rounds, "layout/c", "events_per_s")
    layout_cpu = median(rounds, "layout/c", "cpu_ms_per_event")
    lean = median(rounds, "layout/c-lean", "events_per_s")
    variant_gain = {variant: median_round_ratio(rounds, f"layout/c-{variant}", "layout/c", "events_per_s")
                    for variant in ("no-log", "one-flush-per-step", "lean")}
    tiny_cpu = median(rounds, "tiny/spool", "cpu_ms_per_event")
    sqlite_huey = median(rounds, "tiny/huey-sqlite", "events_per_s")
    tiny_target = 2 * sqlite_huey if sqlite_huey else None
    spool_import = median(rounds, "import/spool", "rows_per_s")
    plain_import = median(rounds, "import/sqlite3", "rows_per_s")
    upsert = median(rounds, "import/sqlite3-upsert", "rows_per_s")
    busiest_share = median_of_ratios(rounds, "import/spool", "busiest_thread_cpu_s", "seconds")
    serve_cores = median_of_ratios(rounds, "import/spool", "serve_cpu_s", "seconds")
    publish_ms = 1000 / durable if durable else None
    lines = ["| figure | value |", "|---|---:|",
             f"| create + write 300 B + fsync + rename + fsync(dir), per second | {fmt(durable, '{:,.0f}')} |",
             f"| the same without either fsync, per second | {fmt(nofsync, '{:,.0f}')} |",
             f"| one durable publish takes (ms) | {fmt(publish_ms, '{:.2f}')} |",
             f"| Spool tiny jobs/s ÷ durable publishes/s | {fmt(ratio_of(tiny, durable), '{:.3f}')} |",
             f"| Spool tiny jobs/s with history ÷ durable publishes/s | {fmt(ratio_of(history, durable), '{:.3f}')} |",
             f"| Spool latency p50 ÷ one durable publish | {fmt(ratio_of(p50, publish_ms), '{:.1f}')} |",
             f"| the file operations of one tiny run alone, in C, as many at once as Spool's (`layout_floor`), "
             f"runs per second | {fmt(layout, '{:,.0f}')} |",
             f"| … its CPU per run (ms) | {fmt(layout_cpu, '{:.2f}')} |",
             f"| Spool tiny jobs/s ÷ those runs/s | {fmt(ratio_of(tiny, layout), '{:.3f}')} |",
             f"| Spool's tiny-job server: CPU per event, all threads (ms) | {fmt(tiny_cpu, '{:.2f}')} |",
             f"| … the events/s two cores allow at that | "
             f"{fmt(ratio_of(2000, tiny_cpu), '{:,.0f}')} |",
             f"| 2 × SqliteHuey's events/s (the tiny-job target) ÷ those runs/s | "
             f"{fmt(ratio_of(tiny_target, layout), '{:.2f}')} |",
             "| the same C program without log.jsonl, runs/s ÷ the full layout's (median of the rounds' ratios) | "
             f"{fmt(variant_gain['no-log'], '{:.2f}')} |",
             "| … with one flush per step, not two (a step file's rename is made durable by the next step's "
             f"flush: not write rule 1) | {fmt(variant_gain['one-flush-per-step'], '{:.2f}')} |",
             "| … with both, and the step files in the run's folder (no `steps/`) | "
             f"{fmt(variant_gain['lean'], '{:.2f}')} |",
             "| 2 × SqliteHuey's events/s ÷ that lean layout's runs/s | "
             f"{fmt(ratio_of(tiny_target, lean), '{:.2f}')} |",
             "| SQLite itself upserting the CSV into folksbase's contacts schema (`sqlite3`: `.import` into a "
             f"temporary table, then `INSERT … SELECT … ON CONFLICT`), rows/s | {fmt(upsert, '{:,.0f}')} |",
             f"| Spool import rows/s ÷ that | {fmt(ratio_of(spool_import, upsert), '{:.2f}')} |",
             "| 0.8 × the plain `.import`'s rows/s (the import target) ÷ that | "
             f"{fmt(ratio_of(0.8 * plain_import if plain_import else None, upsert), '{:.2f}')} |",
             "| during Spool's import: CPU time of `spool serve`'s busiest thread ÷ "
             f"the import's time | {fmt(busiest_share, '{:.2f}')} |",
             f"| … and of all its threads (cores used, of 2) | {fmt(serve_cores, '{:.2f}')} |"]
    return "\n".join(lines)


def raw_cell(name, result):
    if result is None:
        return "—"
    if "error" in result:
        return "failed (see Failures)"
    if name.startswith("latency/"):
        text = f"{result['p50_ms']:.2f} / {result['p99_ms']:.2f} / {result['max_ms']:.2f} ms"
    else:
        text = throughput_text(name, result)
    if "serve_peak_rss_mb" in result:
        text += f", RSS {result['serve_peak_rss_mb']:.1f} MB"
    if "note" in result:
        text += " (see Notes)"
    return f"{text} · {machine_state(result['machine'])}"


def measurement_order(rounds):
    """Every measurement name, by workload, Spool first, then the peers as they were run."""
    first_seen = list(dict.fromkeys(name for figures in rounds for name in figures))
    workloads = ["disk", "layout", "tiny", "latency", "import", "export"]

    def key(name):
        workload, system = name.split("/", 1)
        return workloads.index(workload), not system.startswith("spool"), first_seen.index(name)

    return sorted(first_seen, key=key)


def render_raw(rounds):
    names = measurement_order(rounds)
    header = "| measurement | " + " | ".join(f"round {n}" for n in range(1, len(rounds) + 1)) + " |"
    lines = [header, "|---|" + "---:|" * len(rounds)]
    for name in names:
        label = f"{name} (p50 / p99 / max)" if name.startswith("latency/") else name
        lines.append(f"| {label} | " + " | ".join(raw_cell(name, figures.get(name)) for figures in rounds) + " |")
    ratios = history_ratios(rounds)
    if ratios:
        lines.append("| tiny/spool-history ÷ tiny/spool | " + " | ".join(f"{r:.2f}" for r in ratios) + " |")
    return "\n".join(lines)


def render_outcomes(rounds):
    lines = []
    for number, figures in enumerate(rounds, 1):
        for name in ("import/spool", "export/spool", "import/sqlite3"):
            result = figures.get(name, {})
            if "outcome" in result:
                lines.append(f"- round {number}, {name}: {result['outcome']}")
            elif "table_rows" in result:
                lines.append(f"- round {number}, {name}: {result['table_rows']:,} rows in the plain table")
    return "\n".join(lines)


def not_quiet_count(rounds):
    machines = [result["machine"] for figures in rounds for result in figures.values()]
    busy = sum(1 for machine in machines if not machine["quiet"])
    if not busy:
        return "Every measurement started on a quiet machine."
    return (f"{busy} of {len(machines)} measurements started on a machine that was still busy after the wait "
            "(marked \"NOT quiet\" below); treat their figures with care.")


def render_header(run):
    config, facts, history = run["config"], run["facts"], run["history"]
    generated = (f"generated in this run in {history['generated_s']:.0f} s" if history["generated_s"]
                 else "reused from bench/.work/history")
    procrastinate = (f"procrastinate {facts['procrastinate']} on {facts['postgres']} with {config['peer_workers']} "
                     f"worker processes of concurrency 2" if not run["procrastinate_not_run"]
                     else f"procrastinate + PostgreSQL: not run: {run['procrastinate_not_run']}")
    csv_outcome = run["csv_outcome"].split(": ", 1)[-1]
    return [
        f"- date: {facts['date']}; commit {facts['commit']}; whole run {run['duration_s'] / 60:.1f} min",
        f"- machine: {facts['nproc']} CPUs ({facts['cpu']}), {facts['memory_gib']} GiB memory, "
        f"kernel {facts['kernel']}; bench directory on "
        f"{short_filesystem(facts['filesystem'], facts.get('ext4_journal'))}",
        f"- peers: Huey {facts['huey']} with {config['peer_workers']} worker processes (`huey_consumer -k process`, "
        f"default polling); redis-py {facts['redis_py']}, {short_redis_version(facts['redis_server'])}; "
        f"SQLite {facts['sqlite3']} (a WAL database opened by Python gets synchronous="
        f"{facts['sqlite_synchronous_in_wal']}); {procrastinate}; Python {facts['python']}",
        f"- sizes: {config['rounds']} round(s); tiny jobs {config['tiny_events']:,} events; latency "
        f"{config['latency_events']} events {config['latency_spacing_s'] * 1000:.0f} ms apart; "
        f"CSV {config['csv_rows']:,} rows ({csv_outcome}); history {history['runs']:,} finished runs, {generated}; "
        f"tiny-job server `spool-bench serve --concurrency {config['spool_concurrency']}`",
    ]


def notes(rounds):
    return [f"round {number}, {name}: {result['note']}"
            for number, figures in enumerate(rounds, 1) for name, result in figures.items() if "note" in result]


def render(run):
    config, rounds = run["config"], run["rounds"]
    quick = " (BENCH_QUICK=1: small sizes, not comparable with full runs)" if config["quick"] else ""
    sections = [
        f"# Spool benchmark{quick}",
        "",
        *render_header(run),
        "",
        f"## Medians of {len(rounds)} interleaved round(s)",
        "",
        render_summary(rounds, config, run["history"]["runs"]),
        "",
        *([f"procrastinate + PostgreSQL: not run: {run['procrastinate_not_run']}.", ""]
          if run["procrastinate_not_run"] else []),
        "Spool ÷ peer is median ÷ median (for latency, lower is better, so ≤ 1× means Spool is as fast "
        "or faster). The history row's ratio is the median of each round's own ratio. \"needs N× better\" "
        "is the factor by which Spool's figure must improve to meet the target.",
        "",
        "## Against what the disk and SQLite allow (same run, in the directory the spools live in)",
        "",
        render_disk(rounds),
        "",
        "## How it was measured",
        "",
        "- Every round runs each system in turn (Spool, then each peer) on the same workload, each from a "
        f"fresh store and fresh processes, after a `sync` and waiting (up to {config['quiet_max_wait_s']:.0f} s, "
        f"{config['quiet_budget_s']:.0f} s in all) "
        "for machine-wide CPU use below 20% and I/O stall (/proc/pressure/io) below 10% over one second. "
        f"{not_quiet_count(rounds)}",
        "- Tiny jobs: one job per event with 3 steps, each persisting a small result in the system's own "
        "store (Spool: `steps/<name>.json`; Huey: `huey.put` after a memo lookup; procrastinate: a row "
        "in a `steps` table after a memo SELECT). Throughput is end to "
        "end: from just before the first enqueue to the last job's end mark. 10 warm-up events run first.",
        "- Spool's producer writes the event into `tmp/` and renames it into `incoming/` with no fsync; "
        "the server's intake makes the event durable before its run starts. Huey's producer calls the "
        "task, which writes to SQLite (a durable commit) or Redis; procrastinate's defers a job row.",
        "- Latency: after an idle second, events 10 ms apart; from just before the enqueue (Spool: just "
        "before the rename into `incoming/`) to the start of step 1. p99 is the nearest-rank percentile.",
        "- Import: `spool import` (waits for `process-csv` to finish) against a fresh `spool serve` on a "
        "freshly seeded demo workspace (its 5 demo contacts); rows/s counts every row of the file. "
        "sqlite3: `.import --csv` of the same file into a new table of a fresh database. The serve's peak "
        "RSS is VmHWM read just before stopping it. The import floor: `sqlite3` `.import`s the file into a "
        "temporary table and upserts it into a fresh database with folksbase's schema (ids in creation order, "
        "16 MiB page cache, synchronous FULL), without validation, chunk files or steps. The server's CPU time, thread by thread, is read from "
        "/proc/PID/task just before and just after the import.",
        "- Export: `spool export` (waits for `process-export`) against a fresh `spool serve`; rows/s counts "
        "the exported contacts. sqlite3: `sqlite3 -csv DB 'select * from contacts' > file` over the "
        "plain table.",
        "- History: the tiny-job workload on a spool that already holds the finished runs, divided by the "
        "empty-spool figure of the same round; the runs it adds are removed afterwards.",
        "",
        "<details><summary>Each round's figures (value · the machine just before the measurement)</summary>",
        "",
        render_raw(rounds),
        "",
        render_outcomes(rounds),
        "",
        "</details>",
    ]
    if notes(rounds):
        sections += ["", "## Notes", ""] + [f"- {note}" for note in notes(rounds)]
    if run["failures"]:
        sections += ["", "## Failures", ""] + ["- " + failure.replace("\n", "\n  ") for failure in run["failures"]]
    return "\n".join(sections) + "\n"

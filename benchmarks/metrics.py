"""Metrics benchmark: poanalytics against chDB (ClickHouse) and a straightforward pandas version.

    .venv/bin/python benchmarks/metrics.py                      # 10M and 100M demo events
    .venv/bin/python benchmarks/metrics.py --sizes 10M --runs 5

For each size it generates (or reuses, in data/bench/) demo events, loads them into a DuckDB
warehouse and into a chDB MergeTree table, then times three questions on each engine:

- funnel:    5 ordered steps, 7-day window (poanalytics: the full metric contract; chDB: windowFunnel)
- retention: weekly, first-time cohorts, 8 intervals, any event (chDB: the retention() function)
- lifecycle: weekly new / returning / resurrecting / dormant
- paths:     the top 5-step paths after signed_up (poanalytics only: neither peer has the question)

Each (engine, question) runs in its own process, so peak memory (max RSS) is that run's alone.
Medians over --runs runs are printed and written to benchmarks/RESULTS.md. chDB is installed for the
benchmark only (`uv pip install chdb`); pandas is skipped above --pandas-max rows (default 20M) because
it holds every event in memory. Nothing here is a test: the figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

STEPS = ["signed_up", "onboarding_started", "profile_completed", "project_created", "activated"]
WINDOW_S = 7 * 86400
WEEKS = 16
SEED = 7
EVENTS_PER_USER = 45.3  # demo events per person at 16 weeks (see poanalytics.demo)


def parse_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1e3, "M": 1e6, "G": 1e9}.get(text[-1], 1)
    return int(float(text.rstrip("KMG")) * scale)


def paths(size: int, data: Path) -> dict[str, Path]:
    tag = f"{size // 1_000_000}M" if size >= 1_000_000 else str(size)
    base = data / f"metrics_{tag}"
    return {
        "dir": base,
        "events": base / "events.parquet",
        "warehouse": data / f"metrics_{tag}.duckdb",
        "chdb": data / f"metrics_{tag}_chdb",
    }


def prepare(size: int, data: Path) -> dict[str, Path]:
    from poanalytics import Workbench, demo

    p = paths(size, data)
    if not p["events"].exists():
        users = max(1, round(size / EVENTS_PER_USER))
        print(f"generating ~{size:,} demo events ({users:,} users, {WEEKS} weeks) ...", flush=True)
        demo.generate(p["dir"], users=users, weeks=WEEKS, seed=SEED)
    if not p["warehouse"].exists():
        print("loading the DuckDB warehouse ...", flush=True)
        with Workbench(p["warehouse"]) as wb:
            print(wb.load_events(p["events"]), flush=True)
    if not p["chdb"].exists():
        print("loading chDB ...", flush=True)
        from chdb import session

        sess = session.Session(str(p["chdb"]))
        sess.query(
            "CREATE TABLE events (user_id String, event LowCardinality(String), ts DateTime64(6, 'UTC')) "
            "ENGINE = MergeTree ORDER BY (user_id, ts)"
        )
        sess.query(
            f"INSERT INTO events SELECT user_id, event, timestamp FROM file('{p['events']}', Parquet)"
        )
        sess.close()
    return p


# -- the questions, per engine ------------------------------------------------------------------------


def ours(question: str, p: dict[str, Path]) -> object:
    from poanalytics import Workbench

    with Workbench(p["warehouse"]) as wb:
        if question == "funnel":
            return list(wb.funnel(STEPS, window="7d").table.users)
        if question == "retention":
            r = wb.retention(period="week", intervals=8, cohort="first_time")
            return int(r.table.users.fillna(0).sum())
        if question == "lifecycle":
            return int(wb.lifecycle(period="week").table.new.sum())
        if question == "paths":
            return wb.paths("signed_up", steps=5).users
    raise ValueError(question)


def chdb_run(question: str, p: dict[str, Path]) -> object:
    from chdb import session

    sess = session.Session(str(p["chdb"]))
    try:
        if question == "funnel":
            conds = ", ".join(f"event = '{s}'" for s in STEPS)
            out = sess.query(
                f"""SELECT level, count() FROM (SELECT user_id, windowFunnel({WINDOW_S * 1_000_000})(toUInt64(toUnixTimestamp64Micro(ts)), {conds}) AS level
                FROM events GROUP BY user_id) GROUP BY level ORDER BY level""",
                "CSV",
            )
            levels = dict(
                tuple(int(x) for x in line.split(",")) for line in str(out).strip().splitlines()
            )
            return [sum(v for k, v in levels.items() if k >= i) for i in range(1, len(STEPS) + 1)]
        if question == "retention":
            conds = ", ".join(f"toMonday(ts) = c + INTERVAL {7 * k} DAY" for k in range(9))
            out = sess.query(
                f"""WITH f AS (SELECT user_id, toMonday(min(ts)) AS c FROM events GROUP BY user_id)
                SELECT sum(arraySum(r)) FROM (SELECT user_id, c, retention({conds}) AS r
                FROM events INNER JOIN f USING (user_id) GROUP BY user_id, c)""",
                "CSV",
            )
            return int(str(out).strip())
        if question == "lifecycle":
            out = sess.query(
                """WITH a AS (SELECT DISTINCT user_id, toMonday(ts) AS w FROM events),
                firsts AS (SELECT user_id, min(w) AS fw FROM a GROUP BY user_id)
                SELECT count() FROM a INNER JOIN firsts USING (user_id) WHERE w = fw""",
                "CSV",
            )
            return int(str(out).strip())
    finally:
        sess.close()
    raise ValueError(question)


def pandas_run(question: str, p: dict[str, Path]) -> object:
    import pandas as pd

    ev = pd.read_parquet(p["events"], columns=["user_id", "event", "timestamp"])
    ev = ev.rename(columns={"timestamp": "ts"})
    if question == "funnel":
        ev = ev[ev.event.isin(STEPS)].sort_values(["ts"]).reset_index(drop=True)
        ev["pos"] = range(len(ev))
        att = ev[ev.event == STEPS[0]][["user_id", "ts", "pos"]].rename(
            columns={"ts": "t1", "pos": "p"}
        )
        att["depth"] = 1
        att["p"] = att.p.astype("float64")
        for step in STEPS[1:]:
            cand = ev[ev.event == step][["user_id", "pos", "ts"]].rename(
                columns={"pos": "q", "ts": "tq"}
            )
            cand["q"] = cand.q.astype("float64")
            live = att[att.p.notna()].sort_values("p")
            m = pd.merge_asof(
                live,
                cand.sort_values("q"),
                left_on="p",
                right_on="q",
                by="user_id",
                direction="forward",
                allow_exact_matches=False,
            )
            ok = m.q.notna() & ((m.tq - m.t1).dt.total_seconds() <= WINDOW_S)
            m.loc[ok, "depth"] += 1
            m["p"] = m.q.where(ok)
            att = pd.concat([m.drop(columns=["q", "tq"]), att[att.p.isna()]])
        depth = att.groupby("user_id").depth.max()
        return [int((depth >= k).sum()) for k in range(1, len(STEPS) + 1)]
    week = ev.ts.dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("W-SUN").dt.start_time
    act = pd.DataFrame({"user_id": ev.user_id, "w": week}).drop_duplicates()
    first = act.groupby("user_id").w.min().rename("c")
    act = act.join(first, on="user_id")
    if question == "retention":
        k = (act.w - act.c).dt.days // 7
        return int((k <= 8).sum())
    if question == "lifecycle":
        return int((act.w == act.c).sum())
    raise ValueError(question)


ENGINES = {"poanalytics": ours, "chdb": chdb_run, "pandas": pandas_run}
ONLY_OURS = {"paths"}  # questions the peers have no counterpart for


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it does not carry over the
    parent's peak through fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(engine: str, question: str, size: int, data: Path) -> None:
    p = paths(size, data)
    # imports are not what is measured
    if engine == "chdb":
        import chdb.session  # noqa: F401
    elif engine == "pandas":
        import pandas  # noqa: F401
    else:
        import poanalytics  # noqa: F401
    started = time.perf_counter()
    answer = ENGINES[engine](question, p)
    seconds = time.perf_counter() - started
    peak_mb = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "answer": answer}))


def measure(engine: str, question: str, size: int, data: Path, runs: int) -> dict:
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                engine,
                question,
                str(size),
                "--data",
                str(data),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            return {
                "error": out.stderr.strip().splitlines()[-1]
                if out.stderr.strip()
                else f"exit {out.returncode}"
            }
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "median_s": statistics.median(r["seconds"] for r in results),
        "peak_mb": max(r["peak_mb"] for r in results),
        "answer": results[0]["answer"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10M,100M", help="event counts, e.g. 10M,100M")
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement (median is reported)")
    ap.add_argument("--pandas-max", default="20M", help="skip pandas above this many events")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    ap.add_argument("--questions", default="funnel,retention,lifecycle,paths")
    ap.add_argument(
        "--worker", nargs=3, metavar=("ENGINE", "QUESTION", "SIZE"), help=argparse.SUPPRESS
    )
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]), args.data)
        return 0
    try:
        import chdb  # noqa: F401
    except ImportError:
        print(
            "chDB is not installed: run `.venv/bin/uv pip install --python .venv/bin/python chdb` (benchmark only)"
        )
        return 2
    args.data.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Metrics benchmark results",
        "",
        f"Machine: {os.cpu_count()} cores. Medians of {args.runs} runs; peak = max RSS of the run's process.",
        "Produced by `benchmarks/metrics.py`; numbers vary with the machine and its load.",
        "",
        "| events | question | engine | median s | peak MB | ratio to chDB | answer |",
        "|---|---|---|---|---|---|---|",
    ]
    for size_text in args.sizes.split(","):
        size = parse_size(size_text)
        p = prepare(size, args.data)
        import duckdb

        rows = (
            duckdb.connect(str(p["warehouse"]), read_only=True)
            .execute("SELECT count(*) FROM events")
            .fetchone()[0]
        )
        print(f"\n{rows:,} events")
        for question in args.questions.split(","):
            res = {}
            for engine in ENGINES:
                if engine != "poanalytics" and question in ONLY_OURS:
                    res[engine] = {"skipped": "no counterpart"}
                    continue
                if engine == "pandas" and rows > parse_size(args.pandas_max):
                    res[engine] = {"skipped": f"over --pandas-max {args.pandas_max}"}
                    continue
                res[engine] = measure(engine, question, size, args.data, args.runs)
            base = res["chdb"].get("median_s")  # None: no chDB figure, so no ratio
            for engine, r in res.items():
                if "median_s" in r:
                    ratio = f"{r['median_s'] / base:.2f}" if base else "-"
                    print(
                        f"  {question:10s} {engine:12s} {r['median_s']:8.2f}s  peak {r['peak_mb']:8.0f} MB  "
                        f"{ratio:>5}x chDB  answer={r['answer']}"
                    )
                    lines.append(
                        f"| {rows:,} | {question} | {engine} | {r['median_s']:.2f} | {r['peak_mb']:.0f} | "
                        f"{ratio} | {r['answer']} |"
                    )
                else:
                    note = r.get("skipped") or r.get("error")
                    print(f"  {question:10s} {engine:12s} {note}")
                    lines.append(f"| {rows:,} | {question} | {engine} | - | - | - | {note} |")
    lines += [
        "",
        "Answers differ where the definitions differ: chDB's windowFunnel lets one row fill several",
        "steps and stops a strict chain at the first violation; poanalytics follows docs/metrics-funnels.md.",
    ]
    (ROOT / "benchmarks" / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\nwritten to benchmarks/RESULTS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

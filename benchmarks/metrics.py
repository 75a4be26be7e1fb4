"""Metrics benchmark: poanalytics against chDB (ClickHouse) and a straightforward pandas version.

    .venv/bin/python benchmarks/metrics.py --data /work/bench-data          # both shapes, 10M and 100M
    .venv/bin/python benchmarks/metrics.py --shape visit --sizes 10M --runs 5
    .venv/bin/python benchmarks/metrics.py --baseline /tmp/old/src          # old code in the same run

Two event shapes (benchmarks/shapes.py): ``demo`` (poanalytics.demo: a sign-up funnel, step 1 a
one-off) and ``visit`` (issue 12: step 1 is a page view, ~22% of all events, later steps repeat,
users = rows / 50, 13 weeks). For each shape and size it generates (or reuses, in --data) the
events, loads them into a DuckDB warehouse and into a chDB MergeTree table, then times on each engine:

- funnel:    5 ordered steps, 7-day window (poanalytics: the full metric contract; chDB: windowFunnel)
- funnel_any: the same with step 1 "any event" (chDB: windowFunnel 'strict_increase' with a true
             first condition, so one row does not fill step 1 and step 2)
- retention: weekly, first-time cohorts, 8 intervals, any event (chDB: the retention() function)
- lifecycle: weekly new / returning / resurrecting / dormant
- paths:     the top 5-step paths after step 1 (poanalytics only: neither peer has the question)

funnel_any's natural chDB query lets one row fill step 1 and a later step, so its counts are higher;
the engine "chdb-1row1step" feeds windowFunnel every row twice (as a later step at 2t, as step 1 at
2t + 1), so no row fills two steps of a chain, and gives the contract's answers.

``--engines ...,poanalytics-clustered`` also times poanalytics on a copy of the warehouse after
``poanalytics optimize`` (``Workbench.optimize``: events rewritten in user_id, ts, load order, the
order chDB's MergeTree keeps; made once beside the warehouse, ``<name>_clustered.duckdb``).

Each (engine, question) runs in its own process, so peak memory (max RSS) is that run's alone.
``--baseline DIR`` adds the engine "baseline": poanalytics imported from DIR (the ``src`` folder of
an older checkout, e.g. ``git worktree add /tmp/old main~3``), on the same warehouse, so old and new
code are compared in one run under the same load.
"setup s" is what each process spends before the timed call, not counted in "median s": imports
(pandas, chdb.session) and, for poanalytics' funnels, loading numba and the compiled chain
(``funnel_kernel.warm_up``), which the first funnel of a process pays otherwise.
Medians over --runs runs are printed as a markdown table (with the machine's load averages), and
written to --out if given (the metrics section of benchmarks/RESULTS.md is pasted from it). chDB is installed for the
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

DEMO_STEPS = [
    "signed_up",
    "onboarding_started",
    "profile_completed",
    "project_created",
    "activated",
]
WINDOW_S = 7 * 86400
WEEKS = 16
SEED = 7
EVENTS_PER_USER = 45.3  # demo events per person at 16 weeks (see poanalytics.demo)
SHAPES = ("demo", "visit")


def steps_of(shape: str) -> list[str]:
    from shapes import VISIT_STEPS

    return VISIT_STEPS if shape == "visit" else DEMO_STEPS


def parse_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1e3, "M": 1e6, "G": 1e9}.get(text[-1], 1)
    return int(float(text.rstrip("KMG")) * scale)


def paths(shape: str, size: int, data: Path) -> dict[str, Path | str]:
    tag = f"{size // 1_000_000}M" if size >= 1_000_000 else str(size)
    if shape == "demo":  # the names the demo shape had before there were two shapes
        base = data / f"metrics_{tag}"
        events, glob, name = base / "events.parquet", base / "events.parquet", f"metrics_{tag}"
    else:
        base = data / f"{shape}_{tag}"
        events, glob, name = base, base / "*.parquet", f"metrics_{shape}_{tag}"
    return {
        "shape": shape,
        "dir": base,
        "events": events,
        "glob": glob,
        "warehouse": data / f"{name}.duckdb",
        "chdb": data / f"{name}_chdb",
    }


def prepare(shape: str, size: int, data: Path) -> dict[str, Path | str]:
    p = paths(shape, size, data)
    prepare_warehouse(shape, size, data)
    if not Path(p["chdb"]).exists():
        print("loading chDB ...", flush=True)
        from chdb import session

        sess = session.Session(str(p["chdb"]))
        sess.query(
            "CREATE TABLE events (user_id String, event LowCardinality(String), ts DateTime64(6, 'UTC')) "
            "ENGINE = MergeTree ORDER BY (user_id, ts)"
        )
        sess.query(
            f"INSERT INTO events SELECT user_id, event, timestamp FROM file('{p['glob']}', Parquet)"
        )
        sess.close()
    return p


def prepare_warehouse(shape: str, size: int, data: Path) -> Path:
    """The generated events of ``shape`` and ``size`` and their DuckDB warehouse, made once in
    ``data`` (benchmarks/spark.py reads them too); returns the warehouse's path."""
    from poanalytics import Workbench, demo
    from shapes import generate_visit

    p = paths(shape, size, data)
    if not Path(p["events"]).exists():
        if shape == "demo":
            users = max(1, round(size / EVENTS_PER_USER))
            print(
                f"generating ~{size:,} demo events ({users:,} users, {WEEKS} weeks) ...", flush=True
            )
            demo.generate(p["dir"], users=users, weeks=WEEKS, seed=SEED)
        else:
            print(f"generating ~{size:,} {shape} events ...", flush=True)
            generate_visit(size, p["dir"], seed=SEED)
    if not Path(p["warehouse"]).exists():
        print("loading the DuckDB warehouse ...", flush=True)
        with Workbench(p["warehouse"]) as wb:
            print(wb.load_events(p["events"]), flush=True)
    with Workbench(p["warehouse"]):
        pass  # an older warehouse is migrated here, not inside the first timed run
    return Path(p["warehouse"])


def clustered(p: dict[str, Path | str]) -> Path:
    """A copy of the warehouse after ``poanalytics optimize`` (events in user_id, ts, load order;
    made once, timed and printed)."""
    import shutil

    from poanalytics import Workbench

    src = Path(p["warehouse"])
    out = src.with_name(src.stem + "_clustered.duckdb")
    if not out.exists():
        print(f"writing {out.name} (Workbench.optimize on a copy) ...", flush=True)
        tmp = out.with_name(out.name + ".part")
        shutil.copyfile(src, tmp)
        with Workbench(tmp) as wb:
            print(f"  {wb.optimize()}", flush=True)
        tmp.rename(out)
    return out


# -- the questions, per engine ------------------------------------------------------------------------


def ours(question: str, p: dict[str, Path | str]) -> object:
    from poanalytics import Workbench

    steps = steps_of(str(p["shape"]))
    with Workbench(p["warehouse"]) as wb:
        if question == "funnel":
            return list(wb.funnel(steps, window="7d").table.users)
        if question == "funnel_any":
            return list(wb.funnel([None, *steps[1:]], window="7d").table.users)
        if question == "retention":
            r = wb.retention(period="week", intervals=8, cohort="first_time")
            return int(r.table.users.fillna(0).sum())
        if question == "lifecycle":
            return int(wb.lifecycle(period="week").table.new.sum())
        if question == "paths":
            return wb.paths(steps[0], steps=5).users
    raise ValueError(question)


def chdb_run(question: str, p: dict[str, Path | str], engine: str = "chdb") -> object:
    from chdb import session

    ts_us = "toUInt64(toUnixTimestamp64Micro(ts))"
    steps = steps_of(str(p["shape"]))
    sess = session.Session(str(p["chdb"]))
    try:
        if question in ("funnel", "funnel_any"):
            conds = [f"event = '{s}'" for s in steps]
            window, ts, rows = WINDOW_S * 1_000_000, ts_us, "events"
            if question == "funnel_any":
                conds[0] = "1"  # the natural query: a row can fill step 1 and a later step
            if engine == "chdb-1row1step":
                # each row twice: as a later step at 2t and as step 1 at 2t + 1, so no row fills
                # two steps of one chain (the contract's F3); the window doubles with the clock
                conds = ["role = 0"] + [f"role = 1 AND {c}" for c in conds[1:]]
                window, ts = 2 * window, "t2"
                rows = f"""(SELECT user_id, event, role, {ts_us} * 2 + (role = 0) AS t2
                    FROM events ARRAY JOIN [0, 1] AS role)"""
            out = sess.query(
                f"""SELECT level, count() FROM (SELECT user_id,
                    windowFunnel({window})({ts}, {", ".join(conds)}) AS level
                FROM {rows} GROUP BY user_id) GROUP BY level ORDER BY level""",
                "CSV",
            )
            levels = dict(
                tuple(int(x) for x in line.split(",")) for line in str(out).strip().splitlines()
            )
            return [sum(v for k, v in levels.items() if k >= i) for i in range(1, len(steps) + 1)]
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


def pandas_run(question: str, p: dict[str, Path | str]) -> object:
    import pandas as pd

    STEPS = steps_of(str(p["shape"]))
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


ENGINES = {
    "poanalytics": ours,
    "baseline": ours,
    "poanalytics-clustered": lambda q, p: ours(q, {**p, "warehouse": clustered(p)}),
    "chdb": chdb_run,
    "chdb-1row1step": lambda q, p: chdb_run(q, p, "chdb-1row1step"),
    "pandas": pandas_run,
}
ONLY_ANY = {"chdb-1row1step"}  # engines for funnel_any only
ONLY_OURS = {"paths"}  # questions the peers have no counterpart for
OURS = {"poanalytics", "baseline", "poanalytics-clustered"}  # poanalytics, in some form
NO_PANDAS = {"paths", "funnel_any"}


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it does not carry over the
    parent's peak through fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(engine: str, question: str, shape: str, size: int, data: Path, baseline: str) -> None:
    p = paths(shape, size, data)
    if engine == "baseline":  # the older code, from its own src folder
        sys.path.insert(0, baseline)
    # imports and one-time set-up are not what is measured, but are reported ("setup s")
    t0 = time.perf_counter()
    if engine.startswith("chdb"):
        import chdb.session  # noqa: F401
    elif engine == "pandas":
        import pandas  # noqa: F401
    else:
        # poanalytics imports its modules (pandas, numpy, pyarrow, plotly) lazily: import the ones
        # a Workbench query uses here, as chdb.session and pandas are imported above
        import poanalytics.metrics.funnel  # noqa: F401
        import poanalytics.workbench  # noqa: F401

        if question.startswith("funnel"):  # numba and the compiled chain (the older code: none)
            from poanalytics.metrics import funnel_kernel

            getattr(funnel_kernel, "warm_up", lambda: None)()
    setup = time.perf_counter() - t0
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    answer = ENGINES[engine](question, p)
    seconds = time.perf_counter() - started
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime  # all threads of the process
    peak_mb = peak_rss_mb()
    print(
        json.dumps(
            {"seconds": seconds, "cpu": cpu, "peak_mb": peak_mb, "setup": setup, "answer": answer}
        )
    )


def measure(
    engine: str, question: str, shape: str, size: int, data: Path, runs: int, baseline: str
) -> dict:
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                engine,
                question,
                shape,
                str(size),
                "--data",
                str(data),
                "--baseline",
                baseline,
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
        "cpu_s": statistics.median(r["cpu"] for r in results),
        "peak_mb": max(r["peak_mb"] for r in results),
        "setup_s": statistics.median(r["setup"] for r in results),
        "answer": results[0]["answer"],
    }


def uptime_load() -> str:
    """The machine's load averages (1, 5, 15 min): other work shares the cores."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", default="all", choices=[*SHAPES, "all"], help="event shape(s)")
    ap.add_argument("--sizes", default="10M,100M", help="event counts, e.g. 10M,100M")
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement (median is reported)")
    ap.add_argument("--pandas-max", default="20M", help="skip pandas above this many events")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    ap.add_argument("--questions", default="funnel,funnel_any,retention,lifecycle,paths")
    ap.add_argument("--engines", default="poanalytics,baseline,chdb,chdb-1row1step,pandas")
    ap.add_argument(
        "--baseline", default="", help="src folder of older code to time beside (engine baseline)"
    )
    ap.add_argument("--out", type=Path, default=None, help="also write the table here (markdown)")
    ap.add_argument(
        "--worker", nargs=4, metavar=("ENGINE", "QUESTION", "SHAPE", "SIZE"), help=argparse.SUPPRESS
    )
    args = ap.parse_args(argv)
    if args.worker:
        e, q, shape, size = args.worker
        worker(e, q, shape, int(size), args.data, args.baseline)
        return 0
    try:
        import chdb  # noqa: F401
    except ImportError:
        print(
            "chDB is not installed: run `.venv/bin/uv pip install --python .venv/bin/python chdb` (benchmark only)"
        )
        return 2
    args.data.mkdir(parents=True, exist_ok=True)
    engines = [e for e in args.engines.split(",") if e != "baseline" or args.baseline]
    shapes = SHAPES if args.shape == "all" else (args.shape,)
    lines = [
        f"Machine: {os.cpu_count()} cores. Medians of {args.runs} runs; peak = max RSS of the run's process.",
        "Produced by `benchmarks/metrics.py`; numbers vary with the machine and its load.",
        f"Load averages (1/5/15 min) at the start: {uptime_load()}.",
        "",
        "| shape | events | question | engine | median s | CPU s | peak MB | ratio to chDB | CPU ratio | setup s | answer |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for shape in shapes:
        for size_text in args.sizes.split(","):
            size = parse_size(size_text)
            p = prepare(shape, size, args.data)
            if "poanalytics-clustered" in engines:
                clustered(p)  # made before the timed runs
            import duckdb

            rows = (
                duckdb.connect(str(p["warehouse"]), read_only=True)
                .execute("SELECT count(*) FROM events")
                .fetchone()[0]
            )
            print(f"\n{shape}: {rows:,} events (load {uptime_load()})", flush=True)
            for question in args.questions.split(","):
                res = {}
                for engine in engines:
                    if engine not in OURS and question in ONLY_OURS:
                        res[engine] = {"skipped": "no counterpart"}
                        continue
                    if engine in ONLY_ANY and question != "funnel_any":
                        continue
                    if engine == "baseline" and not question.startswith("funnel"):
                        continue  # the older code is timed for the funnels only
                    if engine == "pandas" and question in NO_PANDAS:
                        res[engine] = {"skipped": "not written"}
                        continue
                    if engine == "pandas" and rows > parse_size(args.pandas_max):
                        res[engine] = {"skipped": f"over --pandas-max {args.pandas_max}"}
                        continue
                    res[engine] = measure(
                        engine, question, shape, size, args.data, args.runs, args.baseline
                    )
                base = res.get("chdb", {}).get("median_s")  # None: no chDB figure, so no ratio
                base_cpu = res.get("chdb", {}).get("cpu_s")
                for engine, r in res.items():
                    if "median_s" in r:
                        ratio = f"{r['median_s'] / base:.2f}" if base else "-"
                        cratio = f"{r['cpu_s'] / base_cpu:.2f}" if base_cpu else "-"
                        print(
                            f"  {question:10s} {engine:14s} {r['median_s']:8.2f}s  cpu {r['cpu_s']:7.2f}s  "
                            f"peak {r['peak_mb']:6.0f} MB  {ratio:>5}x chDB (cpu {cratio}x)  answer={r['answer']}",
                            flush=True,
                        )
                        lines.append(
                            f"| {shape} | {rows:,} | {question} | {engine} | {r['median_s']:.2f} | "
                            f"{r['cpu_s']:.2f} | {r['peak_mb']:.0f} | {ratio} | {cratio} | {r['setup_s']:.2f} | "
                            f"{r['answer']} |"
                        )
                    else:
                        note = r.get("skipped") or r.get("error")
                        print(f"  {question:10s} {engine:14s} {note}", flush=True)
                        if "skipped" not in r:
                            lines.append(
                                f"| {shape} | {rows:,} | {question} | {engine} | - | - | - | - | - | - | {note} |"
                            )
    lines.append(f"\nLoad averages at the end: {uptime_load()}.")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    if args.out:
        args.out.write_text(text)
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

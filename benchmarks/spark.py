"""Spark benchmark (issue 13): the same metrics on DuckDB and on Spark local[1] and local[2].

    .venv/bin/python benchmarks/spark.py --data /work/bench-data                 # demo shape, 10M
    .venv/bin/python benchmarks/spark.py --sizes 1M --questions retention --runs 1
    .venv/bin/python benchmarks/spark.py --skew 1M --sizes 1M                    # + one 1M-event user

The events are benchmarks/metrics.py's (same generator and warehouse, made once in --data), exported
once with ``Workbench.export_events`` to day-partitioned Parquet (``<warehouse>_lake``), the round
trip a team makes to its lake. Each (engine, question) runs in its own process: DuckDB on the
warehouse, Spark (``poanalytics.spark.local_session``) over the exported folder. The session's
start is "setup s", not timed. Each question runs twice in its process: "first s" is the first
run (a new JVM: class loading and JIT compilation included), "warm s" the second, what a
long-lived session (a notebook's, a cluster's) sees. Spark local[1] runs under ``taskset -c 0``,
so its whole JVM (the JIT and GC threads too) has one core; local[2] has two. Peak memory is the driver's (this Python process) and the JVM's
(in local mode the executors are threads of that JVM; Python workers, when a question uses
them, are counted too), each its own peak (VmHWM). Answers are compared: a row whose answers
differ from DuckDB's is marked.

``--skew N`` adds one user with N events (a bot: ``retention`` and ``lifecycle`` count it once,
``churn`` sees one very active user) to a copy of the events, and times each question on it.
Nothing here is a test: the figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

QUESTIONS = ("funnel", "retention", "lifecycle", "churn")
ENGINES = ("duckdb", "spark-1", "spark-2")


def lake_of(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.stem + "_lake")


def prepare(shape: str, size: int, data: Path, skew: int) -> Path:
    """The warehouse (benchmarks/metrics.py's), with ``skew`` more events of one user when asked,
    and its events exported once beside it; returns the warehouse."""
    import metrics
    from poanalytics import Workbench

    warehouse = Path(metrics.prepare_warehouse(shape, size, data))
    if skew:
        skewed = warehouse.with_name(f"{warehouse.stem}_skew{skew}.duckdb")
        if not skewed.exists():
            print(f"adding one user with {skew:,} events to a copy ...", flush=True)
            add_skewed_user(warehouse, skewed, skew)
        warehouse = skewed
    lake = lake_of(warehouse)
    if not lake.exists():
        print(f"exporting the events to {lake.name} ...", flush=True)
        with Workbench(warehouse, read_only=True) as wb:
            print(f"  {wb.export_events(lake)}", flush=True)
    return warehouse


def add_skewed_user(src: Path, out: Path, n: int) -> None:
    """A copy of ``src`` with ``n`` more events of the user "bot-0": every question's events, one
    a minute from the data's first instant (DuckDB generates them; loaded as a DataFrame)."""
    import shutil

    import duckdb

    from poanalytics import Workbench

    tmp = out.with_name(out.name + ".part")
    shutil.copyfile(src, tmp)
    with duckdb.connect(str(src), read_only=True) as con:
        names = [r[0] for r in con.sql("SELECT DISTINCT event FROM events ORDER BY 1").fetchall()]
        start = con.sql("SELECT min(ts) FROM events").fetchall()[0][0]
        frame = con.sql(
            "SELECT 'bot-0' AS user_id, list_extract($names, (i % len($names)) + 1) AS event, "
            "$start + to_minutes(i) AS ts FROM range($n) t(i)",
            params={"names": names, "start": start, "n": n},
        ).df()
    with Workbench(tmp) as wb:
        print(f"  {wb.load_events(frame)}", flush=True)
    tmp.rename(out)


def ask(wb: object, question: str, steps: list[str]) -> object:
    """One question on a Workbench or a SparkWorkbench: a small answer to compare."""
    if question == "funnel":
        return [int(u) for u in wb.funnel(steps, window="7d").table.users]  # type: ignore[attr-defined]
    if question == "retention":
        t = wb.retention(period="week", intervals=8, cohort="first_time").table  # type: ignore[attr-defined]
        return int(t.users.fillna(0).sum())
    if question == "lifecycle":
        return int(wb.lifecycle(period="week").table.new.sum())  # type: ignore[attr-defined]
    if question == "churn":
        t = wb.churn(inactive_days=28).table  # type: ignore[attr-defined]
        return int(t.churned.fillna(0).sum())
    raise ValueError(question)


def vm_peak_mb(pid: int | str = "self") -> float:
    """The peak resident memory of process ``pid`` (VmHWM), 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    """Every descendant process of ``pid`` (the JVM, its Python workers)."""
    out: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:  # a thread may end while it is read
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for k in kids:
            out.append(int(k))
            out.extend(children(int(k)))
    return out


def worker(engine: str, question: str, warehouse: Path, shape: str) -> None:
    import metrics
    from poanalytics import Workbench

    steps = metrics.steps_of(shape)
    t0 = time.perf_counter()
    if engine == "duckdb":
        import poanalytics.metrics.funnel  # noqa: F401

        wb: object = Workbench(warehouse, read_only=True)
        if question == "funnel":
            from poanalytics.metrics import funnel_kernel

            funnel_kernel.warm_up()
    else:
        from poanalytics.spark import SparkWorkbench, local_session

        spark = local_session(cores=int(engine.split("-")[1]), memory="8g")
        wb = SparkWorkbench(spark, str(lake_of(warehouse)))
    setup = time.perf_counter() - t0
    times = []
    try:
        for _ in range(2):  # the first run in a new process, then the same again (warm)
            started = time.perf_counter()
            answer = ask(wb, question, steps)
            times.append(time.perf_counter() - started)
    except Exception as exc:  # printed, not timed
        print(json.dumps({"error": str(exc).splitlines()[0]}))
        return
    seconds, warm = times
    import os

    jvm = sum(vm_peak_mb(p) for p in children(os.getpid()))
    print(
        json.dumps(
            {
                "seconds": seconds,
                "warm": warm,
                "setup": setup,
                "driver_mb": vm_peak_mb(),
                "jvm_mb": jvm,
                "answer": answer,
            }
        )
    )


def measure(engine: str, question: str, warehouse: Path, shape: str, runs: int) -> dict:
    results = []
    for _ in range(runs):
        cmd = [sys.executable, __file__, "--worker", engine, question, str(warehouse), shape]
        if engine == "spark-1" and shutil.which("taskset"):
            # one core for the whole JVM: its JIT and GC threads would use a second one
            cmd = ["taskset", "-c", "0", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        lines = out.stdout.strip().splitlines()
        if out.returncode != 0 or not lines:
            return {"error": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]}
        result = json.loads(lines[-1])
        if "error" in result:
            return result
        results.append(result)
    return {
        "median_s": statistics.median(r["seconds"] for r in results),
        "warm_s": statistics.median(r["warm"] for r in results),
        "setup_s": statistics.median(r["setup"] for r in results),
        "driver_mb": max(r["driver_mb"] for r in results),
        "jvm_mb": max(r["jvm_mb"] for r in results),
        "answer": results[0]["answer"],
    }


def row(size: str, question: str, engine: str, r: dict, expected: object) -> str:
    if "error" in r:
        return f"| {size} | {question} | {engine} | - | - | - | - | - | {r['error'][:80]} |"
    same = "=" if r["answer"] == expected else f"DIFFERENT ({r['answer']})"
    return (
        f"| {size} | {question} | {engine} | {r['median_s']:.2f} | {r['warm_s']:.2f} | "
        f"{r['setup_s']:.1f} | "
        f"{r['driver_mb']:.0f} | {r['jvm_mb']:.0f} | {same} |"
    )


def main(argv: list[str] | None = None) -> int:
    import metrics

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", default="demo", choices=metrics.SHAPES)
    ap.add_argument("--sizes", default="10M")
    ap.add_argument("--questions", default=",".join(QUESTIONS))
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skew", default="0", help="add one user with this many events (e.g. 1M)")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        engine, question, warehouse, shape = args.worker
        worker(engine, question, Path(warehouse), shape)
        return 0
    skew = metrics.parse_size(args.skew) if args.skew != "0" else 0
    print(f"load averages at the start: {metrics.uptime_load()}")
    print(
        "| events | question | engine | first s | warm s | setup s | driver MB | JVM MB | answer |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for size_text in args.sizes.split(","):
        warehouse = prepare(args.shape, metrics.parse_size(size_text), args.data, skew)
        label = size_text + (f" + {args.skew} one user" if skew else "")
        for question in args.questions.split(","):
            expected = None
            for engine in args.engines.split(","):
                r = measure(engine, question, warehouse, args.shape, args.runs)
                if engine == "duckdb" and "answer" in r:
                    expected = r["answer"]
                print(row(label, question, engine, r, expected), flush=True)
    print(f"load averages at the end: {metrics.uptime_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

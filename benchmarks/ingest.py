"""Ingest benchmark: poanalytics' event loader against DuckDB's bare CREATE TABLE AS, on demo events.

    .venv/bin/python benchmarks/ingest.py                 # ~10M events (16 weeks), goal: loader <= 1.5x bare
    .venv/bin/python benchmarks/ingest.py --rows 1000000  # smaller
    .venv/bin/python benchmarks/ingest.py --users 240000 --weeks 16

The events are generated once with ``poanalytics.demo`` into ``data/bench/`` as Parquet and CSV
and reused by later runs with the same arguments. For each file the script times, each into a fresh
DuckDB file:

- bare:   ``CREATE TABLE t AS SELECT * FROM read_parquet(...)`` / ``read_csv(...)`` + CHECKPOINT
- loader: ``Workbench(file).load_events(path)`` + CHECKPOINT (typing, checks, quarantine, load log)
- reload: the same ``load_events`` again on that warehouse (every row is a duplicate, nothing written)

and prints one line per step: seconds, rows/s and peak memory (MB), and the loader/bare ratio: medians
of ``--runs`` runs (default 3), taken in turns (bare, schema, loader, re-load, then again), so that the
machine's drift touches each of them alike. Each step runs in its own process, so its peak memory
(VmHWM, the largest of its runs) is its own: reading the file, DuckDB and Python included.

A last line times a folder of ``--folder-files`` daily CSV files (default 305) holding the first
``--folder-rows`` events (default 1M), against the same rows in one file: a folder of files that
share a layout is read in one scan, so it should cost little more than the one file.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from poanalytics import Workbench, db, demo  # noqa: E402

GOAL = 1.5


STEPS = {
    "bare": "bare CREATE TABLE AS",
    "schema": "schema: INSERT, no checks",
    "loader": "loader: load_events",
    "reload": "re-load the same file (all duplicates)",
}


@dataclass
class Row:
    fmt: str
    rows: int
    size_mb: float
    seconds: dict[str, float]  # step -> median seconds
    peak_mb: dict[str, float]  # step -> the largest peak of its runs
    loaded: int
    duplicates: int

    @property
    def ratio(self) -> float:
        bare = self.seconds["bare"]
        return self.seconds["loader"] / bare if bare else float("nan")


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it does not carry over the
    parent's peak through fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_process(step: str, path: Path, source: Path, fmt: str) -> dict:
    """Run one step here (a worker process) and return its seconds, counts and peak memory."""
    out: dict = {}
    if step == "bare":
        out["seconds"] = bench_bare(path, source, fmt)
    elif step == "schema":
        out["seconds"] = bench_schema(path, source, fmt)
    elif step in ("loader", "reload"):
        out["seconds"], out["loaded"], out["duplicates"] = bench_load(
            path, source, step == "loader"
        )
    else:
        raise ValueError(step)
    out["peak_mb"] = peak_rss_mb()
    return out


def run_step(step: str, path: Path, source: Path, fmt: str) -> dict:
    """One step in a fresh process (so that its peak memory is its own)."""
    done = subprocess.run(
        [sys.executable, __file__, "--worker", step, str(path), str(source), fmt],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{step} on {source.name} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rows_per_user(weeks: int, seed: int) -> float:
    """Events per user at this many weeks, measured on a small generation."""
    with tempfile.TemporaryDirectory() as tmp:
        files = demo.generate(tmp, users=5000, weeks=weeks, seed=seed)
        return files.events_rows / 5000


def prepare(
    data: Path, users: int, weeks: int, seed: int, regenerate: bool
) -> tuple[Path, Path, int]:
    """The Parquet and CSV files of the demo events (generated once, then reused)."""
    stem = f"events_u{users}_w{weeks}_s{seed}"
    parquet, csv, meta = data / f"{stem}.parquet", data / f"{stem}.csv", data / f"{stem}.json"
    if not regenerate and parquet.exists() and csv.exists() and meta.exists():
        rows = int(json.loads(meta.read_text())["rows"])
        print(f"reusing {parquet.name} and {csv.name} ({rows:,} rows)")
        return parquet, csv, rows
    data.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    work = data / f".gen_{stem}"
    files = demo.generate(work, users=users, weeks=weeks, seed=seed)
    shutil.move(str(files.events), parquet)
    shutil.rmtree(work, ignore_errors=True)
    gen = time.perf_counter() - started
    started = time.perf_counter()
    con = db.connect(":memory:")
    try:
        con.execute(
            "COPY (SELECT * FROM read_parquet($src)) TO $dst (FORMAT csv, HEADER true)",
            {"src": str(parquet), "dst": str(csv)},
        )
    finally:
        con.close()
    conv = time.perf_counter() - started
    meta.write_text(
        json.dumps({"rows": files.events_rows, "users": users, "weeks": weeks, "seed": seed})
    )
    print(
        f"generated {files.events_rows:,} events in {gen:.1f}s (Parquet), CSV written in {conv:.1f}s"
    )
    return parquet, csv, files.events_rows


def fresh(path: Path) -> Path:
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)
    return path


def bench_bare(path: Path, source: Path, fmt: str) -> float:
    con = db.connect(fresh(path))
    try:
        reader = "read_parquet($src)" if fmt == "parquet" else "read_csv($src)"
        started = time.perf_counter()
        con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}", {"src": str(source)})
        con.execute("CHECKPOINT")
        return time.perf_counter() - started
    finally:
        con.close()


def bench_schema(path: Path, source: Path, fmt: str) -> float:
    """A bare INSERT into the warehouse's own events table (8 columns, JSON properties), no checks:
    separates the cost of the canonical schema from the cost of the loader's checks."""
    wb = Workbench(fresh(path))
    try:
        reader = "read_parquet($src)" if fmt == "parquet" else "read_csv($src)"
        started = time.perf_counter()
        wb.con.execute(
            "INSERT INTO events (user_id, event, ts, session_id, properties, source, source_key, load_id) "
            f"SELECT user_id, event, timestamp, session_id, properties, 'bench', NULL, 0 FROM {reader}",
            {"src": str(source)},
        )
        wb.con.execute("CHECKPOINT")
        return time.perf_counter() - started
    finally:
        wb.close()


def bench_load(path: Path, source: Path, first: bool) -> tuple[float, int, int]:
    """``load_events`` (+ CHECKPOINT) into a fresh warehouse (``first``), or again into the one the
    loader step left (every row a duplicate); seconds, rows loaded, rows duplicate."""
    wb = Workbench(fresh(path) if first else path)
    try:
        started = time.perf_counter()
        report = wb.load_events(source)
        wb.con.execute("CHECKPOINT")
        seconds = time.perf_counter() - started
        if report.rows_quarantined:
            print(f"  warning: {report.rows_quarantined:,} rows quarantined loading {source.name}")
        return seconds, report.rows_loaded, report.rows_duplicate
    finally:
        wb.close()


def bench_folder(
    data: Path, csv: Path, files: int, rows: int, runs: int
) -> dict[str, tuple[float, float]]:
    """Seconds (median of ``runs``, each into a fresh warehouse, in its own process) and peak MB to
    load ``rows`` events split over ``files`` CSV files ("folder"), and the same rows in one file."""
    folder, one = data / f"folder_{files}_{rows}", data / f"folder_{files}_{rows}.csv"
    if not one.exists():
        shutil.rmtree(folder, ignore_errors=True)
        con = db.connect(":memory:")
        try:
            con.execute(
                f"CREATE TABLE r AS SELECT * FROM read_csv($src) LIMIT {int(rows)}",
                {"src": str(csv)},
            )
            con.execute(
                f"COPY (SELECT *, ntile({int(files)}) OVER (ORDER BY timestamp) AS day FROM r) "
                "TO $dst (FORMAT csv, HEADER true, PARTITION_BY (day))",
                {"dst": str(folder)},
            )
            con.execute("COPY r TO $dst (FORMAT csv, HEADER true)", {"dst": str(one)})
        finally:
            con.close()
    runs_of: dict[str, list[dict]] = {"folder": [], "one": []}
    for _ in range(runs):
        for name, source in (("folder", folder), ("one", one)):
            runs_of[name].append(run_step("loader", data / "bench_folder.duckdb", source, "csv"))
    fresh(data / "bench_folder.duckdb")
    return {
        name: (statistics.median(r["seconds"] for r in got), max(r["peak_mb"] for r in got))
        for name, got in runs_of.items()
    }


def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds / 1e6:6.2f}M" if seconds else "-"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=float, default=10e6, help="about how many events (default 10M)")
    ap.add_argument("--users", type=int, help="demo users (overrides --rows)")
    ap.add_argument("--weeks", type=int, default=16, help="demo weeks (default 16)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "bench", help="where the files go")
    ap.add_argument("--regenerate", action="store_true", help="generate the files even if present")
    ap.add_argument("--formats", default="parquet,csv", help="parquet,csv (default both)")
    ap.add_argument(
        "--runs", type=int, default=3, help="runs per measurement (medians are printed)"
    )
    ap.add_argument(
        "--folder-files", type=int, default=305, help="files of the folder line (0: skip)"
    )
    ap.add_argument("--folder-rows", type=float, default=1e6, help="events in the folder line")
    ap.add_argument(
        "--worker", nargs=4, metavar=("STEP", "DB", "SOURCE", "FMT"), help=argparse.SUPPRESS
    )
    args = ap.parse_args(argv)
    if args.worker:
        step, path, source, fmt = args.worker
        print(json.dumps(in_process(step, Path(path), Path(source), fmt)))
        return 0

    users = args.users or max(1, round(args.rows / rows_per_user(args.weeks, args.seed)))
    print(f"demo events: users={users:,} weeks={args.weeks} seed={args.seed}")
    parquet, csv, rows = prepare(args.data, users, args.weeks, args.seed, args.regenerate)
    results = []
    for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
        source = parquet if fmt == "parquet" else csv
        print(f"timing {fmt} ({args.runs} runs) ...", flush=True)
        got: dict[str, list[dict]] = {step: [] for step in STEPS}
        for _ in range(args.runs):
            got["bare"].append(run_step("bare", args.data / "bench_bare.duckdb", source, fmt))
            got["schema"].append(run_step("schema", args.data / "bench_loader.duckdb", source, fmt))
            for step in ("loader", "reload"):  # the re-load reads the warehouse the loader wrote
                got[step].append(run_step(step, args.data / "bench_loader.duckdb", source, fmt))
        results.append(
            Row(
                fmt,
                rows,
                source.stat().st_size / 1e6,
                {step: statistics.median(r["seconds"] for r in got[step]) for step in STEPS},
                {step: max(r["peak_mb"] for r in got[step]) for step in STEPS},
                min(r["loaded"] for r in got["loader"]),  # every run must load every row
                min(r["duplicates"] for r in got["reload"]),  # and find every row again
            )
        )
    for name in ("bench_bare.duckdb", "bench_loader.duckdb"):
        fresh(args.data / name)

    print()
    print(
        f"{'format':8} {'step':40} {'rows':>12} {'MB':>6} | {'s':>7} {'rows/s':>8} | {'peak MB':>7} | note"
    )
    ok_all = True
    for r in results:
        ok = r.loaded == r.rows and r.duplicates == r.rows
        ok_all &= ok
        for step, label in STEPS.items():
            note = ""
            if step == "loader":
                note = f"{r.ratio:.2f}x bare" + ("" if r.ratio <= GOAL else " (over goal)")
                note += f"; every row loaded: {'yes' if r.loaded == r.rows else 'NO'}"
            elif step == "reload":
                note = f"all duplicates: {'yes' if r.duplicates == r.rows else 'NO'}"
            print(
                f"{r.fmt:8} {label:40} {r.rows:>12,} {r.size_mb:>6.0f} | {r.seconds[step]:>7.2f} "
                f"{rate(r.rows, r.seconds[step]):>8} | {r.peak_mb[step]:>7.0f} | {note}"
            )
    if args.folder_files:
        n = min(int(args.folder_rows), rows)
        got_folder = bench_folder(args.data, csv, args.folder_files, n, args.runs)
        (folder_s, folder_mb), (one_s, one_mb) = got_folder["folder"], got_folder["one"]
        print(
            f"\nfolder: {n:,} events in {args.folder_files} CSV files {folder_s:.2f}s "
            f"({rate(n, folder_s)} rows/s, peak {folder_mb:.0f} MB), the same rows in one file "
            f"{one_s:.2f}s ({rate(n, one_s)} rows/s, peak {one_mb:.0f} MB): {folder_s / one_s:.2f}x"
        )
    print(
        "\nschema = a plain INSERT into the events table (8 columns, JSON properties) with no checks"
        "\npeak MB = the step's own process (VmHWM), the largest of its runs"
        f"\ngoal: loader <= {GOAL}x bare; every row loaded once, and all duplicates on re-load "
        "(exit status 1 when not)"
    )
    return 0 if ok_all else 1


if __name__ == "__main__":
    raise SystemExit(main())

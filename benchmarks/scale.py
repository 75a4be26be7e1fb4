"""Scale benchmark: funnel, retention and lifecycle on generated warehouses of 1M to 300M events,
under the memory limit of the configuration, spilling to its temp_directory.

    .venv/bin/python benchmarks/scale.py                               # 1M,10M,100M,300M at 2GB
    .venv/bin/python benchmarks/scale.py --sizes 1M,10M --limits 2GB,none --write
    .venv/bin/python benchmarks/scale.py --sizes 300M --profile        # + each question's top operators

For each size it generates (or reuses) N events of the "visit" shape with benchmarks/shapes.py
(Parquet parts in ``--data``/scale_<N>/parts/, DuckDB SQL, no Python loop over events) and copies
them into one Parquet file (``events.parquet``, one DuckDB COPY), loads that file into a real
poanalytics warehouse through ``Workbench.load_events`` (``--data``/scale_<N>.duckdb), then asks
the three questions through the Workbench:

- funnel:    5 ordered steps (page_viewed first: about a fifth of all events), 7-day window
- retention: weekly, first-time cohorts, 8 intervals, any event
- lifecycle: weekly new / returning / resurrecting / dormant

Why one file: a folder is loaded file by file, and every file after the first is de-duplicated
against the events of the warehouse in its time span; shapes.py's parts are blocks of users, each
over the whole quarter, so each one re-reads everything loaded before it and the folder's load
grows with the square of the files. ``--append`` measures that cost: one more 5M-event part loaded
into a copy of the warehouse of each size.

Every step (generation, load, each question under each limit) runs in its own process with a
project configuration written for it (``[duckdb] memory_limit`` and ``temp_directory``), so its
peak resident memory (VmHWM) and CPU time are its own. While it runs, a thread samples the disk used
by its spill folder; the warehouse file's size is read after the load. Figures are printed and, with
``--write``, written to the "Scale past memory" section of benchmarks/RESULTS.md (the other
sections are left as they are). Nothing here is a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

STEPS = ["page_viewed", "product_viewed", "added_to_cart", "checkout_started", "order_completed"]
EVENTS_PER_USER = 50  # shapes.py: users = rows / 50
SEED = 7  # shapes.py's default: the parts of a size equal those benchmarks/metrics.py makes
QUESTIONS = ["funnel", "retention", "lifecycle"]
SECTION = "# Scale past memory"


def parse_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1e3, "M": 1e6, "G": 1e9}.get(text[-1], 1)
    return int(float(text.rstrip("KMG")) * scale)


def tag(size: int) -> str:
    return f"{size // 1_000_000}M" if size >= 1_000_000 else str(size)


def paths(size: int, data: Path) -> dict[str, Path]:
    base = data / f"scale_{tag(size)}"
    return {
        "parts": base / "parts",  # shapes.py's Parquet parts
        "events": base / "events.parquet",  # the same rows in one file: what is loaded
        "warehouse": data / f"scale_{tag(size)}.duckdb",
        "spill": data / "spill",
    }


# -- the steps ------------------------------------------------------------------------------------


def shapes() -> Any:
    """benchmarks/shapes.py (the generated shapes benchmarks/metrics.py uses too)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import shapes as mod

    return mod


def generate(size: int, data: Path, spill: Path) -> dict:
    """The visit-shape parts of ``size`` events (shapes.py), then the same rows as one file."""
    import duckdb

    p = paths(size, data)
    if not p["parts"].exists():
        shapes().generate_visit(size, p["parts"], seed=SEED)
    part = p["events"].with_suffix(".parquet.part")
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET memory_limit = '1GB'")
    con.execute("SET temp_directory = $d", {"d": str(spill)})
    con.execute(
        "COPY (SELECT * FROM read_parquet($src)) TO $dst "
        "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)",
        {"src": str(p["parts"] / "*.parquet"), "dst": str(part)},
    )
    con.close()
    part.rename(p["events"])
    return {"bytes": p["events"].stat().st_size}


def write_conf(data: Path, name: str, memory_limit: str | None, spill: Path) -> Path:
    """A project root whose conf/poanalytics.toml has the [duckdb] settings of one run."""
    root = data / "scale_conf" / name
    (root / "conf").mkdir(parents=True, exist_ok=True)
    (root / "conf" / "poanalytics.toml").write_text(
        f'[duckdb]\nmemory_limit = "{memory_limit or ""}"\ntemp_directory = "{spill}"\n'
    )
    return root


def load(size: int, data: Path, root: Path) -> dict:
    from poanalytics import Workbench
    from poanalytics.config import settings

    p = paths(size, data)
    part = p["warehouse"].with_suffix(".duckdb.part")
    part.unlink(missing_ok=True)
    with Workbench(part, config=settings(root)) as wb:
        report = wb.load_events(p["events"])
        rows = int(wb.sql("SELECT count(*) AS n FROM events").n[0])
    part.rename(p["warehouse"])
    return {"rows": rows, "loaded": report.rows_loaded}


def append(size: int, data: Path, root: Path) -> dict:
    """One more part of 5M events (new users) into a copy of the warehouse of ``size``: what each
    file after the first costs when a folder is loaded."""
    from poanalytics import Workbench
    from poanalytics.config import settings

    extra = data / "scale_extra" / "part.parquet"
    copy = data / f"scale_{tag(size)}_append.duckdb"
    shutil.copyfile(paths(size, data)["warehouse"], copy)
    try:
        started = time.perf_counter()
        cpu0 = sum(os.times()[:2])
        with Workbench(copy, config=settings(root)) as wb:
            report = wb.load_events(extra)
        return {
            "rows": report.rows_loaded,
            "load_s": time.perf_counter() - started,
            "load_cpu_s": sum(os.times()[:2]) - cpu0,
        }
    finally:
        copy.unlink(missing_ok=True)


def extra_part(data: Path) -> Path:
    """A 5M-event part of users no warehouse here has (shapes.py's users 200M/50 on)."""
    import duckdb

    out = data / "scale_extra" / "part.parquet"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        mod = shapes()
        lo = 400_000_000 // EVENTS_PER_USER
        con = duckdb.connect()
        con.execute(mod.MACROS)
        con.execute(
            f"COPY ({mod.visit_query(SEED, lo + 100_000, lo, lo + 100_000)}) TO $dst (FORMAT parquet)",
            {"dst": str(out)},
        )
        con.close()
    return out


def ask(question: str, size: int, data: Path, root: Path) -> object:
    from poanalytics import Workbench
    from poanalytics.config import settings

    with Workbench(paths(size, data)["warehouse"], config=settings(root), read_only=True) as wb:
        if question == "funnel":
            return [int(x) for x in wb.funnel(STEPS, window="7d").table.users]
        if question == "retention":
            r = wb.retention(period="week", intervals=8, cohort="first_time")
            return int(r.table.users.fillna(0).sum())
        if question == "lifecycle":
            return int(wb.lifecycle(period="week").table.new.sum())
    raise ValueError(question)


def profiled(question: str, size: int, data: Path, root: Path) -> dict:
    """The question with DuckDB's JSON profile of every query it runs through poanalytics.db: the
    operators that took the most time (summed per kind over the queries), the largest buffer
    memory and temp-directory size DuckDB reports, and the bytes it spilled."""
    from poanalytics import db

    plain = db.execute
    ops: dict[str, float] = {}
    seen = {"queries": 0, "total_s": 0.0, "buffer_mb": 0.0, "temp_mb": 0.0, "spilled_mb": 0.0}
    out = data / "spill" / f"profile_{os.getpid()}.json"

    def harvest() -> None:
        """The profile of the last query (DuckDB writes it once its result has been read)."""
        if not out.exists():
            return
        prof = json.loads(out.read_text())
        out.unlink()
        query, system = prof.get("query", {}), prof.get("system", {})
        if str(query.get("sql", "")).lstrip().upper().startswith(("SET", "RESET")):
            return
        seen["queries"] += 1
        seen["total_s"] += float(query.get("total_time") or 0)
        seen["buffer_mb"] = max(seen["buffer_mb"], system.get("peak_buffer_memory", 0) / 2**20)
        seen["temp_mb"] = max(seen["temp_mb"], system.get("peak_temp_dir_size", 0) / 2**20)
        seen["spilled_mb"] += system.get("total_bytes_spilled", 0) / 2**20
        stack = list(prof.get("operator", []))
        while stack:
            node = stack.pop()
            name = str(node.get("name") or node.get("type") or "").strip()
            ops[name] = ops.get(name, 0.0) + float(node.get("timing") or 0)
            stack.extend(node.get("children", []))

    def execute(con: Any, sql: str, params: Any = None) -> Any:
        harvest()
        con.execute("SET enable_profiling = 'json'")
        con.execute("SET profiling_mode = 'detailed'")
        con.execute("SET profiling_output = $p", {"p": str(out)})
        return plain(con, sql, params)

    db.execute = execute  # this benchmark process only
    try:
        answer = ask(question, size, data, root)
        harvest()
    finally:
        db.execute = plain
        out.unlink(missing_ok=True)
    top = sorted(ops.items(), key=lambda kv: -kv[1])[:5]
    return {"answer": answer, **seen, "top": [[k, round(v, 2)] for k, v in top]}


# -- measuring ------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it does not carry over the
    parent's peak through fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def disk_used(folder: Path) -> int:
    """Bytes of disk the files under ``folder`` take (allocated blocks, not apparent sizes)."""
    total = 0
    for dirpath, _, files in os.walk(folder):
        for f in files:
            with contextlib.suppress(FileNotFoundError):  # a spill file removed while we looked
                total += os.stat(os.path.join(dirpath, f)).st_blocks * 512
    return total


class SpillSampler(threading.Thread):
    """The largest disk use of a folder seen while a step runs (sampled every ``every`` seconds)."""

    def __init__(self, folder: Path, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.folder, self.every, self.peak = folder, every, 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, disk_used(self.folder))
            self._done.wait(self.every)

    def stop(self) -> int:
        self._done.set()
        self.join()
        self.peak = max(self.peak, disk_used(self.folder))
        return self.peak


def worker(step: str, arg: str, size: int, data: Path, root: Path, spill: Path) -> None:
    # imports are not what is measured (under load they take seconds: pandas, the metric modules)
    import duckdb  # noqa: F401

    from poanalytics import Workbench  # noqa: F401
    from poanalytics.config import settings  # noqa: F401

    cpu0 = sum(os.times()[:2])
    started = time.perf_counter()
    if step == "generate":
        out: dict = generate(size, data, spill)
    elif step == "load":
        out = load(size, data, root)
    elif step == "append":
        out = append(size, data, root)
    elif step == "profile":
        out = profiled(arg, size, data, root)
    else:
        out = {"answer": ask(arg, size, data, root)}
    out["seconds"] = time.perf_counter() - started
    out["cpu_s"] = sum(os.times()[:2]) - cpu0
    out["peak_mb"] = peak_rss_mb()
    print(json.dumps(out), flush=True)


def run_step(step: str, arg: str, size: int, data: Path, limit: str, name: str) -> dict:
    """One step in its own process, with its own conf and spill folder (sampled while it runs)."""
    spill = paths(size, data)["spill"] / name
    shutil.rmtree(spill, ignore_errors=True)
    spill.mkdir(parents=True)
    root = write_conf(data, name, None if limit == "none" else limit, spill)
    sampler = SpillSampler(spill)
    sampler.start()
    cmd = [sys.executable, __file__, "--worker", step, arg, str(size), "--data", str(data)]
    cmd += ["--root", str(root), "--spill", str(spill)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    spill_mb = sampler.stop() / 2**20
    if out.returncode != 0:
        lines = (out.stderr or "").strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {out.returncode}", "spill_mb": spill_mb}
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["spill_mb"] = spill_mb
    return res


# -- the run --------------------------------------------------------------------------------------


class Table:
    """The figures of every run, kept in ``--data``/scale_results.json (a size measured again
    replaces its rows), so sizes run in separate invocations end up in one table."""

    COLUMNS = "events | users | step | memory_limit | seconds | CPU s | peak MB | spill MB | answer"
    ORDER = ["generate", "load", "funnel", "retention", "lifecycle"]

    def __init__(self, data: Path) -> None:
        self.path = data / "scale_results.json"
        self.records: list[dict] = json.loads(self.path.read_text()) if self.path.exists() else []
        self.commit = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h", "--", "src"],
            capture_output=True,
            text=True,
        ).stdout.strip()  # the last commit of the library code measured

    def add(self, size: int, step: str, limit: str, r: dict, load: float) -> None:
        rec = {"size": size, "step": step, "limit": limit, "commit": self.commit, "load": load, **r}
        print("  " + self.cells(rec, short=True), flush=True)
        key = (size, step, limit)
        with self.path.with_suffix(".lock").open("w") as lock:  # runs of other sizes may write too
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.records = json.loads(self.path.read_text()) if self.path.exists() else []
            self.records = [x for x in self.records if (x["size"], x["step"], x["limit"]) != key]
            self.records.append(rec)
            self.path.write_text(json.dumps(self.records, indent=1))

    @staticmethod
    def cells(r: dict, short: bool = False) -> str:
        head = [f"{r['size']:,}", f"{r['size'] // EVENTS_PER_USER:,}", r["step"], r["limit"]]
        if "error" in r:
            body = ["-", "-", "-", f"{r['spill_mb']:,.0f}", "failed: " + r["error"]]
        else:
            answer = r.get("answer", f"{r.get('rows', 0):,} rows")
            if "top" in r:
                answer = (
                    f"{answer}; {r['queries']} queries, {r['total_s']:.1f} s in DuckDB, buffer "
                    f"{r['buffer_mb']:,.0f} MB, temp {r['temp_mb']:,.0f} MB, spilled "
                    f"{r['spilled_mb']:,.0f} MB; top operators: "
                    + ", ".join(f"{k} {v:.1f} s" for k, v in r["top"])
                )
            if "load_s" in r:
                answer = f"{r['rows']:,} rows in {r['load_s']:.1f} s ({r['load_cpu_s']:.1f} CPU s)"
            body = [f"{r['seconds']:.1f}", f"{r['cpu_s']:.1f}", f"{r['peak_mb']:,.0f}",
                    f"{r['spill_mb']:,.0f}", str(answer)]  # fmt: skip
        if short:
            return f"{r['step']:18s} {r['limit']:5s} " + "  ".join(body)
        return "| " + " | ".join(head + body) + " |"

    def lines(self) -> list[str]:
        def key(r: dict) -> tuple:
            base = r["step"].split(" ")[0]
            rank = self.ORDER.index(base) if base in self.ORDER else len(self.ORDER)
            return (r["size"], r["limit"] != "2GB" and r["limit"] != "-", rank, r["step"])

        return [self.cells(r) for r in sorted(self.records, key=key)]


def load_average() -> float:
    return os.getloadavg()[0]


def prepare(size: int, data: Path, limit: str, table: Table) -> float:
    """Generate and load ``size`` events unless there already; the warehouse's size in MB."""
    p = paths(size, data)
    if not p["events"].exists():
        print(f"generating {size:,} events ({size // EVENTS_PER_USER:,} users) ...", flush=True)
        la = load_average()
        r = run_step("generate", "-", size, data, limit, f"gen_{tag(size)}")
        table.add(size, "generate", "-", r, la)
    if not p["warehouse"].exists():
        print(f"loading {p['events']} (memory_limit {limit}) ...", flush=True)
        la = load_average()
        r = run_step("load", "-", size, data, limit, f"load_{tag(size)}")
        table.add(size, "load", limit, r, la)
        if "error" in r:
            raise SystemExit(f"the load of {size:,} events failed: {r['error']}")
    return p["warehouse"].stat().st_size / 2**20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1M,10M,100M,300M", help="event counts, e.g. 1M,10M")
    ap.add_argument(
        "--limits", default="2GB", help="memory_limit values ('none': DuckDB's default)"
    )
    ap.add_argument("--load-limit", default="2GB", help="memory_limit of the load")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    ap.add_argument("--questions", default=",".join(QUESTIONS))
    ap.add_argument(
        "--profile", action="store_true", help="also run each question profiled (under 2GB)"
    )
    ap.add_argument("--append", action="store_true", help="also time one more file into each")
    ap.add_argument("--parallel", action="store_true", help="run a size's questions at once")
    ap.add_argument("--write", action="store_true", help="write the section of RESULTS.md")
    ap.add_argument("--drop-parquet", action="store_true", help="delete the Parquet once loaded")
    ap.add_argument("--worker", nargs=3, metavar=("STEP", "ARG", "SIZE"), help=argparse.SUPPRESS)
    ap.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--spill", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        step, arg, size = args.worker
        worker(step, arg, int(size), args.data, args.root, args.spill)
        return 0
    args.data.mkdir(parents=True, exist_ok=True)
    table = Table(args.data)
    for size in [parse_size(s) for s in args.sizes.split(",")]:
        warehouse_mb = prepare(size, args.data, args.load_limit, table)
        p = paths(size, args.data)
        if args.drop_parquet:
            shutil.rmtree(p["parts"], ignore_errors=True)
            p["events"].unlink(missing_ok=True)
        print(f"\n{size:,} events: warehouse {warehouse_mb:,.0f} MB", flush=True)
        steps = [
            ("ask", q, limit)
            for limit in args.limits.split(",")
            if limit  # --limits "" --profile: the profiled runs only
            for q in args.questions.split(",")
        ]
        if args.profile:
            steps += [("profile", q, "2GB") for q in args.questions.split(",")]
        if args.append:
            extra_part(args.data)
            steps.append(("append", "-", args.load_limit))

        def one(step: str, q: str, limit: str, size: int = size) -> None:
            name = {"ask": q, "profile": f"{q} (profiled)", "append": "load 1 more file"}[step]
            la = load_average()
            r = run_step(step, q, size, args.data, limit, f"{step}_{q}_{tag(size)}_{limit}")
            table.add(size, name, limit, r, la)

        # --parallel: the steps of a size at once (each still its own process, memory and spill
        # folder); on a machine busy with other work they then get more of its time
        with ThreadPoolExecutor(max_workers=len(steps) if args.parallel else 1) as pool:
            list(pool.map(lambda s: one(*s), steps))
    if args.write:
        write_results(table, args.data)
    return 0


def write_results(table: Table, data: Path) -> None:
    import duckdb

    sizes = sorted({r["size"] for r in table.records})
    commits = sorted({r["commit"] for r in table.records})
    loads = [r["load"] for r in table.records if "load" in r]
    lines = [
        SECTION,
        "",
        f"Produced by `benchmarks/scale.py --write` (library code of commit {', '.join(commits)}; DuckDB "
        f"{duckdb.__version__}), {os.cpu_count()} cores shared with other work (1-minute load "
        f"average {min(loads):.0f}-{max(loads):.0f} while the steps ran), one run each: wall "
        "seconds grow with the machine's load, CPU seconds much less. Every step runs in its own "
        "process with a conf/poanalytics.toml of its own (`[duckdb] memory_limit` as in the table, "
        "`temp_directory` a folder of its own); peak = VmHWM of that process, spill = the most disk "
        "its spill folder took (sampled every 0.1 s). Data: benchmarks/shapes.py's visit shape "
        "(users = events / 50, 13 weeks), loaded from one Parquet file; the questions are those "
        "of benchmarks/metrics.py (funnel: 5 steps, 7 days; retention and lifecycle: weekly).",
        "",
        "| events | users | Parquet MB | warehouse MB |",
        "|---|---|---|---|",
    ]
    for size in sizes:
        p = paths(size, data)
        pq = f"{p['events'].stat().st_size / 2**20:,.0f}" if p["events"].exists() else "-"
        wh = f"{p['warehouse'].stat().st_size / 2**20:,.0f}" if p["warehouse"].exists() else "-"
        lines.append(f"| {size:,} | {size // EVENTS_PER_USER:,} | {pq} | {wh} |")
    lines += ["", "| " + Table.COLUMNS + " |", "|" + "---|" * len(Table.COLUMNS.split("|"))]
    lines += table.lines()
    path = ROOT / "benchmarks" / "RESULTS.md"
    text = path.read_text() if path.exists() else ""
    start = text.find(SECTION)
    if start >= 0:
        nxt = text.find("\n# ", start + len(SECTION))
        text = text[:start] + "\n".join(lines) + "\n" + (text[nxt + 1 :] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    path.write_text(text)
    print(f"\nwritten to {path} ({SECTION[2:]})")


if __name__ == "__main__":
    raise SystemExit(main())

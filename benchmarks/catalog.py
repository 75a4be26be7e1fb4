"""Catalog benchmark: what the event/property catalog costs a load and saves a metric's name check.

    .venv/bin/python benchmarks/catalog.py --rows 3000000 --data /work/bench-data/D
    .venv/bin/python benchmarks/catalog.py --rows 10000000 --data /work/bench-data/D

Demo events (``poanalytics.demo``, about 45 per user over 16 weeks) are generated once as Parquet
into ``--data`` and reused. In one run, on one warehouse file:

- load: ``load_events`` of the file into an empty warehouse (catalog update included), and the
  catalog update alone (``ingest.catalog.add_load`` on the load's rows, run again in a transaction
  that is rolled back): its share of the load.
- migrate: migration 6 on that warehouse with its catalog removed (the first open of a warehouse
  made by the previous release, whose events are all read once).
- names: the name check of a breakdown funnel (its step names and the breakdown key) read from the
  catalog, and the same check reading every event (how it was before: DISTINCT event, json_keys).
- funnel: the 5-step demo funnel with ``breakdown="plan"``, its names checked from the catalog and
  by the scan (``has_catalog`` made to answer no): the whole call, as a user waits for it.

Each figure is the median of ``--runs`` runs taken in turns; the machine's load average is printed
with them (a busy machine stretches every time, so compare the figures of one run with each other).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from poanalytics import Workbench, demo, schema  # noqa: E402
from poanalytics.db import fetch_all  # noqa: E402
from poanalytics.ingest import catalog as ingest_catalog  # noqa: E402
from poanalytics.metrics import catalog  # noqa: E402

STEPS = ["signed_up", "onboarding_started", "profile_completed", "project_created", "activated"]
EVENTS_PER_USER = 45  # the demo's, at 16 weeks


def prepare(data: Path, rows: int, seed: int) -> Path:
    users = max(1000, round(rows / EVENTS_PER_USER))
    parquet = data / f"catalog_events_u{users}_s{seed}.parquet"
    if parquet.exists():
        print(f"reusing {parquet}")
        return parquet
    data.mkdir(parents=True, exist_ok=True)
    work = data / f".gen_{parquet.stem}"
    started = time.perf_counter()
    files = demo.generate(work, users=users, weeks=16, seed=seed)
    shutil.move(str(files.events), parquet)
    shutil.rmtree(work, ignore_errors=True)
    print(f"generated {files.events_rows:,} events in {time.perf_counter() - started:.0f}s")
    return parquet


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=float, default=3e6, help="about how many events (default 3M)")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    parquet = prepare(args.data, int(args.rows), args.seed)
    path = args.data / "catalog_bench.duckdb"
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)

    wb = Workbench(path, create=True)
    try:
        load_s = timed(lambda: wb.load_events(parquet))
        con = wb.con
        rows = int(fetch_all(con, "SELECT count(*) FROM events")[0][0])
        load_id = int(fetch_all(con, "SELECT max(load_id) FROM events")[0][0])
        update = []
        for _ in range(args.runs):
            con.execute("BEGIN TRANSACTION")
            update.append(timed(lambda: ingest_catalog.add_load(con, "events", load_id)))
            con.execute("ROLLBACK")
        update_s = statistics.median(update)

        con.execute("BEGIN TRANSACTION")  # as the previous release left it, then migration 6
        con.execute("DROP TABLE event_catalog; DROP TABLE property_catalog")
        con.execute("DELETE FROM schema_version WHERE version = 6")
        con.execute("COMMIT")
        migrate_s = timed(lambda: schema.migrate(con))
        assert catalog.has_catalog(con)

        names: dict[str, list[float]] = {"catalog": [], "scan": []}
        funnel: dict[str, list[float]] = {"catalog": [], "scan": []}
        real = catalog.has_catalog

        def check() -> None:
            catalog.check_events(con, STEPS, "funnel")
            catalog.check_properties(con, ["plan"], "funnel")

        for _ in range(args.runs):
            for how in ("catalog", "scan"):
                catalog.has_catalog = real if how == "catalog" else (lambda con: False)
                try:
                    names[how].append(timed(check))
                    wb.release()
                    funnel[how].append(
                        timed(lambda: wb.funnel(STEPS, window="7d", breakdown="plan"))
                    )
                finally:
                    catalog.has_catalog = real
                con = wb.con
    finally:
        wb.close()
        for p in (path, path.with_name(path.name + ".wal")):
            p.unlink(missing_ok=True)

    n = {k: statistics.median(v) for k, v in names.items()}
    f = {k: statistics.median(v) for k, v in funnel.items()}
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{rows:,} demo events, medians of {args.runs} runs (load average now {load})")
    print(f"load              {load_s:7.2f} s  (catalog update included)")
    print(
        f"catalog update    {update_s:7.2f} s  = {update_s / load_s:.1%} of the load "
        f"({update_s / (load_s - update_s):.1%} added to a load without it)"
    )
    print(
        f"migration 6       {migrate_s:7.2f} s  (first open of a warehouse of the previous release)"
    )
    print(
        f"name check        {n['catalog'] * 1000:7.1f} ms from the catalog, "
        f"{n['scan'] * 1000:.0f} ms scanning the events ({n['scan'] / n['catalog']:.0f}x)"
    )
    print(
        f"breakdown funnel  {f['catalog']:7.2f} s with the catalog, {f['scan']:.2f} s scanning "
        f"({f['scan'] - f['catalog']:.2f} s saved, {1 - f['catalog'] / f['scan']:.0%})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Generated event shapes for the benchmarks: the demo shape and the "visit" shape.

    .venv/bin/python benchmarks/shapes.py visit 10M /work/bench-data/visit_10M
    .venv/bin/python benchmarks/shapes.py demo 10M /work/bench-data/demo_10M

- ``demo``: :mod:`poanalytics.demo`'s B2B SaaS events (a sign-up funnel: step 1 is a one-off).
- ``visit``: the most common funnel shape (issue 12): step 1 (``page_viewed``) is about 22% of all
  events, several per user per week; the later steps (``product_viewed``, ``added_to_cart``,
  ``checkout_started``, ``order_completed``) repeat; the rest (~59%) is background activity. 13
  weeks; users = rows / 50 (each user 25-75 events, 50 on average, over an active span of 1-6 weeks,
  so an active user has ~3 page views a week). A 5-step, 7-day funnel over these steps has work at
  every step: ~11 step-1 rows per user and repeats of every later step.

:func:`generate_visit` writes the canonical events columns (user_id, event, timestamp TIMESTAMPTZ
UTC, session_id, properties JSON text with plan, country, platform and, on page views, a page path)
as Parquet files ``part_NNNN.parquet`` in one folder, which ``Workbench.load_events(folder)`` reads.
It is DuckDB SQL over ``range()`` with hash-based draws: the same arguments give the same rows, and
the rows are generated ``chunk_rows`` at a time (users in blocks), so 300M rows never hold more than
one chunk in memory (~2 GB with the default). Each file is sorted by time.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]

VISIT_STEPS = [
    "page_viewed",
    "product_viewed",
    "added_to_cart",
    "checkout_started",
    "order_completed",
]
VISIT_WEEKS = 13
VISIT_START = "2026-08-31 00:00:00+00"  # a Monday; 13 weeks end 2026-11-30
EVENTS_PER_USER = 50
# event shares: step 1 ~22%, later steps repeat, the rest is background
VISIT_SHARES = [
    ("page_viewed", 0.22),
    ("product_viewed", 0.09),
    ("added_to_cart", 0.05),
    ("checkout_started", 0.03),
    ("order_completed", 0.02),
    ("session_started", 0.14),
    ("search_performed", 0.10),
    ("item_clicked", 0.12),
    ("scrolled", 0.10),
    ("notification_opened", 0.05),
    ("settings_viewed", 0.04),
    ("review_read", 0.04),
]
PLANS = [("free", 0.6), ("plus", 0.3), ("pro", 0.1)]
COUNTRIES = [
    ("US", 0.35),
    ("DE", 0.15),
    ("GB", 0.12),
    ("FR", 0.1),
    ("IN", 0.1),
    ("BR", 0.08),
    ("JP", 0.1),
]
PLATFORMS = [("web", 0.55), ("ios", 0.25), ("android", 0.2)]
PAGES = ["/", "/home", "/search", "/category/shoes", "/category/bags", "/category/watches", "/deals",
         "/product/1", "/product/2", "/product/3", "/product/4", "/blog", "/help", "/account"]  # fmt: skip
CHUNK_ROWS = 5_000_000

# u(a, b, salt): a uniform draw in [0, 1) from the seed, two integers and a salt
MACROS = """
CREATE OR REPLACE TEMP MACRO vu(s, a, b, salt) AS
    ((hash(hash(s::BIGINT, a::BIGINT, b::BIGINT, salt::VARCHAR)) >> 11)::DOUBLE / 9007199254740992.0);
"""


def _pick(draw: str, shares: list[tuple[str, float]]) -> str:
    """A CASE choosing a value by cumulative share (the last takes the rest)."""
    total = sum(s for _, s in shares)
    acc, whens = 0.0, []
    for value, share in shares[:-1]:
        acc += share / total
        whens.append(f"WHEN {draw} < {acc!r} THEN '{value}'")
    return f"CASE {' '.join(whens)} ELSE '{shares[-1][0]}' END"


def visit_query(seed: int, users: int, u_lo: int, u_hi: int) -> str:
    """The SELECT of the visit-shape events of users ``u_lo <= u < u_hi`` (of ``users``), by time."""
    span_days = VISIT_WEEKS * 7
    u = f"vu({seed}, uid, 0, 'user')"
    return f"""
    WITH users AS (
        SELECT uid,
               'v' || lpad(uid::VARCHAR, 9, '0') AS user_id,
               25 + floor(vu({seed}, uid, 0, 'n') * 51)::BIGINT AS n_ev,
               -- an active span of 7-42 days inside the quarter (never clipped: a clipped
               -- span would pile events up on one instant, and ties change funnel answers)
               7 + vu({seed}, uid, 0, 'span') * 35 AS span,
               vu({seed}, uid, 0, 'first') * ({span_days} - span) AS first_day,
               {_pick(f"vu({seed}, uid, 0, 'plan')", PLANS)} AS plan,
               {_pick(f"vu({seed}, uid, 0, 'country')", COUNTRIES)} AS country,
               {_pick(u, PLATFORMS)} AS platform
        FROM range({int(u_lo)}, {int(u_hi)}) t(uid)
    ),
    rows AS (
        SELECT uid, user_id, plan, country, platform, i,
               first_day + vu({seed}, uid, i, 'day') * span AS day,
               {_pick(f"vu({seed}, uid, i, 'event')", VISIT_SHARES)} AS event
        FROM (SELECT *, unnest(range(n_ev)) AS i FROM users)
    )
    SELECT user_id, event,
           TIMESTAMPTZ '{VISIT_START}' + to_microseconds(floor(day * 86400e6)::BIGINT) AS "timestamp",
           user_id || '-' || floor(day)::BIGINT::VARCHAR AS session_id,
           CASE WHEN event = 'page_viewed'
                THEN json_object('plan', plan, 'country', country, 'platform', platform,
                                 'page', ({PAGES!r})[1 + floor(vu({seed}, uid, i, 'page') * {len(PAGES)})::BIGINT])
                ELSE json_object('plan', plan, 'country', country, 'platform', platform)
           END::VARCHAR AS properties
    FROM rows
    ORDER BY "timestamp", user_id
    """


def generate_visit(
    rows: int, out_dir: str | Path, seed: int = 7, chunk_rows: int = CHUNK_ROWS
) -> Path:
    """Write ~``rows`` visit-shape events (users = rows / 50) as Parquet files in ``out_dir``.

    Returns the folder. An existing folder is left as it is (the same arguments give the same rows):
    the files are written to ``<out_dir>.partial`` and the folder renamed when all are there.
    """
    out = Path(out_dir)
    if out.exists():
        return out
    work = out.with_name(out.name + ".partial")  # renamed to ``out`` once every file is written
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    users = max(1, rows // EVENTS_PER_USER)
    per_chunk = max(1, chunk_rows // EVENTS_PER_USER)
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET memory_limit = '1500MB'")  # a chunk's sort spills past this
        con.execute("SET temp_directory = $d", {"d": str(work.with_name(work.name + ".spill"))})
        con.execute(MACROS)
        for n, lo in enumerate(range(0, users, per_chunk)):
            hi = min(users, lo + per_chunk)
            con.execute(
                f"COPY ({visit_query(seed, users, lo, hi)}) TO $dst "
                "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)",
                {"dst": str(work / f"part_{n:04d}.parquet")},
            )
    finally:
        con.close()
        shutil.rmtree(work.with_name(work.name + ".spill"), ignore_errors=True)
    work.rename(out)
    return out
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part_*.parquet"):
        old.unlink()
    users = max(1, rows // EVENTS_PER_USER)
    per_chunk = max(1, chunk_rows // EVENTS_PER_USER)
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET memory_limit = '1500MB'")  # a chunk's sort spills past this
        con.execute("SET temp_directory = $d", {"d": str(out / ".tmp")})
        con.execute(MACROS)
        for n, lo in enumerate(range(0, users, per_chunk)):
            hi = min(users, lo + per_chunk)
            dst = out / f"part_{n:04d}.parquet"
            con.execute(
                f"COPY ({visit_query(seed, users, lo, hi)}) TO $dst "
                "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)",
                {"dst": str(dst)},
            )
    finally:
        con.close()
    tmp = out / ".tmp"
    if tmp.exists():
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    (out / "_SUCCESS").write_text(f"rows={rows} seed={seed}\n")
    return out


def generate_demo(rows: int, out_dir: str | Path, seed: int = 7) -> Path:
    """~``rows`` demo-shape events (poanalytics.demo, 16 weeks) in ``out_dir``/events.parquet."""
    sys.path.insert(0, str(ROOT / "src"))
    from poanalytics import demo

    out = Path(out_dir)
    if not (out / "events.parquet").exists():
        demo.generate(out, users=max(1, round(rows / 45.3)), weeks=16, seed=seed)
    return out


def parse_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1e3, "M": 1e6, "G": 1e9}.get(text[-1], 1)
    return int(float(text.rstrip("KMG")) * scale)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("shape", choices=["visit", "demo"])
    ap.add_argument("rows", help="event count, e.g. 10M")
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--chunk-rows", default=str(CHUNK_ROWS))
    args = ap.parse_args(argv)
    started = time.perf_counter()
    if args.shape == "visit":
        out = generate_visit(
            parse_size(args.rows), args.out_dir, args.seed, parse_size(args.chunk_rows)
        )
    else:
        out = generate_demo(parse_size(args.rows), args.out_dir, args.seed)
    n = (
        duckdb.connect()
        .execute("SELECT count(*) FROM read_parquet($g)", {"g": f"{out}/*.parquet"})
        .fetchone()[0]
    )
    print(f"{n:,} {args.shape} events in {out} ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

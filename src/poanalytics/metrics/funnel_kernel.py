"""The ordered funnel's attempt chains, vectorised over many units at once (numpy, no Python loop
over events): the "kernel" strategy, the default for ordered funnels without exclusions.

DuckDB does what it is fastest at: it filters the funnel's rows and collects, per unit, one list
of its rows in funnel order (``list(v ORDER BY v)`` over one HUGEINT per row, ``v = pos << n |
bits``: the row's time, lowest step and rowid as in ``funnel_sql``'s ``pos``, and below it one bit
per thing the row can be: bit 0 an entry (a step-1 row in the date range, F4, F12), bit k-1 a
row that can fill step k >= 2). A vectorised DuckDB function, ``poa_funnel_chain``, receives
those lists 2,048 units at a time as Arrow arrays and runs every attempt of every unit together:

1. For each step k >= 2 the index of the next row after every row that can fill step k: a
   reversed running minimum over the chunk, one pass per step. "After" is strictly after in
   funnel order, so one row fills one step of an attempt (F3) and a step-1 row before a step-2
   row at the same instant comes first (F6).
2. Each attempt (every entry row, F4) follows those indices step by step while the row lies in
   its unit's list and within the window from its step-1 row (F5: the edge included).
3. Per unit, the deepest attempt and, among the deepest, the first (F1, F11).

It returns per unit the depth, the times of the first and last entry and of the chosen attempt's
steps (NULL where it stopped), and the 1-based list indices of those steps' rows.
The work is a few passes over the rows per step, whatever the number of attempts per unit, so a
frequent first step (a page view, several per user per week) never makes it quadratic.
The same function takes Arrow list arrays from any engine that can hand them over (Spark's
``mapInArrow``), so the chain is written once.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from ..sql import Params
from .funnel_sql import KEY_SHIFT, TIME_SHIFT, FunnelPlan, breakdown_expr, rows_ctes

FUNCTION = "poa_funnel_chain"
# v = pos << n | bits must fit a signed HUGEINT (pos < 2^KEY_SHIFT), and the time field must sit
# below bit 64 + 64 so two 64-bit words hold it (TIME_SHIFT + n < 64)
KERNEL_MAX_STEPS = min(126 - KEY_SHIFT, 63 - TIME_SHIFT)


def chains(
    offsets: np.ndarray, clock: np.ndarray, bits: np.ndarray, n: int, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every unit's best attempt, from its rows in funnel order.

    ``offsets`` (units + 1): where each unit's rows start in ``clock`` and ``bits``; ``clock`` the
    rows' time field (epoch microseconds + 2^63, unsigned, so differences need no sign);
    ``bits`` bit 0 entry, bit k-1 step k. Returns ``(out, valid)``, both (units, n + 3): depth,
    first entry, last entry, then the rows the best attempt used for steps 1..n, as 0-based
    indices into the unit's rows; ``valid`` is False where there is none (no entry at all: the
    whole row)."""
    units, rows = len(offsets) - 1, len(clock)
    itype = np.int32 if rows < 2**31 - 1 else np.int64
    out = np.zeros((units, n + 3), np.int64)
    valid = np.zeros((units, n + 3), bool)
    entries = np.flatnonzero(bits & 1).astype(itype)
    if not len(entries):
        return out, valid
    unit_of = np.repeat(np.arange(units, dtype=itype), np.diff(offsets))
    a_unit = unit_of[entries]
    a_end = offsets[1:][a_unit]  # each attempt's unit ends here (exclusive)
    t1 = clock[entries]
    clock_x = np.append(clock, clock[-1:])  # index `rows` (none) reads something harmless
    rows_idx = np.arange(rows, dtype=itype)
    cur, depth, used = entries, np.ones(len(entries), np.int8), [entries]
    for k in range(2, n + 1):
        # the next row after each row that can fill step k; `rows` when there is none
        at = np.where((bits & (1 << (k - 1))) != 0, rows_idx, itype(rows))
        nxt = np.empty(rows + 1, itype)
        nxt[:-1] = np.minimum.accumulate(at[::-1])[::-1]
        nxt[-1] = rows
        cand = nxt[np.minimum(cur + 1, rows)]
        ok = (cand < a_end) & (clock_x[cand] - t1 <= np.uint64(window))
        cur = np.where(ok, cand, itype(rows))  # stopped attempts stay at `rows`: none after it
        depth += ok
        used.append(cur)
    # per unit: the deepest attempt, the first among the deepest (attempts are in funnel order)
    starts = np.flatnonzero(np.r_[True, a_unit[1:] != a_unit[:-1]])
    units_in = a_unit[starts]
    count = len(entries)
    key = (n - depth).astype(np.int64) * count + np.arange(count)
    best_key = np.minimum.reduceat(key, starts)
    best = best_key % count
    first = offsets[:-1][units_in]
    out[units_in, 0] = n - best_key // count
    out[units_in, 1] = entries[starts] - first
    out[units_in, 2] = entries[np.r_[starts[1:], count] - 1] - first
    valid[units_in, :3] = True
    for k, rows_k in enumerate(used):
        at_k = rows_k[best]
        hit = at_k < rows
        out[units_in[hit], 3 + k] = at_k[hit] - first[hit]
        valid[units_in[hit], 3 + k] = True
    return out, valid


def _decode(values: pa.Array, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The time field and step bits of each ``v`` (HUGEINT, in Arrow a decimal128: 16-byte
    little-endian two's complement, read as two 64-bit words without a copy)."""
    words = np.frombuffer(values.buffers()[1], dtype=np.uint64)
    words = words[2 * values.offset : 2 * (values.offset + len(values))]
    lo, hi = words[0::2], words[1::2]
    shift = TIME_SHIFT + n
    clock = (lo >> np.uint64(shift)) | (hi << np.uint64(64 - shift))
    bits = (lo & np.uint64((1 << n) - 1)).astype(np.int64)
    return clock, bits


def arrow_chains(lists: pa.Array, steps: pa.Array, window: pa.Array) -> pa.Array:
    """``poa_funnel_chain(lists, n, window_us)``: DuckDB's vectorised call, one chunk of units.

    Per unit ``[depth, entered, last entry, t1, ..., tN, i1, ..., iN]``: the times (epoch
    microseconds) of the first and last entry and of the best attempt's steps, then the 1-based
    list indices of those steps' rows (for a breakdown that reads the exact row)."""
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    n, w = int(steps[0].as_py()), int(window[0].as_py())
    units = len(lists)
    offsets = lists.offsets.to_numpy().astype(np.int64)
    offsets = offsets - offsets[0]
    values = lists.values.slice(int(lists.offsets[0].as_py()), int(offsets[-1]))
    clock, bits = _decode(values, n)
    out, valid = chains(offsets, clock, bits, n, w)
    valid &= lists.is_valid().to_numpy(zero_copy_only=False)[:, None]
    # times: the rows' clock (epoch microseconds + 2^63) back to signed microseconds
    at = np.minimum(out[:, 1:] + offsets[:-1, None], max(len(clock) - 1, 0))
    times = (clock[at] - np.uint64(1 << 63)).view(np.int64) if len(clock) else out[:, 1:]
    width = 2 * n + 3
    full = np.concatenate([out[:, :1], times, out[:, 3:] + 1], axis=1)
    mask = ~np.concatenate([valid, valid[:, 3:]], axis=1)
    flat = pa.array(full.ravel(), mask=mask.ravel())
    starts = pa.array(np.arange(units + 1, dtype=np.int32) * width)
    return pa.ListArray.from_arrays(starts, flat)


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Make ``poa_funnel_chain`` callable on ``con`` (once per connection)."""
    try:
        con.create_function(
            FUNCTION,
            arrow_chains,
            [duckdb.list_type("HUGEINT"), "INTEGER", "BIGINT"],
            duckdb.list_type("BIGINT"),
            type="arrow",
            side_effects=False,
        )
    except duckdb.NotImplementedException as exc:  # already made on this connection
        if "already created" not in str(exc):
            raise


def kernel_sql(plan: FunnelPlan, params: Params, *, table: str) -> str:
    """``ranks_sql``'s rows (ordered mode, no exclusions, up to KERNEL_MAX_STEPS steps), with the
    chains run by ``poa_funnel_chain`` (``register`` it on the connection first)."""
    ctes, c = rows_ctes(plan, params, table)
    n, w_us, in_range = c.n, c.w_us, c.in_range
    entry = f"s1 AND {in_range}"
    bits = " + ".join(
        [f"({entry})::INTEGER"] + [f"s{k}::INTEGER * {1 << (k - 1)}" for k in range(2, n + 1)]
    )
    per_unit = []
    if plan.attribution in ("all_events", "step") and plan.breakdown:
        per_unit += ["any_value(user_id) AS user_id", "any_value(unit_b) AS unit_b"]
    else:
        per_unit += ["unit AS user_id", "'' AS unit_b"]
    first_b = f"arg_min(b, pos) FILTER (WHERE {entry})" if plan.breakdown else "''"
    per_unit.append(f"{first_b} AS first_b")
    ctes.append(f"""keyed AS (SELECT *, pos * {1 << n} + ({bits}) AS v FROM seq)""")
    ctes.append(f"""lists AS (SELECT unit, {", ".join(per_unit)}, list(v ORDER BY v) AS l
        FROM keyed GROUP BY unit)""")
    exact = plan.attribution == "last_touch" and plan.breakdown  # reads the chosen rows again
    # materialized: every c[k] below would otherwise call the function again
    ctes.append(f"""chained AS MATERIALIZED (SELECT unit, user_id, unit_b, first_b, {"l, " if exact else ""}
            {FUNCTION}(l, {n}, {w_us}) AS c FROM lists)""")

    def us(k: int) -> str:  # the k-th value of the result: epoch microseconds
        return f"make_timestamptz(c[{k}])"

    steps = ", ".join(f"l[c[{n + 3 + k}]] >> {n}" for k in range(1, n + 1))
    ctes.append(f"""best AS (SELECT unit, user_id, unit_b, first_b, c[1]::INTEGER AS depth,
            {us(2)} AS entered, c[3] + {w_us} > {c.end_us} AS open,
            {", ".join(f"{us(3 + k)} AS t{k}" for k in range(1, n + 1))},
            {f"[NULL, {steps}]" if exact else "NULL"} AS best
        FROM chained WHERE c[1] IS NOT NULL)""")
    bexpr = breakdown_expr(plan, lambda d: f"b.depth = {d}", lambda d: f"b.best[{d + 1}]")
    cols = ", ".join(f"b.t{k}" for k in range(1, n + 1))
    final = f"""SELECT b.unit, b.user_id, {bexpr} AS breakdown, b.depth,
            (b.open AND b.depth < {n}) AS in_progress, b.entered, {cols}
        FROM best b"""
    return "WITH " + ",\n".join(ctes) + "\n" + final

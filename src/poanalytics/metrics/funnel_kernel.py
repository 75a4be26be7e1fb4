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
FUNCTION64 = "poa_funnel_chain64"
# v = pos << n | bits must fit a signed HUGEINT (pos < 2^KEY_SHIFT), and the time field must sit
# below bit 64 + 64 so two 64-bit words hold it (TIME_SHIFT + n < 64)
KERNEL_MAX_STEPS = min(126 - KEY_SHIFT, 63 - TIME_SHIFT)


def chains(
    offsets: np.ndarray, clock: np.ndarray, bits: np.ndarray, n: int, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every unit's best attempt, from its rows in funnel order.

    ``offsets`` (units + 1): where each unit's rows start in ``clock`` and ``bits``; ``clock`` the
    rows' times in microseconds (unsigned epoch + 2^63 from a HUGEINT key, or signed from a
    BIGINT one: only differences within a unit are used);
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
        ok = (cand < a_end) & (clock_x[cand] - t1 <= clock.dtype.type(window))
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


def _result(
    lists: pa.Array, n: int, out: np.ndarray, valid: np.ndarray, times: np.ndarray
) -> pa.Array:
    """``[depth, entered, last entry, t1, ..., tN, i1, ..., iN]`` per unit (see ``arrow_chains``)."""
    valid &= lists.is_valid().to_numpy(zero_copy_only=False)[:, None]
    full = np.concatenate([out[:, :1], times, out[:, 3:] + 1], axis=1)  # SQL lists count from 1
    mask = ~np.concatenate([valid, valid[:, 3:]], axis=1)
    flat = pa.array(full.ravel(), mask=mask.ravel())
    starts = pa.array(np.arange(len(lists) + 1, dtype=np.int32) * (2 * n + 3))
    return pa.ListArray.from_arrays(starts, flat)


def _flat(lists: pa.Array) -> tuple[pa.Array, np.ndarray, pa.Array]:
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    offsets = lists.offsets.to_numpy().astype(np.int64)
    values = lists.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    return lists, offsets - offsets[0], values


def _times(out: np.ndarray, offsets: np.ndarray, clock: np.ndarray) -> np.ndarray:
    """The clock of the rows ``out`` points at (entered, last entry, steps), per unit."""
    at = np.minimum(out[:, 1:] + offsets[:-1, None], max(len(clock) - 1, 0))
    return clock[at] if len(clock) else np.zeros_like(out[:, 1:])


def arrow_chains(lists: pa.Array, steps: pa.Array, window: pa.Array) -> pa.Array:
    """``poa_funnel_chain(lists, n, window_us)``: DuckDB's vectorised call, one chunk of units.

    Per unit ``[depth, entered, last entry, t1, ..., tN, i1, ..., iN]``: the times (epoch
    microseconds) of the first and last entry and of the best attempt's steps, then the 1-based
    list indices of those steps' rows (for a breakdown that reads the exact row)."""
    n, w = int(steps[0].as_py()), int(window[0].as_py())
    lists, offsets, values = _flat(lists)
    clock, bits = _decode(values, n)
    out, valid = chains(offsets, clock, bits, n, w)
    # the clock (epoch microseconds + 2^63) back to signed microseconds
    times = (_times(out, offsets, clock) - np.uint64(1 << 63)).view(np.int64)
    return _result(lists, n, out, valid, times)


def arrow_chains64(lists: pa.Array, steps: pa.Array, window: pa.Array, base: pa.Array) -> pa.Array:
    """``poa_funnel_chain64(lists, n, window_us, base_us)``: the same over BIGINT keys
    ``((epoch_us - base_us) << 5 | lowest step) << n | bits`` (see ``bigint_base``)."""
    n, w, b = int(steps[0].as_py()), int(window[0].as_py()), int(base[0].as_py())
    lists, offsets, values = _flat(lists)
    v = values.to_numpy()
    clock, bits = v >> (n + 5), v & ((1 << n) - 1)  # microseconds from base_us
    out, valid = chains(offsets, clock, bits, n, w)
    return _result(lists, n, out, valid, _times(out, offsets, clock) + b)


def bigint_base(plan: FunnelPlan, first_us: int | None, last_us: int | None) -> int | None:
    """The base for BIGINT keys, or None when the funnel needs the HUGEINT one.

    A BIGINT key drops the rowid from the funnel order, so rows at one instant that can fill the
    same lowest step are read in the order of their step bits instead of their rowids. That is
    the same chain when every step is a plain event name (a row's bits follow from its name, so
    such rows are alike) and the unit's breakdown value is not read from the chosen rows
    (last_touch) or tested per step (attribution "step"). ``first_us``/``last_us``: the span of
    the steps' events (the catalog's); the key must fit 63 bits with room to spare."""
    plain = all(s.event is not None and not s.filters for s in plan.steps)
    by_row = plan.breakdown is not None and plan.attribution in ("last_touch", "step")
    if not plain or by_row or first_us is None or last_us is None:
        return None
    n = len(plan.steps)
    if last_us - first_us >= 1 << (63 - 5 - n - 2):  # a quarter of the room: stale spans fit too
        return None
    return first_us


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Make ``poa_funnel_chain`` and ``poa_funnel_chain64`` callable on ``con`` (once per
    connection)."""
    for name, fn, key, extra in (
        (FUNCTION, arrow_chains, "HUGEINT", []),
        (FUNCTION64, arrow_chains64, "BIGINT", ["BIGINT"]),
    ):
        try:
            con.create_function(
                name,
                fn,
                [duckdb.list_type(key), "INTEGER", "BIGINT", *extra],
                duckdb.list_type("BIGINT"),
                type="arrow",
                side_effects=False,
            )
        except duckdb.NotImplementedException as exc:  # already made on this connection
            if "already created" not in str(exc):
                raise


def kernel_sql(plan: FunnelPlan, params: Params, *, table: str, base_us: int | None = None) -> str:
    """``ranks_sql``'s rows (ordered mode, no exclusions, up to KERNEL_MAX_STEPS steps), with the
    chains run by ``poa_funnel_chain`` (``register`` it on the connection first). With
    ``base_us`` (from ``bigint_base``) the keys are BIGINTs, cheaper to sort and hand over."""
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
    if base_us is None:
        key, call = f"pos * {1 << n} + ({bits})", f"{FUNCTION}(l, {n}, {w_us})"
    else:
        base = params.add(int(base_us))
        lowest = (
            "CASE "
            + " ".join(f"WHEN s{k} THEN {k}" for k in range(1, n + 1))
            + f" ELSE {n + 1} END"
        )
        key = f"((epoch_us(ts) - {base}) * 32 + {lowest}) * {1 << n} + ({bits})"
        call = f"{FUNCTION64}(l, {n}, {w_us}, {base})"
    ctes.append(f"""keyed AS (SELECT *, {key} AS v FROM seq)""")
    ctes.append(f"""lists AS (SELECT unit, {", ".join(per_unit)}, list(v ORDER BY v) AS l
        FROM keyed GROUP BY unit)""")
    exact = plan.attribution == "last_touch" and plan.breakdown  # reads the chosen rows again
    # materialized: every c[k] below would otherwise call the function again
    ctes.append(f"""chained AS MATERIALIZED (SELECT unit, user_id, unit_b, first_b, {"l, " if exact else ""}
            {call} AS c FROM lists)""")

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

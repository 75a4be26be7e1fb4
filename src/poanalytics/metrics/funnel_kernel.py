"""The ordered funnel's attempt chains, vectorised over many units at once (numpy, no Python loop
over events): the "kernel" strategy, the default for ordered funnels.

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

The function returns per unit the depth, the times of the first and last entry and of the chosen attempt's
steps (NULL where it stopped), and the 1-based list indices of those steps' rows.
The work is a few passes over the rows per step, whatever the number of attempts per unit, so a
frequent first step (a page view, several per user per week) never makes it quadratic.
The same function takes Arrow list arrays from any engine that can hand them over (Spark's
``mapInArrow``), so the chain is written once. Units with one entry (all of them when step 1 is
a one-off like a sign-up) skip the function and the sort: ``kernel_sql`` chains them in SQL.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import numpy as np
import pyarrow as pa
from duckdb import sqltypes
from duckdb.func import PythonUDFType
from duckdb.sqltypes import DuckDBPyType

from ..sql import Params
from .funnel_lists import unit_columns
from .funnel_sql import KEY_SHIFT, TIME_SHIFT, FunnelPlan, breakdown_expr, rows_ctes

FUNCTION = "poa_funnel_chain"
FUNCTION64 = "poa_funnel_chain64"
# v = pos << n | bits must fit a signed HUGEINT (pos < 2^KEY_SHIFT), and the time field must sit
# below bit 64 + 64 so two 64-bit words hold it (TIME_SHIFT + n < 64)
KERNEL_MAX_STEPS = min(126 - KEY_SHIFT, 63 - TIME_SHIFT)


def chains(
    offsets: np.ndarray,
    clock: np.ndarray,
    bits: np.ndarray,
    n: int,
    window: int,
    exclusions: tuple[tuple[int, int], ...] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Every unit's best attempt, from its rows in funnel order.

    ``offsets`` (units + 1): where each unit's rows start in ``clock`` and ``bits``; ``clock`` the
    rows' times in microseconds (unsigned epoch + 2^63 from a HUGEINT key, or signed from a
    BIGINT one: only differences within a unit are used); ``bits`` bit 0 entry, bit k-1 step k,
    bit n + j exclusion j, whose ``exclusions[j]`` is its (from, to) pair as 1-based step numbers.
    Returns ``(out, valid)``, both (units, n + 3): depth, first entry, last entry, then the rows
    the best attempt used for steps 1..n, as 0-based indices into the unit's rows; ``valid`` is
    False where there is none, for the whole row when the unit has no entry or its best attempt
    is tainted by an exclusion (F9: it leaves the funnel)."""
    units, rows = len(offsets) - 1, len(clock)
    itype = np.int32 if rows < 2**31 - 2 else np.int64
    out = np.zeros((units, n + 3), np.int64)
    valid = np.zeros((units, n + 3), bool)
    entries = np.flatnonzero(bits & 1).astype(itype)
    if not len(entries):
        return out, valid
    unit_of = np.repeat(np.arange(units, dtype=itype), np.diff(offsets))
    a_end = offsets[1:][unit_of[entries]].astype(itype)  # each attempt's unit ends here
    used, depth = _follow(clock, bits, entries, a_end, n, window)
    tainted = None
    if exclusions:
        tainted = _tainted(offsets, clock, bits, used, a_end, n, window, exclusions)
    _pick(out, valid, offsets, unit_of[entries], used, depth, tainted, n)
    return out, valid


def _follow(
    clock: np.ndarray, bits: np.ndarray, entries: np.ndarray, a_end: np.ndarray, n: int, window: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Each attempt's row for every step (``len(clock)``: not reached) and its depth."""
    rows, itype = len(clock), entries.dtype.type
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
    return used, depth


def _timeline(offsets: np.ndarray, clock: np.ndarray, window: int) -> np.ndarray:
    """A key that grows along the rows, across units too, for finding rows by time inside a unit.

    Each gap between a unit's consecutive rows counts as itself up to ``window + 1``
    microseconds, and the units follow each other ``window + 1`` apart. Every comparison the
    exclusions make (the same instant, later, within the window of step 1) reads the same on it as
    on the clock, and it stays small: at most the rows times the window, and at most the units'
    spans added up."""
    gaps = np.empty(len(clock), np.int64)
    gaps[0] = 0
    gaps[1:] = np.minimum(clock[1:] - clock[:-1], clock.dtype.type(window + 1))
    starts = offsets[1:-1]
    gaps[starts[starts < len(clock)]] = window + 1  # a unit's first row: not a gap of its own
    if float(gaps.sum(dtype=np.float64)) >= 2.0**62:
        # both a window of years and thousands of units spanning centuries in one chunk
        raise OverflowError(
            "the funnel's exclusions cannot place these units' times on one 64-bit timeline: "
            "narrow the date range (date_from, date_to) or shorten the window"
        )
    return np.cumsum(gaps)


def _tainted(
    offsets: np.ndarray,
    clock: np.ndarray,
    bits: np.ndarray,
    used: list[np.ndarray],
    a_end: np.ndarray,
    n: int,
    window: int,
    exclusions: tuple[tuple[int, int], ...],
) -> np.ndarray:
    """F9 per attempt: an exclusion row strictly after its ``from`` step's instant and strictly
    before its ``to`` step's, or, with ``to`` not reached, no later than the window from step 1."""
    rows = len(clock)
    line = _timeline(offsets, clock, window)
    start = line[used[0]]
    tainted = np.zeros(len(used[0]), bool)
    for j, (step_from, step_to) in enumerate(exclusions):
        marks = np.zeros(rows + 1, np.int64)
        np.cumsum((bits >> (n + j)) & 1, out=marks[1:])  # exclusion rows before each row
        p_from, p_to = used[step_from - 1], used[step_to - 1]
        has_from, has_to = p_from < rows, p_to < rows
        lo = np.searchsorted(line, line[np.where(has_from, p_from, 0)], side="right")
        to_at = np.searchsorted(line, line[np.where(has_to, p_to, 0)], side="left")
        by_window = np.minimum(np.searchsorted(line, start + window, side="right"), a_end)
        hi = np.maximum(np.where(has_to, to_at, by_window), lo)
        tainted |= has_from & (marks[hi] > marks[lo])
    return tainted


def _pick(
    out: np.ndarray,
    valid: np.ndarray,
    offsets: np.ndarray,
    a_unit: np.ndarray,
    used: list[np.ndarray],
    depth: np.ndarray,
    tainted: np.ndarray | None,
    n: int,
) -> None:
    """Per unit: the deepest attempt, clean before tainted, the first of those (attempts are in
    funnel order): F1, F9, F11. Writes ``out`` and ``valid``."""
    rows = int(offsets[-1])
    entries = used[0]
    starts = np.flatnonzero(np.r_[True, a_unit[1:] != a_unit[:-1]])
    units_in = a_unit[starts]
    count = len(entries)
    rank = (n - depth).astype(np.int64) * 2
    if tainted is not None:
        rank += tainted
    best_key = np.minimum.reduceat(rank * count + np.arange(count), starts)
    best = best_key % count
    clean = best_key // count % 2 == 0
    first = offsets[:-1][units_in]
    out[units_in, 0] = n - best_key // count // 2
    out[units_in, 1] = entries[starts] - first
    out[units_in, 2] = entries[np.r_[starts[1:], count] - 1] - first
    valid[units_in, :3] = True
    for k, rows_k in enumerate(used):
        at_k = rows_k[best]
        hit = at_k < rows
        out[units_in[hit], 3 + k] = at_k[hit] - first[hit]
        valid[units_in[hit], 3 + k] = True
    valid[units_in[~clean]] = False  # tainted at its deepest: the unit leaves the funnel (F9)


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


def _pairs(exclusions: pa.Array) -> tuple[tuple[int, int], ...]:
    """The exclusions' (from, to) step numbers from the flat constant list [f1, t1, f2, t2, ...]."""
    flat = exclusions[0].as_py() or []
    return tuple(zip(flat[0::2], flat[1::2], strict=True))


def arrow_chains(
    lists: pa.Array, steps: pa.Array, window: pa.Array, exclusions: pa.Array
) -> pa.Array:
    """``poa_funnel_chain(lists, n, window_us, exclusions)``: DuckDB's vectorised call, one chunk
    of units. ``exclusions``: [from, to, ...] as 1-based step numbers, exclusion j on bit n + j.

    Per unit ``[depth, entered, last entry, t1, ..., tN, i1, ..., iN]``: the times (epoch
    microseconds) of the first and last entry and of the best attempt's steps, then the 1-based
    list indices of those steps' rows (for a breakdown that reads the exact row)."""
    n, w, pairs = int(steps[0].as_py()), int(window[0].as_py()), _pairs(exclusions)
    lists, offsets, values = _flat(lists)
    clock, bits = _decode(values, n + len(pairs))
    out, valid = chains(offsets, clock, bits, n, w, pairs)
    # the clock (epoch microseconds + 2^63) back to signed microseconds
    times = (_times(out, offsets, clock) - np.uint64(1 << 63)).view(np.int64)
    return _result(lists, n, out, valid, times)


def arrow_chains64(
    lists: pa.Array, steps: pa.Array, window: pa.Array, exclusions: pa.Array, base: pa.Array
) -> pa.Array:
    """``poa_funnel_chain64(lists, n, window_us, exclusions, base_us)``: the same over BIGINT
    keys ``((epoch_us - base_us) << 5 | lowest step) << width | bits`` (see ``bigint_base``)."""
    n, w, b = int(steps[0].as_py()), int(window[0].as_py()), int(base[0].as_py())
    pairs = _pairs(exclusions)
    width = n + len(pairs)
    lists, offsets, values = _flat(lists)
    v = values.to_numpy()
    clock, bits = v >> (width + 5), v & ((1 << width) - 1)  # microseconds from base_us
    out, valid = chains(offsets, clock, bits, n, w, pairs)
    return _result(lists, n, out, valid, _times(out, offsets, clock) + b)


def bigint_base(plan: FunnelPlan, first_us: int | None, last_us: int | None) -> int | None:
    """The base for BIGINT keys, or None when the funnel needs the HUGEINT one.

    A BIGINT key drops the rowid from the funnel order, so rows at one instant that can fill the
    same lowest step are read in the order of their step bits instead of their rowids. That is
    the same chain when every step is a plain event name (a row's bits follow from its name, so
    such rows are alike) and the unit's breakdown value is not read from the chosen rows
    (last_touch) or tested per step (attribution "step"). ``first_us``/``last_us``: the span of
    the steps' events (the catalog's); the key must fit 63 bits with room to spare."""
    named = [*plan.steps, *(x.as_step() for x in plan.exclusions)]
    plain = all(s.event is not None and not s.filters for s in named)
    by_row = plan.breakdown is not None and plan.attribution in ("last_touch", "step")
    if not plain or by_row or first_us is None or last_us is None:
        return None
    width = len(plan.steps) + len(plan.exclusions)
    if last_us - first_us >= 1 << (
        63 - 5 - width - 2
    ):  # a quarter of the room: stale spans fit too
        return None
    return first_us


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Make ``poa_funnel_chain`` and ``poa_funnel_chain64`` callable on ``con`` (once per
    connection)."""
    functions: list[tuple[str, Callable[..., pa.Array], DuckDBPyType, list[DuckDBPyType]]] = [
        (FUNCTION, arrow_chains, sqltypes.HUGEINT, []),
        (FUNCTION64, arrow_chains64, sqltypes.BIGINT, [sqltypes.BIGINT]),  # + base_us
    ]
    for name, fn, key, extra in functions:
        try:
            con.create_function(
                name,
                fn,
                # lists, steps, window_us, exclusions (+ base_us)
                [
                    duckdb.list_type(key),
                    sqltypes.INTEGER,
                    sqltypes.BIGINT,
                    duckdb.list_type(sqltypes.INTEGER),
                    *extra,
                ],
                duckdb.list_type(sqltypes.BIGINT),
                type=PythonUDFType.ARROW,
                side_effects=False,
            )
        except duckdb.NotImplementedException as exc:  # already made on this connection
            if "already created" not in str(exc):
                raise


def kernel_sql(plan: FunnelPlan, params: Params, *, table: str, base_us: int | None = None) -> str:
    """``lists_sql``'s rows (ordered mode, steps plus exclusions up to KERNEL_MAX_STEPS), with the
    chains run by ``poa_funnel_chain`` (``register`` it on the connection first). With
    ``base_us`` (from ``bigint_base``) the keys are BIGINTs, cheaper to sort and hand over."""
    ctes, c = rows_ctes(plan, params, table=table)
    n, w_us, in_range = c.n, c.w_us, c.in_range
    width = n + len(plan.exclusions)
    entry = f"s1 AND {in_range}"
    bits = " + ".join(
        [f"({entry})::INTEGER"]
        + [f"s{k}::INTEGER * {1 << (k - 1)}" for k in range(2, n + 1)]
        + [f"x{j + 1}::INTEGER * {1 << (n + j)}" for j in range(len(plan.exclusions))]
    )
    # the exclusions' (from, to) as 1-based step numbers: validated integers, structural
    pairs = [k for x in plan.exclusions for k in (x.from_step + 1, x.to_step + 1)]
    pairs_sql = f"[{', '.join(str(int(k)) for k in pairs)}]::INTEGER[]"
    per_unit = unit_columns(plan, entry)
    if base_us is None:
        key = f"pos * {1 << width} + ({bits})"
        call = f"{FUNCTION}(l, {n}, {w_us}, {pairs_sql})"
        shift = width + TIME_SHIFT  # v >> shift: epoch microseconds + 2^63

        def epoch(clock: str) -> str:
            return f"({clock} - {1 << 63})"
    else:
        base = params.add(int(base_us))
        lowest = (
            "CASE "
            + " ".join(f"WHEN s{k} THEN {k}" for k in range(1, n + 1))
            + f" ELSE {n + 1} END"
        )
        key = f"((epoch_us(ts) - {base}) * 32 + {lowest}) * {1 << width} + ({bits})"
        call = f"{FUNCTION64}(l, {n}, {w_us}, {pairs_sql}, {base})"
        shift = width + 5  # v >> shift: microseconds from base_us

        def epoch(clock: str) -> str:
            return f"({clock} + {base})"

    exact = plan.attribution == "last_touch" and plan.breakdown  # reads the chosen rows again
    ctes.append(f"""keyed AS (SELECT *, {key} AS v FROM seq)""")
    # A unit with one attempt (all of them when step 1 is a one-off like a sign-up) needs neither a
    # sorted list nor the function: its chain is the first row of each step after the previous
    # one, inside the window from its step-1 row (``one`` below). Exclusions take the function, and
    # so does "any event" as step 1: every unit then has many attempts, and one sorted aggregate
    # costs less than sorting the lists apart.
    split = not plan.exclusions and plan.steps[0].event is not None
    if split:
        ctes.append(f"""lists AS (SELECT unit, {", ".join(per_unit)}, list(v) AS l,
            count(*) FILTER (WHERE {entry}) AS enters FROM keyed GROUP BY unit)""")
        many = "(SELECT * REPLACE (list_sort(l) AS l) FROM lists WHERE enters > 1)"
    else:
        ctes.append(f"""lists AS (SELECT unit, {", ".join(per_unit)}, list(v ORDER BY v) AS l
            FROM keyed GROUP BY unit)""")
        many = "lists"
    # materialized: every c[k] below would otherwise call the function again
    ctes.append(f"""chained AS MATERIALIZED (SELECT unit, user_id, unit_b, first_b, {"l, " if exact else ""}
            {call} AS c FROM {many})""")

    def us(k: int) -> str:  # the k-th value of the result: epoch microseconds
        return f"make_timestamptz(c[{k}])"

    steps = ", ".join(f"l[c[{n + 3 + k}]] >> {width}" for k in range(1, n + 1))
    ctes.append(f"""best AS (SELECT unit, user_id, unit_b, first_b, c[1]::INTEGER AS depth,
            {us(2)} AS entered, c[3] + {w_us} > {c.end_us} AS open,
            {", ".join(f"{us(3 + k)} AS t{k}" for k in range(1, n + 1))},
            {f"[NULL, {steps}]" if exact else "NULL"} AS best
        FROM chained WHERE c[1] IS NOT NULL)""")
    if split:
        ctes.extend(_one_attempt(n, w_us, shift, epoch, width, bool(exact), c.end_us))
        ctes.append("every AS (SELECT * FROM best UNION ALL SELECT * FROM one)")
    final_from = "every" if split else "best"
    bexpr = breakdown_expr(plan, lambda d: f"b.depth = {d}", lambda d: f"b.best[{d + 1}]")
    cols = ", ".join(f"b.t{k}" for k in range(1, n + 1))
    final = f"""SELECT b.unit, b.user_id, {bexpr} AS breakdown, b.depth,
            (b.open AND b.depth < {n}) AS in_progress, b.entered, {cols}
        FROM {final_from} b"""
    return "WITH " + ",\n".join(ctes) + "\n" + final


def _one_attempt(
    n: int, w_us: str, shift: int, epoch: Callable[[str], str], width: int, exact: bool, end_us: str
) -> list[str]:
    """The CTEs ``o1`` .. ``o{n}`` and ``one``: ``best``'s columns for the units with one entry
    (``lists`` rows with ``enters = 1``; their lists unsorted). ``v >> shift`` is a row's clock,
    ``epoch(clock)`` its epoch microseconds; step k's row is the smallest key after step k-1's
    that can fill step k within the window from step 1 (F3, F5, F6), so the steps reached are a
    prefix and the depth counts them."""
    ctes = [
        f"""o1 AS (SELECT unit, user_id, unit_b, first_b, l, p1, p1 >> {shift} AS c1
            FROM (SELECT *, list_filter(l, lambda x: (x & 1) <> 0)[1] AS p1 FROM lists
                  WHERE enters = 1))"""
    ]
    for k in range(2, n + 1):
        nxt = (
            f"list_min(list_filter(l, lambda x: (x & {1 << (k - 1)}) <> 0 AND x > p{k - 1} "
            f"AND (x >> {shift}) - c1 <= {w_us}))"
        )
        ctes.append(f"o{k} AS (SELECT *, {nxt} AS p{k} FROM o{k - 1})")
    depth = " + ".join(["1"] + [f"(p{k} IS NOT NULL)::INTEGER" for k in range(2, n + 1)])
    times = ", ".join(
        f"make_timestamptz({epoch(f'(p{k} >> {shift})')}::BIGINT) AS t{k}" for k in range(1, n + 1)
    )
    best = f"[NULL, {', '.join(f'p{k} >> {width}' for k in range(1, n + 1))}]" if exact else "NULL"
    ctes.append(f"""one AS (SELECT unit, user_id, unit_b, first_b, {depth} AS depth,
            make_timestamptz({epoch("c1")}::BIGINT) AS entered, {epoch("c1")} + {w_us} > {end_us} AS open,
            {times}, {best} AS best
        FROM o{n})""")
    return ctes

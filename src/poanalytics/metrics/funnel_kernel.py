"""The ordered funnel's attempt chains, run over many units at once by compiled code (no Python
loop over events): the "kernel" strategy, the default for ordered funnels.

DuckDB does what it is fastest at: it filters the funnel's rows and collects, per unit, one list
of its rows (``list(v)`` over one HUGEINT per row, in no order, ``v = pos << n |
bits``: the row's time, lowest step and rowid as in ``funnel_sql``'s ``pos``, and below it one bit
per thing the row can be: bit 0 an entry (a step-1 row in the date range, F4, F12), bit k-1 a
row that can fill step k >= 2). A vectorised DuckDB function, ``poa_funnel_chain``, receives
those lists 2,048 units at a time as Arrow arrays, decodes them with numpy and hands them to
``funnel_chain.follow`` (compiled by numba, run outside the interpreter's lock so DuckDB's threads
work side by side), which follows every attempt of every unit: the rules and their contract
numbers are in ``funnel_chain``'s docstring.

``funnel_chain.sort_units`` puts each unit's rows in funnel order (the order of ``v``), for less
than a sort inside DuckDB's aggregate, and the indices returned point into the lists as sent.

The function returns per unit the depth, the times of the first and last entry and of the chosen attempt's
steps (NULL where it stopped), and the 1-based list indices of those steps' rows.
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
    """Every unit's best attempt, from its rows in funnel order (``funnel_chain.follow``).

    ``offsets`` (units + 1): where each unit's rows start in ``clock`` and ``bits``; ``clock`` the
    rows' times in microseconds (unsigned epoch + 2^63 from a HUGEINT key, or signed from a
    BIGINT one: only differences within a unit are used); ``bits`` bit 0 entry, bit k-1 step k,
    bit n + j exclusion j, whose ``exclusions[j]`` is its (from, to) pair as 1-based step numbers.
    Returns ``(out, valid)``, both (units, n + 3): depth, first entry, last entry, then the rows
    the best attempt used for steps 1..n, as 0-based indices into the unit's rows; ``valid`` is
    False where there is none, for the whole row when the unit has no entry or its best attempt
    is tainted by an exclusion (F9: it leaves the funnel)."""
    from .funnel_chain import follow  # numba: loaded on the first funnel, not on import

    units = len(offsets) - 1
    out = np.zeros((units, n + 3), np.int64)
    valid = np.zeros((units, n + 3), bool)
    pairs = np.array(exclusions, np.int64).reshape(-1, 2)
    clock = np.ascontiguousarray(clock)
    follow(
        np.ascontiguousarray(offsets, np.int64),
        clock,
        np.ascontiguousarray(bits, np.int64),
        int(n),
        clock.dtype.type(window),
        np.ascontiguousarray(pairs[:, 0]),
        np.ascontiguousarray(pairs[:, 1]),
        out,
        valid,
    )
    return out, valid


def warm_up() -> None:
    """Load numba and the compiled chain now rather than in the first ordered funnel: about 1 s
    once per process (numba's import and first call, from the machine code it keeps in
    ``__pycache__``; a few seconds the first time on a machine, when it compiles)."""
    none = np.zeros(0, np.int64)
    for clock in (np.zeros(0, np.uint64), none):  # the HUGEINT key's clock, the BIGINT key's
        chains(np.zeros(1, np.int64), clock, none, 1, 0)
    _order(np.zeros(1, np.int64), none, none)  # BIGINT keys
    _order(np.zeros(1, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.uint64))  # HUGEINT


def _decode(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The low and high 64-bit words of each ``v`` (HUGEINT, in Arrow a decimal128: 16-byte
    little-endian two's complement, read without a copy)."""
    words = np.frombuffer(values.buffers()[1], dtype=np.uint64)
    words = words[2 * values.offset : 2 * (values.offset + len(values))]
    return words[0::2], words[1::2]


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
    list indices (in the lists as sent) of those steps' rows, for a breakdown that reads the
    exact row."""
    n, w, pairs = int(steps[0].as_py()), int(window[0].as_py()), _pairs(exclusions)
    width = n + len(pairs)
    lists, offsets, values = _flat(lists)
    lo, hi = _decode(values)
    order = _order(offsets, hi, lo)
    lo, hi = lo[order], hi[order]
    shift = TIME_SHIFT + width
    clock = (lo >> np.uint64(shift)) | (hi << np.uint64(64 - shift))  # epoch us + 2^63
    bits = (lo & np.uint64((1 << width) - 1)).astype(np.int64)
    out, valid = chains(offsets, clock, bits, n, w, pairs)
    # the clock (epoch microseconds + 2^63) back to signed microseconds
    times = (_times(out, offsets, clock) - np.uint64(1 << 63)).view(np.int64)
    _as_sent(out, offsets, order)
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
    v = np.ascontiguousarray(values.to_numpy())
    order = _order(offsets, v, v)
    v = v[order]
    clock, bits = v >> (width + 5), v & ((1 << width) - 1)  # microseconds from base_us
    out, valid = chains(offsets, clock, bits, n, w, pairs)
    times = _times(out, offsets, clock) + b
    _as_sent(out, offsets, order)
    return _result(lists, n, out, valid, times)


def _order(offsets: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """The indices that sort each unit's keys (``hi``, ``lo``: one number; the same array twice
    for a BIGINT key). DuckDB sends the lists unsorted: a sort inside ``list()`` or a
    ``list_sort`` costs more than ``funnel_chain.sort_units``, which passes once over units
    already in order and sorts the rest."""
    from .funnel_chain import sort_units

    order = np.empty(len(lo), np.int64)
    sort_units(
        np.ascontiguousarray(offsets, np.int64),
        np.ascontiguousarray(hi),
        np.ascontiguousarray(lo),
        order,
    )
    return order


def _as_sent(out: np.ndarray, offsets: np.ndarray, order: np.ndarray) -> None:
    """The steps' rows in ``out`` (indices into each unit's sorted rows) as indices into the
    lists as DuckDB sent them."""
    if len(order):
        at = np.minimum(out[:, 3:] + offsets[:-1, None], len(order) - 1)
        out[:, 3:] = order[at] - offsets[:-1, None]


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
    ctes, c = rows_ctes(plan, params, table=table, with_event=base_us is not None)
    n, w_us, in_range = c.n, c.w_us, c.in_range
    width = n + len(plan.exclusions)
    entry = f"s1 AND {in_range}"
    # the exclusions' (from, to) as 1-based step numbers: validated integers, structural
    pairs = [k for x in plan.exclusions for k in (x.from_step + 1, x.to_step + 1)]
    pairs_sql = f"[{', '.join(str(int(k)) for k in pairs)}]::INTEGER[]"
    per_unit = unit_columns(plan, entry)
    if base_us is None:
        bits = " + ".join(
            [f"({entry})::INTEGER"]
            + [f"s{k}::INTEGER * {1 << (k - 1)}" for k in range(2, n + 1)]
            + [f"x{j + 1}::INTEGER * {1 << (n + j)}" for j in range(len(plan.exclusions))]
        )
        key = f"pos * {1 << width} + ({bits})"
        call = f"{FUNCTION}(l, {n}, {w_us}, {pairs_sql})"
        shift = width + TIME_SHIFT  # v >> shift: epoch microseconds + 2^63

        def epoch(clock: str) -> str:
            return f"({clock} - {1 << 63})"
    else:
        base = params.add(int(base_us))
        key = f"(epoch_us(ts) - {base}) * {1 << (width + 5)} + {_codes(plan, params, in_range)}"
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
    # The lists go to the function unsorted: it sorts each unit's rows (``_order``) for less
    # than DuckDB would.
    split = not plan.exclusions and plan.steps[0].event is not None
    if split:
        ctes.append(f"""lists AS (SELECT unit, {", ".join(per_unit)}, list(v) AS l,
            count(*) FILTER (WHERE (v & 1) <> 0) AS enters FROM keyed GROUP BY unit)""")
        many = "(SELECT * FROM lists WHERE enters > 1)"
    else:
        ctes.append(f"""lists AS (SELECT unit, {", ".join(per_unit)}, list(v) AS l
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


def _codes(plan: FunnelPlan, params: Params, in_range: str) -> str:
    """A BIGINT key's low bits, ``lowest step << width | bits``, from the event's name alone: with
    every step and exclusion a plain name (``bigint_base``) they follow from it, and one CASE on
    the name costs less than the step flags and their sum. The entry bit also needs the date
    range (F12): added apart when there is one."""
    n, width = len(plan.steps), len(plan.steps) + len(plan.exclusions)
    names = [str(s.event) for s in plan.steps]
    xnames = [str(x.event) for x in plan.exclusions]
    plain_entry = in_range.strip() == "true"
    whens = []
    for name in dict.fromkeys([*names, *xnames]):
        lowest = next((k for k, s in enumerate(names, 1) if s == name), n + 1)
        bits = sum(1 << (k - 1) for k in range(2, n + 1) if names[k - 1] == name)
        bits += sum(1 << (n + j) for j, x in enumerate(xnames) if x == name)
        bits += 1 if plain_entry and name == names[0] else 0
        whens.append(f"WHEN {params.add(name)} THEN {lowest * (1 << width) + bits}")
    codes = f"CASE event {' '.join(whens)} END"
    if not plain_entry:
        codes += f" + (event = {params.add(names[0])} AND {in_range})::INTEGER"
    return codes


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

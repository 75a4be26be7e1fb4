"""The funnel definition, as one SQL builder (query object -> SQL), to the metric contract.

Plan (ordered and strict modes), all in SQL with portable window functions and equi-joins:

1. ``base``: the events of users who enter (a step-1 event in the date range), from ``date_from``
   to ``date_to`` + window, with one boolean column per step (and per exclusion).
2. ``seq``: each user's events in funnel order: time, then the lowest step the event can fill
   (ties, F6), then rowid. ``pos`` numbers them.
3. ``nxt``: for each row, the position of the next row that can fill step k (k >= 2), and in
   strict mode the next row that is neither step k-1 nor step k (a "breaker").
4. ``a1`` .. ``aN``: every step-1 row in range starts an attempt (F4); each step follows the pointer
   to the next row of that step, if it lies within the window from step 1 (F5), and in strict mode
   only if no breaker comes first (F7). Following pointers uses each row once (F3).
5. ``att``: the depth of each attempt and, with exclusions, whether it is tainted (F9).
6. ``per_user``: the furthest step over the user's attempts (F1), the step times of the first
   attempt that reached it (F11), the breakdown value (F10) and whether a window is still open at
   the end of the data (F12).

Steps 1-2 (``rows_ctes``) and the breakdown value (``breakdown_expr``) are shared with the list
form in ``funnel_lists``, the default for ordered funnels; steps 3-4 here are the ASOF form (DuckDB)
and the window form (portable). On an engine without 128-bit integers (Spark) ``pos`` numbers a
unit's rows 1..m instead (``Dialect.row_position``) and ``funnel_chase`` follows the attempts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..sql import Params
from .engine import DUCKDB, Dialect
from .predicates import prop_expr, step_predicate
from .spec import Exclusion, Step
from .units import Unit, unit_source

# pos, the funnel order of a row, is one non-negative HUGEINT: [time | step | rowid], and an
# attempt's rank goes above it: [rank | pos]. Every bound below follows from these widths.
ROW_BITS = 39  # rowids below 2^39 (5.5e11 rows)
STEP_BITS = 5  # the lowest step a row can fill, 1..N+1
TIME_BITS = 64  # epoch microseconds + 2^63: every instant DuckDB holds (epoch_us is a BIGINT)
TIME_OFFSET = 1 << (TIME_BITS - 1)  # so times before 1970 give a non-negative field too
MAX_ORDERED_STEPS = (1 << STEP_BITS) - 2  # N + 1 must fit in STEP_BITS
TIME_SHIFT = STEP_BITS + ROW_BITS  # (pos >> TIME_SHIFT) - TIME_OFFSET is the epoch microseconds
KEY_SHIFT = TIME_SHIFT + TIME_BITS  # every pos is below 2^KEY_SHIFT
RANK_BITS = (2 * MAX_ORDERED_STEPS + 1).bit_length()  # ((N - depth) * 2 + tainted)
assert KEY_SHIFT + RANK_BITS < 127, "a funnel key must fit a signed HUGEINT"


def pos_clock(pos: str) -> str:
    """The time field of ``pos`` (SQL): epoch microseconds + TIME_OFFSET, never negative. Differences
    and window bounds are computed on it directly; ``pos_time_us`` turns it back into a time."""
    return f"({pos} >> {TIME_SHIFT})"


def pos_time_us(pos: str) -> str:
    """The epoch microseconds of the row at position ``pos`` (SQL)."""
    return f"({pos_clock(pos)} - {TIME_OFFSET})"


def first_pos_at(clock: str) -> str:
    """The smallest position at time field ``clock`` (SQL): every row at that instant or later is
    at or above it, every earlier row below."""
    return f"(({clock}) << {TIME_SHIFT})"


@dataclass(frozen=True)
class FunnelPlan:
    steps: tuple[Step, ...]
    window: int
    order: str
    exclusions: tuple[Exclusion, ...]
    breakdown: str | None
    attribution: str
    breakdown_step: int | None
    date_from: object
    date_to: object
    unit: Unit = Unit()
    terminal: tuple[Step, ...] = ()  # events that end a unit's journey (F18)
    as_of: object = None  # the observation end (F18); None: the data's last event


@dataclass(frozen=True)
class Bound:
    """The parts every funnel query shares, with their values bound as parameters."""

    n: int
    w_us: str
    preds: list[str]
    xpreds: list[str]
    src: str  # the events as the funnel reads them (the unit's view, units.unit_source)
    dfrom: str | None
    dto: str | None
    in_range: str  # a step-1 (entry) time inside [date_from, date_to]
    lower: str  # events from date_from ...
    upper: str  # ... to date_to + window (and no later than as_of)
    end_us: str  # the observation end in epoch microseconds: as_of, or the data's last event (F12)


def bind(plan: FunnelPlan, params: Params, *, table: str, dialect: Dialect = DUCKDB) -> Bound:
    us = dialect.epoch_us
    w_us = params.add(plan.window * 1_000_000)
    dfrom = params.add(plan.date_from) if plan.date_from is not None else None
    dto = params.add(plan.date_to) if plan.date_to is not None else None
    as_of = params.add(plan.as_of) if plan.as_of is not None else None
    in_range = " AND ".join(
        ([f"ts >= {dfrom}"] if dfrom else [])
        + ([f"ts <= {dto}"] if dto else [])
        + ([f"ts <= {as_of}"] if as_of else [])
    )
    upper = f"AND {us('ts')} <= {us(dto)} + {w_us}" if dto else ""
    upper += f" AND ts <= {as_of}" if as_of else ""
    end_us = (
        us(dialect.instant(as_of))
        if as_of
        else f"(SELECT {us('max(ts)')} FROM {dialect.table(table)})"
    )
    return Bound(
        n=len(plan.steps),
        w_us=w_us,
        preds=[step_predicate(s, params, dialect) for s in plan.steps],
        xpreds=[step_predicate(x.as_step(), params, dialect) for x in plan.exclusions],
        src=unit_source(plan.unit, params, table=table, dialect=dialect),
        dfrom=dfrom,
        dto=dto,
        in_range=in_range or "true",
        lower=f"AND ts >= {dfrom}" if dfrom else "",
        upper=upper,
        end_us=end_us,
    )


def next_rows_cte(n: int, strict: bool, breaker: str) -> str:
    """``nxt``: ``seq``'s rows with, per row, the position of the next row that can fill step k
    (``n{k}``, k >= 2) and, in strict mode, of the next row that is neither step k-1 nor step k
    (``{breaker}{k}``, a breaker): one window partitioned by unit.

    "The rows after this one" is written as the rows before it in descending order, a frame that
    only grows: Spark evaluates a frame ending UNBOUNDED FOLLOWING again for every row (quadratic
    in a unit's rows: a bot's million events never finished), a growing one incrementally."""
    win = "(PARTITION BY unit ORDER BY pos DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
    nexts = [f"min(CASE WHEN s{k} THEN pos END) OVER w AS n{k}" for k in range(2, n + 1)]
    if strict:
        nexts += [
            f"min(CASE WHEN NOT (s{k - 1} OR s{k}) THEN pos END) OVER w AS {breaker}{k}"
            for k in range(2, n + 1)
        ]
    return f"nxt AS (SELECT *, {', '.join(nexts)} FROM seq WINDOW w AS {win})"


def _window_chain(
    n: int, strict: bool, in_range: str, w_us: str, dialect: Dialect = DUCKDB
) -> list[str]:
    """Portable form: each row points to the next row of every step (window functions); attempts
    follow the pointers with equi-joins. Runs on any SQL engine with window functions."""
    us = dialect.epoch_us
    ctes = [next_rows_cte(n, strict, breaker="b")]
    first_carry = "n2 AS c2" + (", b2 AS k2" if strict else "")
    ctes.append(f"""a1 AS (SELECT unit, user_id, unit_b, b AS b1, pos AS p1, ts AS t1, {first_carry}
        FROM nxt WHERE s1 AND {in_range})""")
    for k in range(2, n + 1):
        ok = f"(r.pos IS NOT NULL AND {us('r.ts')} - {us('a.t1')} <= {w_us}"
        ok += f" AND (a.k{k} IS NULL OR a.k{k} > a.c{k}))" if strict else ")"
        carry = []
        if k < n:
            carry.append(f"CASE WHEN {ok} THEN r.n{k + 1} END AS c{k + 1}")
            if strict:
                carry.append(f"CASE WHEN {ok} THEN r.b{k + 1} END AS k{k + 1}")
        ctes.append(f"""a{k} AS (SELECT a.*, CASE WHEN {ok} THEN r.pos END AS p{k}, CASE WHEN {ok} THEN r.ts END AS t{k}
            {"".join(", " + c for c in carry)}
            FROM a{k - 1} a LEFT JOIN nxt r ON r.unit = a.unit AND r.pos = a.c{k})""")
    return ctes


def _asof_chain(n: int, strict: bool, in_range: str, w_us: str) -> list[str]:
    """DuckDB form of the same chain: the next row of step k after the previous step's row is one
    ASOF join per step, so no window over all rows is needed (several times faster)."""
    ctes = [
        f"""a1 AS (SELECT unit, user_id, unit_b, b AS b1, pos AS p1, ts AS t1 FROM seq WHERE s1 AND {in_range})"""
    ]
    for k in range(2, n + 1):
        ctes.append(f"r{k} AS (SELECT unit, pos, ts FROM seq WHERE s{k})")
        after = f"a.p{k - 1}"
        # attempts that already stopped skip the join and pass through with NULLs
        base = f"(SELECT * FROM a{k - 1} WHERE p{k - 1} IS NOT NULL)"
        stopped = f"SELECT *, NULL::HUGEINT AS p{k}, NULL::TIMESTAMPTZ AS t{k} FROM a{k - 1} WHERE p{k - 1} IS NULL"
        ok = f"(r.pos IS NOT NULL AND epoch_us(r.ts) - epoch_us(a.t1) <= {w_us}"
        if strict:
            ctes.append(f"x{k} AS (SELECT unit, pos FROM seq WHERE NOT (s{k - 1} OR s{k}))")
            base = (
                f"(SELECT a.*, x.pos AS k{k} FROM {base} a ASOF LEFT JOIN x{k} x "
                f"ON a.unit = x.unit AND x.pos > {after})"
            )
            stopped = (
                f"SELECT *, NULL::HUGEINT AS k{k}, NULL::HUGEINT AS p{k}, NULL::TIMESTAMPTZ AS t{k} "
                f"FROM a{k - 1} WHERE p{k - 1} IS NULL"
            )
            ok += f" AND (a.k{k} IS NULL OR a.k{k} > r.pos))"
        else:
            ok += ")"
        ctes.append(f"""a{k} AS (SELECT a.*, CASE WHEN {ok} THEN r.pos END AS p{k}, CASE WHEN {ok} THEN r.ts END AS t{k}
            FROM {base} a ASOF LEFT JOIN r{k} r ON a.unit = r.unit AND r.pos > {after}
            UNION ALL BY NAME {stopped})""")
    return ctes


def rows_ctes(
    plan: FunnelPlan,
    params: Params,
    *,
    table: str,
    with_event: bool = False,
    dialect: Dialect = DUCKDB,
) -> tuple[list[str], Bound]:
    """The CTEs every strategy starts from, ending in ``seq``: the funnel's rows per unit, with
    their step flags (s1..sN, x1..), breakdown value ``b`` and ``pos`` (and ``event`` if
    ``with_event``). ``pos`` orders a unit's rows; on DuckDB it is the HUGEINT [time | step |
    rowid] (``pos_clock`` and ``pos_time_us`` read it), elsewhere ``Dialect.row_position``."""
    c = bind(plan, params, table=table, dialect=dialect)
    n, preds, xpreds, src = c.n, c.preds, c.xpreds, c.src
    dfrom, dto, in_range, lower, upper = c.dfrom, c.dto, c.in_range, c.lower, c.upper

    bprop = prop_expr(plan.breakdown, params, dialect) if plan.breakdown else "NULL"
    bval = f"coalesce({bprop}, '')" if plan.breakdown else "''"
    step_cols = ", ".join(f"{p} AS s{i + 1}" for i, p in enumerate(preds))
    x_cols = "".join(f", {p} AS x{j + 1}" for j, p in enumerate(xpreds))
    relevant = " OR ".join([*preds, *xpreds])
    only_relevant = f"AND ({relevant})" if plan.order == "ordered" else ""
    named = [s.event for s in plan.steps] + [x.event for x in plan.exclusions]
    if plan.order == "ordered" and all(e is not None for e in named):
        # a plain IN list DuckDB can push into the scan (the coalesce()d predicates it cannot)
        names = ", ".join(params.add(e) for e in dict.fromkeys(named))
        only_relevant = f"AND event IN ({names}) {only_relevant}"

    # The unit a funnel counts: a user, or (user, value) when the breakdown splits events.
    if plan.attribution == "all_events" and plan.breakdown:
        unit = f"user_id || chr(31) || {bval}"
        unit_b = bval
        replicate = ""
    elif plan.attribution == "step" and plan.breakdown:
        k = plan.breakdown_step or 1  # validated: set for attribution="step"
        unit = "user_id || chr(31) || v.bv"
        unit_b = "v.bv"
        replicate = (
            f"JOIN (SELECT DISTINCT user_id AS vu, {bval} AS bv FROM {src} WHERE {preds[k - 1]} "
            f"{lower} {upper}) v ON v.vu = e.user_id"
        )
    else:
        unit = "user_id"
        unit_b = bval
        replicate = ""

    step_flags = []
    for i in range(n):
        flag = f"s{i + 1}"
        if plan.attribution == "step" and plan.breakdown and i + 1 == plan.breakdown_step:
            flag = f"(s{i + 1} AND b = unit_b)"
        step_flags.append(f"{flag} AS s{i + 1}")
    min_step = (
        "CASE " + " ".join(f"WHEN s{i + 1} THEN {i + 1}" for i in range(n)) + f" ELSE {n + 1} END"
    )

    xs = [f"x{j + 1}" for j in range(len(xpreds))]
    # the funnel order: time, the lowest step the row can fill (ties, F6), rowid; then every other
    # column, so that rows it ties are identical (an engine that numbers rows in this order, see
    # Dialect.row_position, numbers them alike in every evaluation)
    order = [
        "ts",
        min_step,
        "rid",
        "user_id",
        "b",
        "unit_b",
        *(["event"] if with_event else []),
        *(f"s{i + 1}" for i in range(n)),
        *xs,
    ]
    # DuckDB: one number, products not shifts (DuckDB multiplies HUGEINTs faster than it shifts)
    packed = f"""((epoch_us(ts)::HUGEINT + {TIME_OFFSET}) * {1 << STEP_BITS} + {min_step})
            * {1 << ROW_BITS} + rid"""
    pos = dialect.row_position(packed, "unit", order)

    # without a date range every user with a step-1 event enters; the others make no attempt anyway
    entrants_filter = "e.user_id IN (SELECT user_id FROM entrants)" if (dfrom or dto) else "true"
    ctes = [
        f"""entrants AS (SELECT DISTINCT user_id FROM {src} WHERE {preds[0]} AND {in_range})""",
        f"""raw AS (SELECT e.user_id, e.ts, {"e.event, " if with_event else ""}e.rowid AS rid, {bval} AS b, {unit} AS unit, {unit_b} AS unit_b,
                   {step_cols}{x_cols}
            FROM {src} e {replicate}
            WHERE {entrants_filter} {lower} {upper} {only_relevant})""",
        f"""seq0 AS (SELECT unit, user_id, ts, {"event, " if with_event else ""}rid, b, unit_b, {", ".join(step_flags)}{"".join(f", x{j + 1}" for j in range(len(xpreds)))}
            FROM raw)""",
        # pos: the funnel order (time, lowest step the event can fill, rowid) as one number
        f"""seq AS (SELECT *, {pos} AS pos FROM seq0)""",
    ]
    return ctes, c


def breakdown_expr(
    plan: FunnelPlan, depth_is: Callable[[int], str], pos: Callable[[int], str]
) -> str:
    """The unit's breakdown value (F10) over ``best b``: ``depth_is(d)`` says the chosen attempt
    reached step d, ``pos(d)`` is the position of its step-d row."""
    if plan.attribution == "last_touch" and plan.breakdown:
        # the value on the last step event of the chosen attempt (its exact row)
        last = " ".join(
            f"WHEN {depth_is(d)} THEN (SELECT s.b FROM seq s WHERE s.unit = b.unit AND s.pos = {pos(d)})"
            for d in range(1, len(plan.steps) + 1)
        )
        return f"CASE {last} END"
    if plan.attribution in ("all_events", "step") and plan.breakdown:
        return "b.unit_b"
    return "b.first_b"


def per_user_sql(
    plan: FunnelPlan,
    params: Params,
    *,
    table: str,
    strategy: str = "asof",
    dialect: Dialect = DUCKDB,
) -> str:
    """SQL with one row per funnel unit: unit, user_id, breakdown, depth, in_progress, entered,
    t1..tN.

    ``strategy``: "asof" (ASOF joins, DuckDB) or "window" (portable SQL, built for ``dialect``);
    ``funnel_lists.lists_sql`` is the third form of the same definition."""
    ctes, c = rows_ctes(plan, params, table=table, dialect=dialect)
    n, w_us, in_range = c.n, c.w_us, c.in_range
    us = dialect.epoch_us
    strict = plan.order == "strict"
    if strategy == "window":
        ctes += _window_chain(n, strict, in_range, w_us, dialect)
    else:
        ctes += _asof_chain(n, strict, in_range, w_us)
    prev = f"a{n}"

    depth = " + ".join(["1"] + [f"(p{k} IS NOT NULL)::INTEGER" for k in range(2, n + 1)])
    taint = "false"
    if plan.exclusions:
        conds = []
        for j, x in enumerate(plan.exclusions):
            lo = f"a.t{x.from_step + 1}"
            hi = f"a.t{x.to_step + 1}"
            conds.append(
                f"EXISTS (SELECT 1 FROM seq z WHERE z.unit = a.unit AND z.x{j + 1} AND z.ts > {lo} AND "
                f"(z.ts < {hi} OR ({hi} IS NULL AND {us('z.ts')} - {us('a.t1')} <= {w_us})))"
            )
        taint = " OR ".join(conds)
    times = ", ".join(f"a.t{k}, a.p{k}" for k in range(1, n + 1))
    ctes.append(f"""att AS (SELECT a.unit, a.user_id, a.unit_b, a.b1, {times}, ({depth}) AS depth,
            ({taint}) AS tainted, {us("a.t1")} + {w_us} > {c.end_us} AS open
        FROM {prev} a)""")
    struct = dialect.struct(**{f"{x}{k}": f"{x}{k}" for k in range(1, n + 1) for x in "tp"})
    key = dialect.ranked_key(f"({n} - depth) * 2 + tainted::INTEGER", "p1", KEY_SHIFT)
    # One pass per unit: the furthest depth, and the times of the first clean attempt that reached
    # it (the smallest key: deepest first, clean before tainted, then the earliest start). The key is
    # one HUGEINT, (N - depth, tainted) above pos (pos < 2^KEY_SHIFT), far cheaper than a struct key.
    ctes.append(f"""best AS (SELECT unit, any_value(user_id) AS user_id, any_value(unit_b) AS unit_b,
            max(depth) AS d_all, max(depth) FILTER (WHERE NOT tainted) AS d_clean, bool_or(open) AS open,
            {dialect.arg_min("b1", "p1")} AS first_b, min(t1) AS entered,
            {dialect.arg_min(struct, key)} AS t
        FROM att GROUP BY unit)""")
    join = ""
    if plan.attribution == "last_touch" and plan.breakdown and not dialect.correlated_alias:
        # the value on the chosen attempt's last step row, joined by (unit, pos)
        last = " ".join(f"WHEN b.d_all = {d} THEN b.t.p{d}" for d in range(1, n + 1))
        join = f" LEFT JOIN seq l ON l.unit = b.unit AND l.pos = CASE {last} END"
        bexpr = "l.b"
    else:
        bexpr = breakdown_expr(plan, lambda d: f"b.d_all = {d}", lambda d: f"b.t.p{d}")
    cols = ", ".join(f"b.t.t{k} AS t{k}" for k in range(1, n + 1))
    final = f"""SELECT b.unit, b.user_id, {bexpr} AS breakdown, b.d_all AS depth,
            (b.open AND b.d_all < {n}) AS in_progress, b.entered, {cols}
        FROM best b{join} WHERE b.d_clean IS NOT NULL AND b.d_clean = b.d_all"""
    return "WITH " + ",\n".join(ctes) + "\n" + final

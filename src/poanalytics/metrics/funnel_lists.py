"""The ordered funnel's attempt chain from per-unit lists of positions: no sort, no join per step.

``funnel_sql`` numbers the funnel events of each unit by ``pos`` (time, lowest step, rowid: one
HUGEINT whose bits from ``TIME_SHIFT`` up hold the event's time). Here one GROUP BY collects, per
unit, the positions of the rows that can fill each step (``l1`` holds the in-range step-1 rows: the
attempts, F4) and of each exclusion's rows. For every attempt, step k is the first position in
``l_k`` after step k-1's that lies inside the window from step 1 (F5): ``list_min(list_filter(...))``.
The first step-k row after step k-1 being out of the window means every later one is too, so the
window goes into the filter. Each step moves strictly forward, so one row fills one step (F3).

Each attempt becomes ``[key, p1, ..., pN]`` with ``key = ((N - depth) * 2 + tainted) << KEY_SHIFT | p1``,
and the unit's result is the smallest: the deepest attempt, clean before tainted, earliest first
(F1, F9, F11), which is what ``funnel_sql``'s chains pick with ``arg_min`` over their attempts.

A unit with one attempt (every unit, when step 1 is a one-off like a sign-up) takes the chain as
one projection per step, on scalars; a unit with several takes one ``list_transform`` per step.
The work per unit is ``len(l1)`` attempts times the positions they filter. A unit over
``work_limit`` (a user with thousands of step-1 events) is unnested from its lists and takes the
ASOF chain instead, n log n, so a frequent first step never turns the funnel quadratic. Both
halves read the same grouped lists: the events are scanned once.
"""

from __future__ import annotations

from collections.abc import Callable

from ..sql import Params
from .funnel_sql import (
    KEY_SHIFT,
    TIME_SHIFT,
    FunnelPlan,
    breakdown_expr,
    first_pos_at,
    pos_clock,
    pos_time_us,
    rows_ctes,
)

WORK_LIMIT = 4096  # positions filtered per unit before it takes the ASOF chain
# ranks_sql shifts each position by n + 1 bits (the step bits and a tie bit): with pos below
# 2^KEY_SHIFT, n + 1 + KEY_SHIFT must stay below the 127 bits of a signed HUGEINT, with one spare
RANKS_MAX_STEPS = 126 - KEY_SHIFT - 2


def _us(x: str) -> str:
    """Epoch microseconds of a position (for output); ``_clock`` for differences and bounds."""
    return pos_time_us(x)


def _clock(x: str) -> str:
    return pos_clock(x)


def _key(n: int, depth: str, tainted: str, p1: str) -> str:
    return f"((({n} - ({depth})) * 2 + ({tainted})::INTEGER)::HUGEINT << {KEY_SHIFT}) + {p1}"


def unit_columns(plan: FunnelPlan, entry: str) -> list[str]:
    """The per-unit aggregates beside the lists (GROUP BY unit over ``seq``): user_id, unit_b and
    first_b, the first-touch breakdown value (F10) of the first ``entry`` row. Only what is needed
    is aggregated: every other aggregate costs about as much as a list."""
    if plan.attribution in ("all_events", "step") and plan.breakdown:
        cols = ["any_value(user_id) AS user_id", "any_value(unit_b) AS unit_b"]
    else:
        cols = ["unit AS user_id", "'' AS unit_b"]  # the unit is the user
    first_b = f"arg_min(b, pos) FILTER (WHERE {entry})" if plan.breakdown else "''"
    return [*cols, f"{first_b} AS first_b"]


def lists_sql(plan: FunnelPlan, params: Params, *, table: str, work_limit: int = WORK_LIMIT) -> str:
    """``funnel_sql.per_user_sql``'s rows (ordered mode), from the same ``seq`` rows."""
    ctes, c = rows_ctes(plan, params, table=table)
    n, w_us, in_range = c.n, c.w_us, c.in_range
    nx = len(plan.exclusions)
    limit = params.add(int(work_limit))
    entry = f"s1 AND {in_range}"
    lists = [f"list(pos) FILTER (WHERE {entry}) AS l1"]
    lists += [f"list(pos) FILTER (WHERE s{k}) AS l{k}" for k in range(2, n + 1)]
    lists += [f"list(pos) FILTER (WHERE x{j}) AS lx{j}" for j in range(1, nx + 1)]
    lists_names = [f"l{k}" for k in range(1, n + 1)] + [f"lx{j}" for j in range(1, nx + 1)]
    others = " + ".join(
        [f"coalesce(len(l{k}), 0)" for k in range(2, n + 1)]
        + [f"coalesce(len(lx{j}), 0)" for j in range(1, nx + 1)]
    )
    per_unit = unit_columns(plan, entry)
    ctes.append(f"""lists AS (SELECT unit, {", ".join(per_unit)}, {", ".join(lists)}
        FROM seq GROUP BY unit)""")
    work = f"len(l1)::BIGINT * ({others})"
    ctes.append(f"""sized AS (SELECT unit, user_id, unit_b, first_b,
            make_timestamptz({_us("list_min(l1)")}::BIGINT) AS entered,
            {_us("list_max(l1)")} + {w_us} > {c.end_us} AS open,
            {", ".join(lists_names)}, {work} > {limit} AS heavy
        FROM lists WHERE l1 IS NOT NULL)""")

    # units with one attempt (most of them when step 1 is a one-off like sign-up): a scalar chain
    hi = first_pos_at(f"{_clock('p1')} + {w_us} + 1")  # the first position past the window
    ctes.append(f"""o1 AS (SELECT * EXCLUDE (heavy, l1), l1[1] AS p1, {hi} AS hi
        FROM sized WHERE NOT heavy AND len(l1) = 1)""")
    for k in range(2, n + 1):
        nxt = f"list_min(list_filter(l{k}, lambda x: x > p{k - 1} AND x < hi))"
        ctes.append(f"o{k} AS (SELECT *, {nxt} AS p{k} FROM o{k - 1})")
    odepth = " + ".join(["1"] + [f"(p{k} IS NOT NULL)::INTEGER" for k in range(2, n + 1)])
    otaint = _taint(plan, w_us, lambda k: f"p{k}") or "false"
    ps = ", ".join(f"p{k}" for k in range(1, n + 1))
    ctes.append(f"""one AS (SELECT unit, user_id, unit_b, first_b, entered, open,
            [{_key(n, odepth, otaint, "p1")}, {ps}] AS best FROM o{n})""")

    # units with several attempts: each attempt as a list [p1, ..., pN], one list_transform per step
    chain = "list_transform(l1, lambda p: [p])"
    for k in range(2, n + 1):
        hi = first_pos_at(f"{_clock('a[1]')} + {w_us} + 1")
        nxt = f"list_min(list_filter(l{k}, lambda x: x > a[{k - 1}] AND x < {hi}))"
        chain = f"list_transform({chain}, lambda a: list_append(a, {nxt}))"
    depth = " + ".join(["1"] + [f"(a[{k}] IS NOT NULL)::INTEGER" for k in range(2, n + 1)])
    taint = _taint(plan, w_us, lambda k: f"a[{k}]") or "false"
    keyed = f"list_transform({chain}, lambda a: list_prepend({_key(n, depth, taint, 'a[1]')}, a))"
    ctes.append(f"""light AS (SELECT unit, user_id, unit_b, first_b, entered, open, list_min({keyed}) AS best
        FROM sized WHERE NOT heavy AND len(l1) > 1)""")

    # heavy units: the same chain as ASOF joins over the unnested lists
    ctes.append("heavy AS (SELECT * FROM sized WHERE heavy)")
    ctes.append("h1 AS (SELECT unit, unnest(l1) AS p1 FROM heavy)")
    for k in range(2, n + 1):
        ctes.append(f"hr{k} AS (SELECT unit, unnest(l{k}) AS pos FROM heavy)")
        ok = f"{_clock('r.pos')} - {_clock('a.p1')} <= {w_us}"
        ctes.append(f"""h{k} AS (SELECT a.*, CASE WHEN {ok} THEN r.pos END AS p{k}
            FROM (SELECT * FROM h{k - 1} WHERE p{k - 1} IS NOT NULL) a
            ASOF LEFT JOIN hr{k} r ON a.unit = r.unit AND r.pos > a.p{k - 1}
            UNION ALL BY NAME SELECT *, NULL::HUGEINT AS p{k} FROM h{k - 1} WHERE p{k - 1} IS NULL)""")
    # exclusions: the first exclusion row after the attempt's `from` step (ASOF), then the test
    prev = f"h{n}"
    for j, x in enumerate(plan.exclusions, start=1):
        after = first_pos_at(f"{_clock(f'a.p{x.from_step + 1}')} + 1")
        ctes.append(f"hx{j} AS (SELECT unit, unnest(lx{j}) AS pos FROM heavy)")
        ctes.append(f"""hz{j} AS (SELECT a.*, z.pos AS z{j} FROM {prev} a
            ASOF LEFT JOIN hx{j} z ON a.unit = z.unit AND z.pos >= {after})""")
        prev = f"hz{j}"
    hdepth = " + ".join(["1"] + [f"(h.p{k} IS NOT NULL)::INTEGER" for k in range(2, n + 1)])
    htaint = (
        " OR ".join(
            _inside(f"h.z{j}", f"h.p{x.from_step + 1}", f"h.p{x.to_step + 1}", "h.p1", w_us)
            for j, x in enumerate(plan.exclusions, start=1)
        )
        or "false"
    )
    plist = ", ".join(f"h.p{k}" for k in range(1, n + 1))
    ctes.append(f"""hkeyed AS (SELECT h.unit, {_key(n, hdepth, htaint, "h.p1")} AS key, [{plist}] AS ps
        FROM {prev} h)""")
    ctes.append("""hbest AS (SELECT k.unit, any_value(s.user_id) AS user_id, any_value(s.unit_b) AS unit_b,
            any_value(s.first_b) AS first_b, any_value(s.entered) AS entered, any_value(s.open) AS open,
            list_prepend(min(k.key), arg_min(k.ps, k.key)) AS best
        FROM hkeyed k JOIN heavy s ON s.unit = k.unit GROUP BY k.unit)""")
    ctes.append(f"""best AS (SELECT *, (best[1] >> {KEY_SHIFT + 1})::INTEGER AS gap,
            ((best[1] >> {KEY_SHIFT}) & 1) = 1 AS tainted
        FROM (SELECT * FROM one UNION ALL SELECT * FROM light UNION ALL SELECT * FROM hbest))""")

    bexpr = breakdown_expr(plan, lambda d: f"b.gap = {n - d}", lambda d: f"b.best[{d + 1}]")
    cols = ", ".join(
        f"make_timestamptz({_us(f'b.best[{k + 1}]')}::BIGINT) AS t{k}" for k in range(1, n + 1)
    )
    final = f"""SELECT b.unit, b.user_id, {bexpr} AS breakdown, {n} - b.gap AS depth,
            (b.open AND b.gap > 0) AS in_progress, b.entered, {cols}
        FROM best b WHERE NOT b.tainted"""
    return "WITH " + ",\n".join(ctes) + "\n" + final


def _inside(z: str, p_from: str, p_to: str, p1: str, w_us: str) -> str:
    """Exclusion row ``z`` taints an attempt (F9): strictly after its ``from`` step and strictly
    before its ``to`` step, or, with ``to`` not reached, inside the window. NULL counts as no."""
    t, lo, hi = _clock(z), _clock(p_from), _clock(p_to)
    return f"coalesce({t} > {lo} AND ({t} < {hi} OR ({hi} IS NULL AND {t} - {_clock(p1)} <= {w_us})), false)"


def _taint(plan: FunnelPlan, w_us: str, p: Callable[[int], str]) -> str:
    """Whether an attempt (``p(k)``: its step-k position) is tainted by an exclusion row of its unit."""
    conds = []
    for j, x in enumerate(plan.exclusions, start=1):
        inside = _inside("z", p(x.from_step + 1), p(x.to_step + 1), p(1), w_us)
        conds.append(f"len(list_filter(coalesce(lx{j}, []), lambda z: {inside})) > 0")
    return " OR ".join(conds)


def ranks_sql(plan: FunnelPlan, params: Params, *, table: str) -> str:
    """``lists_sql``'s rows (ordered mode, no exclusions) by sorting, with no work per pair of rows.

    After the lists are sorted, the next step-(k+1) row after each step-k row is found for all of
    them at once: in the step-(k+1) and step-k positions together, a step-k row's rank minus its
    own index is the number of step-(k+1) rows before it, so the next one is at that count + 1
    (``list_grade_up`` twice gives the ranks). A row that fills both steps counts as before itself
    (its step-(k+1) copy sorts first), so the chain moves strictly forward: one row fills one step
    (F3). Every step-1 row in range is an attempt (F4); its chain is these next-row indices
    followed step by step (``list_select``), cut at the window from step 1 (F5), and the unit's
    result is the smallest key as in ``lists_sql`` (F1, F11). The work is a few sorts of each
    unit's lists, so a frequent first step costs n log n, never one chain per step-1 row.
    """
    ctes, c = rows_ctes(plan, params, table=table)
    n, w_us, in_range = c.n, c.w_us, c.in_range
    entry = f"s1 AND {in_range}"
    # One list per unit, sorted once: each row as pos << (n + 1), its step bits above bit 0 (bit
    # 1: an entry, bit k: it can fill step k), bit 0 free for the tie order below. The steps'
    # lists are filtered from it, so they come sorted.
    sh = n + 1
    bits = " + ".join(
        [f"({entry})::INTEGER * 2"] + [f"s{k}::INTEGER * {1 << k}" for k in range(2, n + 1)]
    )
    per_unit = unit_columns(plan, entry)
    ctes.append(f"""lists AS (SELECT unit, {", ".join(per_unit)},
            list(pos * {1 << sh} + ({bits})) AS l, count(*) FILTER (WHERE {entry}) AS enters
        FROM seq GROUP BY unit)""")
    split = ", ".join(
        f"list_filter(l, lambda x: (x & {1 << k}) <> 0) AS s{k}" for k in range(1, n + 1)
    )
    ctes.append(f"""sorted AS (SELECT unit, user_id, unit_b, first_b, {split}
        FROM (SELECT * REPLACE (list_sort(l) AS l) FROM lists WHERE enters > 1))""")
    # a unit with one attempt (most, when step 1 is a one-off like a sign-up) needs no sort: its
    # chain is the first row of each step after the previous one, inside the window
    hi1 = f"(((p1 >> {sh + TIME_SHIFT}) + {w_us} + 1) << {sh + TIME_SHIFT})"
    ctes.append("""o1 AS (SELECT unit, user_id, unit_b, first_b, l,
            list_filter(l, lambda x: (x & 2) <> 0)[1] AS p1 FROM lists WHERE enters = 1)""")
    ctes.append(f"o1h AS (SELECT *, {hi1} AS hi FROM o1)")
    prev = "o1h"
    for k in range(2, n + 1):
        nxt = f"list_min(list_filter(l, lambda x: (x & {1 << k}) <> 0 AND x > p{k - 1} AND x < hi))"
        ctes.append(f"o{k} AS (SELECT *, {nxt} AS p{k} FROM {prev})")
        prev = f"o{k}"
    odepth = " + ".join(["1"] + [f"(p{k} IS NOT NULL)::INTEGER" for k in range(2, n + 1)])
    opick = ", ".join(f"p{k} >> {sh}" for k in range(1, n + 1))
    ctes.append(f"""one AS (SELECT unit, user_id, unit_b, first_b,
            make_timestamptz({_us(f"(p1 >> {sh})")}::BIGINT) AS entered,
            {_us(f"(p1 >> {sh})")} + {w_us} > {c.end_us} AS open,
            [NULL, {opick}] AS best, {n} - ({odepth}) AS gap
        FROM {prev})""")
    # nx{k}: for each step-k row (index i in s{k}), the index in s{k+1} of the next step-(k+1)
    # row after it; len(s{k+1}) + 1 (past the end) when there is none, also for the index past
    # the end of s{k}, so the indices can be followed without NULLs
    nexts = []
    for k in range(1, n):
        m = f"len(s{k + 1})"
        both = f"list_concat(s{k + 1}, list_transform(s{k}, lambda x: x + 1))"
        # walking the merged order (rank r), a step-k row with index i has r - i step-(k+1) rows
        # before it; kept in the order of the step-k rows (their merged order is their sorted one)
        at = f"list_transform(list_grade_up({both}), lambda x, r: CASE WHEN x > {m} THEN r - (x - {m}) + 1 END)"
        nexts.append(f"list_append(list_filter({at}, lambda y: y IS NOT NULL), {m} + 1) AS nx{k}")
    ctes.append(f"""nexts AS (SELECT *, {", ".join(nexts)} FROM sorted)""")
    # the attempts' indices j{k} into s{k}, and their positions a{k}
    follow = ["nx1 AS j2"]
    for k in range(2, n):
        follow.append(f"list_select(nx{k}, j{k}) AS j{k + 1}")
    ctes.append(f"""chained AS (SELECT *, {", ".join(follow)} FROM nexts)""")
    ps = [f"list_select(s{k}, j{k}) AS a{k}" for k in range(2, n + 1)]
    ctes.append(f"""attempts AS (SELECT unit, user_id, unit_b, first_b, s1, {", ".join(ps)}
        FROM chained)""")
    # depth: the steps inside the window from step 1 (steps move forward in time, so a prefix);
    # the attempts are in time order, so the first of the deepest is list_position's
    hi = f"(((x >> {sh + TIME_SHIFT}) + {w_us} + 1) << {sh + TIME_SHIFT})"
    zipped = f"list_zip(list_transform(s1, lambda x: {hi}), {', '.join(f'a{k}' for k in range(2, n + 1))})"
    depth = " + ".join(
        ["1"] + [f"coalesce(z[{k}] < z[1], false)::INTEGER" for k in range(2, n + 1)]
    )
    ctes.append(f"""deep AS (SELECT unit, user_id, unit_b, first_b, s1, {", ".join(f"a{k}" for k in range(2, n + 1))},
            list_transform({zipped}, lambda z: {depth}) AS depths FROM attempts)""")
    ctes.append("""picked AS (SELECT *, list_max(depths) AS d, list_position(depths, list_max(depths)) AS i
        FROM deep)""")
    pick = [f"s1[i] >> {sh}"] + [
        f"CASE WHEN {k} <= d THEN a{k}[i] >> {sh} END" for k in range(2, n + 1)
    ]
    ctes.append(f"""best AS (SELECT unit, user_id, unit_b, first_b,
            make_timestamptz({_us(f"(s1[1] >> {sh})")}::BIGINT) AS entered,
            {_us(f"(s1[-1] >> {sh})")} + {w_us} > {c.end_us} AS open,
            [NULL, {", ".join(pick)}] AS best, {n} - d AS gap
        FROM picked UNION ALL SELECT * FROM one)""")
    bexpr = breakdown_expr(plan, lambda d: f"b.gap = {n - d}", lambda d: f"b.best[{d + 1}]")
    cols = ", ".join(
        f"make_timestamptz({_us(f'b.best[{k + 1}]')}::BIGINT) AS t{k}" for k in range(1, n + 1)
    )
    final = f"""SELECT b.unit, b.user_id, {bexpr} AS breakdown, {n} - b.gap AS depth,
            (b.open AND b.gap > 0) AS in_progress, b.entered, {cols}
        FROM best b"""
    return "WITH " + ",\n".join(ctes) + "\n" + final

"""Ordered and strict funnels on an engine that numbers rows (Spark): one pass per unit, the
attempts followed through each unit's rows as one list.

The same definition as ``funnel_sql.per_user_sql`` (F1-F12, F17), from the same ``seq`` rows
(``funnel_sql.rows_ctes``), where ``pos`` numbers a unit's rows 1..m in funnel order
(``Dialect.row_position`` on an engine without 128-bit integers):

1. ``nxt``: for each row, the position of the next row that can fill step k (k >= 2) and, in
   strict mode, of the next row that is neither step k-1 nor step k (a "breaker"): one window,
   partitioned by unit.
2. ``units``: each unit's rows as one list ordered by ``pos``, so the row at position p is the
   list's p-th element (an aggregate by unit over rows already partitioned by unit).
3. ``att``: every step-1 row in range starts an attempt (F4); a fold over steps 2..N follows the
   pointers, each step taken if it lies within the window from step 1 (F5) and, in strict mode,
   if no breaker comes first (F7). Each attempt's depth, step times, taint by an exclusion event
   between its steps (F9, looked for only among the rows between them) and open window (F12).
4. ``best``: the furthest depth, and the attempt behind the result: the smallest (N - depth,
   tainted, start position), i.e. deepest first, clean before tainted, then the earliest (F11).

The plan's size does not grow with the number of steps beyond their expressions: the window
chain's one join per step (``funnel_sql._window_chain``) gives Spark's analyzer a plan that grows
much faster than the steps (30 steps ran out of a 1 GB driver's memory while being planned).
"""

from __future__ import annotations

from ..sql import Params
from .engine import Dialect
from .funnel_sql import FunnelPlan, next_rows_cte, rows_ctes

ROWS = "u.r"  # the unit's rows, in position order, inside the lambdas below


def chase_sql(plan: FunnelPlan, params: Params, *, table: str, dialect: Dialect) -> str:
    """SQL with one row per funnel unit (``per_user_sql``'s columns) for an ordered or strict
    funnel, built for ``dialect``, whose ``row_position`` must number each unit's rows 1..m."""
    d = dialect
    ctes, c = rows_ctes(plan, params, table=table, dialect=d)
    n, w_us = c.n, c.w_us
    strict = plan.order == "strict"
    nx = len(plan.exclusions)

    ctes.append(next_rows_cte(n, strict, breaker="k"))

    fields = {
        "pos": "pos",
        "us": d.epoch_us("ts"),
        "ts": "ts",
        "b": "b",
        "a": f"(s1 AND {c.in_range})",  # starts an attempt
        "nx": d.list_value(*(f"n{k}" for k in range(2, n + 1))),
    }
    if strict:
        fields["bk"] = d.list_value(*(f"k{k}" for k in range(2, n + 1)))
    fields.update({f"x{j}": f"x{j}" for j in range(1, nx + 1)})
    ctes.append(f"""units AS (SELECT unit, any_value(user_id) AS user_id, any_value(unit_b) AS unit_b,
            {d.list_agg(d.struct(**fields), "pos")} AS r, {c.end_us} AS end_us
        FROM nxt GROUP BY unit)""")

    def row(p: str) -> str:
        return d.list_item(ROWS, p)

    # the fold: acc.c is the position step j would take (the previous step's pointer), acc.k the
    # next breaker after the previous step (strict), acc.p the positions so far
    ok = f"(acc.c IS NOT NULL AND {row('acc.c')}.us - e.us <= {w_us}"
    ok += " AND (acc.k IS NULL OR acc.k > acc.c))" if strict else ")"
    init = {
        "c": f"CAST({d.list_item('e.nx', '1')} AS BIGINT)",
        "p": d.list_value("CAST(e.pos AS BIGINT)"),
    }
    step = {
        # n_{j+1} is the j-th pointer (nx holds n2..nN); past N it is out of range: NULL
        "c": f"CAST(CASE WHEN {ok} THEN {d.list_item(row('acc.c') + '.nx', 'j')} END AS BIGINT)",
        "p": d.list_concat("acc.p", d.list_value(f"CAST(CASE WHEN {ok} THEN acc.c END AS BIGINT)")),
    }
    if strict:
        init["k"] = f"CAST({d.list_item('e.bk', '1')} AS BIGINT)"
        step["k"] = (
            f"CAST(CASE WHEN {ok} THEN {d.list_item(row('acc.c') + '.bk', 'j')} END AS BIGINT)"
        )
    steps = d.list_value(*(str(k) for k in range(2, n + 1)))
    fold = d.list_fold(steps, d.struct(**init), "acc", "j", d.struct(**step))
    chains = d.list_transform(d.list_filter(ROWS, "e", "e.a"), "e", d.struct(e="e", p=f"{fold}.p"))
    ctes.append(f"chains AS (SELECT u.*, {chains} AS xs FROM units u)")

    def pos(k: int) -> str:
        return "a.e.pos" if k == 1 else d.list_item("a.p", str(k))

    def time(k: int) -> str:
        return "a.e.ts" if k == 1 else f"{row(pos(k))}.ts"

    taints = []
    for j, x in enumerate(plan.exclusions, start=1):
        lo, hi = x.from_step + 1, x.to_step + 1
        # the rows after step lo's and before step hi's (or to the end): positions follow time
        length = f"CASE WHEN {pos(hi)} IS NOT NULL THEN {pos(hi)} - {pos(lo)} - 1 ELSE {d.list_len(ROWS)} - {pos(lo)} END"
        span = d.list_slice(ROWS, f"{pos(lo)} + 1", length)
        cond = (
            f"z.x{j} AND z.ts > {time(lo)} AND (z.ts < {time(hi)} OR "
            f"({time(hi)} IS NULL AND z.us - a.e.us <= {w_us}))"
        )
        taints.append(d.list_any(span, "z", cond))
    attempt = {
        "p1": "a.e.pos",
        "b1": "a.e.b",
        "depth": d.list_len(d.list_filter("a.p", "q", "q IS NOT NULL")),
        "tainted": " OR ".join(taints) if taints else "false",
        "open": f"a.e.us + {w_us} > u.end_us",
    }
    attempt.update({f"t{k}": time(k) for k in range(1, n + 1)})
    attempt.update({f"p{k}": pos(k) for k in range(2, n + 1)})
    ctes.append(f"""att AS (SELECT u.unit, u.user_id, u.unit_b, u.r,
            {d.list_transform("u.xs", "a", d.struct(**attempt))} AS ys
        FROM chains u WHERE {d.list_len("u.xs")} > 0)""")

    key = {"r": f"({n} - a.depth) * 2 + CAST(a.tainted AS INTEGER)", "k": "a.p1"}
    key.update({f"{f}{k}": f"a.{f}{k}" for k in range(1, n + 1) for f in "tp"})
    first = d.list_item("ys", "1")  # the attempts are in position order: the first entered first
    ctes.append(f"""best AS (SELECT unit, user_id, unit_b, r,
            {d.list_max(d.list_transform("ys", "a", "a.depth"))} AS d_all,
            {d.list_max(d.list_transform(d.list_filter("ys", "a", "NOT a.tainted"), "a", "a.depth"))} AS d_clean,
            {d.list_any("ys", "a", "a.open")} AS open, {first}.b1 AS first_b, {first}.t1 AS entered,
            {d.list_min(d.list_transform("ys", "a", d.struct(**key)))} AS t
        FROM att)""")

    if plan.attribution == "last_touch" and plan.breakdown:
        # the value on the chosen attempt's last step row
        last = d.list_item(d.list_value(*(f"b.t.p{k}" for k in range(1, n + 1))), "b.d_all")
        bexpr = f"{d.list_item('b.r', last)}.b"
    elif plan.attribution in ("all_events", "step") and plan.breakdown:
        bexpr = "b.unit_b"
    else:
        bexpr = "b.first_b"
    cols = ", ".join(f"b.t.t{k} AS t{k}" for k in range(1, n + 1))
    final = f"""SELECT b.unit, b.user_id, {bexpr} AS breakdown, b.d_all AS depth,
            (b.open AND b.d_all < {n}) AS in_progress, b.entered, {cols}
        FROM best b WHERE b.d_clean IS NOT NULL AND b.d_clean = b.d_all"""
    return "WITH " + ",\n".join(ctes) + "\n" + final

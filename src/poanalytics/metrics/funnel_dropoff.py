"""What droppers did instead: the events and paths that followed the last funnel step they reached.

The droppers of step k are exactly ``f.dropped(k)``: furthest step k-1, window closed. Each one's path
starts at the step-(k-1) event of the attempt that reached their furthest step (``t{k-1}`` in the
funnel's per-user table) and runs over the next events until their funnel window closes (``t1`` +
window), or for ``horizon`` after the step event. The path itself is the one definition in
``paths_sql`` (ties, repeats, markers), so drop-off paths and ``wb.paths`` always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from .engine import runner_for
from .paths import MAX_STEPS, check_count, check_window, compute_paths
from .paths_sql import PathPlan, Stream
from .predicates import step_predicate
from .result import MetricResult
from .spec import MetricError
from .validate import check_flag

if TYPE_CHECKING:
    from .funnel import FunnelResult

NO_FURTHER = "(no further events)"
OTHER = "(other events)"


@dataclass(kw_only=True, frozen=True)
class DropoffQuery:
    step: int
    steps: int = 4
    horizon: Any = None
    breakdown_value: str | None = None
    top: int = 10
    max_edges: int = 50
    min_users: int = 1
    collapse_repeats: bool = True


@dataclass
class DropoffResult(MetricResult):
    """``table``: next_event, users, share of droppers (adds up to 1, "(no further events)"
    included); ``edges`` and ``sequences`` as in a PathsResult; ``droppers``: how many."""

    edges: pd.DataFrame = field(default_factory=pd.DataFrame)
    sequences: pd.DataFrame = field(default_factory=pd.DataFrame)
    droppers: int = 0
    title: str = "After the drop-off"

    def figure(self):
        """A Sankey from the last step reached to what came next."""
        from ..charts.paths import paths_figure

        return paths_figure(self.edges, self.title)


def dropoff_paths(result: FunnelResult, q: DropoffQuery) -> DropoffResult:
    """Top next events and paths of the users who reached step ``q.step - 1`` but not ``q.step``."""
    plan = result.plan
    n = len(plan.steps)
    if plan.order == "unordered":
        raise MetricError(
            "unordered funnels have no step order, so no event to start a drop-off path from",
            code="funnel.unordered_dropoff",
            hint="use an ordered or strict funnel",
        )
    if isinstance(q.step, bool) or not isinstance(q.step, int) or not 2 <= q.step <= n:
        raise MetricError(
            f"step {q.step!r} is outside 2..{n}",
            code="funnel.step",
            hint=f"pick the step users failed to reach, from 2 to {n}",
        )
    steps = check_count(q.steps, "steps", code="paths.steps", low=2, high=MAX_STEPS)
    for name in ("top", "max_edges", "min_users"):
        check_count(getattr(q, name), name, f"paths.{name}")
    horizon = check_window(q.horizon, "horizon", code="funnel.horizon")
    check_flag(q.collapse_repeats, "collapse_repeats", code="paths.collapse_repeats")
    if q.breakdown_value is not None and not isinstance(q.breakdown_value, str):
        raise MetricError(
            f"breakdown_value must be a breakdown value (text) or None, got {q.breakdown_value!r}",
            code="funnel.breakdown_value",
            hint="pick one from result.table.breakdown",
        )
    k = q.step - 1
    run = runner_for(result.con, result.events)  # DuckDB's connection, or Spark's runner
    d = run.dialect
    params = result.new_params()  # the funnel's per-unit query is re-run inside the paths query
    only = (
        f" AND breakdown = {params.add(q.breakdown_value)}" if q.breakdown_value is not None else ""
    )
    # one row per dropper (a user can be several units with all_events/step breakdowns: earliest)
    droppers = f"""droppers AS (SELECT user_id, min(t{k}) AS ats, min_by(t1, t{k}) AS t1
        FROM {result.per_user_table} WHERE depth = {params.add(k)} AND NOT in_progress{only}
        GROUP BY user_id)"""
    if horizon is not None:
        until = f"{d.epoch_us('e.ts')} <= {d.epoch_us('m.ats')} + {params.add(horizon * 1_000_000)}"
    else:
        until = (
            f"{d.epoch_us('e.ts')} <= {d.epoch_us('m.t1')} + {params.add(plan.window * 1_000_000)}"
        )
    last = plan.steps[k - 1]
    stream = Stream(
        source=f"{d.table(result.events)} e JOIN droppers m ON m.user_id = e.user_id",
        where=f"e.ts >= m.ats AND {until}",
        anchor=f"e.ts = m.ats AND {step_predicate(last, params, d)}",
        in_range="true",
        anchor_label=params.add(last.name),
        ctes=(droppers,),
    )
    path_plan = PathPlan("from", steps, None, bool(q.collapse_repeats), first_only=True)
    t = compute_paths(
        result.con,
        path_plan,
        stream,
        params,
        top=q.top,
        max_edges=q.max_edges,
        min_users=q.min_users,
        end_label=NO_FURTHER,
        extra_sql="SELECT label AS next_event, marker, count(DISTINCT user_id) AS users "
        "FROM {nodes} WHERE i = 2 GROUP BY label, marker",
    )
    table = _next_events(t.extra if t.extra is not None else pd.DataFrame(), t.users, q.top)
    title = (
        f"After {last.name}: what the {t.users:,} users who did not reach "
        f"{plan.steps[q.step - 1].name} did next"
    )
    return DropoffResult(q, table, t.sql, t.params, t.edges, t.sequences, t.users, title)


def _next_events(counts: pd.DataFrame, droppers: int, top: int) -> pd.DataFrame:
    """The ``top`` next events, the rest as "(other events)", and "(no further events)": sums to 100%."""
    columns = ["next_event", "users", "share"]
    if counts.empty or droppers == 0:
        return pd.DataFrame(columns=columns).astype({"users": "int64", "share": "float64"})
    counts = counts.sort_values(["users", "next_event"], ascending=[False, True])
    events = counts[~counts.marker.astype(bool)]
    shown = pd.concat([events.head(top), counts[counts.marker.astype(bool)]])
    shown = shown.sort_values(["users", "next_event"], ascending=[False, True])
    rest = int(events.users.iloc[top:].sum())
    frame = shown[["next_event", "users"]]
    if rest:
        frame = pd.concat([frame, pd.DataFrame({"next_event": [OTHER], "users": [rest]})])
    frame = frame.reset_index(drop=True).astype({"users": "int64"})
    frame["share"] = frame.users / droppers
    return frame

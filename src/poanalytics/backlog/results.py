"""What the backlog's public calls take and return: query dataclasses validated on creation, and
results (``metrics.result.MetricResult``: ``.table``, ``.sql``, ``.params``, ``.figure()``).

The backlog's numbers come from many queries (one per evidence link, one per objective), so a
result's ``sql`` is every query behind its table, each after a comment line naming the piece
(``-- BL-103 dropoff step:profile_completed``), and ``params`` maps the same names to their
parameters. Tables computed from the ledger (scores, order) carry the ledger's queries.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import did_you_mean
from ..metrics.result import MetricResult
from .errors import BacklogError
from .order import check_capacity, check_framework


def check_item_id(item_id: Any, known: list[str]) -> str:
    """``backlog.unknown_item`` (with "did you mean") unless ``item_id`` is one of ``known``."""
    if not isinstance(item_id, str) or item_id not in known:
        shown = ", ".join(known[:12]) + (" ..." if len(known) > 12 else "")
        raise BacklogError(
            f"no backlog item {item_id!r}.{did_you_mean(str(item_id), known)} "
            f"Items: {shown or '(none)'}."[:600],
            code="backlog.unknown_item",
            hint="use an id of b.items (the id column of the CSV export or [[items]] id)",
        )
    return item_id


@dataclass(kw_only=True, frozen=True)
class OrderQuery:
    """``b.order(framework, capacity)`` and ``b.scores(capacity)`` (framework unused there)."""

    framework: str = "rice"
    capacity: float | None = None
    as_of: pd.Timestamp | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "framework", check_framework(self.framework))
        object.__setattr__(self, "capacity", check_capacity(self.capacity))


@dataclass(kw_only=True, frozen=True)
class TradeoffQuery:
    """``b.tradeoff(item_id, rank)``: move the item to ``rank``; what slips, which objective loses."""

    item_id: str
    rank: int
    framework: str = "rice"
    capacity: float | None = None
    as_of: pd.Timestamp | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "framework", check_framework(self.framework))
        object.__setattr__(self, "capacity", check_capacity(self.capacity))


@dataclass(kw_only=True, frozen=True)
class LogQuery:
    """``wb.decision_log(item_id=None)``."""

    item_id: str | None = None

    def __post_init__(self) -> None:
        if self.item_id is not None and (not isinstance(self.item_id, str) or not self.item_id):
            raise BacklogError(
                f"item_id must be an item's id or None, got {self.item_id!r}"[:300],
                code="backlog.unknown_item",
                hint="pass an id of b.items, or nothing for every item",
            )


@dataclass(kw_only=True, frozen=True)
class AsOfQuery:
    """A call that only needs the data's date: ``wb.objectives()``, ``b.checks()``, ``b.publish()``."""

    as_of: pd.Timestamp | None = None
    note: str | None = None
    framework: str = "rice"
    capacity: float | None = None


def queries_of(table: pd.DataFrame, label: list[str]) -> tuple[str, dict[str, Any]]:
    """``sql`` and ``params`` of a result from a table with ``query`` and ``params`` columns: each
    distinct query once, after a comment naming the row (``label`` columns)."""
    if table.empty or "query" not in table.columns:
        return "", {}
    parts: list[str] = []
    params: dict[str, Any] = {}
    seen: set[str] = set()
    cols = [c for c in label if c in table.columns]
    for row in table.itertuples(index=False):
        sql = getattr(row, "query", None)
        if not isinstance(sql, str) or not sql.strip():
            continue
        name = " ".join(str(getattr(row, c)) for c in cols if pd.notna(getattr(row, c)))
        key = sql + repr(getattr(row, "params", None))
        if key in seen:
            continue
        seen.add(key)
        parts.append(f"-- {name}\n{sql.strip()}")
        params[name] = getattr(row, "params", None)
    return ";\n\n".join(parts), params


def _chart(name: str) -> Any:
    """A figure function of charts/backlog.py (charts take DataFrames only)."""
    module = importlib.import_module("poanalytics.charts.backlog")
    return getattr(module, name)


@dataclass(kw_only=True, frozen=True)
class ScoresQuery:
    """``b.scores(capacity)``: the capacity (person-weeks; None: [planning] capacity)."""

    capacity: float | None = None
    as_of: pd.Timestamp | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "capacity", check_capacity(self.capacity))


@dataclass
class ScoresResult(MetricResult):
    """``b.scores()``: RICE, ICE, WSJF, value/effort and MoSCoW side by side, with intervals (see
    backlog.scores); no SQL of its own: ``sql`` holds the ledger's queries behind every input."""

    def summary(self) -> str:
        """One paragraph (``backlog.scores.scores_summary``)."""
        from .scores import scores_summary

        return scores_summary(self.table)

    def figure(self, framework: str | None = None):
        """Value/effort bubbles (default), or the score breakdown of ``framework`` (rice, ice,
        wsjf): each factor, the score with its Monte Carlo interval and P(top N)."""
        if framework is None or framework == "value_effort":
            return _chart("value_effort_figure")(self.table)
        return _chart("score_breakdown_figure")(self.table, framework)


@dataclass
class OrderResult(MetricResult):
    """``b.order()``: rank, item_id, title, score (interval), p_top_n, reason, fits,
    evidence_rank, override_rank, override_reason, effort_weeks, cumulative_weeks (see
    backlog.order); ``scores`` the scores it ranks by."""

    scores: pd.DataFrame = field(default_factory=pd.DataFrame)

    def summary(self) -> str:
        """One paragraph (``backlog.order.order_summary``)."""
        from .order import order_summary

        q = self.query
        return order_summary(self.table, q.framework, q.capacity)

    def figure(self, kind: str = "order"):
        """``kind="order"``: the order as bars (score and interval, the capacity line, overrides
        ringed with their reason); ``"breakdown"``: the framework's score breakdown per item."""
        framework = self.query.framework
        if kind == "breakdown" and not self.scores.empty:
            factors = self.scores.drop(columns=["title"], errors="ignore")
            table = self.table[["rank", "item_id", "title"]].merge(factors, on="item_id")
            name = "rice" if framework == "value_effort" else framework
            return _chart("score_breakdown_figure")(table, name)
        title = f"The backlog by {framework.upper().replace('_', '/')}"
        return _chart("order_figure")(self.table, framework=framework, title=title)


@dataclass
class ImpactMapResult(MetricResult):
    """``b.impact_map()``: one row per objective x impact x item (objective, actor, impact,
    item_id, title, status, objective_description); ``vision`` the product's."""

    vision: str = ""

    def figure(self):
        return _chart("impact_map_figure")(self.table, vision=self.vision)


class TradeoffResult(MetricResult):
    """``b.tradeoff(item_id, rank)``: what slips out of capacity and which objectives lose
    (``table.attrs["summary"]`` says it in a sentence)."""

    def summary(self) -> str:
        return str(self.table.attrs.get("summary", ""))

    def figure(self):
        """Where each affected item goes (charts.backlog.order_figure of a trade-off)."""
        return _chart("order_figure")(self.table)


class ChecksResult(MetricResult):
    """``b.checks()``: refinement checks (item_id, check, code, detail, ready)."""

    def figure(self):
        return _chart("checks_figure")(self.table)


@dataclass
class PublishResult(MetricResult):
    """``b.publish()``: the snapshot written (``snapshot_id``); ``table`` its items as stored;
    ``log`` the decision log after it."""

    snapshot_id: int = 0
    log: pd.DataFrame = field(default_factory=pd.DataFrame)

    def figure(self):
        """The published order (charts.backlog.order_figure); ``log``'s rank changes:
        ``charts.backlog.rank_changes_figure(result.log)``."""
        return _chart("order_figure")(self.table, framework=self.query.framework)

    def __str__(self) -> str:
        q = self.query
        ranked = int(self.table["rank"].notna().sum()) if "rank" in self.table else 0
        return (
            f"snapshot {self.snapshot_id} published: {ranked} items ranked by {q.framework} "
            f"with evidence as of {q.as_of:%Y-%m-%d %H:%M} UTC" + (f" ({q.note})" if q.note else "")
        )


@dataclass
class OverrideResult(MetricResult):
    """``b.override()`` / ``b.withdraw_override()`` / ``b.overrides()``: the overrides
    (``override_id`` the one written or withdrawn)."""

    override_id: int | None = None

    def figure(self):
        """The positions the product owner asked for (charts.backlog.order_figure)."""
        return _chart("order_figure")(self.table)


@dataclass
class DecisionLogResult(MetricResult):
    """``wb.decision_log()``: snapshot_id, published_at, as_of, note, item_id, title, rank,
    previous_rank, moved, evidence_rank, override_reason, new_evidence (see backlog.log);
    ``overrides``: every override, active or withdrawn."""

    overrides: pd.DataFrame = field(default_factory=pd.DataFrame)

    def figure(self):
        """Rank changes over the published snapshots (overrides ringed, with their reason)."""
        return _chart("rank_changes_figure")(self.table)

"""The ordered backlog: one row per open item, ranked by a framework's score, with one plain
sentence of why (built from the evidence ledger), the capacity line, and the product owner's
overrides shown beside the evidence rank, never silently applied.

Ranking (``order``): the framework's score, highest first (``value_effort``: quadrant first, quick
win, big bet, fill-in, time sink, then value / effort); ties by ``p_top_n`` (higher first), then
``item_id``. Items that could not be scored (no or zero effort) follow, by item_id, their reason
saying why; shipped and dropped items are not ordered.

Reason: "#<rank>: " + the strongest two or three supporting ledger fragments (``detail``), one
per source first (events, tickets, notes), then by kind (a step's reach, which states its drop-off
and change; a drop-off with its change; churn lift; tickets; interview mentions; unique problems;
the reach of an event, segment or theme) and, within a kind, the larger value first; plus
"confidence 60%: <why>" when the confidence is below 80% (Intercom's medium). Quotes are not
quoted (they are in the ledger).

Capacity (person-weeks): ``cumulative_weeks`` sums effort in rank order; ``fits`` = cumulative
within the capacity (NULL without one, or for an item without effort).

Overrides (a DataFrame: item_id, rank, reason, override_id): the last override of an item (by
override_id) counts; overridden items are placed at their rank in increasing rank order (two on
the same rank: the later override takes it, the other follows), the others keep their evidence
order around them. ``evidence_rank`` keeps the rank the evidence gives, ``override_rank`` and
``override_reason`` show the product owner's. An override of an item not in the order (shipped,
dropped, unknown) is skipped with a PoaWarning ``backlog.override_skipped``.

``tradeoff``: what slips out of the capacity line when an item moves to a rank, and which
objectives (``ProductConfig.item_objectives``) lose an item this cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import PoaWarning, did_you_mean, warn
from ..metrics.result import MetricResult
from .errors import BacklogError
from .model import FRAMEWORKS, Item, ProductConfig
from .scores import NOT_SCORED, QUADRANTS, items_frame, ledger_frame

LOW_CONFIDENCE = 0.8
MAX_FRAGMENTS = 3
KIND_ORDER = {  # which supporting piece speaks first in a reason
    "reach": 0,  # of a step link: "N users a week stop at <step> (x% drop, y points worse ...)"
    "dropoff": 1,
    "dropoff_change": 2,
    "churn_lift": 3,
    "event_churn": 4,  # "N users who did <event> in their first week churned 0.4x as often"
    "tickets": 5,
    "interview_mentions": 6,
    "unique_problems": 7,
    "other_reach": 8,  # reach of an event, segment or theme link
}
SCORE_COLUMNS = {
    "rice": ("rice", "rice_low", "rice_high"),
    "ice": ("ice", "ice_low", "ice_high"),
    "wsjf": ("wsjf", "wsjf_low", "wsjf_high"),
    "value_effort": ("rice", "rice_low", "rice_high"),  # value / effort, within the quadrant
}
COLUMNS = [
    "rank",
    "item_id",
    "title",
    "score",
    "score_low",
    "score_high",
    "p_top_n",
    "reason",
    "fits",
    "evidence_rank",
    "override_rank",
    "override_reason",
    "override_id",
    "effort_weeks",
    "cumulative_weeks",
    "confidence",
    "quadrant",
    "status",
    "objectives",
]
TRADEOFF_COLUMNS = [
    "item_id",
    "title",
    "change",
    "rank_before",
    "rank_after",
    "fits_before",
    "fits_after",
    "effort_weeks",
    "objectives",
    "objectives_losing",
]


def check_framework(framework: Any) -> str:
    if not isinstance(framework, str) or framework not in FRAMEWORKS:
        raise BacklogError(
            f"unknown framework {framework!r}." + did_you_mean(str(framework), FRAMEWORKS),
            code="backlog.unknown_framework",
            hint="use one of " + ", ".join(FRAMEWORKS),
        )
    return framework


def check_capacity(capacity: Any) -> float | None:
    if capacity is None:
        return None
    ok = isinstance(capacity, int | float) and not isinstance(capacity, bool)
    if not ok or not np.isfinite(capacity) or capacity <= 0:
        raise BacklogError(
            f"capacity must be a positive number of person-weeks, got {capacity!r}",
            code="backlog.capacity",
            hint="e.g. capacity=12 (person-weeks this cycle), or leave it out",
        )
    return float(capacity)


@dataclass
class OrderResult(MetricResult):
    """``table``: the order (module docstring); ``query``: backlog.results.OrderQuery (framework,
    capacity, as_of); ``sql``/``params``: the ledger's queries behind the reasons."""

    def summary(self) -> str:
        """One paragraph (``order_summary``)."""
        q = self.query
        return order_summary(
            self.table, getattr(q, "framework", "rice"), getattr(q, "capacity", None)
        )

    def figure(self):
        """The order as bars (charts.backlog.order_figure): score and interval, the capacity
        line, overrides ringed with their reason."""
        from ..charts.backlog import order_figure

        framework = getattr(self.query, "framework", "rice")
        return order_figure(self.table, framework=framework)


def order_summary(
    table: pd.DataFrame, framework: str = "rice", capacity: float | None = None
) -> str:
    """One paragraph over ``order``'s table: what fits the capacity, and the product owner's
    overrides with their reasons."""
    t = table
    name = framework.upper().replace("_", "/")
    text = f"{len(t)} open items in {name} order"
    if capacity is not None and len(t):
        fit = t[t.fits.fillna(False).astype(bool)]
        text += f"; {len(fit)} fit {capacity:g} person-weeks"
        if len(fit):
            text += ": " + ", ".join(fit.item_id)
    moved = t[t.override_rank.notna()]
    for r in moved.itertuples(index=False):
        text += (
            f"; {r.item_id} placed #{r.override_rank} by the product owner (evidence "
            f"#{r.evidence_rank}): {r.override_reason}"
        )
    return text + "."


# ---------------------------------------------------------------- reasons


def _fragments(rows: pd.DataFrame) -> list[str]:
    """The strongest supporting fragments of one item (module docstring): one per source first,
    then by kind and size. One fragment per link: a step's reach row already says its drop-off
    and change ("1,240 users a week stop at X (18% drop, 8 points worse than ...)"), so that
    link's dropoff and dropoff_change rows are folded into it; without a reach row a drop-off and
    its change read as one fragment; a theme's ticket row already counts its unique problems."""
    rows = rows[rows.supports & rows.kind.isin(KIND_ORDER) & rows.detail.notna()]
    rows = rows.assign(link=rows.link.fillna("").astype(str))
    kinds = {(k, lk) for k, lk in zip(rows.kind, rows.link, strict=True)}
    pieces = []
    for r in rows.itertuples(index=False):
        kind, link, words = r.kind, r.link, str(r.detail).rstrip(".")
        step_reach = ("reach", link) in kinds and link.startswith("step:")
        if kind in ("dropoff", "dropoff_change") and step_reach:
            continue
        if kind == "dropoff_change" and ("dropoff", link) in kinds:
            continue
        if kind == "unique_problems" and ("tickets", link) in kinds:
            continue
        if kind == "dropoff" and ("dropoff_change", link) in kinds:
            change = rows[(rows.kind == "dropoff_change") & (rows.link == link)].detail.iloc[0]
            words = f"{words}, {str(change).rstrip('.')}"
        order = KIND_ORDER[kind] if kind != "reach" or step_reach else KIND_ORDER["other_reach"]
        size = -float(r.value) if pd.notna(r.value) else 0.0
        pieces.append((order, size, link, str(r.source), words))
    pieces.sort()
    firsts: list[tuple[int, float, str, str, str]] = []
    rest: list[tuple[int, float, str, str, str]] = []
    seen: set[str] = set()
    for piece in pieces:
        (rest if piece[3] in seen else firsts).append(piece)
        seen.add(piece[3])
    chosen = firsts[:MAX_FRAGMENTS] + rest[: max(0, MAX_FRAGMENTS - len(firsts))]
    return [p[4] for p in chosen]


def reason(rank: int | None, fragments: list[str], confidence: float, why: str, note: Any) -> str:
    """One plain sentence: "#3: <fragments>[; confidence 60%: <why>]." """
    head = f"#{rank}: " if rank is not None else ""
    if isinstance(note, str) and note:
        return f"{head}{note}."
    if not fragments:
        return f"{head}{why} (confidence {confidence:.0%})."
    body = "; ".join(f.rstrip(".") for f in fragments)
    if confidence < LOW_CONFIDENCE:
        body += f"; confidence {confidence:.0%}: {why}"
    return f"{head}{body}."


# ---------------------------------------------------------------- order


def evidence_order(scores: pd.DataFrame, framework: str) -> pd.DataFrame:
    """The open items in the framework's order (module docstring), unscored ones last."""
    col, low, high = SCORE_COLUMNS[check_framework(framework)]
    t = scores[~scores.status.isin(NOT_SCORED)].copy()
    t["score"], t["score_low"], t["score_high"] = t[col], t[low], t[high]
    t["_unscored"] = t.score.isna()
    t["_neg"] = -t.score.fillna(0.0)
    t["_neg_p"] = -t.p_top_n.fillna(0.0)
    keys = ["_unscored", "_neg", "_neg_p", "item_id"]
    if framework == "value_effort":
        t["_quadrant"] = t.quadrant.map({q: i for i, q in enumerate(QUADRANTS)}).fillna(
            len(QUADRANTS)
        )
        keys.insert(1, "_quadrant")
    t = t.sort_values(keys, kind="stable").reset_index(drop=True)
    t["evidence_rank"] = np.arange(1, len(t) + 1)
    return t


def last_overrides(overrides: pd.DataFrame | None, ids: list[str]) -> pd.DataFrame:
    """The last override of each item in ``ids`` (by override_id); others skipped with a warning."""
    cols = ["item_id", "rank", "reason", "override_id"]
    if overrides is None or len(overrides) == 0:
        return pd.DataFrame(columns=cols)
    missing = [c for c in ("item_id", "rank", "reason") if c not in overrides.columns]
    if missing:
        raise BacklogError(
            f"overrides lack the column(s) {', '.join(missing)}",
            code="backlog.override_columns",
            hint="pass a table of item_id, rank, reason, override_id (the decision log's)",
        )
    ov = overrides.copy()
    if "override_id" not in ov.columns:
        ov["override_id"] = np.arange(1, len(ov) + 1)
    ranks = pd.to_numeric(ov["rank"], errors="coerce")
    bad = ranks.isna() | (ranks < 1) | (ranks != ranks.round())
    if bad.any():
        raise BacklogError(
            f"override rank {ov['rank'][bad].iloc[0]!r} of {ov.item_id[bad].iloc[0]} is not a "
            "whole number from 1",
            code="backlog.override_rank",
            hint="a rank is a position in the order: 1 is the top",
        )
    ov["rank"] = ranks.astype(int)
    ov = ov.sort_values("override_id", kind="stable").drop_duplicates("item_id", keep="last")
    skipped = ov[~ov.item_id.isin(ids)]
    if not skipped.empty:
        warn(
            PoaWarning(
                "override(s) of " + ", ".join(map(str, skipped.item_id)) + " skipped: not in the "
                "order (shipped, dropped or no longer in the backlog)",
                code="backlog.override_skipped",
                hint="the decision log keeps them; override the item again if it comes back",
            )
        )
    return ov[ov.item_id.isin(ids)][cols]


def place(ids: list[str], moves: list[tuple[str, int]]) -> list[str]:
    """``ids`` with each (item, rank) of ``moves`` placed at its rank, the others in order."""
    moved = {m[0] for m in moves}
    out = [i for i in ids if i not in moved]
    for item, rank in sorted(moves, key=lambda m: m[1]):  # stable: later override wins a tie
        out.insert(min(rank - 1, len(out)), item)
    return out


def capacity_line(effort: pd.Series, capacity: float | None) -> tuple[pd.Series, pd.Series]:
    """Cumulative effort in the given order, and whether each item fits the capacity."""
    cum = effort.fillna(0.0).cumsum().where(effort.notna())
    if capacity is None:
        return cum, pd.Series([None] * len(effort), index=effort.index, dtype=object)
    fits = (cum <= capacity + 1e-9).astype(object).where(effort.notna(), None)
    return cum, fits


def order(
    items: pd.DataFrame | list[Item],
    scores: pd.DataFrame,
    ledger: pd.DataFrame | None,
    *,
    framework: str = "rice",
    capacity: float | None = None,
    overrides: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ordered backlog (module docstring); ``scores`` from ``scores.score``."""
    framework, capacity = check_framework(framework), check_capacity(capacity)
    it = items_frame(items).set_index("item_id")
    lg = ledger_frame(ledger)
    t = evidence_order(scores, framework).set_index("item_id", drop=False)
    ov = last_overrides(overrides, list(t.item_id)).set_index("item_id")
    ids = place(list(t.item_id), list(zip(ov.index, ov["rank"], strict=True)))
    t = t.loc[ids].reset_index(drop=True)
    t["rank"] = np.arange(1, len(t) + 1)
    t["override_rank"] = t.item_id.map(ov["rank"]).astype("Int64")
    t["override_reason"] = t.item_id.map(ov["reason"])
    t["override_id"] = t.item_id.map(ov["override_id"]).astype("Int64")
    t["cumulative_weeks"], t["fits"] = capacity_line(t.effort_weeks, capacity)
    t["objectives"] = t.item_id.map(it["objectives"]) if "objectives" in it else None
    t["objectives"] = t.objectives.apply(lambda v: tuple(v) if isinstance(v, list | tuple) else ())
    by_item = dict(tuple(lg.groupby("item_id", sort=False)))
    t["reason"] = [
        _reason_of(r, by_item.get(r.item_id, lg.iloc[:0])) for r in t.itertuples(index=False)
    ]
    return t[COLUMNS]


def _reason_of(row: Any, rows: pd.DataFrame) -> str:
    text = reason(
        int(row.rank),
        _fragments(rows),
        float(row.confidence),
        str(row.confidence_reasons),
        row.note,
    )
    if pd.notna(row.override_rank):
        text = (
            f"{text[:-1]} (evidence rank #{row.evidence_rank}; placed #{row.override_rank} by the "
            f"product owner: {row.override_reason})."
        )
    return text


# ---------------------------------------------------------------- trade-off


def tradeoff(
    order_table: pd.DataFrame,
    item_id: str,
    rank: int,
    capacity: float | None,
    config: ProductConfig,
) -> pd.DataFrame:
    """What moving ``item_id`` to ``rank`` does to the capacity line: the moved item, the items
    that slip out of it (or come into it), and the objectives that lose an item this cycle.
    ``capacity`` None: [planning] capacity. ``table.attrs["summary"]`` says it in a sentence."""
    ids = [str(i) for i in order_table.item_id]
    if item_id not in ids:
        raise BacklogError(
            f"item {item_id!r} is not in the order." + did_you_mean(str(item_id), ids),
            code="backlog.unknown_item",
            hint="pick an open item of the order (shipped and dropped items are not ordered)",
        )
    cap = check_capacity(capacity) if capacity is not None else config.planning.capacity
    if cap is None:
        raise BacklogError(
            "a trade-off needs a capacity: what slips is what no longer fits",
            code="backlog.no_capacity",
            hint="pass capacity= (person-weeks this cycle) or set [planning] capacity",
        )
    if isinstance(rank, bool) or not isinstance(rank, int | np.integer) or rank < 1:
        raise BacklogError(
            f"rank {rank!r} is not a whole number from 1",
            code="backlog.override_rank",
            hint="a rank is a position in the order: 1 is the top",
        )
    t = order_table.assign(item_id=ids).set_index("item_id", drop=False)
    after = place(ids, [(item_id, int(rank))])
    _, fits_b = capacity_line(t.effort_weeks.loc[ids], cap)
    _, fits_a = capacity_line(t.effort_weeks.loc[after], cap)
    rank_b = {i: n for n, i in enumerate(ids, 1)}
    rank_a = {i: n for n, i in enumerate(after, 1)}
    rows = []
    for i in after:
        fb, fa = fits_b.get(i), fits_a.get(i)
        if i != item_id and fb == fa:
            continue
        change = "moved" if i == item_id else "slips" if fb and not fa else "fits now"
        objectives = _objectives(t.loc[i], config)
        rows.append(
            {
                "item_id": i,
                "title": t.title.get(i),
                "change": change,
                "rank_before": rank_b[i],
                "rank_after": rank_a[i],
                "fits_before": fb,
                "fits_after": fa,
                "effort_weeks": t.effort_weeks.get(i),
                "objectives": objectives,
                "objectives_losing": objectives if change == "slips" else (),
            }
        )
    table = pd.DataFrame(rows, columns=TRADEOFF_COLUMNS)
    table.attrs["summary"] = _tradeoff_summary(table, item_id, int(rank), cap)
    return table


def _objectives(row: pd.Series, config: ProductConfig) -> tuple[str, ...]:
    direct = row.get("objectives")
    item = Item(
        str(row["item_id"]),
        title=str(row.get("title", "")),
        objectives=tuple(direct) if isinstance(direct, list | tuple) else (),
    )
    return config.item_objectives(item)


def _tradeoff_summary(table: pd.DataFrame, item_id: str, rank: int, cap: float) -> str:
    slips = table[table.change == "slips"]
    head = f"Moving {item_id} to #{rank}"
    if slips.empty:
        return f"{head} pushes nothing past the {cap:g} person-week line."
    losing = sorted({o for objs in slips.objectives_losing for o in objs})
    text = f"{head} pushes {', '.join(slips.item_id)} past the {cap:g} person-week line"
    if losing:
        return text + "; objectives losing an item this cycle: " + ", ".join(losing) + "."
    return text + "; they serve no stated objective."

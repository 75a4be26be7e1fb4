"""Scores side by side: RICE, ICE, WSJF, value/effort quadrants and a suggested MoSCoW label, each
computed from the item's evidence ledger, with Monte Carlo intervals and P(top N).

Pure: ``score(items, ledger, planning, capacity=...)`` takes the items table (one row per item,
the fields of ``model.Item``; a sequence of Items is accepted too), the evidence ledger
(``evidence.ledger``) and [planning], and returns one row per item. No warehouse, no I/O.

RICE (Intercom): reach x impact x confidence / effort.
  reach       the item's LARGEST measured reach (ledger kind ``reach``, users per week) times
              [planning] reach_weeks (13: users per quarter). The largest and not the sum: an
              item's links (a step, an event, a segment, a theme) describe overlapping groups of
              users (the Android users who stop at profile_completed also raised the crash
              theme); a sum would count them twice, the largest is the group every link agrees
              is affected at least. No reach row: reach 0, flagged "reach not measured".
  impact      the product owner's Intercom value (3 massive, 2 high, 1 medium, 0.5 low, 0.25
              minimal); not stated: 1 (medium), flagged in ``caveats``: "impact not stated:
              medium assumed".
  confidence  DERIVED from the ledger, on Intercom's scale (100% high, 80% medium, 50% low) in
              steps of 10%: confidence = 50% + 10% per point, at most 5 points:
                +1 per independent source (events, tickets, notes) with supporting evidence;
                +1 when the supporting pieces' median sample size n >= 100 (+0.5 when >= 30);
                +1 when their median relative interval half-width (high - low) / 2 / |value| is
                   <= 25% (+0.5 when <= 50%);
                -1 when the newest supporting piece is older than period_weeks before the
                   ledger's newest as_of (stale).
              No supporting evidence: 50%, and ``confidence_reasons`` says "no measured
              evidence" (no ledger row at all) or "no supporting evidence" (rows, none for it).
              Quotes do not count: they illustrate a theme, they measure nothing.
  effort      person-weeks (Intercom uses person-months; 1 person-month ~ 4.3 person-weeks).
              An item without effort, or with zero effort, is not scored (a refinement check).

ICE (Sean Ellis / GrowthHackers): impact x confidence x ease, each on 1..10 (product, 1..1000):
  impact      the total effect, reach x impact, on a log scale: 2 x log10(reach x impact),
              clipped to 1..10 (each tenfold more affected users adds 2 points: 100 -> 4,
              1,000 -> 6, 10,000 -> 8, 100,000 -> 10);
  confidence  10 x RICE confidence (50% -> 5, 100% -> 10);
  ease        10 - 2 x log2(2 x effort_weeks), clipped to 1..10 (half a week 10, 1 week 8,
              2 weeks 6, 4 weeks 4, 8 weeks 2; each doubling of effort costs 2 points).

WSJF (SAFe): cost of delay / job size, cost of delay = business value + time criticality + risk
reduction | opportunity enablement, all on the relative scale 1 2 3 5 8 13 20. The item's stated
inputs are used; a missing one is derived from the evidence and flagged "derived":
  business value    value (below) placed on the Fibonacci scale by its position on a log scale
                    between the smallest and the largest value of the scored items (SAFe's
                    relative estimate: the smallest gets 1, the largest 20; all equal, or a
                    single item: 20; a value of 0: 1);
  time criticality  from a worsening trend: the largest supporting ``dropoff_change`` d, in
                    percentage points (the ledger's 0.08 is 8 points): none 1, d < 1: 2,
                    < 2: 3, < 5: 5, < 10: 8, < 20: 13, else 20;
  risk reduction    from churn risk: the largest supporting ``churn_lift`` L (relative risk):
                    none 1, L < 1.5: 3, < 2: 5, < 3: 8, < 5: 13, else 20;
  job size          effort in person-weeks rounded up to the planning-poker scale
                    1 2 3 5 8 13 20 40 100.

Value/effort: value = reach x impact x confidence (RICE's numerator); quadrants split at the
medians of the scored items: value >= median and effort <= median: "quick win"; value >= median,
effort above: "big bet"; value below, effort <= median: "fill-in"; value below, effort above:
"time sink".

MoSCoW suggested: scored items in RICE order (ties: item_id), cumulative effort including the
item: within 60% of capacity and with supporting evidence: "must"; within 80%: "should"; within
100%: "could"; beyond: "wont". Without a capacity (argument or [planning] capacity): NULL, and
``moscow_note`` says why. DSDM check on the product owner's OWN labels: when the effort of the
open items labelled Must exceeds 60% of capacity, a PoaWarning ``backlog.must_over_60`` is issued
(and kept in ``table.attrs["warnings"]``) and ``must_over_60`` is true on those items.

Disagreement: with n scored items, ranked by RICE, ICE and WSJF (1 = best), an item whose
largest minus smallest rank is >= max(3, n / 3) is flagged; ``disagreement_detail`` says which
framework puts it where ("RICE #1, ICE #6, WSJF #2"). Tied scores hold a range of places
("WSJF #1-5 (tied)"); the spread is then the gap between the ranges, so a framework that cannot
tell items apart does not count as disagreeing. (``rank_rice`` etc. break ties by item_id.)

Uncertainty (Monte Carlo, numpy Generator(seed=[planning] seed), [planning] simulations draws,
items x draws arrays): reach is drawn from a triangular distribution over its interval (the reach
row's low .. high, mode its value); confidence over +-10 points (within 50%..100%); effort over
effort_low .. effort_high (mode effort_weeks; without a range, +-[planning] effort_spread; the
low end at least a tenth of the estimate);
impact, when assumed, is 0.5, 1 or 2 with equal chance (stated: fixed). Every score is computed
per draw; ``*_low``/``*_high`` are the 5th and 95th percentiles; ``p_top_n`` is the share of draws
in which the item is among the top [planning] top_n by RICE (exact ties split at random). The
same seed gives the same table.

Shipped and dropped items stay in the table with their status and NULL scores (``note`` says
why); they are not ordered.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import PoaWarning, warn
from ..metrics.result import MetricResult
from .model import IMPACT_SCALE, Item, Planning

FIB = np.array([1, 2, 3, 5, 8, 13, 20], dtype=float)
JOB_SCALE = np.array([1, 2, 3, 5, 8, 13, 20, 40, 100], dtype=float)
TC_POINTS = np.array([1, 2, 5, 10, 20], dtype=float)  # points worse: cuts between TC_VALUES
TC_VALUES = np.array([2, 3, 5, 8, 13, 20], dtype=float)
RR_LIFTS = np.array([1.5, 2, 3, 5], dtype=float)
RR_VALUES = np.array([3, 5, 8, 13, 20], dtype=float)
NOT_SCORED = ("shipped", "dropped")
SOURCES = ("events", "tickets", "notes")
CONF_FLOOR, CONF_STEP, CONF_POINTS, CONF_SPREAD = 0.5, 0.1, 5.0, 0.1
LARGE_N, FAIR_N, NARROW, FAIR_WIDTH = 100, 30, 0.25, 0.5
MUST_SHARE, SHOULD_SHARE = 0.6, 0.8
QUADRANTS = ("quick win", "big bet", "fill-in", "time sink")
ASSUMED_IMPACTS = np.array([0.5, 1.0, 2.0])

COLUMNS = [
    "item_id",
    "title",
    "status",
    "reach",
    "reach_low",
    "reach_high",
    "reach_link",
    "impact",
    "impact_stated",
    "confidence",
    "effort_weeks",
    "effort_low",
    "effort_high",
    "rice",
    "rice_low",
    "rice_high",
    "ice_impact",
    "ice_confidence",
    "ease",
    "ice",
    "ice_low",
    "ice_high",
    "business_value",
    "time_criticality",
    "risk_reduction",
    "job_size",
    "cost_of_delay",
    "wsjf",
    "wsjf_low",
    "wsjf_high",
    "wsjf_derived",
    "value",
    "quadrant",
    "moscow",
    "moscow_suggested",
    "moscow_note",
    "must_over_60",
    "p_top_n",
    "rank_rice",
    "rank_ice",
    "rank_wsjf",
    "disagreement",
    "disagreement_detail",
    "supporting",
    "confidence_reasons",
    "caveats",
    "note",
]
LEDGER_COLUMNS = ["item_id", "kind", "link", "value", "low", "high", "unit", "n", "source"]


@dataclass(kw_only=True)
class ScoresQuery:
    """Scoring settings of a call: the capacity (person-weeks; None: [planning] capacity)."""

    capacity: float | None = None


@dataclass
class ScoresResult(MetricResult):
    """``table``: one row per item (module docstring); no SQL of its own: the ledger holds the
    queries behind every input."""

    def summary(self) -> str:
        """One paragraph (``scores_summary``)."""
        return scores_summary(self.table)

    def figure(self, framework: str | None = None):
        """Value/effort bubbles (default), or the score breakdown of ``framework`` (rice, ice,
        wsjf): each factor, the score with its Monte Carlo interval and P(top N)."""
        from ..charts.backlog import score_breakdown_figure, value_effort_figure

        if framework is None or framework == "value_effort":
            return value_effort_figure(self.table)
        return score_breakdown_figure(self.table, framework)


def scores_summary(table: pd.DataFrame) -> str:
    """One paragraph over ``score``'s table: what was scored, the RICE leaders with P(top N),
    low confidence, disagreements and the DSDM Must warning."""
    t = table
    done = t[t.rice.isna()]
    lead = t[t.rice.notna()].sort_values(["rank_rice"]).head(5)
    top = f"top {t.attrs['top_n']}" if "top_n" in t.attrs else "top N"
    text = f"{len(t)} items, {len(t) - len(done)} scored"
    if len(done):
        text += (
            " (not scored: "
            + ", ".join(
                f"{i} {n.split(':')[0]}"
                for i, n in zip(done.item_id, done.note.fillna(""), strict=True)
            )
            + ")"
        )
    if len(lead):
        text += ". By RICE: " + ", ".join(
            f"{i} ({p:.0%} in the {top})" if pd.notna(p) else str(i)
            for i, p in zip(lead.item_id, lead.p_top_n, strict=True)
        )
    low = t[t.rice.notna() & (t.confidence < 0.8)]
    if len(low):
        text += ". Low confidence: " + ", ".join(
            f"{i} ({c:.0%})" for i, c in zip(low.item_id, low.confidence, strict=True)
        )
    dis = t[t.disagreement.astype(bool)]
    if len(dis):
        text += ". Frameworks disagree on " + "; ".join(
            f"{i} ({d})" for i, d in zip(dis.item_id, dis.disagreement_detail, strict=True)
        )
    for w in table.attrs.get("warnings", []):
        text += f". {w.message[0].upper()}{w.message[1:]}"
    return text + "."


# ---------------------------------------------------------------- inputs


def items_frame(items: pd.DataFrame | Sequence[Item]) -> pd.DataFrame:
    """The items as a table with the columns scoring reads (missing optional ones as NULL)."""
    if isinstance(items, pd.DataFrame):
        df = items.copy()
    else:
        df = pd.DataFrame([asdict(i) for i in items])
    defaults: dict[str, Any] = {"title": "", "status": "open", "moscow": None}
    for col in (
        "effort_weeks",
        "effort_low",
        "effort_high",
        "impact",
        "business_value",
        "time_criticality",
        "risk_reduction",
        "job_size",
    ):
        defaults[col] = np.nan
    for col, default in defaults.items():
        if col not in df.columns:
            df[col] = default
    if "item_id" not in df.columns:
        df["item_id"] = pd.Series(dtype=object)
    df["status"] = df["status"].fillna("open").astype(str).str.lower()
    for col in [c for c, d in defaults.items() if isinstance(d, float)]:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    return df.reset_index(drop=True)


def ledger_frame(ledger: pd.DataFrame | None) -> pd.DataFrame:
    """The ledger with numeric value/low/high/n and a boolean ``supports``."""
    lg = pd.DataFrame(columns=LEDGER_COLUMNS) if ledger is None else ledger.copy()
    for col in LEDGER_COLUMNS + ["supports", "detail", "as_of"]:
        if col not in lg.columns:
            lg[col] = None
    for col in ("value", "low", "high", "n"):
        lg[col] = pd.to_numeric(lg[col], errors="coerce").astype(float)
    lg["supports"] = lg["supports"].fillna(False).astype(bool)
    lg["as_of"] = pd.to_datetime(lg["as_of"], utc=True, errors="coerce")
    return lg


def _by_item(ids: pd.Series, values: pd.Series, default: float = np.nan) -> np.ndarray:
    return ids.map(values).astype(float).fillna(default).to_numpy()


def _reach(ids: pd.Series, lg: pd.DataFrame, weeks: int) -> pd.DataFrame:
    """Each item's largest reach row (users/week) times ``weeks``, with its interval and link."""
    r = lg[(lg.kind == "reach") & lg.value.notna()].sort_values(
        ["item_id", "value", "link"], ascending=[True, False, True], kind="stable"
    )
    top = r.drop_duplicates("item_id").set_index("item_id")
    out = pd.DataFrame({"item_id": ids})
    value = _by_item(ids, top.value)
    low = np.fmin(_by_item(ids, top.low), value)
    high = np.fmax(_by_item(ids, top.high), value)
    out["reach"] = np.nan_to_num(value) * weeks
    out["reach_low"] = np.where(np.isnan(low), out.reach, low * weeks)
    out["reach_high"] = np.where(np.isnan(high), out.reach, high * weeks)
    out["reach_link"] = ids.map(top.link)
    out["reach_measured"] = ~np.isnan(value)
    return out


def _confidence(ids: pd.Series, lg: pd.DataFrame, planning: Planning) -> pd.DataFrame:
    """Confidence on Intercom's scale, derived from the supporting ledger rows (module docstring)."""
    measured = lg[lg.kind != "quote"]  # a quote illustrates a theme; it measures nothing
    sup = measured[measured.supports]
    newest = measured.as_of.max()
    by_item = dict(tuple(sup.groupby("item_id", sort=False)))
    known = set(measured.item_id)
    rows = []
    for item in ids:
        mine = by_item.get(item, sup.iloc[:0])
        rows.append(_confidence_of(mine, item in known, newest, planning))
    return pd.DataFrame(rows, columns=["confidence", "confidence_reasons", "supporting"])


def _confidence_of(
    mine: pd.DataFrame, any_rows: bool, newest: Any, planning: Planning
) -> tuple[float, str, bool]:
    if mine.empty:
        why = "no supporting evidence" if any_rows else "no measured evidence"
        return CONF_FLOOR, why, False
    sources = [s for s in SOURCES if (mine.source == s).any()]
    points = float(len(sources))
    reasons = [f"{len(sources)} source{'s' if len(sources) != 1 else ''} ({', '.join(sources)})"]
    n = mine.n.dropna()
    if n.empty:
        reasons.append("no sample sizes")
    else:
        med = float(n.median())
        points += 1.0 if med >= LARGE_N else 0.5 if med >= FAIR_N else 0.0
        reasons.append(f"median n {med:,.0f}")
    iv = mine.dropna(subset=["value", "low", "high"])
    iv = iv[iv.value != 0]
    if iv.empty:
        reasons.append("no intervals")
    else:
        width = float(((iv.high - iv.low) / 2 / iv.value.abs()).median())
        points += 1.0 if width <= NARROW else 0.5 if width <= FAIR_WIDTH else 0.0
        reasons.append(f"intervals +-{width:.0%}")
    last = mine.as_of.max()
    stale = pd.notna(last) and pd.notna(newest)
    if stale and newest - last > pd.Timedelta(weeks=planning.period_weeks):
        points -= 1.0
        reasons.append(f"stale: newest supporting data {last:%Y-%m-%d}")
    points = min(max(points, 0.0), CONF_POINTS)
    conf = round(CONF_FLOOR + CONF_STEP * points, 2)
    return conf, "; ".join(reasons), True


def _largest(ids: pd.Series, lg: pd.DataFrame, kind: str) -> np.ndarray:
    rows = lg[(lg.kind == kind) & lg.supports & lg.value.notna()].copy()
    if kind == "dropoff_change":  # the ledger holds points as a fraction: 0.08 = 8 points
        rows["value"] = rows.value * 100
    return _by_item(ids, rows.groupby("item_id").value.apply(lambda v: v.abs().max()))


def time_criticality(points_worse: np.ndarray) -> np.ndarray:
    """SAFe time criticality from a worsening drop-off (percentage points; NaN: none) -> 1..20."""
    tc = TC_VALUES[np.searchsorted(TC_POINTS, np.nan_to_num(points_worse), side="right")]
    return np.where(np.isnan(points_worse), 1.0, tc)


def risk_reduction(lift: np.ndarray) -> np.ndarray:
    """SAFe risk reduction from a supporting churn lift (relative risk; NaN: none) -> 1..20."""
    rr = RR_VALUES[np.searchsorted(RR_LIFTS, np.nan_to_num(lift), side="right")]
    return np.where(np.isnan(lift), 1.0, rr)


def job_size(effort_weeks: np.ndarray) -> np.ndarray:
    """Effort in person-weeks rounded up to the planning-poker scale 1 2 3 5 8 13 20 40 100."""
    idx = np.searchsorted(JOB_SCALE, np.nan_to_num(effort_weeks), side="left")
    return np.where(np.isnan(effort_weeks), np.nan, JOB_SCALE[np.minimum(idx, len(JOB_SCALE) - 1)])


def business_value(value: np.ndarray) -> np.ndarray:
    """SAFe business value relative to the scored items (axis 0): the value's position on a log
    scale between the smallest and the largest, on 1 2 3 5 8 13 20 (smallest 1, largest 20)."""
    logv = np.log(np.where(value > 0, value, np.nan))
    lo, hi = np.nanmin(logv, axis=0, initial=np.inf), np.nanmax(logv, axis=0, initial=-np.inf)
    span = np.where(hi > lo, hi - lo, 1.0)
    pos = np.where(hi > lo, (logv - lo) / span, 1.0)
    idx = np.rint(np.nan_to_num(pos, nan=0.0) * (len(FIB) - 1)).astype(int)
    return FIB[np.clip(idx, 0, len(FIB) - 1)]


# ---------------------------------------------------------------- formulas


def frameworks(
    reach: np.ndarray,
    impact: np.ndarray,
    confidence: np.ndarray,
    effort: np.ndarray,
    wsjf_in: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """RICE, ICE, WSJF and value for arrays of one shape: (items,) or (items, draws).

    ``wsjf_in``: business_value, time_criticality, risk_reduction, job_size as stated (NaN where
    not) and tc_derived, rr_derived (from the evidence); derived ones fill the NaNs.
    """
    value = reach * impact * confidence
    with np.errstate(divide="ignore", invalid="ignore"):
        rice = np.where(effort > 0, value / effort, np.nan)
        ice_impact = np.clip(2 * np.log10(np.maximum(reach * impact, 1e-9)), 1, 10)
        ease = np.where(effort > 0, np.clip(10 - 2 * np.log2(2 * effort), 1, 10), np.nan)
    ice_conf = 10 * confidence
    ice = ice_impact * ice_conf * ease
    bv = np.where(
        np.isnan(wsjf_in["business_value"]), business_value(value), wsjf_in["business_value"]
    )
    tc = np.where(
        np.isnan(wsjf_in["time_criticality"]), wsjf_in["tc_derived"], wsjf_in["time_criticality"]
    )
    rr = np.where(
        np.isnan(wsjf_in["risk_reduction"]), wsjf_in["rr_derived"], wsjf_in["risk_reduction"]
    )
    js = np.where(np.isnan(wsjf_in["job_size"]), job_size(effort), wsjf_in["job_size"])
    cod = bv + tc + rr
    with np.errstate(divide="ignore", invalid="ignore"):
        wsjf = np.where(js > 0, cod / js, np.nan)
    return {
        "value": value,
        "rice": rice,
        "ice_impact": ice_impact,
        "ice_confidence": ice_conf,
        "ease": ease,
        "ice": ice,
        "business_value": bv,
        "time_criticality": tc,
        "risk_reduction": rr,
        "job_size": js,
        "cost_of_delay": cod,
        "wsjf": wsjf,
    }


# ---------------------------------------------------------------- labels


def quadrants(value: np.ndarray, effort: np.ndarray) -> np.ndarray:
    """Value/effort quadrants split at the medians (module docstring); NaN inputs -> None."""
    ok = ~(np.isnan(value) | np.isnan(effort))
    out = np.full(len(value), None, dtype=object)
    if not ok.any():
        return out
    high = value >= np.median(value[ok])
    easy = effort <= np.median(effort[ok])
    labels = np.where(
        high, np.where(easy, QUADRANTS[0], QUADRANTS[1]), np.where(easy, QUADRANTS[2], QUADRANTS[3])
    )
    out[ok] = labels[ok]
    return out


def suggest_moscow(
    item_id: Sequence[str],
    rice: np.ndarray,
    effort: np.ndarray,
    supporting: np.ndarray,
    capacity: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Suggested MoSCoW per item (NaN rice: None) and a note; module docstring for the rule."""
    n = len(rice)
    labels = np.full(n, None, dtype=object)
    notes = np.full(n, None, dtype=object)
    if capacity is None:
        notes[~np.isnan(rice)] = "no capacity stated: no MoSCoW suggestion ([planning] capacity)"
        return labels, notes
    ids = np.asarray(item_id, dtype=object)
    scored = np.flatnonzero(~np.isnan(rice))
    order = scored[np.lexsort((ids[scored].astype(str), -rice[scored]))]
    cum = np.cumsum(effort[order])
    share = cum / capacity
    lab = np.where(share <= SHOULD_SHARE, "should", np.where(share <= 1.0, "could", "wont"))
    lab = np.where((share <= MUST_SHARE) & supporting[order], "must", lab)
    labels[order] = lab
    for i, c, s in zip(order, cum, share, strict=True):
        notes[i] = f"{c:g} of {capacity:g} person-weeks by RICE order ({s:.0%})"
        if s <= MUST_SHARE and not supporting[i]:
            notes[i] += "; not Must: no supporting evidence"
    return labels, notes


def must_check(items: pd.DataFrame, capacity: float | None) -> tuple[np.ndarray, PoaWarning | None]:
    """DSDM: the effort of the open items the product owner labelled Must within 60% of capacity."""
    must = (items.moscow.astype(str).str.lower() == "must") & ~items.status.isin(NOT_SCORED)
    flag = np.full(len(items), None, dtype=object)
    if capacity is None:
        return flag, None
    total = float(items.effort_weeks[must].fillna(0).sum())
    over = total > MUST_SHARE * capacity
    flag[:] = False
    flag[must.to_numpy()] = over
    if not over:
        return flag, None
    ids = ", ".join(items.item_id[must].astype(str))
    blank = items.item_id[must & items.effort_weeks.isna()].astype(str)
    unsized = f" (without {', '.join(blank)}: no effort estimate)" if len(blank) else ""
    return flag, PoaWarning(
        f"the Must items ({ids}) take {total:g} of {capacity:g} person-weeks "
        f"({total / capacity:.0%}){unsized}; DSDM keeps Must within 60% of the capacity",
        code="backlog.must_over_60",
        hint="relabel some Must items as Should, or raise the capacity if it is real: without "
        "room for the Should and Could items the plan has no contingency",
    )


def disagreements(scores: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Flag items whose ranks across frameworks spread >= max(3, n/3); say who says what.

    Tied scores share a rank range (best .. worst place of the tie): the spread is the gap
    between the ranges (the largest best place minus the smallest worst place), so a framework
    that cannot tell items apart does not disagree with one that can."""
    frame = pd.DataFrame(scores)
    ranked = frame.notna().all(axis=1).to_numpy()
    n = int(ranked.sum())
    best = frame[ranked].rank(method="min", ascending=False)
    worst = frame[ranked].rank(method="max", ascending=False)
    spread = np.zeros(len(frame))
    spread[ranked] = np.maximum(best.max(axis=1) - worst.min(axis=1), 0)
    flag = (spread >= max(3.0, n / 3)) & ranked
    detail = np.full(len(frame), None, dtype=object)
    for j in np.flatnonzero(flag):
        parts = []
        for k in frame.columns:
            lo, hi = int(best[k].loc[j]), int(worst[k].loc[j])
            parts.append(f"{k.upper()} #{lo}" + (f"-{hi} (tied)" if hi > lo else ""))
        detail[j] = ", ".join(parts)
    return flag, detail


def ranks_of(score: np.ndarray, item_id: Sequence[str]) -> np.ndarray:
    """1 = highest score; ties by item_id; NaN scores get NaN."""
    ids = np.asarray(item_id, dtype=object).astype(str)
    ok = np.flatnonzero(~np.isnan(score))
    order = ok[np.lexsort((ids[ok], -score[ok]))]
    out = np.full(len(score), np.nan)
    out[order] = np.arange(1, len(order) + 1)
    return out


# ---------------------------------------------------------------- Monte Carlo


def triangular(u: np.ndarray, low: np.ndarray, mode: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Inverse CDF of the triangular distribution (low, mode, high) at uniforms ``u`` (items x
    draws); a degenerate range (low == high) gives the mode."""
    lo, md, hi = (np.asarray(a, float)[:, None] for a in (low, mode, high))
    width = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(width > 0, (md - lo) / width, 0.0)
        left = lo + np.sqrt(u * width * (md - lo))
        right = hi - np.sqrt((1 - u) * width * (hi - md))
    return np.where(width > 0, np.where(u < c, left, right), md + 0 * u)


def simulate(
    base: dict[str, np.ndarray],
    wsjf_in: dict[str, np.ndarray],
    planning: Planning,
) -> dict[str, np.ndarray]:
    """Monte Carlo over the scored items: 5th/95th percentiles of RICE, ICE and WSJF and the
    share of draws each item is in the top ``planning.top_n`` by RICE. ``base``: reach,
    reach_low, reach_high, impact, impact_stated, confidence, effort, effort_low, effort_high."""
    n, draws = len(base["reach"]), int(planning.simulations)
    rng = np.random.Generator(np.random.PCG64(planning.seed))
    u_reach, u_conf, u_effort, u_tie = (rng.random((n, draws)) for _ in range(4))
    pick = rng.integers(0, len(ASSUMED_IMPACTS), size=(n, draws))
    c = base["confidence"]
    reach = triangular(u_reach, base["reach_low"], base["reach"], base["reach_high"])
    conf = triangular(
        u_conf, np.maximum(c - CONF_SPREAD, CONF_FLOOR), c, np.minimum(c + CONF_SPREAD, 1.0)
    )
    effort = triangular(u_effort, base["effort_low"], base["effort"], base["effort_high"])
    impact = np.where(
        base["impact_stated"][:, None], base["impact"][:, None], ASSUMED_IMPACTS[pick]
    )
    wide = {k: np.repeat(v[:, None], draws, axis=1) for k, v in wsjf_in.items()}
    f = frameworks(reach, impact, conf, effort, wide)
    out: dict[str, np.ndarray] = {}
    for name in ("rice", "ice", "wsjf"):
        out[f"{name}_low"] = np.percentile(f[name], 5, axis=1)
        out[f"{name}_high"] = np.percentile(f[name], 95, axis=1)
    order = np.lexsort((u_tie, -f["rice"]), axis=0)  # per draw: items best first, ties at random
    top = order[: min(planning.top_n, n), :]
    out["p_top_n"] = np.bincount(top.ravel(), minlength=n) / draws
    return out


# ---------------------------------------------------------------- score


def score(
    items: pd.DataFrame | Sequence[Item],
    ledger: pd.DataFrame | None,
    planning: Planning,
    *,
    capacity: float | None = None,
) -> pd.DataFrame:
    """One row per item: RICE, ICE, WSJF, value/effort quadrant, suggested MoSCoW, P(top N),
    disagreement and the confidence with its reasons (module docstring: the definitions).
    ``capacity`` in person-weeks; None: [planning] capacity. Warnings (``backlog.must_over_60``)
    are issued and kept in ``table.attrs["warnings"]``."""
    it = items_frame(items)
    lg = ledger_frame(ledger)
    cap = planning.capacity if capacity is None else capacity
    ids = it.item_id
    out = it[["item_id", "title", "status", "moscow"]].copy()
    reach = _reach(ids, lg, planning.reach_weeks)
    conf = _confidence(ids, lg, planning)
    for col in ("reach", "reach_low", "reach_high", "reach_link"):
        out[col] = reach[col].to_numpy()
    out["impact_stated"] = it.impact.notna().to_numpy()
    out["impact"] = it.impact.fillna(1.0).to_numpy()
    for col in conf.columns:
        out[col] = conf[col].to_numpy()
    effort = it.effort_weeks.to_numpy()
    out["effort_weeks"] = effort
    spread = planning.effort_spread
    out["effort_low"] = np.maximum(
        it.effort_low.fillna(it.effort_weeks * (1 - spread)), effort / 10
    )
    out["effort_high"] = np.maximum(it.effort_high.fillna(it.effort_weeks * (1 + spread)), effort)
    out["note"] = _not_scored(it)
    scored = out.note.isna().to_numpy()
    wsjf_in = {
        "business_value": it.business_value.to_numpy(),
        "time_criticality": it.time_criticality.to_numpy(),
        "risk_reduction": it.risk_reduction.to_numpy(),
        "job_size": it.job_size.to_numpy(),
        "tc_derived": time_criticality(_largest(ids, lg, "dropoff_change")),
        "rr_derived": risk_reduction(_largest(ids, lg, "churn_lift")),
    }
    _fill_scores(out, scored, wsjf_in, planning)
    out["wsjf_derived"] = _derived(it, scored)
    out["caveats"] = _caveats(out, reach.reach_measured.to_numpy(), scored)
    out["quadrant"] = None
    out.loc[scored, "quadrant"] = quadrants(out.value.to_numpy()[scored], effort[scored])
    labels, notes = suggest_moscow(
        ids.to_numpy(), out.rice.to_numpy(), effort, out.supporting.to_numpy(bool), cap
    )
    out["moscow_suggested"], out["moscow_note"] = labels, notes
    flag, warning = must_check(it, cap)
    out["must_over_60"] = flag
    frames = {k: out[k].to_numpy(float) for k in ("rice", "ice", "wsjf")}
    for k, v in frames.items():
        out[f"rank_{k}"] = ranks_of(v, ids)
    out["disagreement"], out["disagreement_detail"] = disagreements(frames)
    table = out[COLUMNS].reset_index(drop=True)
    table.attrs["warnings"] = [warning] if warning else []
    table.attrs["top_n"] = planning.top_n  # what p_top_n counts
    if warning:
        warn(warning)
    return table


def _not_scored(it: pd.DataFrame) -> pd.Series:
    note = pd.Series([None] * len(it), dtype=object)
    effort = it.effort_weeks
    note[effort.isna()] = "no effort estimate: not scored (a refinement check)"
    note[effort.notna() & (effort <= 0)] = "zero effort: not scored (a refinement check)"
    done = it.status.isin(NOT_SCORED)
    note[done] = it.status[done] + ": not scored for ordering"
    return note


def _fill_scores(
    out: pd.DataFrame, scored: np.ndarray, wsjf_in: dict[str, np.ndarray], planning: Planning
) -> None:
    """The point scores and the Monte Carlo columns of the scored rows (NULL elsewhere)."""
    base = {
        "reach": out.reach.to_numpy(float)[scored],
        "reach_low": out.reach_low.to_numpy(float)[scored],
        "reach_high": out.reach_high.to_numpy(float)[scored],
        "impact": out.impact.to_numpy(float)[scored],
        "impact_stated": out.impact_stated.to_numpy(bool)[scored],
        "confidence": out.confidence.to_numpy(float)[scored],
        "effort": out.effort_weeks.to_numpy(float)[scored],
        "effort_low": out.effort_low.to_numpy(float)[scored],
        "effort_high": out.effort_high.to_numpy(float)[scored],
    }
    w = {k: v[scored] for k, v in wsjf_in.items()}
    point = frameworks(base["reach"], base["impact"], base["confidence"], base["effort"], w)
    sim = simulate(base, w, planning) if scored.any() and planning.simulations > 0 else {}
    for name, values in list(point.items()) + list(sim.items()):
        col = np.full(len(out), np.nan)
        col[scored] = values
        out[name] = col
    for name in (
        "rice_low",
        "rice_high",
        "ice_low",
        "ice_high",
        "wsjf_low",
        "wsjf_high",
        "p_top_n",
    ):
        if name not in out.columns:
            out[name] = np.nan


def _derived(it: pd.DataFrame, scored: np.ndarray) -> list[str | None]:
    names = ("business_value", "time_criticality", "risk_reduction", "job_size")
    out: list[str | None] = []
    for i, row in enumerate(it[list(names)].itertuples(index=False)):
        missing = [n.replace("_", " ") for n, v in zip(names, row, strict=True) if math.isnan(v)]
        out.append(", ".join(missing) if scored[i] and missing else None)
    return out


def _caveats(out: pd.DataFrame, measured: np.ndarray, scored: np.ndarray) -> list[str | None]:
    flags: list[str | None] = []
    for i, row in enumerate(out.itertuples(index=False)):
        f = []
        if scored[i] and not row.impact_stated:
            f.append("impact not stated: medium assumed")
        elif scored[i] and row.impact not in IMPACT_SCALE:
            f.append(f"impact {row.impact:g} is not on Intercom's scale (3 2 1 0.5 0.25)")
        if scored[i] and not measured[i]:
            f.append("reach not measured: 0")
        if scored[i] and row.wsjf_derived:
            f.append(f"WSJF derived from evidence: {row.wsjf_derived}")
        flags.append("; ".join(f) or None)
    return flags

"""The backlog in evidence order, and what moved since last week (docs/backlog.md).

The product's open backlog items (conf/product.toml and its CSV export) ordered by the warehouse's
evidence as of the report week's end, so a past week's report shows the same order again: the top
``[backlog] top`` items with their score, interval, probability of being in the top N, whether they
fit the cycle's capacity and the plain sentence of why; what moved against the last published
ordering (``b.publish``) with the evidence that changed since; the product owner's overrides with
their reasons (shown, never silently applied); each objective against its target; and the
before/after of items shipped in the last ``[backlog] shipped_weeks`` weeks.

Without a product file the section says so in one line. A product file or backlog export that
cannot be read stops this section (said in the report, with the error's code and hint), not the
whole report. Every text from the data (titles, reasons that quote tickets, override reasons) is
redacted and escaped: tables through ``ctx.table``, Markdown through ``literal``.
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from ... import format as fmt
from ...charts.backlog import impact_figure, objective_value, objectives_figure, order_figure
from ...config import find_root
from ...errors import PoaError, PoaWarning
from ..context import esc
from . import Section, register
from .voice import literal

FRAMEWORKS = {
    "rice": "RICE (Intercom): reach x impact x confidence / effort",
    "ice": "ICE: impact x confidence x ease",
    "wsjf": "WSJF (SAFe): cost of delay (business value + time criticality + risk reduction) "
    "/ job size",
    "value_effort": "value/effort quadrants (quick wins first, then by value per week of effort)",
}
NO_PRODUCT = "backlog.no_product"


def build(ctx: Any) -> None:
    with warnings.catch_warnings():
        # the week's end is the data's date by design (a past week's report stays the same); the
        # latest week's data ends hours before it, which is no gap worth a warning on the page
        warnings.filterwarnings(
            "ignore", message=r"\[backlog\.as_of_after_data\]", category=PoaWarning
        )
        _build(ctx)


def _build(ctx: Any) -> None:
    bc = ctx.config.backlog
    as_of = ctx.week.end
    try:
        b = ctx.wb.backlog(bc.backlog or None, as_of=as_of)
        order = b.order(framework=bc.framework, capacity=bc.capacity or None).table
    except PoaError as exc:
        if exc.code == NO_PRODUCT:
            ctx.markdown(
                "No product file (conf/product.toml): no objectives or backlog to order. Write "
                "the vision, objectives and backlog there to get this section (docs/backlog.md)."
            )
            return
        if not exc.code.startswith("backlog."):
            raise
        where = f"{exc.file}" + (f" line {exc.row}" if exc.row is not None else "")
        ctx.markdown(
            f"**The backlog could not be ordered:** [{exc.code}] "
            + (f"{esc(where)}: " if exc.file else "")
            + f"{esc(exc.message)} What to do: {esc(exc.hint or '')}"
        )
        return
    planning = b.config.planning
    capacity = bc.capacity or planning.capacity
    ctx.markdown(_intro(ctx, b, order, capacity))
    _ordered(ctx, b, order, capacity)
    _moves(ctx, b, order)
    _overrides(ctx, order)
    _objectives(ctx, b)
    _shipped(ctx, b)


def prepare(ctx: Any) -> None:
    """Theme evidence and theme objectives read the voice tables: refresh them when the tickets,
    notes or taxonomy changed (a write, so before the section's read-only attach). Its errors come
    again from the section's first call, which shows them."""
    refresh = getattr(ctx.wb, "voice_refresh", None)
    if refresh is None:
        return
    try:
        refresh()
    except PoaError as exc:
        if not exc.code.startswith("voice."):
            raise


# -- the parts ----------------------------------------------------------------------------------


def _intro(ctx: Any, b: Any, order: pd.DataFrame, capacity: float | None) -> str:
    planning = b.config.planning
    weeks = planning.period_weeks
    start = ctx.week.end + pd.Timedelta(microseconds=1) - pd.Timedelta(weeks=weeks)
    load = b.load
    source = load.source or b.config.path
    framework = ctx.config.backlog.framework
    text = (
        f"Evidence up to the end of {ctx.week.label} ({ctx.week.sunday}): the {weeks} weeks from "
        f"{start:%Y-%m-%d}, against the {weeks} weeks before them. Ordered by "
        f"{FRAMEWORKS[framework]}"
    )
    if framework in ("rice", "value_effort"):
        text += f"; reach is measured users per {planning.reach_weeks} weeks"
    text += (
        f". {fmt.count(len(order))} open items of {fmt.count(len(b.item_list))} read from "
        f"{esc(_relative(source))}"
    )
    quarantined = int(load.accounting.get("quarantined", 0) or 0)
    if quarantined:
        text += f" ({fmt.count(quarantined)} rows quarantined: `b.load.quarantine`)"
    text += "."
    if capacity:
        text += f" Capacity this cycle: {fmt.count(capacity)} person-weeks."
    else:
        text += " No capacity is set ([planning] capacity), so nothing is said about what fits."
    text += (
        f" The Monte Carlo run ({fmt.count(planning.simulations)} draws, seed {planning.seed}) "
        "gives each score its interval and each item its chance of being in the top "
        f"{planning.top_n}."
    )
    return text


def _relative(path: Any) -> str:
    """A file's path from the project root (conf/product.toml), else as given."""
    try:
        return str(Path(str(path)).resolve().relative_to(find_root().resolve()))
    except (ValueError, OSError, PoaError):
        return str(path)


def _ordered(ctx: Any, b: Any, order: pd.DataFrame, capacity: float | None) -> None:
    top = ctx.config.backlog.top
    n = b.config.planning.top_n
    framework = ctx.config.backlog.framework
    by = "" if framework == "rice" else " by RICE"
    ctx.markdown(
        f"### In evidence order\n\nThe top {top} open items. Score: the framework's score with "
        f"its interval (the middle 90% of the Monte Carlo draws); p(top {n}){by}: how often the "
        f"item was among the top {n}{by} in those draws, so a place near 100% is solid and one "
        "near 50% a coin toss. Why: the strongest evidence for the item, from the warehouse."
    )
    if order.empty:
        ctx.markdown("No open item to order.")
        return
    shown = order.head(top)
    table = pd.DataFrame(
        {
            "#": [fmt.count(r) for r in shown["rank"]],
            "item": shown["item_id"].astype(str),
            "title": shown["title"].fillna("").astype(str),
            "score (interval)": [_score(r) for _, r in shown.iterrows()],
            f"p(top {n}){by}": [fmt.percent(v, 0) for v in shown["p_top_n"]],
        }
    )
    if capacity:
        table["this cycle"] = [_fits(v) for v in shown["fits"]]
    table["why"] = shown["reason"].fillna("").astype(str).to_numpy()
    if "override_reason" in shown and shown["override_reason"].notna().any():
        table["override"] = [
            ""
            if pd.isna(r["override_reason"])
            else f"set to #{int(r['rank'])} "
            f"(evidence: #{int(r['evidence_rank'])}): {r['override_reason']}"
            for _, r in shown.iterrows()
        ]
    ctx.table(table)
    rest = len(order) - len(shown)
    if rest > 0:
        ctx.markdown(f"{fmt.count(rest)} more open items follow (`b.order().table`).")
    ctx.figure(
        order_figure(shown, top_n=n, title="The backlog in evidence order", framework=framework),
        key="backlog_order",
        title="The backlog in evidence order",
    )


def _score(r: pd.Series) -> str:
    if pd.isna(r.get("score")):
        return fmt.MISSING
    text = _number(r["score"])
    if not pd.isna(r.get("score_low")) and not pd.isna(r.get("score_high")):
        text += f" ({_number(r['score_low'])} to {_number(r['score_high'])})"
    return text


def _number(v: Any) -> str:
    v = float(v)
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _fits(v: Any) -> str:
    if v is None or (not isinstance(v, bool) and pd.isna(v)):
        return fmt.MISSING
    return "fits" if bool(v) else "beyond capacity"


def _moves(ctx: Any, b: Any, order: pd.DataFrame) -> None:
    """The order now against the newest ordering published up to the week's end."""
    ctx.markdown("### What moved since the last published ordering")
    log = ctx.wb.decision_log().table
    if not log.empty:
        as_of = pd.to_datetime(log["as_of"], utc=True)
        log = log[as_of <= ctx.week.end]
    if log.empty:
        ctx.markdown(
            "Nothing published yet: publish an ordering with `b.publish(note=...)` (or "
            "`poanalytics backlog publish`) and the next report says what moved against it and why."
        )
        return
    last_id = log["snapshot_id"].max()
    last = log[log["snapshot_id"] == last_id]
    first = last.iloc[0]
    note = "" if pd.isna(first.get("note")) else f' (note: "{literal(ctx.redact(first["note"]))}")'
    before = {
        str(r.item_id): int(r.rank) for r in last.itertuples(index=False) if not pd.isna(r.rank)
    }
    now = {str(r.item_id): int(r.rank) for r in order.itertuples(index=False)}
    top = ctx.config.backlog.top
    watched = _watched(before, now, top)
    statuses = dict(zip(b.items["item_id"].astype(str), b.items["status"], strict=False))
    changes = _evidence_changes(ctx, int(last_id), b, [i for i in watched if i in now])
    lines, kept = [], 0
    for item in watched:
        line = _move_line(ctx, b, item, before, now, statuses)
        if line is None:
            kept += 1
            continue
        if item in now and changes.get(item):
            line += f"; new evidence: {literal(ctx.redact(changes[item]))}"
        lines.append(line)
    intro = (
        f"Against the ordering published {pd.Timestamp(first['published_at']):%Y-%m-%d} "
        f"(snapshot {int(last_id)}, evidence up to {pd.Timestamp(first['as_of']):%Y-%m-%d})"
        f"{note}, looking at the top {top}:"
    )
    if lines:
        body = "\n".join(lines)
        if kept:
            body += f"\n\n{kept} items kept their place."
    else:
        body = "every item kept its place."
    ctx.markdown(f"{intro}\n\n{body}")
    if log["snapshot_id"].nunique() > 1:
        charts = importlib.import_module("poanalytics.charts.backlog")
        ctx.figure(charts.rank_changes_figure(log, top=min(top, 9)), title="Rank changes")


def _watched(before: dict[str, int], now: dict[str, int], top: int) -> list[str]:
    """The items whose place is reported: the top now, the top then that left the order, then
    every other item that left it."""
    watched = [i for i in now if now[i] <= top] + [
        i for i, r in sorted(before.items(), key=lambda kv: kv[1]) if r <= top and i not in now
    ]
    watched += [i for i in before if i not in now and i not in watched]
    return watched


def _move_line(
    ctx: Any,
    b: Any,
    item: str,
    before: dict[str, int],
    now: dict[str, int],
    statuses: dict[str, Any],
) -> str | None:
    """The item's line: left the order, new, up or down; None when it kept its place."""
    title = literal(ctx.redact(_title(b, item)))
    if item not in now:
        status = statuses.get(item)
        why = f" ({esc(status)})" if status in ("shipped", "dropped") else ""
        return f"- **{esc(item)}** {title}: left the order{why}, was #{before[item]}"
    if item not in before:
        return f"- **{esc(item)}** {title}: new at #{now[item]}"
    if now[item] != before[item]:
        step = before[item] - now[item]
        word = "up" if step > 0 else "down"
        return (
            f"- **{esc(item)}** {title}: {word} {abs(step)} to #{now[item]} (was #{before[item]})"
        )
    return None


def _title(b: Any, item: str) -> str:
    found = b.items[b.items["item_id"].astype(str) == item]
    return "" if found.empty else str(found["title"].iloc[0] or "")


def _evidence_changes(ctx: Any, snapshot: int, b: Any, items: list[str]) -> dict[str, str]:
    """Per item: its evidence that changed since the snapshot, in the decision log's words."""
    if not items:
        return {}
    log = importlib.import_module("poanalytics.backlog.log")
    cols = ["kind", "link", "value", "unit"]
    then = ctx.wb.sql(
        "SELECT item_id, kind, link, value, unit FROM backlog_snapshot_evidence "
        "WHERE snapshot_id = $snapshot",
        {"snapshot": snapshot},
    )
    ledger = b.ledger()
    out = {}
    for item in items:
        before = then[then["item_id"] == item][cols].reset_index(drop=True)
        after = ledger[ledger["item_id"] == item][cols].reset_index(drop=True)
        said = log.describe_changes(before, after)
        if said:
            out[item] = said
    return out


def _overrides(ctx: Any, order: pd.DataFrame) -> None:
    ctx.markdown("### Overrides")
    rows = order[order["override_reason"].notna()] if "override_reason" in order else order[:0]
    if rows.empty:
        ctx.markdown("No override: the order above is the evidence's own.")
        return
    lines = [
        f"- **{esc(r['item_id'])}** at #{int(r['rank'])}, where the evidence puts it at "
        f"#{int(r['evidence_rank'])}: {literal(ctx.redact(str(r['override_reason'])))}"
        for _, r in rows.iterrows()
    ]
    ctx.markdown(
        "Places the product owner set by hand (`b.override(item, rank, reason)`), each with its "
        "reason; the evidence's own rank stays beside it and in the decision log.\n\n"
        + "\n".join(lines)
    )


def _objectives(ctx: Any, b: Any) -> None:
    ctx.markdown("### Objectives against their targets")
    if not b.config.objectives:
        ctx.markdown("No objective in the product file yet.")
        return
    t = b.objectives().table
    if "unit" not in t:
        t = t.assign(unit=None)
    table = pd.DataFrame(
        {
            "objective": t["objective"].astype(str),
            "metric": t["metric"].astype(str),
            "baseline": [
                objective_value(v, m, u)
                for v, m, u in zip(t.baseline, t.metric, t.unit, strict=True)
            ],
            "now": [
                objective_value(v, m, u)
                + (
                    f" ({objective_value(lo, m, u)} to {objective_value(hi, m, u)})"
                    if not pd.isna(lo) and not pd.isna(hi)
                    else ""
                )
                for v, lo, hi, m, u in zip(
                    t.current, t.ci_low, t.ci_high, t.metric, t.unit, strict=True
                )
            ],
            "target": [
                objective_value(v, m, u) for v, m, u in zip(t.target, t.metric, t.unit, strict=True)
            ],
            "progress": [fmt.percent(v, 0) for v in t["progress"]],
            "note": [_note(r) for _, r in t.iterrows()],
        }
    )
    ctx.markdown(
        "Each objective's metric measured over the evidence window, with its 95% interval; "
        "progress: 0% at the baseline, 100% at the target (whichever way the target lies)."
    )
    ctx.table(table)
    ctx.figure(objectives_figure(t), title="Objectives")


def _note(r: pd.Series) -> str:
    flag = r.get("flag")
    detail = r.get("detail")
    parts = [str(v) for v in (flag, detail) if isinstance(v, str) and v.strip()]
    return "; ".join(parts)


def _shipped(ctx: Any, b: Any) -> None:
    weeks = ctx.config.backlog.shipped_weeks
    ctx.markdown(f"### Shipped in the last {weeks} weeks: before and after")
    items = b.items
    when = pd.to_datetime(items["shipped_at"], utc=True, errors="coerce")
    since = ctx.week.end - pd.Timedelta(weeks=weeks)
    shipped = items[(items["status"] == "shipped") & (when > since) & (when <= ctx.week.end)]
    if shipped.empty:
        ctx.markdown(f"No item was shipped in the {weeks} weeks up to {ctx.week.label}.")
        return
    ctx.markdown(
        "Each shipped item's linked metrics over the weeks before its ship date against the same "
        "length after it (cut at the week's end): adoption of its events, conversion at its "
        "steps, tickets of its themes per week, with the change's 95% interval."
    )
    for _, item in shipped.sort_values("shipped_at").iterrows():
        item_id = str(item["item_id"])
        head = (
            f"**{esc(item_id)}** {literal(ctx.redact(str(item['title'] or '')))}, shipped "
            f"{when[item.name]:%Y-%m-%d}"
        )
        try:
            t = b.impact(item_id).table
        except PoaError as exc:
            if not exc.code.startswith("backlog."):
                raise
            ctx.markdown(f"{head}: {esc(exc.message)}")
            continue
        if t.empty:
            ctx.markdown(f"{head}: no linked metric to compare.")
            continue
        ctx.markdown(head)
        ctx.table(_impact_table(t))
        ctx.figure(impact_figure(t, item_id), title=f"{item_id} before and after")


def _impact_table(t: pd.DataFrame) -> pd.DataFrame:
    rate = t["metric"].isin(["adoption", "conversion"])
    shown = [
        (fmt.percent(v) if r else fmt.count(round(v, 1)) if not pd.isna(v) else fmt.MISSING)
        for v, r in zip(t["before"], rate, strict=True)
    ]
    after = [
        (fmt.percent(v) if r else fmt.count(round(v, 1)) if not pd.isna(v) else fmt.MISSING)
        for v, r in zip(t["after"], rate, strict=True)
    ]
    return pd.DataFrame(
        {
            "metric": t["metric"].astype(str),
            "link": t["link"].astype(str),
            "before": shown,
            "after": after,
            "change (95% interval)": [_change(r) for _, r in t.iterrows()],
            "clear": ["yes" if bool(v) else "no" for v in t["significant"].fillna(False)],
            "flag": t["flag"].fillna("").astype(str),
        }
    )


def _change(r: pd.Series) -> str:
    change, lo, hi = r.get("change"), r.get("ci_low"), r.get("ci_high")
    if change is None or pd.isna(change):
        return fmt.MISSING
    ratio = str(r.get("change_kind") or "") == "ratio" or r["metric"] == "tickets"
    if ratio:
        text = f"x{change:.2g}"
        bounds = f" (x{lo:.2g} to x{hi:.2g})" if not pd.isna(lo) and not pd.isna(hi) else ""
    else:
        text = fmt.signed_points(change)
        bounds = (
            f" ({fmt.signed_points(lo)} to {fmt.signed_points(hi)})"
            if not pd.isna(lo) and not pd.isna(hi)
            else ""
        )
    return text + bounds


register(
    Section(
        name="backlog",
        title="The backlog in evidence order, and what moved since last week",
        order=37,
        build=build,
        prepare=prepare,
    )
)

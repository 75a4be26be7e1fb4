"""Voice of the customer: what the week's tickets and interview highlights were about (docs/voice.md).

The week's themes (items, unique problems, users, change against the week before, sentiment with its
method), the themes that spiked this week against their own history, how the themes go with churn
and with dropping off at the report funnel's step that loses the most users (lift, interval,
significance, small samples flagged, the join rate said), and the best quotes of the largest
themes, redacted, each with where it comes from. ``[voice]`` in conf/report.toml sets the source,
how many themes are listed and how many quotes are shown.

Themes come from conf/themes.toml; without it, from discovered themes (said so). Everything goes
through the Workbench (``ctx.wb.themes``, ``theme_trends``, ``theme_lift``, ``quotes``), which
refreshes the voice tables first when the tickets, notes or taxonomy changed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from ... import format as fmt
from ...charts.voice import lift_figure, theme_trends_figure, themes_figure
from ...config import find_root
from ...errors import PoaError
from ...voice.people import join_text
from ...voice.sentiment import METHOD
from ..context import esc
from . import Section, register
from ._common import closed_week, funnel

SOURCES = {"all": "tickets and interview highlights", "tickets": "tickets", "notes": "highlights"}


def build(ctx: Any) -> None:
    vc = ctx.config.voice
    counts = _counts(ctx, vc.source)
    if not counts["ever"]:
        ctx.markdown(
            f"No {SOURCES[vc.source]} in the warehouse up to {ctx.week.label}: nothing to read "
            "yet (load tickets or interview notes; docs/voice.md)."
        )
        return
    try:
        themes = ctx.wb.themes(source=vc.source, date_from=ctx.date_from, date_to=ctx.date_to)
    except PoaError as exc:
        if not exc.code.startswith("voice.taxonomy") and exc.code != "voice.read_only":
            raise
        # a typo in conf/themes.toml stops this section, said in the report, not the whole report
        where = _relative(exc.file) if exc.file else ""
        if exc.row is not None:
            where += f" line {exc.row}"
        ctx.markdown(
            f"**The themes could not be read:** [{exc.code}] "
            + (f"{esc(where.strip())}: " if where.strip() else "")
            + f"{esc(exc.message)} What to do: {esc(exc.hint or '')}"
        )
        return
    ctx.markdown(_intro(ctx, counts, _taxonomy(ctx)))
    full = themes.table
    table = full[full["items"] > 0]  # the week's themes; the others are counted below
    previous = ctx.week.shift(-1).label
    if not table.empty:
        ctx.markdown(
            f"### Themes in {ctx.week.label}\n\n"
            "Items: tickets and highlights in the theme (an item can be in several). Unique "
            "problems: near-duplicates (the same problem reported again) counted once. Users: "
            f"the people behind the items. Change: items against {previous}. Sentiment: the mean "
            f"score by {esc(METHOD)}, -1 to +1, over the items it can score (English text)."
        )
        ctx.table(_themes_table(table, vc.top, previous))
        quiet = full[(full["items"] == 0)]
        notes = []
        if len(table) > vc.top:
            notes.append(f"{len(table) - vc.top} smaller themes are not listed.")
        if len(quiet):
            notes.append(
                f"{len(quiet)} themes had no item in {ctx.week.label}: "
                + ", ".join(esc(t) for t in quiet["theme"].head(10))
                + (" ..." if len(quiet) > 10 else "")
                + "."
            )
        if notes:
            ctx.markdown(" ".join(notes))
        ctx.figure(themes_figure(table, method=METHOD), key="voice_themes", title="Themes")
    _spikes(ctx, vc.source)
    _lift(ctx, vc.source)
    if not table.empty and vc.quote_themes:
        _quotes(ctx, table, vc)


def prepare(ctx: Any) -> None:
    """Refresh the voice tables when the tickets, notes or taxonomy changed: a write, so it runs
    before the section's read-only attach (not at all without tickets and notes). Its errors (a
    broken taxonomy, a read-only warehouse) come again from the first voice call of ``build``,
    which shows them."""
    if not _counts(ctx, ctx.config.voice.source)["ever"]:
        return
    try:
        ctx.wb.voice_refresh()
    except PoaError as exc:
        if not exc.code.startswith("voice."):
            raise


def _counts(ctx: Any, source: str) -> dict[str, int]:
    """Tickets and highlights up to the week's end (``ever``) and in the week."""
    row = ctx.wb.sql(
        "WITH items AS ("
        " SELECT 'tickets' AS source, created_at AS created FROM tickets"
        " UNION ALL SELECT 'notes', n.date FROM note_highlights h"
        " JOIN notes n ON n.note_id = h.note_id AND n.source_key = h.source_key)"
        " SELECT count(*) FILTER (WHERE created <= $hi) AS ever,"
        " count(*) FILTER (WHERE created BETWEEN $lo AND $hi AND source = 'tickets') AS tickets,"
        " count(*) FILTER (WHERE created BETWEEN $lo AND $hi AND source = 'notes') AS notes"
        " FROM items WHERE $source = 'all' OR source = $source",
        {"lo": ctx.date_from, "hi": ctx.date_to, "source": source},
    )
    return {k: int(row[k].iloc[0]) for k in ("ever", "tickets", "notes")}


def _taxonomy(ctx: Any) -> dict[str, Any]:
    """The refresh the themes were read from: the taxonomy's version and file (None: discovered)."""
    found = ctx.wb.sql(
        "SELECT taxonomy_version, taxonomy_file, items, unassigned FROM voice_refresh "
        "ORDER BY refresh_id DESC LIMIT 1"
    )
    return {} if found.empty else found.iloc[0].to_dict()


def _intro(ctx: Any, counts: dict[str, int], refresh: dict[str, Any]) -> str:
    week = ctx.week.label
    said = f"{fmt.count(counts['tickets'])} tickets and {fmt.count(counts['notes'])} interview "
    said += f"highlights in {week}."
    file, version = refresh.get("taxonomy_file"), str(refresh.get("taxonomy_version") or "")
    if file and not pd.isna(file):
        said += (
            f" Themes from the taxonomy {esc(_relative(file))} (version {esc(version[:12])}); "
            "every assignment records the words that matched."
        )
    else:
        said += (
            " There is no taxonomy (conf/themes.toml), so the themes are discovered ones (groups "
            "of similar text, labelled by their terms): accept them into the taxonomy with "
            "`wb.accept_themes(...)` to name and keep them."
        )
    if not counts["tickets"] + counts["notes"]:
        said += f" Nothing was said in {week}; the trends and links below cover earlier weeks."
    return said


def _relative(file: str) -> str:
    """The taxonomy's path from the project root (conf/themes.toml), else as stored."""
    try:
        return str(Path(file).resolve().relative_to(find_root().resolve()))
    except (ValueError, OSError, PoaError):
        return str(file)


def _themes_table(table: pd.DataFrame, top: int, previous: str) -> pd.DataFrame:
    rows = table.sort_values(["items", "theme"], ascending=[False, True]).head(top)
    out = pd.DataFrame({"theme": rows["theme"].astype(str)})
    out["items"] = [fmt.count(v) for v in rows["items"]]
    if "unique_problems" in rows:
        out["unique problems"] = [fmt.count(v) for v in rows["unique_problems"]]
    if "users" in rows:
        out["users"] = [fmt.count(v) for v in rows["users"]]
    if "share" in rows:
        out["share of items"] = [fmt.percent(v) for v in rows["share"]]
    if "items_previous" in rows:
        out[previous] = [fmt.count(v) for v in rows["items_previous"]]
    if "trend" in rows:
        before = rows["items_previous"] if "items_previous" in rows else [None] * len(rows)
        out["change"] = [_change(v, b) for v, b in zip(rows["trend"], before, strict=True)]
    if "sentiment" in rows:
        out[f"sentiment, {METHOD}"] = [
            fmt.MISSING if pd.isna(v) else f"{v:+.2f}" for v in rows["sentiment"]
        ]
    return out


def _change(value: Any, before: Any = None) -> str:
    """A relative change: +50.0%, -20.0%; "new" when the week before had none (no ratio); "—"
    when the week before is not covered by the data."""
    if value is None or pd.isna(value):
        return "new" if before is not None and not pd.isna(before) and before == 0 else fmt.MISSING
    return ("+" if value > 0 else "") + fmt.percent(value)


def _spikes(ctx: Any, source: str) -> None:
    trends = ctx.wb.theme_trends(
        period="week", source=source, date_from=ctx.history.start, date_to=ctx.date_to
    )
    t = trends.table
    when = next((c for c in ("period_start", "week", "period") if c in t), None)
    ctx.markdown(
        f"### Spikes, {ctx.history.label} to {ctx.week.label}\n\nItems per theme and week; a "
        "spike is a week well above the theme's own usual volume (docs/voice.md)."
    )
    if t.empty or when is None:
        ctx.markdown("No item in these weeks.")
        return
    week_start = pd.Timestamp(ctx.week.start)
    starts = pd.to_datetime(t[when], utc=True)
    hit = (
        t[t["spike"].fillna(False).astype(bool) & (starts == week_start)] if "spike" in t else t[:0]
    )
    volume = next(c for c in ("items", "volume", "count") if c in t)
    if hit.empty:
        ctx.markdown(f"No theme spiked in {ctx.week.label}.")
    else:
        usual = next((c for c in ("expected", "baseline", "usual") if c in t), None)
        lines = [
            f"- **{esc(r['theme'])}**: {fmt.count(r[volume])} items"
            + (f" from {_people(r['people'])}" if "people" in t else "")
            + (f" against a usual {fmt.count(round(r[usual], 1))}" if usual else "")
            for _, r in hit.sort_values([volume, "theme"], ascending=[False, True])
            .head(ctx.config.voice.top)
            .iterrows()
        ]
        if len(hit) > ctx.config.voice.top:
            lines.append(f"- and {len(hit) - ctx.config.voice.top} more")
        ctx.markdown(f"Spiking in {ctx.week.label}:\n\n" + "\n".join(lines))
    ctx.figure(theme_trends_figure(t), key="voice_trends", title="Themes by week")


def _people(n: Any) -> str:
    """'1 person', '3 people': who is behind a spike's items (one interview's highlights are one)."""
    return "1 person" if int(n) == 1 else f"{fmt.count(int(n))} people"


def _lift(ctx: Any, source: str) -> None:
    days = ctx.config.churn.inactive_days
    churn = ctx.wb.theme_lift(  # judged at the week's end: a past week's report stays the same
        outcome="churn", inactive_days=days, source=source, date_to=ctx.date_to, as_of=ctx.week.end
    )
    ctx.markdown(
        f"### Themes and churn\n\nChurned: no event for {days} days. Lift: the share churned "
        "among users who raised the theme over the share among users who did not, with a 95% "
        "interval; a theme is called out only when the difference is significant (Holm-adjusted "
        "p < 0.05 over the themes) and neither side is a small sample. " + esc(churn.summary())
    )
    _lift_result(ctx, churn, "churned", key="voice_churn", top=ctx.config.voice.top)
    step = _drop_step(ctx)
    if step is None:
        return
    f, number, name, dropped = step
    drop = ctx.wb.theme_lift(outcome=(f, number), source=source, date_to=ctx.date_to)
    ctx.markdown(
        f"### Themes and dropping off at {esc(name)}\n\nThe report funnel's step that loses the "
        f"most users ({fmt.count(dropped)} of those who entered {ctx.history.label} to "
        f"{closed_week(ctx).label} stopped before it): how often users who dropped there raised "
        "each theme compared with users who went on. " + esc(drop.summary())
    )
    _lift_result(ctx, drop, f"dropped at {name}", key=None, top=ctx.config.voice.top)


def _drop_step(ctx: Any) -> tuple[Any, int, str, int] | None:
    """(funnel, step number, step name, dropped) for the report funnel's step with the most
    drop-offs over the closed weeks of the history window; None when nobody dropped."""
    f = funnel(ctx, ctx.history, closed_week(ctx), on=ctx.wb)  # joined to tickets and notes
    t = f.table[f.table["step"] > 1]
    if t.empty or not t["dropped"].sum():
        return None
    row = t.sort_values(["dropped", "step"], ascending=[False, True]).iloc[0]
    return f, int(row["step"]), str(row["name"]), int(row["dropped"])


def _lift_result(ctx: Any, result: Any, label: str, key: str | None, top: int) -> None:
    """The lift chart (the join rate under its title) and the table of the ``top`` themes most
    users raised, small samples said; themes nobody compared raised are counted, not listed."""
    t = result.table
    raised = t[t["users_with"] > 0]
    if len(raised) < len(t):
        ctx.markdown(
            f"{len(t) - len(raised)} themes were raised by none of the users compared"
            + (": nothing to compare for them." if len(raised) else "; nothing to compare.")
        )
    t = raised.sort_values(["users_with", "theme"], ascending=[False, True]).head(top)
    if t.empty:
        return  # the summary above says why (no items, or none joined to a user)
    if t["lift"].notna().any():  # else nothing sits on the axis: the table says "no ratio"
        ctx.figure(
            lift_figure(t, outcome_label=label, join_rate=join_text(result.join)),
            key=key,
            title=f"Themes and {label}",
        )
    rows = t
    ctx.table(
        pd.DataFrame(
            {
                "theme": rows["theme"].astype(str),
                "users who raised it": [fmt.count(v) for v in rows["users_with"]],
                label: [fmt.percent(v) for v in rows["rate_with"]],
                f"{label}, the others": [fmt.percent(v) for v in rows["rate_without"]],
                "lift (95% interval)": [_lift_text(r) for _, r in rows.iterrows()],
                "p (Holm)": [fmt.p_value(v) for v in rows.get("p_adjusted", rows["p_value"])],
                "judged": [
                    "small sample" if s else ("clear" if c else "not clear")
                    for s, c in zip(rows["small_sample"], rows["significant"], strict=True)
                ],
            }
        )
    )


def _lift_text(r: pd.Series) -> str:
    if pd.isna(r["lift"]):
        return "no ratio"
    if pd.isna(r["ci_low"]):
        return f"{r['lift']:.2g}"
    return f"{r['lift']:.2g} ({r['ci_low']:.2g} to {r['ci_high']:.2g})"


def _quotes(ctx: Any, table: pd.DataFrame, vc: Any) -> None:
    top = table.sort_values(["items", "theme"], ascending=[False, True]).head(vc.quote_themes)
    lines = []
    for theme in top["theme"].astype(str):
        q = ctx.wb.quotes(theme, n=vc.quotes, source=vc.source).table
        if q.empty:
            continue
        lines.append(f"**{esc(theme)}**\n")
        for _, r in q.iterrows():
            where = r["ref"] if "ref" in r else f"{r['source']} {r['item_id']}"
            when = f", {pd.Timestamp(r['date']):%Y-%m-%d}" if not pd.isna(r.get("date")) else ""
            lines.append(
                f"> {literal(ctx.redact(str(r['quote'])))}\n>\n> — {literal(where)}{when}\n"
            )
    ctx.markdown(
        "### What people said\n\nThe most representative short quotes of the week's largest "
        "themes (chosen from all of each theme's items, not only this week's), with where each "
        "comes from; names, e-mails and other personal data are redacted (docs/redaction.md)."
    )
    ctx.markdown("\n".join(lines) if lines else "No quote to show.")


MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~])")


def literal(text: Any) -> str:
    """Data text to show inside Markdown as it is: one line, HTML escaped, and every character
    Markdown reads as markup backslash-escaped, so a quote holding ``[x](http://...)``, ``*`` or
    ``#`` shows those characters instead of a link, emphasis or a heading."""
    return MARKDOWN.sub(r"\\\1", esc(" ".join(str(text).split())))


register(
    Section(name="voice", title="Voice of the customer", order=35, build=build, prepare=prepare)
)

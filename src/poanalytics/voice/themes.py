"""Themes with their volumes: ``wb.themes(source="all", date_from=None, date_to=None)``.

Read from the stored refresh (voice.store), one row per theme of it (a theme no item matched is
there with 0 items), largest first:

* ``items``: tickets and highlights of the range in the theme (an item in two themes counts in
  each; ``share`` is of all items in the range, so shares can add up to more than 1);
* ``unique_problems``: items, with each near-duplicate group (voice.duplicates) counted once;
* ``users``: distinct people behind the items: the loaded user_id, else the lower-cased e-mail;
  items with neither are not counted;
* ``sentiment``: mean sentiment score of the theme's items that have one (voice.sentiment; NULL
  when none has);
* ``trend``: change of ``items`` against the previous period of the same length, as a fraction
  (0.5 = +50%): (items - items_previous) / items_previous. The period is [date_from, date_to] (a
  bare date_to is the whole day; a missing bound is the first or last item's time of the source),
  the previous period the same length just before date_from. ``trend`` and ``items_previous`` are
  NULL when the previous period is not covered by data (it starts before the source's first item,
  e.g. always when no date_from is given), and ``trend`` is NULL when ``items_previous`` is 0 (a
  change from nothing has no ratio), never a made-up +100%;
* ``origin``: "taxonomy" or "discovered".

``result.assignments``: source, item_id, theme, matched_terms of the items in the range.
With a date range, items with no date (a note without one) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from ..db import fetch_df
from ..errors import PoaWarning
from ..metrics.result import MetricResult
from ..metrics.validate import metric_boundary
from ..sql import Params
from .items import SOURCES, check_range, check_source

TABLE_COLUMNS = [
    "theme",
    "items",
    "unique_problems",
    "users",
    "share",
    "sentiment",
    "trend",
    "items_previous",
    "origin",
]


@dataclass(kw_only=True)
class ThemesQuery:
    source: str = "all"
    date_from: Any = None
    date_to: Any = None
    lo: pd.Timestamp | None = field(default=None, init=False, repr=False)
    hi: pd.Timestamp | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        check_source(self.source)
        self.lo, self.hi = check_range(self.date_from, self.date_to)

    @property
    def sources(self) -> tuple[str, ...]:
        return SOURCES if self.source == "all" else (self.source,)


@dataclass
class ThemesResult(MetricResult):
    assignments: pd.DataFrame = field(default_factory=pd.DataFrame)
    items_in_range: int = 0  # items of the source in the range (share's denominator)
    unassigned: dict[str, int] = field(default_factory=dict)  # reason -> items in the range

    def figure(self):
        from ..charts.voice import themes_figure

        return themes_figure(self.table, method=sentiment_method())

    def summary_table(self) -> pd.DataFrame:
        """The table as text: share in percent, trend as a signed percent change ("+50.0%", "—"
        when there is none), sentiment with two decimals."""
        from .. import format as fmt

        out = super().summary_table()
        out["trend"] = [
            fmt.MISSING if pd.isna(v) else ("+" if v > 0 else "") + fmt.percent(v)
            for v in self.table["trend"]
        ]
        out["sentiment"] = [
            fmt.MISSING if pd.isna(v) else f"{v:+.2f}" for v in self.table["sentiment"]
        ]
        return out


def sentiment_method() -> str:
    """The sentiment method's short name for charts (voice.sentiment.METHOD)."""
    from .sentiment import METHOD

    return METHOD


def _scope(q: ThemesQuery, p: Params) -> str:
    """CTEs: ``scope`` (items of the source in the newest refresh), ``period`` (lo, hi_excl,
    first_at) and ``cur`` (items of the range)."""
    sources = ", ".join(p.add(s) for s in q.sources)
    lo = p.add(q.lo.to_pydatetime()) if q.lo is not None else "NULL"
    hi = p.add(q.hi.to_pydatetime()) if q.hi is not None else "NULL"
    ranged = q.lo is not None or q.hi is not None
    cur_where = "v.created_at >= period.lo AND v.created_at < period.hi_excl" if ranged else "true"
    return f"""rid AS (SELECT max(refresh_id) AS rid FROM voice_refresh),
        scope AS (SELECT v.* FROM voice_items AS v, rid
                  WHERE v.refresh_id = rid.rid AND v.source IN ({sources})),
        period AS (SELECT CAST(coalesce({lo}, min(created_at)) AS TIMESTAMPTZ) AS lo,
                          CAST(coalesce({hi}, max(created_at)) AS TIMESTAMPTZ)
                              + INTERVAL 1 MICROSECOND AS hi_excl,
                          min(created_at) AS first_at
                   FROM scope),
        cur AS (SELECT v.* FROM scope AS v, period WHERE {cur_where}),
        prev AS (SELECT v.* FROM scope AS v, period
                 WHERE v.created_at >= period.lo - (period.hi_excl - period.lo)
                   AND v.created_at < period.lo),
        covered AS (SELECT first_at IS NOT NULL AND lo IS NOT NULL
                           AND first_at <= lo - (hi_excl - lo) AS ok FROM period)"""


def themes_sql(q: ThemesQuery, p: Params) -> str:
    """The SQL of ``ThemesResult.table`` (no connection needed)."""
    return f"""WITH {_scope(q, p)},
        asg AS (SELECT a.* FROM voice_assignments AS a, rid WHERE a.refresh_id = rid.rid),
        now_ AS (SELECT a.theme, count(*) AS items,
                        count(DISTINCT CASE WHEN c.dup_group IS NULL THEN c.source || ':' || c.item_id
                                            ELSE 'dup:' || c.dup_group END) AS unique_problems,
                        count(DISTINCT coalesce(c.user_id, 'email:' || lower(trim(c.email)))) AS users,
                        avg(c.sentiment) AS sentiment
                 FROM asg AS a JOIN cur AS c ON c.source = a.source AND c.item_id = a.item_id
                 GROUP BY a.theme),
        before AS (SELECT a.theme, count(*) AS items
                   FROM asg AS a JOIN prev AS c ON c.source = a.source AND c.item_id = a.item_id
                   GROUP BY a.theme),
        total AS (SELECT count(*) AS n FROM cur)
        SELECT t.theme,
               coalesce(n.items, 0) AS items,
               coalesce(n.unique_problems, 0) AS unique_problems,
               coalesce(n.users, 0) AS users,
               CASE WHEN total.n > 0 THEN coalesce(n.items, 0) / total.n END AS share,
               n.sentiment,
               CASE WHEN covered.ok AND coalesce(b.items, 0) > 0
                    THEN (coalesce(n.items, 0) - b.items) / b.items END AS trend,
               CASE WHEN covered.ok THEN coalesce(b.items, 0) END AS items_previous,
               t.origin
        FROM voice_themes AS t JOIN rid ON t.refresh_id = rid.rid
        CROSS JOIN total CROSS JOIN covered
        LEFT JOIN now_ AS n ON n.theme = t.theme
        LEFT JOIN before AS b ON b.theme = t.theme
        ORDER BY items DESC, t.theme"""


def assignments_sql(q: ThemesQuery, p: Params) -> str:
    """source, item_id, theme, matched_terms of the items in the range."""
    return f"""WITH {_scope(q, p)}
        SELECT a.source, a.item_id, a.theme, a.matched_terms
        FROM voice_assignments AS a JOIN rid ON a.refresh_id = rid.rid
        JOIN cur AS c ON c.source = a.source AND c.item_id = a.item_id
        ORDER BY a.theme, a.source, a.item_id"""


def coverage_sql(q: ThemesQuery, p: Params) -> str:
    """Items of the range by unassigned_reason (NULL: in a theme)."""
    return f"""WITH {_scope(q, p)}
        SELECT unassigned_reason AS reason, count(*) AS items FROM cur GROUP BY ALL ORDER BY ALL"""


@metric_boundary("themes")
def run_themes(con: duckdb.DuckDBPyConnection, q: ThemesQuery) -> ThemesResult:
    """The themes table of the stored refresh (see the module docstring); the caller refreshes
    first when stale (the Workbench does)."""
    p = Params()
    sql = themes_sql(q, p)
    table = fetch_df(con, sql, p.used_in(sql))
    for col in ("items", "unique_problems", "users"):
        table[col] = table[col].astype("int64")
    for col in ("share", "sentiment", "trend"):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype("float64")
    table["items_previous"] = table["items_previous"].astype("Int64")
    pa = Params()
    a_sql = assignments_sql(q, pa)
    assignments = fetch_df(con, a_sql, pa.used_in(a_sql))
    pc = Params()
    c_sql = coverage_sql(q, pc)
    coverage = fetch_df(con, c_sql, pc.used_in(c_sql))
    in_range = int(coverage["items"].sum()) if not coverage.empty else 0
    unassigned = {
        str(r.reason): int(r.items) for r in coverage.itertuples() if isinstance(r.reason, str)
    }
    result = ThemesResult(
        query=q,
        table=table[TABLE_COLUMNS],
        sql=sql,
        params=p.used_in(sql),
        assignments=assignments,
        items_in_range=in_range,
        unassigned=unassigned,
    )
    return result


def no_match_warnings(con: duckdb.DuckDBPyConnection) -> list[PoaWarning]:
    """``voice.theme_no_matches`` for each theme of the stored refresh that no item is in."""
    from .store import no_matches_warning

    rows = fetch_df(
        con,
        """SELECT t.theme FROM voice_themes AS t
           WHERE t.refresh_id = (SELECT max(refresh_id) FROM voice_refresh)
             AND NOT EXISTS (SELECT 1 FROM voice_assignments AS a
                             WHERE a.refresh_id = t.refresh_id AND a.theme = t.theme)
           ORDER BY 1""",
    )
    return [no_matches_warning(str(t)) for t in rows["theme"]]

"""``Backlog``: the object ``wb.backlog()`` returns, tying the backlog modules together.

It holds the product config (``backlog.config``), the items read (``backlog.items``), a way to get
a warehouse connection (the Workbench's ``connection``: a context manager factory, so the file is
held only while a query runs) and the data's date ``as_of`` (default: the newest event's ``ts``).
The evidence ledger is computed once, on first use, and kept: every score, ordering, snapshot and
reason of one Backlog reads the same evidence. A new ``wb.backlog()`` reads the data again.

Overrides are read from the warehouse on every ordering, so an override recorded by another
Backlog (or the command line) shows in the next ordering.
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ..db import fetch_value
from ..errors import PoaError
from ..metrics.validate import parse_instant
from . import log
from .errors import BacklogError
from .evidence import EvidenceQuery, EvidenceResult, Windows, ledger
from .impact import ImpactQuery, ImpactResult, run_impact
from .items import ItemsRead, check_items, read_items, warehouse_names
from .model import Item, ProductConfig
from .objectives import ObjectivesResult
from .order import order as order_items
from .order import tradeoff
from .results import (
    AsOfQuery,
    ChecksResult,
    DecisionLogResult,
    ImpactMapResult,
    LogQuery,
    OrderQuery,
    OrderResult,
    OverrideResult,
    PublishResult,
    ScoresQuery,
    ScoresResult,
    TradeoffQuery,
    TradeoffResult,
    check_item_id,
    queries_of,
)
from .scores import score

Connection = Callable[..., contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]]
LEDGER_LABEL = ["item_id", "kind", "link"]


# -- opening ------------------------------------------------------------------------------------
def read_config(root: Path, config: str | Path | None = None) -> ProductConfig:
    """The product file (``config``, relative to the project root; default: [backlog] product of
    conf/poanalytics.toml, else conf/product.toml) read and validated by ``backlog.config``;
    ``backlog.no_product`` when there is none."""
    from .config import default_path, read_product

    product = read_product(config, root=root)
    if product is None:
        raise BacklogError(
            f"no product file: {default_path(root)} does not exist",
            code="backlog.no_product",
            hint="copy the commented conf/product.toml of the poanalytics project (every key is "
            "described in docs/backlog-config.md) into conf/ and write your vision, objectives "
            "and [backlog] path (a CSV export) or [[items]] in it; or pass config= "
            "(wb.backlog(config='conf/other.toml'), --product on the command line)",
        )
    return product


def open_backlog(
    root: Path,
    path: str | Path | None = None,
    *,
    config: str | Path | None = None,
    as_of: Any = None,
    connection: Connection,
    voice_ready: Callable[[], None] | None = None,
    read_only: bool = False,
) -> Backlog:
    """Read the product file and the items (``path``: a CSV export instead of [backlog] path)."""
    product = read_config(root, config)
    items = read_items(product, path, root=root)
    return Backlog(
        product,
        items,
        connection=connection,
        voice_ready=voice_ready,
        as_of=as_of,
        read_only=read_only,
    )


def resolve_as_of(con: duckdb.DuckDBPyConnection, as_of: Any) -> pd.Timestamp:
    """``as_of`` as a UTC instant (a bare date: the end of that day, as a funnel's); None: the
    newest event's ts. ``backlog.no_events`` when the warehouse holds no events."""
    if as_of is not None and not (isinstance(as_of, str) and not as_of.strip()):
        ts = parse_instant(as_of, "as_of", end=True)
        assert ts is not None
        return ts
    newest = fetch_value(con, "SELECT max(ts) FROM events")
    if newest is None:
        raise BacklogError(
            "the warehouse holds no events, so there is no evidence to order the backlog by",
            code="backlog.no_events",
            hint="load events first (wb.load_events(...), poanalytics ingest events PATH, or "
            "poanalytics demo), then open the backlog again",
        )
    return pd.Timestamp(newest).tz_convert("UTC")


def measure_objectives(
    config: ProductConfig,
    connection: Connection,
    *,
    as_of: Any = None,
    voice_ready: Callable[[], None] | None = None,
) -> ObjectivesResult:
    """Each objective's current value, trend and distance to target (``backlog.objectives``);
    theme objectives read the voice tables, refreshed first when stale."""
    from .objectives import ObjectivesQuery, run_objectives

    query = ObjectivesQuery(config=config, as_of=as_of)
    if voice_ready is not None and any(o.metric == "theme_volume" for o in config.objectives):
        voice_ready()
    with connection() as con:
        return run_objectives(con, query)


def decision_log(connection: Connection, item_id: str | None = None) -> DecisionLogResult:
    """The decision log of the warehouse (``backlog.log``)."""
    query = LogQuery(item_id=item_id)
    with connection() as con:
        table, sql, params = log.decision_log(con, item_id=query.item_id)
        overrides = log.overrides(con, active_only=False)
    return DecisionLogResult(query, table, sql, params, overrides=overrides)


@dataclass
class BacklogLoad:
    """What reading the items did: ``accounting`` (rows_read, rows_counted, loaded, quarantined,
    duplicates), ``quarantine`` (file, row, column, value, reason, code), ``source`` (the file)."""

    accounting: dict[str, int]
    quarantine: pd.DataFrame
    source: str | None

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame([self.accounting])

    def __str__(self) -> str:
        a = self.accounting
        where = self.source or "the product file"
        text = (
            f"{where}: {a.get('rows_read', 0):,} rows read, {a.get('loaded', 0):,} items loaded, "
            f"{a.get('quarantined', 0):,} quarantined, {a.get('duplicates', 0):,} duplicates"
        )
        for r in self.quarantine.head(10).itertuples(index=False):
            col = f" column {r.column!r}" if isinstance(getattr(r, "column", None), str) else ""
            text += f"\n  quarantined: {r.file} row {r.row}{col}: {r.reason}"
        if len(self.quarantine) > 10:
            text += f"\n  ... {len(self.quarantine) - 10} more (b.load.quarantine)"
        return text


class Backlog:
    """The backlog of one product file and its items, ordered by the warehouse's evidence.

    >>> b = wb.backlog()                 # conf/product.toml and its [backlog] path
    >>> b.order().table                  # rank, item_id, title, score, reason, fits, ...
    """

    def __init__(
        self,
        config: ProductConfig,
        items: ItemsRead,
        *,
        connection: Connection,
        voice_ready: Callable[[], None] | None = None,
        as_of: Any = None,
        read_only: bool = False,
    ) -> None:
        self.config = config
        self._read = items  # backlog.items.ItemsRead
        self._connection = connection
        self._voice_ready = voice_ready
        self._as_of_arg = as_of
        self._as_of: pd.Timestamp | None = None
        if as_of is not None and not (isinstance(as_of, str) and not as_of.strip()):
            self._as_of = parse_instant(as_of, "as_of", end=True)  # a bad date fails here
        self._ledger: pd.DataFrame | None = None
        self._scores: dict[float | None, pd.DataFrame] = {}
        self.read_only = read_only

    # -- what was read ------------------------------------------------------------------------
    @property
    def items(self) -> pd.DataFrame:
        """One row per item (the Item fields)."""
        table: pd.DataFrame = self._read.table
        return table

    @property
    def item_list(self) -> tuple[Item, ...]:
        return tuple(self._read.items)

    @property
    def load(self) -> BacklogLoad:
        """The nothing-lost accounting and the quarantined rows of the items read."""
        source = self._read.source
        return BacklogLoad(
            dict(self._read.accounting), self._read.quarantine, str(source) if source else None
        )

    def item(self, item_id: str) -> Item:
        ids = [i.item_id for i in self.item_list]
        check_item_id(item_id, ids)
        return self.item_list[ids.index(item_id)]

    # -- the data's date and the ledger ----------------------------------------------------------
    @property
    def as_of(self) -> pd.Timestamp:
        """The evidence's date: data up to this instant (default: the newest event's ts)."""
        if self._as_of is None:
            with self._connection() as con:
                self._as_of = resolve_as_of(con, self._as_of_arg)
        return self._as_of

    def ledger(self) -> pd.DataFrame:
        """The evidence ledger of every item (computed once; see backlog.evidence)."""
        if self._ledger is None:
            when = self.as_of
            if self._voice_ready is not None and any(i.themes for i in self.item_list):
                self._voice_ready()  # theme evidence reads the voice tables: refresh when stale
            with self._connection() as con:
                self._ledger = ledger(con, self.config, self.item_list, as_of=when)
        assert self._ledger is not None
        return self._ledger

    # -- refinement -----------------------------------------------------------------------------
    def known_names(self) -> dict[str, list[str]]:
        """The names items may link to (``backlog.items.warehouse_names``): the warehouse's
        events and event property keys and the themes of the current voice refresh (refreshed
        first when stale, when an item links to a theme); steps are the [funnel]'s."""
        if self._voice_ready is not None and any(i.themes for i in self.item_list):
            self._voice_ready()
        with self._connection() as con:
            return warehouse_names(con)

    def checks(self) -> ChecksResult:
        """Refinement checks: items not ready (no effort, no evidence link, larger than capacity,
        a link to an unknown step, event, theme, objective or segment property)."""
        names = self.known_names()
        table = check_items(self.item_list, self.config, **names)
        return ChecksResult(AsOfQuery(), table, "", {"known": names})

    # -- evidence, scores, order ----------------------------------------------------------------
    def evidence(self, item_id: str) -> EvidenceResult:
        """The item's evidence: kind, link, value and interval, unit, n, source, whether it
        supports the item, a plain detail, the query and parameters, and the data's date."""
        item = self.item(item_id)
        ledger = self.ledger()
        table = ledger[ledger.item_id == item_id].reset_index(drop=True)
        sql, params = queries_of(table, LEDGER_LABEL)
        when = self.as_of
        query = EvidenceQuery(items=(item,), config=self.config, as_of=when)
        windows = Windows.of(when, self.config.planning.period_weeks)
        return EvidenceResult(query, table, sql, params, as_of=when, windows=windows)

    def _score_table(self, capacity: float | None) -> pd.DataFrame:
        if capacity not in self._scores:
            self._scores[capacity] = score(
                self.item_list, self.ledger(), self.config.planning, capacity=capacity
            )
        return self._scores[capacity]

    def _capacity(self, capacity: Any) -> float | None:
        return capacity if capacity is not None else self.config.planning.capacity

    def scores(self, capacity: float | None = None) -> ScoresResult:
        """RICE, ICE, WSJF, value/effort quadrant and suggested MoSCoW side by side, each with its
        Monte Carlo interval, p_top_n and the frameworks' disagreement."""
        query = ScoresQuery(capacity=self._capacity(capacity), as_of=self.as_of)
        table = self._score_table(query.capacity)
        sql, params = queries_of(self.ledger(), LEDGER_LABEL)
        result = ScoresResult(query, table, sql, params)
        result.warnings.extend(getattr(table, "attrs", {}).get("warnings", []))
        return result

    def _overrides(self) -> pd.DataFrame:
        """The active overrides (backlog.order skips, with a warning, those of items it does not
        order: shipped, dropped or gone from the backlog)."""
        with self._connection() as con:
            return log.overrides(con)

    def _order_table(self, query: OrderQuery, overrides: pd.DataFrame) -> pd.DataFrame:
        table: pd.DataFrame = order_items(
            self.item_list,
            self._score_table(query.capacity),
            self.ledger(),
            framework=query.framework,
            capacity=query.capacity,
            overrides=overrides,
        )
        return table

    def order(self, framework: str = "rice", capacity: float | None = None) -> OrderResult:
        """The ordered list (rank, item_id, title, score, reason, fits, ...); active overrides are
        applied visibly: ``override_rank`` and ``override_reason`` beside ``evidence_rank``."""
        query = OrderQuery(framework=framework, capacity=self._capacity(capacity), as_of=self.as_of)
        table = self._order_table(query, self._overrides())
        sql, params = queries_of(self.ledger(), LEDGER_LABEL)
        return OrderResult(query, table, sql, params, scores=self._score_table(query.capacity))

    def tradeoff(
        self,
        item_id: str,
        rank: int,
        capacity: float | None = None,
        *,
        framework: str = "rice",
    ) -> TradeoffResult:
        """Move ``item_id`` to ``rank``: what slips out of capacity and which objectives lose."""
        self.item(item_id)
        query = TradeoffQuery(
            item_id=item_id,
            rank=rank,
            framework=framework,
            capacity=self._capacity(capacity),
            as_of=self.as_of,
        )
        ordered = self._order_table(
            OrderQuery(framework=framework, capacity=query.capacity), self._overrides()
        )
        rank = self._check_rank(item_id, rank, ordered)
        table = tradeoff(ordered, item_id, rank, query.capacity, self.config)
        return TradeoffResult(query, table, "", {})

    # -- the decision log -----------------------------------------------------------------------
    def _writable(self, what: str) -> None:
        if self.read_only:
            raise BacklogError(
                f"cannot {what}: the warehouse is open read-only",
                code="backlog.read_only",
                hint="open it writable (poa.Workbench(path) without read_only=True) and run it "
                "again; the decision log lives in the warehouse",
            )

    def _check_rank(self, item_id: str, rank: Any, ordered: pd.DataFrame) -> int:
        ranked = list(ordered.item_id)
        if item_id not in ranked:
            status = self.item(item_id).status
            raise BacklogError(
                f"{item_id} is not in the ordering (status {status})",
                code="backlog.not_ordered",
                hint="only open items are ordered; change its status in the backlog to order it",
            )
        whole = isinstance(rank, Integral) and not isinstance(rank, bool)
        if not whole or not 1 <= int(rank) <= len(ranked):
            raise BacklogError(
                f"rank must be a whole number from 1 to {len(ranked)} (the items ordered), "
                f"got {rank!r}"[:300],
                code="backlog.override_rank",
                hint=f"give the position the item should take, e.g. 1 for the top of "
                f"{len(ranked)} items",
            )
        return int(rank)

    def override(
        self, item_id: str, rank: int, reason: str, *, author: str | None = None
    ) -> OverrideResult:
        """Record the product owner's override: ``item_id`` at ``rank``, for ``reason`` (required).
        It is shown in every later ordering and snapshot beside the evidence's own rank, until
        withdrawn (``b.withdraw_override(item_id)``); a new override of the item replaces it."""
        log.check_reason(reason)
        self.item(item_id)
        self._writable("record an override")
        ordered = self._order_table(OrderQuery(capacity=self._capacity(None)), self._overrides())
        rank = self._check_rank(item_id, rank, ordered)
        with self._connection(write=True) as con:
            new_id = log.add_override(con, item_id, rank, reason, author=author)
            table = log.overrides(con)
        return OverrideResult(AsOfQuery(), table, "", {}, override_id=new_id)

    def withdraw_override(self, item_id: str) -> OverrideResult:
        """Withdraw the item's active override (it stays in the log as withdrawn)."""
        self.item(item_id)
        self._writable("withdraw an override")
        with self._connection(write=True) as con:
            old = log.withdraw_override(con, item_id)
            table = log.overrides(con)
        return OverrideResult(AsOfQuery(), table, "", {}, override_id=old)

    def overrides(self, active_only: bool = True) -> OverrideResult:
        """The overrides recorded in the warehouse (active ones, or all)."""
        with self._connection() as con:
            table = log.overrides(con, active_only=active_only)
        return OverrideResult(AsOfQuery(), table, "", {})

    def publish(
        self,
        note: str | None = None,
        *,
        framework: str = "rice",
        capacity: float | None = None,
    ) -> PublishResult:
        """Snapshot the ordering (overrides applied visibly), its scores and evidence into the
        decision log, in one transaction. Needs a writable warehouse (``backlog.read_only``)."""
        query = OrderQuery(framework=framework, capacity=self._capacity(capacity), as_of=self.as_of)
        self._writable("publish")
        scores, ledger_table = self._score_table(query.capacity), self.ledger()  # reads: before
        items = self.items[["item_id", "title", "status"]]
        source = self._read.source
        with self._connection(write=True) as con:
            # the overrides as they stand while this process holds the warehouse: one another
            # process adds before the snapshot is written is in it (read earlier, it was lost)
            ordered = self._order_table(query, log.overrides(con))
            applied = ordered[ordered["override_id"].notna()]
            override_ids = {
                str(i): int(o) for i, o in zip(applied.item_id, applied.override_id, strict=True)
            }
            sid = log.publish(
                con,
                order=ordered,
                scores=scores,
                ledger=ledger_table,
                items=items,
                config=self.config,
                as_of=self.as_of.to_pydatetime(),
                note=note,
                framework=query.framework,
                capacity=query.capacity,
                backlog_file=str(source) if source else None,
                override_ids=override_ids,
            )
            table = log.snapshot_items(con, sid)
            history, _, _ = log.decision_log(con)
        asked = AsOfQuery(
            as_of=self.as_of, note=note, framework=query.framework, capacity=query.capacity
        )
        return PublishResult(
            asked, table, log.SNAPSHOT_ITEMS_SQL, {"snapshot": sid}, snapshot_id=sid, log=history
        )

    def decision_log(self, item_id: str | None = None) -> DecisionLogResult:
        """The warehouse's decision log (as ``wb.decision_log()``)."""
        return decision_log(self._connection, item_id)

    # -- objectives and impact ------------------------------------------------------------------
    def objectives(self) -> ObjectivesResult:
        """Each objective's current value, trend and distance to target, as of ``as_of``."""
        return measure_objectives(
            self.config, self._connection, as_of=self.as_of, voice_ready=self._voice_ready
        )

    def impact(self, item_id: str, weeks: int | None = None) -> ImpactResult:
        """Before/after of a shipped item's linked metrics (adoption of its events, ticket volume of
        its themes, conversion at its step), with intervals (``backlog.impact``); an item that is
        not shipped is ``backlog.not_shipped``."""
        item = self.item(item_id)
        query = ImpactQuery(config=self.config, item=item, as_of=self.as_of, weeks=weeks)
        if self._voice_ready is not None and item.themes:
            self._voice_ready()
        with self._connection() as con:
            return run_impact(con, query)

    def impact_map(self) -> ImpactMapResult:
        """The impact map as a table, one row per objective x impact x item (objective, actor,
        impact, item_id, title, status, objective_description): the impacts of the product file,
        then items that name an objective themselves (actor and impact empty), objectives no
        item serves yet (item empty), and items that serve no objective (objective empty)."""
        items = {i.item_id: i for i in self.item_list}
        described = {o.name: o.description for o in self.config.objectives}
        rows: list[dict[str, Any]] = []
        for objective, actor, impact, item_id in self._impact_links():
            item = items.get(item_id) if item_id else None
            rows.append(
                {
                    "objective": objective,
                    "actor": actor,
                    "impact": impact,
                    "item_id": item_id,
                    "title": item.title if item else None,
                    "status": item.status if item else None,
                    "objective_description": described.get(objective),
                }
            )
        table = pd.DataFrame(
            rows,
            columns=[
                "objective",
                "actor",
                "impact",
                "item_id",
                "title",
                "status",
                "objective_description",
            ],
        )
        return ImpactMapResult(AsOfQuery(), table, "", {}, vision=self.config.vision)

    def _impact_links(self) -> list[tuple[Any, Any, Any, Any]]:
        """(objective, actor, impact, item_id) of each row of the impact map, in its order."""
        impacts = self.config.impacts
        links: list[tuple[Any, Any, Any, Any]] = [
            (imp.objective, imp.actor, imp.impact, item_id)
            for imp in impacts
            for item_id in imp.items or (None,)
        ]
        via_impacts = {(imp.objective, i) for imp in impacts for i in imp.items}
        links += [
            (name, None, None, item.item_id)
            for item in self.item_list
            for name in item.objectives
            if (name, item.item_id) not in via_impacts
        ]
        served = {link[0] for link in links}
        links += [
            (obj.name, None, None, None) for obj in self.config.objectives if obj.name not in served
        ]
        links += [
            (None, None, None, item.item_id)
            for item in self.item_list
            if not self.config.item_objectives(item)
        ]
        return links

    # -- display --------------------------------------------------------------------------------
    def summary(self) -> str:
        """A few lines: items, ready or not, quarantined rows, the top 5 under RICE."""
        a = self._read.accounting
        lines = [
            f"Backlog of {len(self.item_list)} items from {self._read.source or self.config.path}"
            f" ({a.get('quarantined', 0)} rows quarantined)"
        ]
        try:
            checks = self.checks().table
            not_ready = sorted(set(checks.loc[~checks.ready.astype(bool), "item_id"]))
            lines.append(
                f"{len(self.item_list) - len(not_ready)} ready, {len(not_ready)} not ready"
                + (f": {', '.join(not_ready)}" if not_ready else "")
            )
            top = self.order().table.head(5)
            lines.append(f"Top {len(top)} by RICE, evidence as of {self.as_of:%Y-%m-%d %H:%M} UTC:")
            top_n = self.config.planning.top_n
            for r in top.itertuples(index=False):
                why = re.sub(r"^#\d+:\s*", "", str(r.reason))  # the rank is said before it
                chance = f" (p(top {top_n}) {r.p_top_n:.0%})" if pd.notna(r.p_top_n) else ""
                lines.append(f"  {r.rank}. {r.item_id} {r.title}{chance}: {why}")
        except PoaError as exc:
            lines.append(str(exc))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Backlog {len(self.item_list)} items, {self.config.path}>"

    def _repr_html_(self) -> str:
        head, *rest = self.summary().split("\n")
        body = "".join(f"<li>{html.escape(line.strip())}</li>" for line in rest)
        return f"<div><b>{html.escape(head)}</b><ul>{body}</ul></div>"

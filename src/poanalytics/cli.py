"""The `poanalytics` command: a thin layer over the library.

Every command calls one or two library functions; expected errors (PoaError) print their message
and what to do, without a traceback, and exit with status 2. A reader that stops early
(`poanalytics quarantine | head`) ends the command quietly with status 141, as SIGPIPE would.

Only the standard library and poanalytics.errors are imported at start: `--help` and argument
errors never load pandas, DuckDB or plotly; the Workbench is imported when a command needs it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError, PoaError


def _parse_map(pairs: Sequence[str] | None, consts: Sequence[str] | None = None) -> dict[str, Any]:
    """--map canonical=source and --const canonical=value into one columns= mapping."""
    from .ingest.mapping import Const

    out: dict[str, Any] = {}
    for option, items in (("--map", pairs), ("--const", consts)):
        for pair in items or []:
            if "=" not in pair:
                raise ConfigError(
                    f"{option} {pair!r} is not of the form "
                    + ("canonical=source" if option == "--map" else "canonical=value"),
                    code="cli.map",
                    hint="write it like --map user_id=case:concept:name or --const event=purchase",
                )
            key, value = (part.strip() for part in pair.split("=", 1))
            if key in out:
                raise ConfigError(
                    f"{key} is given twice (--map/--const)",
                    code="cli.map",
                    hint="map each field once: to a column (--map) or to a fixed value (--const)",
                )
            out[key] = value if option == "--map" else Const(value)
    return out


def _workbench(args: argparse.Namespace, read_only: bool = False):
    from .workbench import Workbench

    return Workbench(args.db, read_only=read_only)


def cmd_ingest(args: argparse.Namespace) -> int:
    wb = _workbench(args)
    loader = {"events": wb.load_events, "tickets": wb.load_tickets, "notes": wb.load_notes}[
        args.kind
    ]
    options = {}
    if args.kind == "notes":
        if args.text_column:
            options["text_columns"] = args.text_column
        if args.survey:
            options["survey"] = args.survey
    elif args.text_column or args.survey:
        raise ConfigError(
            "--text-column and --survey apply to `ingest notes --format survey` only",
            code="cli.option",
            hint="drop them, or load notes",
        )
    with wb.connection(write=True) as con:  # the file is held for this one load, then released
        if sys.stderr.isatty() and not args.quiet:
            con.execute("SET enable_progress_bar = true")
        report = loader(
            args.path,
            format=args.format,
            columns=_parse_map(args.map, args.const),
            delimiter=args.delimiter,
            timezone=args.timezone,
            timestamp_format=args.timestamp_format,
            encoding=args.encoding,
            **options,
        )
    print(report)
    if report.rows_quarantined and not args.quiet:
        q = wb.quarantine(report.load_id).head(5)
        for r in q.itertuples(index=False):
            col = f" column {r.column_name!r}" if isinstance(r.column_name, str) else ""
            print(f"  quarantined: {r.file} row {r.row}{col}: {r.reason}")
    wb.close()
    return 0


def _reader(args: argparse.Namespace):
    """A Workbench that only looks: read-only (a read-only file or folder works too); a missing
    warehouse is db.not_found at the first query."""
    from .config import settings

    path = Path(args.db) if args.db else settings().default_warehouse()
    try:
        return _workbench(args, read_only=path.is_file())
    except PoaError as exc:
        if exc.code != "db.read_only_schema":
            raise
        return _workbench(args)  # made by an older poanalytics: opening it writable upgrades it


def cmd_status(args: argparse.Namespace) -> int:
    with _reader(args) as wb:
        print(wb.status())
    return 0


def cmd_optimize(args: argparse.Namespace) -> int:
    with _workbench(args) as wb:
        print(wb.optimize())
    return 0


def cmd_export_events(args: argparse.Namespace) -> int:
    from .ingest.export import check_options

    partition_by = None if args.partition_by.lower() == "none" else args.partition_by
    check_options(args.format, partition_by)  # before the warehouse is opened
    with _reader(args) as wb:
        print(
            wb.export_events(
                args.path, format=args.format, partition_by=partition_by, overwrite=args.overwrite
            )
        )
    return 0


QUARANTINE_SQL = """SELECT load_id, kind, file, coalesce(CAST(row AS VARCHAR), '-') AS row,
       coalesce(column_name, '-') AS column_name, reason FROM quarantine
WHERE $load IS NULL OR load_id = $load ORDER BY load_id DESC, file, quarantine.row LIMIT $limit"""


def cmd_quarantine(args: argparse.Namespace) -> int:
    with _workbench(args) as wb:
        params = {"load": args.load}
        total = int(
            wb.sql(
                "SELECT count(*) AS n FROM quarantine WHERE $load IS NULL OR load_id = $load",
                params,
            ).n.iloc[0]
        )
        if not total:
            print("nothing is quarantined")
            return 0
        frame = wb.sql(QUARANTINE_SQL, {**params, "limit": max(args.limit, 0)})
        print(frame.to_string(index=False))
        if total > len(frame):
            print(f"... {total - len(frame)} more (use --limit)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .config import settings
    from .demo import generate, load_demo

    out = Path(args.out) if args.out else settings().demo_dir
    files = generate(out, users=args.users, weeks=args.weeks, seed=args.seed)
    print(
        f"demo data set written to {out} ({args.users:,} users, {args.weeks} weeks, seed {args.seed})"
    )
    if args.no_load:
        return 0
    wb = _workbench(args)
    for report in load_demo(wb, files).values():
        print(report)
    wb.close()
    return 0


def cmd_report_weekly(args: argparse.Namespace) -> int:
    from .report import params
    from .report.run import run_weekly

    values = params.split_pairs(args.param or [])
    result = run_weekly(args.week, values, warehouse=args.db)
    print(f"report for {result.week} written in {result.seconds:.0f} s: {result.html}")
    return 0


def cmd_report_history(args: argparse.Namespace) -> int:
    from .config import settings
    from .report import runlog

    cfg = settings()
    path = Path(args.db) if args.db else cfg.default_warehouse()
    frame = runlog.history(
        path, folder=cfg.reports_dir, limit=args.limit, lock_timeout=cfg.lock_timeout
    )
    print(runlog.format_history(frame))
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    from .report import schedule

    options = {"scheduler": args.scheduler}
    if args.action == "install":
        installed = schedule.install(args.weekly, args.param or [], db=args.db, **options)
        print(installed)
        return 0
    if args.action == "status":
        state = schedule.status(**options)
        print(state)
        return 0 if state.installed else 1
    removed, where = schedule.remove(**options)
    if not removed:
        print(
            f"nothing to remove: no weekly report is scheduled for this project in {' or '.join(where) or 'any scheduler'}"
        )
    for entry in removed:
        print(f"removed from {entry.where}:\n{entry.text.rstrip()}")
    return 0


def _voice_numbers(info) -> str:
    what = (
        f"taxonomy {info.taxonomy_file} (version {info.taxonomy_version[:12]})"
        if info.origin == "taxonomy"
        else f"discovered themes ({info.taxonomy_version})"
    )
    took = f" in {info.seconds:.1f} s" if info.seconds is not None else ""
    return (
        f"{info.items:,} items: {info.assigned:,} in a theme, {info.unassigned:,} in none; "
        f"{info.themes} themes from {what}{took}"
    )


def cmd_voice_refresh(args: argparse.Namespace) -> int:
    with _workbench(args) as wb:
        info = wb.voice_refresh(force=args.force, seed=args.seed)
        state = "refreshed" if info.refreshed else "already current"
        print(f"voice {state} (refresh {info.refresh_id}): {_voice_numbers(info)}")
        reasons = wb.sql(
            "SELECT unassigned_reason AS reason, count(*) AS n FROM voice_items "
            "WHERE refresh_id = (SELECT max(refresh_id) FROM voice_items) "
            "AND unassigned_reason IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1"
        )
        if len(reasons):
            print(
                "  in no theme: " + ", ".join(f"{r.reason} {r.n:,}" for r in reasons.itertuples())
            )
    return 0


def cmd_voice_themes(args: argparse.Namespace) -> int:
    with _workbench(args) as wb:
        result = wb.themes(source=args.source, date_from=args.date_from, date_to=args.date_to)
        if result.table.empty:
            print("no themes: the warehouse holds no tickets or notes in this range")
        else:
            print(result.summary_table().to_string(index=False))
        if result.unassigned:
            print(
                f"{sum(result.unassigned.values()):,} of {result.items_in_range:,} items in no "
                "theme: " + ", ".join(f"{k} {v:,}" for k, v in sorted(result.unassigned.items()))
            )
    return 0


def _accepted_themes(values: Sequence[str]) -> list[str | int]:
    return [int(v) if v.isdigit() else v for v in values]


def cmd_voice_discover(args: argparse.Namespace) -> int:
    names: dict[str | int, str] = {}
    for pair in args.name or []:
        if "=" not in pair:
            raise ConfigError(
                f"--name {pair!r} is not of the form LABEL=NAME",
                code="cli.option",
                hint='write it like --name "bug / port / need=porting"',
            )
        label, name = (part.strip() for part in pair.rsplit("=", 1))
        names[int(label) if label.isdigit() else label] = name
    if names and args.accept is None:
        raise ConfigError(
            "--name applies to the themes accepted with --accept",
            code="cli.option",
            hint="add --accept (all proposed themes) or --accept LABEL ...",
        )
    with _workbench(args) as wb:
        result = wb.discover_themes(
            source=args.source,
            n_themes=args.n,
            seed=args.seed,
            uncovered=not args.all,
            date_from=args.date_from,
            date_to=args.date_to,
        )
        what = "items no taxonomy theme took" if not args.all else "items"
        print(
            f"{len(result.table)} proposed themes in {result.items:,} {what} "
            f"(source {args.source}, seed {args.seed}); {len(result.unassigned):,} in none"
            + (
                ": "
                + ", ".join(
                    f"{k} {v:,}" for k, v in result.unassigned.reason.value_counts().items()
                )
                if len(result.unassigned)
                else ""
            )
        )
        for i, row in enumerate(result.table.itertuples(index=False)):
            print(f"\n[{i}] {row.label}  ({row.items:,} items)")
            print(f"    terms: {', '.join(row.terms)}")
            print(
                f"    proposed rule: {row.min_matches} of {', '.join(row.keywords)} "
                f"(takes {row.rule_items:,} items here, {row.rule_precision:.0%} of them this "
                f"theme's, {row.rule_recall:.0%} of its items)"
            )
            for example in row.examples:
                print(f"    e.g. {example}")
        if args.accept is not None:
            themes = _accepted_themes(args.accept) if args.accept else None
            accepted = wb.accept_themes(result, themes=themes, names=names)
            print()
            print(accepted)
    return 0


def _backlog(args: argparse.Namespace, wb: Any):
    return wb.backlog(args.items, as_of=getattr(args, "as_of", None), config=args.product)


def _number(value: Any, digits: int = 0) -> str:
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def print_order(table: Any, framework: str, capacity: float | None, as_of: Any, top_n: int) -> None:
    """The ordered list, one item per two lines: rank, id, title, score (interval), then why."""
    cap = f", capacity {capacity:g} person-weeks" if capacity else ""
    print(f"backlog by {framework.upper()}, evidence as of {as_of:%Y-%m-%d %H:%M} UTC{cap}")
    for r in table.itertuples(index=False):
        fits = getattr(r, "fits", None)
        fit = "" if fits is None or fits != fits else (" fits" if fits else " over capacity")
        p_top = getattr(r, "p_top_n", None)
        top = f", p(top {top_n}) {p_top:.0%}" if p_top is not None and p_top == p_top else ""
        print(
            f"{r.rank:>3}. {r.item_id}  {r.title}  score {_number(r.score, 1)} "
            f"({_number(r.score_low, 1)}-{_number(r.score_high, 1)}){top}{fit}"
        )
        reason = getattr(r, "override_reason", None)
        if isinstance(reason, str) and reason:
            print(f"     override (evidence rank {r.evidence_rank}): {reason}")
        print(f"     {r.reason}")


def cmd_backlog_check(args: argparse.Namespace) -> int:
    """Exit status 1 when a row was quarantined or an item is not ready (a CI gate), else 0."""
    with _workbench(args) as wb:
        b = _backlog(args, wb)
        print(b.load)
        checks = b.checks().table
        findings = checks[checks.check != "ready"]
        not_ready = sorted(set(checks.loc[~checks.ready.astype(bool), "item_id"]))
        print(
            f"{len(b.item_list) - len(not_ready)} of {len(b.item_list)} items ready"
            + (f"; not ready: {', '.join(not_ready)}" if not_ready else "")
        )
        for r in findings.itertuples(index=False):
            print(f"  {r.item_id}: [{r.code}] {r.detail}")
        quarantined = int(b.load.accounting.get("quarantined", 0))
    return 1 if quarantined or not_ready else 0


def cmd_backlog_order(args: argparse.Namespace) -> int:
    with _workbench(args) as wb:
        b = _backlog(args, wb)
        result = b.order(args.framework, capacity=args.capacity)
        q = result.query
        print_order(result.table, q.framework, q.capacity, q.as_of, b.config.planning.top_n)
    return 0


def cmd_backlog_publish(args: argparse.Namespace) -> int:
    with _workbench(args) as wb:
        result = _backlog(args, wb).publish(
            args.note, framework=args.framework, capacity=args.capacity
        )
        print(result)
    return 0


def cmd_backlog_override(args: argparse.Namespace) -> int:
    with _workbench(args) as wb:
        b = _backlog(args, wb)
        if args.withdraw:
            result = b.withdraw_override(args.item)
            print(f"override {result.override_id} of {args.item} withdrawn")
        elif args.rank is None:
            raise ConfigError(
                "override needs the rank the item should take (or --withdraw)",
                code="cli.option",
                hint='write it like: poanalytics backlog override BL-111 2 --reason "..."',
            )
        elif not (args.reason or "").strip():
            raise ConfigError(
                "an override needs the reason it is made for (it is recorded and shown)",
                code="cli.option",
                hint='write it like: poanalytics backlog override BL-111 2 --reason "ACME needs it"',
            )
        else:
            result = b.override(args.item, args.rank, args.reason, author=args.author)
            print(
                f"override {result.override_id}: {args.item} at rank {args.rank} "
                f"({args.reason.strip()}); shown in every ordering until withdrawn"
            )
    return 0


def cmd_backlog_log(args: argparse.Namespace) -> int:
    import pandas as pd

    with _workbench(args) as wb:
        table = wb.decision_log(args.item).table
    if table.empty:
        print("nothing published yet: poanalytics backlog publish --note ... writes a snapshot")
        return 0
    for sid, snap in table.groupby("snapshot_id", sort=True):
        first = snap.iloc[0]
        note = f": {first.note}" if isinstance(first.note, str) and first.note else ""
        print(
            f"snapshot {sid}, published {first.published_at:%Y-%m-%d %H:%M}, evidence as of "
            f"{first.as_of:%Y-%m-%d}{note}"
        )
        for r in snap.itertuples(index=False):
            rank = "-" if pd.isna(r.rank) else str(r.rank)  # Int64: pd.NA for gone/shipped
            line = f"  {rank:>3}. {r.item_id}  {r.title}  ({r.moved})"
            if isinstance(r.override_reason, str):
                line += f"  override: {r.override_reason}"
            print(line)
            if isinstance(r.new_evidence, str) and r.new_evidence:
                print(f"       new evidence: {r.new_evidence}")
    return 0


def cmd_backlog_evidence(args: argparse.Namespace) -> int:
    with _workbench(args) as wb:
        b = _backlog(args, wb)
        result = b.evidence(args.item)
        item = b.item(args.item)
        weeks = b.config.planning.period_weeks
        print(
            f"{item.item_id} {item.title}: evidence of the {weeks} week{'s' * (weeks != 1)} to "
            f"{result.query.as_of_ts:%Y-%m-%d %H:%M} UTC"
        )
        if result.table.empty:
            print(
                "  no measured evidence: the item links to no step, event, theme or segment the "
                "warehouse holds (poanalytics backlog check says which)"
            )
        summary = result.summary_table()
        rows = zip(
            summary.itertuples(index=False), result.table.itertuples(index=False), strict=True
        )
        for r, raw in rows:
            print(_evidence_line(r))
            if args.sql:
                print(f"    -- {raw.params}\n    " + str(raw.query).strip().replace("\n", "\n    "))
    return 0


def _evidence_line(r: Any) -> str:
    """One piece of evidence: '+' when it supports the item, its value, interval, n and sentence."""
    from .format import MISSING

    mark = "+" if r.supports == "yes" else " "
    if r.kind == "quote":
        return f"{mark} quote ({r.link}): {r.detail}"
    interval = "" if r.interval == MISSING else f" ({r.interval})"
    n = "" if r.n == MISSING else f", n {r.n}"
    return f"{mark} {r.kind} {r.link}: {r.value}{interval}{n}, {r.source}: {r.detail}"


def cmd_backlog_impact(args: argparse.Namespace) -> int:
    with _workbench(args) as wb:
        b = _backlog(args, wb)
        result = b.impact(args.item, weeks=args.weeks)
        item = b.item(args.item)
        print(f"{item.item_id} {item.title}, shipped {item.shipped_at:%Y-%m-%d}")
        for r in result.table.itertuples(index=False):
            print(_impact_line(r))
            if isinstance(r.detail, str) and r.detail:
                print(f"     {r.detail}")
    return 0


def _impact_line(r: Any) -> str:
    """One linked metric's before -> after, its change with the 95% interval, and its flags."""
    from . import format as fmt

    share = r.unit == "share"
    value = fmt.percent if share else fmt.count
    if r.change_kind == "ratio":
        change = (
            f"x{_number(r.change, 2)} (95% CI {_number(r.ci_low, 2)} to {_number(r.ci_high, 2)})"
        )
    elif share:
        change = f"{fmt.signed_points(r.change)} (95% CI {fmt.signed_points(r.ci_low)} to "
        change += f"{fmt.signed_points(r.ci_high)})"
    else:
        change = (
            f"{_number(r.change, 1)} (95% CI {_number(r.ci_low, 1)} to {_number(r.ci_high, 1)})"
        )
    verdict = "significant" if r.significant is True else "not significant"
    flags = f" [{r.flag}]" if isinstance(r.flag, str) and r.flag else ""
    return (
        f"  {r.metric} {r.link}: {value(r.before)} -> {value(r.after)}{'' if share else ' ' + r.unit}"
        f", change {change}, "
        f"{verdict}{flags}"
    )


def _add_backlog_parser(sub: Any) -> None:
    bl = sub.add_parser(
        "backlog",
        help="the backlog ordered by evidence: check, order, publish, override, log, impact",
        description="Order the backlog of conf/product.toml (items from [[items]] and its "
        "[backlog] CSV export) by the warehouse's evidence (docs/backlog.md).",
    )
    bl_sub = bl.add_subparsers(
        dest="backlog_command",
        required=True,
        metavar="WHAT",
        help="check, order, publish, override, log, evidence or impact",
    )
    check = bl_sub.add_parser(
        "check",
        help="read the items: rows quarantined and refinement checks (exit status 1 when a row "
        "was quarantined or an item is not ready)",
        description="Read the items and say what was loaded and quarantined (with row numbers) "
        "and which items are not ready: no effort, no evidence link, larger than capacity, a "
        "link to an unknown step, event, theme, objective or property. Exit status 1 when a row "
        "was quarantined or an item is not ready, 0 when all is well, 2 on an error.",
    )
    order = bl_sub.add_parser(
        "order",
        help="the ordered backlog with one reason per item",
        description="The backlog ordered by a framework's score from the evidence, each item "
        "with its interval, probability of being in the top N, capacity fit and reason; "
        "overrides are shown beside the evidence's own rank.",
    )
    publish = bl_sub.add_parser(
        "publish",
        help="snapshot the ordering into the decision log",
        description="Write the ordering, its scores and evidence into the warehouse's decision "
        "log (one transaction).",
    )
    publish.add_argument("--note", default=None, help="a note kept with the snapshot")
    override = bl_sub.add_parser(
        "override",
        help="put an item at a rank, with a reason (shown, never silently applied)",
        description="Record the product owner's override: ITEM at RANK for --reason. Every "
        "later ordering and snapshot shows it beside the evidence's rank, until --withdraw.",
    )
    override.add_argument("item", help="the item's id, e.g. BL-111")
    override.add_argument("rank", type=int, nargs="?", default=None, help="the rank it takes")
    override.add_argument("--reason", default=None, help="why (required)")
    override.add_argument("--author", default=None, help="who decided (kept with it)")
    override.add_argument(
        "--withdraw", action="store_true", help="withdraw the item's active override instead"
    )
    lg = bl_sub.add_parser(
        "log",
        help="the decision log: what moved between published orderings, why, and new evidence",
        description="Every published ordering, oldest first: each item's rank, its move since "
        "the snapshot before, the override reason and the evidence that changed.",
    )
    lg.add_argument("--item", default=None, help="only this item")
    evidence = bl_sub.add_parser(
        "evidence",
        help="an item's evidence: each measured piece with its interval, source and sentence",
        description="The evidence ledger of one item: reach, drop-off and its change, churn "
        "lift, tickets, unique problems, interview mentions and quotes, each with its interval, "
        "sample size and source ('+': it supports the item); --sql adds the query behind each.",
    )
    evidence.add_argument("item", help="the item's id, e.g. BL-103")
    evidence.add_argument(
        "--sql", action="store_true", help="print the SQL and parameters behind each number"
    )
    evidence.set_defaults(func=cmd_backlog_evidence)
    impact = bl_sub.add_parser(
        "impact",
        help="before/after of a shipped item's linked metrics",
        description="Before/after of a shipped item's linked metrics (adoption of its events, "
        "ticket volume of its themes, conversion at its step), with intervals.",
    )
    impact.add_argument("item", help="the shipped item's id, e.g. BL-101")
    impact.add_argument(
        "--weeks", type=int, default=None, help="weeks before and after (default: from config)"
    )
    for cmd in (check, order, publish, override, evidence, impact):
        cmd.add_argument("--product", default=None, help="product file (default conf/product.toml)")
        cmd.add_argument(
            "--items", default=None, help="a backlog CSV export instead of [backlog] path"
        )
    for cmd in (order, publish, override, evidence, impact):
        cmd.add_argument(
            "--as-of",
            dest="as_of",
            default=None,
            help="the data's date, e.g. 2026-11-09 (default: the newest event)",
        )
    for cmd in (order, publish):
        cmd.add_argument(
            "--framework",
            default="rice",
            choices=["rice", "ice", "wsjf", "value_effort"],
            help="the score to order by (default rice)",
        )
        cmd.add_argument(
            "--capacity",
            type=float,
            default=None,
            help="person-weeks this cycle (default: [planning] capacity)",
        )
    check.set_defaults(func=cmd_backlog_check)
    order.set_defaults(func=cmd_backlog_order)
    publish.set_defaults(func=cmd_backlog_publish)
    override.set_defaults(func=cmd_backlog_override)
    lg.set_defaults(func=cmd_backlog_log)
    impact.set_defaults(func=cmd_backlog_impact)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poanalytics",
        description="Product analytics, support tickets and interview notes in one DuckDB warehouse.",
    )
    parser.add_argument(
        "--db", default=None, help="warehouse file (default: data/warehouse.duckdb of the project)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ing = sub.add_parser(
        "ingest",
        help="load events, tickets or notes from a file, folder or glob",
        description="Load a file, folder or glob into the warehouse. Bad rows are kept in "
        "the quarantine table with their reason; loading twice changes nothing.",
    )
    ing.add_argument("kind", choices=["events", "tickets", "notes"], help="what the files hold")
    ing.add_argument("path", help="file, directory or glob (quote globs: 'exports/*.jsonl')")
    ing.add_argument(
        "--format",
        default=None,
        help="source format (default: detected), e.g. segment, zendesk, csv",
    )
    ing.add_argument(
        "--map",
        action="append",
        metavar="CANONICAL=SOURCE",
        help="map a canonical field to a source column, e.g. --map user_id=case:concept:name",
    )
    ing.add_argument(
        "--const",
        action="append",
        metavar="CANONICAL=VALUE",
        help="a fixed value for a field the file lacks, e.g. --const event=purchase",
    )
    ing.add_argument(
        "--delimiter",
        default=None,
        help="CSV delimiter (default: found from the file), e.g. ';' or '\\t'; "
        "'whitespace' for columns aligned with blanks",
    )
    ing.add_argument(
        "--timezone", default="UTC", help="zone of times written without an offset (default UTC)"
    )
    ing.add_argument(
        "--timestamp-format",
        default=None,
        help="strptime format for dates, e.g. '%%d/%%m/%%Y %%H:%%M' or '%%Y%%m%%d' (20101201); "
        "or an epoch unit: epoch_s, epoch_ms, epoch_us, epoch_ns",
    )
    ing.add_argument(
        "--encoding",
        default=None,
        help="text encoding of files that are not UTF-8, e.g. cp1252 (UTF-16 is detected)",
    )
    ing.add_argument(
        "--text-column",
        action="append",
        metavar="COLUMN",
        help="notes --format survey: an open-text column (repeat; default: detected)",
    )
    ing.add_argument(
        "--survey",
        default=None,
        help="notes --format survey: the survey's name (default: file name)",
    )
    ing.add_argument(
        "--quiet", action="store_true", help="no progress bar and no quarantine preview"
    )
    ing.set_defaults(func=cmd_ingest)

    st = sub.add_parser(
        "status",
        help="row counts, date ranges, sources and quarantine counts",
        description="Summarise what the warehouse holds.",
    )
    st.set_defaults(func=cmd_status)

    opt = sub.add_parser(
        "optimize",
        help="rewrite the events in user order, for faster funnels, paths and retention",
        description="Rewrite the events table with each user's events together and in time "
        "order (load order kept within a user). Same numbers, faster per-user questions; "
        "every row is kept, checked by a count. Worth running after a large load.",
    )
    opt.set_defaults(func=cmd_optimize)

    exp = sub.add_parser(
        "export",
        help="write the events as a Parquet data set that Spark reads as it is",
        description="Write a table of the warehouse to a data lake folder (docs/warehouse.md).",
    )
    exp_sub = exp.add_subparsers(
        dest="export_what", required=True, metavar="WHAT", help="events (the events table)"
    )
    exp_events = exp_sub.add_parser(
        "events",
        help="write the events as Parquet, in day=YYYY-MM-DD folders of the UTC day",
        description="Write the events to the folder PATH as Parquet that Apache Spark, pyarrow "
        "and DuckDB read as it is: the events' columns (properties as JSON text, ts a UTC "
        "timestamp) and seq, the load order that breaks ties at one instant; partitioned by the "
        "UTC day (day=YYYY-MM-DD folders) or not (one file). Written beside PATH and renamed "
        "into place once every row is found in the files. Only reads the warehouse.",
    )
    exp_events.add_argument("path", help="the folder to write (new or empty, or --overwrite)")
    exp_events.add_argument(
        "--format", default="parquet", help="file format (default and only one: parquet)"
    )
    exp_events.add_argument(
        "--partition-by",
        dest="partition_by",
        default="day",
        metavar="day|none",
        help="day: one folder per UTC day, day=YYYY-MM-DD (default); none: one file",
    )
    exp_events.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier export in PATH (a folder of Parquet files; anything else is "
        "refused)",
    )
    exp_events.add_argument("--db", default=argparse.SUPPRESS, help="warehouse file")
    exp_events.set_defaults(func=cmd_export_events)

    q = sub.add_parser(
        "quarantine",
        help="list the rows kept aside, with file, row, column and reason",
        description="List quarantined rows (newest loads first).",
    )
    q.add_argument("--load", type=int, default=None, help="only this load id")
    q.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")
    q.set_defaults(func=cmd_quarantine)

    demo = sub.add_parser(
        "demo",
        help="generate the demo data set and load it into the warehouse",
        description="Generate a deterministic B2B SaaS data set (events, tickets, interview "
        "notes, backlog) with planted stories, then load it.",
    )
    demo.add_argument("--users", type=int, default=2000, help="number of users (default 2000)")
    demo.add_argument("--weeks", type=int, default=16, help="weeks of history (default 16)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument(
        "--out", default=None, help="folder for the generated files (default data/demo)"
    )
    demo.add_argument("--no-load", action="store_true", help="only write the files")
    demo.set_defaults(func=cmd_demo)

    voice = sub.add_parser(
        "voice",
        help="themes of tickets and interview notes: refresh, list, discover and accept",
        description="Voice of the customer (docs/voice.md): assign tickets and interview "
        "highlights to the themes of conf/themes.toml (or discovered ones when there is none), "
        "list the themes, and propose new themes for what the taxonomy does not cover.",
    )
    voice_sub = voice.add_subparsers(
        dest="voice_command", required=True, metavar="WHAT", help="refresh, themes or discover"
    )
    vr = voice_sub.add_parser(
        "refresh",
        help="compute the voice tables now (every voice command refreshes when stale)",
        description="Read the tickets and highlights, clean their text, score sentiment, group "
        "near-duplicates and assign themes, stored in the voice_* tables in one transaction. "
        "Does nothing when the stored refresh is current, unless --force.",
    )
    vr.add_argument("--force", action="store_true", help="refresh even when current")
    vr.add_argument(
        "--seed", type=int, default=0, help="seed of discovered themes (no taxonomy; default 0)"
    )
    vr.set_defaults(func=cmd_voice_refresh)
    vt = voice_sub.add_parser(
        "themes",
        help="the themes with items, unique problems, users, share, sentiment and trend",
        description="List the themes of the stored refresh (refreshing first when stale), "
        "largest first, and how many items are in none and why.",
    )
    vd = voice_sub.add_parser(
        "discover",
        help="propose themes for the items the taxonomy does not cover; --accept adds them",
        description="Group the items no taxonomy theme took (--all: every item) into proposed "
        "themes (TF-IDF + NMF, deterministic for --seed), each with its terms, examples and the "
        "keyword rule it would get. --accept appends them (or the ones named) to "
        "conf/themes.toml, keeping the file's text; the next voice command uses them.",
    )
    for cmd in (vt, vd):
        cmd.add_argument(
            "--source",
            choices=["all", "tickets", "notes"],
            default="all",
            help="tickets, notes (interview highlights) or all (default)",
        )
        cmd.add_argument(
            "--from", dest="date_from", default=None, help="first day, e.g. 2026-03-01"
        )
        cmd.add_argument("--to", dest="date_to", default=None, help="last day (included)")
    vt.set_defaults(func=cmd_voice_themes)
    vd.add_argument(
        "--n", type=int, default=None, help="number of themes (default: chosen from the data)"
    )
    vd.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    vd.add_argument("--all", action="store_true", help="every item, not only those no theme took")
    vd.add_argument(
        "--accept",
        nargs="*",
        default=None,
        metavar="LABEL",
        help="accept proposed themes into the taxonomy: all of them, or the labels or [numbers] "
        "given",
    )
    vd.add_argument(
        "--name",
        action="append",
        metavar="LABEL=NAME",
        help="with --accept: the taxonomy name of a proposed theme, by its label or [number] "
        "(default: made from its label), e.g. --name 1=porting",
    )
    vd.set_defaults(func=cmd_voice_discover)

    _add_backlog_parser(sub)

    rep = sub.add_parser(
        "report",
        help="the weekly HTML report: run it, list past runs",
        description="Run the weekly report notebook and publish reports/<week>/index.html.",
    )
    rep_sub = rep.add_subparsers(
        dest="report_command", required=True, metavar="WHAT", help="weekly or history"
    )
    weekly = rep_sub.add_parser(
        "weekly",
        help="run the load and report notebooks and publish reports/<week>/index.html",
        description="Check the parameters and the warehouse, run notebooks/00_load.ipynb and "
        "notebooks/90_weekly_report.ipynb with papermill, and publish reports/<week>/index.html "
        "(with report.ipynb and summary.json) and reports/index.html. A failure keeps the last "
        "good report, writes reports/<week>/failed.html and exits 2. Runs never overlap: a second "
        "run fails at once with [report.busy].",
    )
    weekly.add_argument(
        "--week", default=None, help="ISO week, e.g. 2026-W47 (default: the last complete week)"
    )
    weekly.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="a parameter of the report notebook for this run, e.g. --param window=14d or "
        "--param steps=signed_up,activated (lists comma-separated); repeat for more",
    )
    weekly.add_argument("--db", default=argparse.SUPPRESS, help="warehouse file")
    weekly.set_defaults(func=cmd_report_weekly)
    hist = rep_sub.add_parser(
        "history",
        help="list the report runs, newest first",
        description="List the report runs recorded in the warehouse (report_runs), newest first.",
    )
    hist.add_argument("--limit", type=int, default=20, help="runs to show (default 20)")
    hist.add_argument("--db", default=argparse.SUPPRESS, help="warehouse file")
    hist.set_defaults(func=cmd_report_history)
    sched = sub.add_parser(
        "schedule",
        help="run the weekly report on a schedule (cron or a systemd user timer)",
        description="Install, show or remove the weekly run of `poanalytics report weekly` with "
        "the system's scheduler: a crontab entry, or a systemd user timer where systemd runs. "
        "Only this project's own entry is touched.",
    )
    actions = sched.add_subparsers(
        dest="action", required=True, metavar="ACTION", help="install, status or remove"
    )
    inst = actions.add_parser(
        "install",
        help="schedule the weekly report (installing again replaces the entry)",
        description="Schedule `poanalytics report weekly` and print exactly what was installed.",
    )
    inst.add_argument(
        "--weekly",
        default=None,
        metavar='"DAY HH:MM"',
        help='day and local time, e.g. "mon 07:00" (default: [schedule] weekly in '
        "conf/report.toml)",
    )
    inst.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="a report parameter for every scheduled run (repeat); on top of [schedule] params",
    )
    stat = actions.add_parser(
        "status",
        help="show the entry and when it runs next (exit status 1: not scheduled)",
        description="Show this project's scheduled run, its next run time and its log file.",
    )
    rem = actions.add_parser(
        "remove",
        help="remove this project's entry (others are left alone)",
        description="Remove this project's scheduled run; other crontab lines stay as they are.",
    )
    for action in (inst, stat, rem):
        action.add_argument(
            "--scheduler",
            choices=["auto", "cron", "systemd"],
            default=None,
            help="auto: a systemd user timer where systemd runs, else cron (default: [schedule] "
            "scheduler in conf/report.toml). POANALYTICS_CRONTAB_FILE names a crontab file to "
            "use instead of the user's crontab",
        )
    sched.set_defaults(func=cmd_schedule)
    return parser


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except PoaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the warehouse is unchanged by the unfinished load", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            status = _run(argv)
        except SystemExit:  # argparse after --help or a usage error: flush here, not at exit
            sys.stdout.flush()
            raise
        sys.stdout.flush()  # a closed pipe shows here, where it can be caught
        return status
    except BrokenPipeError:
        # The reader is gone (`| head`). Point stdout at /dev/null so that the interpreter's last
        # flush does not fail again, and exit as a program stopped by SIGPIPE (128 + 13).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    raise SystemExit(main())

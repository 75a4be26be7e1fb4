"""wb.backlog(): the Backlog session on a small hand-built project (a product file in a temporary
project root and a few users' events), its errors, overrides shown in the next ordering, and
publishing refused on a read-only warehouse."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

import poanalytics as poa
from poanalytics.backlog.errors import BacklogError
from tests.backlog_project import PRODUCT, make_project, project_settings


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("project"))


def _wb(root: Path, path: Path | None = None, **kw) -> poa.Workbench:
    return poa.Workbench(path or root / "w.duckdb", config=project_settings(root), **kw)


@pytest.fixture
def writable(project, tmp_path) -> poa.Workbench:
    """A copy of the project's warehouse, to write the decision log into."""
    copy = tmp_path / "w.duckdb"
    shutil.copy(project / "w.duckdb", copy)
    wb = _wb(project, copy)
    yield wb
    wb.close()


def test_no_product_file_says_what_to_do(tmp_path):
    with _wb(tmp_path, tmp_path / "w.duckdb", create=True) as wb:
        with pytest.raises(BacklogError) as err:
            wb.backlog()
        assert err.value.code == "backlog.no_product"
        assert "conf/product.toml" in str(err.value) and "docs/backlog-config.md" in str(err.value)
        with pytest.raises(BacklogError) as err:
            wb.objectives(config="conf/elsewhere.toml")
        assert err.value.code == "backlog.config_missing"


def test_as_of_defaults_to_the_newest_event_and_a_day_means_its_end(project):
    with _wb(project, read_only=True) as wb:
        assert wb.backlog().as_of == pd.Timestamp("2026-11-16 12:00", tz="UTC")
        b = wb.backlog(as_of="2026-11-09")
        assert b.as_of == pd.Timestamp("2026-11-10", tz="UTC") - pd.Timedelta(microseconds=1)
        with pytest.raises(poa.PoaError) as err:
            wb.backlog(as_of="09/11/2026")  # which is the month? refused at once
        assert err.value.code == "metric.date"


def test_no_events_is_a_coded_error(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "product.toml").write_text(PRODUCT)
    with _wb(tmp_path, tmp_path / "w.duckdb", create=True) as wb:
        with pytest.raises(BacklogError) as err:
            wb.backlog().order()
        assert err.value.code == "backlog.no_events"


def test_items_evidence_and_order_come_from_one_session(project):
    with _wb(project, read_only=True) as wb:
        b = wb.backlog()
        assert list(b.items.item_id) == ["A-1", "A-2", "A-3"]
        assert b.load.accounting["loaded"] == 3
        order = b.order()
        assert set(order.table.item_id) == {"A-1", "A-2", "A-3"}
        assert order.table["rank"].tolist() == [1, 2, 3]
        evidence = b.evidence("A-1")
        assert (evidence.table.item_id == "A-1").all() and len(evidence.table)
        assert "SELECT" in evidence.sql.upper()
        assert b.evidence("A-2").table.empty  # no link, no evidence
        assert b.ledger() is b.ledger()  # computed once
        html = b._repr_html_()
        assert "3 items" in html and "A-1" in html


def test_unknown_item_has_a_did_you_mean(project):
    with _wb(project, read_only=True) as wb:
        b = wb.backlog()
        for call in (lambda: b.evidence("A1"), lambda: b.impact("A1")):
            with pytest.raises(BacklogError) as err:
                call()
            assert err.value.code == "backlog.unknown_item"
            assert "Did you mean 'A-1'" in str(err.value)


def test_override_needs_a_reason_a_known_item_and_a_rank_in_range(writable):
    b = writable.backlog()
    with pytest.raises(BacklogError) as err:
        b.override("A-2", 1, "")
    assert err.value.code == "backlog.override_reason"
    with pytest.raises(BacklogError) as err:
        b.override("A-9", 1, "the CEO asked")
    assert err.value.code == "backlog.unknown_item"
    for rank in (0, 4, 1.5, True):
        with pytest.raises(BacklogError) as err:
            b.override("A-2", rank, "the CEO asked")
        assert err.value.code == "backlog.override_rank"
    assert b.overrides().table.empty  # nothing was recorded


def test_an_override_shows_in_the_next_order_and_snapshot_until_withdrawn(writable):
    b = writable.backlog()
    before = b.order().table.set_index("item_id")
    assert before.loc["A-2", "rank"] != 1
    top = b.order().table["rank"].iloc[0]  # a numpy integer, as read from a table
    b.override("A-2", top, "dark mode is in the enterprise contract")
    after = writable.backlog().order().table.set_index("item_id")  # a new session sees it
    assert after.loc["A-2", "rank"] == 1
    assert after.loc["A-2", "evidence_rank"] == before.loc["A-2", "rank"]
    assert after.loc["A-2", "override_reason"] == "dark mode is in the enterprise contract"
    assert "enterprise contract" in after.loc["A-2", "reason"]
    published = writable.backlog().publish(note="with the override")
    row = published.table.set_index("item_id").loc["A-2"]
    assert row["rank"] == 1 and pd.notna(row["override_id"])
    log = writable.decision_log().table.set_index("item_id")
    assert log.loc["A-2", "override_reason"] == "dark mode is in the enterprise contract"
    writable.backlog().withdraw_override("A-2")
    again = writable.backlog().order().table.set_index("item_id")
    assert again.loc["A-2", "rank"] == before.loc["A-2", "rank"]
    assert pd.isna(again.loc["A-2", "override_reason"])


def test_publish_needs_a_writable_warehouse(project):
    with _wb(project, read_only=True) as wb:
        b = wb.backlog()
        for call in (lambda: b.publish(note="x"), lambda: b.override("A-2", 1, "why")):
            with pytest.raises(BacklogError) as err:
                call()
            assert err.value.code == "backlog.read_only"
        assert wb.decision_log().table.empty  # reading the log is fine


def test_objectives_are_measured_at_the_backlogs_date(project):
    with _wb(project, read_only=True) as wb:
        table = wb.objectives().table
        assert table.objective.tolist() == ["first_report"]
        assert table.current.iloc[0] == pytest.approx(10 / 40)
        assert wb.backlog().objectives().table.current.iloc[0] == pytest.approx(10 / 40)


def test_every_result_draws_a_figure_and_a_tradeoff_says_what_slips(writable):
    b = writable.backlog()
    order = b.order(capacity=1)
    top, second = order.table.item_id.iloc[0], order.table.item_id.iloc[1]
    moved = b.tradeoff(second, 1, capacity=1)
    assert moved.table.set_index("item_id").loc[top, "change"] == "slips"
    assert second in moved.summary() and top in moved.summary()
    b.override("A-2", 1, "the contract")
    results = [
        order,
        b.scores(),
        b.evidence("A-1"),
        b.checks(),
        moved,
        b.overrides(),
        b.publish(note="figures"),
        writable.decision_log(),
        b.impact_map(),
        b.objectives(),
    ]
    for result in results:
        fig = result.figure()
        assert fig.data or fig.layout.title.text, type(result).__name__
    tree = b.impact_map().table
    assert set(tree.item_id.dropna()) == {"A-1", "A-2", "A-3"}
    assert tree[tree.item_id.notna()].objective.isna().all()  # no item serves an objective
    assert tree[tree.item_id.isna()].objective.tolist() == ["first_report"]  # none serves it

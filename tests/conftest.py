"""Shared fixtures: real DuckDB warehouses (in memory and on disk) and the shared real data sets."""

from __future__ import annotations

from pathlib import Path

import pytest

import poanalytics as poa

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def wb() -> poa.Workbench:
    """An in-memory warehouse."""
    workbench = poa.Workbench(":memory:")
    yield workbench
    workbench.close()


@pytest.fixture
def duck_wb() -> poa.Workbench:
    """An in-memory DuckDB warehouse, for tests of what only DuckDB does (its SQL, its funnel
    strategies, the result views Spark does not answer yet) in modules whose ``wb`` runs on both
    engines."""
    workbench = poa.Workbench(":memory:")
    yield workbench
    workbench.close()


@pytest.fixture(scope="session")
def spark():
    """One local Spark (local[2]) for the whole test session (Java from Debian, `make spark`)."""
    from poanalytics.spark import local_session

    session = local_session(cores=2, memory="1g")
    yield session
    session.stop()


@pytest.fixture(params=["duckdb", "spark"])
def engine_wb(request: pytest.FixtureRequest):
    """An in-memory warehouse whose metric calls run on DuckDB, then on Spark (tests/engines.py):
    a journey test module takes it as its ``wb`` to prove both engines give the same numbers."""
    workbench = poa.Workbench(":memory:")
    if request.param == "duckdb":
        yield workbench
        workbench.close()
        return
    from tests.engines import OnSpark

    both = OnSpark(workbench, request.getfixturevalue("spark"))
    yield both
    both.close()


@pytest.fixture
def wb_file(tmp_path: Path) -> poa.Workbench:
    """A warehouse in a real DuckDB file."""
    workbench = poa.Workbench(tmp_path / "warehouse.duckdb")
    yield workbench
    workbench.close()


@pytest.fixture
def older_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, int]:
    """A warehouse file made by 'an older poanalytics': the code now knows one more migration than
    the file has applied. Returns the path and the version the migration brings."""
    from poanalytics import schema

    path = tmp_path / "old.duckdb"
    with poa.Workbench(path, create=True):
        pass
    extra = (schema.LATEST + 1, "test column", "ALTER TABLE events ADD COLUMN test_col VARCHAR")
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, extra])
    monkeypatch.setattr(schema, "LATEST", extra[0])
    return path, extra[0]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: real third-party files (see its README). CI has it beside the clone."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared data sets are missing: expected them at {SHARED_DATA}")
    return SHARED_DATA


def counts_add_up(report: poa.LoadReport) -> bool:
    """The report's parts add up. Each part is counted by its own query in the loader (which fails a
    load whose parts do not add up), so this checks the report, not the file: tests that check the
    counts against the file count its rows themselves (tests/test_ingest_accounting.py, corpus)."""
    return report.rows_read == report.rows_loaded + report.rows_quarantined + report.rows_duplicate


@pytest.fixture(scope="session")
def demo10k_files(tmp_path_factory: pytest.TempPathFactory):
    """The demo data set at 10,000 users (16 weeks, ending 2026-11-16), generated once per test
    session: at the default 2,000 users the planted stories are small samples."""
    from poanalytics import demo

    return demo.generate(tmp_path_factory.mktemp("demo10k") / "demo", users=10_000, weeks=16)


@pytest.fixture(scope="session")
def demo10k_wb(demo10k_files, tmp_path_factory: pytest.TempPathFactory):
    """A warehouse file holding demo10k_files, voice refreshed with conf/themes.toml. Shared by the
    whole session: tests must not write to it (open another Workbench on a copy to write)."""
    import warnings

    from poanalytics import demo

    wb = poa.Workbench(tmp_path_factory.mktemp("demo10k_wh") / "warehouse.duckdb")
    demo.load_demo(wb, demo10k_files)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", poa.PoaWarning)  # demo themes without a match
        wb.voice_refresh()
    yield wb
    wb.close()

"""Settings and paths, resolved once.

The project root is ``POANALYTICS_ROOT`` when set, else the nearest folder holding
``conf/poanalytics.toml`` above the working directory, else above the notebook JupyterLab runs
(``JPY_SESSION_NAME``). So notebooks run from ``notebooks/``, the CLI run from the root and a
scheduler that sets POANALYTICS_ROOT see the same warehouse. When no root is found the default
warehouse is refused (``config.no_root``), never created in whatever folder the process runs in.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import ConfigError

CONFIG_NAME = Path("conf") / "poanalytics.toml"
THEMES_NAME = Path("conf") / "themes.toml"


def find_root(start: Path | None = None) -> Path:
    """The project root: ``$POANALYTICS_ROOT``, else the nearest parent of ``start`` (the working
    directory), or of the notebook JupyterLab runs, with conf/poanalytics.toml; else ``start``
    (``Settings.root_found`` is then False and the default warehouse is refused)."""
    return _find_root(start)[0]


def _find_root(start: Path | None = None) -> tuple[Path, bool]:
    env = os.environ.get("POANALYTICS_ROOT")
    if env and start is None:
        return Path(env).expanduser().resolve(), True
    here = (start or Path.cwd()).resolve()
    notebook = os.environ.get("JPY_SESSION_NAME", "") if start is None else ""
    for origin in (here, Path(notebook).expanduser().resolve().parent if notebook else None):
        if origin is None:
            continue
        for folder in (origin, *origin.parents):
            if (folder / CONFIG_NAME).is_file():
                return folder, True
    return here, False


@dataclass(frozen=True)
class Settings:
    root: Path
    warehouse: Path
    demo_dir: Path
    reports_dir: Path
    limits: dict[str, int] = field(default_factory=dict)
    # [duckdb]: DuckDB's memory_limit ('' = DuckDB's default, 80% of the RAM it sees) and the folder
    # it spills to when a query needs more (None = next to a warehouse file, see spill_directory)
    memory_limit: str = ""
    temp_directory: Path | None = None
    # [duckdb] load_memory_limit: DuckDB's memory_limit while a load runs, when memory_limit is
    # empty (a re-load of 20M events checks every row against the stored ones: unbounded, DuckDB
    # held 9 GB for it; at "1GB" it spills and the process peaks at 1.4 GB). '' = no bound of its own
    load_memory_limit: str = "1GB"
    # [duckdb] lock_timeout: seconds a query or load waits for a warehouse another process writes
    lock_timeout: float = 30.0
    # False when no conf/poanalytics.toml was found: the default warehouse path is then refused
    root_found: bool = True
    # [voice]: the analysis limit of a ticket's or highlight's text (longer text is cut and flagged,
    # never dropped) and the theme taxonomy file (poanalytics.voice.taxonomy)
    voice_max_chars: int = 20_000
    themes_file: Path | None = None

    @property
    def taxonomy_path(self) -> Path:
        """The theme taxonomy: ``[voice] taxonomy`` (default conf/themes.toml under the root)."""
        return self.themes_file if self.themes_file is not None else self.root / THEMES_NAME

    def default_warehouse(self) -> Path:
        """The configured warehouse; ``config.no_root`` when no project root was found, so a
        process run from another folder never makes or reads a stray warehouse there."""
        if not self.root_found:
            raise ConfigError(
                f"no poanalytics project found: neither {self.root} nor a folder above it holds "
                f"{CONFIG_NAME}, and POANALYTICS_ROOT is not set",
                code="config.no_root",
                hint="set POANALYTICS_ROOT to the project folder (the one holding conf/), run "
                "from inside the project, or pass the warehouse path: Workbench(path) / --db PATH",
            )
        return self.warehouse

    def spill_directory(self, warehouse: str) -> Path | None:
        """Where DuckDB spills for this warehouse: temp_directory when set; else None (DuckDB's own
        choice, ``<warehouse>.tmp`` beside the file) for a file, and the system temp folder for
        ``:memory:`` (DuckDB's default there is ``.tmp`` in whatever the working directory is)."""
        if self.temp_directory is not None:
            return self.temp_directory
        if warehouse == ":memory:":
            return Path(tempfile.gettempdir()) / f"poanalytics-spill-{os.getuid()}"
        return None

    @property
    def max_text(self) -> int:
        return self.limits.get("max_text_chars", 1_000_000)

    @property
    def max_name(self) -> int:
        return self.limits.get("max_name_chars", 512)

    @property
    def max_properties(self) -> int:
        return self.limits.get("max_properties_chars", 65_536)


@lru_cache(maxsize=8)
def _load(root: Path, found: bool = True) -> Settings:
    data: dict = {}
    path = root / CONFIG_NAME
    if path.is_file():
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    paths = data.get("paths", {})
    engine = data.get("duckdb", {})
    temp = str(engine.get("temp_directory", "") or "")
    voice = data.get("voice", {})
    themes = str(voice.get("taxonomy", "") or "")
    return Settings(
        root=root,
        warehouse=root / paths.get("warehouse", "data/warehouse.duckdb"),
        demo_dir=root / paths.get("demo", "data/demo"),
        reports_dir=root / paths.get("reports", "reports"),
        limits={k: int(v) for k, v in data.get("limits", {}).items()},
        memory_limit=str(engine.get("memory_limit", "") or ""),
        load_memory_limit=str(engine.get("load_memory_limit", Settings.load_memory_limit) or ""),
        temp_directory=(root / Path(temp).expanduser()) if temp else None,
        lock_timeout=_timeout(engine.get("lock_timeout", 30), path),
        root_found=found,
        voice_max_chars=_positive(voice.get("max_chars", 20_000), "max_chars", "voice", path),
        themes_file=(root / Path(themes).expanduser()) if themes else None,
    )


def _positive(value: object, key: str, section: str, path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{key} = {value!r} under [{section}] in {path} is not a whole number of at least 1",
            code="config.voice_max_chars",
            hint="set max_chars under [voice] to the characters of a ticket or highlight to "
            "analyse, e.g. 20000 (longer text is cut and flagged as truncated)",
        )
    return value


def _timeout(value: object, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(
            f"lock_timeout = {value!r} in {path} is not a number of seconds",
            code="config.lock_timeout",
            hint="set lock_timeout under [duckdb] to seconds to wait for a locked warehouse, "
            "e.g. 30 (0: fail at once)",
        )
    return float(value)


def settings(root: Path | None = None) -> Settings:
    """Settings for the project that holds the working directory (or ``root``)."""
    return _load(*_find_root(root))

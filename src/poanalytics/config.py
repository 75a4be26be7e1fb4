"""Settings and paths, resolved once.

The project root is found from ``POANALYTICS_ROOT`` or by walking up from the working directory
to the folder that holds ``conf/poanalytics.toml``, so notebooks run from ``notebooks/`` and the
CLI run from the root see the same warehouse.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

CONFIG_NAME = Path("conf") / "poanalytics.toml"


def find_root(start: Path | None = None) -> Path:
    """The project root: ``$POANALYTICS_ROOT``, else the nearest parent with conf/poanalytics.toml."""
    env = os.environ.get("POANALYTICS_ROOT")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    return here


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
def _load(root: Path) -> Settings:
    data: dict = {}
    path = root / CONFIG_NAME
    if path.is_file():
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    paths = data.get("paths", {})
    engine = data.get("duckdb", {})
    temp = str(engine.get("temp_directory", "") or "")
    return Settings(
        root=root,
        warehouse=root / paths.get("warehouse", "data/warehouse.duckdb"),
        demo_dir=root / paths.get("demo", "data/demo"),
        reports_dir=root / paths.get("reports", "reports"),
        limits={k: int(v) for k, v in data.get("limits", {}).items()},
        memory_limit=str(engine.get("memory_limit", "") or ""),
        temp_directory=(root / Path(temp).expanduser()) if temp else None,
    )


def settings(root: Path | None = None) -> Settings:
    """Settings for the project that holds the working directory (or ``root``)."""
    return _load(find_root(root))

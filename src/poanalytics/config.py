"""Settings and paths, resolved once.

The project root is found from ``POANALYTICS_ROOT`` or by walking up from the working directory
to the folder that holds ``conf/poanalytics.toml``, so notebooks run from ``notebooks/`` and the
CLI run from the root see the same warehouse.
"""

from __future__ import annotations

import os
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
    return Settings(
        root=root,
        warehouse=root / paths.get("warehouse", "data/warehouse.duckdb"),
        demo_dir=root / paths.get("demo", "data/demo"),
        reports_dir=root / paths.get("reports", "reports"),
        limits={k: int(v) for k, v in data.get("limits", {}).items()},
    )


def settings(root: Path | None = None) -> Settings:
    """Settings for the project that holds the working directory (or ``root``)."""
    return _load(find_root(root))

"""poanalytics: product analytics, support tickets and interview notes in one DuckDB warehouse.

The public names load on first use (PEP 562), so ``import poanalytics`` and the command line's
``--help`` do not pay for pandas, DuckDB and plotly (about 2 s on a small machine).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, InputError, PoaError, PoaWarning, WarehouseError

if TYPE_CHECKING:
    from . import report  # poa.report.weekly, poa.report.data_health (a subpackage, loaded on use)
    from .charts.notebook import setup_notebook
    from .ingest.mapping import Const
    from .ingest.pipeline import LoadReport
    from .metrics import (
        DropoffResult,
        Exclusion,
        FunnelResult,
        MetricError,
        PathsResult,
        Prop,
        Step,
    )
    from .redaction import redact
    from .report.redact_objects import redact_figure, redact_frame
    from .status import Status
    from .workbench import Workbench

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY = {
    "setup_notebook": ".charts.notebook",
    "Const": ".ingest.mapping",
    "LoadReport": ".ingest.pipeline",
    "DropoffResult": ".metrics",
    "Exclusion": ".metrics",
    "FunnelResult": ".metrics",
    "MetricError": ".metrics",
    "PathsResult": ".metrics",
    "Step": ".metrics",
    "Prop": ".metrics",
    "Status": ".status",
    "redact": ".redaction",
    "redact_figure": ".report.redact_objects",
    "redact_frame": ".report.redact_objects",
    "Workbench": ".workbench",
}

__all__ = [
    "ConfigError",
    "Const",
    "DropoffResult",
    "Exclusion",
    "FunnelResult",
    "MetricError",
    "PathsResult",
    "Step",
    "InputError",
    "LoadReport",
    "PoaError",
    "PoaWarning",
    "Prop",
    "Status",
    "WarehouseError",
    "Workbench",
    "setup_notebook",
    "redact",
    "redact_figure",
    "redact_frame",
    "report",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}"):
            return importlib.import_module(f".{name}", __name__)  # a subpackage: poa.metrics
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

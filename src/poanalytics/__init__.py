"""poanalytics: product analytics, support tickets and interview notes in one DuckDB warehouse."""

from .charts.notebook import setup_notebook
from .errors import ConfigError, InputError, PoaError, WarehouseError
from .ingest.pipeline import LoadReport
from .metrics import DropoffResult, Exclusion, FunnelResult, MetricError, PathsResult, Step
from .status import Status
from .workbench import Workbench

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DropoffResult",
    "Exclusion",
    "FunnelResult",
    "MetricError",
    "PathsResult",
    "Step",
    "InputError",
    "LoadReport",
    "PoaError",
    "Status",
    "WarehouseError",
    "Workbench",
    "setup_notebook",
    "__version__",
]

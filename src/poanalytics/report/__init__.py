"""Reports: what leaves the workbench (weekly HTML report, exports) and the redaction it goes through.

``poa.report.weekly(wb, week="2026-W47")`` builds the weekly report's context (report/week_context.py);
``poa.report.data_health(wb)`` the data health checks (report/health.py); sections register
themselves in ``poa.report.sections``. The names load on first use, so ``poa.redact`` stays light.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import ReportConfig, load_report_config
    from .context import ReportContext
    from .health import DataHealth, data_health
    from .sections import Section, register
    from .week_context import check_funnel_events, weekly
    from .weeks import Week, parse_week

_LAZY = {
    "ReportConfig": ".config",
    "load_report_config": ".config",
    "ReportContext": ".context",
    "DataHealth": ".health",
    "data_health": ".health",
    "Section": ".sections",
    "register": ".sections",
    "check_funnel_events": ".week_context",
    "weekly": ".week_context",
    "Week": ".weeks",
    "parse_week": ".weeks",
}

__all__ = [
    "DataHealth",
    "ReportConfig",
    "ReportContext",
    "Section",
    "Week",
    "check_funnel_events",
    "data_health",
    "load_report_config",
    "parse_week",
    "register",
    "weekly",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}"):
            return importlib.import_module(f".{name}", __name__)  # a module: poa.report.sections
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

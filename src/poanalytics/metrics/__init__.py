"""Metrics on the warehouse: each is a query object -> SQL builder -> result carrying its SQL."""

from .funnel import FunnelQuery, FunnelResult, run_funnel, wilson
from .spec import Exclusion, MetricError, Step, parse_window

__all__ = [
    "Exclusion",
    "FunnelQuery",
    "FunnelResult",
    "MetricError",
    "Step",
    "parse_window",
    "run_funnel",
    "wilson",
]

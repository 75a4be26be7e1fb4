"""Metrics on the warehouse: each is a query object -> SQL builder -> result carrying its SQL."""

from .churn import (
    ChurnQuery,
    ChurnResult,
    SurvivalQuery,
    SurvivalResult,
    kaplan_meier,
    run_churn,
    run_survival,
)
from .compare import Comparison, ComparisonQuery
from .funnel import FunnelQuery, FunnelResult, run_funnel, wilson
from .funnel_correlation import CorrelationQuery, CorrelationResult, fisher_exact
from .funnel_dropoff import DropoffResult
from .lifecycle import (
    LifecycleQuery,
    LifecycleResult,
    StickinessResult,
    run_lifecycle,
    run_stickiness,
)
from .paths import PathsQuery, PathsResult, run_paths
from .retention import RetentionQuery, RetentionResult, run_retention
from .spec import Cond, Exclusion, Filter, MetricError, Prop, Step
from .validate import parse_window

__all__ = [
    "ChurnQuery",
    "ChurnResult",
    "Comparison",
    "ComparisonQuery",
    "CorrelationQuery",
    "CorrelationResult",
    "fisher_exact",
    "SurvivalQuery",
    "SurvivalResult",
    "kaplan_meier",
    "run_churn",
    "run_survival",
    "DropoffResult",
    "Exclusion",
    "FunnelQuery",
    "FunnelResult",
    "LifecycleQuery",
    "LifecycleResult",
    "MetricError",
    "PathsQuery",
    "PathsResult",
    "RetentionQuery",
    "RetentionResult",
    "Step",
    "Cond",
    "Filter",
    "Prop",
    "StickinessResult",
    "parse_window",
    "run_funnel",
    "run_lifecycle",
    "run_paths",
    "run_retention",
    "run_stickiness",
    "wilson",
]

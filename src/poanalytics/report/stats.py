"""Tests for week-over-week changes in counts (weekly active users, new users, tickets).

Two weeks' counts of *different* things (new users, tickets opened) are compared with the exact
Poisson test: given the total a + b, the current week's share is Binomial(a + b, 1/2) when both
weeks have the same rate (the conditional binomial test). Weekly active users are largely *the
same* people in both weeks, so their change is tested with the exact McNemar test on the users
active in only one of the two weeks (again Binomial(b + c, 1/2)): users active in both weeks carry
no information about the change. Either way a side below ``SMALL_COUNT`` is a small sample and never
called out (F14's rule for rates, applied to counts).
"""

from __future__ import annotations

import math
from typing import Any

CLEAR_P = 0.05
SMALL_COUNT = 10  # fewer than this on either side: a small sample, never called out

POISSON = "exact Poisson test (conditional binomial)"
MCNEMAR = "exact McNemar test (users active in only one of the two weeks)"


def binomial_half_p(k: int, n: int) -> float:
    """Two-sided p-value of k successes in n trials with success probability 1/2 (exact)."""
    if n <= 0:
        return math.nan
    m = min(k, n - k)
    if 2 * m == n:
        return 1.0
    log_half = n * math.log(2.0)
    base = math.lgamma(n + 1)
    total = 0.0
    for i in range(m, -1, -1):  # from the largest term down, until the rest cannot matter
        term = math.exp(base - math.lgamma(i + 1) - math.lgamma(n - i + 1) - log_half)
        total += term
        if term < total * 1e-17:
            break
    return min(1.0, 2.0 * total)


def count_change(current: int, previous: int) -> dict[str, Any]:
    """Two weeks' counts of different events: relative change, exact Poisson p-value, small
    sample and whether the change is clear (p < 0.05, no small sample)."""
    small = min(current, previous) < SMALL_COUNT
    p = binomial_half_p(current, current + previous)
    return _verdict(current, previous, p, small, POISSON)


def paired_change(current: int, previous: int, only_current: int, only_previous: int) -> dict:
    """Two weeks' active users, many of them the same people: exact McNemar test on those active
    in only one week (``only_current``, ``only_previous``)."""
    small = min(current, previous) < SMALL_COUNT or only_current + only_previous < SMALL_COUNT
    p = binomial_half_p(only_current, only_current + only_previous)
    if only_current + only_previous == 0:
        p = 1.0
    return _verdict(current, previous, p, small, MCNEMAR)


def _verdict(current: int, previous: int, p: float, small: bool, test: str) -> dict[str, Any]:
    change = (current - previous) / previous if previous else math.nan
    clear = bool(p == p and p < CLEAR_P and not small)
    return {"change": change, "p_value": p, "small_sample": small, "clear": clear, "test": test}

"""Numbers as a product owner reads them (issue 9): percent, durations, p-values, counts."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from poanalytics.format import MISSING, count, duration, p_value, percent, signed_points, times


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.924528, "92.5%"),
        (1, "100%"),
        (0, "0%"),
        (0.5, "50.0%"),
        (-0.05, "-5.0%"),
        (0.00049, "< 0.1%"),  # a few users never round down to 0%
        (0.99999, "> 99.9%"),  # nor up to 100%
    ],
)
def test_percent(value, text):
    assert percent(value) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (59786.34, "16 h 36 min"),
        (42, "42 s"),
        (0, "0 s"),
        (0.4, "0.4 s"),
        (60, "1 min"),
        (59.6, "1 min"),
        (3599.9, "1 h"),  # rounding carries into the larger unit
        (86370, "1 d"),
        (90061, "1 d 1 h"),
        (3 * 7 * 86400 + 2 * 86400, "3 wk 2 d"),
        (-3700, "-1 h 2 min"),
    ],
)
def test_duration(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("p", "text"), [(1.04e-47, "< 0.001"), (0.0123, "0.012"), (0.5, "0.50"), (1, "1.00")]
)
def test_p_value(p, text):
    assert p_value(p) == text


def test_counts_points_and_ratios():
    assert count(12345) == "12,345"
    assert count(1234.5) == "1,234.5"
    assert count(0) == "0"
    assert signed_points(-0.13) == "-13.0 pts"
    assert signed_points(0.05) == "+5.0 pts"
    assert signed_points(0) == "0.0 pts"
    assert times(0.24) == "4.2x less likely"
    assert times(4.2) == "4.2x more likely"
    assert times(1.01) == "as likely"
    assert times(0) == "never (0 converted)"


@pytest.mark.parametrize("missing", [None, math.nan, pd.NA, float("nan"), "x"])
def test_missing_values_show_a_dash(missing):
    for f in (count, percent, duration, p_value, signed_points, times):
        assert f(missing) == MISSING


def test_likelihood_in_words():
    from poanalytics.format import likelihood

    assert likelihood(0.24, 10, 50) == "4.2x less likely to convert"
    assert likelihood(0.005, 0, 114) == "none of them converted"  # not "202x less likely"
    assert likelihood(30, 40, 0) == "all of them converted"
    assert likelihood(None, 1, 1) == MISSING

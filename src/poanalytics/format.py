"""Numbers as a product owner reads them: percents, human durations, p-values, thousands separators.

Used by the charts, the result summaries and the report. Every function takes a number (or None/NaN
for "no value") and returns text; a missing value is ``MISSING`` ("—") so a table never shows "nan".
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

MISSING = "—"

# (seconds per unit, short name), largest first; a duration shows its two largest units
_UNITS = ((7 * 86400, "wk"), (86400, "d"), (3600, "h"), (60, "min"), (1, "s"))


def _number(x: Any) -> float | None:
    """The value as a float, or None for None, NaN, pandas NA and non-numbers."""
    if x is None or isinstance(x, bool):
        return None if x is None else float(x)
    if isinstance(x, Real):
        v = float(x)
        return None if math.isnan(v) else v
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def count(x: Any) -> str:
    """12345 -> "12,345"; a fraction keeps one decimal ("1,234.5")."""
    v = _number(x)
    if v is None:
        return MISSING
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    return f"{v:,.0f}" if v == round(v) else f"{v:,.1f}"


def percent(x: Any, digits: int = 1) -> str:
    """A fraction as a percent: 0.924528 -> "92.5%", 1 -> "100%", 0 -> "0%"."""
    v = _number(x)
    if v is None:
        return MISSING
    if v in (0.0, 1.0):  # exactly none or all
        return f"{100 * v:.0f}%"
    step = 10.0**-digits
    if 0 < 100 * v < step:  # never round a few users down to "0%" or up to "100%"
        return f"< {step:g}%"
    if 100 - step < 100 * v < 100:
        return f"> {100 - step:g}%"
    return f"{100 * v:.{digits}f}%"


def signed_points(x: Any, digits: int = 1) -> str:
    """A difference of two rates in percentage points: -0.13 -> "-13.0 pts", 0.05 -> "+5.0 pts"."""
    v = _number(x)
    if v is None:
        return MISSING
    text = f"{100 * v:+.{digits}f}"
    if float(text) == 0:
        text = f"{0:.{digits}f}"
    return f"{text} pts"


def duration(seconds: Any) -> str:
    """Seconds in the two largest sensible units: 59786.34 -> "16 h 36 min", 42 -> "42 s",
    90061 -> "1 d 1 h", 0 -> "0 s"; under a second "0.4 s"; negative durations keep their sign."""
    v = _number(seconds)
    if v is None:
        return MISSING
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    sign = "-" if v < 0 else ""
    v = abs(v)
    if v < 1:
        return f"{sign}{v:.1f} s" if round(v, 1) else "0 s"
    for i, (size, name) in enumerate(_UNITS[:-1]):
        sub = _UNITS[i + 1][0]
        rounded = round(v / sub)  # in the second unit, so 3599.9 s is "1 h", not "60 min"
        if rounded * sub >= size:
            first, rest = divmod(rounded, size // sub)
            return sign + f"{first} {name}" + (f" {rest} {_UNITS[i + 1][1]}" if rest else "")
    return f"{sign}{round(v)} s"


def p_value(p: Any) -> str:
    """A p-value as a reader needs it: 1.04e-47 -> "< 0.001", 0.0123 -> "0.012", 0.5 -> "0.50"."""
    v = _number(p)
    if v is None:
        return MISSING
    if v < 0.001:
        return "< 0.001"
    return f"{v:.3f}" if v < 0.1 else f"{v:.2f}"


def times(ratio: Any) -> str:
    """A ratio in words: 4.2 -> "4.2x more likely", 0.24 -> "4.2x less likely", 1 -> "as likely"."""
    v = _number(ratio)
    if v is None:
        return MISSING
    if v <= 0:
        return "never (0 converted)"
    if math.isinf(v):
        return "always (none dropped)"
    factor = v if v >= 1 else 1 / v
    if factor < 1.05:
        return "as likely"
    text = f"{factor:.0f}" if factor >= 10 else f"{factor:.1f}"
    return f"{text}x {'more' if v > 1 else 'less'} likely"


def likelihood(ratio: Any, converted: Any = None, dropped: Any = None) -> str:
    """How a group converts against the rest, in words, from its odds ratio and counts: "4.2x less
    likely to convert"; "none of them converted" when 0 did (the ratio then only reflects the
    continuity correction), "all of them converted" when none dropped off."""
    if _number(converted) == 0:
        return "none of them converted"
    if _number(dropped) == 0:
        return "all of them converted"
    text = times(ratio)
    return text if text == MISSING else f"{text} to convert"

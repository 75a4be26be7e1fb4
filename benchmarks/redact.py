"""Redaction speed: 10,000 distinct ticket subjects through redact_frame (prints seconds; not a test).

Run: .venv/bin/python benchmarks/redact.py
"""

from __future__ import annotations

import time

import pandas as pd

from poanalytics.demo.names import FIRST_NAMES, LAST_NAMES
from poanalytics.redaction import RedactConfig
from poanalytics.report.redact_objects import redact_frame

ROWS = 10_000


def subjects(kind: str) -> list[str]:
    if kind == "plain":  # most ticket subjects: no contact details at all
        return [
            f"Checkout fails on android after update 2.{i % 40}.{i} (ticket ZD-{i})"
            for i in range(ROWS)
        ]
    return [
        f"Order #{100000 + i} for user_{i:04d}: call +44 20 7946 {i % 10000:04d} or mail u{i}@x.io"
        for i in range(ROWS)
    ]


def main() -> None:
    names = [f"{f} {last}" for f in FIRST_NAMES for last in LAST_NAMES]
    for kind in ("plain", "contact"):
        for label, cfg in (
            ("no names", RedactConfig()),
            (f"{len(names)} names", RedactConfig(names=tuple(names))),
        ):
            frame = pd.DataFrame({"subject": subjects(kind)})
            start = time.perf_counter()
            redact_frame(frame, config=cfg)
            print(
                f"redact_frame {ROWS:,} {kind} subjects, {label}: {time.perf_counter() - start:.2f} s"
            )


if __name__ == "__main__":
    main()

"""The "kernel" funnel strategy (metrics/funnel_kernel.py): DuckDB hands the per-unit lists to a
vectorised function 2,048 units at a time, so these tests cover what the small property-test logs
cannot: many chunks, units split across the chunks' Arrow slices, a heavy unit, and the chain
itself on rows worked out by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import poanalytics as poa
from poanalytics.metrics.funnel import FunnelQuery, run_funnel
from poanalytics.metrics.funnel_kernel import bigint_base, chains
from poanalytics.metrics.spec import Exclusion, Step

T0 = pd.Timestamp("2026-03-02", tz="UTC")
CLOCK0 = np.uint64(1 << 63)  # the kernel's clock: epoch microseconds + 2^63


def _clock(seconds: list[int]) -> np.ndarray:
    return np.array(seconds, dtype=np.uint64) * np.uint64(1_000_000) + CLOCK0


def test_chain_on_rows_worked_out_by_hand():
    # unit 0: a@0 b@1 a@5 b@6 c@7 (window 10 s): attempt 1 (a@0) reaches c@7 through b@1; attempt
    # 2 (a@5) also reaches 3 (b@6, c@7). The first deepest is attempt 1: rows 0, 1, 4.
    # unit 1: b@0 a@1 (no b after a): depth 1, the entry is row 1 of the unit.
    # unit 2: c@0 only: no entry, nothing valid.
    # unit 3: a@0 b@20 (outside the 10 s window) a@21 b@31 (exactly 10 s: inside, F5): depth 2
    #         from the second attempt, rows 2, 3.
    bits_of = {"a": 1, "b": 2, "c": 4}  # bit 0 entry, bit 1 step 2, bit 2 step 3
    units = [
        [("a", 0), ("b", 1), ("a", 5), ("b", 6), ("c", 7)],
        [("b", 0), ("a", 1)],
        [("c", 0)],
        [("a", 0), ("b", 20), ("a", 21), ("b", 31)],
    ]
    offsets = np.cumsum([0] + [len(u) for u in units])
    clock = _clock([s for u in units for _, s in u])
    bits = np.array([bits_of[e] for u in units for e, _ in u])
    out, valid = chains(offsets, clock, bits, 3, 10_000_000)
    assert out[0].tolist() == [3, 0, 2, 0, 1, 4] and valid[0].all()
    assert out[1, :4].tolist() == [1, 1, 1, 1] and valid[1].tolist() == [True] * 4 + [False] * 2
    assert not valid[2].any()
    assert out[3, :5].tolist() == [2, 0, 2, 2, 3] and valid[3].tolist() == [True] * 5 + [False]


def test_one_row_never_fills_two_steps():
    # funnel [a, a]: a single a reaches step 1 only; two a's at one instant reach step 2 (F3, F6)
    offsets = np.array([0, 1, 3])
    out, valid = chains(offsets, _clock([0, 0, 0]), np.array([3, 3, 3]), 2, 10_000_000)
    assert out[:, 0].tolist() == [1, 2]
    assert out[1, 3:].tolist() == [0, 1] and not valid[0, 4]


def test_exclusions_by_time_worked_out_by_hand():
    # funnel [a, b], exclusion x between step 1 and step 2 (from 1 to 2), window 100 s; bits: a 1,
    # b 2, x 4. Unit 0: a@0 x@5 b@10: tainted, it leaves the funnel. Unit 1: a@0 b@10 x@10: x at
    # b's instant is ignored (F9), depth 2. Unit 2: a@0, x 10^12 s later (past the window, b not
    # reached): clean, depth 1. Unit 3: a@0 b@1 a@60 x@65 b@70: the first attempt is clean, the
    # second tainted; both reach 2, the clean first one wins (rows 0, 1). Unit 4: a@0 a@60 x@65
    # b@70: both attempts take b@70 and both are tainted: the unit leaves the funnel.
    units = [
        [("a", 0), ("x", 5), ("b", 10)],
        [("a", 0), ("b", 10), ("x", 10)],
        [("a", 0), ("x", 10**12)],
        [("a", 0), ("b", 1), ("a", 60), ("x", 65), ("b", 70)],
        [("a", 0), ("a", 60), ("x", 65), ("b", 70)],
    ]
    bits_of = {"a": 1, "b": 2, "x": 4}
    offsets = np.cumsum([0] + [len(u) for u in units])
    clock = _clock([s for u in units for _, s in u])
    bits = np.array([bits_of[e] for u in units for e, _ in u])
    out, valid = chains(offsets, clock, bits, 2, 100_000_000, ((1, 2),))
    assert not valid[0].any()
    assert out[1, [0, 3, 4]].tolist() == [2, 0, 1] and valid[1].all()
    assert out[2, 0] == 1 and valid[2].tolist() == [True] * 4 + [False]
    assert out[3, [0, 3, 4]].tolist() == [2, 0, 1] and valid[3].all()
    assert not valid[4].any()
    # the same rows, the units' times centuries apart: one timeline still holds them
    far = clock + np.repeat(np.arange(5, dtype=np.uint64) * np.uint64(10**16), np.diff(offsets))
    again = chains(offsets, far, bits, 2, 100_000_000, ((1, 2),))
    assert (again[0][valid] == out[valid]).all() and (again[1] == valid).all()


def _log(users: int, seed: int) -> pd.DataFrame:
    """Random visit-like events: several a's per user, repeats of b, c, d, noise x, ties on the
    second, and one heavy user with 30,000 events."""
    rng = np.random.default_rng(seed)
    per_user = rng.integers(1, 25, users)
    user = np.repeat([f"u{i:05d}" for i in range(users)], per_user)
    size = len(user)
    heavy = 30_000
    user = np.concatenate([user, np.full(heavy, "heavy")])
    event = rng.choice(["a", "a", "b", "c", "d", "x"], size + heavy)
    seconds = np.concatenate(
        [rng.integers(0, 20 * 86400, size) // 60 * 60, rng.integers(0, 20 * 86400, heavy)]
    )
    return pd.DataFrame(
        {"user_id": user, "event": event, "ts": T0 + pd.to_timedelta(seconds, unit="s")}
    )


def _per_unit(wb: poa.Workbench, result) -> pd.DataFrame:
    frame = wb.sql(f"SELECT * FROM {result.per_user_table}", result.params)
    return frame.sort_values("unit").reset_index(drop=True)


@pytest.mark.parametrize(
    "steps, window, extra",
    [
        (["a", "b", "c", "d"], "2d", {}),
        (["a", "a", "b"], "1d", {}),
        ([None, "b", "c"], "3h", {}),
        (
            ["a", "b", "c"],
            "1d",
            {"date_from": T0 + pd.Timedelta(days=5), "date_to": T0 + pd.Timedelta(days=9)},
        ),
        (["a", "b", "c"], "2d", {"as_of": T0 + pd.Timedelta(days=12)}),
        (["a", "b", "c", "d"], "2d", {"exclusions": [Exclusion("x", 1, 3)]}),
        (["a", "b", "c"], "1d", {"exclusions": [Exclusion("x", 0, 1), Exclusion("d", 1, 2)]}),
        ([None, "b", "c"], "6h", {"exclusions": [Exclusion("x", 0, 2)]}),
        # a step repeated, an exclusion and a date range: the BIGINT key's codes from the event
        # name (one name, several bits; the entry bit by the range)
        (
            ["a", "b", "a", "c"],
            "2d",
            {"exclusions": [Exclusion("x", 0, 1)], "date_from": T0 + pd.Timedelta(days=3)},
        ),
    ],
)
def test_kernel_equals_the_sql_strategies_over_many_chunks(steps, window, extra):
    wb = poa.Workbench(":memory:")
    try:
        wb.load_events(_log(6_000, seed=len(steps) * 7 + len(window)))  # 6,001 units: 3+ chunks
        query = FunnelQuery(steps=[Step(s) for s in steps], window=window, **extra)
        kernel = run_funnel(wb.con, query, strategy="kernel")
        lists = run_funnel(wb.con, query, strategy="lists")
        asof = run_funnel(wb.con, query, strategy="asof")
        got = _per_unit(wb, kernel)
        assert len(got) > 2_048 and "heavy" in set(got.unit)  # more than one chunk
        pd.testing.assert_frame_equal(got, _per_unit(wb, lists))
        pd.testing.assert_frame_equal(got, _per_unit(wb, asof))
        pd.testing.assert_frame_equal(kernel.table, lists.table)
        assert got.depth.max() >= 2  # the data reaches past step 1, so chains were followed
        if "exclusions" in extra:  # the exclusions removed some units (F9), not none
            plain = FunnelQuery(steps=[Step(s) for s in steps], window=window)
            assert len(got) < len(_per_unit(wb, run_funnel(wb.con, plain, strategy="kernel")))
    finally:
        wb.close()


def test_kernel_breakdowns_match_lists():
    wb = poa.Workbench(":memory:")
    try:
        log = _log(3_000, seed=3)
        log["properties"] = [
            {"plan": p} for p in np.random.default_rng(4).choice(["free", "pro", None], len(log))
        ]
        wb.load_events(log)
        for attribution in ("first_touch", "last_touch", "all_events"):
            query = FunnelQuery(
                steps=[Step("a"), Step("b"), Step("c")],
                window="1d",
                breakdown="plan",
                attribution=attribution,
            )
            kernel = run_funnel(wb.con, query, strategy="kernel")
            lists = run_funnel(wb.con, query, strategy="lists")
            pd.testing.assert_frame_equal(_per_unit(wb, kernel), _per_unit(wb, lists))
            pd.testing.assert_frame_equal(kernel.table, lists.table)
    finally:
        wb.close()


def test_bigint_keys_only_where_the_order_cannot_change():
    """Plain event-name steps take the BIGINT keys (no rowid in the order); "any event" steps,
    property filters, a last_touch breakdown or a span too wide for 63 bits take the HUGEINT
    ones, whose order is the reference's (time, lowest step, rowid)."""
    wb = poa.Workbench(":memory:")
    try:
        log = _log(300, seed=5)
        log["properties"] = [{"plan": "pro"}] * len(log)
        wb.load_events(log)

        def sql_of(steps, **extra):
            result = run_funnel(wb.con, FunnelQuery(steps=steps, window="1d", **extra))
            return result.per_user_table

        assert "poa_funnel_chain64(" in sql_of([Step("a"), Step("b")])
        assert "poa_funnel_chain64(" in sql_of([Step("a"), Step("b")], breakdown="plan")
        assert "poa_funnel_chain(" in sql_of([Step(None), Step("b")])
        assert "poa_funnel_chain(" in sql_of([Step("a"), Step("b", {"plan": "pro"})])
        assert "poa_funnel_chain(" in sql_of(
            [Step("a"), Step("b")], breakdown="plan", attribution="last_touch"
        )
    finally:
        wb.close()
    # two steps: the key is (microseconds << 5 | lowest step) << 2 | bits, kept to a quarter of 2^63
    wide = 1 << (63 - 5 - 2 - 2)
    planned = SimpleNamespace(
        steps=(Step("a"), Step("b")), exclusions=(), breakdown=None, attribution="first_touch"
    )
    assert bigint_base(planned, 0, wide - 1) == 0
    assert bigint_base(planned, 0, wide) is None
    assert bigint_base(planned, None, None) is None


def test_units_with_one_attempt_take_the_sql_chain():
    """A unit with one entry is chained in SQL (``one``), the others by the function; both read
    like the lists strategy, with BIGINT keys (plain names) and HUGEINT ones (a filtered step 1,
    a last_touch breakdown that reads the chosen rows). "Any event" first and exclusions send
    every unit to the function."""
    wb = poa.Workbench(":memory:")
    try:
        log = _log(3_000, seed=9)
        log["properties"] = [
            {"plan": p} for p in np.random.default_rng(10).choice(["free", "pro"], len(log))
        ]
        wb.load_events(log)
        entries = wb.sql("SELECT user_id, count(*) AS n FROM events WHERE event = 'a' GROUP BY 1")
        assert (entries.n == 1).sum() > 100 and (entries.n > 1).sum() > 100  # both kinds of unit
        cases = [
            ([Step("a"), Step("b"), Step("c")], {}),
            ([Step("a", {"plan": "pro"}), Step("b"), Step("c")], {}),
            ([Step("a"), Step("b"), Step("c")], {"breakdown": "plan", "attribution": "last_touch"}),
        ]
        for steps, extra in cases:
            query = FunnelQuery(steps=steps, window="1d", **extra)
            kernel = run_funnel(wb.con, query, strategy="kernel")
            assert "enters = 1" in kernel.per_user_table and "enters > 1" in kernel.per_user_table
            got = _per_unit(wb, kernel)
            pd.testing.assert_frame_equal(
                got, _per_unit(wb, run_funnel(wb.con, query, strategy="lists"))
            )
            assert got.depth.max() == 3 and (got.depth == 1).any()
        for steps, extra in (
            ([Step(None), Step("b")], {}),
            ([Step("a"), Step("b")], {"exclusions": [Exclusion("x", 0, 1)]}),
        ):
            sql = run_funnel(wb.con, FunnelQuery(steps=steps, window="1d", **extra)).per_user_table
            assert "enters" not in sql
    finally:
        wb.close()


def test_lists_are_sorted_inside_each_unit_only():
    # units in order, short and shuffled (insertion), long and shuffled (merge sort), with ties;
    # BIGINT keys (one word) and HUGEINT keys (two words, compared high word first)
    from poanalytics.metrics.funnel_kernel import _order

    rng = np.random.default_rng(5)
    lengths = [0, 1, 5, 64, 65, 300, 2, 40, 1000]
    units = [np.sort(rng.integers(-50, 50, k)) for k in lengths]
    units = [u if i % 3 == 0 else rng.permutation(u) for i, u in enumerate(units)]
    offsets = np.cumsum([0, *lengths])
    v = np.concatenate(units).astype(np.int64)
    expected = np.concatenate([np.sort(u) for u in units])
    unit_of = np.repeat(np.arange(len(lengths)), lengths)
    order = _order(offsets, v, v)
    assert v[order].tolist() == expected.tolist()
    assert (unit_of[order] == unit_of).all()  # no row left its unit
    # two words: hi = v // 8 (shifted to unsigned), lo = v % 8; the pair orders as v does
    hi = (v // 8 + 100).astype(np.uint64)
    lo = (v % 8).astype(np.uint64)
    order = _order(offsets, hi, lo)
    assert v[order].tolist() == expected.tolist()
    # ties keep the order sent (a stable sort): equal keys come out in rising index
    same = np.zeros(200, np.int64)
    assert _order(np.array([0, 200]), same, same).tolist() == list(range(200))

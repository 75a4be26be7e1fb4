"""The ordered funnel's attempt chains for one chunk of units, compiled by numba (``follow``).

``funnel_kernel.chains`` imports this module on its first call, so importing poanalytics does not
load numba (about half a second). numba compiles ``follow`` once per machine and keeps the
machine code in ``__pycache__`` (``cache=True``); it runs without the interpreter's lock
(``nogil=True``), so DuckDB's threads run their chunks side by side.

Per unit, in its rows (in funnel order, so the clock never decreases inside a unit):

1. for each step k >= 2 the index of the first row at or after every row that can fill step k
   (one backward pass per step);
2. each attempt (every entry row, F4) takes for step k the first such row strictly after its
   step k-1 row (one row fills one step of an attempt, F3; at one instant a step-1 row comes
   before a step-2 row, F6) while it lies within the window from its step-1 row (F5: the edge
   included), so the steps reached are a prefix;
3. an exclusion (from, to) taints an attempt that reached ``from`` when an exclusion row lies
   strictly after ``from``'s instant and strictly before ``to``'s, or, with ``to`` not reached,
   no later than the window from step 1 (F9);
4. the unit's best attempt is the deepest, clean before tainted, the first of those (F1, F9,
   F11); tainted at its deepest, the unit leaves the funnel.

The work is a few passes over a unit's rows per step plus one short walk per attempt, so a
frequent first step (a page view, several per user per week) never makes it quadratic.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def _first_after(clock, lo, hi, t1, window):
    """The first index in [lo, hi) whose clock is more than ``window`` after ``t1`` (``hi`` if
    none). Every row from ``lo`` on is at or after ``t1``, so the difference cannot wrap."""
    while lo < hi:
        mid = (lo + hi) // 2
        if clock[mid] - t1 > window:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(nogil=True, cache=True)
def _index(nxt, marks, bits, s, e, n):
    """For the unit's rows [s, e): ``nxt[k, i]`` the first row at or after i that can fill step
    k + 1 (``e`` if none), ``marks[j, i]`` the rows of exclusion j before row i."""
    for k in range(1, n):
        mask = np.int64(1) << k
        at = e
        nxt[k, e] = e
        for i in range(e - 1, s - 1, -1):
            if bits[i] & mask:
                at = i
            nxt[k, i] = at
    for j in range(marks.shape[0]):
        marks[j, s] = 0
        for i in range(s, e):
            marks[j, i + 1] = marks[j, i] + ((bits[i] >> (n + j)) & 1)


@njit(nogil=True, cache=True)
def _attempt(nxt, clock, i, e, n, window, used):
    """The attempt entering at row i: its rows in ``used[:depth]``; returns the depth."""
    t1 = clock[i]
    cur = i
    used[0] = i
    for k in range(1, n):
        c = nxt[k, cur + 1]
        if c >= e or clock[c] - t1 > window:
            return k
        cur = c
        used[k] = c
    return n


@njit(nogil=True, cache=True)
def _tainted(marks, clock, s, e, i, depth, window, xfrom, xto, used):
    """Whether an exclusion row lies where F9 forbids it for the attempt in ``used[:depth]``."""
    for j in range(xfrom.shape[0]):
        f = xfrom[j] - 1
        t = xto[j] - 1
        if f >= depth:  # its from step not reached: nothing to taint
            continue
        lo = s + np.searchsorted(clock[s:e], clock[used[f]], side="right")
        if t < depth:
            hi = s + np.searchsorted(clock[s:e], clock[used[t]], side="left")
        else:
            hi = _first_after(clock, i, e, clock[i], window)
        if hi > lo and marks[j, hi] - marks[j, lo] > 0:
            return 1
    return 0


@njit(nogil=True, cache=True)
def follow(offsets, clock, bits, n, window, xfrom, xto, out, valid):
    """Fill ``out`` and ``valid`` (units, n + 3): depth, first entry, last entry, then the rows
    the best attempt used for steps 1..n, as 0-based indices into the unit's rows.

    ``offsets`` (units + 1) where each unit's rows start; ``clock`` the rows' times (any integer
    type whose differences inside a unit are microseconds); ``bits`` bit 0 an entry, bit k-1 a
    row that can fill step k, bit n + j a row of exclusion j, whose steps are ``xfrom[j]`` and
    ``xto[j]`` (1-based); ``window`` in the clock's type. ``valid`` stays False for a unit with
    no entry and for one whose best attempt is tainted."""
    rows = clock.shape[0]
    nxt = np.empty((n, rows + 1), np.int64)
    marks = np.zeros((xfrom.shape[0], rows + 1), np.int64)
    used = np.empty(n, np.int64)
    best = np.empty(n, np.int64)
    for u in range(offsets.shape[0] - 1):
        s, e = offsets[u], offsets[u + 1]
        _index(nxt, marks, bits, s, e, n)
        first, last, best_rank = -1, -1, 2 * n + 2
        for i in range(s, e):
            if (bits[i] & 1) == 0:
                continue
            first = i if first < 0 else first
            last = i
            if best_rank == 0:  # a clean attempt through every step: no later one beats it
                continue
            depth = _attempt(nxt, clock, i, e, n, window, used)
            rank = (n - depth) * 2 + _tainted(
                marks, clock, s, e, i, depth, window, xfrom, xto, used
            )
            if rank < best_rank:
                best_rank = rank
                best[:depth] = used[:depth]
        if first < 0 or best_rank % 2 == 1:  # no entry, or tainted at its deepest (F9)
            continue
        depth = n - best_rank // 2
        out[u, 0], out[u, 1], out[u, 2] = depth, first - s, last - s
        valid[u, : 3 + depth] = True
        out[u, 3 : 3 + depth] = best[:depth] - s


@njit(nogil=True, cache=True)
def _insertion(hi, lo, order, s, e):
    """Insertion sort of ``order[s:e]`` by the keys (hi, lo): stable, quick on short units."""
    for i in range(s + 1, e):
        at = order[i]
        h, low = hi[at], lo[at]
        j = i - 1
        while j >= s:
            o = order[j]
            if hi[o] > h or (hi[o] == h and lo[o] > low):
                order[j + 1] = o
                j -= 1
            else:
                break
        order[j + 1] = at


@njit(nogil=True, cache=True)
def _merge(hi, lo, order, buf, s, e):
    """A stable bottom-up merge sort of ``order[s:e]`` by the keys (hi, lo); ``buf`` as room."""
    src, dst, in_order, width = order, buf, True, 1
    while width < e - s:
        for left in range(s, e, 2 * width):
            mid, right = min(left + width, e), min(left + 2 * width, e)
            i, j = left, mid
            for k in range(left, right):
                take_right = False
                if j < right:
                    if i >= mid:
                        take_right = True
                    else:
                        a, b = src[j], src[i]
                        take_right = hi[a] < hi[b] or (hi[a] == hi[b] and lo[a] < lo[b])
                if take_right:
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
        src, dst, in_order, width = dst, src, not in_order, width * 2
    if not in_order:
        order[s:e] = buf[s:e]


@njit(nogil=True, cache=True)
def sort_units(offsets, hi, lo, order):
    """``order``: the indices that put the keys ``(hi, lo)`` (one number, compared as a pair; pass
    one array twice for one-word keys) in ascending order inside each unit; rows stay in their
    unit. A unit already in order costs one pass; a short one is sorted by insertion, a long one
    by a stable merge sort."""
    buf = np.empty(order.shape[0], np.int64)
    for u in range(offsets.shape[0] - 1):
        s, e = offsets[u], offsets[u + 1]
        ordered = True
        for i in range(s, e):
            order[i] = i
            if i > s and (hi[i] < hi[i - 1] or (hi[i] == hi[i - 1] and lo[i] < lo[i - 1])):
                ordered = False
        if ordered:
            continue
        if e - s > 64:
            _merge(hi, lo, order, buf, s, e)
        else:
            _insertion(hi, lo, order, s, e)

"""A small, obviously correct funnel in pure Python: the yardstick for the SQL engine.

It follows docs/metrics.md (the metric contract) literally, one user at a time.
Events: (ts_seconds, event, properties, rowid). Steps: Step objects. Returns per user the furthest
step (0 = removed by an exclusion / not in the funnel) and the step times of the first attempt
that reached it.
"""

from __future__ import annotations

from poanalytics.metrics.spec import Exclusion, Filter, Step


def holds(f: Filter, props: dict) -> bool:
    """One property filter, for text values (what the property test generates); a missing
    property matches only the negative operators."""
    value = props.get(f.prop)
    if f.op in ("ne", "not_in", "not_contains", "not_regex"):
        positive = {"ne": "eq", "not_in": "in", "not_contains": "contains", "not_regex": "regex"}
        return not holds(Filter(f.prop, positive[f.op], f.value), props)
    if f.op == "is_not_set":
        return value is None
    if value is None:
        return False
    text = str(value)
    if f.op == "eq":
        return text == str(f.value)
    if f.op == "in":
        return text in {str(v) for v in f.value}
    if f.op == "starts_with":
        return text.startswith(f.value)
    if f.op == "contains":
        return f.value in text
    if f.op == "is_set":
        return True
    raise NotImplementedError(f.op)


def matches(step: Step, event: str, props: dict) -> bool:
    if step.event is not None and step.event != event:
        return False
    return all(holds(f, props) for f in step.filters)


def order(events, steps):
    """Ties: events at one instant are read in the order of the lowest step they can fill, then rowid."""

    def min_step(e):
        hits = [i for i, s in enumerate(steps) if matches(s, e[1], e[2])]
        return hits[0] if hits else len(steps)

    return sorted(events, key=lambda e: (e[0], min_step(e), e[3]))


def attempts(events, steps, window, strict=False, date_from=None, date_to=None):
    """Every attempt: (list of (index, ts) for the steps reached)."""
    seq = order(events, steps)
    out = []
    for i, e in enumerate(seq):
        if not matches(steps[0], e[1], e[2]):
            continue
        if date_from is not None and e[0] < date_from:
            continue
        if date_to is not None and e[0] > date_to:
            continue
        t1 = e[0]
        reached = [(i, t1)]
        k = 1
        j = i + 1
        while k < len(steps) and j < len(seq):
            ev = seq[j]
            if ev[0] - t1 > window:
                break
            if matches(steps[k], ev[1], ev[2]):
                reached.append((j, ev[0]))
                k += 1
            elif strict and not matches(steps[k - 1], ev[1], ev[2]):
                break
            j += 1
        out.append(reached)
    return seq, out


def tainted(seq, reached, exclusions, window, steps_n):
    t1 = reached[0][1]
    for ex in exclusions:
        if len(reached) <= ex.from_step:
            continue
        lo = reached[ex.from_step][1]
        hi = reached[ex.to_step][1] if len(reached) > ex.to_step else None
        for ev in seq:
            if not matches(ex.as_step(), ev[1], ev[2]):
                continue
            if ev[0] <= lo:
                continue
            if hi is not None and ev[0] >= hi:
                continue
            if hi is None and ev[0] - t1 > window:
                continue
            return True
    return False


def furthest(
    events,
    steps,
    window,
    *,
    strict=False,
    exclusions: tuple[Exclusion, ...] = (),
    date_from=None,
    date_to=None,
):
    """(furthest step, step times of the first attempt reaching it); (0, None) when not in the funnel."""
    seq, atts = attempts(events, steps, window, strict=strict, date_from=date_from, date_to=date_to)
    if not atts:
        return 0, None
    depth = max(len(a) for a in atts)
    clean = [a for a in atts if not tainted(seq, a, exclusions, window, len(steps))]
    if exclusions and not any(len(a) == depth for a in clean):
        return 0, None
    best = next(a for a in (clean if exclusions else atts) if len(a) == depth)
    return depth, [t for _, t in best]


def _max_matching(events, steps):
    """Most steps filled by distinct events (brute force: the lists here are tiny)."""
    best = 0

    def go(i, used, filled):
        nonlocal best
        best = max(best, filled)
        if i == len(steps) or filled + (len(steps) - i) <= best:
            return
        for j, e in enumerate(events):
            if j not in used and matches(steps[i], e[1], e[2]):
                go(i + 1, used | {j}, filled + 1)
        go(i + 1, used, filled)

    go(0, frozenset(), 0)
    return best


def unordered(
    events, steps, window, exclusions: tuple[Exclusion, ...] = (), date_from=None, date_to=None
):
    """(k, times) for an unordered funnel: the most distinct steps one clean window completes
    (at least 1 once the unit entered; (0, None) when it did not) and, for the attempt behind it,
    the time by which 1, 2, ... k steps were complete (F16)."""

    def excluded(e):
        return any(matches(x.as_step(), e[1], e[2]) for x in exclusions)

    xs = [e[0] for e in events if excluded(e)]
    # an exclusion event never fills a step itself
    funnel_events = [
        e for e in events if any(matches(s, e[1], e[2]) for s in steps) and not excluded(e)
    ]
    anchors = sorted(
        e[0]
        for e in funnel_events
        if (date_from is None or e[0] >= date_from) and (date_to is None or e[0] <= date_to)
    )
    if not anchors:
        return 0, None
    best = None
    for t in anchors:
        if any(t < x <= t + window for x in xs):
            continue  # F9: progress made before an exclusion does not count
        inside = [e for e in funnel_events if t <= e[0] <= t + window]
        depth = _max_matching(inside, steps)
        if best is None or depth > best[0]:
            best = (depth, t)
    if best is None:
        return 1, [anchors[0]]  # every attempt cleared: the unit stays in the funnel
    depth, t = best
    inside = sorted((e for e in funnel_events if t <= e[0] <= t + window), key=lambda e: e[0])
    times = [t]
    for k in range(2, depth + 1):
        times.append(
            next(
                e[0]
                for e in inside
                if _max_matching([f for f in inside if f[0] <= e[0]], steps) >= k
            )
        )
    return depth, times


def _value(props: dict, breakdown: str | None) -> str:
    v = props.get(breakdown) if breakdown else None
    return "" if v is None else str(v)


def unit_results(
    events,
    steps,
    window,
    *,
    order="ordered",
    exclusions: tuple[Exclusion, ...] = (),
    date_from=None,
    date_to=None,
    breakdown: str | None = None,
    attribution="first_touch",
    terminal=(),
    end=None,
):
    """One unit's funnel rows: {breakdown value: (depth, times, in_progress)}.

    ``events`` are the unit's events, already cut at the observation end ``end`` (as_of, or the
    data's last event). ``attribution="all_events"`` runs the funnel once per value over the events
    carrying it (F10); ``terminal`` event names end the unit's journey when one is its last event
    (F18)."""
    last = max((e[0] for e in events), default=None)
    ended = any(e[0] == last and e[1] in terminal for e in events)
    if attribution == "all_events" and breakdown:
        groups: dict[str, list] = {}
        for e in events:
            groups.setdefault(_value(e[2], breakdown), []).append(e)
    else:
        groups = {"": events}
    out = {}
    for value, evs in groups.items():
        kw = {"exclusions": exclusions, "date_from": date_from, "date_to": date_to}
        if order == "unordered":
            depth, times = unordered(evs, steps, window, **kw)
            anchors = [e for e in evs if _anchor(e, steps, exclusions, date_from, date_to)]
            starts = sorted((e[0], e[3]) for e in anchors)
        else:
            depth, times = furthest(evs, steps, window, strict=(order == "strict"), **kw)
            seq = order_events(evs, steps)
            starts = [
                (i, 0)
                for i, e in enumerate(seq)
                if matches(steps[0], e[1], e[2])
                and (date_from is None or e[0] >= date_from)
                and (date_to is None or e[0] <= date_to)
            ]
        if depth == 0:
            continue
        if attribution == "all_events" or not breakdown:
            b = value
        elif attribution == "last_touch":
            b = _value(_best_rows(evs, steps, window, order, kw)[depth - 1][2], breakdown)
        elif order == "unordered":
            first = starts[0]
            b = _value(next(e for e in evs if (e[0], e[3]) == first)[2], breakdown)
        else:
            b = _value(order_events(evs, steps)[starts[0][0]][2], breakdown)
        opened = any(
            t + window > end
            for t in (e[0] for e in evs if _starts(e, steps, order, exclusions))
            if (date_from is None or t >= date_from) and (date_to is None or t <= date_to)
        )
        out[b] = (depth, times, opened and depth < len(steps) and not ended)
    return out


def order_events(events, steps):
    return order(events, steps)


def _anchor(e, steps, exclusions, date_from, date_to):
    return (
        _starts(e, steps, "unordered", exclusions)
        and (date_from is None or e[0] >= date_from)
        and (date_to is None or e[0] <= date_to)
    )


def _starts(e, steps, order_, exclusions):
    """Whether event ``e`` starts an attempt: step 1 (ordered) or any step but an exclusion."""
    if order_ != "unordered":
        return matches(steps[0], e[1], e[2])
    return any(matches(s, e[1], e[2]) for s in steps) and not any(
        matches(x.as_step(), e[1], e[2]) for x in exclusions
    )


def _best_rows(evs, steps, window, order_, kw):
    """The rows of the attempt behind an ordered unit's result (for last_touch)."""
    seq, atts = attempts(
        evs,
        steps,
        window,
        strict=(order_ == "strict"),
        date_from=kw["date_from"],
        date_to=kw["date_to"],
    )
    depth = max(len(a) for a in atts)
    exclusions = kw["exclusions"]
    pool = (
        [a for a in atts if not tainted(seq, a, exclusions, window, len(steps))]
        if exclusions
        else atts
    )
    best = next(a for a in pool if len(a) == depth)
    return [seq[i] for i, _ in best]

"""Controls for exploring a funnel without writing code: ``funnel_explorer(wb)`` in any notebook.

Steps are picked in order from the warehouse's event names (one drop-down per step), with the
conversion window, a breakdown property, the period of the trend and retention, a segment (the users
whose first step carries a property value) and a date range. Changing a control redraws the charts
in place: the funnel, the conversion trend by period of entry, and the retention of the users who
entered. Charts are plotly figures drawn into ipywidgets ``Output`` areas (JupyterLab renders them
with its plotly extension: nothing is fetched from the network); a coded error (a step with no data
in the range, a window without a unit) is shown as text where the charts were, never a traceback.

>>> ex = funnel_explorer(wb, steps=["signed_up", "activated"])   # doctest: +SKIP
>>> ex                                   # the controls and charts (ex.widget)
>>> ex.controls["window"].value = "1d"   # what a click does: every chart is redrawn
>>> ex.figures["funnel"], ex.result      # the last figures and FunnelResult, for reuse
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from .errors import PoaError
from .metrics import Step
from .metrics.catalog import event_names, property_keys

NONE = ""  # the value of "(none)" in the drop-downs
WINDOWS = ["1h", "1d", "3d", "7d", "14d", "30d", "90d"]
PERIODS = ["day", "week", "month"]
CHARTS = ("funnel", "trend", "retention")


def _bundle(fig: Any) -> dict[str, Any]:
    """A figure as the display_data an Output widget holds (plotly's own mime type)."""
    import plotly.io as pio

    from .charts.style import CONFIG

    spec = json.loads(pio.to_json(fig, validate=False))
    spec["config"] = dict(CONFIG)
    return {
        "output_type": "display_data",
        "data": {
            "application/vnd.plotly.v1+json": spec,
            "text/plain": f"<{spec['layout'].get('title', {}).get('text', 'chart')}>",
        },
        "metadata": {},
    }


def _text(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": text}


class FunnelExplorer:
    """The controls (``controls``: name -> widget, steps as ``step1`` ...), the chart areas
    (``outputs``), the last figures (``figures``) and funnel (``result``); ``widget`` lays them out.
    Build it with :func:`funnel_explorer`."""

    def __init__(
        self,
        wb: Any,
        *,
        steps: Sequence[str] = (),
        window: str = "7d",
        breakdown: str = "",
        period: str = "week",
        segment: str = "",
        segment_value: str = "",
        date_from: str | dt.date | None = None,
        date_to: str | dt.date | None = None,
        max_steps: int = 6,
        intervals: int = 8,
    ) -> None:
        import ipywidgets as w

        self.wb = wb
        self.intervals = intervals
        self.figures: dict[str, Any] = {}
        self.result: Any = None
        self.error: PoaError | None = None
        names = self._events()
        keys = self._keys()
        steps = list(steps) or names[:2]
        unknown = [s for s in steps if s not in names]
        if unknown or len(steps) > max_steps:
            from .errors import ConfigError

            raise ConfigError(
                f"steps {unknown or steps} cannot be picked: the warehouse's events are {names[:20]}"
                if unknown
                else f"{len(steps)} steps, more than max_steps={max_steps}",
                code="explore.steps",
                hint="pick steps from the warehouse's event names (wb.status() lists them), or "
                "raise max_steps",
            )
        events = [("(none)", NONE), *((n, n) for n in names)]
        props = [("(none)", NONE), *((k, k) for k in keys)]
        layout = w.Layout(width="auto")
        self.controls: dict[str, Any] = {}
        for i in range(max_steps):
            value = steps[i] if i < len(steps) else NONE
            self.controls[f"step{i + 1}"] = w.Dropdown(
                options=events, value=value, description=f"step {i + 1}", layout=layout
            )
        windows = WINDOWS if window in WINDOWS else [window, *WINDOWS]
        self.controls["window"] = w.Dropdown(options=windows, value=window, description="window")
        self.controls["breakdown"] = w.Dropdown(
            options=props, value=breakdown if breakdown in keys else NONE, description="breakdown"
        )
        self.controls["period"] = w.ToggleButtons(
            options=PERIODS, value=period, description="period"
        )
        self.controls["segment"] = w.Dropdown(
            options=props, value=segment if segment in keys else NONE, description="segment"
        )
        self.controls["segment_value"] = w.Dropdown(
            options=self._values(segment), description="is", layout=layout
        )
        if segment_value:
            self.controls["segment_value"].value = segment_value
        self.controls["date_from"] = w.DatePicker(description="from", value=_date(date_from))
        self.controls["date_to"] = w.DatePicker(description="to", value=_date(date_to))
        self.status = w.HTML()
        self.outputs = {name: w.Output() for name in CHARTS}
        self.widget = w.VBox(
            [
                w.HBox(
                    [self.controls[f"step{i + 1}"] for i in range(max_steps)],
                    layout=w.Layout(flex_flow="row wrap"),
                ),
                w.HBox(
                    [self.controls["window"], self.controls["breakdown"], self.controls["period"]],
                    layout=w.Layout(flex_flow="row wrap"),
                ),
                w.HBox(
                    [
                        self.controls["segment"],
                        self.controls["segment_value"],
                        self.controls["date_from"],
                        self.controls["date_to"],
                    ],
                    layout=w.Layout(flex_flow="row wrap"),
                ),
                self.status,
                self.outputs["funnel"],
                self.outputs["trend"],
                self.outputs["retention"],
            ]
        )
        self.controls["segment"].observe(self._segment_changed, names="value")
        for name, control in self.controls.items():
            if name != "segment":
                control.observe(self._changed, names="value")
        self.redraw()

    # -- what the warehouse holds ------------------------------------------------------------
    def _events(self) -> list[str]:
        """The event names, from the warehouse's catalog (a few rows, however many events)."""
        with self.wb.connection() as con:
            return event_names(con)

    def _keys(self) -> list[str]:
        """The property keys any event carries, from the catalog."""
        with self.wb.connection() as con:
            return property_keys(con)

    def _values(self, key: str, top: int = 50) -> list[tuple[str, str]]:
        """The ``top`` most common values of property ``key`` (for the segment)."""
        if not key:
            return [("(any)", NONE)]
        frame = self.wb.sql(
            "SELECT json_extract_string(properties, ?) AS v, count(DISTINCT user_id) AS n "
            "FROM events WHERE v IS NOT NULL GROUP BY v ORDER BY n DESC, v LIMIT ?",
            ["$." + json.dumps(key), top],
        )
        return [
            ("(any)", NONE),
            *((f"{v} ({n:,} users)", str(v)) for v, n in zip(frame.v, frame.n, strict=True)),
        ]

    # -- the state of the controls -----------------------------------------------------------
    @property
    def steps(self) -> list[str]:
        """The picked steps in order ((none) left out)."""
        return [c.value for n, c in self.controls.items() if n.startswith("step") and c.value]

    def query(self) -> dict[str, Any]:
        """The funnel arguments the controls stand for (``wb.funnel(**ex.query())``)."""
        c = self.controls
        first: str | Step = self.steps[0] if self.steps else NONE
        if c["segment"].value and c["segment_value"].value and self.steps:
            first = Step(self.steps[0], where={c["segment"].value: c["segment_value"].value})
        return {
            "steps": [first, *self.steps[1:]],
            "window": c["window"].value,
            "breakdown": c["breakdown"].value or None,
            "date_from": c["date_from"].value,
            "date_to": c["date_to"].value,
        }

    # -- drawing -----------------------------------------------------------------------------
    def _segment_changed(self, change: dict[str, Any]) -> None:
        values = self.controls["segment_value"]
        with values.hold_trait_notifications():
            values.unobserve(self._changed, names="value")
            values.options = self._values(change["new"])
            values.value = NONE
            values.observe(self._changed, names="value")
        self.redraw()

    def _changed(self, change: dict[str, Any]) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Run the funnel for the controls' values and redraw every chart in place."""
        try:
            if len(self.steps) < 2:
                raise PoaError(
                    "pick at least two steps", code="explore.steps", hint="choose a second step"
                )
            q = self.query()
            result = self.wb.funnel(**q)
            figures = {
                "funnel": result.figure(),
                "trend": result.trend_figure(self.controls["period"].value),
                "retention": self.wb.retention(
                    q["steps"][0],
                    None,
                    period=self.controls["period"].value,
                    intervals=self.intervals,
                    cohort="first_time",
                    date_from=q["date_from"],
                    date_to=q["date_to"],
                ).figure(),
            }
        except PoaError as exc:
            self.error, self.result = exc, None
            self.figures = {}
            self.status.value = f"<pre>{_escape(str(exc))}</pre>"
            for out in self.outputs.values():
                out.outputs = ()
            return
        self.error, self.result, self.figures = None, result, figures
        self.status.value = _escape(_headline(result.table, self.steps))
        for name, fig in figures.items():
            self.outputs[name].outputs = (_bundle(fig),)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def _headline(table: pd.DataFrame, steps: list[str]) -> str:
    """ "1,234 users entered; 56.7% reached activated" for the funnel table (all breakdowns)."""
    from .format import percent

    entered = int(table.loc[table.step == 1, "users"].sum())
    reached = int(table.loc[table.step == table.step.max(), "users"].sum())
    if not entered:
        return f"no user entered {steps[0]} with these settings"
    return f"{entered:,} users entered; {percent(reached / entered)} reached {steps[-1]}"


def _escape(text: str) -> str:
    import html

    return html.escape(text)


def _date(value: str | dt.date | None) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def funnel_explorer(wb: Any, **defaults: Any) -> FunnelExplorer:
    """Controls and charts to explore a funnel in ``wb`` (a Workbench); the keyword arguments are
    the controls' first values: ``steps``, ``window``, ``breakdown``, ``period``, ``segment`` and
    ``segment_value``, ``date_from``, ``date_to`` (and ``max_steps``, ``intervals``). Show it by
    leaving it last in a cell."""
    return FunnelExplorer(wb, **defaults)

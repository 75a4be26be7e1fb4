"""Running a notebook with papermill on the ``poanalytics`` kernel, with progress, and turning a
failure into what the failure page says (notebook, cell, first lines of its source, error).

Progress: papermill's bar on a terminal; otherwise one line per code cell
(``90_weekly_report: cell 3/12``), which reads well in a scheduler's log.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TextIO

from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

from .pages import Failure

ENGINE = "poanalytics-lines"
ERROR_MARKER = "papermill-error-cell-tag"
SOURCE_LINES = 8  # first lines of a failed cell shown on the failure page


class _Progress:
    """What the engine reports back: the cell that started last (for a timeout or a dead kernel,
    where papermill's exception does not name it), and where progress lines go (None: no lines)."""

    def __init__(self, label: str, stream: TextIO | None) -> None:
        self.label = label
        self.stream = stream
        self.cell: tuple[int, str] | None = None


_STATE: ContextVar[_Progress | None] = ContextVar("poa_progress", default=None)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class _LineProgress(NotebookExecutionManager):
    def cell_start(self, cell, cell_index=None, **kwargs):
        super().cell_start(cell, cell_index, **kwargs)
        state = _STATE.get()
        if state is None or cell.cell_type != "code" or cell_index is None:
            return
        state.cell = (cell_index, str(cell.source))
        if state.stream is not None:
            code = [i for i, c in enumerate(self.nb.cells) if c.cell_type == "code"]
            number = f"{code.index(cell_index) + 1}/{len(code)}"
            print(f"  {state.label}: cell {number}", file=state.stream, flush=True)


class _LineEngine(NBClientEngine):
    """papermill's nbclient engine that remembers the running cell and, when asked, prints one
    progress line per code cell instead of a bar."""

    @classmethod
    def execute_notebook(
        cls,
        nb,
        kernel_name,
        output_path=None,
        progress_bar=False,
        log_output=False,
        autosave_cell_every=30,
        **kwargs,
    ):
        nb_man = _LineProgress(
            nb,
            output_path=output_path,
            progress_bar=progress_bar,
            log_output=log_output,
            autosave_cell_every=autosave_cell_every,
        )
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb


papermill_engines.register(ENGINE, _LineEngine)


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Environment variables for the kernels started inside the block (they inherit ours)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute(
    notebook: Path,
    output: Path,
    parameters: dict[str, Any],
    *,
    root: Path,
    kernel: str = "poanalytics",
    cell_timeout: float | None = None,
    progress: str = "auto",
    stream: TextIO | None = None,
) -> Any:
    """Run ``notebook`` into ``output`` with ``parameters``; the executed NotebookNode.

    ``progress``: "auto" (a bar on a terminal, lines otherwise), "bar", "lines" or "none".
    The kernel runs in ``root`` with POANALYTICS_ROOT set to it, as a scheduler's run would.
    Raises what papermill raises; :func:`failure` turns it into a ``Failure``.
    """
    import papermill as pm

    stream = stream or sys.stderr
    if progress == "auto":
        progress = "bar" if stream.isatty() else "lines"
    state = _Progress(notebook.stem, stream if progress == "lines" else None)
    token = _STATE.set(state)
    try:
        with _environ(POANALYTICS_ROOT=str(root)):
            return pm.execute_notebook(
                str(notebook),
                str(output),
                parameters=parameters,
                kernel_name=kernel,
                engine_name=ENGINE,
                progress_bar=progress == "bar",
                cwd=str(root),
                execution_timeout=cell_timeout,
            )
    except Exception as exc:
        exc.__dict__.setdefault("poa_cell", state.cell)  # the cell that was running
        raise
    finally:
        _STATE.reset(token)


def failure(
    exc: BaseException,
    notebook: Path,
    output: Path,
    *,
    code: str,
    week: str | None,
    redact: Callable[[str], str],
) -> Failure:
    """What failed, for the failure page: the cell papermill was running (from the exception, or
    from the executed notebook it saved), the first lines of its source and the error, redacted."""
    cell_index = getattr(exc, "cell_index", None)
    source = getattr(exc, "source", None)
    ename = getattr(exc, "ename", None)
    evalue = getattr(exc, "evalue", None)
    cells = _cells(output)
    running = getattr(exc, "poa_cell", None)
    if cell_index is None and running is not None:  # a timeout, a dead kernel
        cell_index, source = running
    coded = [i for i, c in enumerate(cells) if c.get("cell_type") == "code"]
    number = f"{coded.index(cell_index) + 1}/{len(coded)}" if cell_index in coded else None
    if ename is None:
        ename, evalue = type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc) else ""
    lines = (source or "").splitlines()
    shown = "\n".join(lines[:SOURCE_LINES]) + (
        f"\n... ({len(lines) - SOURCE_LINES} more lines)" if len(lines) > SOURCE_LINES else ""
    )
    evalue_clean = redact(ANSI.sub("", str(evalue or "")))
    return Failure(
        code=code,
        message=f"{ename}: {evalue_clean}",
        week=week,
        notebook=notebook.name,
        cell_index=cell_index,
        cell_number=number,
        cell_source=redact(shown) if shown else None,
        ename=str(ename),
        evalue=evalue_clean,
    )


def _cells(output: Path) -> list[dict[str, Any]]:
    """The cells of the executed notebook papermill saved (it saves at every cell's start)."""
    try:
        cells = json.loads(output.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return []
    if not isinstance(cells, list):
        return []
    # papermill puts an "An Exception was encountered" cell on top; its indexes are without it
    return [c for c in cells if ERROR_MARKER not in c.get("metadata", {}).get("tags", [])]

"""Turn what the user passed (a path, a directory, a glob or a DataFrame) into a list of inputs."""

from __future__ import annotations

import glob as globmod
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import InputError

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
JSON_SUFFIXES = {".json", ".jsonl", ".ndjson"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
COMPRESSED = {".gz", ".zst"}


@dataclass(frozen=True)
class Input:
    """One file (or one DataFrame) to read."""

    label: str  # what messages call it: the path, or 'DataFrame'
    path: Path | None = None
    frame: pd.DataFrame | None = None
    # None: not looked at yet; 'utf-8': the file is read as it is; else ``path`` is a UTF-8 copy of
    # the file named by ``label``, decoded from this encoding (see ``decode.as_utf8``)
    encoding: str | None = None
    delimiter: str | None = None  # CSV: the user's delimiter= (None: sniffed), or 'whitespace'

    @property
    def container(self) -> str:
        """csv | parquet | json | markdown | dataframe | unknown, from the file name."""
        if self.frame is not None:
            return "dataframe"
        assert self.path is not None
        suffixes = [s.lower() for s in self.path.suffixes]
        if suffixes and suffixes[-1] in COMPRESSED:
            suffixes = suffixes[:-1]
        last = suffixes[-1] if suffixes else ""
        for kind, group in (
            ("csv", CSV_SUFFIXES),
            ("parquet", PARQUET_SUFFIXES),
            ("json", JSON_SUFFIXES),
            ("markdown", MARKDOWN_SUFFIXES),
        ):
            if last in group:
                return kind
        return "unknown"


def resolve(source: str | Path | pd.DataFrame, *, suffixes: set[str] | None = None) -> list[Input]:
    """Expand a path, directory or glob into the files it names, in a stable (sorted) order."""
    if isinstance(source, pd.DataFrame):
        return [Input(label="DataFrame", frame=source)]
    if not isinstance(source, (str, Path)):
        raise InputError(
            f"cannot load from a {type(source).__name__}",
            code="ingest.source_type",
            hint="pass a file path, a directory, a glob such as 'exports/*.csv', or a pandas DataFrame",
        )
    text = str(source)
    path = Path(text).expanduser()
    if path.is_dir():
        files = sorted(p for p in _walk(path, text) if not p.name.startswith("."))
        if suffixes is not None:
            files = [p for p in files if _effective_suffix(p) in suffixes]
        if not files:
            raise InputError(
                f"the directory {text} holds no files to load",
                code="ingest.empty_dir",
                hint="check the path, or point at the files themselves",
            )
    elif path.is_file():
        files = [path]
    elif any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in globmod.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise InputError(
                f"the pattern {text} matches no files",
                code="ingest.no_match",
                hint=f"check the pattern; it is relative to the working directory ({Path.cwd()})",
            )
    elif path.exists():
        raise InputError(
            f"{text} is not a regular file or folder (a pipe, socket or device)",
            code="ingest.not_a_file",
            file=text,
            hint="save the data to a file first and load that file",
        )
    else:
        raise InputError(
            f"no such file or directory: {text}",
            code="ingest.not_found",
            hint=f"check the path; relative paths start at {Path.cwd()}",
        )
    return [Input(label=str(p), path=p) for p in files]


def _walk(folder: Path, label: str) -> list[Path]:
    """Every regular file under ``folder``; a folder that cannot be listed is an error rather than
    silently left out (``Path.rglob`` skips it, and its files would be missing from the load)."""

    def refuse(exc: OSError) -> None:
        raise unreadable_error(exc, exc.filename or label, what="folder")

    out: list[Path] = []
    for top, _dirs, names in os.walk(folder, onerror=refuse, followlinks=True):
        out.extend(p for p in (Path(top) / n for n in names) if p.is_file())
    return out


def unreadable_error(exc: OSError, name: str, what: str = "file") -> InputError:
    """The coded error for a file or folder the operating system will not let us read."""
    if isinstance(exc, PermissionError):
        return InputError(
            f"permission denied reading the {what} {name}",
            code="ingest.unreadable",
            file=str(name),
            hint=f"give your user read access to the {what} (chmod u+r, or a+rX for a folder) "
            "or copy it somewhere readable",
        )
    if isinstance(exc, IsADirectoryError):
        return InputError(
            f"{name} is a folder where a file was expected",
            code="ingest.not_a_file",
            file=str(name),
            hint="point at the folder itself to load the files in it, or at one file",
        )
    return InputError(
        f"cannot read the {what} {name}: {exc.strerror or exc}",
        code="ingest.unreadable",
        file=str(name),
        hint="check the path, the disk and your access to it",
    )


def _effective_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""

"""Text files in any encoding, and compressed ones, made readable as UTF-8 before they are read.

DuckDB's readers take UTF-8 only: a UTF-16 CSV (Excel's "Unicode text") used to reach them as
NUL-riddled header names. Before a text input (CSV, JSON, Markdown) is staged, its first 64 KB are
read (through gzip for ``.gz``) and:

* a file with a UTF-16/UTF-32 byte order mark, or UTF-16 without one (NUL bytes in every other
  position), is decoded into a UTF-8 copy in a scratch folder, which is read instead;
* a file that is not UTF-8 (a Latin-1/Windows-1252 export) is refused with ``ingest.encoding``
  naming the first bad byte, unless the load says ``encoding=`` (then it is decoded from that);
* a CSV whose lines end in both CRLF and LF is copied with LF line ends (same lines, same rows);
* a ``.gz`` file that is not gzip, or is cut short, is refused with ``ingest.gzip``;
* a file the operating system will not let us read is refused with ``ingest.unreadable``.

The copy keeps the file's name (its own folder), so notes named after the file keep their id.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO, cast

from ..db import engine_error
from ..errors import ConfigError, InputError
from .sources import Input, unreadable_error

HEAD = 65536
TEXT_CONTAINERS = frozenset({"csv", "json", "markdown"})
UTF8 = frozenset({"utf-8", "utf8", "utf-8-sig", "utf_8", "u8"})
BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
GZIP_MAGIC = b"\x1f\x8b"


def check_encoding(name: str | None) -> str | None:
    """The codec name of ``encoding=`` (None: detect), or a coded error for an unknown one."""
    if name is None or name == "":
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ConfigError(
            f"unknown text encoding {name!r}",
            code="ingest.unknown_encoding",
            hint="use a Python codec name such as 'utf-8', 'cp1252' (Windows Western Europe), "
            "'latin-1', 'utf-16' or 'shift_jis'",
        ) from None


def open_bytes(path: Path) -> BinaryIO:
    """The file's bytes, decompressed when it is named ``.gz``."""
    if path.name.lower().endswith(".gz"):
        return cast(BinaryIO, gzip.open(path, "rb"))
    return path.open("rb")


def read_head(inp: Input, size: int = HEAD) -> bytes:
    """The first ``size`` bytes of the (decompressed) file, or a coded error saying why not."""
    assert inp.path is not None
    if inp.path.name.lower().endswith(".gz"):
        try:
            with inp.path.open("rb") as fh:
                magic = fh.read(2)
        except OSError as exc:
            raise unreadable_error(exc, inp.label) from exc
        if magic != GZIP_MAGIC:
            raise InputError(
                "the file is named .gz but is not gzip-compressed",
                code="ingest.gzip",
                file=inp.label,
                hint="rename it without .gz if it is plain text, or compress it with gzip",
            )
    try:
        with open_bytes(inp.path) as fh:
            return fh.read(size)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise gzip_error(inp.label, exc) from exc
    except OSError as exc:
        raise unreadable_error(exc, inp.label) from exc


def gzip_error(label: str, exc: BaseException) -> InputError:
    return InputError(
        f"the gzip file is damaged or cut short ({exc})",
        code="ingest.gzip",
        file=label,
        hint="download or export it again (gzip -t FILE checks a file), "
        "or load the part you have after gunzip",
    )


def sniff(head: bytes) -> str | None:
    """'utf-8' for UTF-8 (with or without a BOM), the codec of a UTF-16/32 file, or None when the
    bytes are not UTF-8 and not UTF-16/32."""
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    sample = head[:4096]
    if len(sample) >= 4 and b"\x00" in sample:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd > len(sample) // 4 and even == 0:
            return "utf-16-le"
        if even > len(sample) // 4 and odd == 0:
            return "utf-16-be"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3 or len(head) < HEAD:  # not a character cut by the sample's end
            return None
    return "utf-8"


def not_utf8_error(inp: Input, head: bytes) -> InputError:
    for magic, kind, hint in (
        (
            b"PK\x03\x04",
            "a ZIP archive (an Excel .xlsx workbook?)",
            "save it as CSV UTF-8 from the spreadsheet, or unzip it and load the files inside",
        ),
        (b"PAR1", "a Parquet file", "pass format='parquet', or name it .parquet"),
    ):
        if head.startswith(magic):
            return InputError(
                f"the file is {kind}, not text",
                code="ingest.encoding",
                file=inp.label,
                hint=hint,
            )
    try:
        head.decode("utf-8")
        at, byte = 0, 0
    except UnicodeDecodeError as exc:
        at, byte = exc.start, head[exc.start]
    context = head[max(0, at - 20) : at + 20].decode("cp1252", errors="replace")
    return InputError(
        f"the file is not UTF-8: byte 0x{byte:02X} at offset {at} (in {context!r}) is not valid "
        "UTF-8; it looks like a Windows-1252 / Latin-1 export",
        code="ingest.encoding",
        file=inp.label,
        hint="pass the encoding it was saved in, e.g. encoding='cp1252' (CLI: --encoding cp1252), "
        "or export it again as UTF-8",
    )


class Scratch:
    """A folder for the UTF-8 copies of one load, removed when the load ends."""

    def __init__(self) -> None:
        self._dir: Path | None = None

    def folder(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="poanalytics-decoded-"))
        sub = Path(tempfile.mkdtemp(dir=self._dir))
        return sub

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


@contextlib.contextmanager
def scratch() -> Iterator[Scratch]:
    s = Scratch()
    try:
        yield s
    finally:
        s.close()


def as_utf8(inp: Input, container: str, encoding: str | None, work: Scratch) -> Input:
    """``inp`` if it can be read as it is, else an Input whose path is a UTF-8 copy of it."""
    if inp.path is None or inp.encoding is not None or container not in TEXT_CONTAINERS:
        return inp
    head = read_head(inp)
    found = sniff(head)
    source = found if found in ("utf-16", "utf-32") else encoding or found
    if source is None:
        raise not_utf8_error(inp, head)
    utf8 = source in UTF8 or codecs.lookup(source).name == "utf-8"
    if utf8 and not (container == "csv" and mixed_line_ends(head)):
        return replace(inp, encoding="utf-8")
    name = inp.path.name[:-3] if inp.path.name.lower().endswith(".gz") else inp.path.name
    target = work.folder() / name
    try:
        if utf8:  # CRLF and LF line ends in one file: DuckDB's strict CSV reader takes one kind
            _copy_with_lf(inp.path, target)
            return replace(inp, path=target, encoding="utf-8")
        with open_bytes(inp.path) as raw, target.open("w", encoding="utf-8", newline="") as out:
            text = io.TextIOWrapper(raw, encoding=source, errors="strict", newline="")
            shutil.copyfileobj(text, out, 1 << 20)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the file cannot be read as {source}: {exc.reason} (byte 0x{exc.object[exc.start]:02X})",
            code="ingest.encoding",
            file=inp.label,
            hint="pass the encoding the file was saved in (encoding=...), or export it as UTF-8",
        ) from exc
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise gzip_error(inp.label, exc) from exc
    except OSError as exc:
        full = engine_error(exc, f"a UTF-8 copy of {inp.label} in {target.parent}")
        raise (full or unreadable_error(exc, inp.label)) from exc
    return replace(inp, path=target, encoding=source)


def mixed_line_ends(head: bytes) -> bool:
    """Whether the text ends some lines with CRLF and others with a bare LF (rows appended to a
    Windows export on another system): DuckDB's CSV reader then refuses the whole file."""
    return b"\r\n" in head and b"\n" in head.replace(b"\r\n", b"")


def _copy_with_lf(path: Path, target: Path) -> None:
    """Copy the (decompressed) file with every CRLF written as LF; lines and bytes otherwise kept."""
    with open_bytes(path) as raw, target.open("wb") as out:
        carry = b""
        while chunk := raw.read(1 << 20):
            chunk = carry + chunk
            carry = b"\r" if chunk.endswith(b"\r") else b""
            out.write(chunk[: len(chunk) - len(carry)].replace(b"\r\n", b"\n"))
        out.write(carry)

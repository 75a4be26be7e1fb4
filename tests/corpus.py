"""A corpus of bad input files, written by tests/test_corpus.py into a temporary folder.

Each case is a file (or a folder of Markdown notes) with one kind of trouble: missing columns, bad
times, empty values, ragged rows, unclosed quotes, BOMs, duplicate rows and ids, huge fields, binary
junk, empty and header-only files, unicode, mixed epoch units, damaged gzip and Parquet, broken front
matter, ... and what the loader must do with it:

- ``expect="load"``: the load succeeds; bad rows are quarantined, never lost;
- ``expect="error"``: the whole file is refused with a coded PoaError (optionally a given code);
- ``expect="any"``: either, as long as the promises hold (an unclosed quote that swallows the
  following lines may be quarantined as one row or refused whole: both keep every line visible).

``count`` says how the test counts the file's records on its own (Python's csv/json/gzip modules and
pyarrow's metadata, never the loader): csv, jsonl, json, parquet, md (files in a folder) or None.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

Writer = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # events | tickets | notes
    path: str  # file (or folder) name inside the case's folder
    write: Writer
    count: str | None  # csv | jsonl | json | parquet | md | None
    expect: str = "load"  # load | error | any
    options: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None  # the code a refused load must carry
    loaded: int | None = None  # rows that must be loaded
    quarantined: int | None = None  # rows that must be quarantined
    duplicate: int | None = None  # rows that must be counted as duplicates
    conflict: int | None = None  # loaded rows whose event id an event with other content has
    gz: bool = False  # count after gunzip
    probe: tuple[str, int] | None = None  # after a load: a count query and the count it must give


def text(content: str, encoding: str = "utf-8") -> Writer:
    return lambda p: p.write_bytes(content.encode(encoding))


def raw(content: bytes) -> Writer:
    return lambda p: p.write_bytes(content)


def gzipped(content: bytes) -> Writer:
    return lambda p: p.write_bytes(gzip.compress(content, mtime=0))


def parquet(table: pa.Table) -> Writer:
    return lambda p: pq.write_table(table, p)


def folder(files: dict[str, bytes]) -> Writer:
    def write(p: Path) -> None:
        p.mkdir()
        for name, content in files.items():
            (p / name).write_bytes(content)

    return write


def ts(i: int) -> str:
    return f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z"


def ev(prefix: str, n: int, event: str = "signed_up") -> list[str]:
    """n good event rows for users that belong to this case only."""
    return [f"{prefix}-u{i},{event},{ts(i)}" for i in range(n)]


def csv_events(prefix: str, rows: list[str], header: str = "user_id,event,timestamp") -> str:
    return header + "\n" + "\n".join(rows) + "\n"


def jl(records: list[Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def rec(prefix: str, i: int, **extra: Any) -> dict[str, Any]:
    return {"user_id": f"{prefix}-u{i}", "event": "clicked", "timestamp": ts(i), **extra}


BINARY = bytes(range(256)) * 8 + b"\x00\xff\xfe" * 100


def _events_csv() -> list[Case]:
    c: list[Case] = []
    add = c.append
    # fmt: off
    add(Case('csv_missing_user_column', 'events', 'a.csv', text('event,timestamp\nsigned_up,2024-01-01T00:00:00Z\n'), 'csv', 'error', error_code='ingest.missing_field'))
    add(Case('csv_missing_event_column', 'events', 'a.csv', text('user_id,timestamp\nx,2024-01-01T00:00:00Z\n'), 'csv', 'error', error_code='ingest.missing_field'))
    add(Case('csv_missing_time_column', 'events', 'a.csv', text('user_id,event\nx,signed_up\n'), 'csv', 'error', error_code='ingest.missing_field'))
    add(Case('csv_bad_times', 'events', 'a.csv', text(csv_events('bt', ev('bt', 5) + ['bt-x,clicked,not a time', 'bt-y,clicked,2024-13-45T99:00:00Z', 'bt-z,clicked,yesterday'])), 'csv', loaded=5, quarantined=3))
    add(Case('csv_empty_values', 'events', 'a.csv', text(csv_events('ev', ev('ev', 4) + [',clicked,' + ts(1), 'ev-a,,' + ts(2), 'ev-b,clicked,', ',,'])), 'csv', loaded=4, quarantined=4))
    add(Case('csv_blank_values', 'events', 'a.csv', text(csv_events('bv', ev('bv', 3) + ['   ,clicked,' + ts(1), 'bv-a,\t,' + ts(2)])), 'csv', loaded=3, quarantined=2))
    add(Case('csv_all_rows_bad', 'events', 'a.csv', text(csv_events('ab', [f'ab-u{i},clicked,never' for i in range(6)])), 'csv', loaded=0, quarantined=6))
    add(Case('csv_ragged_more_fields', 'events', 'a.csv', text(csv_events('rm', ev('rm', 4) + ['rm-x,clicked,' + ts(3) + ',extra,more'])), 'csv', loaded=4, quarantined=1))
    add(Case('csv_ragged_fewer_fields', 'events', 'a.csv', text(csv_events('rf', ev('rf', 4) + ['rf-x,clicked'])), 'csv', loaded=4, quarantined=1))
    add(Case('csv_ragged_many', 'events', 'a.csv', text(csv_events('rg', [r + ',x' * (i % 3) for i, r in enumerate(ev('rg', 9))])), 'csv'))
    add(Case('csv_unclosed_quote_middle', 'events', 'a.csv', text(csv_events('uq', ev('uq', 3) + ['uq-x,"clicked,' + ts(1)] + ev('uq2', 3))), 'csv', 'any'))
    add(Case('csv_unclosed_quote_last', 'events', 'a.csv', text(csv_events('ul', ev('ul', 4) + ['ul-x,"clicked,' + ts(1)])), 'csv', 'any'))
    add(Case('csv_stray_quote', 'events', 'a.csv', text(csv_events('sq', ev('sq', 4) + ['sq-x,cl"ick,' + ts(2)])), 'csv'))
    add(Case('csv_bom', 'events', 'a.csv', text('\ufeff' + csv_events('bo', ev('bo', 5))), 'csv', loaded=5))
    add(Case('csv_bom_quoted_header', 'events', 'a.csv', text('\ufeff"user_id","event","timestamp"\n' + '\n'.join(ev('bq', 4)) + '\n'), 'csv', loaded=4))
    add(Case('csv_duplicate_rows', 'events', 'a.csv', text(csv_events('dr', ev('dr', 3) * 3)), 'csv', loaded=9, duplicate=0))
    add(Case('csv_duplicate_event_ids', 'events', 'a.csv', text('event_id,user_id,event,timestamp\n' + '\n'.join(f'id{i % 3},di-u{i % 3},clicked,{ts(i % 3)}' for i in range(9)) + '\n'), 'csv', loaded=3, duplicate=6))
    add(Case('csv_reused_event_ids', 'events', 'a.csv', text('event_id,user_id,event,timestamp\n' + '\n'.join(f'ri-id{i % 2},ri-u{i},clicked,{ts(i)}' for i in range(6)) + '\n'), 'csv', loaded=6, duplicate=0, conflict=4))
    add(Case('csv_huge_event_name', 'events', 'a.csv', text(csv_events('hn', ev('hn', 3) + ['hn-x,' + 'e' * 600 + ',' + ts(1)])), 'csv', loaded=3, quarantined=1))
    add(Case('csv_huge_user_id', 'events', 'a.csv', text(csv_events('hu', ev('hu', 3) + ['u' * 5000 + ',clicked,' + ts(1)])), 'csv', loaded=3, quarantined=1))
    add(Case('csv_huge_properties', 'events', 'a.csv', text(csv_events('hp', [r + ',' + ('p' * 70000 if i == 2 else 'ok') for i, r in enumerate(ev('hp', 4))], 'user_id,event,timestamp,note')), 'csv', loaded=3, quarantined=1))
    add(Case('csv_line_over_2mb', 'events', 'a.csv', text(csv_events('hl', ev('hl', 3) + ['hl-x,clicked,' + ts(1) + ',' + 'z' * 2200000], 'user_id,event,timestamp,blob')), 'csv', 'any'))
    add(Case('csv_binary_junk', 'events', 'a.csv', raw(BINARY), None, 'any'))
    add(Case('csv_junk_after_header', 'events', 'a.csv', raw(b'user_id,event,timestamp\n' + BINARY[:700] + b'\n'), None, 'any'))
    add(Case('csv_empty_file', 'events', 'a.csv', raw(b''), None, 'error', error_code='ingest.empty_file'))
    add(Case('csv_blank_lines_only', 'events', 'a.csv', raw(b'\n\n   \n\n'), None, 'any'))
    add(Case('csv_header_only', 'events', 'a.csv', text('user_id,event,timestamp\n'), 'csv', loaded=0))
    add(Case('csv_header_only_no_newline', 'events', 'a.csv', text('user_id,event,timestamp'), 'csv', loaded=0))
    add(Case('csv_unicode', 'events', 'a.csv', text(csv_events('uc', ['uc-ü-😀,ñandú_clicked,' + ts(1), 'uc-שלום,مرحبا,' + ts(2), 'uc-é,café\u200b,' + ts(3), 'uc-汉字,事件,' + ts(4)])), 'csv', loaded=4, probe=("SELECT count(*) FROM events WHERE user_id = 'uc-ü-😀' AND event = 'ñandú_clicked'", 1)))
    add(Case('csv_latin1', 'events', 'a.csv', text(csv_events('l1', ev('l1', 3) + ['l1-x,café,' + ts(1)]), 'latin-1'), 'csv', 'any', probe=("SELECT count(*) FROM events WHERE user_id LIKE 'l1-%' AND contains(event, chr(65533))", 0)))
    add(Case('csv_crlf', 'events', 'a.csv', text(csv_events('cr', ev('cr', 5)).replace('\n', '\r\n')), 'csv', loaded=5))
    add(Case('csv_mixed_line_endings', 'events', 'a.csv', text('user_id,event,timestamp\r\n' + '\r\n'.join(ev('ml', 3)) + '\n' + '\n'.join(ev('ml2', 3)) + '\n'), 'csv', loaded=6))
    add(Case('csv_blank_lines_between', 'events', 'a.csv', text('user_id,event,timestamp\n\n' + '\n\n'.join(ev('bl', 4)) + '\n\n'), 'csv', loaded=4))
    add(Case('csv_trailing_delimiter', 'events', 'a.csv', text('user_id,event,timestamp,\n' + '\n'.join(r + ',' for r in ev('td', 4)) + '\n'), 'csv', loaded=4))
    add(Case('csv_semicolons', 'events', 'a.csv', text(csv_events('sc', [r.replace(',', ';') for r in ev('sc', 5)], 'user_id;event;timestamp')), 'csv', loaded=5))
    add(Case('csv_tabs', 'events', 'a.csv', text(csv_events('tb', [r.replace(',', '\t') for r in ev('tb', 5)], 'user_id\tevent\ttimestamp')), 'csv', loaded=5))
    add(Case('csv_epoch_seconds', 'events', 'a.csv', text(csv_events('es', [f'es-u{i},clicked,{1704067200 + i * 3600}' for i in range(5)])), 'csv', loaded=5))
    add(Case('csv_epoch_ms', 'events', 'a.csv', text(csv_events('em', [f'em-u{i},clicked,{(1704067200 + i * 3600) * 1000}' for i in range(5)])), 'csv', loaded=5))
    add(Case('csv_epoch_ns', 'events', 'a.csv', text(csv_events('en', [f'en-u{i},clicked,{(1704067200 + i * 3600) * 10 ** 9}' for i in range(5)])), 'csv', loaded=5))
    add(Case('csv_mixed_epoch_units', 'events', 'a.csv', text(csv_events('mu', [f'mu-u{i},clicked,{(1704067200 + i) * 1000 ** (i % 3)}' for i in range(6)])), 'csv', 'any', loaded=6, probe=("SELECT count(*) FROM events WHERE user_id LIKE 'mu-%' AND ts BETWEEN '2024-01-01 00:00:00+00' AND '2024-01-01 00:00:05+00'", 6)))
    add(Case('csv_epoch_and_iso_mixed', 'events', 'a.csv', text(csv_events('ei', [f'ei-u{i},clicked,{1704067200 + i}' for i in range(3)] + ev('ei2', 3))), 'csv', 'any', probe=("SELECT count(*) FROM events WHERE user_id LIKE 'ei%' AND ts BETWEEN '2024-01-01' AND '2024-01-04'", 6)))
    add(Case('csv_times_out_of_range', 'events', 'a.csv', text(csv_events('or', ev('or', 3) + ['or-x,clicked,1200-01-01T00:00:00Z', 'or-y,clicked,9999-12-31T00:00:00Z', 'or-z,clicked,0001-01-01T00:00:00Z'])), 'csv', loaded=3, quarantined=3))
    add(Case('csv_nan_times', 'events', 'a.csv', text(csv_events('nt', ev('nt', 3) + ['nt-x,clicked,NaN', 'nt-y,clicked,inf', 'nt-z,clicked,-Infinity'])), 'csv', loaded=3, quarantined=3))
    add(Case('csv_offsets_and_naive_mixed', 'events', 'a.csv', text(csv_events('on', ['on-a,clicked,2024-03-04 10:00:00', 'on-b,clicked,2024-03-04T10:00:00+01:00', 'on-c,clicked,2024-03-04 10:00:00 +0100', 'on-d,clicked,2024-03-04T10:00:00Z'])), 'csv', loaded=4, probe=("SELECT count(*) FROM events WHERE user_id IN ('on-b', 'on-c') AND ts = '2024-03-04 09:00:00+00'", 2)))
    add(Case('csv_ambiguous_day_month', 'events', 'a.csv', text(csv_events('am', [f'am-u{i},clicked,0{1 + i % 9}/0{2 + i % 7}/2024 10:00' for i in range(5)])), 'csv', 'error', error_code='ingest.date_order_ambiguous'))
    add(Case('csv_mixed_day_month', 'events', 'a.csv', text(csv_events('md', ['md-a,clicked,25/01/2024 10:00', 'md-b,clicked,01/25/2024 10:00', 'md-c,clicked,03/04/2024 10:00'])), 'csv', 'error', error_code='ingest.date_order_mixed'))
    add(Case('csv_nul_byte', 'events', 'a.csv', raw(csv_events('nb', ev('nb', 3) + ['nb-x,cli\x00ck,' + ts(1)]).encode()), 'csv', 'any'))
    add(Case('csv_duplicate_headers', 'events', 'a.csv', text(csv_events('dh', [r + ',x,y' for r in ev('dh', 4)], 'user_id,event,timestamp,note,note')), 'csv', loaded=4))
    add(Case('csv_nbsp_header', 'events', 'a.csv', text(csv_events('nh', ev('nh', 4), '\xa0user_id ,event\xa0, timestamp')), 'csv', loaded=4))
    add(Case('csv_quoted_newlines', 'events', 'a.csv', text(csv_events('qn', [r + ',"line one\nline two"' for r in ev('qn', 4)], 'user_id,event,timestamp,comment')), 'csv', loaded=4))
    add(Case('csv_bad_properties_json', 'events', 'a.csv', text(csv_events('pj', [r + ',' + p for r, p in zip(ev('pj', 4), ['"{""a"": 1}"', '"{not json"', '"[1, 2]"', '"42"'], strict=True)], 'user_id,event,timestamp,properties')), 'csv', loaded=1, quarantined=3))
    add(Case('csv_wide', 'events', 'a.csv', text(csv_events('wd', [r + ',' + ','.join(str(j) for j in range(400)) for r in ev('wd', 3)], 'user_id,event,timestamp,' + ','.join(f'c{j}' for j in range(400)))), 'csv', loaded=3))
    add(Case('csv_single_column', 'events', 'a.csv', text('user_id\nsc-a\nsc-b\n'), 'csv', 'error', error_code='ingest.missing_field'))
    add(Case('csv_numeric_ids', 'events', 'a.csv', text(csv_events('ni', [f'00{i},{i},{ts(i)}' for i in range(4)])), 'csv', loaded=4))
    add(Case('csv_formula_injection', 'events', 'a.csv', text(csv_events('fi', ["=cmd|' /C calc'!A0,clicked," + ts(1), '+fi-b,@SUM(1),', 'fi-c,-2+3,' + ts(3)])), 'csv', loaded=2, quarantined=1))
    add(Case('csv_quoted_everything', 'events', 'a.csv', text('"user_id","event","timestamp"\n' + '\n'.join('"' + r.replace(',', '","') + '"' for r in ev('qe', 4)) + '\n'), 'csv', loaded=4))
    add(Case('csv_escaped_quotes', 'events', 'a.csv', text(csv_events('eq', [f'eq-u{i},"say ""hi""",{ts(i)}' for i in range(3)])), 'csv', loaded=3))
    # fmt: on
    return c


def _events_json() -> list[Case]:
    c: list[Case] = []
    add = c.append
    good = [rec("jl", i) for i in range(4)]
    # fmt: off
    add(Case('jsonl_invalid_line', 'events', 'a.jsonl', text(jl(good) + '{"user_id": "jl-x", "event": \n' + jl([rec('jl2', 1)])), 'jsonl', loaded=5, quarantined=1))
    add(Case('jsonl_truncated_last_line', 'events', 'a.jsonl', text(jl([rec('jt', i) for i in range(4)]) + '{"user_id": "jt-x", "eve'), 'jsonl', loaded=4, quarantined=1))
    add(Case('jsonl_blank_lines', 'events', 'a.jsonl', text('\n' + jl([rec('jb', i) for i in range(3)]).replace('\n', '\n\n') + '   \n'), 'jsonl', loaded=3))
    add(Case('jsonl_non_objects', 'events', 'a.jsonl', text(jl([rec('jn', i) for i in range(3)] + [[1, 2], 42, 'text', None])), 'jsonl', loaded=3, quarantined=4))
    add(Case('jsonl_missing_keys', 'events', 'a.jsonl', text(jl([rec('jm', i) for i in range(3)] + [{'user_id': 'jm-x', 'event': 'e'}, {'event': 'e', 'timestamp': ts(1)}])), 'jsonl', loaded=3, quarantined=2))
    add(Case('jsonl_null_values', 'events', 'a.jsonl', text(jl([rec('jz', i) for i in range(3)] + [{'user_id': None, 'event': 'e', 'timestamp': ts(1)}, {'user_id': 'jz-y', 'event': None, 'timestamp': None}])), 'jsonl', loaded=3, quarantined=2))
    add(Case('jsonl_wrong_types', 'events', 'a.jsonl', text(jl([rec('jw', i) for i in range(3)] + [{'user_id': {'a': 1}, 'event': ['e'], 'timestamp': True}])), 'jsonl', 'any'))
    add(Case('jsonl_deep_nesting', 'events', 'a.jsonl', text(jl([rec('jd', i) for i in range(3)]) + json.dumps(rec('jd-x', 9))[:-1] + ', "properties": {"a": ' + '[' * 3000 + ']' * 3000 + '}}\n'), 'jsonl', 'any'))
    add(Case('jsonl_duplicate_keys', 'events', 'a.jsonl', text(jl([rec('jk', i) for i in range(3)]) + '{"user_id": "jk-a", "user_id": "jk-b", "event": "e", "timestamp": "2024-01-01T00:00:00Z"}\n'), 'jsonl', loaded=4))
    add(Case('jsonl_bom', 'events', 'a.jsonl', text('\ufeff' + jl([rec('jo', i) for i in range(4)])), 'jsonl', loaded=4))
    add(Case('jsonl_crlf', 'events', 'a.jsonl', text(jl([rec('jc', i) for i in range(4)]).replace('\n', '\r\n')), 'jsonl', loaded=4))
    add(Case('jsonl_mixed_epoch_units', 'events', 'a.jsonl', text(jl([{'user_id': f'je-u{i}', 'event': 'e', 'timestamp': (1704067200 + i) * 1000 ** (i % 3)} for i in range(6)])), 'jsonl', 'any', loaded=6, probe=("SELECT count(*) FROM events WHERE user_id LIKE 'je-%' AND ts BETWEEN '2024-01-01 00:00:00+00' AND '2024-01-01 00:00:05+00'", 6)))
    add(Case('jsonl_epoch_as_float', 'events', 'a.jsonl', text(jl([{'user_id': f'jf-u{i}', 'event': 'e', 'timestamp': 1704067200.5 + i} for i in range(4)])), 'jsonl', loaded=4))
    add(Case('jsonl_huge_string', 'events', 'a.jsonl', text(jl([rec('jh', i) for i in range(3)] + [{'user_id': 'jh-x', 'event': 'e' * 1000, 'timestamp': ts(1)}])), 'jsonl', loaded=3, quarantined=1))
    add(Case('jsonl_unicode_escapes', 'events', 'a.jsonl', text(jl([rec('ju', 1)]) + '{"user_id": "ju-\\ud83d\\ude00", "event": "caf\\u00e9", "timestamp": "2024-01-02T00:00:00Z"}\n'), 'jsonl', loaded=2))
    add(Case('jsonl_lone_surrogate', 'events', 'a.jsonl', text(jl([rec('js', i) for i in range(3)]) + '{"user_id": "js-\\ud800", "event": "e", "timestamp": "2024-01-02T00:00:00Z"}\n'), 'jsonl', 'any'))
    add(Case('jsonl_all_invalid', 'events', 'a.jsonl', text('not json\n{also not\n]]]\n'), 'jsonl', 'any'))
    add(Case('jsonl_segment_duplicate_message_ids', 'events', 'a.jsonl', text(jl([{'messageId': f'm{i % 2}', 'type': 'track', 'userId': f'sg-u{i % 2}', 'event': 'Clicked', 'timestamp': ts(i % 2)} for i in range(6)])), 'jsonl', loaded=2, duplicate=4))
    add(Case('jsonl_segment_bad_timestamp', 'events', 'a.jsonl', text(jl([{'messageId': f'sb{i}', 'type': 'track', 'userId': 'sb-u', 'event': 'Clicked', 'timestamp': 'soon' if i == 1 else ts(i)} for i in range(4)])), 'jsonl', loaded=3, quarantined=1))
    add(Case('json_array_bad_record', 'events', 'a.json', text(json.dumps([rec('ja', i) for i in range(4)] + [{'user_id': 'ja-x', 'event': 'e', 'timestamp': 'bad'}])), 'json', loaded=4, quarantined=1))
    add(Case('json_array_non_objects', 'events', 'a.json', text(json.dumps([rec('jp', i) for i in range(3)] + [1, 'two', [3]])), 'json', 'any'))
    add(Case('json_empty_array', 'events', 'a.json', text('[]'), 'json', 'any'))
    add(Case('json_empty_object', 'events', 'a.json', text('{}'), None, 'error'))
    add(Case('json_wrapped_list', 'events', 'a.json', text(json.dumps({'events': [rec('jwl', i) for i in range(3)]})), 'json', loaded=3))
    add(Case('json_truncated', 'events', 'a.json', text(json.dumps([rec('jr', i) for i in range(4)], indent=2)[:-30]), None, 'any'))
    add(Case('json_scalar', 'events', 'a.json', text('42'), None, 'error'))
    add(Case('json_null', 'events', 'a.json', text('null'), None, 'error'))
    add(Case('json_pretty_bad_time', 'events', 'a.json', text(json.dumps([rec('jq', i) for i in range(3)] + [{'user_id': 'jq-x', 'event': 'e', 'timestamp': '31/31/2024'}], indent=2)), 'json', loaded=3, quarantined=1))
    # fmt: on
    return c


def _compressed() -> list[Case]:
    c: list[Case] = []
    add = c.append
    # fmt: off
    add(Case('gz_csv_bad_rows', 'events', 'a.csv.gz', gzipped(csv_events('gz', ev('gz', 5) + ['gz-x,clicked,never', 'gz-y']).encode()), 'csv', loaded=5, quarantined=2, gz=True))
    add(Case('gz_jsonl_invalid_line', 'events', 'a.jsonl.gz', gzipped((jl([rec('gj', i) for i in range(4)]) + '{oops\n').encode()), 'jsonl', loaded=4, quarantined=1, gz=True))
    add(Case('gz_fake', 'events', 'a.csv.gz', text(csv_events('gf', ev('gf', 3))), None, 'any'))
    add(Case('gz_truncated', 'events', 'a.csv.gz', lambda p: p.write_bytes(gzip.compress(csv_events('gt', ev('gt', 300)).encode(), mtime=0)[:200]), None, 'error'))
    add(Case('gz_empty', 'events', 'a.csv.gz', gzipped(b''), None, 'error'))
    add(Case('gz_bom_csv', 'events', 'a.csv.gz', gzipped(('\ufeff' + csv_events('gb', ev('gb', 4))).encode()), 'csv', loaded=4, gz=True))
    add(Case('gz_binary_junk', 'events', 'a.csv.gz', gzipped(BINARY), None, 'any'))
    # fmt: on
    return c


def _parquet() -> list[Case]:
    c: list[Case] = []
    add = c.append

    def table(prefix: str, n: int, **cols: list[Any]) -> pa.Table:
        base: dict[str, Any] = {
            "user_id": [f"{prefix}-u{i}" for i in range(n)],
            "event": ["clicked"] * n,
            "timestamp": [ts(i) for i in range(n)],
        }
        base.update(cols)
        return pa.table(base)

    # fmt: off
    add(Case('parquet_null_users', 'events', 'a.parquet', parquet(table('pn', 5, user_id=['pn-a', None, 'pn-c', None, ''])), 'parquet', loaded=2, quarantined=3))
    add(Case('parquet_bad_time_strings', 'events', 'a.parquet', parquet(table('pt', 4, timestamp=[ts(0), 'nope', ts(2), None])), 'parquet', loaded=2, quarantined=2))
    add(Case('parquet_missing_event', 'events', 'a.parquet', parquet(pa.table({'user_id': ['a'], 'timestamp': [ts(1)]})), 'parquet', 'error', error_code='ingest.missing_field'))
    add(Case('parquet_epoch_ms_ints', 'events', 'a.parquet', parquet(table('pe', 4, timestamp=[(1704067200 + i) * 1000 for i in range(4)])), 'parquet', loaded=4))
    add(Case('parquet_zero_rows', 'events', 'a.parquet', parquet(table('pz', 0)), 'parquet', 'any'))
    add(Case('parquet_truncated', 'events', 'a.parquet', lambda p: (pq.write_table(table('pr', 50), p), p.write_bytes(p.read_bytes()[:300])), None, 'error'))
    add(Case('parquet_binary_junk', 'events', 'a.parquet', raw(BINARY), None, 'error'))
    add(Case('parquet_nested_properties', 'events', 'a.parquet', parquet(table('pp', 3, properties=[{'a': 1, 'b': 'x'}, {'a': 2, 'b': None}, None])), 'parquet', loaded=3))
    add(Case('parquet_out_of_range_times', 'events', 'a.parquet', parquet(table('po', 3, timestamp=pa.array([0, -10 ** 17, 1704067200 * 10 ** 6], pa.timestamp('us', tz='UTC')))), 'parquet', loaded=2, quarantined=1))
    add(Case('parquet_duplicate_rows', 'events', 'a.parquet', parquet(pa.concat_tables([table('pd', 3)] * 3)), 'parquet', loaded=9))
    add(Case('parquet_huge_value', 'events', 'a.parquet', parquet(table('ph', 3, event=['clicked', 'x' * 2000, 'clicked'])), 'parquet', loaded=2, quarantined=1))
    # fmt: on
    return c


def _tickets() -> list[Case]:
    c: list[Case] = []
    add = c.append
    head = "ticket_id,created_at,updated_at,subject,body"

    def tk(prefix: str, n: int) -> list[str]:
        return [f"{prefix}-{i},{ts(i)},{ts(i + 1)},Subject {i},Body {i}" for i in range(n)]

    # fmt: off
    add(Case('tickets_missing_id_column', 'tickets', 't.csv', text('created_at,subject\n' + ts(1) + ',hi\n'), 'csv', 'error', error_code='ingest.missing_field'))
    add(Case('tickets_empty_ids', 'tickets', 't.csv', text(head + '\n' + '\n'.join(tk('te', 3) + [',' + ts(1) + ',,s,b', '  ,' + ts(2) + ',,s,b']) + '\n'), 'csv', loaded=3, quarantined=2))
    add(Case('tickets_duplicate_ids_same', 'tickets', 't.csv', text(head + '\n' + '\n'.join(tk('td', 3) * 2) + '\n'), 'csv', loaded=3, duplicate=3))
    add(Case('tickets_duplicate_ids_newer', 'tickets', 't.csv', text(head + '\n' + '\n'.join([f'tn-1,{ts(1)},{ts(2)},old,b', f'tn-1,{ts(1)},{ts(5)},new,b', f'tn-1,{ts(1)},{ts(3)},mid,b']) + '\n'), 'csv', loaded=1, duplicate=2))
    add(Case('tickets_bad_times', 'tickets', 't.csv', text(head + '\n' + '\n'.join(tk('tb', 3) + ['tb-x,whenever,,s,b', 'tb-y,' + ts(1) + ',later,s,b']) + '\n'), 'csv', loaded=3, quarantined=2))
    add(Case('tickets_unclosed_quote', 'tickets', 't.csv', text(head + '\n' + '\n'.join(tk('tu', 3) + ['tu-x,' + ts(1) + ',' + ts(2) + ',s,"never closed'] + tk('tu2', 2)) + '\n'), 'csv', 'any'))
    add(Case('tickets_multiline_bodies', 'tickets', 't.csv', text(head + '\n' + '\n'.join(f'tm-{i},{ts(i)},{ts(i)},s,"line 1\nline 2, with comma\n""quoted"""' for i in range(4)) + '\n'), 'csv', loaded=4))
    add(Case('tickets_excel_crlf_rows_lf_in_cells', 'tickets', 't.csv', text(head + '\r\n' + '\r\n'.join(f'txl-{i},{ts(i)},{ts(i)},s,"first line\nsecond line"' for i in range(3)) + '\r\n'), 'csv', loaded=3, probe=("SELECT count(*) FROM tickets WHERE ticket_id LIKE 'txl-%' AND body = 'first line' || chr(10) || 'second line'", 3)))
    add(Case('tickets_huge_body', 'tickets', 't.csv', text(head + '\n' + '\n'.join(tk('th', 2) + ['th-x,' + ts(1) + ',' + ts(1) + ',s,' + 'b' * 1000100]) + '\n'), 'csv', loaded=2, quarantined=1))
    add(Case('tickets_bom', 'tickets', 't.csv', text('\ufeff' + head + '\n' + '\n'.join(tk('tbo', 4)) + '\n'), 'csv', loaded=4))
    add(Case('tickets_header_only', 'tickets', 't.csv', text(head + '\n'), 'csv', loaded=0))
    add(Case('tickets_empty_file', 'tickets', 't.csv', raw(b''), None, 'error', error_code='ingest.empty_file'))
    add(Case('tickets_bad_satisfaction', 'tickets', 't.csv', text(head + ',satisfaction\n' + '\n'.join((r + ',' + s for r, s in zip(tk('ts', 4), ['0.5', 'high', '', '1'], strict=True))) + '\n'), 'csv', loaded=3, quarantined=1))
    zendesk = "Id,Subject,Via,Requester,Created at,Updated at,Satisfaction Score"
    add(Case('tickets_zendesk_bad_score', 'tickets', 'z.csv', text(zendesk + '\n' + '\n'.join([f'{900 + i},Help,Web,Ann,2024-03-04 10:00:00 +0100,2024-03-05 10:00:00 +0100,{s}' for i, s in enumerate(['Good', 'Great', 'Bad', 'Offered'])]) + '\n'), 'csv', loaded=3, quarantined=1))
    jira = "Summary,Issue key,Issue id,Issue type,Status,Created,Updated,Labels,Labels"
    add(Case('tickets_jira_bad_dates', 'tickets', 'j.csv', text(jira + '\n' + '\n'.join(['Crash,APP-1,1,Bug,Open,12/Jan/24 3:45 PM,13/Jan/24 3:45 PM,a,b', 'Slow,APP-2,2,Bug,Open,31/Foo/24 3:45 PM,,c,', 'Dup,APP-3,3,Bug,None,14/Jan/24 9:00 AM,14/Jan/24 9:00 AM,,']) + '\n'), 'csv', loaded=2, quarantined=1))
    intercom = "Conversation ID,Conversation started at,Last updated,State,Conversation rating"
    add(Case('tickets_intercom_bad_rating', 'tickets', 'i.csv', text(intercom + '\n' + '\n'.join([f'ic{i},{ts(i)},{ts(i)},open,{r}' for i, r in enumerate(['5', '7', '', '1'])]) + '\n'), 'csv', loaded=3, quarantined=1))
    add(Case('tickets_github_missing_number', 'tickets', 'g.json', text(json.dumps([{'number': 1, 'title': 'a', 'state': 'open', 'html_url': 'https://github.com/o/r/issues/1', 'created_at': ts(1), 'updated_at': ts(2)}, {'title': 'b', 'state': 'open', 'html_url': 'https://github.com/o/r/issues/2', 'created_at': ts(1), 'updated_at': ts(2)}, {'number': 3, 'title': 'c', 'state': 'open', 'html_url': 'https://github.com/o/r/issues/3', 'created_at': 'nope', 'updated_at': ts(2)}])), 'json', 'any'))
    add(Case('tickets_binary_junk', 'tickets', 't.csv', raw(BINARY), None, 'any'))
    add(Case('tickets_unicode', 'tickets', 't.csv', text(head + '\n' + f'tx-1,{ts(1)},{ts(1)},Ünïcödé 😀,שלום עולם\ntx-2,{ts(2)},{ts(2)},汉字,é\u200b\n'), 'csv', loaded=2))
    add(Case('tickets_jsonl_bad_lines', 'tickets', 't.jsonl', text(jl([{'ticket_id': f'tj-{i}', 'created_at': ts(i), 'subject': 's'} for i in range(3)]) + '{broken\n' + jl([{'ticket_id': 'tj-x', 'created_at': 'never'}])), 'jsonl', loaded=3, quarantined=2))
    # fmt: on
    return c


FRONT = "---\nid: {id}\nparticipant: P {id}\ndate: 2024-03-04 10:30\n---\n# Interview {id}\n\n> It was {id}. #tag\n"


def md(note_id: str) -> bytes:
    return FRONT.format(id=note_id).encode()


def _notes() -> list[Case]:
    c: list[Case] = []
    add = c.append
    # fmt: off
    add(Case('notes_unclosed_front_matter', 'notes', 'n', folder({'a.md': md('nu-a'), 'b.md': b'---\nid: nu-b\nparticipant: Bo\n# no closing line\n\n> quote\n'}), 'md', loaded=1, quarantined=1))
    add(Case('notes_invalid_yaml', 'notes', 'n', folder({'a.md': md('ny-a'), 'b.md': b'---\nid: [unclosed\nparticipant: : :\n---\ntext\n'}), 'md', loaded=1, quarantined=1))
    add(Case('notes_front_matter_list', 'notes', 'n', folder({'a.md': md('nl-a'), 'b.md': b'---\n- one\n- two\n---\ntext\n'}), 'md', loaded=1, quarantined=1))
    add(Case('notes_bad_date', 'notes', 'n', folder({'a.md': md('nd-a'), 'b.md': b'---\nid: nd-b\ndate: the day after\n---\ntext\n'}), 'md', loaded=1, quarantined=1))
    add(Case('notes_empty_file', 'notes', 'n', folder({'a.md': md('ne-a'), 'b.md': b''}), 'md', 'any'))
    add(Case('notes_duplicate_ids', 'notes', 'n', folder({'a.md': md('nx-1'), 'b.md': md('nx-1'), 'c.md': md('nx-2')}), 'md'))
    add(Case('notes_binary_junk', 'notes', 'n', folder({'a.md': md('nj-a'), 'b.md': BINARY}), 'md', 'any', probe=("SELECT count(*) FROM notes WHERE contains(text, chr(0)) OR contains(text, chr(65533))", 0)))
    add(Case('notes_bom', 'notes', 'n', folder({'a.md': b'\xef\xbb\xbf' + md('nb-a'), 'b.md': md('nb-b')}), 'md', loaded=2))
    add(Case('notes_unicode', 'notes', 'n', folder({'a.md': '---\nid: nü-😀\nparticipant: Zoë שלום\n---\n> 汉字 é café\u200b #ü\n'.encode(), 'b.md': md('nuni-b')}), 'md', loaded=2))
    add(Case('notes_huge_text', 'notes', 'n', folder({'a.md': md('nh-a'), 'b.md': b'---\nid: nh-b\n---\n' + b'w ' * 600000}), 'md', loaded=1, quarantined=1))
    add(Case('notes_crlf', 'notes', 'n', folder({'a.md': md('nc-a').replace(b'\n', b'\r\n'), 'b.md': md('nc-b')}), 'md', loaded=2))
    add(Case('notes_no_markdown', 'notes', 'n', folder({'a.txt': b'hello'}), None, 'error'))
    add(Case('notes_front_matter_only', 'notes', 'n', folder({'a.md': b'---\nid: nf-a\n---\n', 'b.md': md('nf-b')}), 'md', 'any'))
    add(Case('notes_latin1', 'notes', 'n', folder({'a.md': '---\nid: n1-a\nparticipant: José\n---\n> café\n'.encode('latin-1'), 'b.md': md('n1-b')}), 'md', 'any', probe=("SELECT count(*) FROM notes WHERE note_id LIKE 'n1-%' AND (participant LIKE '%\ufffd%' OR text LIKE '%\ufffd%')", 0)))
    add(Case('notes_csv_empty_ids', 'notes', 'n.csv', text('note_id,text\nnc-1,hello\n,orphan\nnc-3,\nnc-4,bye\n'), 'csv', loaded=2, quarantined=2))
    add(Case('notes_csv_duplicate_ids', 'notes', 'n.csv', text('note_id,text\nnd-1,a\nnd-1,a\nnd-2,b\n'), 'csv'))
    # fmt: on
    return c


def cases() -> list[Case]:
    out = _events_csv() + _events_json() + _compressed() + _parquet() + _tickets() + _notes()
    names = [c.name for c in out]
    assert len(names) == len(set(names)), "case names must be unique"
    return out


def independent_count(case: Case, path: Path) -> int | None:
    """Records in the file, counted with the standard library (and pyarrow's metadata)."""
    if case.count is None:
        return None
    if case.count == "md":
        return sum(1 for p in path.iterdir() if p.suffix == ".md")
    if case.count == "parquet":
        return pq.read_metadata(path).num_rows
    data = gzip.decompress(path.read_bytes()) if case.gz else path.read_bytes()
    body = data.decode("utf-8-sig", errors="replace")
    if case.count == "jsonl":
        return sum(1 for line in body.splitlines() if line.strip())
    if case.count == "json":
        doc = json.loads(body)
        if isinstance(doc, dict):
            (doc,) = [v for v in doc.values() if isinstance(v, list)]
        return len(doc)
    import csv
    import sys

    csv.field_size_limit(sys.maxsize)
    first = body.splitlines()[0] if body.strip() else ""
    delimiter = max(",;\t", key=first.count)
    rows = list(csv.reader(io.StringIO(body, newline=""), delimiter=delimiter))
    return sum(1 for row in rows[1:] if row)  # a blank line is no record; ',,' is one

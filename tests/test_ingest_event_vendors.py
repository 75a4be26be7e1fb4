"""Vendor event exports: Segment (with identity stitching), Amplitude, Mixpanel, PostHog, GA4."""

from __future__ import annotations

import json

import pandas as pd

from tests.conftest import counts_add_up


def jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def seg(kind, mid, ts, *, user=None, anon=None, event=None, props=None, traits=None, **more):
    rec = {
        "type": kind,
        "messageId": mid,
        "timestamp": ts,
        "context": {"sessionId": "s1", "library": {"name": "js"}},
    }
    if user:
        rec["userId"] = user
    if anon:
        rec["anonymousId"] = anon
    if event:
        rec["event"] = event
    if props is not None:
        rec["properties"] = props
    if traits is not None:
        rec["traits"] = traits
    rec.update(more)
    return rec


SEGMENT = [
    seg(
        "page",
        "m1",
        "2024-05-01T10:00:00Z",
        anon="anon-1",
        name="Pricing",
        props={"path": "/pricing"},
    ),
    seg(
        "track",
        "m2",
        "2024-05-01T10:01:00Z",
        anon="anon-1",
        event="Signup Started",
        props={"plan": "pro"},
    ),
    seg(
        "identify",
        "m3",
        "2024-05-01T10:02:00Z",
        anon="anon-1",
        user="user-1",
        traits={"email": "a@example.com"},
    ),
    seg(
        "track", "m4", "2024-05-01T12:03:00+02:00", user="user-1", anon="anon-1", event="Signed Up"
    ),
    seg(
        "track", "m4", "2024-05-01T12:03:00+02:00", user="user-1", anon="anon-1", event="Signed Up"
    ),  # retry
    seg("track", "m5", "2024-05-01T11:00:00Z", anon="anon-2", event="Viewed"),
    {"type": "track", "messageId": "m6", "event": "No User", "timestamp": "2024-05-01T11:00:00Z"},
]


def test_segment_calls_stitching_and_dedup(wb_file, tmp_path):
    path = jsonl(tmp_path / "segment.jsonl", SEGMENT)
    report = wb_file.load_events(path)
    assert report.formats == ["segment"] and counts_add_up(report)
    assert (
        report.rows_read,
        report.rows_loaded,
        report.rows_duplicate,
        report.rows_quarantined,
    ) == (7, 5, 1, 1)
    q = wb_file.quarantine(report.load_id)
    assert q.reason[0] == "user_id is empty" and q.row[0] == 7
    ev = wb_file.sql(
        "SELECT user_id, event, ts, session_id, properties, source_key FROM events ORDER BY ts, event"
    )
    # the anonymous page view and signup start now belong to user-1
    assert list(ev.user_id) == ["user-1", "user-1", "user-1", "user-1", "anon-2"]
    assert list(ev.event) == ["page", "Signup Started", "$identify", "Signed Up", "Viewed"]
    assert ev.ts[3] == pd.Timestamp("2024-05-01 10:03", tz="UTC")  # +02:00 honoured
    page = json.loads(ev.properties[0])
    assert (
        page["name"] == "Pricing"
        and page["path"] == "/pricing"
        and page["$anonymous_id"] == "anon-1"
    )
    assert json.loads(ev.properties[2])["email"] == "a@example.com"  # identify traits
    assert set(ev.session_id) == {"s1"} and list(ev.source_key) == ["m1", "m2", "m3", "m4", "m5"]
    before = wb_file.sql("SELECT * EXCLUDE (load_id) FROM events ORDER BY ALL")
    again = wb_file.load_events(path)
    assert (again.rows_loaded, again.rows_duplicate) == (0, 6)
    pd.testing.assert_frame_equal(
        before, wb_file.sql("SELECT * EXCLUDE (load_id) FROM events ORDER BY ALL")
    )


def test_segment_stitches_events_of_earlier_loads(wb, tmp_path):
    first = jsonl(
        tmp_path / "day1.jsonl",
        [seg("track", "a1", "2024-05-01T10:00:00Z", anon="anon-9", event="Visit")],
    )
    later = jsonl(
        tmp_path / "day2.jsonl",
        [
            seg("alias", "a2", "2024-05-02T10:00:00Z", user="user-9", previousId="anon-9"),
        ],
    )
    wb.load_events(first)
    assert wb.sql("SELECT user_id FROM events").user_id[0] == "anon-9"
    wb.load_events(later)
    assert set(wb.sql("SELECT user_id FROM events").user_id) == {"user-9"}
    ids = wb.sql("SELECT anonymous_id, user_id FROM identities")
    assert list(ids.itertuples(index=False, name=None)) == [("anon-9", "user-9")]


def test_amplitude_export(wb, tmp_path):
    path = jsonl(
        tmp_path / "amp.json",
        [
            {
                "event_type": "Song Played",
                "user_id": "u1",
                "device_id": "d1",
                "event_time": "2024-01-01 12:00:00.123000",
                "event_properties": {"genre": "jazz"},
                "user_properties": {"plan": "pro"},
                "session_id": 1704110400000,
                "$insert_id": "i-1",
                "platform": "iOS",
                "country": "NL",
            },
            {
                "event_type": "Song Played",
                "user_id": None,
                "device_id": "d2",
                "event_time": "2024-01-01 13:00:00",
                "event_properties": {},
                "session_id": -1,
                "$insert_id": "i-2",
            },
            {
                "event_type": "Song Played",
                "user_id": "u1",
                "device_id": "d1",
                "event_time": "2024-01-01 12:00:00.123000",
                "event_properties": {"genre": "jazz"},
                "session_id": 1704110400000,
                "$insert_id": "i-1",
            },  # same insert_id
        ],
    )
    report = wb.load_events(path, timezone="America/New_York")  # event_time is UTC regardless
    assert report.formats == ["amplitude"] and (report.rows_loaded, report.rows_duplicate) == (2, 1)
    ev = wb.sql("SELECT * FROM events ORDER BY ts")
    assert list(ev.user_id) == ["u1", "d2"]
    assert ev.ts[0] == pd.Timestamp("2024-01-01 12:00:00.123", tz="UTC")
    assert ev.session_id[0] == "1704110400000" and pd.isna(ev.session_id[1])
    props = json.loads(ev.properties[0])
    assert props == {
        "genre": "jazz",
        "$user_properties": {"plan": "pro"},
        "platform": "iOS",
        "country": "NL",
        "device_id": "d1",
    }


def test_mixpanel_export(wb, tmp_path):
    path = jsonl(
        tmp_path / "mp.json",
        [
            {
                "event": "Signed Up",
                "properties": {
                    "time": 1704067200,
                    "distinct_id": "u1",
                    "$insert_id": "x1",
                    "plan": "free",
                },
            },
            {
                "event": "Upgraded",
                "properties": {
                    "time": 1704067260000,
                    "distinct_id": "anon",
                    "$user_id": "u1",
                    "$insert_id": "x2",
                },
            },
        ],
    )
    report = wb.load_events(path)
    assert report.formats == ["mixpanel"] and report.rows_loaded == 2
    ev = wb.sql("SELECT user_id, event, ts, properties, source_key FROM events ORDER BY ts")
    assert list(ev.user_id) == ["u1", "u1"] and list(ev.source_key) == ["x1", "x2"]
    assert list(ev.ts) == [
        pd.Timestamp("2024-01-01 00:00", tz="UTC"),
        pd.Timestamp("2024-01-01 00:01", tz="UTC"),
    ]
    assert json.loads(ev.properties[0]) == {"plan": "free"}


def test_posthog_csv_and_jsonl(wb, tmp_path):
    csv = tmp_path / "posthog.csv"
    pd.DataFrame(
        {
            "uuid": ["e1", "e2"],
            "event": ["$pageview", "clicked"],
            "distinct_id": ["d1", "d2"],
            "person_id": ["p1", None],
            "timestamp": ["2024-02-01T09:00:00Z", "2024-02-01T09:05:00Z"],
            "properties": ['{"$session_id": "s9", "$browser": "Firefox"}', "{}"],
        }
    ).to_csv(csv, index=False)
    report = wb.load_events(csv)
    assert report.formats == ["posthog"] and report.rows_loaded == 2
    ev = wb.sql(
        "SELECT user_id, session_id, properties->>'$.\"$browser\"' AS browser FROM events ORDER BY ts"
    )
    assert (
        list(ev.user_id) == ["p1", "d2"] and ev.session_id[0] == "s9" and ev.browser[0] == "Firefox"
    )
    lines = jsonl(
        tmp_path / "posthog.jsonl",
        [
            {
                "uuid": "e1",
                "event": "$pageview",
                "distinct_id": "d1",
                "person_id": "p1",
                "timestamp": "2024-02-01T09:00:00Z",
                "properties": {"$session_id": "s9"},
            }
        ],
    )
    again = wb.load_events(lines)
    assert again.formats == ["posthog"] and again.rows_duplicate == 1  # same uuid as the CSV row


def test_ga4_json_and_parquet(wb, tmp_path):
    record = {
        "event_date": "20240301",
        "event_timestamp": "1709287200000000",
        "event_name": "page_view",
        "user_pseudo_id": "123.456",
        "user_id": None,
        "platform": "WEB",
        "event_params": [
            {
                "key": "page_location",
                "value": {
                    "string_value": "https://x.test/a",
                    "int_value": None,
                    "float_value": None,
                    "double_value": None,
                },
            },
            {
                "key": "ga_session_id",
                "value": {
                    "string_value": None,
                    "int_value": 1709287000,
                    "float_value": None,
                    "double_value": None,
                },
            },
            {
                "key": "engagement_time_msec",
                "value": {
                    "string_value": None,
                    "int_value": 42,
                    "float_value": None,
                    "double_value": None,
                },
            },
        ],
        "device": {"category": "desktop"},
        "geo": {"country": "Netherlands"},
    }
    report = wb.load_events(jsonl(tmp_path / "ga4.jsonl", [record]))
    assert report.formats == ["ga4"] and report.rows_loaded == 1
    ev = wb.sql("SELECT user_id, event, ts, session_id, properties FROM events")
    assert (ev.user_id[0], ev.event[0], ev.session_id[0]) == ("123.456", "page_view", "1709287000")
    assert ev.ts[0] == pd.Timestamp("2024-03-01 10:00", tz="UTC")
    props = json.loads(ev.properties[0])
    assert props["page_location"] == "https://x.test/a" and props["engagement_time_msec"] == 42
    assert props["device.category"] == "desktop" and props["geo.country"] == "Netherlands"

    parquet = tmp_path / "ga4.parquet"
    frame = pd.DataFrame([{**record, "event_timestamp": 1709290800000000, "user_id": "u-7"}])
    frame.to_parquet(parquet)
    report = wb.load_events(parquet)
    assert report.formats == ["ga4"] and report.rows_loaded == 1
    row = wb.sql("SELECT user_id, session_id, properties FROM events WHERE user_id = 'u-7'")
    assert (
        row.session_id[0] == "1709287000"
        and json.loads(row.properties[0])["engagement_time_msec"] == 42
    )


def test_plain_files_stay_generic_and_format_can_be_forced(wb, tmp_path):
    plain = jsonl(
        tmp_path / "plain.jsonl",
        [{"user_id": "u", "event": "e", "timestamp": "2024-01-01T00:00:00Z"}],
    )
    assert wb.load_events(plain).formats == ["json"]
    seg_file = jsonl(
        tmp_path / "seg.jsonl", [seg("track", "z1", "2024-01-01T00:00:00Z", user="u", event="e")]
    )
    assert wb.load_events(seg_file, format="segment").formats == ["segment"]

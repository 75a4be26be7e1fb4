"""Items joined to the events' users: by user_id (or a stitched anonymous id), else by normalised
e-mail, else by its sha256; ambiguous e-mails are left unjoined with a reason; the join rate."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

import poanalytics as poa
from poanalytics.voice.people import item_people, join_rate
from tests.journeys import load
from tests.voice_journeys import put_voice

D = 86400


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def people_wb(wb, tmp_path):
    load(
        wb,
        {
            "u1": [(0, "signed_up", {"email": " Ann@X.com "})],
            "u2": [(0, "signed_up", {"email": "bob@y.org"})],
            "u3": [(0, "signed_up", {"email": "shared@z.com"})],
            "u4": [(D, "signed_up", {"email": "SHARED@z.com"})],  # the same e-mail: ambiguous
            "u5": [(0, "signed_up", {"email_sha256": sha("carol@w.net")})],
            "u6": [(0, "signed_up", {"email_hash": sha("dan@v.io").upper()})],
            "u7": [(0, "signed_up")],
        },
    )
    with wb.connection(write=True) as con:
        con.execute(
            "INSERT INTO identities (anonymous_id, user_id, source, first_seen, load_id) "
            "VALUES ('a-77', 'u7', 'segment', TIMESTAMPTZ '2024-03-04', 1)"
        )
    put_voice(
        wb,
        [
            {"item_id": "t1", "user_id": "u1", "email": "bob@y.org", "themes": []},  # id wins
            {"item_id": "t2", "user_id": "ghost", "email": " BOB@Y.org ", "themes": []},
            {"item_id": "t3", "email": "shared@z.com", "themes": []},
            {"item_id": "t4", "email": "Carol@W.net", "themes": []},
            {"item_id": "t5", "email": "dan@v.io", "themes": []},
            {"item_id": "t6", "user_id": "a-77", "themes": []},
            {"item_id": "t7", "themes": []},
            {"item_id": "t8", "email": "nobody@n.com", "themes": []},
            {"source": "notes", "item_id": "n1#1", "user_id": "u2", "themes": []},
            {"source": "notes", "item_id": "n2#1", "email": "ann@x.com", "themes": []},
        ],
        themes=[],
        folder=tmp_path,
    )
    return wb


def test_each_item_is_joined_by_the_first_rule_that_finds_its_user(people_wb):
    with people_wb.connection() as con:
        t = item_people(con).set_index("item_id")
    expected = {
        "t1": ("u1", "user_id", None),
        "t2": ("u2", "email", None),
        "t3": (None, None, "ambiguous_email"),
        "t4": ("u5", "hash", None),
        "t5": ("u6", "hash", None),
        "t6": ("u7", "identity", None),
        "t7": (None, None, "no_identifier"),
        "t8": (None, None, "no_match"),
        "n1#1": ("u2", "user_id", None),
        "n2#1": ("u1", "email", None),
    }
    got = {
        i: tuple(None if pd.isna(v) else v for v in (r.user_id, r.method, r.reason))
        for i, r in t.iterrows()
    }
    assert got == expected


def test_join_rate_per_source(people_wb):
    with people_wb.connection() as con:
        t = join_rate(con).set_index("source")
    assert list(t.index) == ["tickets", "notes", "all"]
    tickets = t.loc["tickets"]
    assert (tickets["items"], tickets.joined, tickets.by_user_id, tickets.by_identity) == (
        8,
        5,
        1,
        1,
    )
    assert (tickets.by_email, tickets.by_hash, tickets.ambiguous, tickets.unjoined) == (1, 2, 1, 3)
    assert tickets.rate == pytest.approx(5 / 8)
    assert (t.loc["notes", "items"], t.loc["notes", "joined"], t.loc["notes", "rate"]) == (
        2,
        2,
        1.0,
    )
    assert (t.loc["all", "items"], t.loc["all", "joined"]) == (10, 7)
    with people_wb.connection() as con:
        only = join_rate(con, source="notes")
    assert list(only.source) == ["notes"]


def test_an_email_property_with_two_users_is_never_guessed_by_its_hash_either(people_wb):
    """u3 and u4 share an e-mail: even a hash property naming one of them does not pick it."""
    load(people_wb, {"u3": [(2 * D, "x", {"email_sha256": sha("shared@z.com")})]})
    with people_wb.connection() as con:
        t = item_people(con).set_index("item_id")
    assert pd.isna(t.loc["t3", "user_id"]) and t.loc["t3", "reason"] == "ambiguous_email"


def test_date_range_and_source_are_checked(people_wb):
    with people_wb.connection() as con:
        with pytest.raises(poa.PoaError) as bad:
            join_rate(con, source="emails")
        assert bad.value.code == "voice.source"
        with pytest.raises(poa.PoaError) as swapped:
            join_rate(con, date_from="2024-05-01", date_to="2024-04-01")
        assert swapped.value.code == "voice.date_range"
        later = join_rate(con, date_from="2024-03-05")
    # every item is on 2024-03-04: no items, every source still has its row (rate undefined)
    assert list(later.source) == ["tickets", "notes", "all"]
    assert list(later["items"]) == [0, 0, 0] and later.rate.isna().all()

"""Redaction: what must go (emails, phones, cards, IPs, tokens, names, secrets) and what must stay
(dates, versions, ids, order numbers, amounts, hashes), on text, DataFrames and plotly figures."""

from __future__ import annotations

import time

import pandas as pd
import plotly.graph_objects as go
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import poanalytics as poa
from poanalytics import demo
from poanalytics import redaction as rd
from poanalytics.errors import ConfigError, InputError
from poanalytics.redaction import RedactConfig, load_config, parse_config, redact
from poanalytics.report.redact_objects import known_names, redact_figure, redact_frame

CFG = RedactConfig(names=("Ada Bakker", "Bram", "Zoë O'Neill"))

MUST_REDACT = [
    # e-mails
    ("Contact <ada.bakker@mail.example.com> today", "Contact <[email]> today"),
    ("From: Ada <ada+billing@acme.example>", "From: Ada <[email]>"),  # "Ada Bakker" only
    ("mail ADA_B@Sub.Domain.Example.CO.UK.", "mail [email]."),
    ("reply to josé.garcía@exämple.de please", "reply to [email] please"),
    ("&lt;priya@x.io&gt; wrote", "&lt;[email]&gt; wrote"),
    ("(sam.o'connor@corp.example)", "([email])"),
    ("a@b.co,c@d.co", "[email],[email]"),
    ("'ada@x.io' and --bram.k@x.io", "'[email]' and --[email]"),
    ("mail ada@x.com2 or ada@x.io-foo", "mail [email]2 or [email]-foo"),
    # phones, international and national
    ("call +44 20 7946 0958 after 5", "call [phone] after 5"),
    ("(555) 010-4477", "[phone]"),
    ("+1 (415) 555-0132 ext", "[phone] ext"),
    ("call 415-555-0132 or 415.555.0132", "call [phone] or [phone]"),
    ("NL mobile +31 6 12345678", "NL mobile [phone]"),
    ("Paris +33 1 42 68 53 00.", "Paris [phone]."),
    ("Berlin: +49 30 901820", "Berlin: [phone]"),
    ("tel:+14155550132", "tel:[phone]"),
    # cards (Luhn-checked)
    ("card 4111 1111 1111 1111 declined", "card [card] declined"),
    ("paid with 5555-5555-5555-4444", "paid with [card]"),
    ("amex 378282246310005", "amex [card]"),
    # IP addresses
    ("server 10.0.0.12 is down", "server [ip] is down"),
    ("from 192.168.1.1:8080", "from [ip]:8080"),
    ("padded 192.168.001.001", "padded [ip]"),
    ("client 2001:db8::ff00:42:8329 again", "client [ip] again"),
    ("link-local fe80::1%eth0", "link-local [ip]"),
    ("[2001:db8::1]:443", "[[ip]]:443"),
    # URLs with tokens: value gone, host and path kept
    (
        "https://app.example.com/reset?token=abc123&user=7",
        "https://app.example.com/reset?token=[token]&user=7",
    ),
    (
        "see https://s3.example.com/f.csv?X-Amz-Signature=deadbeef&X-Amz-Expires=60",
        "see https://s3.example.com/f.csv?X-Amz-Signature=[token]&X-Amz-Expires=60",
    ),
    (
        "https://x.example/cb#access_token=ya29.a0Af&state=1",
        "https://x.example/cb#access_token=[token]&state=1",
    ),
    (
        "https://api.example.com/v1?apiKey=Zx9&page=2",
        "https://api.example.com/v1?apiKey=[token]&page=2",
    ),
    ("ftp://admin:s3cret@files.example.com/x", "ftp://admin:[token]@files.example.com/x"),
    # tokens and keys
    ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz123", "Authorization: Bearer [token]"),
    ("key sk_live_4eC39HqLyjWDarjtT1zdp7dc in logs", "key [token] in logs"),
    ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "[token]"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abc_def-1", "jwt [token]"),
    ("AKIAIOSFODNN7EXAMPLE", "[token]"),
    (
        "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow+/=\nAbc\n-----END RSA PRIVATE KEY-----.",
        "key:\n[token].",
    ),
    ("xoxb-123456789012-abcdefghij", "[token]"),
    ("password=hunter2", "password=[token]"),
    ("api_key: 9f8e7d6c5b4a", "api_key: [token]"),
    ('{"password": "hunter2", "user": 7}', '{"password": "[token]", "user": 7}'),
    # configured names, whole words in any case, possessives
    ("Bram's laptop; ADA BAKKER said", "[name]'s laptop; [name] said"),
    ("zoë o'neill called", "[name] called"),
    ("Ada  Bakker\nwrote", "[name]\nwrote"),
]

MUST_SURVIVE = [
    "version 1.2.3.4",
    "v1.2.3.4",
    "upgrade to app 1.2.3.4 fixed it",
    "Build: 10.0.19041.1",
    "v2.10.0",
    "2026-11-30",
    "30/11/2026",
    "30.11.2026",
    "10:30:00",
    "2026-11-30T10:00:00Z",
    "10:00-11:30",
    "2026-11-30 10:00:00+01:00",
    "epoch 1733097600000",
    "ISBN 978-3-16-148410-0",
    "p=0.0312, n=1234567",
    "2026-W47",
    "user_0042",
    "u0000042",
    "Order #100234567",
    "order 4155550132",
    "Invoice no. 4155550132",
    "ticket 1234567",
    "$1,234.56",
    "€ 12.345,67",
    "1,234,567 users",
    "10.000.000 rows",
    "12.5% of 2,000",
    "550e8400-e29b-41d4-a716-446655440000",
    "d41d8cd98f00b204e9800998ecf8427e",
    "commit 35f350d",
    "ZD-1234",
    "JIRA PROJ-98765",
    "&amp; &lt;b&gt; &#64; &nbsp;",
    "NPS 9/10",
    "ISO 8601",
    "std::vector and a::b",
    "mac 00:1a:2b:3c:4d:5e",
    "999.1.1.1",
    "4111-1111-1111-1112",  # fails Luhn
    "555-0100",
    "1234-5678-9012",
    "password: reset link not working",
    "token expired, please log in",
    "https://example.com/docs?page=2&utm_source=mail",
    "@channel please look",
    "user@localhost",
    "Adalbert and Bramble are not Ada or Bram",  # no part-word matches (but Ada, Bram go)
]


@pytest.mark.parametrize(("text", "expected"), MUST_REDACT)
def test_must_redact(text, expected):
    assert redact(text, config=CFG) == expected


@pytest.mark.parametrize("text", MUST_SURVIVE[:-1])
def test_must_survive(text):
    assert redact(text, config=CFG) == text


def test_names_are_whole_words():
    assert redact(MUST_SURVIVE[-1], config=CFG) == "Adalbert and Bramble are not Ada or [name]"


def test_national_phone_formats_follow_the_default_region():
    text = "phone: 020 7946 0958"
    assert redact(text, config=RedactConfig()) == text  # not a US number
    assert redact(text, config=RedactConfig(default_region="GB")) == "phone: [phone]"
    assert redact("bel 06-12345678", config=RedactConfig(default_region="NL")) == "bel [phone]"


def test_placeholder_redacted_style_and_idempotency():
    cfg = RedactConfig(names=("Bram",), placeholder="redacted")
    assert (
        redact("Bram <b@x.io> +44 20 7946 0958", config=cfg) == "[redacted] <[redacted]> [redacted]"
    )


@pytest.mark.parametrize("text", [t for t, _ in MUST_REDACT] + MUST_SURVIVE)
def test_idempotent(text):
    once = redact(text, config=CFG)
    assert redact(once, config=CFG) == once


def test_names_argument_adds_to_config_and_placeholder_words_are_not_names():
    cfg = RedactConfig(names=("Phone", "email"))
    out = redact("Priya emailed about the phone: +44 20 7946 0958", names=["priya"], config=cfg)
    assert out == "[name] emailed about the phone: [phone]"
    assert redact(out, names=["priya"], config=cfg) == out


def test_secret_values_from_config_env_and_argument(monkeypatch):
    monkeypatch.setenv("POA_TEST_WEBHOOK", "https://hooks.example.com/T000/B000/XXXX")
    cfg = parse_config(
        {
            "delivery": {"smtp_password": "c0rrect-h0rse"},
            "redact": {"secrets": ["delivery.smtp_password", "POA_TEST_WEBHOOK", "missing.key"]},
        }
    )
    assert "c0rrect-h0rse" not in repr(cfg)
    text = (
        "pw c0rrect-h0rse hook https://hooks.example.com/T000/B000/XXXX week=2026-W47 seg=vip-2026"
    )
    out = redact(text, secrets=["vip-2026"], config=cfg)
    assert out == "pw [secret] hook [secret] week=2026-W47 seg=[secret]"


def test_short_secrets_are_refused_not_ignored():
    with pytest.raises(ConfigError) as err:
        redact("week 7", secrets=["7"], config=CFG)
    assert err.value.code == "redact.secret_short"
    with pytest.raises(ConfigError):
        parse_config({"x": {"pw": "abc"}, "redact": {"secrets": ["x.pw"]}})


@pytest.mark.parametrize(
    ("section", "code"),
    [
        ({"names": "Ada"}, "redact.names"),
        ({"default_region": "XX"}, "redact.region"),
        ({"placeholder": "***"}, "redact.placeholder"),
        ({"secrets": "SMTP"}, "redact.secrets"),
    ],
)
def test_bad_config_is_a_coded_error(section, code):
    with pytest.raises(ConfigError) as err:
        parse_config({"redact": section})
    assert err.value.code == code and err.value.hint


def test_project_config_is_read(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "poanalytics.toml").write_text(
        '[redact]\nnames = ["Kenji"]\ndefault_region = "gb"\n'
    )
    monkeypatch.setenv("POANALYTICS_ROOT", str(tmp_path))
    assert load_config() == RedactConfig(names=("Kenji",), default_region="GB")
    assert poa.redact("Kenji: 020 7946 0958") == "[name]: [phone]"


def test_the_committed_config_parses():
    cfg = load_config(rd.find_root(None))
    assert cfg.placeholder == "kind" and cfg.default_region == "US"


def test_non_text_is_a_coded_error():
    with pytest.raises(InputError) as err:
        redact(12, config=CFG)  # type: ignore[arg-type]
    assert err.value.code == "redact.not_text"


def test_redact_frame_cells_columns_index_and_numbers_untouched():
    frame = pd.DataFrame(
        {
            "requester": ["Ada Bakker", "bram@x.io", None],
            "Bram's count": [1, 2, 3],
            "share": [0.5, 0.25, 0.25],
            "when": pd.to_datetime(["2026-11-30", "2026-12-01", "2026-12-02"]),
            "subject": pd.array(
                ["call +44 20 7946 0958", "Order #100234567", pd.NA], dtype="string"
            ),
        },
        index=["ada bakker", "row2", "10.0.0.1"],
    )
    out = redact_frame(frame, config=CFG)
    assert out["requester"].tolist()[:2] == ["[name]", "[email]"]
    assert out["requester"].isna().tolist() == [False, False, True]
    assert list(out.columns) == ["requester", "[name]'s count", "share", "when", "subject"]
    assert list(out.index) == ["[name]", "row2", "[ip]"]
    assert out["subject"].tolist()[:2] == ["call [phone]", "Order #100234567"]
    assert out["subject"].dtype == frame["subject"].dtype
    assert out["[name]'s count"].tolist() == [1, 2, 3] and out["share"].tolist() == [
        0.5,
        0.25,
        0.25,
    ]
    assert out["[name]'s count"].dtype == "int64" and out["share"].dtype == "float64"
    assert (out["when"].to_numpy() == frame["when"].to_numpy()).all()
    assert frame.loc["ada bakker", "requester"] == "Ada Bakker"  # the input is not changed


def test_redact_frame_multiindex():
    idx = pd.MultiIndex.from_tuples([("Bram", 1), ("Kai", 2)], names=["who", "n"])
    out = redact_frame(pd.DataFrame({"v": [1, 2]}, index=idx), config=CFG)
    assert list(out.index) == [("[name]", 1), ("Kai", 2)]


def test_redact_figure_visible_text_only():
    fig = go.Figure(
        [
            go.Bar(
                x=["Ada Bakker", "Kai"],
                y=[3, 4],
                name="Bram's cohort",
                text=["bram@x.io", "4"],
                hovertext=["10.0.0.1", "ok"],
                customdata=[["Ada Bakker"], ["Kai"]],
                hovertemplate="%{x}: %{y} (Bram)<extra></extra>",
                marker={"color": "#636efa"},
            ),
            go.Sankey(
                node={"label": ["signed up", "Bram"]},
                link={"source": [0], "target": [1], "value": [5]},
            ),
            go.Table(
                header={"values": ["who", "n"]}, cells={"values": [["ada@x.io", "Kai"], [1, 2]]}
            ),
        ]
    )
    fig.update_layout(
        title="Funnel for Ada Bakker",
        xaxis={"title": {"text": "Bram"}, "tickvals": [0, 1], "ticktext": ["Bram", "1.2.3.4"]},
        annotations=[{"text": "call +44 20 7946 0958", "x": 0, "y": 1}],
        legend_title_text="ada bakker",
    )
    out = redact_figure(fig, config=CFG)
    bar, sankey, table = out.data
    assert list(bar.x) == ["[name]", "Kai"] and list(bar.y) == [3, 4]
    assert bar.name == "[name]'s cohort" and list(bar.text) == ["[email]", "4"]
    assert list(bar.hovertext) == ["[ip]", "ok"]
    assert [list(r) for r in bar.customdata] == [["[name]"], ["Kai"]]
    assert bar.hovertemplate == "%{x}: %{y} ([name])<extra></extra>"
    assert bar.marker.color == "#636efa"
    assert list(sankey.node.label) == ["signed up", "[name]"]
    assert [list(c) for c in table.cells.values] == [["[email]", "Kai"], [1, 2]]
    assert out.layout.title.text == "Funnel for [name]"
    assert out.layout.xaxis.title.text == "[name]"
    assert list(out.layout.xaxis.ticktext) == ["[name]", "[ip]"]
    assert list(out.layout.xaxis.tickvals) == [0, 1]
    assert out.layout.annotations[0].text == "call [phone]"
    assert out.layout.legend.title.text == "[name]"
    assert out.layout.template == fig.layout.template  # the theme is kept
    assert fig.layout.title.text == "Funnel for Ada Bakker"  # the input is not changed
    html = out.to_html(include_plotlyjs=False)
    assert "Bakker" not in html and "bram@" not in html.lower()


@pytest.fixture(scope="module")
def demo_wb(tmp_path_factory):
    files = demo.generate(tmp_path_factory.mktemp("demo_redact"), users=300, weeks=6)
    wb = poa.Workbench(":memory:")
    demo.load_demo(wb, files)
    yield wb
    wb.close()


def test_known_names_from_the_warehouse_hide_the_demo_people(demo_wb):
    f = demo_wb.funnel(["signed_up", "profile_completed", "activated"], window="7d")
    table = f.correlation(kind="properties", properties=["name"], min_users=1, top=None).table
    shown = [str(v) for v in table["value"]]
    assert any(" " in v for v in shown), shown  # the people's names are in the table today
    names = known_names(demo_wb.con)
    assert "Ada" in names or any(n.startswith("Ada ") for n in names)
    out = redact_frame(table, names=names, config=RedactConfig())
    people = demo_wb.sql(
        "SELECT DISTINCT properties->>'name' AS n FROM events WHERE properties->>'name' IS NOT NULL"
    )["n"]
    text = out.to_csv()
    leaked = [p for p in people if p in text or p.split()[0] in text.split()]
    assert not leaked
    assert set(out["value"]) == {"[name]"}
    num = table.select_dtypes("number").columns
    pd.testing.assert_frame_equal(out[num], table[num])
    fig = f.correlation(kind="properties", properties=["name"], min_users=1).figure()
    assert any(p in fig.to_json() for p in people)  # the chart labels show them today
    shown = redact_figure(fig, names=names, config=RedactConfig())
    assert not [p for p in people if p in shown.to_json()]
    for before, after in zip(fig.data, shown.data, strict=True):
        for axis in ("x", "y"):
            values = getattr(before, axis)
            if values is not None and not isinstance(values[0], str):
                assert list(getattr(after, axis)) == list(values)


def test_known_names_reads_tickets_and_notes(wb):
    wb.con.execute(
        "INSERT INTO tickets (ticket_id, requester, created_at, source, source_key, load_id)"
        " VALUES ('t1', 'Lena Vogel', now(), 'csv', 't1', 1)"
    )
    wb.con.execute(
        "INSERT INTO notes (note_id, participant, source, source_key, load_id)"
        " VALUES ('n1', 'Omar', 'md', 'k', 1)"
    )
    assert known_names(wb.con) == ["Lena", "Lena Vogel", "Omar", "Vogel"]


EMAIL_OR_PHONE = ["ada@x.io", "+44 20 7946 0958", "(555) 010-4477", "bram.o+1@mail.example.com"]


def _findings(text: str) -> int:
    cfg = RedactConfig()
    return len(rd._EMAIL.findall(text)) + sum(
        1 for _ in rd.PhoneNumberMatcher(text, cfg.default_region, leniency=rd.Leniency.VALID)
    )


@settings(max_examples=300, deadline=None)
@given(
    hs.lists(
        hs.one_of(hs.text(max_size=20), hs.sampled_from(EMAIL_OR_PHONE + ["[email]", "@", "."])),
        max_size=6,
    ).map("".join)
)
def test_property_never_raises_never_adds_findings_and_is_idempotent(text):
    out = redact(text, names=["Ada"], config=CFG)
    assert _findings(out) <= _findings(text)
    assert not rd._EMAIL.search(out)
    assert redact(out, names=["Ada"], config=CFG) == out


@pytest.mark.parametrize(
    "text",
    ["a" * 100_000 + "@", "a." * 50_000 + "@", "-----BEGIN RSA PRIVATE KEY-----" * 8000,
     "version 10.0.0.1 " * 5000],
)  # fmt: skip
def test_long_texts_take_linear_time(text):
    """Patterns that rescanned from every start made these take seconds to minutes."""
    start = time.perf_counter()
    redact(text, config=CFG)
    assert time.perf_counter() - start < 5  # generous: each is well under a second


def test_ten_thousand_ticket_subjects_are_quick():
    subjects = [
        f"Order #{100000 + i} for user_{i:04d}: call +44 20 7946 {i % 10000:04d} or mail u{i}@x.io"
        for i in range(10_000)
    ]
    frame = pd.DataFrame({"subject": subjects, "n": range(10_000)})
    start = time.perf_counter()
    out = redact_frame(frame, config=CFG)
    seconds = time.perf_counter() - start
    print(f"redact_frame: 10k distinct subjects in {seconds:.2f} s")
    assert out["subject"].iloc[7] == "Order #100007 for user_0007: call [phone] or mail [email]"


def test_redact_figure_leaves_packed_numeric_arrays_alone():
    """plotly packs numpy numbers as base64 ('AAAAAAAA+D8...'); a name must not match inside it."""
    import numpy as np

    fig = go.Figure(go.Bar(x=["AAAAAAAA", "b"], y=np.array([1.5, 2.5])))
    out = redact_figure(fig, names=["AAAAAAAA"], config=RedactConfig())
    assert list(out.data[0].x) == ["[name]", "b"]
    assert list(out.data[0].y) == [1.5, 2.5]
    grid = np.arange(6, dtype="int32").reshape(2, 3)
    heat = redact_figure(go.Figure(go.Heatmap(z=grid, y=["Bram", "x"])), config=CFG).data[0]
    assert np.array_equal(heat.z, grid) and list(heat.y) == ["[name]", "x"]

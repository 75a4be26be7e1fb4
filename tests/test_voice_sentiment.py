"""voice.sentiment: VADER per item; NaN (never 0) where there is nothing to score or the text is
not English enough for an English lexicon; long texts scored on a bounded prefix, by sentence."""

from __future__ import annotations

import math
import time

import pandas as pd
import pytest

from poanalytics.voice import sentiment


def one(text: str | None) -> float:
    return float(sentiment.score([text])[0])


def test_english_polarity():
    assert one("I love the new dashboard, it is great!") > 0.5
    assert one("The app crashes every time I upload my photo. This is really annoying.") < -0.3


@pytest.mark.parametrize("text", [None, "", "   ", "12345 !!! ...", "https://example.com/a/b"])
def test_nothing_to_score_is_nan(text):
    assert math.isnan(one(text))


@pytest.mark.parametrize(
    "text",
    [
        "Die Anwendung stürzt jedes Mal ab, wenn ich mein Profilbild hochladen möchte. Das ist sehr ärgerlich.",
        "L'application plante chaque fois que je veux télécharger ma photo de profil. C'est vraiment pénible.",
        "La aplicación se bloquea cada vez que intento subir mi foto de perfil. Es muy molesto.",
        "De app crasht elke keer als ik mijn profielfoto wil uploaden. Dit is echt vervelend.",
        "Приложение падает каждый раз, когда я загружаю фото профиля. Это ужасно.",
        "アプリがクラッシュします。とても悪いです。",
        "Sehr schlecht",
    ],
)
def test_other_languages_and_scripts_are_nan_not_zero(text):
    assert math.isnan(one(text))


def test_technical_english_is_scored():
    """User agents, URLs and host names (www.golem.de) do not make a report 'not English'."""
    text = (
        "www.golem.de - The page freezes\n\nUser Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; "
        "rv:60.0) Gecko/20100101 Firefox/60.0 SeaMonkey/2.53.1\n\nSteps to reproduce:\n\nGo to "
        "https://www.golem.de/ and scroll.\n\nActual results:\n\nThe page freezes, which is awful."
    )
    assert sentiment.english_enough(text)
    assert one(text) < 0


def test_english_without_sentiment_words_is_a_measured_zero():
    assert one("Open the settings page and click export, then select the second row.") == 0.0


def test_one_angry_sentence_among_neutral_steps_reads_angry():
    steps = " ".join(f"Step {i}: open the menu and select item {i}." for i in range(10))
    assert one(steps + " This is terrible and I hate it.") < -0.4


def test_long_text_scores_a_bounded_prefix_fast():
    head = "I hate this broken app. " * 250  # more than MAX_CHARS
    body = head + "I love it, wonderful, perfect. " * 400_000  # ~12 MB
    started = time.perf_counter()
    value = one(body)
    assert time.perf_counter() - started < 2
    assert value == one(body[: sentiment.MAX_CHARS])
    assert value < 0


def test_index_kept_and_same_text_same_score():
    s = pd.Series(["Great work!", None, "Great work!"], index=[10, 11, 12])
    out = sentiment.score(s)
    assert list(out.index) == [10, 11, 12]
    assert out[10] == out[12] > 0 and math.isnan(out[11])


def test_method_named():
    assert "VADER" in sentiment.METHOD


def test_seamonkey_tickets_real_data(shared_data):
    """SeaMonkey Bugzilla: technical English with user agents and URLs is scored; the reports
    written in German are not (NaN)."""
    df = pd.read_csv(shared_data / "tickets" / "seamonkey_bugs.csv")
    text = df["Summary"].fillna("") + "\n\n" + df["Description"].fillna("")
    out = sentiment.score(text)
    assert out.isna().mean() < 0.02
    german = df["Summary"].isin(["Zugriff auf Google Drive", "Suche im Adreßbuch"])
    assert german.sum() == 2 and out[german].isna().all()
    assert out.notna().sum() > 1000 and out.min() >= -1 and out.max() <= 1

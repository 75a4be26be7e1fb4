"""Voice of the customer: themes, near-duplicates, sentiment and quotes from support tickets and
interview notes, tied to what users do (docs/voice.md).

The items are tickets (subject and body) and interview highlights (one quote each). A voice
refresh reads them from the warehouse, cleans the text (HTML removed, cut to an analysis limit),
scores sentiment, groups near-duplicates, assigns themes from ``conf/themes.toml`` (or, with no
taxonomy, from discovered themes) and stores all of it in the ``voice_*`` tables in one transaction,
stamped with the taxonomy's version, so reports and the backlog read the same assignments.

Modules:
  items       the items and their cleaned text, read from tickets, notes and note_highlights
  taxonomy    conf/themes.toml: parse, validate, version; accept discovered themes into it
  assign      taxonomy -> assignments with the matched terms
  discover    themes for text the taxonomy does not cover (scikit-learn TF-IDF + NMF)
  duplicates  near-duplicate groups (datasketch MinHash LSH, checked with rapidfuzz)
  sentiment   VADER (vaderSentiment) compound score per item
  store       the refresh: compute and write the voice_* tables; read them back
  themes      ThemesQuery -> ThemesResult (volumes, unique problems, users, sentiment, trend)
  quotes      representative short quotes per theme, redacted
  people      items joined to the events' users (id, normalised or hashed e-mail); the join rate
  lift        theme vs outcome (churn, or drop-off at a funnel step): lift, interval, p-value
  trends      weekly volume per theme, spikes against the theme's own history
  errors      VoiceError (codes voice.*)
"""

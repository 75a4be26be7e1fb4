"""Evidence-based backlog ordering (docs/backlog.md): objectives bound to measured metrics, an impact
map, backlog items from conf/product.toml or a CSV export, an evidence ledger per item computed from
the warehouse, RICE / ICE / WSJF / value-effort / MoSCoW side by side with Monte Carlo intervals, an
ordering with one plain reason per item, a decision log of published orderings and overrides, and
before/after measurements of shipped items.

Modules:
  model       the dataclasses every other module reads (ProductConfig, Objective, Item, ...)
  config      conf/product.toml (or .yaml): read, validate, errors that name file and line
  items       items from the config or a CSV export (column mapping, Jira/Linear presets), the
              nothing-lost accounting, effort in person-weeks, link checks, refinement checks
  objectives  each objective's current value, trend, interval and distance to target
  evidence    the evidence ledger per item (reach, drop-off, churn lift, tickets, interviews, quotes)
  scores      RICE, ICE, WSJF, value/effort quadrants, suggested MoSCoW, confidence, Monte Carlo
  order       the ordered list with reasons, capacity fit and trade-offs of a move
  log         publish, override, the decision log (tables of migration 5)
  impact      before/after of a shipped item's linked metrics
  session     Backlog: the object ``wb.backlog()`` returns, tying the modules together
  results     the session's query dataclasses and results (order, scores, publish, log, ...)
  errors      BacklogError (codes backlog.*)
"""

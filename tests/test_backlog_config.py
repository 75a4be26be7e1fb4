"""conf/product.toml (or YAML): reading, validation, errors that name file, line and key."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import pytest

from poanalytics.backlog.config import parse_product, read_product
from poanalytics.backlog.errors import BacklogError

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "conf" / "product.toml"

BASE = """\
vision = "Teams share a report in one sitting"

[planning]
capacity = 10

[funnel]
steps = ["signed_up", "onboarding_started", "profile_completed"]

[objectives.finish]
metric = "conversion"
step = "profile_completed"
baseline = 0.8
target = 0.9
"""


def write(tmp_path: Path, text: str, name: str = "product.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str, name: str = "product.toml") -> BacklogError:
    with pytest.raises(BacklogError) as exc:
        read_product(write(tmp_path, text, name))
    return exc.value


# -- the demo's product file ------------------------------------------------------------------------


def test_demo_product_reads_clean_with_objectives_bound_to_the_stories():
    config = read_product(DEMO)
    assert config is not None
    assert config.sha256 == hashlib.sha256(DEMO.read_bytes()).hexdigest()
    report = tomllib.loads((ROOT / "conf" / "report.toml").read_text(encoding="utf-8"))
    assert config.funnel is not None and list(config.funnel.steps) == report["funnel"]["steps"]
    by_name = {o.name: o for o in config.objectives}
    conv = by_name["finish_onboarding"]
    assert (conv.metric, conv.step, conv.from_step, conv.direction) == (
        "conversion",
        "profile_completed",
        "onboarding_started",
        "up",
    )
    churn = by_name["keep_starter"]
    assert (churn.metric, churn.segment, churn.direction, churn.inactive_days) == (
        "churn_rate",
        {"plan": ["starter"]},
        "down",
        28,
    )
    themes = {o.theme for o in config.objectives if o.metric == "theme_volume"}
    assert themes == {"onboarding_crash", "pricing"}
    assert by_name["teams_retain"].week == 4
    # every objective's line is where its table starts in the file
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    for o in config.objectives:
        assert lines[o.line - 1].strip() == f"[objectives.{o.name}]"
    assert config.source.path == "data/demo/backlog.csv"
    assert config.planning.capacity == 12 and config.planning.points_per_week == 2
    assert {i for imp in config.impacts for i in imp.items} >= {"BL-101", "BL-104", "BL-107"}


def test_default_path_none_when_absent_and_named_in_settings(tmp_path):
    assert read_product(root=tmp_path) is None
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "poanalytics.toml").write_text(
        '[backlog]\nproduct = "conf/mine.yaml"\n', encoding="utf-8"
    )
    assert read_product(root=tmp_path) is None  # the named default does not exist: no product
    (tmp_path / "conf" / "mine.yaml").write_text(
        "vision: From YAML\nplanning:\n  capacity: 3\n", encoding="utf-8"
    )
    config = read_product(root=tmp_path)
    assert config is not None and config.vision == "From YAML"
    assert config.planning.capacity == 3.0


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(BacklogError) as exc:
        read_product(tmp_path / "nope.toml")
    assert exc.value.code == "backlog.config_missing"
    assert "nope.toml" in str(exc.value)


def test_yaml_with_the_same_keys_reads_as_the_toml(tmp_path):
    import yaml

    data = tomllib.loads(DEMO.read_text(encoding="utf-8"))
    yaml_file = write(tmp_path, yaml.safe_dump(data, sort_keys=False), "product.yaml")
    from_yaml, from_toml = read_product(yaml_file), read_product(DEMO)
    assert from_yaml is not None and from_toml is not None
    assert from_yaml.objectives == tuple(
        o.__class__(**{**o.__dict__, "line": y.line})
        for o, y in zip(from_toml.objectives, from_yaml.objectives, strict=True)
    )
    assert from_yaml.planning == from_toml.planning and from_yaml.impacts == from_toml.impacts
    assert from_yaml.source == from_toml.source and from_yaml.vision == from_toml.vision


# -- syntax errors: file and line -------------------------------------------------------------------


def test_toml_syntax_error_names_file_line_and_column(tmp_path):
    text = BASE + '\n[objectives.more]\nmetric = "churn_rate\nbaseline = 0.5\n'
    err = error_of(tmp_path, text)
    assert err.code == "backlog.config_syntax"
    bad_line = text.splitlines().index('metric = "churn_rate') + 1
    assert err.file is not None and err.file.endswith("product.toml")
    assert f"line {bad_line}, column" in err.message
    assert "product.toml" in str(err)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    text = "vision: ok\nplanning:\n  capacity: 3\n   seed: [1, 2\n"
    err = error_of(tmp_path, text, "product.yaml")
    assert err.code == "backlog.config_syntax"
    assert err.file is not None and err.file.endswith("product.yaml")
    assert "line 4" in err.message or "line 5" in err.message


def test_not_utf8_is_a_syntax_error_with_its_line(tmp_path):
    path = tmp_path / "product.toml"
    path.write_bytes(b'vision = "ok"\n\n# caf\xe9\n')
    with pytest.raises(BacklogError) as exc:
        read_product(path)
    assert exc.value.code == "backlog.config_syntax" and "line 3" in exc.value.message


# -- invalid content: table, key, expectation, did-you-mean -----------------------------------------


def test_unknown_keys_get_did_you_mean_and_their_line(tmp_path):
    err = error_of(tmp_path, BASE.replace("target = 0.9", "target = 0.9\nbasline = 0.8"))
    assert err.code == "backlog.config_invalid"
    assert "objectives.finish" in err.message and "'basline'" in err.message
    assert "Did you mean 'baseline'?" in err.message
    assert f"line {BASE.count(chr(10)) + 1}" in err.message
    top = error_of(tmp_path, BASE + "\n[objectivs.x]\nmetric = 'conversion'\n")
    assert "Did you mean 'objectives'?" in top.message
    plan = error_of(tmp_path, BASE.replace("capacity = 10", "capacty = 10"))
    assert "[planning]" in plan.message and "Did you mean 'capacity'?" in plan.message
    assert "line 4:" in plan.message


@pytest.mark.parametrize(
    ("objective", "words"),
    [
        ('metric = "conversion"\nbaseline = 0.5\ntarget = 0.6', ["needs step"]),
        (
            'metric = "conversion"\nstep = "profile_complete"\nbaseline = 0.5\ntarget = 0.6',
            ["not a step of [funnel]", "Did you mean 'profile_completed'?"],
        ),
        ('metric = "retention"\nbaseline = 0.3\ntarget = 0.4', ["needs week"]),
        ('metric = "theme_volume"\nbaseline = 3\ntarget = 1', ["needs theme"]),
        (
            'metric = "conversion"\nstep = "profile_completed"\nweek = 4\nbaseline = 0.5\ntarget = 0.6',
            ["'week'", "does not apply to a conversion"],
        ),
        ('metric = "churn_rate"\nbaseline = 0.5\ntarget = 0.5', ["equals the baseline"]),
        (
            'metric = "churn_rate"\nbaseline = 0.5\ntarget = 0.3\ndirection = "up"',
            ["goes down"],
        ),
        ('metric = "churn_rate"\nbaseline = 50\ntarget = 30', ["at most 1", "a rate"]),
        ('metric = "churns"\nbaseline = 0.5\ntarget = 0.3', ["Did you mean 'churn_rate'?"]),
        ('metric = "churn_rate"\nbaseline = "high"\ntarget = 0.3', ["must be a number"]),
        (
            'metric = "conversion"\nstep = "signed_up"\nbaseline = 0.5\ntarget = 0.6',
            ["first step"],
        ),
    ],
)
def test_objective_rules(tmp_path, objective, words):
    err = error_of(tmp_path, BASE + f"\n[objectives.bad]\n{objective}\n")
    assert err.code == "backlog.config_invalid"
    assert "objectives.bad" in err.message
    for w in words:
        assert w in err.message


def test_churn_rate_without_specific_keys_is_fine(tmp_path):
    config = read_product(
        write(
            tmp_path,
            BASE + '\n[objectives.churn]\nmetric = "churn_rate"\nbaseline = 0.5\ntarget = 0.3\n',
        )
    )
    assert config is not None and config.objective("churn") is not None
    assert config.objective("churn").direction == "down"  # type: ignore[union-attr]


def test_impacts_naming_unknown_objective_or_actor_are_errors(tmp_path):
    text = BASE + '\n[actors.newbies]\nsegment = { platform = "android" }\n\n[[impacts]]\n'
    err = error_of(tmp_path, text + 'objective = "finsh"\nitems = ["A"]\n')
    assert "unknown objective 'finsh'" in err.message and "Did you mean 'finish'?" in err.message
    line = (text + 'objective = "finsh"').count("\n") + 1
    assert f"line {line}:" in err.message
    err = error_of(tmp_path, text + 'objective = "finish"\nactor = "newbie"\n')
    assert "unknown actor 'newbie'" in err.message and "Did you mean 'newbies'?" in err.message
    config = read_product(
        write(tmp_path, text + 'objective = "finish"\nactor = "newbies"\nitems = ["A", "B"]\n')
    )
    assert config is not None and config.impacts[0].items == ("A", "B")


def test_planning_and_backlog_values_are_checked(tmp_path):
    err = error_of(tmp_path, BASE.replace("capacity = 10", 'effort_unit = "hours"'))
    assert "'effort_unit'" in err.message and "weeks" in err.message
    err = error_of(tmp_path, BASE.replace("capacity = 10", "capacity = -2"))
    assert "above 0" in err.message
    err = error_of(tmp_path, BASE + '\n[backlog]\nformat = "jra"\n')
    assert "Did you mean 'jira'?" in err.message
    err = error_of(tmp_path, BASE + '\n[backlog]\ncolumns = { efort = "Story Points" }\n')
    assert "unknown item field 'efort'" in err.message and "Did you mean 'effort'?" in err.message
    err = error_of(
        tmp_path, BASE.replace('"profile_completed"]', '"profile_completed"]\nwindow = "7"')
    )
    assert "'window'" in err.message and "unit" in err.message


# -- [[items]] in the product file ------------------------------------------------------------------


def test_items_in_the_file_are_read_with_their_line(tmp_path):
    text = BASE + '\n[[items]]\nid = "BL-200"\ntitle = "SSO"\neffort = "M"\nthemes = ["sso"]\n'
    text += 'segment = { plan = "business" }\nshipped_at = 2026-11-02\n'
    config = read_product(write(tmp_path, text))
    assert config is not None and len(config.items) == 1
    item = config.items[0]
    line = text.splitlines().index("[[items]]") + 1
    assert item.source.endswith(f"product.toml line {line}")
    assert (item.effort_weeks, item.effort_low, item.effort_high) == (2.0, 1.0, 4.0)
    assert item.themes == ("sso",) and item.segment == {"plan": ["business"]}
    assert item.status == "shipped" and item.shipped_at is not None


def test_a_bad_item_in_the_file_is_an_error_naming_its_line(tmp_path):
    text = (
        BASE
        + '\n[[items]]\nid = "A"\ntitle = "a"\n\n[[items]]\nid = "B"\ntitle = "b"\neffort = "huge"\n'
    )
    err = error_of(tmp_path, text)
    line = text.splitlines().index('id = "B"')  # the [[items]] header line, 1-based
    assert err.code == "backlog.config_invalid" and f"line {line}:" in err.message
    assert "'effort'" in err.message
    err = error_of(tmp_path, BASE + '\n[[items]]\nid = "A"\ntitle = "a"\ntheme = ["x"]\n')
    assert "Did you mean 'themes'?" in err.message
    err = error_of(
        tmp_path, BASE + '\n[[items]]\nid = "A"\ntitle = "a"\n[[items]]\nid = "A"\ntitle = "b"\n'
    )
    assert "already used" in err.message


def test_parse_product_without_a_file(tmp_path):
    config = parse_product(BASE, "x.toml")
    assert config.path == "x.toml" and config.objective("finish") is not None


def test_items_are_named_relative_to_the_project_root(tmp_path):
    (tmp_path / "conf").mkdir()
    text = BASE + '\n[[items]]\nid = "A"\ntitle = "a"\n'
    (tmp_path / "conf" / "product.toml").write_text(text, encoding="utf-8")
    config = read_product(root=tmp_path)
    line = text.splitlines().index("[[items]]") + 1
    assert config is not None and config.items[0].source == f"conf/product.toml line {line}"


def test_yaml_errors_name_the_line_of_the_key(tmp_path):
    text = (
        "funnel:\n  steps: [a, b]\nobjectives:\n  go:\n    metric: conversion\n"
        "    step: b\n    baseline: 0.5\n    targt: 0.6\n"
    )
    err = error_of(tmp_path, text, "product.yml")
    assert err.code == "backlog.config_invalid" and "line 8:" in err.message
    assert "Did you mean 'target'?" in err.message


def test_yaml_items_read_like_toml_items(tmp_path):
    text = (
        "items:\n  - id: Y-1\n    title: From YAML\n    effort: 3\n    shipped_at: 2026-11-02\n"
        "    segment: {plan: starter}\n  - id: Y-2\n    title: Second\n    effort: 2w\n"
        "    impact: massive\n"
    )
    config = read_product(write(tmp_path, text, "product.yaml"))
    assert config is not None
    one, two = config.items
    assert one.source.endswith("product.yaml line 2") and two.source.endswith("line 7")
    assert (
        one.effort_weeks == 3.0 and one.status == "shipped" and one.segment == {"plan": ["starter"]}
    )
    assert two.effort_weeks == 2.0 and two.impact == 3.0


def test_empty_yaml_sections_are_empty(tmp_path):
    config = read_product(write(tmp_path, "vision: v\nobjectives:\nimpacts:\nitems:\n", "p.yaml"))
    assert config is not None and config.objectives == () and config.impacts == ()
    assert config.items == ()

"""Rule-file errors name the line of the faulty key or value, taken from the YAML nodes' own positions. Each test
writes a whole measure file (or a block of parameters) into a private copy of rules/, so the expected line is known
from the text written here, not found by searching it; the faulty word also stands on an earlier line (in a comment,
a label or another expression), where a text search would stop."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.common.errors import RulesError
from engine.rules.loader import RULES_DIR, load_rules

# A valid measure; {condition}, {jurisdiction}, {window}, {report}, {cite} and {amount} are the parts a test breaks.
# Its lines: 7 the second jurisdiction, 8 window, 13 the second citation, 21 the condition's expr, 22 amount,
# 23 report.
MEASURE = """\
# probe: a measure written by the test (the word zz_unknown and 1999-02-30 also stand here, in a comment)
id: zz_probe
order: 99
name: {{zh: 探针措施, en: Probe measure}}
jurisdiction:
  - taizhou
  - {jurisdiction}
window: {window}
department: {{zh: 科技局, en: Science Bureau}}
budget_kind: cash
citations:
  - {{source: 000_3c6f6d8a34c0285f.txt, clause: （七）1}}
  - {{source: {cite}, clause: '19'}}
values:
  zz_base: hnte_reward.amount
  zz_double: zz_base * 2
eligible_if:
  all:
    - hnte_valid
    - label: {{zh: 职工人数 zz_unknown, en: Staff zz_unknown}}
      expr: {condition}
amount: {amount}
report: [zz_base, {report}]
"""
GOOD = {"condition": "employees >= 1", "jurisdiction": "taizhou", "window": "{from: 2017-07-20, tag: F}",
        "report": "zz_double", "cite": "004_e5140ed4d9e9f93f.txt", "amount": "zz_double"}


@pytest.fixture
def rules_dir(tmp_path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES_DIR, target)
    return target


def write_measure(rules_dir: Path, **broken) -> Path:
    path = rules_dir / "measures" / "zz_probe.yaml"
    path.write_text(MEASURE.format(**{**GOOD, **broken}), encoding="utf-8")
    return path


def error_of(rules_dir: Path) -> RulesError:
    with pytest.raises(RulesError) as info:
        load_rules(rules_dir)
    return info.value


def test_the_probe_measure_loads_when_nothing_is_broken(rules_dir):
    write_measure(rules_dir)
    assert "zz_probe" in load_rules(rules_dir).measures


@pytest.mark.parametrize("broken, line, words", [
    ({"condition": "zz_unknown >= 1"}, 21, "unknown name 'zz_unknown'"),
    ({"condition": "employees >="}, 21, "condition 1.2"),
    ({"condition": "employees + 1"}, 21, "not a condition"),
    ({"jurisdiction": "atlantis"}, 7, "unknown jurisdiction 'atlantis'"),
    ({"window": "{from: 2017-07-20, to: 2016-01-01, tag: F}"}, 8, "window ends"),
    ({"window": "{from: 2017-07-20, to: 1999-02-30, tag: F}"}, 8, "impossible date"),
    ({"report": "zz_missing"}, 23, "report: 'zz_missing'"),
    ({"cite": "999_nowhere.txt"}, 13, "999_nowhere.txt"),
    ({"amount": "zz_base + zz_unknown"}, 22, "unknown name 'zz_unknown'"),
])
def test_a_measure_error_names_the_line_of_its_value(rules_dir, broken, line, words):
    path = write_measure(rules_dir, **broken)
    exc = error_of(rules_dir)
    assert exc.file.endswith(path.name) and exc.line == line, str(exc)
    assert words in str(exc) and f"zz_probe.yaml:{line}: " in str(exc)


def test_a_measure_key_error_names_the_key_line(rules_dir):
    path = write_measure(rules_dir)
    text = path.read_text(encoding="utf-8").replace("      expr: employees >= 1\n", "      exprs: employees >= 1\n")
    path.write_text(text, encoding="utf-8")
    exc = error_of(rules_dir)
    assert exc.line == 21 and "expected all/any/requires/expr" in str(exc), str(exc)


PARAMETERS = """\
  zz.share:
    zh: 探针比例
    en: Probe share
    unit: {zh: 比例, en: share}
    values:
      2017-01-01: 0.5
      2018-01-01:
        cases:
          - {when: employees >= 1, value: 0.2}
          - {when: zz_unknown, value: 0.5}
        otherwise: 0.5
    tags: {2017-01-01: I, 2018-01-01: I}
"""


def append_parameters(rules_dir: Path, block: str) -> int:
    """Append a block to parameters.yaml; the number of lines before it."""
    path = rules_dir / "parameters.yaml"
    text = path.read_text(encoding="utf-8").rstrip("\n") + "\n"
    path.write_text(text + block, encoding="utf-8")
    return len(text.splitlines())


@pytest.mark.parametrize("old, new, offset, words", [
    ("{when: zz_unknown, value: 0.5}", "{when: zz_unknown, value: 0.5}", 10, "unknown name 'zz_unknown'"),
    ("      2017-01-01: 0.5\n", "      2017-01-01: 1.5\n", 6, "between 0 and 1"),
    ("{when: zz_unknown, value: 0.5}", "{when: employees >= 2, value: -0.5}", 10, "between 0 and 1"),
    ("        otherwise: 0.5\n", "        otherwise: five\n", 11, "expected a number"),
    ("      2018-01-01:\n", "      2018-13-01:\n", 7, "2018-13-01"),
])
def test_a_parameter_error_names_the_line_of_its_value(rules_dir, old, new, offset, words):
    before = append_parameters(rules_dir, PARAMETERS.replace(old, new))
    exc = error_of(rules_dir)
    assert exc.line == before + offset, str(exc)
    assert words in str(exc) and f"parameters.yaml:{before + offset}: " in str(exc)


def test_a_duplicate_key_names_its_second_line(rules_dir):
    before = append_parameters(rules_dir, PARAMETERS.replace("    en: Probe share\n", "    en: Probe share\n    zh: 又一个\n"))
    exc = error_of(rules_dir)
    assert exc.line == before + 4 and "duplicate key 'zh'" in str(exc), str(exc)

"""The engine's front door: one firm or many, raw input in, check objects out. CLI, web app and screen call this."""

from __future__ import annotations

import datetime as dt

from engine.evaluate.evaluator import Evaluation
from engine.evaluate.scalar import compile_all, evaluate_one
from engine.explain.explainer import check_object
from engine.common.errors import InputError, Problem
from engine.inputs.firm import parse_firm
from engine.inputs.record_checks import contradicted_fills, joined_rejections, parameter_values
from engine.rules.params import parse_override
from engine.rules.loader import RuleSet, default_rules
from engine.inputs.table import from_records


def parse_overrides(rules: RuleSet, sets: list[str] | None, as_of: dt.date) -> dict:
    """`--set NAME=VALUE` strings → {name: value}; raises OverrideError naming the bad one."""
    overrides = {}
    for text in sets or []:
        name, value = parse_override(text, rules.params, as_of, code_sets(rules), rules.place_names())
        overrides[name] = value
    return overrides


def code_sets(rules: RuleSet) -> list[dict]:
    """Every code field's spellings (code, zh and en labels, folded) -> code, firm fields and item fields alike."""
    specs = list(rules.fields.fields.values())
    for spec in rules.fields.fields.values():
        if spec.type == "list":
            specs.extend(rules.item_fields(spec.item).values())
    return [dict(spec.code_index) for spec in specs if spec.type == "code"]


def evaluate_firm(raw: dict, as_of: dt.date | None = None, overrides: dict | None = None,
                  rules: RuleSet | None = None) -> Evaluation:
    rules = rules or default_rules()
    as_of = as_of or dt.date.today()
    params = parameter_values(rules, as_of)
    firm = parse_firm(raw, rules.fields, as_of, params=params)
    table = from_records(rules, [firm])
    broken = joined_rejections(rules, table, params)  # checks reading another list's item: on the joined table
    if broken:
        raise InputError([Problem(b.values[0][0], raw[name][b.row].get(b.values[0][0]), b.reason_en, b.reason_zh,
                                  name, b.row, b.check.name) for name, rows in broken.items() for b in rows])
    contradictions = contradicted_fills(rules, table, params)
    if contradictions:
        raise InputError([Problem(c.field, raw.get(c.field), *reversed(c.words(rules, (f"第 {c.item} 条", f"entry {c.item}"))),
                                  None, None, "stated_no_contradicted") for c in contradictions])
    # one firm runs the plan's scalar specialisation (evaluate/scalar.py): the same Evaluation as the column path's
    # on a table of one row, without NumPy's cost per call
    return evaluate_one(rules, table, as_of, overrides)


def warm(rules: RuleSet | None = None, as_of: dt.date | None = None) -> None:
    """Build what a server's first request would build: the rule set, its scalar plan (every condition and the
    amounts of undetermined measures) and the explanation plan of as_of (today), by checking a firm that gave
    nothing. A server calls it before gc.freeze(): these objects live as long as the process, and left in the
    collected generations a full collection walks them (~80,000 objects, tens of ms) every few dozen requests."""
    rules = rules or default_rules()
    as_of = as_of or dt.date.today()
    nothing = from_records(rules, [{}])
    compile_all(rules, nothing, as_of)  # every measure's generated functions, not only those an empty firm reaches
    check_object(evaluate_one(rules, nothing, as_of), 0)


def check(raw: dict, as_of: dt.date | None = None, overrides: dict | None = None,
          rules: RuleSet | None = None) -> dict:
    """The `check` object for one firm given as the FIRM.json object (raises InputError for a wrong value)."""
    return check_object(evaluate_firm(raw, as_of, overrides, rules), 0)

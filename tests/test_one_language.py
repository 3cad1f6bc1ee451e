"""One expression language: the measures' compiled columns and the ledger's closures check and compute alike.

If/else and date arithmetic used to differ between the two (the ledger refused arithmetic on dates, the measures
allowed adding two dates; the ledger took text branches, the measures only numbers)."""

import datetime as dt
import shutil
from decimal import Decimal

import pytest

from engine.common.errors import RulesError
from engine.evaluate.evaluator import Evaluator
from engine.inputs.firm import parse_firm
from engine.inputs.table import EPOCH, from_records
from engine.ledger.calc import compile_expr
from engine.rules import expr as ex
from engine.rules.loader import default_rules, load_rules

AS_OF = dt.date(2026, 11, 22)
FIRMS = [
    {"name": "甲", "established": "2016-02-29", "hnte_valid_until": "2027-03-01", "revenue": 1500},
    {"name": "乙", "established": "2020-11-23", "hnte_valid_until": "2026-11-22", "revenue": 800},
    {"name": "丙", "established": "2012-01-31", "hnte_valid_until": "2026-11-23", "revenue": 1000.5},
]
EXPRESSIONS = [
    "(as_of - established) if revenue > 1000 else (hnte_valid_until - as_of)",
    "year(established + 366.5 if revenue > 1000 else as_of - 10.5)",
    "years_between(established, as_of + 365)",
    "hnte_valid_until - 0.5 >= as_of",
    "min(established + 30, hnte_valid_until) - established",
    "(hnte_valid_until - 1.25 if revenue >= 1000.5 else established) - as_of",
]
TYPES = {"established": ex.DATE, "hnte_valid_until": ex.DATE, "revenue": ex.NUM, "as_of": ex.DATE}


def ledger_value(text: str, firm: dict):
    def resolve(name):
        if name not in TYPES:
            raise KeyError(name)
        return (lambda ctx: ctx[name]), TYPES[name]

    fn, kind = compile_expr(ex.parse(text), resolve)
    value = fn({**firm, "as_of": AS_OF})
    return Decimal((value - EPOCH).days) if kind == ex.DATE else value


def measure_values(rules, text: str, firms: list) -> list:
    table = from_records(rules, firms)
    value = Evaluator(rules, table, AS_OF).firm_env.eval(ex.parse(text))
    if hasattr(value, "t"):  # a condition
        return [True if value.t[i] else False if value.f[i] else None for i in range(len(firms))]
    return [Decimal(repr(float(value.lo[i]))) if value.lo[i] == value.hi[i] else None for i in range(len(firms))]


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_a_ledger_expression_and_a_measure_expression_agree(text):
    rules = default_rules()
    firms = [parse_firm(raw, rules.fields, AS_OF) for raw in FIRMS]
    columns = measure_values(rules, text, firms)
    for firm, column in zip(firms, columns):
        assert column == ledger_value(text, firm), (text, firm)


def test_dates_move_by_whole_days():
    rules = default_rules()
    firms = [parse_firm(raw, rules.fields, AS_OF) for raw in FIRMS]
    # 2027-03-01 minus 1.25 days lands on 2027-02-27 (the floor), 97 days after as_of
    assert measure_values(rules, "(hnte_valid_until - 1.25) - as_of", firms[:1]) == [Decimal(97)]
    assert ledger_value("(hnte_valid_until - 1.25) - as_of", firms[0]) == Decimal(97)
    # 29 February 2016 plus 11 years is 28 February 2027: eleven whole years on 2027-11-22
    assert measure_values(rules, "years_between(established, as_of + 365)", firms[:1]) == [Decimal(11)]


@pytest.mark.parametrize("text, why", [
    ("established + hnte_valid_until", "arithmetic on a date and a date"),
    ("established * 2", "arithmetic on a date and a num"),
    ("district if revenue > 1 else 'x'", "both values numbers or both dates"),
    ("established if revenue > 1 else 3", "both values numbers or both dates"),
    ("established > 3", "compares a date with a num"),
])
def test_both_refuse_the_same_expressions(text, why, tmp_path):
    def resolve(name):
        kinds = {**TYPES, "district": ex.STR}
        if name not in kinds:
            raise KeyError(name)
        return (lambda ctx: None), kinds[name]

    with pytest.raises(TypeError, match=why):
        compile_expr(ex.parse(text), resolve)
    rules = default_rules()
    copy = tmp_path / "rules"
    shutil.copytree(rules.directory, copy)
    fields = copy / "fields.yaml"
    fields.write_text(fields.read_text(encoding="utf-8").replace(
        "  age_years: {", f"  odd_value: {{zh: 试, en: odd, expr: \"{text}\"}}\n  age_years: {{", 1), encoding="utf-8")
    with pytest.raises(RulesError, match=why):
        load_rules(copy)

"""Budgets: totals against independent sums of per-firm results, pools, take-up, the range, what-if, scenario files,
and the workbook with its charts."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

import openpyxl
import pytest

from engine.service import check, parse_overrides
from engine.outputs.budget import budget_of, compare, load_scenario
from engine.outputs.budget_workbook import write_budget_workbook
from engine.cli import run
from engine.inputs.lists import read_list
from engine.rules.loader import default_rules
from engine.outputs.screen import screen_table

from listfiles import sample_firms, write_workbook
from test_screen import _firm

AS_OF = dt.date(2026, 11, 22)
RULES = default_rules()


def _budget(path, sets=()):
    read = read_list(path, RULES, AS_OF)
    overrides = parse_overrides(RULES, list(sets), AS_OF)
    return budget_of(screen_table(RULES, read.table, AS_OF, overrides, read))


def _with_lists(firm: dict) -> dict:
    """The firm as its row of the workbook reads: every list sheet is given, so a list it lacks is empty."""
    lists = [n for n, spec in RULES.fields.fields.items() if spec.type == "list"]
    return dict(firm, **{n: firm.get(n) or [] for n in lists})


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    path = write_workbook(tmp_path_factory.mktemp("b") / "list.xlsx", sample_firms())
    return path, _budget(path).figures()


def test_totals_equal_independent_sums_of_per_firm_checks(samples):
    path, figures = samples
    by_measure = defaultdict(float)
    by_kind = defaultdict(float)
    by_district = defaultdict(lambda: defaultdict(float))
    by_department = defaultdict(lambda: defaultdict(float))
    eligible = defaultdict(int)
    for firm in sample_firms():
        result = check(_with_lists(firm), AS_OF, rules=RULES)
        statuses = {r["measure"]: r for r in result["results"]}
        for r in result["results"]:
            if r["status"] != "eligible":
                continue
            eligible[r["measure"]] += 1
            amount = r["amount"] or 0.0
            by_measure[r["measure"]] += amount
            once = RULES.measures[r["measure"]].counted_once_with
            if once and statuses[once["measure"]]["status"] == "eligible":  # an HNTE renewal counts once (§4.2)
                amount -= min(amount, statuses[once["measure"]]["amount"] or 0.0)
            if r["budget_kind"] in ("cash", "tax", "contingent"):
                by_kind[r["budget_kind"]] += amount
                by_district[firm.get("district") or "未知"][r["budget_kind"]] += amount
                by_department[r["department"]["zh"]][r["budget_kind"]] += amount
    for mid, e in figures["by_measure"].items():
        assert e["eligible"] == eligible[mid], mid
        if e["budget_kind"] != "non_cash":
            # the per-firm figures are rounded to the cent, the totals are rounded once after summing (MEASURES §1)
            tolerance = 0.005 * eligible[mid] + 0.001
            assert e["requested"] == pytest.approx(by_measure[mid], abs=tolerance), mid
            assert e["granted"] == pytest.approx(by_measure[mid], abs=tolerance), mid  # no pool binds here
    for kind in ("cash", "tax", "contingent"):
        assert figures["by_kind"][kind] == pytest.approx(by_kind[kind], abs=0.1)
    for district, sums in by_district.items():
        for kind, value in sums.items():
            assert figures["by_district"][district][kind] == pytest.approx(value, abs=0.1), district
    for dept, sums in by_department.items():
        for kind, value in sums.items():
            assert figures["by_department"][dept][kind] == pytest.approx(value, abs=0.1), dept
    assert sum(g["firms"] for g in figures["by_district"].values()) == figures["firms_screened"]
    assert sum(g["firms"] for g in figures["by_industry"].values()) == figures["firms_screened"]
    parts = figures["by_kind"]["contingent_parts"]
    assert parts["compensation"] + parts["provision"] == pytest.approx(figures["by_kind"]["contingent"], abs=0.01)


VOUCHER = [{"provider": "甲", "provider_region": "zhejiang", "provider_approved": True, "fee": 30, "kind": "rd"}] * 5


@pytest.mark.parametrize("firms,pool,requested,granted,factor", [
    (30, None, 300, 200, 2 / 3),  # asks more than the pool: scaled down proportionally
    (20, None, 200, 200, 1.0),  # the pool exactly met
    (10, None, 100, 100, 1.0),
    (10, "0", 100, 0, 0.0),  # a pool of zero grants nothing
])
def test_voucher_pool_scaling(tmp_path, firms, pool, requested, granted, factor):
    path = write_workbook(tmp_path / "list.xlsx", [_firm(k, voucher_services=VOUCHER) for k in range(1, firms + 1)])
    b = _budget(path, [f"innovation_voucher.pool={pool}"] if pool is not None else [])
    e = b.figures()["by_measure"]["innovation_voucher"]
    assert e["requested"] == requested and e["granted"] == pytest.approx(granted, abs=0.01)
    assert e["pool"]["factor"] == pytest.approx(factor, abs=1e-6)
    assert e["pool"]["left"] == pytest.approx(float(pool or 200) - granted, abs=0.01)
    firm_granted = b.measures["innovation_voucher"].firm_granted
    assert firm_granted.total() == granted  # exact: 30 firms × 10 × 2/3 is 200, not its binary neighbour
    assert [float(firm_granted.at(i)) for i in range(firms)] == pytest.approx([10 * factor] * firms)


def test_take_up_scales_expected_cost_before_the_pool(tmp_path):
    path = write_workbook(tmp_path / "list.xlsx", [_firm(k, voucher_services=VOUCHER) for k in range(1, 31)])
    e = _budget(path, ["innovation_voucher.take_up=0.5"]).figures()["by_measure"]["innovation_voucher"]
    assert (e["requested"], e["take_up"], e["expected"], e["granted"]) == (300, 0.5, 150, 150)
    assert e["pool"]["factor"] == 1.0
    figures = _budget(path, ["hnte_cultivation.take_up=0.25"]).figures()
    assert figures["by_measure"]["hnte_cultivation"]["granted"] == pytest.approx(
        figures["by_measure"]["hnte_cultivation"]["requested"] * 0.25)
    assert figures["assumptions"]["take_up"]["hnte_cultivation"] == 0.25


def test_range_low_without_and_high_with_undetermined_potentials(tmp_path):
    sure = _firm(1, voucher_services=VOUCHER[:1])  # eligible: 2
    maybe = _firm(2, dishonest=None, voucher_services=VOUCHER[:2])  # undetermined, potential 4
    unknown = _firm(3, dishonest=None, voucher_services=[dict(VOUCHER[0], fee=None)])  # undetermined, unknown
    path = write_workbook(tmp_path / "list.xlsx", [sure, maybe, unknown])
    b = _budget(path)
    figures = b.figures()
    voucher = figures["by_measure"]["innovation_voucher"]
    assert (voucher["eligible"], voucher["undetermined"], voucher["granted"]) == (1, 2, 2)
    assert b.measures["innovation_voucher"].high_granted == pytest.approx(2 + 4)
    assert b.measures["innovation_voucher"].potential_unknown == 1
    rng = figures["range"]
    assert rng["high"]["cash"] - rng["low"]["cash"] == pytest.approx(
        sum(mb.high_granted - mb.granted for mb in b.measures.values() if mb.measure.budget_kind == "cash"))
    assert rng["low"]["cash"] == figures["by_kind"]["cash"]
    assert rng["firms_undetermined"] >= 2 and rng["potential_unknown"] >= 1


def test_what_if_whitelist_threshold_lists_the_firms_that_gain(tmp_path):
    firms = [_firm(k, tech_sme_registered=True, revenue=1000, rd_expense=r)
             for k, r in enumerate([45, 55, 38, 60], start=1)]  # 4.5%, 5.5%, 3.8%, 6.0%
    path = write_workbook(tmp_path / "list.xlsx", firms)
    base = _budget(path)
    scenario = _budget(path, ["rd_whitelist.min_rd_intensity=0.04"])
    result = compare(base, scenario)
    assert result["baseline"]["by_measure"]["rd_whitelist"]["eligible"] == 2
    assert result["scenario"]["by_measure"]["rd_whitelist"]["eligible"] == 3
    assert result["delta"]["by_measure"]["rd_whitelist"]["eligible"] == 1
    change = result["changes"]["rd_whitelist"]
    assert change["gained"] == 1 and change["lost"] == 0
    assert change["gained_firms"] == [{"credit_code": firms[0]["credit_code"], "name": firms[0]["name"]}]


def test_what_if_on_a_dated_parameter_changes_the_loan_subsidy(tmp_path):
    loan = {"loan_id": "L1", "kind": "credit", "principal": 500, "interest_paid": 30, "partner_bank": True,
            "status": "normal"}
    path = write_workbook(tmp_path / "list.xlsx", [_firm(1, tech_sme_registered=True, loans=[loan])])
    base, scenario = _budget(path), _budget(path, ["lpr_1y=0.04"])
    result = compare(base, scenario)
    # 2026: 0.5 × min(30, 500 × 0.0300) = 7.50; with lpr 0.04: 0.5 × min(30, 20) = 10.00
    assert result["baseline"]["by_measure"]["tech_loan_interest_subsidy"]["granted"] == 7.5
    assert result["scenario"]["by_measure"]["tech_loan_interest_subsidy"]["granted"] == 10.0
    assert result["delta"]["by_kind"]["cash"] == pytest.approx(2.5)
    assert result["changes"] == {}


def test_scenario_file_and_set_winning_over_it(tmp_path, capsys):
    firms = [_firm(k, tech_sme_registered=True, revenue=1000, rd_expense=r) for k, r in enumerate([45, 55], 1)]
    path = write_workbook(tmp_path / "list.xlsx", firms)
    scenario = tmp_path / "白名单4%.yaml"
    scenario.write_text("name: 白名单门槛降至4%\nset:\n  rd_whitelist.min_rd_intensity: 0.04\n  lpr_1y: 0.05\n",
                        encoding="utf-8")
    assert load_scenario(str(scenario)) == ["rd_whitelist.min_rd_intensity=0.04", "lpr_1y=0.05"]
    assert run(["budget", str(path), "--as-of", "2026-11-22", "--scenario", str(scenario), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scenario"]["by_measure"]["rd_whitelist"]["eligible"] == 2
    assert out["scenario"]["assumptions"]["parameters"]["lpr_1y"] == 0.05
    assert run(["budget", str(path), "--as-of", "2026-11-22", "--scenario", str(scenario),
                "--set", "rd_whitelist.min_rd_intensity=0.06", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scenario"]["by_measure"]["rd_whitelist"]["eligible"] == 0  # --set wins over the file
    assert out["scenario"]["assumptions"]["parameters"]["lpr_1y"] == 0.05  # the file's other value stays
    bad = tmp_path / "bad.yaml"
    bad.write_text("set: [1, 2\n", encoding="utf-8")
    assert run(["budget", str(path), "--scenario", str(bad)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert run(["budget", str(path), "--scenario", str(tmp_path / "none.yaml")]) == 2


def test_budget_json_contract(samples, capsys):
    path, _ = samples
    assert run(["budget", str(path), "--as-of", "2026-11-22", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("by_measure", "by_kind", "by_department", "by_district", "requested", "granted", "range", "pools"):
        assert key in out
    assert set(out["range"]) >= {"low", "high"}
    assert set(out["by_kind"]) >= {"cash", "tax", "contingent", "non_cash"}
    assert run(["budget", str(path), "--as-of", "2026-11-22", "--set", "lpr_1y=0.05", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"baseline", "scenario", "delta", "changes"}


def test_budget_workbook_sheets_and_charts(tmp_path):
    path = write_workbook(tmp_path / "list.xlsx", sample_firms())
    base = _budget(path)
    out = tmp_path / "budget.xlsx"
    write_budget_workbook(out, base)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["汇总", "按措施", "按部门", "按区县", "按行业", "按类别", "资金池", "假设"]
    by_measure = wb["按措施"]
    [bar] = by_measure._charts
    assert type(bar).__name__ == "BarChart"
    n = len(RULES.measures)
    assert bar.series[0].val.numRef.f == f"'按措施'!$J$2:$J${n + 1}"
    categories = bar.series[0].cat
    assert (categories.strRef or categories.numRef).f == f"'按措施'!$A$2:$A${n + 1}"
    assert by_measure["J1"].value == "核定金额(万元)"
    values = {r[0].value: r[9].value for r in by_measure.iter_rows(min_row=2)}
    figures = base.figures()
    for m in RULES.measure_list():
        assert values[m.name["zh"]] == figures["by_measure"][m.id]["granted"]
    [pie] = wb["按部门"]._charts
    departments = len(figures["by_department"])
    assert type(pie).__name__ == "PieChart" and pie.series[0].val.numRef.f == f"'按部门'!$E$2:$E${departments + 1}"
    params = {r[0].value: r[2].value for r in wb["假设"].iter_rows(min_row=2)}
    assert params["innovation_voucher.take_up"] == 1 and params["lpr_1y"] == 0.03
    scenario = _budget(path, ["lpr_1y=0.01"])
    write_budget_workbook(out, scenario, comparison=compare(base, scenario))
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[-2:] == ["情景对比", "变化企业"]
    rows = [[c.value for c in r] for r in wb["情景对比"].iter_rows(min_row=2)]
    cash = next(r for r in rows if r[0] == "按类别 · 财政资金")
    assert cash[3] == pytest.approx(cash[2] - cash[1], abs=0.01) and cash[3] < 0

"""A new measure with a new list field, a new function and a new budget kind is written in rules/ alone: a copy of
rules/ gains them, and a bureau's list is screened and budgeted with it through the ordinary path."""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
from pathlib import Path

import openpyxl
import pytest

from engine.service import check
from engine.outputs.budget import budget_of
from engine.outputs.budget_text import render_budget
from engine.outputs.budget_workbook import write_budget_workbook
from engine.common.errors import RulesError
from engine.evaluate.evaluator import STATUSES
from engine.inputs.lists import read_list
from engine.rules import loader as rules_module
from engine.rules.loader import default_rules, load_rules
from engine.outputs.screen import screen_table
from engine.outputs.screen_text import render_screen_summary
from engine.outputs.screen_workbook import write_screen_workbook

RULES = Path(__file__).resolve().parents[1] / "rules"
AS_OF = dt.date(2025, 6, 30)

NEW_SECTION = """  equity: {zh: 股权融资, en: Equity financing}
"""
NEW_LIST = """  equity_rounds:
    zh: 股权融资轮次
    section: equity
    en: Equity financing rounds
    type: list
    item: equity_round
"""
NEW_ITEM = """  equity_round:
    zh: 股权融资轮次
    en: Equity round
    fields:
      investor: {zh: 投资机构, en: Investor, type: text}
      qualified_investor: {zh: 备案投资机构, en: Registered investor, type: yesno}
      invested: {zh: 投资金额(万元), en: Amount invested, type: money, checks: {min: 0}}
"""
NEW_KIND = """  equity: {zh: 股权投资, en: Equity investment, totalled: true}
"""
FUNCTIONS = """functions:
  capped_share:
    params: [x, rate, cap]
    expr: "min(x * rate, cap)"
    zh: 按比例计算并封顶
    en: A share of an amount, capped
"""
PARAMETERS = """  equity_match.rate:
    zh: 股权融资配套比例
    en: Match rate
    unit: {zh: 比例, en: share}
    cite: [股权融资配套办法 三]
    tags: {2024-01-01: I}
    values: {2024-01-01: 0.10}
  equity_match.cap_per_round:
    zh: 每轮配套上限
    en: Cap per round
    unit: {zh: 万元, en: 10k CNY}
    cite: [股权融资配套办法 三]
    tags: {2024-01-01: I}
    values: {2024-01-01: 50}
  equity_match.cap:
    zh: 每家企业每年配套上限
    en: Yearly cap per firm
    unit: {zh: 万元, en: 10k CNY}
    cite: [股权融资配套办法 三]
    tags: {2024-01-01: I}
    values: {2024-01-01: 80}
"""
SOURCE = """  股权融资配套办法:
    title: "股权融资配套奖励办法(测试)"
    issued: "2024"
    clauses:
      "三": "按备案投资机构投资金额的10%给予配套奖励,每轮最高50万元,每家企业每年最高80万元。"
"""
MEASURE = """id: equity_match
order: 12
name: {zh: 股权融资配套奖励, en: Equity financing match}
jurisdiction: taizhou
window: {from: 2024-01-01, tag: I}
department: {zh: 金融办, en: Finance Office}
budget_kind: equity
citations:
  - {source: 股权融资配套办法, clause: 三}
items:
  of: equity_rounds
  label: {zh: 备案投资机构的融资轮次, en: A round from a registered investor}
  counts_if:
    all:
      - qualified_investor
      - invested > 0
  amounts:
    match: capped_share(invested, equity_match.rate, equity_match.cap_per_round)
eligible_if:
  all:
    - not dishonest
    - items.counted
amount: capped_share(items.match, 1, equity_match.cap)
"""


def _with_shipped(functions: str) -> str:
    """A functions.yaml of the given entries followed by the shipped ones (the tax functions the measures call), so
    the lines of the given text stay where they are."""
    shipped = (RULES / "functions.yaml").read_text(encoding="utf-8").split("\nfunctions:\n", 1)[1]
    return functions.rstrip("\n") + "\n" + shipped


def _insert_after(path: Path, anchor: str, text: str) -> None:
    body = path.read_text(encoding="utf-8")
    assert body.count(anchor) == 1, anchor
    path.write_text(body.replace(anchor, anchor + text), encoding="utf-8")


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8").rstrip("\n") + "\n" + text, encoding="utf-8")


@pytest.fixture
def extended(tmp_path) -> Path:
    """rules/ copied, with the new list, kind, function, parameters, source and measure."""
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    _insert_after(target / "fields.yaml", "sections:\n", NEW_SECTION)
    _insert_after(target / "fields.yaml", "\nfields:\n", NEW_LIST)
    _insert_after(target / "fields.yaml", "\nitems:\n", NEW_ITEM)
    _append(target / "budget_kinds.yaml", NEW_KIND)
    (target / "functions.yaml").write_text(_with_shipped(FUNCTIONS), encoding="utf-8")
    _insert_after(target / "parameters.yaml", "\nparameters:\n", PARAMETERS)
    _insert_after(target / "sources.yaml", "\nsources:\n", SOURCE)
    (target / "measures" / "equity_match.yaml").write_text(MEASURE, encoding="utf-8")
    return target


# credit code -> (name, district, dishonest, rounds as (investor, registered, invested))
FIRMS = {
    "91331003307526488Q": ("甲科技", "黄岩区", "否", [("甲基金", "是", 300), ("乙基金", "是", 800), ("丙基金", "是", 200)]),
    "91331002MA2K1D6U3T": ("乙科技", "椒江区", "否", [("丁资本", "否", 500)]),
    "91331082MA28C7LQ93": ("丙科技", "临海市", "否", [("戊资本", None, 100)]),
    "91330108MA2CX5N28P": ("丁科技", "黄岩区", "是", [("甲基金", "是", 300)]),
}


def _workbook(path: Path, rules) -> Path:
    """The bureau's list: the firms, and the new list on its own sheet found by its zh name."""
    f = rules.fields.fields
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "企业名单"
    ws.append([f["credit_code"].zh, f["name"].zh, f["district"].zh, f["dishonest"].zh])
    for code, (name, district, dishonest, _) in FIRMS.items():
        ws.append([code, name, district, dishonest])
    items = rules.item_fields("equity_round")
    sheet = wb.create_sheet(f["equity_rounds"].zh)
    sheet.append([f["credit_code"].zh] + [items[n].zh for n in ("investor", "qualified_investor", "invested")])
    for code, (*_, rounds) in FIRMS.items():
        for round_ in rounds:
            sheet.append([code, *round_])
    wb.save(path)
    return path


def test_a_measure_written_only_in_rules_screens_and_budgets(extended, tmp_path):
    rules = load_rules(extended)
    assert rules.amount_kinds() == ("cash", "tax", "contingent", "equity")
    m = rules.measures["equity_match"]
    assert m.budget_kind == "equity" and m.items.of == "equity_rounds"

    read = read_list(_workbook(tmp_path / "list.xlsx", rules), rules, AS_OF)
    assert read.rejections == [] and read.table.n == 4
    assert read.items["equity_rounds"].accepted == 6
    screening = screen_table(rules, read.table, AS_OF, read=read)
    codes = list(read.table.columns.text["credit_code"].values)
    mc = screening.measures["equity_match"]
    status = {code: STATUSES[s] for code, s in zip(codes, mc.status)}
    # 甲: 30 + min(80, 50) + 20 = 100, capped at 80; 乙: no registered investor; 丙: unknown whether registered;
    # 丁: on the dishonesty list
    assert status == {"91331003307526488Q": "eligible", "91331002MA2K1D6U3T": "ineligible",
                      "91331082MA28C7LQ93": "undetermined", "91330108MA2CX5N28P": "ineligible"}
    a = codes.index("91331003307526488Q")
    assert mc.amount[a] == pytest.approx(80)
    assert mc.potential[codes.index("91331082MA28C7LQ93")] == pytest.approx(10)

    summary = render_screen_summary(screening.summary(), screening)
    row = next(line for line in summary.splitlines() if line.startswith("股权融资配套奖励"))
    assert row.split()[1:] == ["1", "2", "1", "0", "80.00"]
    results = tmp_path / "results.xlsx"
    write_screen_workbook(results, screening)
    sheet = list(openpyxl.load_workbook(results)["预算"].iter_rows(values_only=True))
    assert ("股权融资配套奖励", "股权投资", "金融办", 1, 80, 80, None, None) in sheet
    assert any(r[1] == "股权投资" and r[5] == 80 for r in sheet[sheet.index(("按预算类别",) + (None,) * 7):])

    budget = budget_of(screening)
    figures = budget.figures()
    assert figures["by_kind"]["equity"] == 80.0
    assert {"cash", "tax", "contingent", "contingent_parts", "non_cash"} <= set(figures["by_kind"])
    assert figures["by_department"]["金融办"] == {"equity": 80.0, "cash": 0.0, "tax": 0.0, "contingent": 0.0,
                                                 "total": 80.0}
    assert figures["by_district"]["黄岩区"]["equity"] == 80.0
    assert figures["by_district"]["临海市"]["equity"] == 0.0
    assert figures["range"]["low"]["equity"] == 80.0 and figures["range"]["high"]["equity"] == 90.0
    assert sum(v["equity"] for v in figures["by_industry"].values()) == 80.0
    assert figures["by_measure"]["equity_match"]["granted"] == 80.0

    text = render_budget(figures, rules, "zh")
    assert "股权投资: 80.00 万元" in text
    assert "股权投资: 80.00 – 90.00 万元" in text
    assert "Equity investment: 80.00 万元" in render_budget(figures, rules, "en")

    book = tmp_path / "budget.xlsx"
    write_budget_workbook(book, budget, "zh")
    wb = openpyxl.load_workbook(book)
    by_kind = {row[0]: row[1:] for row in wb["按类别"].iter_rows(min_row=2, values_only=True)}
    assert by_kind["股权投资"][:3] == (80, 80, 90)
    department = list(wb["按部门"].iter_rows(values_only=True))
    assert department[0][-2:] == ("股权投资", "合计")
    assert ("金融办", 0, 0, 0, 80, 80) in department

    # the check object of one firm totals the new kind beside the others
    assert check_object_totals(screening, rules) == {"cash": 0.0, "tax": 0.0, "contingent": 0.0, "equity": 80.0}


def check_object_totals(screening, rules) -> dict:
    firm = {"credit_code": "91331003307526488Q", "name": "甲科技", "district": "黄岩区", "dishonest": False,
            "equity_rounds": [{"investor": "甲基金", "qualified_investor": True, "invested": 300},
                              {"investor": "乙基金", "qualified_investor": True, "invested": 800},
                              {"investor": "丙基金", "qualified_investor": True, "invested": 200}]}
    obj = check(firm, AS_OF, rules=rules)
    entry = next(r for r in obj["results"] if r["measure"] == "equity_match")
    assert entry["status"] == "eligible" and entry["amount"] == 80.0 and entry["budget_kind"] == "equity"
    return obj["totals"]


def test_the_web_budget_page_shows_a_new_kind(extended, tmp_path, monkeypatch, make_app):
    # the web app serves the rules of RULES_DIR: point it at the extended copy
    monkeypatch.setattr(rules_module, "RULES_DIR", extended)
    default_rules.cache_clear()
    try:
        from webapp import db

        app = make_app()
        s = db.new_session(app)
        db.add_user(s, "caizhengju", "extend test password", "finance")
        s.close()
        client = app.test_client()

        def token(path):
            page = client.get(path).data.decode()
            return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)

        client.post("/login", data={"csrf_token": token("/login"), "username": "caizhengju",
                                    "password": "extend test password"})
        book = _workbook(tmp_path / "list.xlsx", default_rules()).read_bytes()
        uploaded = client.post("/budget/upload", content_type="multipart/form-data",
                               data={"csrf_token": token("/budget/"), "as_of": AS_OF.isoformat(),
                                     "list": (io.BytesIO(book), "名单.xlsx")})
        assert uploaded.status_code == 302, uploaded.data[:500]
        page = client.get(uploaded.location).data.decode()
        assert re.search(r'<span>股权投资</span><strong data-kind="equity">80.00</strong>', page)
        assert "股权投资 80.00–90.00" in page
        district = re.search(r'<table id="by-district">.*?</table>', page, re.S).group(0)
        assert "<th>股权投资</th>" in district and "<td>80.00</td>" in district
    finally:
        default_rules.cache_clear()


def test_the_shipped_rules_total_the_three_amount_kinds():
    rules = load_rules(RULES)
    assert rules.amount_kinds() == ("cash", "tax", "contingent")
    assert rules.split_kinds() == ("contingent",) and rules.counted_kinds() == ("non_cash",)


# -- functions refused at load, with file and line ---------------------------------------------------------------------

def _line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def _refused(rules_dir: Path, functions: str, match: str) -> RulesError:
    path = rules_dir / "functions.yaml"
    path.write_text(_with_shipped(functions), encoding="utf-8")
    with pytest.raises(RulesError, match=match) as info:
        load_rules(rules_dir)
    assert Path(info.value.file).name in ("functions.yaml", "equity_match.yaml"), str(info.value)
    assert info.value.line is not None, str(info.value)
    return info.value


def test_a_function_that_calls_itself_is_refused(extended):
    exc = _refused(extended, FUNCTIONS + """  twice:
    params: [x]
    expr: "again(x) * 2"
    zh: 两倍
    en: Twice
  again:
    params: [x]
    expr: "twice(x)"
    zh: 再来
    en: Again
""", r"function twice calls itself \(twice → again → twice\)")
    assert Path(exc.file).name == "functions.yaml" and exc.line == 7  # the line of `twice:`


def test_a_function_name_outside_its_parameters_is_refused(extended):
    exc = _refused(extended, FUNCTIONS.replace("min(x * rate, cap)", "min(x * rate, employes)"),
                   "'employes' is not one of its parameters .*, nor a field, derived value or parameter")
    assert Path(exc.file).name == "functions.yaml" and exc.line == _line(FUNCTIONS, "expr:")


def test_a_function_that_reads_a_firm_field_cannot_serve_a_list_item(extended):
    # capped_share reading the firm's employees is a valid function, but an item of a list has no employees
    exc = _refused(extended, FUNCTIONS.replace("min(x * rate, cap)", "min(x * rate, cap, employees)"),
                   r"items amount 'match': unknown name 'employees' \(not a item 'equity_round' field")
    assert Path(exc.file).name == "equity_match.yaml" and exc.line == _line(MEASURE, "match:")


def test_a_function_parameter_may_not_hide_a_field(extended):
    exc = _refused(extended, FUNCTIONS.replace("[x, rate, cap]", "[x, rate, employees]").replace(
        "min(x * rate, cap)", "min(x * rate, employees)"), "parameter employees would hide the field")
    assert Path(exc.file).name == "functions.yaml" and exc.line == _line(FUNCTIONS, "params:")


def test_a_function_reading_firm_fields_is_type_checked_once_the_rules_are_loaded(extended):
    exc = _refused(extended, FUNCTIONS.replace("min(x * rate, cap)", "min(x * rate, cap, industry_code)"),
                   r"function capped_share: .*min\(\) takes numbers")
    assert Path(exc.file).name == "functions.yaml" and exc.line == _line(FUNCTIONS, "capped_share:")


def test_a_function_reading_firm_fields_and_parameters_is_expanded_in_any_measure(extended):
    # the shipped tax(x) reads employees, total_assets, hnte_valid and the cit.* parameters (dated by fiscal year):
    # a new measure calls it with the income alone
    (extended / "measures" / "half_tax_refund.yaml").write_text("""id: half_tax_refund
order: 13
name: {zh: 所得税减半返还(测试), en: Half the income tax refunded (test)}
jurisdiction: national
window: {from: 2024-01-01}
department: {zh: 税务局, en: Tax Bureau}
budget_kind: tax
citations:
  - {source: 股权融资配套办法, clause: 三}
eligible_if: taxable_income > 0
amount: tax(taxable_income) * 0.5
""", encoding="utf-8")
    rules = load_rules(extended)

    def amount(firm, as_of=AS_OF):
        result = check({"name": "测试企业", "taxable_income": 200, **firm}, as_of, {}, rules)
        got = next(r for r in result["results"] if r["measure"] == "half_tax_refund")
        return got["amount"], got["missing"]

    assert amount({"employees": 50, "total_assets": 1000}) == (5.0, [])  # FY2024 small: 5% x 200 / 2
    assert amount({"employees": 50, "total_assets": 1000}, dt.date(2024, 6, 30)) == (5.0, [])  # FY2023: 5%
    assert amount({"employees": 400, "total_assets": 1000}) == (25.0, [])  # not small: 25% x 200 / 2
    assert amount({"employees": 400, "hnte_valid_until": "2026-12-31"}) == (15.0, [])  # HNTE: 15% x 200 / 2
    assert amount({"total_assets": 1000}) == (None, ["employees"])



def test_a_call_whose_result_has_the_wrong_type_is_refused_at_the_measure(extended):
    exc = _refused(extended, FUNCTIONS.replace("min(x * rate, cap)", "x * rate > cap"),
                   r"items amount 'match': .*invested \* equity_match.rate.* is a bool, not a number")
    assert Path(exc.file).name == "equity_match.yaml" and exc.line == _line(MEASURE, "match:")


def test_a_parameter_typed_as_text_cannot_take_part_in_arithmetic(extended):
    exc = _refused(extended, FUNCTIONS.replace("[x, rate, cap]", "{x: num, rate: str, cap: num}"),
                   r"function capped_share: .*arithmetic on a num and a str")
    assert Path(exc.file).name == "functions.yaml" and exc.line == _line(FUNCTIONS, "expr:")


def test_a_call_with_the_wrong_number_of_arguments_is_refused_at_the_measure(extended):
    path = extended / "measures" / "equity_match.yaml"
    path.write_text(MEASURE.replace("capped_share(items.match, 1, equity_match.cap)",
                                    "capped_share(items.match, equity_match.cap)"), encoding="utf-8")
    with pytest.raises(RulesError, match=r"amount: capped_share\(\) takes 3 arguments \(x, rate, cap\)") as info:
        load_rules(extended)
    assert info.value.file == str(path) and info.value.line == _line(MEASURE, "amount: capped_share")


def test_a_function_may_not_shadow_a_built_in(extended):
    _refused(extended, FUNCTIONS.replace("capped_share:", "min:"), "function 'min': a built-in function")


def test_a_budget_kind_trait_must_be_true_or_false(extended):
    path = extended / "budget_kinds.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("totalled: true}\n", "totalled: yes please}\n", 1),
                    encoding="utf-8")
    with pytest.raises(RulesError, match="budget kind cash: totalled must be true or false, got 'yes please'") as info:
        load_rules(extended)
    assert info.value.file == str(path) and info.value.line == _line(path.read_text(encoding="utf-8"), "cash:")


def test_a_kind_split_by_parts_must_be_totalled(extended):
    path = extended / "budget_kinds.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("Equity investment, totalled: true}",
                                                             "Equity investment, parts: true}"), encoding="utf-8")
    with pytest.raises(RulesError, match="budget kind equity: parts: true needs totalled: true"):
        load_rules(extended)

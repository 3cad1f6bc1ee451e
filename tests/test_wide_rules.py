"""A field dictionary far wider than today's: 250 firm fields and 15 list fields load, evaluate, and every missing
field is named, also those whose bit lies beyond the 64th, 128th and 192nd (issue 10). The rule set is generated
from a copy of rules/; the firms are checked one by one and screened as a workbook, through the public paths."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import openpyxl
import pytest

from engine.explain.explainer import missing_names
from engine.inputs.firm import parse_firm
from engine.inputs.lists import read_list
from engine.inputs.table import from_records
from engine.outputs.screen import screen_table
from engine.outputs.screen_workbook import write_screen_workbook
from engine.rules.loader import load_rules
from engine.service import check
from listfiles import sample_firms

RULES = Path(__file__).resolve().parents[1] / "rules"
AS_OF = dt.date(2026, 11, 22)
FIRM_FIELDS, LIST_FIELDS = 250, 15  # wide_165 and wide_list_8 exist beside the fields and lists of rules/
CITATION = "  - {source: 000_3c6f6d8a34c0285f.txt, clause: （七）1}\n"
HEAD = ("order: {order}\nname: {{zh: 宽{id}, en: Wide {id}}}\njurisdiction: taizhou\nwindow: {{from: 2020-01-01, tag: I}}\n"
        "department: {{zh: 科技局, en: Science and Technology Bureau}}\nbudget_kind: cash\ncitations:\n")

# the measures: fields beyond the 64th (wide_030), 128th (wide_100) and 192nd bit (wide_160, wide_170, the last list)
MEASURES = {
    "wide_high": """
eligible_if:
  all:
    - wide_030 >= 10
    - wide_100 >= 10
    - wide_ratio >= 0.5
amount: wide_030 + wide_100
""",
    "wide_items": """
items:
  of: wide_list_8
  label: {zh: 有效明细, en: A valid item}
  counts_if:
    all:
      - approved
      - amount > 0
  amounts:
    part: amount
eligible_if:
  all:
    - not dishonest
    - items.counted
amount: items.part
""",
    "wide_requires": """
eligible_if:
  all:
    - requires: wide_high
    - wide_170 >= 1
""",
    # more fields than one mask word holds in one measure: a list's masks are found the long way (evaluator.py)
    "wide_many": "eligible_if:\n  all:\n" + "".join(f"    - wide_{k:03d} >= 1\n" for k in range(1, 71)),
}

WIDE_NAMED = 170  # the measures above name wide_170: at least that many wide fields, whatever the shipped rules hold

def _insert(path: Path, before: str, text: str):
    content = path.read_text(encoding="utf-8")
    assert content.count(before) == 1
    path.write_text(content.replace(before, text + before), encoding="utf-8")


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """rules/ with firm fields wide_001… up to 200 firm fields, lists wide_list_1… up to 15, and three measures."""
    target = tmp_path_factory.mktemp("wide") / "rules"
    shutil.copytree(RULES, target)
    base = load_rules(RULES).fields.fields
    plain = sum(spec.type != "list" for spec in base.values())
    lists = sum(spec.type == "list" for spec in base.values())
    plain_fields = "".join(f"  wide_{k:03d}: {{zh: 宽字段{k}, en: Wide field {k}, section: finance, type: money}}\n"
                           for k in range(1, max(FIRM_FIELDS - plain, WIDE_NAMED) + 1))
    fields, items = "", ""
    for k in range(1, LIST_FIELDS - lists + 1):
        fields += f"  wide_list_{k}: {{zh: 宽明细{k}, en: Wide list {k}, section: loans, type: list, item: wide_item_{k}}}\n"
        items += (f"  wide_item_{k}:\n    zh: 宽明细项{k}\n    en: Wide item {k}\n    fields:\n"
                  f"      amount: {{zh: 金额{k}(万元), en: Amount {k}, type: money, checks: {{min: 0}}}}\n"
                  f"      approved: {{zh: 已批准{k}, en: Approved {k}, type: yesno}}\n"
                  f"      ref: {{zh: 编号{k}, en: Reference {k}, type: text}}\n")
    # after loans and voucher services, before the lists MEASURES-2 adds, so the bits stay where they were
    _insert(target / "fields.yaml", "  rd_platforms:\n", plain_fields)
    _insert(target / "fields.yaml", "\nitems:\n", fields)
    _insert(target / "fields.yaml", "\n# Derived values", items)
    _insert(target / "fields.yaml", "  age_years:", "  wide_ratio: {zh: 宽比例, en: Wide ratio, ratio: [wide_100, wide_165]}\n")
    for order, (mid, body) in enumerate(MEASURES.items(), start=12):
        (target / "measures" / f"{mid}.yaml").write_text(f"id: {mid}\n" + HEAD.format(order=order, id=mid) + CITATION + body,
                                                          encoding="utf-8")
    return load_rules(target)


CODES = [f["credit_code"] for f in sample_firms()]  # valid credit codes


def _firm(k: int, **values) -> dict:
    firm = {"credit_code": CODES[k], "name": f"宽企业{k}", "district": "椒江区", "dishonest": False,
            **{f"wide_{j:03d}": "1" for j in range(1, 71)}, "wide_030": "20", "wide_100": "30", "wide_165": "40", "wide_170": "2",
            "wide_list_8": [{"amount": "3", "approved": True, "ref": "ok"}]}
    for name, value in values.items():
        if value is None:
            firm.pop(name, None)
        else:
            firm[name] = value
    return firm


# every firm: what it lacks, and per measure (status, amount, missing, fields whose zero made the status undetermined)
CASES = [
    (_firm(1), {
        "wide_high": ("eligible", 50.0, [], []),
        "wide_items": ("eligible", 3.0, [], []),
        "wide_requires": ("eligible", None, [], [])}),
    (_firm(2, wide_030=None, wide_100=None), {
        "wide_high": ("undetermined", None, ["wide_030", "wide_100"], []),
        "wide_requires": ("undetermined", None, ["wide_030", "wide_100"], [])}),
    (_firm(3, wide_165="0", wide_170=None), {
        "wide_high": ("undetermined", None, ["wide_165"], ["wide_165"]),
        "wide_requires": ("undetermined", None, ["wide_165", "wide_170"], ["wide_165"])}),
    (_firm(4, wide_030="5", wide_170=None), {
        "wide_high": ("ineligible", None, [], []),
        "wide_requires": ("ineligible", None, [], [])}),
    (_firm(5, wide_list_8=[{"amount": "3", "ref": "x"}, {"approved": True, "ref": "y"}]), {
        "wide_items": ("undetermined", None, ["wide_list_8.amount", "wide_list_8.approved"], [])}),
    (_firm(6, wide_list_8=[{"amount": "4", "approved": True}, {"approved": True}]), {
        "wide_items": ("eligible", 4.0, ["wide_list_8.amount"], [])}),
    (_firm(7, wide_list_8=None), {
        "wide_items": ("undetermined", None, ["wide_list_8"], [])}),
]


def test_the_generated_rule_set_is_as_wide_as_the_issue_asks(wide):
    specs = wide.fields.fields.values()
    assert sum(spec.type != "list" for spec in specs) >= FIRM_FIELDS  # more once the shipped rules pass 200 - 170
    assert sum(spec.type == "list" for spec in specs) == LIST_FIELDS
    bits = wide.bits
    assert 64 <= bits["wide_030"] < 128 <= bits["wide_100"] < 192 <= bits["wide_160"] < bits["wide_list_8.ref"]
    assert {"wide_high", "wide_items", "wide_requires", "wide_many"} <= set(wide.measures)


@pytest.mark.parametrize("firm, expected", CASES, ids=[f["name"] for f, _ in CASES])
def test_one_firm_names_exactly_the_high_fields_it_lacks(wide, firm, expected):
    results = {r["measure"]: r for r in check(firm, AS_OF, rules=wide)["results"]}
    for mid, (status, amount, missing, zero) in expected.items():
        r = results[mid]
        assert (r["status"], r["amount"], r["missing"], sorted(r["missing_reasons"])) == (status, amount, missing, zero), mid
    # the measures of rules/ still run beside the wide ones, and name the fields of their own that the firm lacks
    hnte = results["hnte"]
    assert hnte["status"] == "undetermined" and "revenue" in hnte["missing"]
    assert not [name for name in hnte["missing"] if name.startswith("wide_")]


def _workbook(path: Path, rules, firms: list[dict]) -> Path:
    specs = {n: s for n, s in rules.fields.fields.items() if s.type != "list"}
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "企业名单"
    ws.append([s.zh for s in specs.values()])
    for firm in firms:
        ws.append([firm.get(n) for n in specs])
    for name, spec in rules.fields.fields.items():
        if spec.type != "list" or name != "wide_list_8":
            continue
        item_specs = rules.item_fields(spec.item)
        sheet = wb.create_sheet(spec.zh)
        sheet.append([specs["credit_code"].zh] + [s.zh for s in item_specs.values()])
        for firm in firms:
            for item in firm.get(name) or []:
                sheet.append([firm["credit_code"]] + [item.get(n) for n in item_specs])
    wb.save(path)
    return path


def test_a_screened_workbook_names_the_high_fields_and_agrees_with_one_firm(wide, tmp_path):
    firms = [dict(f, wide_list_8=f.get("wide_list_8") or []) for f, _ in CASES[:-1]]  # the sheet gives the list
    for firm in firms:
        firm["wide_list_8"] = [{k: (v if not isinstance(v, bool) else ("是" if v else "否")) for k, v in item.items()}
                               for item in firm["wide_list_8"]]
    read = read_list(_workbook(tmp_path / "wide.xlsx", wide, firms), wide, AS_OF)
    assert read.rejections == []
    s = screen_table(wide, read.table, AS_OF, read=read, chunk_rows=2)
    for i, (firm, expected) in enumerate(CASES[:-1]):
        for mid, (status, _, missing, _) in expected.items():
            mc = s.measures[mid]
            assert ("eligible", "ineligible", "undetermined", "not_in_force")[mc.status[i]] == status, (mid, i)
    out = tmp_path / "result.xlsx"
    write_screen_workbook(out, s, "en")
    pending = openpyxl.load_workbook(out, read_only=True)["Missing data"]
    named = {row[0]: set(row[5].split(", ")) for row in pending.iter_rows(min_row=2, values_only=True)}
    wide_labels = {wide.label(name, "en"): name for name in wide.bits if name.startswith("wide_")}
    wide_named = {code: sorted(wide_labels[x] for x in labels if x in wide_labels) for code, labels in named.items()}
    assert wide_named == {CODES[1]: [], CODES[2]: ["wide_030", "wide_100"], CODES[3]: ["wide_165", "wide_170"],
                          CODES[4]: [], CODES[5]: ["wide_list_8.amount", "wide_list_8.approved"], CODES[6]: []}


def test_a_list_names_the_same_missing_fields_as_one_firm_in_every_measure(wide):
    """A list is screened statuses first, then each measure again on the rows that lack something: the fields it
    names per firm are those the firm's own check names, also for a measure reading more than 64 fields."""
    firms = [f for f, _ in CASES] + [_firm(8, **{f"wide_{k:03d}": None for k in range(1, 71)})]
    s = screen_table(wide, from_records(wide, [parse_firm(f, wide.fields, AS_OF) for f in firms]), AS_OF, chunk_rows=3)
    for i, firm in enumerate(firms):
        for r in check(firm, AS_OF, rules=wide)["results"]:
            mc = s.measures[r["measure"]]
            assert sorted(missing_names(wide, mc.missing[i])) == sorted(r["missing"]), (r["measure"], i)
    many = next(r for r in check(firms[-1], AS_OF, rules=wide)["results"] if r["measure"] == "wide_many")
    assert many["status"] == "undetermined" and len(many["missing"]) == 70

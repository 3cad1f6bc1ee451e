"""The budget workbook for people who will present it: a summary, tables by measure, department, district, industry
and kind, native Excel charts, the pools, the assumptions, and with a scenario the baseline/scenario/delta sheet and
the firms that gain or lose each measure. Written with openpyxl (for its charts) to a temporary file, then renamed."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.chart import BarChart, PieChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from engine.outputs.budget import Budget, counted_once_text
from engine.common.tempfiles import atomic_path

TEXT = {
    "zh": {
        "provenance": "依据说明(非官方原文数值)",
        "summary": "汇总", "by_measure": "按措施", "by_department": "按部门", "by_district": "按区县",
        "by_industry": "按行业", "by_kind": "按类别", "pools": "资金池", "assumptions": "假设", "scenario": "情景对比",
        "changes": "变化企业", "measure": "政策措施", "kind": "预算类别", "department": "部门", "district": "所属区县",
        "industry": "行业门类", "firms": "企业数", "eligible": "符合企业数", "undetermined": "需补充信息企业数",
        "amount_unknown": "金额未知企业数", "requested": "申请金额(万元)", "take_up": "申领率", "expected": "预计金额(万元)",
        "granted": "核定金额(万元)", "pool": "资金池(万元)", "factor": "核定比例", "left": "结余(万元)",
        "as_of": "评估日期", "policy_year": "政策年度", "version": "规则版本", "screened": "已筛查企业数",
        "rejected": "拒绝行数", "low": "低限(需补充信息企业不计)", "high": "高限(需补充信息企业按可得金额计)",
        "depends": "区间涉及企业数", "unknown_potential": "可得金额未知(次数)", "param": "参数名", "name": "名称",
        "value": "取值", "overridden": "假设(--set)", "yes": "是", "no": "否", "metric": "指标", "baseline": "基准",
        "scenario_col": "情景", "delta": "差额", "change": "变化", "gain": "新增符合", "lose": "不再符合",
        "credit_code": "统一社会信用代码", "firm": "企业名称", "total": "合计", "rows_read": "读取行数",
        "firms_screened": "已筛查企业数", "rows_rejected": "拒绝行数", "requested_total": "申请",
        "parts_of": "{0}组成", "range": "区间", "firms_undetermined": "区间涉及企业数", "potential_unknown": "可得金额未知",
        "firms_of": "{0}(企业数)", "chart_measure": "各措施核定金额(万元)",
        "chart_department": "各部门金额(万元)", "chart_kind": "各类别金额(万元)",
        "note": "税收优惠为减少的税收收入,不是财政支出;风险补偿仅在发生损失时支付,风险准备为预计值。",
        "counted_once_firms": "只计一次的企业数({0})", "counted_once_removed": "合计中扣除的重复计算(万元)",
        "tax_amounts": "税收优惠金额", "counted_once": "只计一次",
    },
    "en": {
        "provenance": "Provenance (figures not read in an official text)",
        "summary": "Summary", "by_measure": "By measure", "by_department": "By department", "by_district": "By district",
        "by_industry": "By industry", "by_kind": "By kind", "pools": "Pools", "assumptions": "Assumptions",
        "scenario": "Scenario", "changes": "Firms changing", "measure": "Measure", "kind": "Budget kind",
        "department": "Department", "district": "District", "industry": "Industry section", "firms": "Firms",
        "eligible": "Eligible", "undetermined": "Undetermined", "amount_unknown": "Amount unknown",
        "requested": "Requested (万元)", "take_up": "Take-up", "expected": "Expected (万元)", "granted": "Granted (万元)",
        "pool": "Pool (万元)", "factor": "Granted share", "left": "Left (万元)", "as_of": "As of",
        "policy_year": "Policy year", "version": "Rules version", "screened": "Firms screened",
        "rejected": "Rows rejected", "low": "Low (undetermined firms get nothing)",
        "high": "High (undetermined firms get their potential)", "depends": "Firms the range depends on",
        "unknown_potential": "Potential amounts unknown", "param": "Parameter", "name": "Name", "value": "Value",
        "overridden": "What-if (--set)", "yes": "yes", "no": "no", "metric": "Figure", "baseline": "Baseline",
        "scenario_col": "Scenario", "delta": "Delta", "change": "Change", "gain": "gains", "lose": "loses",
        "credit_code": "Credit code", "firm": "Firm", "total": "Total", "rows_read": "Rows read",
        "firms_screened": "Firms screened", "rows_rejected": "Rows rejected", "requested_total": "Requested",
        "parts_of": "{0} parts", "range": "Range", "firms_undetermined": "Firms undetermined",
        "potential_unknown": "Potential unknown", "firms_of": "{0} (firms)", "chart_measure": "Granted by measure (万元)",
        "chart_department": "Amount by department (万元)", "chart_kind": "Amount by kind (万元)",
        "note": "Tax expenditure is revenue forgone, not an outlay; risk compensation is paid only on a loss, "
                "and the provision is an expectation.",
        "counted_once_firms": "Firms counted once ({0})", "counted_once_removed": "Left out of the totals (万元)",
        "tax_amounts": "Tax amounts", "counted_once": "Counted once",
    },
}
HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
MONEY = "#,##0.00"


def _sheet(wb: Workbook, title: str, headers: list[str], widths: list[int]):
    ws = wb.create_sheet(title)
    ws.append(headers)
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width
        cell = ws.cell(row=1, column=col)
        cell.font, cell.fill = Font(bold=True), HEAD_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    ws.freeze_panes = "B2"
    return ws


def _append(ws, row: list, money_cols: tuple = ()):
    ws.append(row)
    r = ws.max_row
    for col, value in enumerate(row, start=1):
        cell = ws.cell(row=r, column=col)
        if isinstance(value, str):
            cell.data_type = "s"  # whatever the text begins with, it stays text
        if col in money_cols:
            cell.number_format = MONEY


def write_budget_workbook(path: str | Path, budget: Budget, lang: str = "zh", comparison: dict | None = None) -> None:
    t = TEXT[lang]
    rules = budget.rules
    # with a scenario, the tables show the scenario; the scenario sheet sets it against the baseline
    figures = budget.figures() if comparison is None else comparison["scenario"]
    wb = Workbook()
    wb.remove(wb.active)

    ws = _sheet(wb, t["summary"], [t["metric"], t["value"]], [44, 22])
    for label, value in ((t["as_of"], figures["as_of"]), (t["policy_year"], figures["policy_year"]),
                         (t["version"], figures["rules_version"]), (t["screened"], figures["firms_screened"]),
                         (t["rejected"], figures["rows_rejected"])):
        _append(ws, [label, value])
    kinds = rules.amount_kinds()
    for kind in kinds:
        _append(ws, [rules.budget_kinds[kind][lang], figures["by_kind"][kind]], (2,))
    for kind in rules.split_kinds():
        for part, value in figures["by_kind"][f"{kind}_parts"].items():
            label = rules.part_label(part, lang)
            _append(ws, [f"  {t['parts_of'].format(rules.budget_kinds[kind][lang])}: {label}", value], (2,))
    for kind in rules.counted_kinds():
        _append(ws, [t["firms_of"].format(rules.budget_kinds[kind][lang]), figures["by_kind"][kind]["firms"]])
    rng = figures["range"]
    for key in ("low", "high"):
        for kind in kinds:
            _append(ws, [f"{t[key]} · {rules.budget_kinds[kind][lang]}", rng[key][kind]], (2,))
    _append(ws, [t["depends"], rng["firms_undetermined"]])
    _append(ws, [t["unknown_potential"], rng["potential_unknown"]])
    for c in figures.get("counted_once") or []:
        _append(ws, [t["counted_once_firms"].format(rules.measures[c["measure"]].name[lang]), c["firms"]])
        _append(ws, [t["counted_once_removed"], c["removed"]], (2,))
        _append(ws, [counted_once_text(c, rules.measures, lang)])
    _append(ws, [t["note"]])
    _append(ws, [figures["assumptions"]["tax"][lang]])

    measures = rules.measure_list()
    ws = _sheet(wb, t["by_measure"], [t["measure"], t["kind"], t["department"], t["eligible"], t["undetermined"],
                                      t["amount_unknown"], t["requested"], t["take_up"], t["expected"],
                                      t["granted"], t["provenance"]], [34, 14, 26, 10, 12, 12, 16, 8, 16, 16, 80])
    for m in measures:
        e = figures["by_measure"][m.id]
        _append(ws, [m.name[lang], rules.budget_kinds[m.budget_kind][lang], m.department[lang], e["eligible"],
                     e["undetermined"], e["amount_unknown"], e["requested"], e["take_up"], e["expected"],
                     e["granted"], e["provenance"][lang]], (7, 9, 10))
    chart = BarChart()
    chart.type, chart.title, chart.y_axis.title = "bar", t["chart_measure"], "万元"
    chart.add_data(Reference(ws, min_col=10, min_row=1, max_row=len(measures) + 1), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=len(measures) + 1))
    chart.height, chart.width = 10, 22
    ws.add_chart(chart, "M2")

    departments = figures["by_department"]
    money = tuple(range(2, len(kinds) + 3))
    ws = _sheet(wb, t["by_department"], [t["department"]] + [rules.budget_kinds[k][lang] for k in kinds]
                + [t["total"]], [34] + [16] * (len(kinds) + 1))
    for dept, sums in departments.items():
        _append(ws, [dept] + [sums[k] for k in kinds] + [sums["total"]], money)
    pie = PieChart()
    pie.title = t["chart_department"]
    pie.add_data(Reference(ws, min_col=len(kinds) + 2, min_row=1, max_row=len(departments) + 1), titles_from_data=True)
    pie.set_categories(Reference(ws, min_col=1, min_row=2, max_row=len(departments) + 1))
    ws.add_chart(pie, f"{get_column_letter(len(kinds) + 4)}2")

    for key, label, width in (("by_district", t["district"], 20), ("by_industry", t["industry"], 12)):
        ws = _sheet(wb, t[key], [label, t["firms"]] + [rules.budget_kinds[k][lang] for k in kinds],
                    [width, 10] + [16] * len(kinds))
        for group, sums in figures[key].items():
            _append(ws, [group, sums["firms"]] + [sums[k] for k in kinds], tuple(range(3, len(kinds) + 3)))

    ws = _sheet(wb, t["by_kind"], [t["kind"], t["granted"], t["low"], t["high"]], [30, 16, 22, 22])
    for kind in kinds:
        _append(ws, [rules.budget_kinds[kind][lang], figures["by_kind"][kind], rng["low"][kind], rng["high"][kind]],
                (2, 3, 4))
    for kind in rules.counted_kinds():
        _append(ws, [rules.budget_kinds[kind][lang], figures["by_kind"][kind]["firms"]])
    kind_chart = BarChart()
    kind_chart.title = t["chart_kind"]
    kind_chart.add_data(Reference(ws, min_col=2, min_row=1, max_row=len(kinds) + 1), titles_from_data=True)
    kind_chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=len(kinds) + 1))
    ws.add_chart(kind_chart, "F2")

    ws = _sheet(wb, t["pools"], [t["measure"], t["pool"], t["requested"], t["granted"], t["factor"], t["left"]],
                [34, 14, 16, 16, 12, 14])
    for mid, p in figures["pools"].items():
        _append(ws, [rules.measures[mid].name[lang], p["pool"], p["requested"], p["granted"], p["factor"], p["left"]],
                (2, 3, 4, 6))

    a = figures["assumptions"]
    ws = _sheet(wb, t["assumptions"], [t["param"], t["name"], t["value"], t["overridden"]], [44, 40, 40, 12])
    _append(ws, [t["as_of"], "", a["as_of"], ""])
    _append(ws, [t["version"], "", a["rules_version"], ""])
    _append(ws, [t["tax_amounts"], "", a["tax"][lang], ""])
    for c in figures.get("counted_once") or []:
        _append(ws, [t["counted_once"], "", counted_once_text(c, rules.measures, lang), ""])
    for name, value in a["parameters"].items():
        p = rules.params[name]
        shown_value = value if isinstance(value, (int, float)) else str(value)
        _append(ws, [name, getattr(p, lang), shown_value, t["yes"] if name in a["overrides"] else t["no"]])

    if comparison is not None:
        ws = _sheet(wb, t["scenario"], [t["metric"], t["baseline"], t["scenario_col"], t["delta"]], [60, 16, 16, 16])
        for label, b, s, d in _flatten(comparison, rules, lang):
            _append(ws, [label, b, s, d], (2, 3, 4))
        ws = _sheet(wb, t["changes"], [t["measure"], t["change"], t["credit_code"], t["firm"]], [34, 12, 22, 34])
        for mid, c in comparison["changes"].items():
            for key, word in (("gained_firms", t["gain"]), ("lost_firms", t["lose"])):
                for firm in c[key]:
                    _append(ws, [rules.measures[mid].name[lang], word, firm["credit_code"], firm["name"]])

    with atomic_path(path) as tmp:
        wb.save(tmp)


def _flatten(comparison: dict, rules, lang: str):
    """Rows (label, baseline, scenario, delta) for every number the delta has, labelled in words."""
    base, scen = comparison["baseline"], comparison["scenario"]
    t = TEXT[lang]

    split = {f"{k}_parts": k for k in rules.split_kinds()}
    part_names = {p for m in rules.measure_list() for p in m.part_labels}

    def word(key) -> str:
        if key in rules.measures:
            return rules.measures[key].name[lang]
        if key in rules.budget_kinds:
            return rules.budget_kinds[key][lang]
        if key in split:
            return t["parts_of"].format(rules.budget_kinds[split[key]][lang])
        if key in part_names:
            return rules.part_label(key, lang)
        return t.get(key, str(key))

    def walk(d, b, s, prefix):
        for key, value in d.items():
            label = f"{prefix} · {word(key)}" if prefix else word(key)
            if isinstance(value, dict):
                yield from walk(value, (b or {}).get(key) or {}, (s or {}).get(key) or {}, label)
            else:
                yield label, (b or {}).get(key), (s or {}).get(key), value

    yield from walk(comparison["delta"], base, scen, "")

"""The screening workbook (ARCHITECTURE.md): 汇总, 企业结果, one sheet per measure, 待补充信息, 错误行, 预算, 参数.

Written with XlsxWriter in constant-memory mode (fastest of the candidates measured, see README), into a temporary
file renamed over the target at the end, so a failed run never leaves a half-written workbook where a good one was.
Every value that came from the input is written as text: a name beginning with "=" stays text. The sheets with a row
per firm (企业结果, one per measure, 待补充信息) have their data rows added from whole columns once XlsxWriter has
closed the workbook (engine/outputs/xlsx_columns.py): the same cells, written in seconds rather than minutes for
100,000 firms; tests/test_screen_workbook_columns.py compares them with XlsxWriter writing every cell.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import xlsxwriter

from engine.explain.provenance import measure_note, parameter_tag
from engine.evaluate.evaluator import ELIGIBLE, STATUSES, UNDETERMINED
from engine.explain.explainer import missing_names, parameters_used
from engine.common.money import cents_column, round_amount
from engine.outputs.near_miss import near_misses
from engine.outputs.screen import Screening
from engine.common.tempfiles import atomic_path, xlsxwriter_options
from engine.outputs.xlsx_columns import add_rows

TEXT = {
    "zh": {
        "status": {"eligible": "符合", "ineligible": "不符合", "undetermined": "需补充信息", "not_in_force": "不适用"},
        "summary": "汇总", "results": "企业结果", "pending": "待补充信息", "errors": "错误行", "budget": "预算",
        "params": "参数", "credit_code": "统一社会信用代码", "name": "企业名称", "district": "所属区县",
        "row": "原始行号", "amount": "金额(万元)", "granted": "资金池核定金额(万元)", "measure": "政策措施",
        "department": "部门", "kind": "预算类别", "requested": "申请金额(万元)", "pool": "资金池(万元)",
        "factor": "核定比例", "left": "资金池结余(万元)", "missing": "缺少的信息", "measures": "需补充信息的措施",
        "potential": "如符合可得(万元)", "sheet": "工作表", "column": "列", "field": "字段", "value": "值",
        "reason": "原因", "as_of": "评估日期", "version": "规则版本", "file": "文件", "rows_read": "读取行数",
        "screened": "已筛查企业数", "rejected": "拒绝行数", "blank": "空行(已跳过)", "param": "参数名",
        "param_zh": "中文名称", "param_en": "英文名称", "unit": "单位", "local_default": "本地默认值",
        "override": "假设(--set)", "yes": "是", "no": "否", "count": "企业数", "total": "合计",
        "provenance": "依据说明(非官方原文数值)", "tag": "来源标记",
        "item_sheet": "明细表", "accepted": "已采用", "ignored": "未识别的列(已忽略)", "unknown_amount": "金额未知企业数",
        "by_kind": "按预算类别", "by_measure": "按政策措施", "part": "组成", "firms_counted": "企业数",
        "status_col": "状态", "note_kind": "税收优惠为减少的税收收入,不是财政支出;风险补偿仅在发生损失时支付。",
        "near": "差一点", "gap": "差距(占门槛比例)", "short_money": "还差金额(万元)", "shortfall": "差在哪里",
    },
    "en": {
        "status": {"eligible": "eligible", "ineligible": "ineligible", "undetermined": "undetermined",
                   "not_in_force": "not in force"},
        "summary": "Summary", "results": "Firm results", "pending": "Missing data", "errors": "Rejected rows",
        "budget": "Budget", "params": "Parameters", "credit_code": "Credit code", "name": "Name",
        "district": "District", "row": "Source row", "amount": "Amount (万元)", "granted": "Pool-granted (万元)",
        "measure": "Measure", "department": "Department", "kind": "Budget kind", "requested": "Requested (万元)",
        "pool": "Pool (万元)", "factor": "Granted share", "left": "Pool left (万元)", "missing": "Missing information",
        "measures": "Undetermined measures", "potential": "Would get (万元)", "sheet": "Sheet", "column": "Column",
        "field": "Field", "value": "Value", "reason": "Reason", "as_of": "As of", "version": "Rules version",
        "file": "File", "rows_read": "Rows read", "screened": "Firms screened", "rejected": "Rows rejected",
        "blank": "Blank rows (skipped)", "param": "Parameter", "param_zh": "Chinese name", "param_en": "English name",
        "unit": "Unit", "local_default": "Local default", "override": "What-if (--set)", "yes": "yes", "no": "no",
        "count": "Firms", "total": "Total", "item_sheet": "Item sheet", "accepted": "Accepted",
        "provenance": "Provenance (figures not read in an official text)", "tag": "Provenance tag",
        "ignored": "Unrecognised columns (ignored)", "unknown_amount": "Firms with unknown amount",
        "by_kind": "By budget kind", "by_measure": "By measure", "part": "Part", "firms_counted": "Firms",
        "status_col": "status", "note_kind": "Tax expenditure is revenue forgone, not an outlay; risk compensation is paid only on a loss.",
        "near": "Near misses", "gap": "Short by (share of threshold)", "short_money": "Money short (万元)",
        "shortfall": "What is lacking",
    },
}
CONSTANT_MEMORY = True
STATUS_COLOURS = {"eligible": "#C6EFCE", "ineligible": "#EDEDED", "undetermined": "#FFEB9C", "not_in_force": "#F2F2F2"}


class _Book:
    def __init__(self, filename: str, lang: str):
        self.wb = xlsxwriter.Workbook(filename, {
            "constant_memory": CONSTANT_MEMORY, "strings_to_formulas": False, "strings_to_urls": False,
            "strings_to_numbers": False, "nan_inf_to_errors": False, **xlsxwriter_options(),
        })
        self.t = TEXT[lang]
        self.lang = lang
        wb = self.wb
        self.head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True,
                                   "valign": "vcenter"})
        self.money = wb.add_format({"num_format": "#,##0.00"})
        self.ratio = wb.add_format({"num_format": "0.00%"})
        self.factor = wb.add_format({"num_format": "0.0000"})
        self.bold = wb.add_format({"bold": True})
        self.status_formats = {k: wb.add_format({"bg_color": c}) for k, c in STATUS_COLOURS.items()}
        self.names: set = set()
        self.column_rows: list = []  # (sheet number, columns, kinds): data rows added once the workbook is closed

    def sheet(self, name: str, headers: list[str], widths: list[int]):
        base, k = name[:31], 2
        while name[:31] in self.names:
            name = f"{base[:28]}({k})"
            k += 1
        self.names.add(name[:31])
        ws = self.wb.add_worksheet(name[:31])
        for col, (h, w) in enumerate(zip(headers, widths)):
            ws.set_column(col, col, w)
            ws.write_string(0, col, h, self.head)
        ws.freeze_panes(1, 0)
        if headers:
            ws.autofilter(0, 0, 0, len(headers) - 1)
        return ws

    def text(self, ws, row, col, value, fmt=None):
        if value is None:
            return
        ws.write_string(row, col, str(value), fmt) if fmt else ws.write_string(row, col, str(value))

    def number(self, ws, row, col, value, fmt=None):
        """Amounts are rounded half-up to the cent when written, as when reported anywhere (MEASURES.md §1)."""
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return
        if fmt is None or fmt is self.money:
            ws.write_number(row, col, round_amount(value), self.money)
        else:
            ws.write_number(row, col, float(value), fmt)

    def rows_from_columns(self, ws, columns: list, kinds: str):
        """The sheet's data rows, from row 2 on, written from whole columns (the values as add_rows takes them, None
        or nan where a cell stays empty) once the workbook is closed."""
        self.column_rows.append((ws.index + 1, columns, kinds))  # its part: xl/worksheets/sheet<index + 1>.xml

    def add_column_rows(self, path):
        """Once the workbook is closed, which gives each format its index in the styles."""
        add_rows(Path(path), {number: (2, columns, kinds) for number, columns, kinds in self.column_rows},
                 self.money.xf_index)

    def status_colours(self, ws, first_row, last_row, col):
        if last_row < first_row:
            return
        for key, fmt in self.status_formats.items():
            ws.conditional_format(first_row, col, last_row, col, {
                "type": "cell", "criteria": "==", "value": f'"{self.t["status"][key]}"', "format": fmt})


def _firm_text(s: Screening, name: str) -> np.ndarray:
    return s.table.columns.text[name].values


def write_screen_workbook(path: str | Path, s: Screening, lang: str = "zh", near: dict | None = None) -> None:
    """`near`: the run's near misses (engine/outputs/near_miss.py) when the caller has them already."""
    with atomic_path(path) as tmp:
        book = _Book(tmp, lang)
        try:
            _summary(book, s)
            _results(book, s)
            for m in s.rules.measure_list():
                _measure_sheet(book, s, m)
            _near_misses(book, s, near)
            _pending(book, s)
            _errors(book, s)
            _budget(book, s)
            _parameters(book, s)
        finally:
            book.wb.close()
        book.add_column_rows(tmp)


def _summary(book: _Book, s: Screening):
    t, lang = book.t, book.lang
    ws = book.sheet(t["summary"], [t["measure"], t["kind"], t["department"]] + [t["status"][k] for k in STATUSES]
                    + [t["amount"], t["unknown_amount"], t["pool"], t["granted"], t["factor"], t["provenance"]],
                    [34, 14, 24, 10, 10, 12, 10, 16, 14, 14, 18, 12, 80])
    ws.freeze_panes(1, 1)
    summary = s.summary()
    row = 1
    for m in s.rules.measure_list():
        e = summary["by_measure"][m.id]
        book.text(ws, row, 0, m.name[lang])
        book.text(ws, row, 1, s.rules.budget_kinds[m.budget_kind][lang])
        book.text(ws, row, 2, m.department[lang])
        for k, status in enumerate(STATUSES):
            ws.write_number(row, 3 + k, e[status])
        book.number(ws, row, 7, e["amount"])
        ws.write_number(row, 8, e["amount_unknown"])
        if "pool" in e:
            book.number(ws, row, 9, e["pool"]["pool"])
            book.number(ws, row, 10, e["pool"]["granted"])
            book.number(ws, row, 11, e["pool"]["factor"], book.factor)
        book.text(ws, row, 12, measure_note(s.rules, m.id, s.as_of, s.overrides, lang))
        row += 1
    row += 1
    facts = [(t["as_of"], summary["as_of"]), (t["version"], summary["rules_version"]),
             (t["file"], Path(summary.get("file", "")).name), (t["rows_read"], summary["rows_read"]),
             (t["screened"], summary["firms_screened"]), (t["rejected"], summary["rows_rejected"]),
             (t["blank"], summary.get("blank_rows", 0))]
    for name, c in (summary.get("item_sheets") or {}).items():
        facts.append((f"{t['item_sheet']} {c['sheet']}: {t['rows_read']} / {t['accepted']} / {t['rejected']}",
                      f"{c['rows_read']} / {c['accepted']} / {c['rejected']}"))
    if summary.get("ignored_columns"):
        facts.append((t["ignored"], ", ".join(summary["ignored_columns"])))
    for label, value in facts:
        book.text(ws, row, 0, label, book.bold)
        if isinstance(value, (int, np.integer)):
            ws.write_number(row, 1, int(value))
        else:
            book.text(ws, row, 1, value)
        row += 1


def _results(book: _Book, s: Screening):
    t, lang = book.t, book.lang
    measures = s.rules.measure_list()
    headers = [t["credit_code"], t["name"], t["district"], t["row"]]
    for m in measures:
        headers += [f"{m.name[lang]}·{t['status_col']}", f"{m.name[lang]}·{t['amount']}"]
    ws = book.sheet(t["results"], headers, [20, 30, 14, 8] + [14, 12] * len(measures))
    ws.freeze_panes(1, 2)
    codes, names, districts = _firm_text(s, "credit_code"), _firm_text(s, "name"), _firm_text(s, "district")
    rows = s.read.source_rows if s.read is not None else None
    labels = [t["status"][k] for k in STATUSES]
    status_cols = [s.measures[m.id].status for m in measures]
    amount_cols = [_cents(s.measures[m.id], "amount") for m in measures]
    everyone = np.arange(s.n)
    columns, kinds = _firm_columns(everyone, codes, names, districts, rows)
    labels = np.array(labels, object)
    for status, amounts in zip(status_cols, amount_cols):
        columns += [labels[status].tolist(), np.where(status == ELIGIBLE, amounts, np.nan)]
        kinds += "TM"
    book.rows_from_columns(ws, columns, kinds)
    for k in range(len(measures)):
        book.status_colours(ws, 1, s.n, 4 + 2 * k)


def _firm_columns(idx: np.ndarray, codes, names, districts, rows) -> tuple[list, str]:
    """The columns that name the firms at `idx`: credit code, name, district and their row in the input list."""
    columns = [codes[idx].tolist(), names[idx].tolist(), districts[idx].tolist(),
               rows[idx].tolist() if rows is not None else [None] * len(idx)]
    return columns, "TTTN"


def _cents(mc, key: str) -> np.ndarray:
    """A measure's amounts (or a part) per firm, rounded to the cent (from their exact values where kept); nan where
    none."""
    values = mc.amount if key == "amount" else mc.parts[key.split(".", 1)[1]]
    if key not in mc.exact:
        return np.array([np.nan if v != v else round_amount(float(v)) for v in values], float)
    return cents_column(mc.exact[key], ~np.isnan(values))


def _measure_sheet(book: _Book, s: Screening, m):
    t, lang = book.t, book.lang
    mc = s.measures[m.id]
    part_names = list(mc.parts)
    headers = [t["credit_code"], t["name"], t["district"], t["row"], t["amount"]]
    headers += [f"{t['part']}: {m.part_labels[p][lang] if p in m.part_labels else p}" for p in part_names]
    if mc.pool is not None:
        headers.append(t["granted"])
    ws = book.sheet(m.sheet_name(lang), headers, [20, 30, 14, 8, 14] + [14] * len(part_names) + [18])
    idx = np.flatnonzero(mc.status == ELIGIBLE)
    codes, names, districts = _firm_text(s, "credit_code"), _firm_text(s, "name"), _firm_text(s, "district")
    rows = s.read.source_rows if s.read is not None else None
    amounts = _cents(mc, "amount")
    parts = [_cents(mc, f"parts.{p}") for p in part_names]
    columns, kinds = _firm_columns(idx, codes, names, districts, rows)
    columns += [amounts[idx]] + [p[idx] for p in parts]
    kinds += "M" * (1 + len(parts))
    if mc.pool is not None:
        granted = mc.granted_exact.cents_at(idx)  # round_amount of each exact granted amount
        granted[np.isnan(mc.granted[idx])] = np.nan
        columns.append(granted)
        kinds += "M"
    book.rows_from_columns(ws, columns, kinds)


def _near_misses(book: _Book, s: Screening, near: dict | None = None):
    """差一点: per measure, the firms closest to its thresholds (engine/outputs/near_miss.py), for outreach."""
    t, lang = book.t, book.lang
    ws = book.sheet(t["near"], [t["measure"], t["credit_code"], t["name"], t["district"], t["row"], t["gap"],
                                t["short_money"], t["shortfall"]], [30, 20, 30, 14, 8, 14, 14, 80])
    rows = s.read.source_rows if s.read is not None else None
    r = 0
    for mid, firms in (near if near is not None else near_misses(s)).items():
        name = s.rules.measures[mid].name[lang]
        for f in firms:
            r += 1
            book.text(ws, r, 0, name)
            book.text(ws, r, 1, f.credit_code)
            book.text(ws, r, 2, f.name)
            book.text(ws, r, 3, f.district)
            if rows is not None:
                ws.write_number(r, 4, int(rows[f.row]))
            ws.write_number(r, 5, round(f.gap, 4), book.ratio)
            book.number(ws, r, 6, f.money)
            book.text(ws, r, 7, "；".join(x[lang] for x in f.shortfalls) if lang == "zh" else
                      "; ".join(x[lang] for x in f.shortfalls))


def _pending(book: _Book, s: Screening):
    t, lang = book.t, book.lang
    ws = book.sheet(t["pending"], [t["credit_code"], t["name"], t["district"], t["row"], t["measures"], t["missing"]],
                    [20, 30, 14, 8, 50, 60])
    measures = s.rules.measure_list()
    undetermined = np.zeros(s.n, bool)
    union = np.zeros((s.n, s.measures[measures[0].id].missing.shape[1] if measures else 1), np.uint64)
    for m in measures:
        mc = s.measures[m.id]
        u = mc.status == UNDETERMINED
        undetermined |= u
        union |= np.where(u[:, None], mc.missing, np.uint64(0))
    labels: dict = {}
    sep = "、" if lang == "zh" else ", "
    codes, names, districts = _firm_text(s, "credit_code"), _firm_text(s, "name"), _firm_text(s, "district")
    rows = s.read.source_rows if s.read is not None else None
    idx = np.flatnonzero(undetermined)
    columns, kinds = _firm_columns(idx, codes, names, districts, rows)
    which = np.stack([s.measures[m.id].status[idx] == UNDETERMINED for m in measures], axis=1) if measures else \
        np.zeros((len(idx), 0), bool)
    named: dict = {}  # the list of measures per pattern of undetermined ones: few patterns among many firms
    pending, missing = [], []
    for k, i in enumerate(idx):
        pattern = which[k].tobytes()
        if pattern not in named:
            named[pattern] = sep.join(m.name[lang] for m, u in zip(measures, which[k]) if u)
        pending.append(named[pattern])
        key = union[i].tobytes()
        if key not in labels:
            labels[key] = sep.join(s.rules.label(f, lang) for f in missing_names(s.rules, union[i]))
        missing.append(labels[key])
    book.rows_from_columns(ws, columns + [pending, missing], kinds + "TT")


def _errors(book: _Book, s: Screening):
    t, lang = book.t, book.lang
    ws = book.sheet(t["errors"], [t["sheet"], t["row"], t["column"], t["field"], t["value"], t["reason"],
                                  t["credit_code"], t["name"]], [14, 8, 22, 20, 24, 70, 22, 30])
    for r, e in enumerate(s.read.rejections if s.read is not None else [], start=1):
        book.text(ws, r, 6, e.credit_code)  # the firm as written on the row, for the clerk to find it
        book.text(ws, r, 7, e.firm_name)
        book.text(ws, r, 0, e.sheet)
        ws.write_number(r, 1, e.row)
        book.text(ws, r, 2, e.column)
        book.text(ws, r, 3, e.field)
        book.text(ws, r, 4, e.value)
        book.text(ws, r, 5, e.reason_zh if lang == "zh" else e.reason_en)


def _budget(book: _Book, s: Screening):
    t, lang = book.t, book.lang
    ws = book.sheet(t["budget"], [t["measure"], t["kind"], t["department"], t["firms_counted"], t["requested"],
                                  t["granted"], t["pool"], t["left"], t["provenance"]],
                    [34, 18, 24, 10, 16, 18, 14, 16, 80])
    by_kind: dict = {}
    row = 1
    for m in s.rules.measure_list():
        mc = s.measures[m.id]
        eligible = mc.status == ELIGIBLE
        requested = mc.exact["amount"].total(eligible) if mc.exact else Fraction(0)
        granted = mc.granted_exact.total() if mc.granted_exact is not None else requested
        book.text(ws, row, 0, m.name[lang])
        book.text(ws, row, 1, s.rules.budget_kinds[m.budget_kind][lang])
        book.text(ws, row, 2, m.department[lang])
        ws.write_number(row, 3, int(eligible.sum()))
        book.number(ws, row, 4, requested)
        book.number(ws, row, 5, granted)
        if mc.pool is not None:
            book.number(ws, row, 6, mc.pool.pool)
            book.number(ws, row, 7, mc.pool.left)
        book.text(ws, row, 8, measure_note(s.rules, m.id, s.as_of, s.overrides, lang))
        kind = by_kind.setdefault(m.budget_kind, [0, Fraction(0), Fraction(0)])
        kind[0] += int(eligible.sum())
        kind[1] += requested
        kind[2] += granted
        row += 1
    row += 1
    book.text(ws, row, 0, t["by_kind"], book.bold)
    row += 1
    for key, (count, requested, granted) in by_kind.items():
        book.text(ws, row, 1, s.rules.budget_kinds[key][lang])
        ws.write_number(row, 3, count)
        book.number(ws, row, 4, requested)
        book.number(ws, row, 5, granted)
        row += 1
    book.text(ws, row + 1, 0, t["note_kind"])


def _parameters(book: _Book, s: Screening):
    t, lang = book.t, book.lang
    ws = book.sheet(t["params"], [t["param"], t["param_zh"], t["param_en"], t["value"], t["unit"],
                                  t["local_default"], t["override"], t["tag"]], [42, 34, 40, 40, 10, 12, 12, 30])
    row = 1
    for label, value in ((t["as_of"], s.as_of.isoformat()), (t["version"], s.rules.version)):
        book.text(ws, row, 0, label, book.bold)
        book.text(ws, row, 3, value)
        row += 1
    used = parameters_used(_ParamView(s))
    for name, value in used.items():
        p = s.rules.params[name]
        book.text(ws, row, 0, name)
        book.text(ws, row, 1, p.zh)
        book.text(ws, row, 2, p.en)
        if isinstance(value, (int, float)):
            ws.write_number(row, 3, value)
        else:
            book.text(ws, row, 3, short_text(value))
        book.text(ws, row, 4, (p.unit or {}).get(lang))
        book.text(ws, row, 5, t["yes"] if p.local_default else t["no"])
        book.text(ws, row, 6, t["yes"] if name in s.overrides else t["no"])
        book.text(ws, row, 7, parameter_tag(s.rules, name, s.as_of))
        row += 1


class _ParamView:
    def __init__(self, s: Screening):
        self.params = s.params


def short_text(value) -> str:
    from engine.explain.catalogue import short_text as short

    return short(value)

"""Build small bureau list workbooks and CSV files for tests, the way a bureau's export would look."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import openpyxl

from engine.rules.loader import default_rules

SAMPLES = Path(__file__).resolve().parents[1] / "sample_firms"


def sample_firms() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(SAMPLES.glob("*.json"))]


def _cell(value):
    if isinstance(value, bool):
        return "是" if value else "否"
    return value


def write_workbook(path: Path, firms: list[dict], extra_firm_rows: list[list] | None = None,
                   loans: bool = True, services: bool = True, headers: dict | None = None) -> Path:
    """Firms as rows of 企业名单 (Chinese headers), their loans and voucher services on their own sheets.
    `headers` replaces the header of a field; `extra_firm_rows` are appended as raw cell lists."""
    rules = default_rules()
    specs = {n: s for n, s in rules.fields.fields.items() if s.type != "list"}
    names = list(specs)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "企业名单"
    ws.append([(headers or {}).get(n, specs[n].zh) for n in names])
    for firm in firms:
        ws.append([_cell(firm.get(n)) for n in names])
    for row in extra_firm_rows or []:
        ws.append(row)
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # text a user typed, as Excel stores '=… entered as text
    wanted_lists = {"loans": loans, "voucher_services": services}
    for list_name, spec in rules.fields.fields.items():  # every list sheet (the MEASURES-2 ones too)
        if spec.type != "list" or not wanted_lists.get(list_name, True):
            continue
        item_specs = rules.item_inputs(spec.item)
        sheet = wb.create_sheet(spec.zh)
        sheet.append([specs["credit_code"].zh] + [s.zh for s in item_specs.values()])
        for firm in firms:
            for item in firm.get(list_name) or []:
                sheet.append([firm.get("credit_code")] + [_cell(item.get(n)) for n in item_specs])
    wb.save(path)
    return path


def write_csv(path: Path, firms: list[dict], encoding: str = "utf-8-sig") -> Path:
    rules = default_rules()
    specs = {n: s for n, s in rules.fields.fields.items() if s.type != "list"}
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow([s.zh for s in specs.values()])
        for firm in firms:
            w.writerow(["" if firm.get(n) is None else _cell(firm.get(n)) for n in specs])
    return path

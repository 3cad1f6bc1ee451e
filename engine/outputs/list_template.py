"""The downloadable list template (issue 11): every sheet a bureau's list may hold, with its headers, a 填写说明 sheet
(each column's meaning, unit, accepted forms and an example) and Excel data validation where Excel offers it (yes/no
and code lists, dates, numbers with their bounds). Everything comes from the field dictionary (rules/fields.yaml):
no column is named here, so a field added to rules/ appears in the template unchanged code.

Headers are the Chinese labels (zh) or the English field names (en), the two spellings the list reader matches; the
sheets of the lists are named as the reader finds them (the list's Chinese label, or its field name)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import xlsxwriter

from engine.common.tempfiles import atomic_path, xlsxwriter_options
from engine.inputs.record_checks import parameter_values, worded
from engine.rules.fields import FieldSpec
from engine.rules.loader import RuleSet

FIRM_SHEET = {"zh": "企业名单", "en": "firms"}
GUIDE_SHEET = {"zh": "填写说明", "en": "instructions"}
ROWS = 5000  # data rows that carry the validation
_WORDS = {
    "zh": {"sheet": "工作表", "column": "列名", "field": "字段", "meaning": "含义", "unit": "单位", "forms": "可填写的形式",
           "example": "示例", "required": "必填", "key": "同一企业内不得重复（键）", "refers": "须对应本企业{sheet}中的一行",
           "intro": "每个工作表第一行为列名，每行一条记录；明细表以统一社会信用代码对应企业名单。空白单元格表示未知（不是零）。"
                    "列名也可写英文字段名；代码可填中文或英文。",
           "date": "日期：YYYY-MM-DD、YYYY/M/D、YYYY年M月D日或 Excel 日期", "yesno": "是/否（也可 Y/N、yes/no、1/0）",
           "money": "数字，单位万元，可带小数和千分位", "integer": "整数", "decimal": "数字", "text": "文字",
           "credit_code": "18 位统一社会信用代码（校验位须正确）", "district": "区县名称，如 临海市",
           "industry_code": "国民经济行业代码，字母加 2–4 位数字，如 C3511", "code": "以下之一：",
           "min": "不小于 {v}", "max": "不大于 {v}", "above": "大于 {v}", "at_most": "不大于{f}", "at_least": "不小于{f}",
           "not_after_as_of": "不晚于评估日期", "yes": "是", "no": "否", "bad": "请按“填写说明”填写",
           "check": "跨列检查：{reason}时，该行被拒绝"},
    "en": {"sheet": "Sheet", "column": "Column", "field": "Field", "meaning": "Meaning", "unit": "Unit",
           "forms": "Accepted forms", "example": "Example", "required": "required",
           "key": "unique within one firm (key)", "refers": "must match a row of the firm's {sheet}",
           "intro": "The first row of each sheet names the columns, one record a row; list sheets tie rows to firms by "
                    "credit_code. An empty cell is unknown (not zero). Columns may also be headed with the Chinese "
                    "labels; codes may be written in Chinese or English.",
           "date": "date: YYYY-MM-DD, YYYY/M/D, YYYY年M月D日 or an Excel date", "yesno": "yes/no (also 是/否, Y/N, 1/0)",
           "money": "a number in 10k CNY, decimals and thousands separators allowed", "integer": "a whole number",
           "decimal": "a number", "text": "text", "credit_code": "18-character unified social credit code (valid check "
           "character)", "district": "a district name, e.g. 临海市", "industry_code": "GB/T 4754 code, a letter and 2–4 "
           "digits, e.g. C3511", "code": "one of:", "min": "at least {v}", "max": "at most {v}", "above": "above {v}",
           "at_most": "at most {f}", "at_least": "at least {f}", "not_after_as_of": "not after the evaluation date",
           "yes": "yes", "no": "no", "bad": "see the instructions sheet",
           "check": "check across columns: a row is rejected where {reason}"},
}
_EXAMPLES = {"date": "2024-01-11", "money": 100.5, "integer": 10, "decimal": 75, "text": "示例",
             "credit_code": "91331082MA2AXXXXXX", "district": "临海市", "industry_code": "C3511"}


def _sheets(rules: RuleSet) -> list[tuple[str | None, dict]]:
    """(list field or None for the firm sheet, {field: spec}) in the dictionary's order."""
    specs = rules.fields.fields
    out = [(None, {n: s for n, s in specs.items() if s.type != "list"})]
    for name, spec in specs.items():
        if spec.type == "list":
            out.append((name, {"credit_code": specs["credit_code"], **rules.item_inputs(spec.item)}))
    return out


def _sheet_name(rules: RuleSet, list_name: str | None, lang: str) -> str:
    if list_name is None:
        return FIRM_SHEET[lang]
    return rules.fields.fields[list_name].zh if lang == "zh" else list_name


def _code_label(spec: FieldSpec, code: str, lang: str) -> str:
    return spec.codes[code]["zh"] if lang == "zh" else code


def _example(spec: FieldSpec, lang: str):
    if spec.type == "yesno":
        return _WORDS[lang]["yes"]
    if spec.type == "code":
        return _code_label(spec, next(iter(spec.codes)), lang)
    return _EXAMPLES.get(spec.type, "")


def _forms(rules: RuleSet, spec: FieldSpec, specs: dict, lang: str) -> str:
    w = _WORDS[lang]
    parts = [w.get(spec.type, spec.type)]
    if spec.type == "code":
        parts[0] += " " + "、".join(f"{v['zh']}({k})" for k, v in spec.codes.items())
    for check, value in spec.checks.items():
        if check in ("at_most", "at_least"):
            other = specs.get(value)
            parts.append(w[check].format(f=(other.zh if lang == "zh" else value) if other else value))
        elif check == "not_after_as_of":
            if value:
                parts.append(w[check])
        else:
            parts.append(w[check].format(v=value))
    return "；".join(parts) if lang == "zh" else "; ".join(parts)


def _validation(spec: FieldSpec, lang: str) -> dict | None:
    """Excel's data validation for a column of this field, where Excel has one."""
    message = {"error_title": spec.zh if lang == "zh" else spec.name, "error_message": _WORDS[lang]["bad"],
               "ignore_blank": True}
    if spec.type == "yesno":
        return {"validate": "list", "source": [_WORDS[lang]["yes"], _WORDS[lang]["no"]], **message}
    if spec.type == "code":
        source = [_code_label(spec, c, lang) for c in spec.codes]
        if sum(len(s) + 1 for s in source) <= 255:  # Excel's limit on an inline list
            return {"validate": "list", "source": source, **message}
        return None
    if spec.type == "date":
        return {"validate": "date", "criteria": ">=", "value": _date_floor(), **message}
    if spec.type in ("money", "decimal", "integer"):
        kind = "integer" if spec.type == "integer" else "decimal"
        low, high, above = spec.checks.get("min"), spec.checks.get("max"), spec.checks.get("above")
        if low is not None and high is not None:
            return {"validate": kind, "criteria": "between", "minimum": float(low), "maximum": float(high), **message}
        if above is not None:
            return {"validate": kind, "criteria": ">", "value": float(above), **message}
        if low is not None:
            return {"validate": kind, "criteria": ">=", "value": float(low), **message}
        if high is not None:
            return {"validate": kind, "criteria": "<=", "value": float(high), **message}
        return {"validate": kind, "criteria": "between", "minimum": -1e15, "maximum": 1e15, **message}
    return None


def _date_floor():
    import datetime as dt

    return dt.date(1900, 1, 1)


def _check_rows(rules: RuleSet, w: dict, lang: str) -> list[list]:
    """The checks across columns of rules/fields.yaml, one guide row each, worded with today's parameter values."""
    param = parameter_values(rules, dt.date.today())
    list_of = {spec.item: name for name, spec in rules.fields.fields.items() if spec.type == "list"}
    rows = []
    for check in rules.fields.checks:
        list_name = list_of.get(check.of) if check.of else None
        if check.of and list_name is None:
            continue
        specs = rules.item_fields(check.of) if check.of else rules.fields.fields
        labels = [specs[f].zh if lang == "zh" else f for f in check.fields if f in specs]
        reason = worded(check, param)[0 if lang == "zh" else 1]
        rows.append([_sheet_name(rules, list_name, lang), "、".join(labels) if lang == "zh" else ", ".join(labels),
                     ", ".join(check.fields), w["check"].format(reason=reason), "", "", ""])
    return rows


def write_template(rules: RuleSet, path: str | Path, lang: str = "zh") -> None:
    """Write the list template workbook to `path` (whole or not at all)."""
    w = _WORDS[lang]
    with atomic_path(path) as tmp:
        book = xlsxwriter.Workbook(tmp, {**xlsxwriter_options(), "default_date_format": "yyyy-mm-dd"})
        head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        date = book.add_format({"num_format": "yyyy-mm-dd"})
        wrap = book.add_format({"text_wrap": True, "valign": "top"})
        guide_rows = []
        for list_name, specs in _sheets(rules):
            name = _sheet_name(rules, list_name, lang)
            sheet = book.add_worksheet(name)
            item = rules.fields.items[rules.fields.fields[list_name].item] if list_name else None
            for col, (field, spec) in enumerate(specs.items()):
                sheet.write(0, col, spec.zh if lang == "zh" else field, head)
                sheet.set_column(col, col, max(12, min(40, 2 * len(spec.zh))), date if spec.type == "date" else None)
                rule = _validation(spec, lang)
                if rule is not None:
                    sheet.data_validation(1, col, ROWS, col, rule)
                notes = [_forms(rules, spec, specs, lang)]
                if spec.required or (spec.required_in_lists and list_name is None) or (
                        list_name is not None and field == "credit_code"):
                    notes.append(w["required"])
                if item is not None and field in item.key:
                    notes.append(w["key"])
                if item is not None:
                    for ref in item.refers:
                        if field in ref.by:
                            notes.append(w["refers"].format(sheet=_sheet_name(rules, ref.of, lang)))
                meaning = f"{spec.zh}（{spec.en}）" if lang == "zh" else spec.en
                if spec.help:
                    meaning += f"（{spec.help['zh']}）" if lang == "zh" else f" ({spec.help['en']})"
                unit = spec.unit[lang] if spec.unit else ("万元" if lang == "zh" else "10k CNY") \
                    if spec.type == "money" else ""
                guide_rows.append([name, spec.zh if lang == "zh" else field, field, meaning, unit,
                                   ("；" if lang == "zh" else "; ").join(notes), _example(spec, lang)])
            sheet.freeze_panes(1, 0)
        guide_rows.extend(_check_rows(rules, w, lang))
        guide = book.add_worksheet(GUIDE_SHEET[lang])
        guide.write(0, 0, w["intro"], wrap)
        columns = ("sheet", "column", "field", "meaning", "unit", "forms", "example")
        for col, key in enumerate(columns):
            guide.write(2, col, w[key], head)
        for r, row in enumerate(guide_rows, start=3):
            for col, value in enumerate(row):
                guide.write(r, col, value, wrap)
        for col, width in enumerate((14, 24, 22, 36, 10, 60, 18)):
            guide.set_column(col, col, width)
        guide.freeze_panes(3, 0)
        book.close()


__all__ = ["write_template", "FIRM_SHEET", "GUIDE_SHEET"]

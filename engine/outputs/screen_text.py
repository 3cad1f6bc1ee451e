"""The text summary `huiqi screen` prints: counts per measure, pools, rejected rows, where the workbook went."""

from __future__ import annotations

import unicodedata

from engine.explain.report import STATUS_TEXT


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad_right(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def pad_left(text: str, width: int) -> str:
    return " " * max(0, width - _width(text)) + text


def render_screen_summary(summary: dict, screening, lang: str = "zh", output: str | None = None) -> str:
    zh = lang == "zh"
    rules = screening.rules
    lines = [
        (f"读取 {summary['rows_read']} 行:筛查 {summary['firms_screened']} 家企业,拒绝 {summary['rows_rejected']} 行"
         if zh else f"Read {summary['rows_read']} rows: {summary['firms_screened']} firms screened, "
                    f"{summary['rows_rejected']} rows rejected")
        + (f"(另跳过空行 {summary.get('blank_rows', 0)} 行)" if zh and summary.get("blank_rows") else "")
        + (f" ({summary.get('blank_rows')} blank rows skipped)" if not zh and summary.get("blank_rows") else ""),
        (f"评估日期 {summary['as_of']}  规则版本 {summary['rules_version']}" if zh
         else f"As of {summary['as_of']}  rules {summary['rules_version']}"),
        "",
    ]
    head = [STATUS_TEXT[lang][s] for s in ("eligible", "ineligible", "undetermined", "not_in_force")]
    lines.append(pad_right("措施" if zh else "Measure", 36) + "".join(pad_left(h, 12) for h in head)
                 + pad_left("金额(万元)" if zh else "Amount (万元)", 16))
    for m in rules.measure_list():
        e = summary["by_measure"][m.id]
        amount = f"{e['amount']:,.2f}" if e["amount"] is not None else "—"
        pool = ""
        if "pool" in e and e["pool"]["factor"] < 1:
            p = e["pool"]
            pool = (f"  资金池 {p['pool']:,.2f},按 {p['factor']:.2%} 核定" if zh
                    else f"  pool {p['pool']:,.2f}, granted at {p['factor']:.2%}")
        name = m.name[lang]
        while _width(name) > 34:
            name = name[:-2] + "…"
        lines.append(pad_right(name, 36) + "".join(pad_left(str(e[s]), 12) for s in
                                                ("eligible", "ineligible", "undetermined", "not_in_force"))
                     + pad_left(amount, 16) + pool)
    read = screening.read
    if read is not None and read.rejections:
        lines.append("")
        lines.append(("被拒绝的行(前 10 条):" if zh else "Rejected rows (first 10):"))
        for r in read.rejections[:10]:
            lines.append(f"  {r.sheet} 第 {r.row} 行 {r.column or ''}: {r.reason_zh}" if zh
                         else f"  {r.sheet} row {r.row} {r.column or ''}: {r.reason_en}")
    if output:
        lines.append("")
        lines.append(f"工作簿已写入 {output}" if zh else f"Workbook written to {output}")
    return "\n".join(lines)

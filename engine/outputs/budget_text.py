"""The text form of `huiqi budget`: totals by kind and measure, pools, the range, and with a scenario the deltas."""

from __future__ import annotations

from engine.outputs.budget import counted_once_text
from engine.rules.loader import RuleSet
from engine.outputs.screen_text import pad_right, pad_left


def _m(x) -> str:
    return f"{x:,.2f}"


def _figures_lines(f: dict, rules: RuleSet, lang: str) -> list[str]:
    zh = lang == "zh"
    kinds = rules.budget_kinds
    lines = [
        (f"政策年度 {f['policy_year']}(评估日期 {f['as_of']},规则版本 {f['rules_version']}):"
         f"筛查 {f['firms_screened']} 家企业,拒绝 {f['rows_rejected']} 行" if zh else
         f"Policy year {f['policy_year']} (as of {f['as_of']}, rules {f['rules_version']}): "
         f"{f['firms_screened']} firms screened, {f['rows_rejected']} rows rejected"),
        "",
        pad_right("措施" if zh else "Measure", 36) + pad_left("符合" if zh else "Eligible", 10)
        + pad_left("申请(万元)" if zh else "Requested", 16) + pad_left("核定(万元)" if zh else "Granted", 16),
    ]
    for m in rules.measure_list():
        e = f["by_measure"][m.id]
        name = m.name[lang]
        while len(name) > 17 if zh else len(name) > 34:
            name = name[:-2] + "…"
        amount = m.budget_kind in rules.amount_kinds()
        lines.append(pad_right(name, 36) + pad_left(str(e["eligible"]), 10)
                     + pad_left(_m(e["requested"]) if amount else "—", 16) + pad_left(_m(e["granted"]) if amount else "—", 16))
    k = f["by_kind"]
    lines += ["", ("按类别:" if zh else "By kind:")]
    for kind in rules.amount_kinds():
        lines.append(f"  {kinds[kind][lang]}: {_m(k[kind])} 万元")
        for part, value in k.get(f"{kind}_parts", {}).items():
            lines.append(f"    {rules.part_label(part, lang)}: {_m(value)} 万元")
    for kind in rules.counted_kinds():
        lines.append(f"  {kinds[kind][lang]}: {k[kind]['firms']} " + ("家企业" if zh else "firms"))
    if f["pools"]:
        lines += ["", "资金池:" if zh else "Programme pools:"]
        for mid, p in f["pools"].items():
            lines.append(f"  {rules.measures[mid].name[lang]}: " + (
                f"资金池 {_m(p['pool'])},申请 {_m(p['requested'])},核定 {_m(p['granted'])}(比例 {p['factor']:.2%}),"
                f"结余 {_m(p['left'])}" if zh else
                f"pool {_m(p['pool'])}, requested {_m(p['requested'])}, granted {_m(p['granted'])} "
                f"({p['factor']:.2%}), left {_m(p['left'])}"))
    r = f["range"]
    lines += ["", ("区间(需补充信息的企业):" if zh else "Range (undetermined firms):")]
    for kind in rules.amount_kinds():
        lines.append(f"  {kinds[kind][lang]}: {_m(r['low'][kind])} – {_m(r['high'][kind])} 万元")
    lines.append(("  涉及 {0} 家企业,其中 {1} 项可得金额未知" if zh else
                  "  depends on {0} firms; {1} potential amounts unknown").format(
        r["firms_undetermined"], r["potential_unknown"]))
    if f.get("counted_once"):
        lines += ["", "只计一次:" if zh else "Counted once:"]
        lines += [f"  {counted_once_text(c, rules.measures, lang)}" for c in f["counted_once"]]
    lines += ["", f["assumptions"]["tax"][lang]]
    take_up = {mid: v for mid, v in f["assumptions"]["take_up"].items() if v != 1}
    if take_up:
        lines.append(("申领率假设: " if zh else "Take-up assumed: ") + ", ".join(f"{k}={v}" for k, v in take_up.items()))
    return lines


def render_budget(result: dict, rules: RuleSet, lang: str = "zh", output: str | None = None,
                  comparison: bool = False) -> str:
    zh = lang == "zh"
    if not comparison:
        lines = _figures_lines(result, rules, lang)
    else:
        lines = [("情景: " if zh else "Scenario: ") + ", ".join(result["overrides"]), ""]
        lines += _figures_lines(result["scenario"], rules, lang)
        d = result["delta"]
        lines += ["", "与基准相比:" if zh else "Against the baseline:"]
        for kind in rules.amount_kinds():
            lines.append(f"  {rules.budget_kinds[kind][lang]}: {result['baseline']['by_kind'][kind]:,.2f} → "
                         f"{result['scenario']['by_kind'][kind]:,.2f} ({d['by_kind'][kind]:+,.2f} 万元)")
        for mid, c in result["changes"].items():
            lines.append(f"  {rules.measures[mid].name[lang]}: " + (
                f"新增符合 {c['gained']} 家,不再符合 {c['lost']} 家" if zh else
                f"{c['gained']} firms gain it, {c['lost']} lose it"))
    if result.get("actuals"):
        lines += ["", "台账实际数(本年度,万元):" if zh else "Ledger actuals this year (万元):"]
        for mid, a in result["actuals"].items():
            name = rules.measures[mid].name[lang] if mid in rules.measures else mid
            lines.append(f"  {name}: " + (
                f"已承诺 {_m(a['committed'])},已支付 {_m(a['paid'])},已过期 {_m(a['expired'])},"
                f"已追回 {_m(a['clawed_back'])},剩余 {_m(a['remaining'])}" if zh else
                f"committed {_m(a['committed'])}, paid {_m(a['paid'])}, expired {_m(a['expired'])}, "
                f"clawed back {_m(a['clawed_back'])}, remaining {_m(a['remaining'])}"))
    if output:
        lines += ["", f"预算工作簿已写入 {output}" if zh else f"Budget workbook written to {output}"]
    return "\n".join(lines)

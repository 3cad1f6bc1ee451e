"""The 差一点 (near-miss) outreach list of a screening run (issue 12 "bureau pages"): per measure, the ineligible firms
closest to its thresholds — every condition that failed is a number short of its threshold by at most
`payout.near_miss_share` of it — closest first, with the shortfall in words and in money.

Closeness is read from the evaluator's condition operands over whole columns, so only the firms that make the list
are explained one by one (the explainer's shortfall sentences)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from engine.evaluate.evaluator import INELIGIBLE, evaluate
from engine.evaluate.kernel import Num
from engine.explain.explainer import Explainer
from engine.inputs.table import take
from engine.outputs.screen import Screening
from engine.rules import expr as ex
from engine.rules.loader import iter_nodes

SHARE_PARAMETER = "payout.near_miss_share"
PER_MEASURE = 20  # firms listed per measure: an outreach list, not a ranking of every firm
CHUNK = 20_000  # rows explained at once, so memory stays flat on a large list


@dataclass
class NearMissFirm:
    measure: str
    row: int  # index into the screened table
    credit_code: str
    name: str
    district: str
    gap: float  # the largest shortfall as a share of its threshold (0.03 = 3% short)
    shortfalls: list = field(default_factory=list)  # [{zh, en}] one sentence per failed threshold
    money: float | None = None  # the money the firm lacks (万元), when a failed threshold is an amount


def near_miss_share(s: Screening) -> Decimal:
    value = s.params.get(SHARE_PARAMETER)
    if value is None:
        value = s.rules.params[SHARE_PARAMETER].at(s.as_of)
    return Decimal(str(value))


def near_misses(s: Screening, per_measure: int = PER_MEASURE) -> dict[str, list[NearMissFirm]]:
    """{measure id: firms closest first} for every measure with a near miss, in rule order."""
    share = near_miss_share(s)
    measures = [m for m in s.rules.measure_list() if m.items is None and m.id in s.measures]
    ineligible = {m.id: np.flatnonzero(s.measures[m.id].status == INELIGIBLE) for m in measures}
    rows = np.unique(np.concatenate([r for r in ineligible.values()] or [np.array([], np.int64)]))
    best: dict[str, list] = {m.id: [] for m in measures}  # (gap, row) candidates, kept short
    explained: dict = {}
    # just the measures the list is made for and those they require: a list measure has no near miss to state
    rules = s.rules.only(m.id for m in measures)
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        ev = evaluate(rules, take(s.table, chunk), s.as_of, s.overrides, explain=True)
        for m in measures:
            r = ev.results[m.id]
            gaps = _gaps(s.rules, r, share)
            for k in np.flatnonzero(np.isfinite(gaps)):
                best[m.id].append((float(gaps[k]), int(chunk[k])))
            best[m.id] = sorted(best[m.id])[:per_measure]
    # the rows that made a list, explained once all chunks are ranked: a row's evaluation depends on that row alone,
    # so evaluating them apart gives the entries their chunks gave (a finite gap is an ineligible row's)
    listed = np.array(sorted({row for pairs in best.values() for _, row in pairs}), np.int64)
    if len(listed):
        ev = evaluate(rules, take(s.table, listed), s.as_of, s.overrides, explain=True)
        explainer = Explainer(ev)
        at = {int(row): k for k, row in enumerate(listed)}
        for m in measures:
            r = ev.results[m.id]
            for _, row in best[m.id]:
                if r.status[at[row]] == INELIGIBLE:
                    entry = explainer.measure_entry(r, at[row])
                    explained[(m.id, row)] = (entry, explainer.failed(entry["conditions"]))
    text = s.table.columns.text
    out = {}
    for m in measures:
        firms = []
        for gap, row in best[m.id]:
            entry = explained.get((m.id, row))
            if entry is None:
                continue
            firms.append(_firm(s, m.id, row, gap, entry, text))
        if firms:
            out[m.id] = firms
    return out


def _gaps(rules, r, share: Decimal) -> np.ndarray:
    """Per row: the largest shortfall share over the conditions that decided an ineligible status, or inf when one
    of them is not a number within `share` of its threshold (or the row is not ineligible)."""
    n = len(r.status)
    gaps = np.where(r.status == INELIGIBLE, 0.0, np.inf)
    nodes = r.nodes
    if not nodes:
        return np.full(n, np.inf)
    if r.district is not None:
        gaps[r.district.f] = np.inf
    for node in iter_nodes(r.measure.condition):
        tri = nodes.get(node.path)
        if tri is None or node.kind not in ("leaf", "requires"):
            continue
        deciding = tri.f.copy()
        for ancestor in _ancestors(node.path):
            if ancestor in nodes:
                deciding &= nodes[ancestor].f
        if not deciding.any():
            continue
        gap = _leaf_gap(rules, node, r.operands.get(node.path), n)
        gap = np.where(gap <= float(share) + 1e-12, gap, np.inf)
        gaps = np.where(deciding, np.maximum(gaps, gap), gaps)
    return gaps


def _ancestors(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts))]


def _shortfall_side(rules, node) -> bool:
    """A comparison of one of the firm's numbers or ratios with a threshold: the kind the explainer can say the
    shortfall of (a date, a count of years or a score is not an outreach figure)."""
    if node.kind != "leaf" or not isinstance(node.expr, ex.Compare) or not isinstance(node.expr.left, ex.Name):
        return False
    name = node.expr.left.name
    spec = rules.fields.fields.get(name)
    return "ratio" in (rules.derived.get(name) or {}) or (
        spec is not None and spec.type in ("money", "integer", "decimal"))


def _leaf_gap(rules, node, ops, n: int) -> np.ndarray:
    """|value − threshold| / |threshold| of a numeric comparison, inf for any other condition."""
    if not _shortfall_side(rules, node) or ops is None or len(ops) != 2:
        return np.full(n, np.inf)
    left, right = ops
    if not isinstance(left, Num):
        return np.full(n, np.inf)
    value = np.where(left.lo == left.hi, left.lo, np.nan)
    if isinstance(right, Num):
        threshold = np.where(right.lo == right.hi, right.lo, np.nan)
    elif isinstance(right, (Decimal, int, float)):
        threshold = np.full(n, float(right))
    else:
        return np.full(n, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.abs(value - threshold) / np.abs(threshold)
    return np.where(np.isfinite(gap) & (threshold != 0), gap, np.inf)


def _firm(s: Screening, measure: str, row: int, gap: float, explained: tuple, text) -> NearMissFirm:
    sentences, money = [], None
    for c in explained[1]:
        if not c.get("shortfall"):
            continue
        shortfall = c["shortfall"]
        label = c["label"]
        sentences.append({lang: f"{label[lang]}：{shortfall['text'][lang]}" if lang == "zh" else
                          f"{label[lang]}: {shortfall['text'][lang]}" for lang in ("zh", "en")})
        spec = s.rules.fields.fields.get(shortfall["field"])
        if spec is not None and spec.type == "money" and shortfall["change"] > 0:
            money = (money or 0.0) + shortfall["change"]
    return NearMissFirm(measure, row, _str(text["credit_code"][row]), _str(text["name"][row]),
                        _str(text["district"][row]), gap, sentences, money)


def _str(value) -> str:
    return "" if value is None or value != value else str(value)


__all__ = ["NearMissFirm", "near_misses", "near_miss_share", "PER_MEASURE"]

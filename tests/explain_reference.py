"""The explainer as it was before its firm-independent parts were shared between check objects (the seventh session
of docs/decisions/0006-compiled-plan.md): every name, label, citation and provenance line copied afresh for each
entry. Kept verbatim as the reference tests/test_explain_shared.py compares engine/explain/explainer.py with (the same
JSON, byte for byte); change both together when a check object is meant to change."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import numpy as np

from engine.common.money import ceil_cent, round_amount
from engine.evaluate.evaluator import ELIGIBLE, INELIGIBLE, STATUSES, UNDETERMINED, Evaluation, MeasureEvaluation
from engine.evaluate.kernel import Num, Str, Tri
from engine.explain.plan import ExplanationPlan, MeasureWords, NodeWords, explanation_plan, plain_words
from engine.explain.score_routes import score_routes
from engine.explain.wording import fmt_both, short_label, value_sentence
from engine.inputs.table import EPOCH, EXACT_SCALE
from engine.rules import expr as ex
from engine.rules.loader import Measure, RuleSet

_HALF_UNIT = Decimal("0.00005")  # half of the 4th decimal a ratio is rounded to
INELIGIBLE_NAME = STATUSES[INELIGIBLE]
_WORD = np.dtype("<u8")


def missing_names(rules: RuleSet, mask) -> list[str]:
    """The input fields of one row's bit set: its mask words (kernel.py), or an int."""
    if isinstance(mask, np.ndarray):  # word k holds bits 64k to 64k + 63
        if mask.dtype is not _WORD:
            mask = mask.astype("<u8")
        # the distinct sets are few (the fields firms leave out together): each is decoded once per rule set
        decoded = rules.__dict__.get("names_of_masks")
        if decoded is None:
            decoded = rules.__dict__["names_of_masks"] = {}
        key = mask.tobytes()
        names = decoded.get(key)
        if names is None:
            if len(decoded) > 4096:
                decoded.clear()
            names = decoded[key] = tuple(_names(rules, int.from_bytes(key, "little")))
        return list(names)
    return _names(rules, int(mask))


def _names(rules: RuleSet, mask: int) -> list[str]:
    if not mask:
        return []
    by_bit = rules.__dict__.get("names_by_bit")
    if by_bit is None:  # bits are numbered in the dictionary's order, so ascending bits keep that order
        by_bit = rules.__dict__["names_by_bit"] = {bit: name for name, bit in rules.bits.items()}
    names = []
    while mask:
        lowest = mask & -mask
        names.append(by_bit[lowest.bit_length() - 1])
        mask ^= lowest
    return names


def _row_num(value, i: int):
    if isinstance(value, Num):
        lo = value.lo[i]
        return float(lo) if lo == value.hi[i] else None
    if isinstance(value, Decimal):
        return float(value)
    return None


def _tri_at(tri: Tri, i: int):
    return True if tri.t[i] else False if tri.f[i] else None


class Explainer:
    """The firm-dependent part of explanations: one row of an evaluation read against the plan's words."""

    def __init__(self, ev: Evaluation):
        self.ev = ev
        self.rules = ev.rules
        self.plan: ExplanationPlan = explanation_plan(ev.rules, ev.params, ev.as_of, ev.overrides)
        self._district = (None, None)  # (row, its district): every measure of a row reads it

    def district(self, i: int):
        row, district = self._district
        if row != i:
            district = self.ev.table.columns.text["district"][i]
            self._district = (i, district)
        return district

    # -- conditions --------------------------------------------------------------------------------------------
    def conditions(self, r: MeasureEvaluation, i: int, words: MeasureWords) -> list[dict]:
        out = []
        if r.district is not None:
            district = self.district(i)
            out.append({
                "path": "0", "depth": 0, "kind": "jurisdiction",
                "label": {"zh": words.district_label[0], "en": words.district_label[1]},
                "held": _tri_at(r.district, i), "value": district,
                "threshold": list(words.district_ids),
                "missing": ["district"] if district is None else [],
            })
            if r.district.f[i]:
                return out  # outside the jurisdiction nothing else decides (as when the whole table is outside)
        nodes, operands = r.nodes, r.operands
        for w in words.nodes:
            tri = nodes.get(w.path)
            if tri is not None:
                out.append(self.condition_entry(w, tri, operands, i, True))
        return out

    def condition_entry(self, w: NodeWords, tri: Tri, operands: dict, i: int, firm: bool) -> dict:
        """One condition of row i (a firm's, or an item's when not `firm`)."""
        held = True if tri.t[i] else False if tri.f[i] else None
        entry = {
            "path": w.path, "depth": w.depth, "kind": w.kind, "label": {"zh": w.zh, "en": w.en}, "expr": w.expr,
            "held": held, "missing": [] if held is not None else missing_names(self.rules, tri.miss[i]),
        }
        if w.measure is not None:
            entry["measure"] = w.measure
            entry["value"] = STATUSES[int(self.ev.results[w.measure].status[i])]
        if not w.leaf:
            return entry
        ops = operands.get(w.path)
        if ops is None or len(ops) != 2:  # given(x) has one operand, nothing to show
            return entry
        left, right = ops
        value = threshold = None
        if isinstance(left, Num):
            lo = left.lo[i]
            entry["value"] = value = float(lo) if lo == left.hi[i] else None
        elif isinstance(left, Str):
            entry["value"] = value = left.value(i)
        if isinstance(right, Num):
            lo = right.lo[i]
            entry["threshold"] = threshold = float(lo) if lo == right.hi[i] else None
        elif isinstance(right, Decimal):
            entry["threshold"] = threshold = float(right)
        elif isinstance(right, (set, frozenset)):
            entry["threshold"] = threshold = sorted(right)
        elif isinstance(right, tuple):
            entry["threshold"] = threshold = list(right)
        elif isinstance(right, str):
            entry["threshold"] = threshold = right
        if w.compare:
            shown = fmt_both(value, w.shown_as)
            last = w.last_threshold  # a threshold is the same for nearly every firm: its words are kept
            if type(threshold) is float and threshold and threshold == last[0]:
                bound = last[1]
            else:
                bound = fmt_both(threshold, w.shown_as)
                w.last_threshold = (threshold, bound)
            entry["text"] = {"zh": value_sentence(w.side_zh, shown[0], w.op, bound[0], "zh"),
                             "en": value_sentence(w.side_en, shown[1], w.op, bound[1], "en")}
            if held is False and firm:
                shortfall = self.shortfall(w.node.expr, value, threshold, i)
                if shortfall:
                    entry["shortfall"] = shortfall
        return entry

    def shortfall(self, e: ex.Compare, value, threshold, i: int) -> dict | None:
        """How far a failed numeric threshold is: the change in the firm's own input that would meet it."""
        if not isinstance(value, (int, float)) or not isinstance(threshold, (int, float)) or not isinstance(e.left, ex.Name):
            return None
        name = e.left.name
        cols = self.ev.table.columns
        t = Decimal(repr(threshold))
        derived = self.rules.derived.get(name)
        if derived is not None and "ratio" in derived:
            num_name, den_name = derived["ratio"]
            num = Decimal(int(cols.exact[num_name][i])) / EXACT_SCALE
            den = Decimal(int(cols.exact[den_name][i])) / EXACT_SCALE
            if e.op in (">=", ">"):
                needed = (t - _HALF_UNIT if e.op == ">=" else t + _HALF_UNIT) * den
                change = needed - num
            else:
                needed = (t + _HALF_UNIT if e.op == "<=" else t - _HALF_UNIT) * den
                change = needed - num
            field = num_name
        elif name in self.rules.fields.fields and self.rules.fields.fields[name].type in ("money", "integer", "decimal"):
            v = Decimal(repr(value))
            change = t - v
            field = name
        else:
            return None
        field_type = self.rules.fields.fields[field].type
        is_count = field_type == "integer"
        if is_count:
            step = Decimal(1)
            change = change.to_integral_value(rounding="ROUND_CEILING") if change > 0 else \
                change.to_integral_value(rounding="ROUND_FLOOR")
            if e.op in (">",) and "ratio" not in (derived or {}) and change >= 0:
                change += step
            if e.op in ("<",) and "ratio" not in (derived or {}) and change <= 0:
                change -= step
        else:
            change = ceil_cent(change) if change > 0 else -ceil_cent(-change)
        if change == 0:
            return None
        unit = " 万元" if field_type == "money" else ""
        unit_en = unit
        field_zh = short_label(self.rules.label(field, "zh"))
        field_en = short_label(self.rules.label(field, "en"))
        strict = e.op in (">", "<") and "ratio" not in (derived or {}) and not is_count
        amount = f"{int(abs(change)):,}" if is_count else f"{abs(change):,.2f}"
        more = change > 0
        if derived is not None and "ratio" in derived:
            den_zh = short_label(self.rules.label(derived["ratio"][1], "zh"))
            den_en = short_label(self.rules.label(derived["ratio"][1], "en"))
            zh = f"按当前{den_zh},约需{'增加' if more else '减少'}{field_zh} {amount}{unit}"
            en = f"about {amount}{unit_en} {'more' if more else 'less'} {field_en} at the current {den_en.lower()}"
        else:
            zh = f"{field_zh}需{'增加' if more else '减少'}{'超过' if strict else ''} {amount}{unit}"
            en = f"{field_en}: {'more than ' if strict else ''}{amount}{unit_en} {'more' if more else 'less'}"
        return {"field": field, "change": float(change), "text": {"zh": zh, "en": en}}


    # -- one measure -------------------------------------------------------------------------------------------
    def measure_entry(self, r: MeasureEvaluation, i: int) -> dict:
        m = r.measure
        words = self.plan.measure(m)
        status = STATUSES[int(r.status[i])]
        missing = missing_names(self.rules, r.missing[i])
        zero = missing_names(self.rules, r.zero[i])
        entry = {
            "measure": m.id,
            "name": dict(words.name),
            "status": status,
            "amount": amount_at(r, "amount", r.amount, i),
            "potential_amount": amount_at(r, "potential", r.potential, i),
            "budget_kind": m.budget_kind,
            "department": dict(words.department),
            "jurisdiction": list(words.jurisdiction),
            "missing": missing,
            "missing_reasons": {**{name: "not_found" for name in missing if name in self.plan.not_found},
                                **{name: "zero" for name in zero}},
            "conditions": self.conditions(r, i, words) if r.in_force else [],
            "citations": [dict(c) for c in words.citations],
        }
        outside = r.district is not None and bool(r.district.f[i])
        lines, notes = words.provenance(self.rules, self.district(i) or None,
                                        {} if outside else self.item_dates(m, i, r))
        entry["provenance"] = [dict(line) for line in lines]
        if lines:  # one line per sentence, for pages
            entry["provenance_notes"] = [{**g, "labels": dict(g["labels"])} for g in notes]
        if m.version:
            entry["version"] = m.version
        if m.part_labels:
            entry["part_labels"] = m.part_labels
        if r.parts:
            entry["parts"] = {k: amount_at(r, f"parts.{k}", v, i) for k, v in r.parts.items()}
        if r.potential_parts:
            entry["potential_parts"] = {k: amount_at(r, f"potential_parts.{k}", v, i)
                                        for k, v in r.potential_parts.items()}
        if r.values and not outside:
            # only the values shown are read (a value is computed when first read, on one firm's evaluation)
            values = r.values
            entry["values"] = {k: _row_num(v, i) if isinstance(v, Num) else None
                               for k, v in ((k, values[k]) for k in values if k in words.shown_values)}
            if m.report:
                entry["report"] = {k: round_amount(_row_num(r.values[k], i)) for k in m.report}
            tests = self.tests(r, i, words) if status in ("eligible", "undetermined") else {}
            if tests:
                entry["tests"] = tests
        shown = [dict(text) for (_, text), when in zip(m.advisories, r.advisories) if when is None or when.t[i]]
        if shown and status != "not_in_force":
            entry["advisories"] = shown  # notes for this firm, not conditions
        if m.benefits:
            entry["benefits"] = [dict(b) for b in m.benefits]
        if m.benefit:
            entry["benefit"] = dict(m.benefit)
        if m.pool is not None:
            entry["pool"] = m.pool_text
        if m.how_to_apply:
            entry["next_steps"] = m.how_to_apply
        if r.items is not None and status != "not_in_force":
            entry["items"] = self.items(r, i, words)
        if not r.in_force:
            entry["reason"] = dict(words.outside_window)
        elif status == "not_in_force":
            entry["reason"] = {"zh": "企业所属区县不在本政策适用范围内", "en": "The firm's district is outside the measure's jurisdiction"}
        elif status == INELIGIBLE_NAME:
            failed = self.failed(entry["conditions"])
            entry["failed"] = [c["label"] for c in failed]
            entry["failed_paths"] = [c["path"] for c in failed]
        if status in (INELIGIBLE_NAME, "undetermined") and r.values and words.scored:
            routes = score_routes(self.rules, m, self.ev.params, self.numbers(i))
            if routes:
                entry["score_routes"] = routes  # the cheapest way to the score's threshold (issue 12)
        return entry

    def numbers(self, i: int) -> dict:
        """The firm's numeric inputs of row i, exact (None where unknown)."""
        cols = self.ev.table.columns
        return {name: None if np.isnan(cols.num[name][i]) else Decimal(int(cols.exact[name][i])) / EXACT_SCALE
                for name in cols.exact if name in cols.num}

    def tests(self, r: MeasureEvaluation, i: int, words: MeasureWords) -> dict:
        """The measure's values that are tests (taken as a small low-profit enterprise?), each with whether it held
        and, part by part, why: {name: {label, held, missing, parts: [{label, held, text, missing}]}}."""
        out = {}
        values = r.values
        for name, zh, en, parts in words.tests:
            tri = values.get(name)
            if not isinstance(tri, Tri):
                continue
            held = _tri_at(tri, i)
            shown = []
            for part in parts:
                part_tri = values[part.name]
                part_held = _tri_at(part_tri, i)
                if part.compare:
                    left = values.get(f"{part.name}.left")
                    value = fmt_both(_row_num(left, i) if left is not None else None, part.shown_as)
                    text = {lang: value_sentence(part.sides[k], value[k], part.op, part.thresholds[k], lang)
                            for k, lang in enumerate(("zh", "en"))}
                else:
                    text = {"zh": part.zh, "en": part.en}
                shown.append({"label": {"zh": part.zh, "en": part.en}, "held": part_held, "text": text,
                              "missing": missing_names(self.rules, part_tri.miss[i]) if part_held is None else []})
            out[name] = {"label": {"zh": zh, "en": en}, "held": held,
                         "missing": missing_names(self.rules, tri.miss[i]) if held is None else [], "parts": shown}
        return out

    def failed(self, conditions: list[dict]) -> list[dict]:
        """The conditions that decided an ineligible status: false, under groups that are all false too."""
        held = {c["path"]: c["held"] for c in conditions}

        def ancestors_false(path: str) -> bool:
            end = path.rfind(".")
            while end > 0:  # every enclosing group, innermost first
                if held.get(path[:end]) is not False:
                    return False
                end = path.rfind(".", 0, end)
            return True

        return [c for c in conditions if c["held"] is False and c["kind"] in ("leaf", "requires", "jurisdiction")
                and ancestors_false(c["path"])]


    def items(self, r: MeasureEvaluation, i: int, words: MeasureWords) -> list[dict]:
        it = r.items
        spec = r.measure.items
        rows = np.flatnonzero(it.firm == i)
        table = self.ev.table.lists[spec.of].columns
        out = []
        id_field = words.item_id_field
        nodes, operands = it.nodes, it.operands
        for k, row in enumerate(rows):
            ident = table.text[id_field][row] if id_field in table.text else None
            conditions = [self.condition_entry(w, nodes[w.path], operands, row, False) for w in words.item_nodes]
            counts = _tri_at(it.counted, row)
            # 从高不重复: a counted item outranked by another of its group adds nothing
            outranked = it.kept is not None and counts is True and not it.kept[row]
            out.append({
                "index": k,
                "id": ident,
                "counts": counts,
                # an item that does not count adds nothing, so it shows no amount
                "amounts": {name: None if counts is False or outranked else round_amount(_row_num(num, row))
                            for name, num in it.amounts.items()},
                **({"outranked": True} if outranked else {}),
                "missing": missing_names(self.rules, it.counted.miss[row]),
                "conditions": conditions,
            })
        return out

    def item_dates(self, m: Measure, i: int, r: MeasureEvaluation | None) -> dict:
        """parameter -> the dates of firm i's items (counting or perhaps counting) that take it on their own date."""
        dated = self.plan.measure(m).item_dated
        if not dated or r is None or r.items is None:
            return {}
        table = self.ev.table.lists[m.items.of].columns
        rows = [row for row in np.flatnonzero(r.items.firm == i).tolist() if _tri_at(r.items.counted, row) is not False]
        out: dict = {}
        for name, picked, on in dated:
            days = table.num.get(on)
            for row in rows:
                if days is None or np.isnan(days[row]) or any(table.text[f][row] != code for f, code in picked):
                    continue
                out.setdefault(name, set()).add(EPOCH + dt.timedelta(days=int(days[row])))
        return out


def parameters_used(ev: Evaluation) -> dict:
    out = {}
    for name, value in ev.params.items():
        if value is None:
            continue
        out[name] = plain_words(value)
    return out


def amount_at(r: MeasureEvaluation, key: str, values: np.ndarray, i: int) -> float | None:
    """Row i's amount rounded to the cent from its exact value; None (null) where there is none."""
    value = values[i]
    return None if value != value else round_amount(r.exact[key].at(i))


def _counted_elsewhere(ev: Evaluation, r: MeasureEvaluation, i: int) -> Fraction:
    """The part of an eligible amount that another measure already counts (`counted_once_with`, an HNTE renewal):
    the lesser of the two when the firm is eligible for both, so the firm's totals count the benefit once."""
    once = r.measure.counted_once_with
    other = ev.results.get(once["measure"]) if once else None
    if other is None or other.status[i] != ELIGIBLE or np.isnan(other.amount[i]):
        return Fraction(0)
    return min(r.exact["amount"].at(i), other.exact["amount"].at(i))


def check_object(ev: Evaluation, i: int = 0) -> dict:
    """The `check` object of ARCHITECTURE.md for row i."""
    explainer = Explainer(ev)
    plan = explainer.plan
    cols = ev.table.columns
    measures = ev.results
    results = [explainer.measure_entry(measures[mid], i) for mid in plan.order if mid in measures]
    sums = {k: Fraction(0) for k in plan.amount_kinds}
    for r in ev.results.values():
        kind = r.measure.budget_kind
        if kind in sums and r.status[i] == ELIGIBLE and not np.isnan(r.amount[i]):
            sums[kind] += r.exact["amount"].at(i) - _counted_elsewhere(ev, r, i)
    totals = {k: round_amount(v) for k, v in sums.items()}
    return {
        "as_of": ev.as_of.isoformat(),
        "rules_version": ev.rules.version,
        "firm": {"credit_code": cols.text["credit_code"][i], "name": cols.text["name"][i],
                 "district": cols.text["district"][i]},
        "results": results,
        "totals": totals,
        "undetermined": [r["measure"] for r in results if r["status"] == "undetermined"],
        "parameters": plan.parameters_used(),
        "overrides": {k: plain_words(v) for k, v in ev.overrides.items()},
    }


__all__ = ["check_object", "missing_names", "parameters_used", "UNDETERMINED"]

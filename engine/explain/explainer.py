"""Turn one row of an Evaluation into the `check` object (ARCHITECTURE.md): status, amount, why, what is missing,
how far from the threshold, and the citations, in both languages. The words come from the explanation plan
(plan.py), worded once per rule set, date and what-if; here only the firm's values, statuses, missing fields and
shortfalls are filled in.

A check object shares its words with every other check of the same plan: names, departments, labels, citations,
benefits, advisories, reasons, provenance lines and the parameters' values are the plan's own dicts, never to be
changed. What a caller may add to or change is its own: the object, each result, each condition, each item and every
list among them are made for this check (tests/test_explain_shared.py)."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from fractions import Fraction

import numpy as np

from engine.common.money import ceil_cent, round_amount, whole_cents
from engine.evaluate.evaluator import (ELIGIBLE, INELIGIBLE, STATUSES, UNDETERMINED, Evaluation, ItemsResult,
                                      MeasureEvaluation)
from engine.evaluate.kernel import Num, Str, Tri
from engine.evaluate.scalar import Columnwise, Interval, MeasureValues, NoText, Text, Unknown
from engine.explain.entries_source import enclosing
from engine.explain.mask_names import bit_names, missing_names, row_names
from engine.explain.measure_source import amount_at, row_number
from engine.explain.plan import ExplanationPlan, MeasureWords, NodeWords, explanation_plan, plain_words
from engine.explain.score_routes import score_routes
from engine.explain.wording import sentence_tail, short_label
from engine.inputs.table import EPOCH, EXACT_SCALE
from engine.rules import expr as ex
from engine.rules.loader import Measure, RuleSet

_HALF_UNIT = Decimal("0.00005")  # half of the 4th decimal a ratio is rounded to
INELIGIBLE_NAME = STATUSES[INELIGIBLE]


def _row_num(value, i: int):
    if isinstance(value, Num):
        lo = value.lo[i]
        return float(lo) if lo == value.hi[i] else None
    if isinstance(value, Decimal):
        return float(value)
    return None


def _scalar_num(value) -> float | None:
    """_row_num of the one-row view of a number as the scalar evaluation holds it: a float, or an Interval shown
    only where its bounds meet; anything else (a condition, a text, a parameter) none. measure_source.row_number
    shows a parameter too; this one is kept apart, inline, for the ~100 values a check reads through it."""
    kind = type(value)
    if kind is float:
        return value if value == value else None
    if kind is Interval:
        lo = value.lo
        return float(lo) if lo == value.hi else None
    return None


def _item_operands(per_item: list) -> list:
    """Every item's operands of a leaf (per_item: as the scalar evaluation holds them) as the explainer shows them
    from their view (OneRow.column over the items): an operand that is a number, a text or a condition the item's
    own; any other (a parameter, a code set: a constant) the first item's, as the view holds it."""
    if not per_item:
        return per_item
    firsts = None
    head = per_item[0]
    for k in range(len(head)):
        first = head[k]
        kind = type(first)
        if kind is float or kind is Interval or kind is Text or kind is NoText:
            continue  # the first item's value decides what the view of the operand is: each item's own
        if kind is bool or kind is Unknown:  # a condition: the first value that is not one decides
            first = next((v for v in (item[k] for item in per_item) if type(v) is not bool and type(v) is not Unknown),
                         None)
            kind = type(first)
            if first is None or kind is float or kind is Interval or kind is Text or kind is NoText:
                continue
        if all(item[k] is first for item in per_item):
            continue  # a constant every item holds (the same object): shown as it is
        if firsts is None:
            firsts = [_OWN] * len(head)
        firsts[k] = first
    if firsts is None:  # nearly every leaf: each item's operands as they are
        return per_item
    return [tuple(value if first is _OWN else first for value, first in zip(ops, firsts)) for ops in per_item]


_OWN = object()  # an operand each item shows its own value of (_item_operands)


_CONSTANTS = frozenset((Decimal, set, frozenset))  # right operands the same for every firm
_DECIDING = frozenset(("leaf", "requires", "jurisdiction"))  # the kinds of condition that decide a status


def _same_float(a: float, b) -> bool:
    """Whether a float is b as written: equal, and a zero of the same sign (0.0 and -0.0 are written apart)."""
    return a == b and (a != 0.0 or math.copysign(1.0, a) == math.copysign(1.0, b))


def _tri_at(tri: Tri, i: int):
    return True if tri.t[i] else False if tri.f[i] else None


def _tri_row(tri, i: int) -> tuple | None:
    """(held, its missing fields' mask) of a condition's row i; None for a value that is not a condition."""
    return (_tri_at(tri, i), tri.miss[i]) if isinstance(tri, Tri) else None


def _scalar_tri(value) -> tuple | None:
    """_tri_row of the one-row view of a condition as the scalar evaluation holds it (True, False or Unknown)."""
    if value is True or value is False:
        return value, 0
    return (None, value.miss) if type(value) is Unknown else None


class Explainer:
    """The firm-dependent part of explanations: one row of an evaluation read against the plan's words."""

    def __init__(self, ev: Evaluation):
        self.ev = ev
        self.rules = ev.rules
        self.plan: ExplanationPlan = explanation_plan(ev.rules, ev.params, ev.as_of, ev.overrides)
        self._district = (None, None)  # (row, its district): every measure of a row reads it
        self._numbers = (None, None)  # (row, its numeric inputs)
        self.names = bit_names(self.rules)  # a row's missing fields from its mask (or bits)
        # the decoded read-only masks of one row (row_names), looked up here first: two per measure
        self.rows = self.rules.__dict__.setdefault("names_of_rows", {})

    def tools(self) -> tuple:
        """What a measure's generated entry calls and reads (measure_source.py), made once per check: bound methods
        kept by the explainer itself would make it a cycle, freed only by the collector."""
        return self.names, self.shown_scalar, self.shortfall, self.ev.results

    def district(self, i: int):
        row, district = self._district
        if row != i:
            district = self.ev.table.columns.text["district"][i]
            self._district = (i, district)
        return district

    # -- conditions --------------------------------------------------------------------------------------------
    def conditions(self, r: MeasureEvaluation, i: int, words: MeasureWords, failed: list | None = None) -> list[dict]:
        """The entries of the measure's conditions for row i; those that decided an ineligible status (`failed`)
        appended to `failed` unless it is None."""
        out = []
        if r.district is not None:
            district = self.district(i)
            held = _tri_at(r.district, i)
            entry = words.district_entries[held].copy()
            entry["value"] = district
            entry["threshold"] = list(words.district_ids)
            entry["missing"] = ["district"] if district is None else []
            out.append(entry)
            if held is False and failed is not None:
                failed.append(entry)
            if r.district.f[i]:
                return out  # outside the jurisdiction nothing else decides (as when the whole table is outside)
        # (one firm's scalar evaluation has its measure's whole entry generated: MeasureWords.scalar_entry)
        self.entries(words.entries, r.nodes, r.operands, i, True, out, failed)
        return out

    def entries(self, build, nodes, operands, i: int, firm: bool, out: list, failed: list | None = None) -> list:
        """The entries of the conditions `build` makes (MeasureWords.entries or .item_entries, generated by
        entries_source.py) for row i (a firm's, or an item's when not `firm`), in their order, appended to out; those
        that decided an ineligible status appended to `failed` unless it is None (as `failed` finds them)."""
        return build(nodes.get, operands.get, i, firm, out, self.names, self.shown, self.shortfall, self.ev.results,
                     failed)

    def shown(self, w: NodeWords, entry: dict, held, ops: tuple, i: int, firm: bool) -> None:
        """A leaf's operands in its entry: the firm's value, the threshold, the comparison in a sentence and, where
        it failed, the shortfall."""
        left, right = ops
        value = threshold = None
        kind = type(left)  # the exact types first: most operands are one of them (isinstance is the slower test)
        if kind is Num or (kind is not Str and isinstance(left, Num)):
            lo = left.lo[i]
            entry["value"] = value = float(lo) if lo == left.hi[i] else None
        elif kind is Str or isinstance(left, Str):
            entry["value"] = value = left.value(i)
        kind = type(right)
        if kind is Num or (kind not in _CONSTANTS and isinstance(right, Num)):
            lo = right.lo[i]
            entry["threshold"] = threshold = float(lo) if lo == right.hi[i] else None
        elif kind in _CONSTANTS or isinstance(right, (Decimal, set, frozenset)):
            entry["threshold"] = threshold = self.constant(w, right)
        elif isinstance(right, tuple):
            entry["threshold"] = threshold = list(right)
        elif isinstance(right, str):
            entry["threshold"] = threshold = right
        if w.compare:
            self.sentence(w, entry, held, value, threshold, right, kind in _CONSTANTS, i, firm)

    def shown_scalar(self, w: NodeWords, entry: dict, held, ops: tuple, i: int, firm: bool) -> None:
        """shown, of a leaf's operands as one firm's scalar evaluation holds them (scalar.py): a known number a
        float, an unknown one an Interval, a field's text a Text or NoText, a constant as it is; each shown as
        shown shows the one-row view OneRow.value makes of it."""
        left, right = ops
        value = threshold = None
        kind = type(left)
        if kind is float or kind is Interval:
            entry["value"] = value = _scalar_num(left)
        elif kind is Text:
            entry["value"] = value = str(left)
        elif kind is NoText:
            entry["value"] = None
        kind = type(right)
        if kind is float or kind is Interval:
            entry["threshold"] = threshold = _scalar_num(right)
        elif kind in _CONSTANTS or isinstance(right, (Decimal, set, frozenset)):
            entry["threshold"] = threshold = self.constant(w, right)
        elif kind is Text or kind is NoText:
            pass  # a field's text on the right (its view a Str) shows no threshold
        elif isinstance(right, tuple):
            entry["threshold"] = threshold = list(right)
        elif isinstance(right, str):
            entry["threshold"] = threshold = right
        if w.compare:
            self.sentence(w, entry, held, value, threshold, right, kind in _CONSTANTS, i, firm)

    @staticmethod
    def constant(w: NodeWords, right):
        """A constant right operand (a parameter, a code set: the same for every firm) as the check shows it, made
        once per node and value."""
        constant, threshold = w.constant
        if right is not constant:
            threshold = float(right) if isinstance(right, Decimal) else sorted(right)
            w.constant = (right, threshold)
        return threshold if type(threshold) is float else list(threshold)

    def sentence(self, w: NodeWords, entry: dict, held, value, threshold, right, constant: bool, i: int,
                 firm: bool) -> None:
        """A comparison's sentence in its entry and, where it failed, its shortfall; `constant`: whether the right
        operand is a constant of the rules (a parameter, a code set)."""
        shown = w.format(value)
        tails = w.tails  # a threshold is the same for nearly every firm: its words are kept (a text's or none's too)
        if tails is None or not (tails[0] is threshold or type(threshold) is float and _same_float(threshold, tails[0])):
            bound = w.format(threshold)  # fmt_both(threshold, w.shown_as), without the dispatch on the kind
            tails = w.tails = (threshold, (sentence_tail(w.op, bound[0], "zh"), sentence_tail(w.op, bound[1], "en")))
        if constant and type(threshold) is float and (w.known is None or w.known[0] is not right):
            w.known = (right, threshold, tails[1])  # the generated code shows the next firm's comparison itself
        heads, tails = w.heads, tails[1]
        entry["text"] = {"zh": f"{heads[0]}{shown[0]}{tails[0]}", "en": f"{heads[1]}{shown[1]}{tails[1]}"}
        if held is False and firm:
            shortfall = self.shortfall(w, value, threshold, i)
            if shortfall:
                entry["shortfall"] = shortfall

    def shortfall(self, w: NodeWords, value, threshold, i: int) -> dict | None:
        """How far a failed numeric threshold is: the change in the firm's own input that would meet it."""
        if not isinstance(value, (int, float)) or not isinstance(threshold, (int, float)):
            return None
        kept = w.shortfall_words  # self.shortfall_words(w), inline: a firm falls short of ~10 comparisons
        if kept is None:
            self.shortfall_words(w)
            kept = w.shortfall_words
        words = kept[0]
        if words is None:
            return None
        cents = None
        if words[1] is None and not words[2]:  # an amount or a number, not a ratio nor a count
            seen, seen_cents = kept[2]  # the threshold's cents: the same threshold for nearly every firm
            if threshold is not seen:
                seen_cents = whole_cents(threshold)
                w.shortfall_words = (words, kept[1], (threshold, seen_cents))
            if seen_cents is not None:
                value_cents = whole_cents(value)
                if value_cents is not None:  # both in whole cents (nearly every amount): that many cents, exactly
                    cents = seen_cents - value_cents
        if cents is not None:
            if cents == 0:
                return None
            more, magnitude = cents > 0, abs(cents)
            amount, change = f"{magnitude // 100:,}.{magnitude % 100:02d}", cents / 100
        else:
            more, amount, change = self.change(w.node.expr, words, value, threshold, i)
            if amount is None:
                return None
        zh_head, zh_tail, en_head, en_tail = kept[1][more]  # the sentences around the change, made once per node
        return {"field": words[0], "change": change,
                "text": {"zh": f"{zh_head}{amount}{zh_tail}", "en": f"{en_head}{amount}{en_tail}"}}

    def change(self, e: ex.Compare, words: tuple, value, threshold, i: int) -> tuple:
        """(more?, the change in words, the change) in the firm's input that would meet e's threshold, in Decimal:
        half-up to the cent, whole for a count, through the denominator for a ratio; (None, None, None) for none."""
        field, ratio, is_count = words[:3]
        t = Decimal(repr(threshold))
        if ratio is not None:
            cols = self.ev.table.columns
            num = Decimal(int(cols.exact[field][i])) / EXACT_SCALE
            den = Decimal(int(cols.exact[ratio][i])) / EXACT_SCALE
            if e.op in (">=", ">"):
                needed = (t - _HALF_UNIT if e.op == ">=" else t + _HALF_UNIT) * den
            else:
                needed = (t + _HALF_UNIT if e.op == "<=" else t - _HALF_UNIT) * den
            change = needed - num
        else:
            change = t - Decimal(repr(value))
        if is_count:
            change = change.to_integral_value(rounding="ROUND_CEILING") if change > 0 else \
                change.to_integral_value(rounding="ROUND_FLOOR")
            if ratio is None and e.op == ">" and change >= 0:
                change += 1
            if ratio is None and e.op == "<" and change <= 0:
                change -= 1
        else:
            change = ceil_cent(change) if change > 0 else -ceil_cent(-change)
        if change == 0:
            return None, None, None
        return change > 0, f"{int(abs(change)):,}" if is_count else f"{abs(change):,.2f}", float(change)

    def shortfall_words(self, w: NodeWords):
        """What a shortfall of w's comparison says that is the same for every firm, kept by the node's words (None:
        it shows none): (the input field to change, the ratio's denominator or None, whether the field counts,
        whether the comparison is strict, the unit, the field's and the denominator's short labels in zh and en).
        The node keeps it with the sentences around the change (shortfall_sentences) and the last threshold with
        its whole cents (none: not written in whole cents)."""
        kept = w.shortfall_words
        if kept is None:
            words = _shortfall_words(self.rules, w.node.expr)
            kept = w.shortfall_words = (words, shortfall_sentences(words) if words is not None else None, (None, None))
        return kept[0]

    # -- one measure -------------------------------------------------------------------------------------------
    def measure_entry(self, r: MeasureEvaluation, i: int) -> dict:
        m = r.measure
        words = self.plan.measure(m)
        if isinstance(r.nodes, Columnwise):  # one firm's scalar evaluation: the measure's generated entry
            return words.scalar_entry(self, r, i, self.district(i), self.tools())
        rules = self.rules
        status = STATUSES[int(r.status[i])]
        rows, mask = self.rows, r.missing
        found = rows.get(id(mask))
        missing = list(found[1]) if found is not None and found[0] is mask else row_names(rules, mask, i)
        mask = r.zero
        found = rows.get(id(mask))
        zero = list(found[1]) if found is not None and found[0] is mask else row_names(rules, mask, i)
        if missing or zero:
            not_found = self.plan.not_found
            reasons = {**{name: "not_found" for name in missing if name in not_found}, **{name: "zero" for name in zero}}
        else:
            reasons = {}
        failed = [] if status == INELIGIBLE_NAME else None  # the conditions that decided it, found while made
        entry = {
            "measure": m.id,
            "name": words.name,
            "status": status,
            "amount": amount_at(r, "amount", r.amount, i),
            "potential_amount": amount_at(r, "potential", r.potential, i),
            "budget_kind": m.budget_kind,
            "department": words.department,
            "jurisdiction": list(words.jurisdiction),
            "missing": missing,
            "missing_reasons": reasons,
            "conditions": self.conditions(r, i, words, failed) if r.in_force else [],
            "citations": list(words.citations),
        }
        outside = r.district is not None and bool(r.district.f[i])
        lines, notes = words.provenance(rules, self.district(i) or None,
                                        {} if outside or not words.item_dated else self.item_dates(m, i, r))
        entry["provenance"] = list(lines)
        if lines:  # one line per sentence, for pages
            entry["provenance_notes"] = list(notes)
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
            if type(values) is MeasureValues:  # one firm's: read as the scalar evaluation holds them
                scalar = values.scalar
                shown_values = entry["values"] = {}
                for k in words.shown_order:  # _scalar_num of each, inline: ~65 values per firm
                    v = scalar(k)
                    kind = type(v)
                    shown_values[k] = (v if v == v else None) if kind is float else \
                        (float(v.lo) if v.lo == v.hi else None) if kind is Interval else None
                if m.report:
                    entry["report"] = {k: round_amount(row_number(scalar(k))) for k in m.report}
            else:
                shown_values = {}
                for k in words.shown_order:
                    if k in values:
                        v = values[k]
                        shown_values[k] = _row_num(v, i) if isinstance(v, Num) else None
                entry["values"] = shown_values
                if m.report:
                    entry["report"] = {k: round_amount(_row_num(values[k], i)) for k in m.report}
            if words.tests and status in ("eligible", "undetermined"):
                tests = self.tests(r, i, words)
                if tests:
                    entry["tests"] = tests
        if m.advisories and status != "not_in_force":
            shown = [text for text, when in zip(words.advisories, r.advisories) if when is None or when.t[i]]
            if shown:
                entry["advisories"] = shown  # notes for this firm, not conditions
        if m.benefits:
            entry["benefits"] = list(words.benefits)
        if m.benefit:
            entry["benefit"] = words.benefit
        if m.pool is not None:
            entry["pool"] = m.pool_text
        if m.how_to_apply:
            entry["next_steps"] = m.how_to_apply
        if r.items is not None and status != "not_in_force":
            entry["items"] = self.items(r, i, words)
        if not r.in_force:
            entry["reason"] = words.outside_window
        elif status == "not_in_force":
            entry["reason"] = words.outside_district
        elif status == INELIGIBLE_NAME:
            entry["failed"] = [c["label"] for c in failed]
            entry["failed_paths"] = [c["path"] for c in failed]
        if words.scored and status in (INELIGIBLE_NAME, "undetermined") and r.values:
            routes = score_routes(rules, m, self.ev.params, self.numbers(i))
            if routes:
                entry["score_routes"] = routes  # the cheapest way to the score's threshold (issue 12)
        return entry

    def numbers(self, i: int, names: tuple | None = None) -> dict:
        """The firm's numeric inputs of row i, exact (None where unknown); with `names`, those of them only."""
        if names is not None:
            cols = self.ev.table.columns
            num, exact = cols.num, cols.exact
            return {name: None if num[name][i] != num[name][i] else Decimal(int(exact[name][i])) / EXACT_SCALE
                    for name in names if name in exact and name in num}
        row, numbers = self._numbers
        if row != i:  # every scored measure of a row reads them
            cols = self.ev.table.columns
            num, exact = cols.num, cols.exact
            numbers = {name: None if num[name][i] != num[name][i] else Decimal(int(exact[name][i])) / EXACT_SCALE
                       for name in exact if name in num}
            self._numbers = (i, numbers)
        return dict(numbers)

    def tests(self, r: MeasureEvaluation, i: int, words: MeasureWords) -> dict:
        """The measure's values that are tests (taken as a small low-profit enterprise?), each with whether it held
        and, part by part, why: {name: {label, held, missing, parts: [{label, held, text, missing}]}}."""
        out = {}
        values = r.values
        one = type(values) is MeasureValues  # one firm's: its values read as the scalar evaluation holds them
        if one:
            scalar, names = values.scalar, values.source
        for name, _zh, _en, parts in words.tests:
            test = _scalar_tri(scalar(name)) if one else _tri_row(values.get(name), i)
            if test is None:
                continue  # not a condition
            held, miss = test
            shown = []
            for part in parts:
                part_held, part_miss = _scalar_tri(scalar(part.name)) if one else _tri_row(values[part.name], i)
                if part.compare:
                    left = part.left
                    if one:
                        number = row_number(scalar(left)) if left in names else None
                    else:
                        left = values.get(left)
                        number = _row_num(left, i) if left is not None else None
                    value, heads, tails = part.format(number), part.heads, part.tails  # wording.value_sentence
                    text = {"zh": heads[0] + value[0] + tails[0], "en": heads[1] + value[1] + tails[1]}
                else:
                    text = part.label
                shown.append({"label": part.label, "held": part_held, "text": text,
                              "missing": self.names(part_miss) if part_held is None else []})
            out[name] = {"label": words.test_labels[name], "held": held,
                         "missing": self.names(miss) if held is None else [], "parts": shown}
        return out

    def failed(self, conditions: list[dict]) -> list[dict]:
        """The conditions that decided an ineligible status: false, under groups that are all false too."""
        held = {c["path"]: c["held"] for c in conditions}
        return [c for c in conditions if c["held"] is False and c["kind"] in _DECIDING
                and all(held.get(up) is False for up in enclosing(c["path"]))]

    def items(self, r: MeasureEvaluation, i: int, words: MeasureWords) -> list[dict]:
        it = r.items
        spec = r.measure.items
        rows = self.item_rows(it, i)
        if not rows:
            return []
        table = self.ev.table.lists[spec.of].columns
        out = []
        id_field = words.item_id_field
        ids = table.text[id_field] if id_field in table.text else None
        nodes, operands, counted, amounts, kept = it.nodes, it.operands, it.counted, it.amounts, it.kept
        one = type(nodes) is Columnwise  # one firm's: its items' results read as the scalar evaluation holds them
        if one:
            node_lists, amount_lists = nodes.source, amounts.source
            shown_operands = {path: _item_operands(per_item) for path, per_item in operands.source.items()}
        for k, row in enumerate(rows):
            counts = _tri_at(counted, row)
            # 从高不重复: a counted item outranked by another of its group adds nothing
            outranked = kept is not None and counts is True and not kept[row]
            entry = {
                "index": k,
                "id": ids[row] if ids is not None else None,
                "counts": counts,
            }
            # an item that does not count adds nothing, so it shows no amount
            if one:
                entry["amounts"] = {name: None if counts is False or outranked else
                                    round_amount(_scalar_num(per_item[row])) for name, per_item in amount_lists.items()}
            else:
                entry["amounts"] = {name: None if counts is False or outranked else round_amount(_row_num(num, row))
                                    for name, num in amounts.items()}
            if outranked:
                entry["outranked"] = True
            entry["missing"] = missing_names(self.rules, counted.miss[row])
            if one:  # each node's results over the items, read at this item's row by the generated code
                entry["conditions"] = words.item_scalar_entries(
                    node_lists.get, shown_operands.get, row, False, [], self.names, self.shown_scalar,
                    self.shortfall, self.ev.results, None)
            else:
                entry["conditions"] = self.entries(words.item_entries, nodes, operands, row, False, [])
            out.append(entry)
        return out

    def item_rows(self, it: ItemsResult, i: int) -> list[int]:
        """The rows of firm i's items among a measure's items."""
        if self.ev.table.n == 1:  # one firm (a check): every item is its own
            return list(range(len(it.firm)))
        return np.flatnonzero(it.firm == i).tolist()

    def item_dates(self, m: Measure, i: int, r: MeasureEvaluation | None) -> dict:
        """parameter -> the dates of firm i's items (counting or perhaps counting) that take it on their own date."""
        dated = self.plan.measure(m).item_dated
        if not dated or r is None or r.items is None:
            return {}
        table = self.ev.table.lists[m.items.of].columns
        rows = [row for row in self.item_rows(r.items, i) if _tri_at(r.items.counted, row) is not False]
        out: dict = {}
        for name, picked, on in dated:
            days = table.num.get(on)
            for row in rows:
                if days is None or np.isnan(days[row]) or any(table.text[f][row] != code for f, code in picked):
                    continue
                out.setdefault(name, set()).add(EPOCH + dt.timedelta(days=int(days[row])))
        return out


def _shortfall_words(rules: RuleSet, e: ex.Compare):
    if not isinstance(e.left, ex.Name):
        return None
    name = e.left.name
    derived = rules.derived.get(name)
    ratio = None
    if derived is not None and "ratio" in derived:
        field, ratio = derived["ratio"]
    elif name in rules.fields.fields and rules.fields.fields[name].type in ("money", "integer", "decimal"):
        field = name
    else:
        return None
    field_type = rules.fields.fields[field].type
    is_count = field_type == "integer"
    strict = e.op in (">", "<") and ratio is None and not is_count
    unit = " 万元" if field_type == "money" else ""
    labels = [short_label(rules.label(field, lang)) for lang in ("zh", "en")]
    dens = [short_label(rules.label(ratio, lang)) for lang in ("zh", "en")] if ratio is not None else [None, None]
    return (field, ratio, is_count, strict, unit, *labels, *dens)


def shortfall_sentences(words: tuple) -> dict:
    """more? -> (zh head, zh tail, en head, en tail): a shortfall's sentences are head + the change + tail."""
    _field, ratio, _is_count, strict, unit, field_zh, field_en, den_zh, den_en = words
    out = {}
    for more in (True, False):
        if ratio is not None:
            out[more] = (f"按当前{den_zh},约需{'增加' if more else '减少'}{field_zh} ", unit,
                         "about ", f"{unit} {'more' if more else 'less'} {field_en} at the current {den_en.lower()}")
        else:
            out[more] = (f"{field_zh}需{'增加' if more else '减少'}{'超过' if strict else ''} ", unit,
                         f"{field_en}: {'more than ' if strict else ''}", f"{unit} {'more' if more else 'less'}")
    return out


def parameters_used(ev: Evaluation) -> dict:
    out = {}
    for name, value in ev.params.items():
        if value is None:
            continue
        out[name] = plain_words(value)
    return out


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
    district = explainer.district(i)
    tools = explainer.tools()
    worded = plan.worded
    results = []
    sums = dict.fromkeys(plan.amount_kinds, 0)  # exact: an int, then Fractions
    for mid in plan.order:
        r = measures.get(mid)
        if r is None:
            continue
        words = worded.get(mid)  # the measure's words (plan.measure), looked up here: 27 measures a firm
        if words is not None and words.m is r.measure and isinstance(r.nodes, Columnwise):
            entry = words.scalar_entry(explainer, r, i, district, tools)  # one firm's scalar evaluation
        else:
            entry = explainer.measure_entry(r, i)
        results.append(entry)
        kind = r.measure.budget_kind
        if kind in sums and entry["status"] == "eligible" and entry["amount"] is not None:  # a NaN amount is none
            sums[kind] += r.exact["amount"].at(i)
            if r.measure.counted_once_with:
                sums[kind] -= _counted_elsewhere(ev, r, i)
    totals = {k: round_amount(v) if v else 0.0 for k, v in sums.items()}  # round_amount of an exact zero
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

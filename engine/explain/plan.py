"""The explanation plan: every part of a `check` object that does not depend on the firm, worded once per rule set,
date and what-if. A condition's label, its expression, the name of its left side, the kind its values are shown as,
a measure's citations, its tests' labels, the parameters in force: the explainer fills in only the firm's values,
statuses, missing fields and shortfalls (issue 10: one firm's explanation within 0.5 ms of its evaluation).

The plans live on the RuleSet they word (rules never change once loaded), one per (as_of, what-if); each measure is
worded when first explained, under a lock, so threads serving the same rules share it."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

from engine.evaluate.evaluator import STATUSES
from engine.explain.entries_source import entries_function
from engine.explain.mask_names import decoded_bits
from engine.explain.measure_source import measure_function
from engine.explain.provenance import grouped, provenance
from engine.explain.score_routes import score_condition
from engine.explain.wording import LANGS, OPS, Wording, both_formatter, sentence_head, sentence_tail
from engine.rules import expr as ex
from engine.rules.loader import CondNode, Measure, RuleSet, item_dated_parameters, iter_nodes
from engine.rules.params import LookupTable

_MAX_PLANS = 64  # per rule set: dates and what-ifs a long-running server has seen


_NOTHING_KNOWN = (object(), None, None)  # NodeWords.known before a comparison is first shown


class NodeWords:
    """One condition node in words. `compare`: the node is a comparison whose value sentence is built per firm.
    The node's entry in a check object (path, depth, kind, label, expression, then the firm's result) is written by
    the measure's generated function (entries_source.py); `label` is shared by every check (never changed)."""

    __slots__ = ("path", "depth", "kind", "text", "zh", "en", "expr", "measure", "leaf", "compare", "op", "shown_as",
                 "side_zh", "side_en", "node", "last_threshold", "label", "heads", "tails", "constant",
                 "shortfall_words", "format", "known")

    def __init__(self, words: Wording, node: CondNode, m: Measure):
        self.node = node
        self.path, self.depth, self.kind, self.text = node.path, node.path.count("."), node.kind, node.text
        self.zh, self.en = (words.node_label(node, m, lang) for lang in LANGS)
        self.label = {"zh": self.zh, "en": self.en}
        self.leaf = node.kind == "leaf"
        self.expr = node.text if self.leaf else None
        self.measure = node.measure if node.kind == "requires" else None
        self.compare = self.leaf and isinstance(node.expr, ex.Compare)
        self.op = OPS[node.expr.op] if self.compare else None
        self.shown_as, (self.side_zh, self.side_en) = words.compare_words(node.expr) if self.compare else (None, (None, None))
        # a comparison's sentence: heads[k] + the firm's value + the threshold's tail (wording.value_sentence), zh and en
        self.heads = (sentence_head(self.side_zh), sentence_head(self.side_en)) if self.compare else None
        self.format = both_formatter(self.shown_as) if self.compare else None  # a value in words, zh and en
        self.tails = None  # (threshold, (zh tail, en tail)) last shown: a threshold is the same for nearly every firm
        self.constant = (None, None)  # (a constant right operand last shown, its value in the check)
        # (a constant right operand, its threshold, the threshold's tails) once shown: the generated code's short path
        # (before: a first item no operand is, so the generated code need not ask whether there is one)
        self.known = _NOTHING_KNOWN
        self.shortfall_words = None  # (the words of its shortfall, or None,) once a firm fell short of it (explainer)
        self.last_threshold = (None, None)  # the reference explainer's memo (tests/explain_reference.py)


class PartWords:
    """One part of a measure's test (`small_low_profit.2`): its label, and for a comparison the pieces of the
    sentence that carries the firm's value."""

    __slots__ = ("name", "zh", "en", "label", "compare", "shown_as", "sides", "op", "thresholds", "texts", "left",
                 "format", "heads", "tails")

    def __init__(self, words: Wording, name: str, e):
        self.name = name
        self.zh, self.en = (words.part_text(e, lang) for lang in LANGS)
        self.label = {"zh": self.zh, "en": self.en}  # shared by every check (never changed)
        self.compare = isinstance(e, ex.Compare)
        if self.compare:
            self.shown_as = words.kind_of(e.left)
            self.sides = tuple(words.describe_side(e.left, lang) for lang in LANGS)
            self.op = OPS[e.op]
            self.thresholds = tuple(words.threshold_text(e, lang) for lang in LANGS)
            # the sentence with the firm's value (wording.value_sentence): heads[k] + the value + tails[k], zh and en
            self.heads = tuple(sentence_head(side) for side in self.sides)
            self.tails = tuple(sentence_tail(self.op, threshold, lang)
                               for threshold, lang in zip(self.thresholds, LANGS))
            self.format = both_formatter(self.shown_as)  # a value in words, zh and en
        else:
            self.shown_as = self.sides = self.op = self.thresholds = self.heads = self.tails = self.format = None
        self.left = f"{name}.left"  # the value of its left side, shown in the sentence


class MeasureWords:
    """Everything about one measure's entry that is the same for every firm. The words a check object holds (name,
    department, labels, citations, benefits, advisories, reasons, provenance lines) are made here once, copied from
    the rules, and every check of the plan shares them: nothing may change them (tests/test_explain_shared.py)."""

    def __init__(self, words: Wording, m: Measure, as_of, overrides: dict, not_found: frozenset = frozenset()):
        rules = words.rules
        self.m = m
        self.name, self.department, self.jurisdiction = dict(m.name), dict(m.department), list(m.jurisdiction)
        allowed = [rules.jurisdictions[j] for j in m.jurisdiction]
        self.district_label = ("所属区县属于" + "、".join(j.zh for j in allowed),
                               "District within " + ", ".join(j.en for j in allowed))
        self.district_words = {"zh": self.district_label[0], "en": self.district_label[1]}
        self.district_ids = [j.id for j in allowed]
        # the jurisdiction's entry held, failed and unknown, the firm's parts left None: each check fills in a copy
        # (explainer.conditions; a copy is cheaper than the literal, 27 times per firm)
        self.district_entries = {held: {"path": "0", "depth": 0, "kind": "jurisdiction", "label": self.district_words,
                                        "held": held, "value": None, "threshold": None, "missing": None}
                                 for held in (True, False, None)}
        self.benefits = [dict(b) for b in m.benefits]
        self.benefit = dict(m.benefit) if m.benefit else None
        self.advisories = [dict(text) for _, text in m.advisories]
        words.item_type = None
        self.nodes = [NodeWords(words, node, m) for node in iter_nodes(m.condition)]
        self.item_nodes = None
        self.item_id_field = None
        if m.items is not None:
            words.item_type = m.items.item_type
            try:
                self.item_nodes = [NodeWords(words, node, m) for node in iter_nodes(m.items.counts_if)]
            finally:
                words.item_type = None
            # an item is named by the first text field of its record (a loan's id, a service's provider)
            self.item_id_field = next((n for n, f in rules.item_fields(m.items.item_type).items() if f.type == "text"),
                                      None)
        # the entries of its conditions (and its items'), each list of nodes one generated function (entries_source)
        # over the views of any evaluation (entries), and its items' over one firm's scalar results as they are
        # (item_scalar_entries); one firm's own conditions are written by its whole entry's function (scalar_entry)
        decoded = decoded_bits(rules)
        self.entries = entries_function(self.nodes, STATUSES)
        self.item_entries = self.item_scalar_entries = None
        if self.item_nodes is not None:
            self.item_entries = entries_function(self.item_nodes, STATUSES)
            self.item_scalar_entries = entries_function(self.item_nodes, STATUSES, scalar=True, decoded=decoded,
                                                        per_item=True)
        self.citations = words.citations(m)
        words.measure = m
        self.tests = []  # (value name, zh, en, parts) for each of the measure's values that is a test
        self.test_labels: dict = {}  # value name -> {zh, en}
        for name, value in m.values.items():
            if value.part_of is not None:
                continue
            count = len(value.expr.parts) if isinstance(value.expr, ex.Logic) else 0
            if any(f"{name}.{k}" not in m.values for k in range(1, count + 1)):
                continue  # not a test made of parts (the explainer shows tests only)
            parts = [PartWords(words, f"{name}.{k}", m.values[f"{name}.{k}"].expr) for k in range(1, count + 1)]
            self.tests.append((name, value.zh, value.en, parts))
            self.test_labels[name] = {"zh": value.zh, "en": value.en}
        self.shown_values = frozenset(k for k, v in m.values.items() if v.part_of is None)  # the reference's
        self.shown_order = tuple(k for k, v in m.values.items() if v.part_of is None)  # as the evaluation has them
        self.item_dated = item_dated_parameters(rules, m)
        self.scored = score_condition(m) is not None
        self.as_of, self.overrides = as_of, overrides
        self.lines: dict = {}  # (district, item dates) -> (provenance lines, their notes)
        self.outside_window = {"zh": f"评估日期不在政策有效期内({m.window_from}起)",
                               "en": f"The evaluation date is outside the measure's window (from {m.window_from})"}
        self.outside_district = {"zh": "企业所属区县不在本政策适用范围内",
                                 "en": "The firm's district is outside the measure's jurisdiction"}
        # its whole entry in the check of one firm's scalar evaluation, one generated function (measure_source.py)
        self.scalar_entry = measure_function(self, rules, not_found)

    def provenance(self, rules: RuleSet, district: str | None, item_dates: dict) -> tuple:
        """The measure's provenance lines and notes for a firm of `district` whose items have these dates."""
        key = (district, tuple(sorted((k, tuple(sorted(v))) for k, v in item_dates.items())) if item_dates else ())
        found = self.lines.get(key)
        if found is None:
            if len(self.lines) > 1024:
                self.lines.clear()
            lines = provenance(rules, self.m, self.as_of, district, self.overrides, item_dates)
            found = self.lines[key] = (lines, grouped(lines) if lines else [])
        return found


class ExplanationPlan:
    def __init__(self, rules: RuleSet, params: dict, as_of, overrides: dict):
        self.rules, self.params, self.as_of, self.overrides = rules, params, as_of, overrides
        self.words = Wording(rules, params)
        self._measures: dict = {}
        self.worded = self._measures  # measure id -> its words so far (read-only: made by `measure`, under the lock)
        self._lock = threading.Lock()
        self.order = [m.id for m in sorted(rules.measures.values(), key=lambda m: (m.order, m.id))]
        self.not_found = frozenset(name for name, p in rules.params.items() if getattr(p, "not_found", False))
        self.amount_kinds = tuple(rules.amount_kinds())
        # each value in words, shared by every check of the plan (never changed)
        self.parameters = {name: plain_words(value) for name, value in params.items() if value is not None}

    def measure(self, m: Measure) -> MeasureWords:
        found = self._measures.get(m.id)
        if found is None or found.m is not m:
            with self._lock:  # the wording keeps state (which measure, which list) while it words
                found = self._measures[m.id] = MeasureWords(self.words, m, self.as_of, self.overrides,
                                                                      self.not_found)
        return found

    def parameters_used(self) -> dict:
        return dict(self.parameters)  # the check's own dict of the plan's words


def explanation_plan(rules: RuleSet, params: dict, as_of: dt.date | None, overrides: dict | None) -> ExplanationPlan:
    """The plan of the rules with these parameter values, which are those in force on `as_of` with the what-ifs
    `overrides` (Evaluator: resolve), so the date and the what-ifs identify them."""
    overrides = overrides or {}
    key = (as_of, tuple(sorted((name, repr(value)) for name, value in overrides.items())))
    plans = rules.__dict__.setdefault("explanation_plans", {})
    plan = plans.get(key)
    if plan is None:
        if len(plans) >= _MAX_PLANS:
            plans.clear()
        plan = plans[key] = ExplanationPlan(rules, params, as_of, dict(overrides))
    return plan


def plain_words(value):
    """A parameter value as JSON: numbers as floats, code sets as lists, tables and cases row by row."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, LookupTable):
        return {"table": [{k: float(b), "value": float(v)} for k, b, v in value.rows], "otherwise": float(value.otherwise)}
    if hasattr(value, "cases"):
        return {"cases": [{"when": text, "value": float(v)} for _, text, v in value.cases],
                "otherwise": float(value.otherwise)}
    return value

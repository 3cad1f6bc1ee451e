"""Budgets for the finance bureau (issue 4): totals of a screened list by measure, kind, department, district and
industry section; programme pools; take-up; the range that undetermined firms open; and what-if against a baseline.

Everything is summed from the per-firm results of the one screening path, so a budget can never disagree with the
lists the science bureau sees. Amounts are rounded half-up to the cent only here, when reported.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

import numpy as np

from engine.explain.provenance import measure_note
from engine.evaluate.evaluator import ELIGIBLE, UNDETERMINED
from engine.explain.explainer import parameters_used
from engine.common.exact import Exact, add, choose, extreme, scale
from engine.common.money import exact, round_amount
from engine.outputs.pools import PoolOutcome, PoolUnset, Scaled, apply_pool
from engine.rules.loader import Measure, RuleSet
from engine.outputs.screen import Screening, pool_figures, screen_table

UNKNOWN = "未知"  # the group of firms whose district or industry is not given
TAKE_UP = "take_up"  # a measure's take-up parameter is named <measure id>.take_up


def _money(x) -> float:
    value = round_amount(x)
    return 0.0 if value is None else value


def tax_assumption(policy_year: int) -> dict:
    """How the tax amounts are estimated (MEASURES.md §1.1), as the budget states it, {zh, en}."""
    year = policy_year - 1
    return {"zh": f"税收优惠金额为按企业填报的{year}年度(Y-1)应纳税所得额估算的当年节税额;以前年度亏损结转不计价值。",
            "en": f"Tax amounts are the estimated saving for fiscal year {year} (Y-1) on the reported taxable income; "
                  "a loss carried forward is not valued."}


def counted_once_text(c: dict, measures: dict, lang: str) -> str:
    """One line of the budget saying which firms are counted once and what that removes from the totals."""
    name, keeps = measures[c["measure"]].name[lang], measures[c["with"]].name[lang]
    if lang == "zh":
        return (f"{c['note']['zh']}:{c['firms']} 家企业同时符合“{name}”与“{keeps}”,各项合计扣除重复计算 "
                f"{c['removed']:,.2f} 万元(区间高限扣除 {c['high_removed']:,.2f} 万元)")
    return (f"{c['note']['en']}: {c['firms']} firms qualify for both {name} and {keeps}; the totals leave out "
            f"{c['removed']:,.2f} 万元 counted twice (the range's high end {c['high_removed']:,.2f} 万元)")


def take_up_of(m: Measure, params: dict) -> Decimal:
    value = params.get(f"{m.id}.{TAKE_UP}")
    return Decimal(1) if value is None else Decimal(value)


@dataclass
class MeasureBudget:
    measure: Measure
    eligible: int
    undetermined: int
    amount_unknown: int  # eligible firms whose amount is null (counted as 0)
    requested: Fraction  # the firms' own amounts, before take-up and pools (every total here is exact)
    take_up: Decimal
    expected: Fraction  # requested × take-up
    granted: Fraction  # expected, after the pool
    firm_granted: Scaled | None  # per firm, exactly (None when the measure has no amount)
    parts: dict  # part -> granted total
    pool: PoolOutcome | None
    high_granted: Fraction  # with undetermined firms' potential amounts
    high_parts: dict
    potential_unknown: int  # undetermined firms whose potential amount is unknown
    firm_high: Scaled | None = field(repr=False, default=None)
    # what the totals leave out because another measure already counts it (`counted_once_with`), and per firm
    removed: Fraction = Fraction(0)
    high_removed: Fraction = Fraction(0)
    firm_removed: Exact | None = field(repr=False, default=None)

    @property
    def counted(self) -> Fraction:
        """What this measure adds to the totals: its granted amount less what another measure counts already."""
        return self.granted - self.removed


@dataclass
class CountedOnce:
    """Firms eligible for two measures that give the same benefit (MEASURES.md §4.2: an HNTE renewal), counted once."""

    measure: str  # the measure whose amount the totals leave out for these firms
    keeps: str  # the measure under which the totals count it
    note: dict  # {zh, en}, from the measure file
    firms: int  # firms eligible for both
    removed: Fraction
    high_removed: Fraction  # the same for the range's high end (undetermined firms at their potential)

    def figures(self) -> dict:
        return {"measure": self.measure, "with": self.keeps, "firms": self.firms, "removed": _money(self.removed),
                "high_removed": _money(self.high_removed), "note": dict(self.note)}


def _per_firm(granted: Scaled) -> Exact:
    """A granted column as one exact column (own − cut × pooled)."""
    return granted.own if not granted.cut else add(granted.own, scale(granted.pooled, granted.cut), -1)


def _lesser(a: Scaled, b: Scaled, rows: np.ndarray) -> Exact:
    """Per firm the lesser of two granted amounts on rows, 0 elsewhere: the benefit both measures count."""
    return extreme([_per_firm(a), _per_firm(b)], pick_min=True).keep(rows)


def count_once(measures: dict, screening) -> list[CountedOnce]:
    """For every measure that is `counted_once_with` another: the firms eligible for both, and the lesser of their two
    amounts, which the totals leave out of this measure (it stays in the other's). Each measure's budget carries
    what it leaves out; its own line keeps the full amount."""
    out = []
    for mid, mb in measures.items():
        once = mb.measure.counted_once_with
        other = measures.get(once["measure"]) if once else None
        if other is None or mb.firm_granted is None or other.firm_granted is None:
            continue
        mine, theirs = screening.measures[mid], screening.measures[other.measure.id]
        both = (mine.status == ELIGIBLE) & (theirs.status == ELIGIBLE)
        known = both & ~np.isnan(mine.amount) & ~np.isnan(theirs.amount)
        mb.firm_removed = _lesser(mb.firm_granted, other.firm_granted, known)
        mb.removed = mb.firm_removed.total()
        maybe_mine, maybe_theirs = (_high_known(mine), _high_known(theirs))
        mb.high_removed = _lesser(mb.firm_high, other.firm_high, maybe_mine & maybe_theirs).total()
        out.append(CountedOnce(mid, other.measure.id, once["note"], int(both.sum()), mb.removed, mb.high_removed))
    return out


def _high_known(mc) -> np.ndarray:
    """The firms the range's high end counts with a known amount: eligible ones with theirs, undetermined ones with a
    potential amount."""
    return np.where(mc.status == ELIGIBLE, ~np.isnan(mc.amount), (mc.status == UNDETERMINED) & ~np.isnan(mc.potential))


def measure_budget(m: Measure, mc, params: dict) -> MeasureBudget:
    eligible = mc.status == ELIGIBLE
    undetermined = mc.status == UNDETERMINED
    take_up = take_up_of(m, params)
    has_amount = m.amount is not None or bool(m.parts)
    if has_amount:
        requested = mc.exact["amount"].total(eligible)
        _, _, pool, granted, granted_parts = apply_pool(m, params, eligible, mc.amount, mc.parts, mc.exact, take_up)
        # upper bound: every undetermined firm qualifies with its potential amount where that is known
        with_potential = np.where(eligible, mc.amount, np.where(undetermined, mc.potential, np.nan))
        exact = {"amount": choose([eligible, undetermined], [mc.exact["amount"], mc.exact["potential"]], len(eligible))}
        potential_parts = {}
        for name, values in mc.parts.items():
            potential_parts[name] = np.where(eligible, values,
                                             mc.potential_parts.get(name, np.full(len(values), np.nan)))
            exact[f"parts.{name}"] = choose([eligible, undetermined], [mc.exact[f"parts.{name}"],
                                            mc.exact.get(f"potential_parts.{name}", mc.exact[f"parts.{name}"])],
                                            len(eligible))
        _, _, _, high, high_parts = apply_pool(m, params, eligible | undetermined, with_potential, potential_parts,
                                               exact, take_up)
    else:
        requested, granted, granted_parts, pool = Fraction(0), None, {}, None
        high, high_parts = None, {}
    zero = Fraction(0)
    return MeasureBudget(
        measure=m, eligible=int(eligible.sum()), undetermined=int(undetermined.sum()),
        amount_unknown=int((eligible & np.isnan(mc.amount)).sum()) if has_amount else 0,
        requested=requested, take_up=take_up, expected=requested * Fraction(take_up),
        granted=granted.total() if granted is not None else zero, firm_granted=granted,
        parts={k: v.total() for k, v in granted_parts.items()}, pool=pool,
        high_granted=high.total() if high is not None else zero,
        high_parts={k: v.total() for k, v in high_parts.items()},
        potential_unknown=int((undetermined & np.isnan(mc.potential)).sum()) if has_amount else 0,
        firm_high=high,
    )


def _groups(column) -> tuple[np.ndarray, list[str]]:
    """(group index per firm, group names) from a text column; unknown values form the group 未知."""
    names = [str(c) for c in column.cats] + [UNKNOWN]
    return np.where(column.codes >= 0, column.codes, len(names) - 1), names


def _sections(column) -> tuple[np.ndarray, list[str]]:
    """Industry section: the letter of the GB/T 4754 code."""
    letters = sorted({str(c)[0] for c in column.cats})
    index = {letter: k for k, letter in enumerate(letters)}
    per_cat = np.array([index[str(c)[0]] for c in column.cats] + [len(letters)], np.int64)
    return per_cat[np.where(column.codes >= 0, column.codes, len(column.cats))], letters + [UNKNOWN]


@dataclass
class Budget:
    screening: Screening
    measures: dict  # id -> MeasureBudget
    counted_once: list = field(default_factory=list)  # CountedOnce, one per measure counted once with another

    @property
    def rules(self) -> RuleSet:
        return self.screening.rules

    def by_kind(self) -> dict:
        """Per totalled kind its granted total; per kind with parts `<kind>_parts`; per kind without an amount the
        eligible count and the firms eligible for any of its measures (kinds from rules/budget_kinds.yaml)."""
        rules = self.rules
        out = {k: Fraction(0) for k in rules.amount_kinds()}
        parts = {k: {} for k in rules.split_kinds()}
        counted = {k: {"eligible": 0, "firms": 0} for k in rules.counted_kinds()}
        any_eligible = {k: np.zeros(self.screening.n, bool) for k in counted}
        for mb in self.measures.values():
            kind = mb.measure.budget_kind
            if kind in out:
                out[kind] += mb.counted
            if kind in parts:
                for name, value in mb.parts.items():
                    parts[kind][name] = parts[kind].get(name, Fraction(0)) + value
            if kind in counted:
                counted[kind]["eligible"] += mb.eligible
                any_eligible[kind] |= self.screening.measures[mb.measure.id].status == ELIGIBLE
        result = {k: _money(v) for k, v in out.items()}
        for kind, sums in parts.items():
            result[f"{kind}_parts"] = {k: _money(v) for k, v in sums.items()}
        for kind, entry in counted.items():
            entry["firms"] = int(any_eligible[kind].sum())
            result[kind] = entry
        return result

    def _grouped(self, index: np.ndarray, names: list[str]) -> dict:
        k = len(names)
        kinds = self.rules.amount_kinds()
        sums = {kind: [Fraction(0)] * k for kind in kinds}
        firms = np.bincount(index, minlength=k)
        for mb in self.measures.values():
            kind = mb.measure.budget_kind
            if kind in sums and mb.firm_granted is not None:
                group = mb.firm_granted.group_totals(index, k)
                sums[kind] = [a + b for a, b in zip(sums[kind], group)]
                if mb.firm_removed is not None:
                    group = mb.firm_removed.group_totals(index, k)
                    sums[kind] = [a - b for a, b in zip(sums[kind], group)]
        return {names[g]: {"firms": int(firms[g]), **{kind: _money(sums[kind][g]) for kind in kinds}}
                for g in range(k) if firms[g]}

    def by_district(self) -> dict:
        return self._grouped(*_groups(self.screening.table.columns.text["district"]))

    def by_industry(self) -> dict:
        return self._grouped(*_sections(self.screening.table.columns.text["industry_code"]))

    def by_department(self, lang: str = "zh") -> dict:
        out: dict = {}
        kinds = self.rules.amount_kinds()
        for mb in self.measures.values():
            kind = mb.measure.budget_kind
            if kind not in kinds:
                continue
            entry = out.setdefault(mb.measure.department[lang], {k: Fraction(0) for k in kinds})
            entry[kind] += mb.counted
        # the department's total is rounded from the exact sum, not added up from the rounded kinds
        return {dept: {**{k: _money(v) for k, v in sums.items()}, "total": _money(sum(sums.values()))}
                for dept, sums in out.items()}

    def by_measure(self) -> dict:
        out = {}
        for mid, mb in self.measures.items():
            m = mb.measure
            out[mid] = {
                "name": m.name, "budget_kind": m.budget_kind, "department": m.department,
                "eligible": mb.eligible, "undetermined": mb.undetermined, "amount_unknown": mb.amount_unknown,
                "requested": _money(mb.requested), "take_up": float(mb.take_up), "expected": _money(mb.expected),
                "granted": _money(mb.granted),
                "parts": {k: _money(v) for k, v in mb.parts.items()} or None,
                "pool": None if mb.pool is None else pool_figures(mb.pool),
                "provenance": {lang: measure_note(self.rules, mid, self.screening.as_of, self.screening.overrides,
                                                  lang) for lang in ("zh", "en")},
            }
        return out

    def range(self) -> dict:
        kinds = self.rules.amount_kinds()
        low = {k: Fraction(0) for k in kinds}
        high = {k: Fraction(0) for k in kinds}
        depends = np.zeros(self.screening.n, bool)
        unknown = 0
        for mid, mb in self.measures.items():
            kind = mb.measure.budget_kind
            if kind not in kinds:
                continue
            low[kind] += mb.counted
            high[kind] += mb.high_granted - mb.high_removed
            depends |= self.screening.measures[mid].status == UNDETERMINED
            unknown += mb.potential_unknown
        return {"low": {k: _money(v) for k, v in low.items()}, "high": {k: _money(v) for k, v in high.items()},
                "firms_undetermined": int(depends.sum()), "potential_unknown": unknown}

    def pools(self) -> dict:
        return {mid: self.by_measure()[mid]["pool"] for mid, mb in self.measures.items() if mb.pool is not None}

    def assumptions(self) -> dict:
        s = self.screening
        params = parameters_used(_Params(s.params))
        return {"as_of": s.as_of.isoformat(), "policy_year": s.as_of.year, "rules_version": s.rules.version,
                "take_up": {mid: float(mb.take_up) for mid, mb in self.measures.items()},
                "overrides": sorted(s.overrides), "parameters": params, "tax": tax_assumption(s.as_of.year)}

    def figures(self) -> dict:
        s = self.screening
        summary = s.summary()
        return {
            "as_of": s.as_of.isoformat(), "policy_year": s.as_of.year, "rules_version": s.rules.version,
            "rows_read": summary["rows_read"], "firms_screened": summary["firms_screened"],
            "rows_rejected": summary["rows_rejected"],
            "by_measure": self.by_measure(), "by_kind": self.by_kind(), "by_department": self.by_department(),
            "by_district": self.by_district(), "by_industry": self.by_industry(), "pools": self.pools(),
            "requested": {mid: v["pool"]["requested"] for mid, v in self.by_measure().items() if v["pool"]},
            "granted": {mid: v["pool"]["granted"] for mid, v in self.by_measure().items() if v["pool"]},
            "range": self.range(), "assumptions": self.assumptions(),
            "counted_once": [c.figures() for c in self.counted_once],
        }


class _Params:
    def __init__(self, params: dict):
        self.params = params


def budget_of(screening: Screening) -> Budget:
    try:
        measures = {m.id: measure_budget(m, screening.measures[m.id], screening.params)
                    for m in screening.rules.measure_list()}
    except PoolUnset as exc:
        raise screening.rules.params[exc.name].unset(screening.as_of) from None
    return Budget(screening, measures, count_once(measures, screening))


# -- what-if ----------------------------------------------------------------------------------------------------------

def delta(base, scenario):
    """scenario − baseline for every number the two share (a key missing on one side counts as 0)."""
    if isinstance(base, dict) or isinstance(scenario, dict):
        base, scenario = base or {}, scenario or {}
        keys = list(base) + [k for k in scenario if k not in base]
        out = {}
        for k in keys:
            d = delta(base.get(k), scenario.get(k))
            if d is not None:
                out[k] = d
        return out
    numbers = (int, float, Decimal)
    if isinstance(base, bool) or isinstance(scenario, bool):
        return None
    if (base is None or isinstance(base, numbers)) and (scenario is None or isinstance(scenario, numbers)) \
            and not (base is None and scenario is None):
        if isinstance(base, float) or isinstance(scenario, float):  # shown figures: their difference, exactly
            return float(exact(scenario or 0) - exact(base or 0))
        return (scenario or 0) - (base or 0)
    return None


def changes(base: Screening, scenario: Screening, limit: int | None = 100) -> dict:
    """Per measure, the firms that become eligible (gain) and those that stop being eligible (lose)."""
    codes = base.table.columns.text["credit_code"].values
    names = base.table.columns.text["name"].values
    out = {}
    for mid, mc in base.measures.items():
        before = mc.status == ELIGIBLE
        after = scenario.measures[mid].status == ELIGIBLE
        gained, lost = (after & ~before).nonzero()[0], (before & ~after).nonzero()[0]
        if not len(gained) and not len(lost):
            continue
        pick = (lambda idx: idx) if limit is None else (lambda idx: idx[:limit])
        out[mid] = {
            "gained": int(len(gained)), "lost": int(len(lost)),
            "gained_firms": [{"credit_code": codes[i], "name": names[i]} for i in pick(gained)],
            "lost_firms": [{"credit_code": codes[i], "name": names[i]} for i in pick(lost)],
        }
    return out


def compare(base: Budget, scenario: Budget, limit: int | None = 100) -> dict:
    b, s = base.figures(), scenario.figures()
    return {"baseline": b, "scenario": s, "delta": delta(_numeric_view(b), _numeric_view(s)),
            "changes": changes(base.screening, scenario.screening, limit),
            "overrides": sorted(scenario.screening.overrides)}


def budget_of_list(rules: RuleSet, read, as_of: dt.date, overrides: dict | None = None) -> Budget:
    """The budget of a list as read (a ListRead): its screening under the overrides, rolled up."""
    return budget_of(screen_table(rules, read.table, as_of, overrides, read))


@dataclass
class WhatIf:
    """A list's budget and, when parameters were changed, its budget under them: what the CLI, the API and the
    budget page show."""

    base: Budget
    scenario: Budget | None = None

    def __post_init__(self):
        self.comparison = compare(self.base, self.scenario) if self.scenario is not None else None

    @property
    def shown(self) -> Budget:
        """The budget a workbook presents: the scenario's when there is one."""
        return self.base if self.scenario is None else self.scenario

    def figures(self) -> dict:
        """Baseline, scenario and delta with a scenario; the budget's figures without."""
        return self.base.figures() if self.comparison is None else self.comparison


def what_if(rules: RuleSet, read, as_of: dt.date, overrides: dict | None) -> WhatIf:
    """The baseline budget of a list and, with overrides, the scenario beside it."""
    base = budget_of_list(rules, read, as_of)
    return WhatIf(base, budget_of_list(rules, read, as_of, overrides) if overrides else None)


def _numeric_view(figures: dict) -> dict:
    """The totals a delta is taken of (not the assumptions)."""
    return {k: v for k, v in figures.items() if k not in ("assumptions", "as_of", "rules_version", "policy_year")}


def load_scenario(path: str) -> list[str]:
    """A scenario file: YAML with `set:` (or the mapping itself) of parameter names to values → NAME=VALUE strings."""
    import yaml

    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{path}: scenario file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if isinstance(data, dict) and "set" in data:
        data = data["set"]
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: expected `set:` with parameter names and values")
    out = []
    for name, value in data.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        if isinstance(value, dt.date):
            value = value.isoformat()
        out.append(f"{name}={value}")
    return out

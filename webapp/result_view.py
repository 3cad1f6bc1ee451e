"""The self-check result in the order a firm reads it: first the headline (how many measures it can have, roughly how
much, how many near misses and open questions), then the measures grouped: eligible, needs information, near misses,
other not eligible, not in force here. No policy here: statuses, amounts and shortfalls all come from the check."""

from __future__ import annotations

from fractions import Fraction

from engine.common.money import exact, round_amount
from engine.rules.loader import RuleSet

GROUPS = ("eligible", "undetermined", "nothing_yet", "near", "ineligible", "not_in_force")
FIRST_QUESTIONS = 3  # shown open beside the cards they settle; the rest are folded


def failed_conditions(r: dict) -> list[dict]:
    """The conditions that decided an ineligible result (the failed branch, not every false leaf)."""
    decided = set(r.get("failed_paths") or [])
    return [c for c in r.get("conditions") or [] if c.get("held") is False and c.get("path") in decided]


def near_miss(r: dict) -> bool:
    """Ineligible only for thresholds with a known shortfall: the firm is short of something it can measure."""
    failed = failed_conditions(r)
    return r["status"] == "ineligible" and bool(failed) and all(c.get("shortfall") for c in failed)


def nothing_yet(r: dict, rules: RuleSet) -> bool:
    """Ineligible only because no loan or service counts yet (none listed, or none of the kind): the firm has nothing
    to claim yet rather than being refused."""
    m = rules.measures.get(r["measure"])
    if r["status"] != "ineligible" or m is None or m.items is None:
        return False
    failed = failed_conditions(r)
    items_label = m.items.label if isinstance(m.items.label, dict) else None
    return bool(failed) and items_label is not None and all(c.get("label") == items_label for c in failed) and \
        not any(item.get("counts") for item in r.get("items") or [])


def reasons(r: dict) -> list[dict]:
    """The failed conditions of an ineligible card, the alternatives of one "any" group as one line with its routes
    (five routes are one condition not met, not five failures)."""
    by_path = {c["path"]: c for c in r.get("conditions") or []}
    out, groups = [], {}
    for c in failed_conditions(r):
        parent = by_path.get(c["path"].rpartition(".")[0])
        if parent is not None and parent.get("kind") == "any":
            if parent["path"] not in groups:
                groups[parent["path"]] = {"condition": parent, "routes": []}
                out.append(groups[parent["path"]])
            groups[parent["path"]]["routes"].append(c)
        else:
            out.append({"condition": c, "routes": []})
    return out


def overview(obj: dict, rules: RuleSet) -> dict:
    """{groups: {group: [result]}, counts, sure: {kind: amount}, sure_total, possible_total} in 万元, rounded once
    (engine/common/money.py)."""
    groups: dict[str, list] = {g: [] for g in GROUPS}
    for r in obj["results"]:
        groups["near" if near_miss(r) else "nothing_yet" if nothing_yet(r, rules) else r["status"]].append(r)
    kinds = rules.amount_kinds()
    sure = {k: obj["totals"].get(k) or 0.0 for k in kinds}
    # each figure is already to the cent; summed exactly and rounded once, so many of them never drift by float error
    sure_sum = sum((exact(v) for v in sure.values()), Fraction(0))
    possible = sum((exact(r["potential_amount"]) for r in groups["undetermined"]
                    if r.get("potential_amount") is not None and r.get("budget_kind") in kinds), Fraction(0))
    return {"groups": groups, "counts": {g: len(v) for g, v in groups.items()}, "sure": sure,
            "sure_total": round_amount(sure_sum), "possible_total": round_amount(sure_sum + possible)}


def item_amounts(rules: RuleSet, r: dict, lang: str, on) -> list[str]:
    """What each loan or service would bring, in words with the parameters' values (the measure's item formulas)."""
    from .catalogue_words import formula_text

    m = rules.measures[r["measure"]]
    items = {"of": m.items.of, "label": m.items.label}
    return [formula_text(rules, text, lang, on, items, m) for _node, text in m.items.amounts.values()]

"""The self-check result in the order a firm reads it: first the headline (how many measures it can have, roughly how
much, how many near misses and open questions), then the measures grouped: eligible, needs information, near misses,
other not eligible, not in force here. No policy here: statuses, amounts and shortfalls all come from the check."""

from __future__ import annotations

from engine.common.money import round_amount
from engine.rules.loader import RuleSet

GROUPS = ("eligible", "undetermined", "near", "ineligible", "not_in_force")
FIRST_QUESTIONS = 3  # shown open beside the cards they settle; the rest are folded


def failed_conditions(r: dict) -> list[dict]:
    """The conditions that decided an ineligible result (the failed branch, not every false leaf)."""
    decided = set(r.get("failed_paths") or [])
    return [c for c in r.get("conditions") or [] if c.get("held") is False and c.get("path") in decided]


def near_miss(r: dict) -> bool:
    """Ineligible only for thresholds with a known shortfall: the firm is short of something it can measure."""
    failed = failed_conditions(r)
    return r["status"] == "ineligible" and bool(failed) and all(c.get("shortfall") for c in failed)


def overview(obj: dict, rules: RuleSet) -> dict:
    """{groups: {group: [result]}, counts, sure: {kind: amount}, sure_total, possible_total} in 万元, rounded once
    (engine/common/money.py)."""
    groups: dict[str, list] = {g: [] for g in GROUPS}
    for r in obj["results"]:
        groups["near" if near_miss(r) else r["status"]].append(r)
    kinds = rules.amount_kinds()
    sure = {k: obj["totals"].get(k) or 0.0 for k in kinds}
    possible = sum(r["potential_amount"] for r in groups["undetermined"]
                   if r.get("potential_amount") is not None and r.get("budget_kind") in kinds)
    sure_total = round_amount(sum(sure.values()))
    return {"groups": groups, "counts": {g: len(v) for g, v in groups.items()}, "sure": sure,
            "sure_total": sure_total, "possible_total": round_amount(sure_total + possible)}

"""Provenance lines (MEASURES-2.md "Provenance"): for a measure's result, one line per figure, window or criteria
version it rests on that is not [F], with the sentence of rules/provenance.yaml. Used by the `check` object, the
result and catalogue pages, the workbooks and the budget."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from engine.rules.loader import Measure, RuleSet, parameters_of, read_yaml


@lru_cache(maxsize=8)
def _tags(directory: Path) -> dict:
    path = directory / "provenance.yaml"
    return ((read_yaml(path)[0] or {}).get("tags") or {}) if path.exists() else {}


def sentence(rules: RuleSet, tag, lang: str = "zh") -> str:
    words = _tags(rules.directory).get(tag.letter) or {}
    unsourced = words.get("unsourced") or {}
    # a figure whose note says no source was found reads so, not as borrowed from "no source"
    spec = unsourced.get("sentence") if unsourced and tag.note == unsourced.get("note") else words.get("sentence")
    return str((spec or {}).get(lang) or "").replace("{note}", tag.note)


def _covers(rules: RuleSet, place: str, district: str | None) -> bool:
    if district is None:
        return True
    j = rules.jurisdictions.get(place)
    return place == district if j is None else (j.districts is None or district in j.districts)


def _line(rules: RuleSet, what: str, label: dict, tag) -> dict:
    return {"parameter": what, "label": label, "tag": tag.letter, "note": tag.note or None,
            "sentence": {lang: sentence(rules, tag, lang) for lang in ("zh", "en")}}


def provenance(rules: RuleSet, m: Measure, as_of: dt.date, district: str | None = None,
               overrides: dict | None = None, item_dates: dict | None = None) -> list[dict]:
    """The non-[F] lines of one measure on as_of for a firm of `district` (None: every place's value is listed).
    A parameter a what-if sets is the user's figure and has no line. `item_dates` (parameter -> dates) names the
    parameters an item takes on its own date (`NAME[field] @ date_field`) with the dates of the firm's items that
    use it: each date's period gives the tag. The same for every firm of a district with the same item dates, so
    computed once for each (a screen writing --jsonl asks for every firm)."""
    dated = tuple(sorted((k, tuple(sorted(v))) for k, v in (item_dates or {}).items()))
    key = (m.id, m.version, as_of, district, tuple(sorted(overrides or ())), dated)
    lines = rules.__dict__.setdefault("provenance_lines", {})  # kept on the rules they read, never on another's
    cached = lines.get(key)
    if cached is None:
        if len(lines) > 4096:
            lines.clear()
        cached = lines[key] = _provenance(rules, m, as_of, district, overrides or {}, dict(dated))
    return [dict(line) for line in cached]


def _dated_lines(rules: RuleSet, name: str, dates: tuple, as_of: dt.date, overrides: dict) -> list[dict]:
    """The non-[F] lines of a parameter an item takes on its own date: one per period its items' dates fall in (a
    date before the first value takes the first value; a what-if replaces the period that contains as_of)."""
    p = rules.params[name]
    starts = [start for start, _ in p.values]
    on = p.date_for(as_of)
    current = max((k for k, start in enumerate(starts) if on is not None and start <= on), default=0)
    out, seen = [], set()
    for day in dates:
        k = max((k for k, start in enumerate(starts) if start <= day), default=0)
        if k in seen or (k == current and name in overrides):
            continue
        seen.add(k)
        tag = p.tag_at(starts[k])
        if tag is not None and tag.letter != "F":
            label = {"zh": f"{p.zh}（{starts[k].isoformat()}起的取值）", "en": f"{p.en} (value from {starts[k].isoformat()})"}
            out.append(_line(rules, name, label, tag))
    return out


def _provenance(rules: RuleSet, m: Measure, as_of: dt.date, district: str | None, overrides: dict,
                item_dates: dict) -> list[dict]:
    out = []
    for j, tag in m.window_tags():
        if tag.letter != "F" and (j is None or (j in m.jurisdiction_on(as_of) and _covers(rules, j, district))):
            label = {"zh": "政策有效期" + (f"（{rules.jurisdictions[j].zh}）" if j else ""),
                     "en": "window" + (f" ({rules.jurisdictions[j].en})" if j else "")}
            out.append(_line(rules, "window" if j is None else f"window@{j}", label, tag))
    names = parameters_of(rules, m)
    if m.version_param:
        names = sorted(set(names) | {m.version_param})
    for name in names:
        p = rules.params[name]
        if name in item_dates:
            out += _dated_lines(rules, name, item_dates[name], as_of, overrides)
            continue
        if name in overrides or (p.base is not None and p.base in overrides):
            continue
        if p.base is not None and not _covers(rules, p.place, district):
            continue
        if p.base is None and p.places and district is not None and any(
                _covers(rules, place, district) for place in p.places):
            continue  # a place's own value applies to this firm
        tag = p.tag_at(as_of)
        if tag is not None and tag.letter != "F":
            place = rules.jurisdictions.get(p.place) if p.place else None
            where = {"zh": place.zh if place else p.place, "en": place.en if place else p.place}
            label = {lang: getattr(p, lang) + ((f"（{where[lang]}）" if lang == "zh" else f" ({where[lang]})")
                                               if p.place else "") for lang in ("zh", "en")}
            out.append(_line(rules, name, label, tag))
    return out


def grouped(lines: list[dict]) -> list[dict]:
    """The lines with one sentence made one: [{tag, labels: {zh, en}, sentence}] in first-seen order (compact for a
    page, a report or a cell)."""
    groups: dict = {}
    for line in lines:
        key = (line["tag"], line["sentence"]["zh"])
        group = groups.setdefault(key, {"tag": line["tag"], "labels": {"zh": [], "en": []},
                                        "sentence": line["sentence"]})
        for lang in ("zh", "en"):
            group["labels"][lang].append(line["label"][lang])
    return [{**g, "labels": {"zh": "、".join(g["labels"]["zh"]), "en": "; ".join(g["labels"]["en"])}}
            for g in groups.values()]


def provenance_text(lines: list[dict], lang: str = "zh") -> str:
    """The lines in one cell: `[T] labels: sentence` per sentence (empty when every figure is [F])."""
    return ("\n").join(f"[{g['tag']}] {g['labels'][lang]}: {g['sentence'][lang]}" for g in grouped(lines))


def measure_note(rules: RuleSet, measure_id: str, as_of: dt.date, overrides: dict | None = None,
                 lang: str = "zh") -> str:
    """One cell for a list or a budget (no one district): the measure's non-[F] lines on as_of, every place's."""
    run = rules.for_run(as_of, overrides)
    return provenance_text(provenance(run, run.measures[measure_id], as_of, None, overrides), lang)


def parameter_tag(rules: RuleSet, name: str, as_of: dt.date) -> str:
    """`D 舟山` — the tag of a parameter's value on as_of (empty when it has none then)."""
    tag = rules.params[name].tag_at(as_of)
    return tag.text() if tag is not None else ""

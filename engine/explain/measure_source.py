"""Python source generated per measure: its whole entry in the check object of one firm's scalar evaluation, as
straight-line code, as its conditions' entries already are (entries_source.py).

The explainer's `measure_entry` asks each measure's rules, per firm, what its entry has (a version? parts? values,
a report, tests, advisories, benefits, a pool, items, a score?) and loops over its values, its tests' parts and its
advisories (issue 10: ~3–5 µs of fixed cost per measure, 27 measures a firm). What the rules answer is the same for
every firm, so it is settled when the code is written: the function of a measure holds only what that measure has,
its conditions' entries inline (scalar_node_lines), its values, report, tests and advisories unrolled by name, and the
entry made as one dict of the keys every entry has, in the order the explainer writes them. What depends on the firm
(its status, missing fields, amounts, district, results, values) is read as `measure_entry` reads it, so the entry
is the one `measure_entry` makes, byte for byte (tests/test_explain_shared.py, tests/test_explain_scalar_read.py).

The source depends on the measure's structure (its nodes, values, tests, advisories and which keys it has), not on
its words: one code object serves every plan (date, what-if) of a rule set; each plan binds its own words as the
function's globals."""

from __future__ import annotations

from decimal import Decimal

from engine.common.money import round_amount
from engine.evaluate.evaluator import INELIGIBLE, NOT_IN_FORCE, STATUSES
from engine.evaluate.scalar import Interval, MeasureValues, Unknown
from engine.explain.entries_source import compiled, entries_namespace, known_code, scalar_node_lines
from engine.explain.mask_names import decoded_bits, row_names
from engine.explain.score_routes import score_fields, score_routes

_NOT_APPLIED = STATUSES[NOT_IN_FORCE]
_INELIGIBLE = STATUSES[INELIGIBLE]


def amount_at(r, key: str, values, i: int) -> float | None:
    """Row i's amount rounded to the cent from its exact value; None (null) where there is none."""
    value = values[i]
    return None if value != value else round_amount(r.exact[key].at(i))


def row_number(value) -> float | None:
    """A value as one firm's scalar evaluation holds it, as a number its one-row view shows: a float (none where NaN),
    an Interval where its bounds meet, a parameter (a Decimal) as its float; anything else none."""
    kind = type(value)
    if kind is float:
        return value if value == value else None
    if kind is Interval:
        lo = value.lo
        return float(lo) if lo == value.hi else None
    if isinstance(value, Decimal):
        return float(value)
    return None


def measure_source(words) -> str:
    """The source of `entry(x, r, i, d, tools)`: the entry of measure evaluation r (one firm's scalar evaluation, row
    i, whose district is d) that the explainer x's measure_entry writes, for the measure `words` (plan.py
    MeasureWords) words; tools: the explainer's (names, shown_scalar, shortfall) and the evaluation's results, made
    once per check (Explainer.tools)."""
    m = words.m
    has_amount = m.amount is not None or bool(m.parts)
    lines = [
        "def entry(x, r, i, d, tools):",
        "    status = STATUSES[int(r.status[i])]",
        # a measure's masks are read-only rows shared by every firm with those bits (decoded once: row_names),
        # looked up as the evaluation holds them; else read through the evaluation's properties (a mask found or
        # made whole when first read)
        "    rows = x.rows",
        "    stored = r.__dict__",
        "    mask = stored['missing']",
        "    found = rows.get(id(mask))",
        "    missing = list(found[1]) if found is not None and found[0] is mask else ROW_NAMES(RULES, r.missing, i)",
        "    mask = stored['zero']",
        "    found = rows.get(id(mask))",
        "    zero = list(found[1]) if found is not None and found[0] is mask else ROW_NAMES(RULES, r.zero, i)",
        "    if missing or zero:",
        "        reasons = {**{name: 'not_found' for name in missing if name in NOT_FOUND},"
        " **{name: 'zero' for name in zero}}",
        "    else:",
        "        reasons = {}",
        "    failed = [] if status == INELIGIBLE else None  # the conditions that decided it, found while made",
        "    district = r.district",
        "    outside = district is not None and bool(district.f[i])",
        # an amount is set only where eligible, a potential amount only where undetermined (MeasureEvaluation)
        *(["    amount = potential = None",
           "    if status == 'eligible':",
           "        value = r.amount[i]",
           "        if value == value:",
           "            amount = ROUND(r.exact['amount'].at(i))",
           "    elif status == 'undetermined':",
           "        value = r.potential[i]",
           "        if value == value:",
           "            potential = ROUND(r.exact['potential'].at(i))"] if has_amount else
          ["    amount = potential = None  # no amount: null where it applies and where it does not"]),
        "    conditions = []",
        "    if r.in_force:",
        "        if district is not None:",
        "            held = True if district.t[i] else False if district.f[i] else None",
        "            e = DISTRICT_ENTRIES[held].copy()",
        "            e['value'] = d",
        f"            e['threshold'] = {list(words.district_ids)!r}",
        "            e['missing'] = ['district'] if d is None else []",
        "            conditions.append(e)",
        "            if held is False and failed is not None:",
        "                failed.append(e)",
        "        if not outside:  # outside the jurisdiction nothing else decides",
        "            get = r.nodes.source.get",
        "            operands = r.operands.source.get",
        "            names, shown, shortfall, results = tools",
        *scalar_node_lines(words.nodes, "            ", "conditions", firm=True),
        "    entry = {'measure': ID, 'name': NAME, 'status': status, 'amount': amount, 'potential_amount': potential,",
        "             'budget_kind': BUDGET_KIND, 'department': DEPARTMENT, 'jurisdiction': list(JURISDICTION),",
        "             'missing': missing, 'missing_reasons': reasons, 'conditions': conditions,",
        "             'citations': list(CITATIONS)}",
    ]
    if words.item_dated:
        lines.append("    lines, notes = WORDS.provenance(RULES, d or None, {} if outside else x.item_dates(M, i, r))")
    else:  # words.provenance's lookup, inline
        lines += ["    found = LINES.get((d or None, ()))",
                  "    lines, notes = found if found is not None else WORDS.provenance(RULES, d or None, {})"]
    lines += ["    entry['provenance'] = list(lines)",
              "    if lines:  # one line per sentence (the pages read them)",
              "        entry['provenance_notes'] = list(notes)"]
    if m.version:
        lines.append("    entry['version'] = VERSION")
    if m.part_labels:
        lines.append("    entry['part_labels'] = PART_LABELS")
    if m.parts:
        lines += ["    if r.parts:",
                  "        entry['parts'] = {k: AMOUNT_AT(r, f'parts.{k}', v, i) for k, v in r.parts.items()}",
                  "    if r.potential_parts:",
                  "        entry['potential_parts'] = {k: AMOUNT_AT(r, f'potential_parts.{k}', v, i)",
                  "                                    for k, v in r.potential_parts.items()}"]
    if m.values:  # one firm's values: a MeasureValues where the measure applies
        lines += ["    if type(r.values) is MeasureValues and not outside:",
                  "        scalar = r.values.scalar"]
        for k, name in enumerate(words.shown_order):  # each shown as its one-row view shows it (row_number)
            lines += [f"        v = scalar({name!r})",
                      "        kind = type(v)",
                      f"        v{k} = (v if v == v else None) if kind is float else "
                      "(float(v.lo) if v.lo == v.hi else None) if kind is Interval else None"]
        lines.append("        entry['values'] = {" + ", ".join(f"{name!r}: v{k}"
                                                        for k, name in enumerate(words.shown_order)) + "}")
        if m.report:
            lines.append("        entry['report'] = {" + ", ".join(f"{name!r}: ROUND(ROW_NUMBER(scalar({name!r})))"
                                                            for name in m.report) + "}")
        if words.tests:
            lines += ["        if status == 'eligible' or status == 'undetermined':",
                      "            names = x.names",
                      "            tests = {}",
                      *_test_lines(words, "            "),
                      "            if tests:",
                      "                entry['tests'] = tests"]
    if m.advisories:
        lines += ["    if status != NOT_APPLIED:",
                  "        advisories = r.advisories",
                  "        advised = []"]
        for k in range(len(m.advisories)):
            lines += [f"        when = advisories[{k}]",
                      "        if when is None or when.t[i]:",
                      f"            advised.append(ADVISORY{k})"]
        lines += ["        if advised:",
                  "            entry['advisories'] = advised  # the firm's notes, not conditions"]
    if m.benefits:
        lines.append("    entry['benefits'] = list(BENEFITS)")
    if m.benefit:
        lines.append("    entry['benefit'] = BENEFIT")
    if m.pool is not None:
        lines.append("    entry['pool'] = POOL")
    if m.how_to_apply:
        lines.append("    entry['next_steps'] = NEXT_STEPS")
    if m.items is not None:
        lines += ["    items = r.items",
                  "    if items is not None and status != NOT_APPLIED:",
                  # most firms give no item of most lists: nothing to show, without a call
                  "        entry['items'] = x.items(r, i, WORDS) if len(items.firm) else []"]
    lines += ["    if not r.in_force:",
              "        entry['reason'] = OUTSIDE_WINDOW",
              "    elif status == NOT_APPLIED:",
              "        entry['reason'] = OUTSIDE_DISTRICT",
              "    elif status == INELIGIBLE:",
              "        entry['failed'] = [c['label'] for c in failed]",
              "        entry['failed_paths'] = [c['path'] for c in failed]"]
    if words.scored:
        lines += ["    if (status == INELIGIBLE or status == 'undetermined') and type(r.values) is MeasureValues:",
                  # the firm's numbers that the score reads (score_fields), not all of them
                  "        routes = SCORE_ROUTES(RULES, M, x.ev.params, x.numbers(i, SCORE_FIELDS))",
                  "        if routes:",
                  "            entry['score_routes'] = routes  # the cheapest way to the score's threshold (issue 12)"]
    lines.append("    return entry")
    return "\n".join(lines) + "\n"


def _test_lines(words, indent: str) -> list:
    """The lines of the measure's tests (explainer.tests, unrolled): each test that is a condition with whether it
    held and, part by part, why."""
    values = words.m.values
    lines = []
    for t, (name, _zh, _en, parts) in enumerate(words.tests):
        lines += [f"v = scalar({name!r})",
                  "if v is True or v is False or type(v) is Unknown:  # else not a condition",
                  "    held = v if v is True or v is False else None"]
        for k, part in enumerate(parts):
            lines += [f"    p = scalar({part.name!r})",
                      "    part_held = p if p is True or p is False else None"]
            if part.compare:  # its sentence: the plan's head and tail around the firm's value (as a condition's)
                number = f"ROW_NUMBER(scalar({part.left!r}))" if part.left in values else "None"
                lines += [f"    s = PF{t}_{k}({number})",
                          f"    text = {{'zh': f'{{PHZ{t}_{k}}}{{s[0]}}{{PTZ{t}_{k}}}', "
                          f"'en': f'{{PHE{t}_{k}}}{{s[1]}}{{PTE{t}_{k}}}'}}"]
            else:
                lines.append(f"    text = PL{t}_{k}")
            lines.append(f"    part{k} = {{'label': PL{t}_{k}, 'held': part_held, 'text': text, "
                         "'missing': names(p.miss) if part_held is None else []}")
        shown = ", ".join(f"part{k}" for k in range(len(parts)))
        lines.append(f"    tests[{name!r}] = {{'label': TL{t}, 'held': held, "
                     f"'missing': names(v.miss) if held is None else [], 'parts': [{shown}]}}")
    return [indent + line for line in lines]


def measure_function(words, rules, not_found: frozenset):
    """The generated `entry(x, r, i, d, tools)` of the measure `words` words (measure_source), bound to the plan's words:
    `rules` the rule set, `not_found` the parameters whose missing value reads "not found"."""
    source = measure_source(words)
    code = known_code(source)
    if code is None:
        code = compiled(source, source, "<measure entry>")
    m = words.m
    namespace = entries_namespace(words.nodes, STATUSES, decoded_bits(rules))
    namespace.update({
        "RULES": rules, "NOT_FOUND": not_found, "ROW_NAMES": row_names, "ROUND": round_amount, "AMOUNT_AT": amount_at,
        "ROW_NUMBER": row_number, "Interval": Interval, "MeasureValues": MeasureValues, "Unknown": Unknown,
        "SCORE_ROUTES": score_routes, "SCORE_FIELDS": score_fields(rules, m), "INELIGIBLE": _INELIGIBLE, "NOT_APPLIED": _NOT_APPLIED, "WORDS": words, "M": m,
        "LINES": words.lines, "DISTRICT_ENTRIES": words.district_entries, "ID": m.id, "NAME": words.name,
        "BUDGET_KIND": m.budget_kind, "DEPARTMENT": words.department, "JURISDICTION": words.jurisdiction,
        "CITATIONS": words.citations, "VERSION": m.version, "PART_LABELS": m.part_labels,
        "BENEFITS": words.benefits, "BENEFIT": words.benefit, "POOL": m.pool_text, "NEXT_STEPS": m.how_to_apply,
        "OUTSIDE_WINDOW": words.outside_window, "OUTSIDE_DISTRICT": words.outside_district})
    for k, text in enumerate(words.advisories):
        namespace[f"ADVISORY{k}"] = text
    for t, (name, _zh, _en, parts) in enumerate(words.tests):
        namespace[f"TL{t}"] = words.test_labels[name]
        for k, part in enumerate(parts):
            namespace[f"PL{t}_{k}"] = part.label
            if part.compare:
                namespace[f"PF{t}_{k}"] = part.format
                (namespace[f"PHZ{t}_{k}"], namespace[f"PHE{t}_{k}"]), (namespace[f"PTZ{t}_{k}"],
                                                                      namespace[f"PTE{t}_{k}"]) = part.heads, part.tails
    exec(code, namespace)  # defines `entry` in namespace: its globals are the words bound above
    return namespace["entry"]


__all__ = ["amount_at", "measure_function", "measure_source", "row_number"]

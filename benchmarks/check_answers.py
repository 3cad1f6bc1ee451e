"""Every answer of engine.service.check for the sample firms and for random mutations of them, one JSON line each
(the check object, or every problem of the InputError: field, value, zh and en reason, item, index, code), so that
two checkouts can be compared byte for byte. Prints, never asserts.

    python benchmarks/check_answers.py ROOT OUT.jsonl [--count 1500] [--seed 11] [--kind any|typed|first_sets]
    cmp OLD.jsonl NEW.jsonl

ROOT is a checkout (for example `git archive <commit> | tar -x -C /tmp/old`); run it once per checkout with the same
count, seed and kind. Kinds of mutation (1 to 5 per firm): `any` sets a field or an item's field to a value from a
pool of refused, blank, boundary, full-width and list values, repeats an item or adds a key that is no field;
`typed` sets valid values of each field's type, drops fields and repeats items (the checks across fields, the links
among items and filled_from contradictions reject); `first_sets` changes the first-set firms' policies and items
(references, duplicates, totals and the joined check zhejiang_policy_year).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import glob
import json
import os
import random
import sys

AS_OF = dt.date(2026, 11, 22)
POOL = [None, "", " ", "abc", "１２３", "12,345.6", "1e5", -1, 0, 1, 2, 3, 0.5, 1.0000005, 999999999999, 10**12, 10**19,
        12345678901234567890, True, False, "是", "否", "yes", "N", "2024-02-30", "2024-02-29", "2024/3/1", "2024年3月1日",
        "2030-01-01", "1899-12-31", "0000-01-01", "2024-13-01", 45000, 45000.5, 60, "national", "provincial", "NATIONAL",
        " national ", "国家级", "other", "institute", "zhejiang", "C3511", "c3511", "Z99", "91331081747893521F",
        "91331081747893521X", "台州市路桥区", "路桥", "温岭市", "\u0007bad", [1, 2], {"a": 1}, 1.5e-7, -0.0, "-0",
        "12%", "0.5%", 1122.5, 13800, "13,800", "A1", "A2", "B7", 7, 2019, 2025]
DATES = ["2021-01-11", "2022-01-11", "2023-01-10", "2023-01-11", "2023-06-20", "2024-01-11", "2025-01-10",
         "2025-10-15", "2026-03-01", None]


def _any(rnd, rules, raw, lists) -> None:
    kind = rnd.random()
    if kind < 0.45:
        raw[rnd.choice(list(rules.fields.fields))] = rnd.choice(POOL)
    elif kind < 0.8:
        name = rnd.choice(list(lists))
        entries = raw.get(name)
        if not isinstance(entries, list):
            entries = raw[name] = []
        if not entries or rnd.random() < 0.3:
            entries.append({})
        entry = rnd.choice(entries)
        if isinstance(entry, dict):
            entry[rnd.choice([*rules.item_inputs(lists[name]), "unknown_x"])] = rnd.choice(POOL)
    elif kind < 0.9:
        entries = raw.get(rnd.choice(list(lists)))
        if isinstance(entries, list) and entries:
            entries.append(copy.deepcopy(rnd.choice(entries)))
    else:
        raw[rnd.choice(["_note", "unknown_field", "revenue_4y"])] = rnd.choice(POOL)


def _valid(rnd, spec):
    if spec.type in ("money", "decimal"):
        return rnd.choice([0, 1, 5, 10, 100, 500, 1000, 5000, 13800, 40000, 0.5, 12.25, 999.9999995, 300.1234567])
    if spec.type == "integer":
        return rnd.choice([0, 1, 2, 3, 5, 10, 100, 300, 1000])
    if spec.type == "date":
        return rnd.choice(["2015-06-30", "2020-01-01", "2021-12-31", "2023-05-05", "2024-02-29", "2025-11-30",
                           "2026-11-22"])
    if spec.type == "yesno":
        return rnd.choice([True, False, None])
    if spec.type == "code" and spec.codes:
        return rnd.choice(list(spec.codes))
    return rnd.choice(["A1", "A2", "B7"])


def _typed(rnd, rules, raw, lists) -> None:
    kind = rnd.random()
    if kind < 0.4:
        name = rnd.choice([n for n, s in rules.fields.fields.items() if s.type != "list"])
        raw[name] = _valid(rnd, rules.fields.fields[name])
    elif kind < 0.5:
        raw.pop(rnd.choice(list(raw)), None)
    else:
        name = rnd.choice(list(lists))
        entries = raw.get(name)
        if not isinstance(entries, list):
            entries = raw[name] = []
        specs = rules.item_inputs(lists[name])
        if not entries or rnd.random() < 0.3:
            entries.append({f: _valid(rnd, s) for f, s in specs.items() if rnd.random() < 0.7})
        elif rnd.random() < 0.3:
            entries.append(copy.deepcopy(rnd.choice(entries)))
        else:
            field = rnd.choice(list(specs))
            rnd.choice(entries)[field] = _valid(rnd, specs[field])


def _first_sets(rnd, rules, raw, lists) -> None:
    policies, items = raw.setdefault("first_set_policies", []), raw.setdefault("first_sets", [])
    kind = rnd.random()
    if kind < 0.55 and policies:
        field = rnd.choice(["scheme", "start", "year_index", "item_id", "policy_id", "premium_paid", "insured_value"])
        rnd.choice(policies)[field] = rnd.choice({
            "scheme": ["zhejiang", "national", None], "start": DATES, "year_index": [1, 2, 3, 4, None],
            "item_id": ["ZJ2023-0342", "ZJ2023-0088", "ZJ-X", None], "policy_id": ["P1", "P2", None],
            "premium_paid": [True, False, None], "insured_value": [100, 2000.5, None]}[field])
    elif kind < 0.75 and items:
        field = rnd.choice(["recognized", "item_id", "national_catalog"])
        rnd.choice(items)[field] = rnd.choice(DATES if field == "recognized" else
                                              ["ZJ2023-0342", "ZJ2023-0088", "ZJ-X", None] if field == "item_id"
                                              else [True, False, None])
    elif kind < 0.9:
        (policies if rnd.random() < 0.6 else items).append(copy.deepcopy(rnd.choice(policies or items or [{}])))
    else:
        raw["rd_institute"] = rnd.choice([True, False, None])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("out")
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--kind", choices=["any", "typed", "first_sets"], default="any")
    args = parser.parse_args()
    sys.path.insert(0, args.root)
    from engine.common.errors import InputError
    from engine.rules.loader import default_rules
    from engine.service import check

    rules = default_rules()
    firms = {os.path.basename(p)[:-5]: json.load(open(p, encoding="utf-8"))
             for p in sorted(glob.glob(os.path.join(args.root, "sample_firms", "*.json")))}
    if args.kind == "first_sets":
        firms = {k: v for k, v in firms.items() if v.get("first_set_policies") or v.get("first_sets")}
    lists = {name: spec.item for name, spec in rules.fields.fields.items() if spec.type == "list"}
    mutate = {"any": _any, "typed": _typed, "first_sets": _first_sets}[args.kind]
    rnd = random.Random(args.seed)
    cases = list(firms.items())
    for k in range(args.count):
        name, base = rnd.choice(list(firms.items()))
        raw = copy.deepcopy(base)
        for _ in range(rnd.choice([1, 2, 3, 4, 5])):
            mutate(rnd, rules, raw, lists)
        cases.append((f"{name}#{k}", raw))
    counts = {"check": 0, "problems": 0, "error": 0}
    with open(args.out, "w", encoding="utf-8") as out:
        for label, raw in cases:
            try:
                answer = {"check": check(raw, AS_OF, rules=rules)}
            except InputError as exc:
                answer = {"problems": [[p.field, repr(p.value), p.reason_en, p.reason_zh, p.item, p.index, p.code]
                                       for p in exc.problems], "message": str(exc)}
            except Exception as exc:  # noqa: BLE001 - an error is an answer too, compared as it is
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            counts[next(iter(answer))] += 1
            out.write(json.dumps([label, answer], ensure_ascii=False, default=str) + "\n")
    print(f"{len(cases)} answers to {args.out}: {counts}")


if __name__ == "__main__":
    main()

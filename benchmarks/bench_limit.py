"""The bare lower bound of issue 10, for `make bench`. Prints figures, never asserts.

The 11 measures of MEASURES.md §4.1–§4.11 written as a throwaway NumPy script: two-valued (an unknown input fails its
test, nothing is explained, no missing fields are collected), every ratio, list test and list total computed once and
shared by the measures that use it. It reads the engine's table (the same columns the engine reads) and the
parameter values in force on as_of; the structure of the conditions is hard-coded, which is allowed here only.

It does the same work as the engine in substance: the same conditions, ratios rounded half-up to 4 decimals exactly
(binary floats redone in integers next to a half, as MEASURES.md §1 requires), the same amounts in the same order of
operations, list items tested one by one and summed per firm. The cross-check printed at the end compares it with the
engine on every row the engine decides (eligible, ineligible or not in force): the statuses agree, and the amounts of
firms both call eligible agree to the cent (both null, or within half a cent). Deliberate simplifications, none of
which changes a decided row:
- an unknown input fails the test that reads it, also under `not` (`not dishonest` holds only for a known "no");
- the tech-SME score counts an unknown part as 0 (each table's lowest value), so a decided score route agrees;
- an unknown district fails the jurisdiction test; "not in force" and "ineligible" are both "not eligible";
- the amount of a firm that is not eligible is 0; an eligible firm's amount is nan where an input is missing.

It follows the rules as they are: the tax amounts are MEASURES.md §1.1's (`_taxes`: the small-firm test and tiers of
fiscal year Y-1, the HNTE rate the lower of the two; hnte's saving tax_general(T) − tax_hnte(T), the super
deduction's tax(T + E) − tax(T)), and the super-deduction rate's one case (`ic_or_machine_tool`, FY2023–2027) is
hard-coded. When rules/ changes a condition or an amount, tests/test_bench_limit.py fails until this file follows.
Times are wall-clock medians (the targets) and CPU medians: on a shared machine the CPU time of a one-thread run is
the steadier figure.

    python benchmarks/bench_limit.py [--rows 1000000] [--repeat 5] [--no-screen]

1. The 1,000,000-firm table built from data frames (`table_from_frames`). Target ≤ 3 s.
2. Engine (one thread, `evaluate` of the same eleven measures on the whole table, no explanations) and bare (one
   thread), alternating, medians, and the ratio engine ÷ bare. Target ≤ 3×. Then the whole catalogue, engine only,
   and on the same firms with the five sheets of MEASURES-2 the whole catalogue ÷ the eleven (target ≤ 2×).
3. The engine's screening of the same table on its threads, two on two cores (`screen_table`, column-wise, no file
   I/O): the eleven measures (target ≤ 1.0 s), then the whole catalogue.
4. The cross-check: agreement per measure on the rows the engine decides.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Everything this script takes from the engine (its packages are being reorganised: update these lines only)
from engine.evaluate.evaluator import ELIGIBLE, UNDETERMINED, evaluate  # noqa: E402
from engine.inputs.frames import table_from_frames  # noqa: E402
from engine.rules.params import resolve  # noqa: E402
from engine.rules.loader import default_rules  # noqa: E402
from engine.outputs.screen import screen_table  # noqa: E402
from sample_firms.generate import agree_with_platforms, generate, generate_lists  # noqa: E402

AS_OF = dt.date(2026, 11, 22)
EPOCH = dt.date(1970, 1, 1)
HALF_CENT = 0.005


# -- the bare measures ---------------------------------------------------------------------------------------------

def _days(day: dt.date) -> float:
    return float((day - EPOCH).days)


def _years_before(day: dt.date, years: int) -> dt.date:
    """The latest founding date that makes a firm `years` old on `day` (29 February plus one year is 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # day is 29 February: a firm of 28 February that many years before is old enough, no later one
        return day.replace(year=day.year - years, day=28)


def _founded_by(day: dt.date, years: int) -> float:
    start = _years_before(day, years)
    if day.month == 2 and day.day == 28:  # a firm founded on 29 February has its anniversary on 28 February
        try:
            start = start.replace(day=29)
        except ValueError:
            pass
    return _days(start)


def _ratio(cols, num: str, den: str) -> np.ndarray:
    """num / den rounded half-up to 4 decimals; nan when either is unknown or den is 0."""
    a, b = cols.num[num], cols.num[den]
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = a / b * 10_000
        floor = np.floor(scaled)
        units = floor + (scaled - floor >= 0.5)
        near = np.abs(scaled - floor - 0.5) < 1e-6
    if near.any():  # binary floats can land on the wrong side only next to a half: redo those rows in integers
        idx = near.nonzero()[0]
        x, y = cols.exact[num][idx], cols.exact[den][idx]
        units[idx] = [(20_000 * int(p) + int(q)) // (2 * int(q)) for p, q in zip(x, y)]
    return np.where(b > 0, units / 10_000, np.nan)


def _cats(column, predicate) -> np.ndarray:
    """A test on a text column, run once per distinct value; an unknown value (code -1) fails it."""
    hits = np.fromiter((predicate(v) for v in column.cats), bool, len(column.cats))
    return np.append(hits, False)[column.codes]


def _lookup(x: np.ndarray, table) -> np.ndarray:
    """The first row of a parameter table whose bound holds; an unknown x takes `otherwise`."""
    out = np.full(len(x), float(table.otherwise))
    for kind, bound, value in reversed(table.rows):
        out = np.where(x >= float(bound) if kind == "at_least" else x <= float(bound), float(value), out)
    return out


def _per_firm(owner: np.ndarray, counted: np.ndarray, amount: np.ndarray, n: int) -> np.ndarray:
    """The sum of the counted items' amounts per firm (nan when a counted item's amount is unknown)."""
    return np.bincount(owner, weights=np.where(counted, amount, 0.0), minlength=n)


def _has(owner: np.ndarray, counted: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, bool)
    out[owner[counted]] = True
    return out


def bare_measures(table, params: dict, districts: dict, as_of: dt.date) -> dict:
    """measure id -> (eligible: bool per firm, amount per firm or None). `params`: the values in force on as_of;
    `districts`: jurisdiction id -> its districts (None = every firm)."""
    p = {k: float(v) for k, v in params.items() if isinstance(v, Decimal)}
    n, cols = table.n, table.columns
    num, flag, text = cols.num, cols.flag, cols.text
    year = as_of.year
    yes = {k: v == 1.0 for k, v in flag.items()}
    no = {k: v == 0.0 for k, v in flag.items()}

    def district_in(*jids):
        allowed = set()
        for jid in jids:
            if districts[jid] is None:
                return np.ones(n, bool)
            allowed |= districts[jid]
        return _cats(text["district"], allowed.__contains__)

    tech_staff_ratio = _ratio(cols, "tech_staff", "employees")
    rd_intensity = _ratio(cols, "rd_expense", "revenue")
    rd_ratio_3y = _ratio(cols, "rd_expense_3y", "revenue_3y")
    rd_cost_ratio = _ratio(cols, "rd_expense", "total_cost")
    domestic_rd_share = _ratio(cols, "rd_domestic_3y", "rd_expense_3y")
    hi_tech_share = _ratio(cols, "hi_tech_revenue", "revenue")

    until = num["hnte_valid_until"]
    hnte_valid = until >= _days(as_of)
    old_enough = num["established"] <= _founded_by(as_of, int(p["hnte.min_age_years"]))
    ip_class1, ip_class2 = num["ip_class1"], num["ip_class2"]
    has_ip = (ip_class1 >= 1) | (ip_class2 >= 1)
    excluded = tuple(params["rd_super_deduction.excluded_industries"])
    deductible_industry = _cats(text["industry_code"], lambda code: not code.startswith(excluded))
    honest = no["dishonest"]

    # §4.1 tech_sme: registered, or the size and conduct tests and the direct or the score route
    staff_score = _lookup(tech_staff_ratio, params["tech_sme.tech_staff_score_table"])
    rd_score = np.maximum(_lookup(rd_intensity, params["tech_sme.rd_intensity_score_table"]),
                          _lookup(rd_cost_ratio, params["tech_sme.rd_cost_score_table"]))
    ip_score = np.where(ip_class1 >= 1, p["tech_sme.ip_class1_score"],
                        _lookup(ip_class2, params["tech_sme.ip_class2_score_table"]))
    score = staff_score + rd_score + ip_score
    direct = hnte_valid | yes["award_5y"] | yes["rd_institute"] | yes["standard_5y"]
    tech_sme = yes["tech_sme_registered"] | (
        (num["employees"] <= p["tech_sme.max_employees"]) & (num["revenue"] <= p["tech_sme.max_revenue"])
        & (num["total_assets"] <= p["tech_sme.max_assets"]) & no["restricted_industry"] & no["major_incident"]
        & honest & deductible_industry
        & (direct | ((score >= p["tech_sme.min_score"]) & (staff_score > 0))))
    hnte_or_sme = hnte_valid | tech_sme

    # §4.2 hnte (can apply) and §4.3 hnte_tax_rate share one amount
    renewal = (until >= _days(dt.date(year, 1, 1))) & (until <= _days(dt.date(year, 12, 31)))
    hnte = ((~hnte_valid | renewal) & old_enough & has_ip
            & _cats(text["tech_field"], set(params["hnte.tech_fields"]).__contains__)
            & (tech_staff_ratio >= p["hnte.min_tech_staff_ratio"])
            & (rd_ratio_3y >= _lookup(num["revenue"], params["hnte.rd_ratio_tiers"]))
            & (domestic_rd_share >= p["hnte.min_domestic_rd_share"])
            & (hi_tech_share >= p["hnte.min_hi_tech_share"])
            & (num["innovation_score"] >= p["hnte.min_innovation_score"]) & no["major_incident"])
    taxable = num["taxable_income"]
    general, certified = _taxes(taxable, num, yes["restricted_industry"], p)
    tax_saving = general - certified

    # §4.4 hnte_cultivation, §4.5 hnte_reward, §4.6 rd_whitelist
    taizhou = district_in("taizhou")
    luqiao = district_in("luqiao")
    cultivation = (taizhou & ~hnte_valid & tech_sme & old_enough & has_ip
                   & (tech_staff_ratio >= p["hnte.min_tech_staff_ratio"])
                   & (rd_intensity >= p["hnte_cultivation.min_rd_intensity"]) & honest)
    first = num["hnte_first_certified"]
    reward = (taizhou & hnte_valid & (first >= _days(dt.date(year - 1, 1, 1)))
              & (first <= _days(dt.date(year, 12, 31))))
    whitelist = luqiao & hnte_or_sme & (rd_intensity > p["rd_whitelist.min_rd_intensity"]) & honest

    # §4.7 rd_super_deduction: the rate depends on the firm (the one case in force since 2023)
    rate = params["rd_super_deduction.rate"]
    if hasattr(rate, "cases"):
        assert [when for _, when, _ in rate.cases] == ["ic_or_machine_tool"], rate.cases
        rate = np.where(yes["ic_or_machine_tool"], float(rate.cases[0][2]), float(rate.otherwise))
    else:
        rate = float(rate)
    super_deduction = (num["rd_expense"] > 0) & deductible_industry
    general_e, certified_e = _taxes(taxable + num["rd_expense"] * rate, num, yes["restricted_industry"], p)
    deduction_saving = np.where(hnte_valid, certified_e - certified, general_e - general)

    # §4.8–§4.10 the loans, tested once for the three loan measures
    loans = table.lists["loans"]
    lc, owner = loans.columns, loans.firm
    kind, status = lc.text["kind"], lc.text["status"]
    normal = _cats(status, "normal".__eq__)
    defaulted = _cats(status, "defaulted".__eq__)
    ip_pledge = _cats(kind, "ip_pledge".__eq__) & (lc.flag["pledge_registered"] == 1.0)
    partner = lc.flag["partner_bank"] == 1.0
    principal, interest = lc.num["principal"], lc.num["interest_paid"]
    repaid = (interest > 0) & normal
    lpr = p["lpr_1y"]

    tech_loan = _cats(kind, set(params["tech_loan_interest_subsidy.loan_kinds"]).__contains__) & partner & repaid
    tech_subsidy = p["tech_loan_interest_subsidy.share"] * np.minimum(
        interest, np.minimum(principal, p["tech_loan_interest_subsidy.principal_cap"]) * lpr)
    tech_loans = (luqiao & hnte_or_sme & honest & _has(owner, tech_loan, n))
    tech_total = np.minimum(_per_firm(owner, tech_loan, tech_subsidy, n), p["tech_loan_interest_subsidy.cap"])

    pledge_loan = ip_pledge & repaid
    pledge_subsidy = p["ip_pledge_interest_subsidy.share"] * np.minimum(interest, principal * lpr)
    pledge = taizhou & honest & _has(owner, pledge_loan, n)
    pledge_total = np.minimum(_per_firm(owner, pledge_loan, pledge_subsidy, n), p["ip_pledge_interest_subsidy.cap"])

    covered = ip_pledge & partner
    share = p["ip_pledge_risk_compensation.share"]
    cap_per_loan = p["ip_pledge_risk_compensation.cap_per_loan"]
    compensation = np.where(defaulted, np.minimum(lc.num["loss"] * share, cap_per_loan), np.where(normal, 0.0, np.nan))
    provision = np.where(normal, principal * p["ip_pledge_risk_compensation.expected_loss_rate"] * share,
                         np.where(defaulted, 0.0, np.nan))
    risk = district_in("taizhou", "wenzhou_zn") & hnte_or_sme & honest & _has(owner, covered, n)
    risk_total = _per_firm(owner, covered, compensation, n) + _per_firm(owner, covered, provision, n)

    # §4.11 innovation_voucher, on the voucher services
    services = table.lists["voucher_services"]
    sc, s_owner = services.columns, services.firm
    fee = sc.num["fee"]
    counts = ((sc.flag["provider_approved"] == 1.0) & (fee > 0)
              & _cats(sc.text["provider_region"], set(params["innovation_voucher.accepted_regions"]).__contains__))
    full = p["innovation_voucher.full_cover_upto"]
    voucher = np.minimum(np.minimum(fee, full) + p["innovation_voucher.share_above"] * np.maximum(fee - full, 0.0),
                         p["innovation_voucher.cap_per_service"])
    vouchers = taizhou & honest & _has(s_owner, counts, n)
    voucher_total = np.minimum(_per_firm(s_owner, counts, voucher, n), p["innovation_voucher.cap"])

    def paid(eligible, amount):
        return eligible, np.where(eligible, amount, 0.0)

    return {
        "tech_sme": (tech_sme, None),
        "hnte": paid(hnte, tax_saving),
        "hnte_tax_rate": paid(hnte_valid, tax_saving),
        "hnte_cultivation": paid(cultivation, p["hnte_cultivation.grant"]),
        "hnte_reward": paid(reward, p["hnte_reward.amount"]),
        "rd_whitelist": (whitelist, None),
        "rd_super_deduction": paid(super_deduction, deduction_saving),
        "tech_loan_interest_subsidy": paid(tech_loans, tech_total),
        "ip_pledge_interest_subsidy": paid(pledge, pledge_total),
        "ip_pledge_risk_compensation": paid(risk, risk_total),
        "innovation_voucher": paid(vouchers, voucher_total),
    }


def _taxes(x: np.ndarray, num: dict, restricted: np.ndarray, p: dict) -> tuple[np.ndarray, np.ndarray]:
    """MEASURES.md §1.1 on an income x: (tax_general, tax_hnte), nan where unknown. A firm is surely small or surely
    not; neither (a missing employees or total_assets that nothing else settles) leaves the tax unknown."""
    employees, assets = num["employees"], num["total_assets"]
    small = ((x <= p["cit.small_max_income"]) & (employees <= p["cit.small_max_employees"])
             & (assets <= p["cit.small_max_assets"]) & ~restricted)
    not_small = ((x > p["cit.small_max_income"]) | (employees > p["cit.small_max_employees"])
                 | (assets > p["cit.small_max_assets"]) | restricted)
    band = p["cit.small_rates.band"]
    small_tax = p["cit.small_rates.lower"] * np.minimum(x, band) + p["cit.small_rates.upper"] * np.maximum(x - band, 0)
    general = np.where(x <= 0, 0.0, np.where(small, small_tax, np.where(not_small, p["cit.standard_rate"] * x, np.nan)))
    return general, np.minimum(p["cit.hnte_rate"] * np.maximum(x, 0.0), general)


def bare_inputs(rules, as_of: dt.date) -> tuple[dict, dict]:
    """What the bare measures read from the rule set: the parameters in force and the jurisdictions' districts."""
    districts = {jid: (None if j.districts is None else set(j.districts)) for jid, j in rules.jurisdictions.items()}
    return resolve(rules.params, as_of), districts


def agreement(evaluation, bare: dict) -> dict:
    """measure id -> (rows the engine decides, of which the bare status agrees, eligible rows with an amount compared,
    of which the amounts agree)."""
    out = {}
    for mid, r in evaluation.results.items():
        if mid not in bare:  # the bare lower bound is written for the eleven measures of MEASURES.md only
            continue
        eligible, amount = bare[mid]
        decided = r.status != UNDETERMINED
        same = decided & ((r.status == ELIGIBLE) == eligible)
        both = (r.status == ELIGIBLE) & eligible
        if amount is None:
            compared, equal = 0, 0
        else:
            a, b = r.amount[both], amount[both]
            with np.errstate(invalid="ignore"):
                equal = int(np.count_nonzero((np.isnan(a) & np.isnan(b)) | (np.abs(a - b) < HALF_CENT)))
            compared = int(both.sum())
        out[mid] = (int(decided.sum()), int(same.sum()), compared, equal)
    return out


# -- the benchmark -------------------------------------------------------------------------------------------------

def _timed(fn):
    """(wall seconds, CPU seconds of the whole process, result). On a shared machine the CPU time is the steadier
    figure of a one-thread run: waiting for a core counts in the wall time only."""
    gc.collect()
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - w0, time.process_time() - c0, result


def _runs(runs: list) -> str:
    wall, cpu = statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)
    if len(runs) == 1:
        return f"{wall:.3f} s wall, {cpu:.3f} s CPU"
    return f"{wall:.3f} s wall, {cpu:.3f} s CPU (medians; wall runs {', '.join(f'{w:.3f}' for w, _ in runs)})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-screen", action="store_true",
                        help="skip §3 (the screens take minutes of wall time on a loaded machine)")
    args = parser.parse_args()
    rules = default_rules()
    params, districts = bare_inputs(rules, AS_OF)
    print(f"bare lower bound on {os.cpu_count()} cores, as of {AS_OF}")

    print(f"== 1. the table of {args.rows:,} firms from data frames")
    t0 = time.perf_counter()
    firms, loans, services = generate(args.rows, seed=1)
    print(f"  generated {args.rows:,} firms, {len(loans):,} loans, {len(services):,} services in "
          f"{time.perf_counter() - t0:.1f} s")
    *times, (table, rejected) = _timed(
        lambda: table_from_frames(rules, firms, {"loans": loans, "voucher_services": services}, AS_OF))
    print(f"  table_from_frames: {_runs([times])}; target ≤ 3 s; {len(rejected)} rows rejected")
    # the same firms with the five sheets of MEASURES-2 (研发平台明细, 首台套明细, 首台套保单, 技术合同明细, 专利产业化项目)
    lists = generate_lists(firms["credit_code"].to_numpy(), seed=1)
    full_table, _ = table_from_frames(rules, agree_with_platforms(firms, lists),
                                      {"loans": loans, "voucher_services": services, **lists}, AS_OF)
    del firms, loans, services, lists

    # the same work on both sides: the engine evaluates the eleven measures the bare script hard-codes
    bare = bare_measures(table, params, districts, AS_OF)
    eleven = rules.only(bare)
    print(f"== 2. one thread each, alternating, {args.repeat} runs each: engine (evaluate, no explanations) and bare, "
          f"the same {len(eleven.measures)} measures")
    evaluate(eleven, table, AS_OF, explain=False)  # a first run of each, untimed: caches and page faults
    engine_runs, bare_runs = [], []
    evaluation = bare = None
    for _ in range(args.repeat):
        evaluation = bare = None
        *times, evaluation = _timed(lambda: evaluate(eleven, table, AS_OF, explain=False))
        engine_runs.append(times)
        *times, bare = _timed(lambda: bare_measures(table, params, districts, AS_OF))
        bare_runs.append(times)
    print(f"  engine {_runs(engine_runs)}")
    print(f"  bare   {_runs(bare_runs)}")
    ratios = [statistics.median(r[k] for r in engine_runs) / statistics.median(r[k] for r in bare_runs) for k in (0, 1)]
    print(f"  engine ÷ bare = {ratios[0]:.1f}× wall, {ratios[1]:.1f}× CPU (target ≤ 3×)")
    read_runs = [_timed(lambda: _read_evaluated_masks(evaluate(eleven, table, AS_OF, explain=False)))[:2]
                 for _ in range(args.repeat)]
    print(f"  engine, then every measure's missing-field and zero masks read (found when first read): "
          f"{_runs(read_runs)}")
    full_runs = [_timed(lambda: evaluate(rules, table, AS_OF, explain=False))[:2] for _ in range(max(1, args.repeat // 2))]
    print(f"  the whole catalogue ({len(rules.measures)} measures), engine: {_runs(full_runs)}; then every measure's "
          f"masks read: {_runs([_timed(lambda: _read_evaluated_masks(evaluate(rules, table, AS_OF, explain=False)))[:2]])}")
    runs = max(1, args.repeat // 2)
    part, whole = [], []
    for _ in range(runs):  # alternating, so a change in the machine's load falls on both sides of the ratio
        part.append(_timed(lambda: evaluate(eleven, full_table, AS_OF, explain=False))[:2])
        whole.append(_timed(lambda: evaluate(rules, full_table, AS_OF, explain=False))[:2])
    ratio = statistics.median(c for _, c in whole) / statistics.median(c for _, c in part)
    print(f"  with the five new sheets: the eleven {_runs(part)}; the whole catalogue {_runs(whole)}; "
          f"whole ÷ eleven = {ratio:.1f}× CPU (target ≤ 2×)")

    threads = min(os.cpu_count() or 1, 4)  # screen_table's pool on a list of many chunks
    evaluation_check = agreement(evaluation, bare)
    del evaluation, bare
    if not args.no_screen:
        _screens(rules, eleven, table, full_table, threads, args.repeat)
    del full_table
    _cross_check(evaluation_check)


def _screens(rules, eleven, table, full_table, threads: int, repeat: int):
    print(f"== 3. the engine's screening on {threads} threads (screen_table: chunks, pools; no file I/O)")
    screen_runs = []
    for _ in range(repeat):
        *times, _ = _timed(lambda: screen_table(eleven, table, AS_OF))
        screen_runs.append(times)
    print(f"  {table.n:,} firms, the same {len(eleven.measures)} measures: {_runs(screen_runs)}; target ≤ 1.0 s wall")
    # the missing-field masks are found when first read (evaluator.MaskPass): what the workbook's missing-data sheet
    # or the payout list costs on top of the screen, every measure's masks read once
    read_runs = [_timed(lambda: _read_masks(screen_table(eleven, table, AS_OF)))[:2] for _ in range(repeat)]
    print(f"  the same screen, then every measure's missing-field masks read: {_runs(read_runs)}")
    print(f"  {table.n:,} firms, the whole catalogue ({len(rules.measures)} measures): "
          f"{_runs([_timed(lambda: screen_table(rules, table, AS_OF))[:2]])}; then every measure's masks read: "
          f"{_runs([_timed(lambda: _read_masks(screen_table(rules, table, AS_OF)))[:2]])}")
    # issue 11's figure is the screen, not only the evaluation: the same firms with the new sheets, alternating
    part, whole = [], []
    for _ in range(max(1, repeat // 2)):
        part.append(_timed(lambda: screen_table(eleven, full_table, AS_OF))[:2])
        whole.append(_timed(lambda: screen_table(rules, full_table, AS_OF))[:2])
    ratio = statistics.median(c for _, c in whole) / statistics.median(c for _, c in part)
    print(f"  with the five new sheets, screened: the eleven {_runs(part)}; the whole catalogue {_runs(whole)}; "
          f"whole ÷ eleven = {ratio:.1f}× CPU (target ≤ 2×)")


def _read_evaluated_masks(evaluation):
    """Every measure's missing-field and zero-denominator masks of an evaluation, made whole."""
    for r in evaluation.results.values():
        r.missing, r.zero
    return evaluation


def _read_masks(screening):
    """Every measure's missing-field masks of a screening, made whole (what the workbook's missing-data sheet reads)."""
    for mc in screening.measures.values():
        mc.missing
    return screening


def _cross_check(evaluation_check: dict):
    print("== 4. cross-check on the rows the engine decides: status, and amount (to the cent) where both are eligible")
    for mid, (decided, same, compared, equal) in evaluation_check.items():
        amounts = f"amounts {equal:,}/{compared:,} ({100 * equal / compared:.2f}%)" if compared else "no amount"
        rate = 100 * same / decided if decided else 100.0
        print(f"  {mid:28} status {same:,}/{decided:,} ({rate:.2f}%)   {amounts}")


if __name__ == "__main__":
    main()

"""免申即享 payouts (issue 13): from a screened list to a batch of payouts, the near-miss notices and the payment list.

A batch pays one measure for one policy year. It takes the firms a screening found `eligible` with a known amount,
at the amount the programme pool grants them (engine/outputs/pools.py), leaves out the firms the ledger already holds
for that measure and year (paid, or in a batch not finished), and lists the undetermined firms apart with what each
lacks: they are asked for data, never paid. Each entry keeps why the firm qualifies, the citations, the rules version
and the run's parameters. The payouts' process (proposed → asked → … → paid) is the lifecycle rules/ledger/payout.yaml,
run by the ledger.

Amounts: the ledger keeps 万元; the payment list is in 元, each firm's amount rounded half-up to the fen once
(engine/common/money.py) from the exact granted amount, and the ledger is posted exactly that amount / 10,000.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import math
import secrets
from operator import itemgetter
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Iterable, TextIO

import numpy as np

from engine.common.cells import FORMULA_START, safe_cell
from engine.common.money import cents
from engine.evaluate.evaluator import ELIGIBLE, INELIGIBLE, UNDETERMINED, evaluate
from engine.explain.explainer import Explainer
from engine.inputs.table import take
from engine.outputs.pools import Scaled
from engine.outputs.screen import Screening
from engine.rules.loader import parameters_of

WAN = 10_000
# the columns of the payment list, in this order (docs/payout.md)
PAYMENT_COLUMNS = ("序号", "统一社会信用代码", "户名", "开户行", "账号", "金额(元)", "政策", "批次号")
# confirmation codes: no 0/O, 1/I/L, so that a code read aloud or typed from paper is not mistaken
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12  # 12 × log2(31) ≈ 59 bits
# payout states in which a firm is taken for its measure and year: paid, or in a batch that is not finished
TAKEN_STATES = ("proposed", "asked", "confirmed", "reviewed", "approved", "paid")


class PayoutError(ValueError):
    """A batch that cannot be made or exported as asked; the reason in zh and en."""

    def __init__(self, en: str, zh: str):
        super().__init__(en)
        self.en, self.zh = en, zh

    def message(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en


@dataclass
class Entry:
    credit_code: str
    name: str
    district: str | None
    phone: str | None
    amount_yuan: Decimal  # to the fen
    row: int = -1  # the firm's row in the screened list
    # the explanation, filled by Proposal.explain (None until then)
    why: list | None = None  # [{"zh", "en"}] the conditions the firm meets, with its values
    citations: list | None = None  # [{"source", "clause", "title"}]
    provenance: list | None = None  # [{"zh", "en"}] where the numbers come from

    @property
    def amount_wan(self) -> Decimal:
        return self.amount_yuan / WAN


@dataclass
class Undetermined:
    credit_code: str
    name: str
    missing: list  # [{"field", "zh", "en"}]


@dataclass
class NearMiss:
    credit_code: str
    name: str
    phone: str | None
    shortfalls: list  # [{"zh", "en"}] the explainer's shortfall sentences


@dataclass
class Proposal:
    measure: str
    policy_year: int
    as_of: str
    rules_version: str
    parameters: dict  # every parameter the measure uses, as in force on as_of
    overrides: dict
    entries: list = field(default_factory=list)
    undetermined: list = field(default_factory=list)
    already: list = field(default_factory=list)  # credit codes left out: the ledger holds them for the measure and year
    screening: Screening | None = field(default=None, repr=False)

    @property
    def total_yuan(self) -> Decimal:
        return sum((e.amount_yuan for e in self.entries), Decimal(0))

    def explain(self, entries: list | None = None, chunk: int = 20_000) -> None:
        """Fill in why each entry (all, or those given) qualifies, its citations and provenance notes. Explaining is
        firm by firm and costs far more than choosing the firms and their amounts, so a batch is made first and
        explained when its entries are kept or shown: the payment list of a million-firm run needs no sentence."""
        todo = [e for e in (self.entries if entries is None else entries) if e.why is None]
        for e, (why, citations, provenance) in zip(todo, explain_rows(self.screening, self.measure,
                                                                      [e.row for e in todo], chunk)):
            e.why, e.citations, e.provenance = why, citations, provenance


def explain_rows(screening: Screening, measure: str, rows: list, chunk: int = 20_000) -> list[tuple]:
    """(why, citations, provenance notes) of the firms in these rows of the screened list for the measure: what a
    batch's entry keeps (Entry.why, .citations, .provenance)."""
    out, measure_notes = [], []
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        _ev, explainer, r = _explained(screening, np.array(part, dtype=np.int64), measure)
        for k in range(len(part)):
            entry = explainer.measure_entry(r, k)
            citations = [{"source": c["source"], "clause": c["clause"], "title": c["title"]} for c in entry["citations"]]
            if entry.get("provenance"):
                provenance = _provenance(screening, measure, entry)
            else:  # the measure's parameters: the same notes for every firm
                measure_notes = measure_notes or _provenance(screening, measure, entry)
                provenance = measure_notes
            out.append((_why(entry), citations, provenance))
    return out


def payout_id(measure: str, policy_year: int, credit_code: str) -> str:
    """One payout per firm, measure and policy year: the ledger refuses a second one with the same id."""
    return f"{measure}:{policy_year}:{credit_code}"


def to_yuan(amount_wan) -> Decimal:
    """An exact amount in 万元 as 元, rounded half-up to the fen once."""
    return cents(Fraction(amount_wan) * WAN)


def _text(value) -> str | None:
    return None if value is None else str(value)


def _plain(value):
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, tuple):
        return "、".join(map(str, value))
    return value if value is None or isinstance(value, (int, float, str, bool)) else str(value)


def check_measure(screening: Screening, measure: str, payable: Iterable[str]) -> None:
    rules = screening.rules
    if measure not in rules.measures:
        raise PayoutError(f"unknown measure {measure!r}", f"未知的政策 {measure!r}")
    if measure not in payable:
        name = rules.measures[measure].name
        raise PayoutError(f"{name['en']} is not paid through 免申即享 batches (rules/ledger/payout.yaml)",
                          f"{name['zh']}不在免申即享兑付范围内(见 rules/ledger/payout.yaml)")


def _explained(screening: Screening, rows: np.ndarray, measure: str):
    """The explainer over just these rows (a firm's result does not depend on the other firms)."""
    sub = take(screening.table, rows)
    ev = evaluate(screening.rules, sub, screening.as_of, screening.overrides, explain=True)
    return ev, Explainer(ev), ev.results[measure]


def _why(entry: dict) -> list:
    out = []
    for c in entry["conditions"]:
        if c.get("held") is True and c["kind"] in ("leaf", "requires", "jurisdiction"):
            text = c.get("text") or {}
            out.append({lang: c["label"][lang] + (f"({text[lang]})" if text.get(lang) else "") for lang in ("zh", "en")})
    return out


def _provenance(screening: Screening, measure: str, entry: dict) -> list:
    """The provenance notes of a result: the explainer's when it gives them, else every parameter the measure uses
    with its value, its reference and whether the value is borrowed from elsewhere (a local default)."""
    if entry.get("provenance"):
        return [{"zh": str(p.get("zh", p)), "en": str(p.get("en", p))} if isinstance(p, dict) else
                {"zh": str(p), "en": str(p)} for p in entry["provenance"]]
    rules = screening.rules
    out = []
    for name in parameters_of(rules, rules.measures[measure]):
        p = rules.params[name]
        value = _plain(screening.params.get(name))
        cite = "; ".join(map(str, p.cite)) if p.cite else ""
        zh = f"{p.zh} = {value}" + (f"(依据:{cite})" if cite else "") + ("(本地暂用他处取值)" if p.local_default else "")
        en = f"{p.en} = {value}" + (f" (source: {cite})" if cite else "") + (
            " (a value borrowed from elsewhere until a local one is found)" if p.local_default else "")
        out.append({"zh": zh, "en": en})
    return out


def propose(screening: Screening, measure: str, policy_year: int, taken: set, payable: Iterable[str]) -> Proposal:
    """The batch a screening gives for one measure and year; `taken` holds the credit codes the ledger already has
    for that measure and year (TAKEN_STATES)."""
    check_measure(screening, measure, payable)
    rules = screening.rules
    m = rules.measures[measure]
    mc = screening.measures[measure]
    params = {name: _plain(screening.params.get(name)) for name in parameters_of(rules, m)}
    proposal = Proposal(measure, int(policy_year), screening.as_of.isoformat(), rules.version, params,
                        {k: _plain(v) for k, v in screening.overrides.items()})
    proposal.screening = screening
    text = screening.table.columns.text

    def values(name: str, rows: np.ndarray) -> list:
        return text[name][rows].values.tolist() if name in text else [None] * len(rows)

    granted = mc.granted if mc.granted is not None else mc.amount
    eligible = np.flatnonzero((mc.status == ELIGIBLE) & ~np.isnan(granted))
    codes = values("credit_code", eligible)
    keep = np.array([c not in taken for c in codes], bool) if len(codes) else np.zeros(0, bool)
    proposal.already = sorted(c for c in codes if c in taken)
    rows = eligible[keep]
    fen = _fen(mc.granted_exact if mc.granted_exact is not None else mc.exact["amount"], rows)
    rows, fen = rows[fen > 0], fen[fen > 0]  # nothing to pay to a firm granted 0
    columns = zip(values("credit_code", rows), values("name", rows), values("district", rows),
                  values("contact_phone", rows), fen.tolist(), rows.tolist())
    proposal.entries = [Entry(code, _text(name), _text(district), _text(phone), Decimal(cents_).scaleb(-2), row)
                        for code, name, district, phone, cents_, row in columns]
    undetermined = np.flatnonzero(mc.status == UNDETERMINED)
    if len(undetermined):
        lacks, which = _lacking(rules, np.asarray(mc.missing)[undetermined])
        proposal.undetermined = [Undetermined(code, _text(name), lacks[k]) for code, name, k in zip(
            values("credit_code", undetermined), values("name", undetermined), which.tolist())]
    return proposal


def _lacking(rules, missing: np.ndarray) -> tuple[list, np.ndarray]:
    """What the undetermined firms lack, by kind: one list of fields per distinct bit set (missing_names), and for
    each firm the index of its own. Bits are read column-wise, so the fields are named once per bit, not per firm."""
    masks, which = np.unique(missing, axis=0, return_inverse=True)
    words = masks.reshape(len(masks), -1).astype(np.uint64)
    fields, has = [], []
    for name, bit in rules.bits.items():
        if bit // 64 < words.shape[1]:
            column = (words[:, bit // 64] >> np.uint64(bit % 64)) & np.uint64(1)
            if column.any():
                fields.append({"field": name, "zh": rules.label(name, "zh"), "en": rules.label(name, "en")})
                has.append(column.astype(bool))
    table = np.array(has).T if has else np.zeros((len(masks), 0), bool)
    return [[fields[j] for j in np.flatnonzero(row)] for row in table], np.ravel(which)


def _fen(granted, rows: np.ndarray) -> np.ndarray:
    """The granted amounts (万元, exact: a Scaled or Exact column, engine/outputs/pools.py) of rows in fen, each
    rounded half-up once, over the whole column at once: to_yuan's result at the speed of integer arrays."""
    own, pooled, cut = (granted.own, granted.pooled, Fraction(granted.cut)) if isinstance(granted, Scaled) else (
        granted, None, Fraction(0))
    if cut and pooled is not None:
        base = math.lcm(own.den, pooled.den)
        num = (own.at_scale(base)[rows].astype(object) * cut.denominator
               - pooled.at_scale(base)[rows].astype(object) * cut.numerator)
        den = base * cut.denominator
    else:
        num, den = own.num[rows].astype(object), own.den
    # 万元 → fen is × 1,000,000; half-up on the magnitude, as engine/common/money.py rounds
    magnitude = (2 * 1_000_000 * np.abs(num) + den) // (2 * den)
    return np.where(num < 0, -magnitude, magnitude).astype(np.int64)


def near_misses(screening: Screening, measure: str, share) -> list:
    """The ineligible firms every failed condition of which is a threshold missed by at most `share` of it
    (主动服务: the bureau reaches out to them), with the explainer's shortfall sentences."""
    mc = screening.measures[measure]
    rows = np.flatnonzero(mc.status == INELIGIBLE)
    if not len(rows):
        return []
    share = Decimal(str(share))
    ev, explainer, r = _explained(screening, rows, measure)
    text = screening.table.columns.text
    out = []
    for k, i in enumerate(rows):
        entry = explainer.measure_entry(r, k)
        failed = explainer.failed(entry["conditions"])
        if not failed or r.items is not None and entry.get("items") is None:
            continue
        sentences = []
        for c in failed:
            shortfall, threshold = c.get("shortfall"), c.get("threshold")
            if shortfall is None or not isinstance(threshold, (int, float)) or threshold == 0:
                break
            value = c.get("value")
            if not isinstance(value, (int, float)) or abs(Decimal(repr(value)) - Decimal(repr(threshold))) > \
                    share * abs(Decimal(repr(threshold))):
                break
            sentences.append(shortfall["text"])
        else:
            out.append(NearMiss(text["credit_code"][int(i)], _text(text["name"][int(i)]),
                                _text(text["contact_phone"][int(i)]) if "contact_phone" in text else None,
                                sentences))
    return out


# -- confirmation codes ----------------------------------------------------------------------------------------------

def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normal_code(text: str) -> str:
    """A code as typed: spaces and dashes dropped, upper case."""
    return "".join(ch for ch in str(text or "").upper() if ch not in " -\u3000")


def code_digest(code: str, key: str) -> str:
    """What is stored of a code: its keyed hash (HMAC-SHA256 with the server's secret)."""
    return hmac.new(key.encode("utf-8"), normal_code(code).encode("utf-8"), hashlib.sha256).hexdigest()


def grouped(code: str) -> str:
    """A code as printed: groups of four, easier to read and type."""
    return "-".join(code[k:k + 4] for k in range(0, len(code), 4))


# -- bank accounts ---------------------------------------------------------------------------------------------------

def account_problem(number: str) -> dict | None:
    """Why an account number is not one (zh/en), or None: 8 to 30 digits (spaces allowed between groups)."""
    digits = "".join(str(number or "").split())
    if not digits:
        return {"zh": "请填写账号", "en": "Enter the account number"}
    if not digits.isdigit():
        return {"zh": "账号只能包含数字", "en": "The account number may contain digits only"}
    if not 8 <= len(digits) <= 30:
        return {"zh": f"账号应为 8 至 30 位数字(现为 {len(digits)} 位)",
                "en": f"The account number has 8 to 30 digits (this one has {len(digits)})"}
    return None


def account_digits(number: str) -> str:
    return "".join(str(number or "").split())


def masked(number: str | None) -> str:
    """An account number as pages show it: the last four digits only."""
    digits = account_digits(number or "")
    return "" if not digits else "*" * max(len(digits) - 4, 0) + digits[-4:]


def account_problems(registered_name: str | None, account: dict) -> list[dict]:
    """Why a receiving account cannot be taken, one {"field", "zh", "en"} per problem (empty when it can): 户名 must be
    the registered firm name, 开户行 is needed, 账号 is 8 to 30 digits. The firm's page, a paper answer, the CLI and the
    API all check an account here."""
    out = []
    if not same_name(account.get("account_name"), registered_name):
        out.append({"field": "account_name", "zh": f"户名须与企业登记名称一致：{registered_name}",
                    "en": f"The account name must be the registered firm name: {registered_name}"})
    if not str(account.get("bank") or "").strip():
        out.append({"field": "bank", "zh": "请填写开户行。", "en": "Enter the bank and branch (开户行)."})
    problem = account_problem(account.get("account_no"))
    if problem:
        out.append({"field": "account_no", **problem})
    return out


def same_name(a: str | None, b: str | None) -> bool:
    """户名 must equal the registered name; full-width brackets and spaces are not a difference."""
    def fold(s):
        return "".join(str(s or "").replace("（", "(").replace("）", ")").split())

    return bool(a) and fold(a) == fold(b)


# -- the payment list ------------------------------------------------------------------------------------------------

def write_payment_csv(rows: list, out: TextIO) -> int:
    """rows: dicts with the PAYMENT_COLUMNS keys except 序号; amounts as Decimal 元. Written column-wise: a cell that
    begins with a formula character (safe_cell) is looked for once per column."""
    writer = csv.writer(out)
    writer.writerow(PAYMENT_COLUMNS)
    columns = [range(1, len(rows) + 1)] + [
        list(map("{:.2f}".format, map(itemgetter(name), rows))) if name == "金额(元)" else
        _safe_column(list(map(itemgetter(name), rows))) for name in PAYMENT_COLUMNS[1:]]
    writer.writerows(zip(*columns))
    return len(rows)


def _safe_column(values: list) -> list[str]:
    """safe_cell over a column, cell by cell only when some cell needs it."""
    cells = list(map(str, values)) if None not in values else ["" if v is None else str(v) for v in values]
    joined = "\n" + "\n".join(cells)  # every cell follows a line break: a formula's first character is found
    return list(map(safe_cell, cells)) if any("\n" + ch in joined for ch in FORMULA_START) else cells


CODES_COLUMNS = ("统一社会信用代码", "企业名称", "联系电话", "确认码", "有效期至")


def write_codes_csv(rows: Iterable[tuple], out: TextIO) -> None:
    """The codes for the bureau's SMS system (CODES_COLUMNS): rows of (credit code, name, phone, code, expiry date);
    the codes printed in groups of four."""
    writer = csv.writer(out)
    writer.writerow(CODES_COLUMNS)
    for credit_code, name, phone, code, expires in rows:
        writer.writerow([safe_cell(credit_code), safe_cell(name), safe_cell(phone), grouped(code), expires.isoformat()])


def _payment_cells(k: int, row: dict) -> list:
    return [k] + [row[name] if name == "金额(元)" else str(row[name] or "") for name in PAYMENT_COLUMNS[1:]]


def write_payment_xlsx(rows: list, path: str | Path, sheet: str = "支付清单") -> Path:
    """The payment list as a workbook: text cells as strings (never formulas), amounts as numbers to the fen; no
    total row, so that a payment system reads every row as a payment. The rows are written column-wise
    (engine/outputs/xlsx_columns.py): a batch of hundreds of thousands of firms takes seconds."""
    import xlsxwriter

    from engine.common.tempfiles import atomic_path, xlsxwriter_options
    from engine.outputs.xlsx_columns import add_rows, number_column, text_column

    path = Path(path)
    with atomic_path(path) as tmp:
        wb = xlsxwriter.Workbook(tmp, {"strings_to_formulas": False, "strings_to_urls": False,
                                       "strings_to_numbers": False, **xlsxwriter_options()})
        ws = wb.add_worksheet(sheet)
        head = wb.add_format({"bold": True, "border": 1})
        money = wb.add_format({"num_format": "#,##0.00"})
        for c, name in enumerate(PAYMENT_COLUMNS):
            ws.write_string(0, c, name, head)
            ws.set_column(c, c, {0: 6, 1: 22, 2: 30, 3: 24, 4: 26, 5: 14, 6: 16, 7: 26}[c])
        # the first row by XlsxWriter itself, which gives the money format its index in the workbook's styles
        for c, value in enumerate(_payment_cells(1, rows[0]) if rows else ()):
            if c == 5:
                ws.write_number(1, c, float(value), money)
            else:
                ws.write(1, c, value)
        ws.freeze_panes(1, 0)
        wb.close()
        rest = rows[1:]
        columns = [list(map(str, range(2, len(rows) + 1)))] + [
            (number_column if name == "金额(元)" else text_column)(list(map(itemgetter(name), rest)))
            for name in PAYMENT_COLUMNS[1:]]
        add_rows(Path(tmp), {1: (3, columns, "nttttmtt")}, money.xf_index)
    return path


__all__ = ["propose", "explain_rows", "near_misses", "Proposal", "Entry", "Undetermined", "NearMiss", "PayoutError", "payout_id",
           "to_yuan", "new_code", "code_digest", "normal_code", "grouped", "account_problem", "account_problems",
           "masked", "same_name", "write_codes_csv", "CODES_COLUMNS", "write_payment_csv", "write_payment_xlsx",
           "PAYMENT_COLUMNS", "TAKEN_STATES"]

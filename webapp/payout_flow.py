"""The steps of a 免申即享 batch, each posted to the ledger first (rules/ledger/payout.yaml decides what fits) and then
mirrored in the batch's rows: propose from a run, ask with one-time codes, record the firms' answers, review,
approve whole or in part, pay. A step the ledger refuses changes nothing and raises FlowRefused with its reason.
The pages, `huiqi payout …` and the API call these functions alike; each step is recorded in the audit trail here."""

from __future__ import annotations

import datetime as dt
import io
import threading
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, literal_column, select

from engine.common.errors import ParameterUnset
from engine.common.money import cents
from engine.inputs.lists import ListError, read_list
from engine.ledger import LedgerRejected, ledger_rules
from engine.ledger.payouts import business_date, payout_states
from engine.outputs.screen import screen_table
from engine.outputs.payout import (TAKEN_STATES, PayoutError, account_digits, account_problems, code_digest,
                                  explain_rows, masked, near_misses, new_code, payout_id, propose, write_codes_csv,
                                  write_payment_csv)
from engine.rules.loader import default_rules
from engine.service import parse_overrides

from . import db
from .audit import record
from .jobs import jobs
from .ledger_views import ledger
from .payout_db import PayoutBatch, PayoutEntry, utcnow

OPEN = ("proposed", "asked", "reviewed", "approved")  # a batch not finished
AGAIN = ("declined", "withdrawn", "left_out")  # a firm's payout that a later batch may propose again


class FlowRefused(Exception):
    """A step that does not fit: the reason in zh and en, the HTTP status a page answers with, and for an account
    that cannot be taken its problems ({"field", "zh", "en"} each)."""

    CODES = {400: "invalid_value", 403: "forbidden", 404: "not_found", 409: "conflict", 422: "refused"}

    def __init__(self, zh: str, en: str, status: int = 409, problems: list | None = None):
        super().__init__(en)
        self.zh, self.en, self.status, self.problems = zh, en, status, problems or []

    @property
    def code(self) -> str:
        """The API's error code for it."""
        return self.CODES.get(self.status, "refused")

    def message(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


def payable_measures() -> list[str]:
    return list(ledger_rules().lifecycles["payout"].measures)


def code_key() -> str:
    return current_app.config["SECRET_KEY"]


def code_valid_days(on: dt.date) -> int:
    return int(default_rules().params["payout.code_valid_days"].at(on))


def _post(s, events: list) -> None:
    """Post to the ledger before anything of the step is written here: the session's read transaction ends first,
    so that the ledger's write (another connection to the same database) is not kept waiting by it."""
    if not events:
        return
    s.commit()
    try:
        ledger().post(events)
    except LedgerRejected as exc:
        raise FlowRefused(exc.message("zh"), exc.message("en"), 422) from None


def screening_of(run: db.ScreeningRun):
    """The run's list screened again as it was (same file, date and what-if values); the rules must be the run's."""
    rules = default_rules()
    if run.status != "done":
        raise FlowRefused("该筛查尚未完成", "the screening run has not finished")
    if run.rules_version != rules.version:
        raise FlowRefused(f"筛查使用的规则版本 {run.rules_version} 已不是现行版本 {rules.version}：请重新筛查名单后再建批次",
                          f"the run used rules version {run.rules_version}, the rules are now {rules.version}: "
                          "screen the list again before making a batch")
    as_of = dt.date.fromisoformat(run.as_of)
    try:
        overrides = parse_overrides(rules, [f"{k}={v}" for k, v in (run.parameters or {}).items()], as_of)
        path = next(jobs().run_dir(run.id).glob("input.*"))
        read = read_list(path, rules, as_of, current_app.extensions.get("huiqi_limits"))
        return screen_table(rules, read.table, as_of, overrides, read)
    except (StopIteration, ListError, ParameterUnset):
        raise FlowRefused("无法重新读取该筛查的名单，请重新上传", "the run's list cannot be read again; upload it again")


def open_batch(s, measure: str, policy_year: int) -> PayoutBatch | None:
    return s.scalar(select(PayoutBatch).where(PayoutBatch.measure == measure, PayoutBatch.policy_year == policy_year,
                                              PayoutBatch.state.in_(OPEN)))


def _pool_check(measure: str, total_wan: Decimal, year: int) -> None:
    """A batch over what is left of its measure's ledger pool for the policy year is refused, with the figures."""
    if measure not in ledger().rules.pools:
        return
    figures = ledger().actuals(year).get(measure)
    if figures is None:
        return
    remaining = Decimal(str(figures["remaining"]))
    if total_wan > remaining:
        total_wan = cents(total_wan)  # shown to the cent, rounded as every amount is
        name = default_rules().measures[measure].name
        raise FlowRefused(
            f"批次合计 {total_wan:,.2f} 万元超过{name['zh']}资金池 {year} 年剩余 {remaining:,.2f} 万元"
            f"(资金规模 {figures['pool']:,.2f} 万元，已承诺 {figures['committed']:,.2f} 万元)，未建批次",
            f"the batch total of {total_wan:,.2f} (10k CNY) exceeds what is left in the {name['en']} pool for "
            f"{year}, {remaining:,.2f} (size {figures['pool']:,.2f}, committed {figures['committed']:,.2f}); "
            "no batch was made", 422)


def _audit(event: str, batch: PayoutBatch, actor: str, **details) -> None:
    record(event, actor=actor, batch=batch.number, run=batch.run_id, **details)


def find_batch(s, number: str) -> PayoutBatch | None:
    return s.scalar(select(PayoutBatch).where(PayoutBatch.number == str(number)[:60]))


def entry_of(batch: PayoutBatch, credit_code: str) -> PayoutEntry:
    """The batch's entry of a firm, by its credit code."""
    entry = next((e for e in batch.entries if e.credit_code == str(credit_code or "").strip().upper()), None)
    if entry is None:
        raise FlowRefused(f"批次 {batch.number} 中没有企业 {credit_code}", f"no firm {credit_code} in batch {batch.number}",
                          404)
    return entry


def create_batch(s, run: db.ScreeningRun, measure: str, policy_year: int, user) -> PayoutBatch:
    if measure not in payable_measures():
        raise FlowRefused("该政策不在免申即享兑付范围内", "this measure is not paid through 免申即享 batches", 400)
    other = open_batch(s, measure, policy_year)
    if other is not None:
        raise FlowRefused(f"该政策 {policy_year} 年度已有未办结的批次 {other.number}，不能再建第二个批次",
                          f"batch {other.number} for this measure and {policy_year} is not finished; "
                          "a second batch is refused")
    screening = screening_of(run)
    states = payout_states(ledger(), measure, policy_year)
    taken = {code for code, state in states.items() if state in TAKEN_STATES}
    try:
        proposal = propose(screening, measure, policy_year, taken, payable_measures())
    except PayoutError as exc:
        raise FlowRefused(exc.zh, exc.en, 400) from None
    if not proposal.entries:
        raise FlowRefused("该筛查中没有可兑付的企业(符合条件、金额已知且尚未兑付)",
                          "no firm of this run is eligible with a known amount and not yet paid", 422)
    on = business_date(ledger())
    total_wan = proposal.total_yuan / 10_000
    _pool_check(measure, total_wan, policy_year)
    # one open batch per measure and year, so the number is the measure's and year's next
    earlier = s.scalar(select(func.count(PayoutBatch.id)).where(PayoutBatch.measure == measure,
                                                                 PayoutBatch.policy_year == policy_year))
    number = f"MSJX-{policy_year}-{default_rules().measures[measure].order:02d}-{earlier + 1:03d}"
    events = []
    for k, e in enumerate(proposal.entries, 1):
        pid = payout_id(measure, policy_year, e.credit_code)
        common = {"key": f"{number}:{k}:propose", "date": on.isoformat(), "payout_id": pid, "batch": number,
                  "amount": str(e.amount_wan), "proposer": user.username}
        if states.get(e.credit_code) in AGAIN:
            events.append({"type": "payout_repropose", **common})
        else:
            events.append({"type": "payout_propose", "firm": e.credit_code, "measure": measure,
                           "policy_year": str(policy_year), "policy_from": f"{policy_year}-01-01", **common})
    _post(s, events)
    batch = PayoutBatch(number=number, measure=measure, policy_year=policy_year, run_id=run.id,
                        proposer=user.username, state="proposed", as_of=proposal.as_of,
                        rules_version=proposal.rules_version, parameters=proposal.parameters,
                        overrides=proposal.overrides,
                        undetermined=[{"credit_code": u.credit_code, "name": u.name, "missing": u.missing}
                                      for u in proposal.undetermined],
                        already=proposal.already)
    s.add(batch)
    s.flush()
    # one INSERT of many rows, not an object per firm; why each firm qualifies is made when a page asks for it
    # (explain_entries): explaining is firm by firm, minutes for a batch of 100,000 firms
    unexplained = literal_column("'null'")  # JSON null, written by the database: nothing encoded per row
    s.execute(PayoutEntry.__table__.insert().values(why=unexplained, citations=unexplained, provenance=unexplained), [
        {"batch_id": batch.id, "seq": k, "credit_code": e.credit_code, "name": e.name, "district": e.district,
         "phone": e.phone, "amount_yuan": str(e.amount_yuan), "list_row": e.row, "state": "proposed"}
        for k, e in enumerate(proposal.entries, 1)])
    s.commit()
    s.expire(batch, ["entries"])
    _audit("payout_propose", batch, user.username, measure=measure, policy_year=policy_year,
           firms=len(proposal.entries), undetermined=len(proposal.undetermined), left_out_already=len(proposal.already))
    return batch


_screened: dict = {}  # the last run screened again to explain its entries, by its folder and rules versions
_screened_lock = threading.Lock()


def _screening_for_explaining(run: db.ScreeningRun):
    """The run screened again, kept for the next entry to explain (the firms of a batch open their pages one after
    the other; reading and screening the list again for each would cost each of them the whole run)."""
    key = (str(jobs().run_dir(run.id)), run.rules_version, default_rules().version)  # the folder names the instance
    with _screened_lock:
        if key not in _screened:
            _screened.clear()  # one run at a time: a screened list is large
            _screened[key] = screening_of(run)
        return _screened[key]


def explain_entries(s, entries: list[PayoutEntry]) -> None:
    """Fill in why each of these entries qualifies, its citations and provenance notes, if not done before: from
    the batch's run screened again (as it was made; a run under older rules is refused with FlowRefused)."""
    todo = [e for e in entries if e.why is None]
    if not todo:
        return
    batch = todo[0].batch
    screening = _screening_for_explaining(s.get(db.ScreeningRun, batch.run_id))
    codes = screening.table.columns.text["credit_code"]
    if any(e.list_row is None or codes[e.list_row] != e.credit_code for e in todo):
        raise FlowRefused("该筛查的名单已与批次不一致，无法说明理由", "the run's list no longer matches the batch; "
                          "why the firm qualifies cannot be shown")
    for e, (why, citations, provenance) in zip(todo, explain_rows(screening, batch.measure,
                                                                  [e.list_row for e in todo])):
        e.why, e.citations, e.provenance = why, citations, provenance
    s.commit()


def _entries(batch: PayoutBatch, *states: str) -> list[PayoutEntry]:
    return [e for e in batch.entries if e.state in states]


def _event(batch: PayoutBatch, e: PayoutEntry, etype: str, on: dt.date, **fields) -> dict:
    return {"type": etype, "key": f"{batch.number}:{e.seq}:{etype}", "date": on.isoformat(),
            "payout_id": payout_id(batch.measure, batch.policy_year, e.credit_code), **fields}


def _need(batch: PayoutBatch, *states: str) -> None:
    if batch.state not in states:
        raise FlowRefused(f"批次当前状态为“{batch.state}”，不能进行此操作",
                          f"the batch is {batch.state}; this step does not fit")


def ask(s, batch: PayoutBatch, user) -> list[tuple[PayoutEntry, str]]:
    """One new code per firm still to be asked; the codes are returned once and only their hashes are kept."""
    _need(batch, "proposed")
    on = business_date(ledger())
    entries = _entries(batch, "proposed")
    _post(s, [_event(batch, e, "payout_ask", on) for e in entries])
    expires = utcnow() + dt.timedelta(days=code_valid_days(on))
    issued = []
    for e in entries:
        code = new_code()
        e.code_hash, e.code_expires, e.code_used_at, e.state = code_digest(code, code_key()), expires, None, "asked"
        issued.append((e, code))
    batch.state = "asked"
    s.commit()
    _audit("payout_ask", batch, user.username, codes=len(issued))
    return issued


def issued_rows(issued: list[tuple[PayoutEntry, str]]) -> list[tuple]:
    """The codes just issued as rows for the SMS file (engine/outputs/payout.py write_codes_csv)."""
    return [(e.credit_code, e.name, e.phone, code, e.code_expires.date()) for e, code in issued]


def answer(s, e: PayoutEntry, confirm: bool, account: dict | None = None, user=None) -> None:
    """A firm's answer: online with its code (no user), or on paper entered by the bureau's `user`. A confirmation
    needs a receiving account that can be taken (account_problems)."""
    batch = e.batch
    if batch.state != "asked" or e.state != "asked":
        raise FlowRefused("该兑付已答复或不再等待确认", "this payout has been answered or is no longer awaiting an answer")
    if confirm:
        problems = account_problems(e.name, account or {})
        if problems:
            raise FlowRefused(" ".join(p["zh"] for p in problems), " ".join(p["en"] for p in problems), 400, problems)
    via, recorded_by = ("paper", user.username) if user is not None else ("online", None)
    on = business_date(ledger())
    _post(s, [_event(batch, e, "payout_confirm" if confirm else "payout_decline", on, via=via)])
    e.state = "confirmed" if confirm else "declined"
    e.confirmed_via, e.recorded_by, e.code_used_at = via, recorded_by, utcnow()
    if confirm and account:
        e.account_name, e.bank = account["account_name"].strip(), account["bank"].strip()
        e.account_no = account_digits(account["account_no"])
    s.commit()
    _audit("payout_confirm" if confirm else "payout_decline", batch, recorded_by or "firm", entry=e.seq, via=via)


def review(s, batch: PayoutBatch, user) -> dict:
    """The confirmed payouts go on to finance; those not answered by now are withdrawn (a later batch may ask again)."""
    _need(batch, "asked")
    confirmed = _entries(batch, "confirmed")
    if not confirmed:
        raise FlowRefused("没有企业确认，批次不能提交审批", "no firm has confirmed; the batch cannot go to approval", 422)
    on = business_date(ledger())
    waiting = _entries(batch, "asked")
    _post(s, [_event(batch, e, "payout_review", on, reviewer=user.username) for e in confirmed]
          + [_event(batch, e, "payout_withdraw", on) for e in waiting])
    for e in confirmed:
        e.state = "reviewed"
    for e in waiting:
        e.state, e.code_hash = "withdrawn", None
    batch.state = "reviewed"
    s.commit()
    counts = {"reviewed": len(confirmed), "withdrawn": len(waiting)}
    _audit("payout_review", batch, user.username, **counts)
    return counts


def approve(s, batch: PayoutBatch, user, keep: set) -> dict:
    """Finance approves the payouts whose entry ids are in `keep` and leaves out the others; never the proposer."""
    _need(batch, "reviewed")
    if user.username == batch.proposer:
        _audit("payout_approve", batch, user.username, refused="two-person rule")
        raise FlowRefused(f"两人原则：提出该批次的人({batch.proposer})不能审批",
                          f"two-person rule: the person who proposed the batch ({batch.proposer}) cannot approve it",
                          403)
    entries = _entries(batch, "reviewed")
    yes = [e for e in entries if e.id in keep]
    if not yes:
        raise FlowRefused("请至少选择一家企业", "choose at least one firm to approve", 400)
    no = [e for e in entries if e.id not in keep]
    on = business_date(ledger())
    _post(s, [_event(batch, e, "payout_approve", on, approver=user.username) for e in yes]
          + [_event(batch, e, "payout_leave_out", on, approver=user.username) for e in no])
    for e in yes:
        e.state = "approved"
    for e in no:
        e.state = "left_out"
    batch.state, batch.approver = "approved", user.username
    s.commit()
    counts = {"approved": len(yes), "left_out": len(no)}
    _audit("payout_approve", batch, user.username, **counts)
    return counts


def pay(s, batch: PayoutBatch, user) -> dict:
    """The approved payouts paid (after the payment list went to the bank): posted to the ledger as payments."""
    _need(batch, "approved")
    on = business_date(ledger())
    entries = _entries(batch, "approved")
    _post(s, [_event(batch, e, "payout_pay", on) for e in entries])
    for e in entries:
        e.state = "paid"
    batch.state = "paid"
    s.commit()
    counts = {"paid": len(entries), "date": on.isoformat()}
    _audit("payout_pay", batch, user.username, **counts)
    return counts


def payment_rows(batch: PayoutBatch) -> list[dict]:
    """The payment list's rows of an approved or paid batch (the full account numbers: only the export holds them)."""
    if batch.state not in ("approved", "paid"):
        raise FlowRefused("批次审批通过后才有支付清单", f"batch {batch.number} is {batch.state}: the payment list exists "
                          "once it is approved")
    rules = default_rules()
    name = rules.measures[batch.measure].name["zh"]
    return [{"统一社会信用代码": e.credit_code, "户名": e.account_name, "开户行": e.bank, "账号": e.account_no,
             "金额(元)": Decimal(e.amount_yuan), "政策": name, "批次号": batch.number}
            for e in batch.entries if e.state in ("approved", "paid")]


def exported(batch: PayoutBatch, user, fmt: str) -> list[dict]:
    """The payment list's rows for an export in `fmt` (xlsx, csv), the export recorded."""
    rows = payment_rows(batch)
    _audit("payout_export", batch, user.username, rows=len(rows), format=fmt)
    return rows


def payment_csv(rows: list[dict]) -> str:
    """The payment list as CSV text with a BOM, so that a spreadsheet opens it as UTF-8."""
    out = io.StringIO()
    write_payment_csv(rows, out)
    return "\ufeff" + out.getvalue()


def codes_csv(issued: list[tuple[PayoutEntry, str]]) -> str:
    """The codes just issued as the SMS system's CSV, with a BOM."""
    out = io.StringIO()
    write_codes_csv(issued_rows(issued), out)
    return "\ufeff" + out.getvalue()


def near_miss_list(run: db.ScreeningRun, measure: str) -> list:
    if measure not in default_rules().measures:
        raise FlowRefused("未知的政策", "unknown measure", 404)
    screening = screening_of(run)
    share = default_rules().params["payout.near_miss_share"].at(screening.as_of)
    return near_misses(screening, measure, share)


def batch_summary(b: PayoutBatch) -> dict:
    """A batch as the CLI and the API show it in a list."""
    return {"number": b.number, "measure": b.measure, "policy_year": b.policy_year, "state": b.state,
            "firms": len(b.entries), "proposer": b.proposer, "approver": b.approver, "run": b.run_id}


def batch_detail(b: PayoutBatch) -> dict:
    """One batch with its firms (account numbers masked), the undetermined firms and those left out."""
    return {**batch_summary(b), "as_of": b.as_of, "rules_version": b.rules_version, "parameters": b.parameters,
            "firms": [{"seq": e.seq, "credit_code": e.credit_code, "name": e.name, "amount_yuan": e.amount_yuan,
                       "state": e.state, "via": e.confirmed_via, "account": masked(e.account_no)}
                      for e in b.entries],
            "undetermined": b.undetermined, "already": b.already}

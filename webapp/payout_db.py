"""Storage of 免申即享 batches: the batch, one row per firm (its amount, why once asked for, its confirmation code's
hash and the account it confirmed) and the failed code tries the throttle counts. The payouts' states are the ledger's
(rules/ledger/payout.yaml); `state` here mirrors them for the pages, and every change goes through the ledger first."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class PayoutBatch(Base):
    __tablename__ = "payout_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str | None] = mapped_column(String(60), unique=True, nullable=True)  # 批次号
    measure: Mapped[str] = mapped_column(String(60), nullable=False, index=True)
    policy_year: Mapped[int] = mapped_column(Integer, nullable=False)
    run_id: Mapped[int] = mapped_column(ForeignKey("screening_runs.id"), nullable=False)
    proposer: Mapped[str] = mapped_column(String(80), nullable=False)
    approver: Mapped[str | None] = mapped_column(String(80), nullable=True)
    # proposed → asked → reviewed → approved → paid, or withdrawn
    state: Mapped[str] = mapped_column(String(20), nullable=False, default="proposed")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    as_of: Mapped[str] = mapped_column(String(10), nullable=False)
    rules_version: Mapped[str] = mapped_column(String(40), nullable=False)
    parameters: Mapped[dict] = mapped_column(JSON, default=dict)  # every parameter of the measure, on as_of
    overrides: Mapped[dict] = mapped_column(JSON, default=dict)  # the run's what-if values
    undetermined: Mapped[list] = mapped_column(JSON, default=list)  # [{credit_code, name, missing: [...]}]
    already: Mapped[list] = mapped_column(JSON, default=list)  # credit codes left out: held by the ledger
    entries = relationship("PayoutEntry", back_populates="batch", order_by="PayoutEntry.seq")


class PayoutEntry(Base):
    __tablename__ = "payout_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("payout_batches.id"), nullable=False, index=True)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    credit_code: Mapped[str] = mapped_column(String(18), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    district: Mapped[str | None] = mapped_column(String(40), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    amount_yuan: Mapped[str] = mapped_column(String(24), nullable=False)  # Decimal text, to the fen
    list_row: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the firm's row in the run's screened list
    # why, citations, provenance: JSON null until a page asks for them (payout_flow.explain_entries)
    why: Mapped[list] = mapped_column(JSON, default=list)
    citations: Mapped[list] = mapped_column(JSON, default=list)
    provenance: Mapped[list] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default="proposed")
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    code_expires: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    code_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    confirmed_via: Mapped[str | None] = mapped_column(String(10), nullable=True)  # online | paper
    recorded_by: Mapped[str | None] = mapped_column(String(80), nullable=True)  # who entered a paper answer
    account_name: Mapped[str | None] = mapped_column(String(200), nullable=True)  # 户名
    bank: Mapped[str | None] = mapped_column(String(200), nullable=True)  # 开户行
    account_no: Mapped[str | None] = mapped_column(String(40), nullable=True)  # 账号 (shown masked but in the export)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    batch = relationship("PayoutBatch", back_populates="entries")


class CodeFailure(Base):
    """A confirmation code tried and refused, by the code's keyed hash and the address: the throttle every process
    shares (as LoginFailure is for logins)."""
    __tablename__ = "payout_code_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, index=True)
    code: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    address: Mapped[str] = mapped_column(String(64), nullable=False, index=True)

"""The bare lower bound of `benchmarks/bench_limit.py` decides as the engine does, so its figure stays a fair one."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.evaluate.evaluator import evaluate
from engine.inputs.frames import table_from_frames
from engine.rules.loader import default_rules
from sample_firms.generate import generate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_limit import agreement, bare_inputs, bare_measures  # noqa: E402

RULES = default_rules()
AS_OF = dt.date(2026, 11, 22)


@pytest.fixture(scope="module")
def both():
    firms, loans, services = generate(600, seed=11)
    table, rejected = table_from_frames(RULES, firms, {"loans": loans, "voucher_services": services}, AS_OF)
    assert not rejected
    params, districts = bare_inputs(RULES, AS_OF)
    return evaluate(RULES, table, AS_OF, explain=False), bare_measures(table, params, districts, AS_OF)


def test_bare_statuses_and_amounts_agree_with_the_engine_on_every_decided_row(both):
    evaluation, bare = both
    checked = agreement(evaluation, bare)
    assert set(checked) == set(bare) and set(bare) <= set(RULES.measures)  # the bare bound covers MEASURES.md's eleven
    for mid, (decided, same, compared, equal) in checked.items():
        assert decided > 0 and same == decided, mid
        assert equal == compared, mid
    # the check is not vacuous: most measures have eligible firms whose amounts were compared
    assert sum(compared > 0 for _, _, compared, _ in checked.values()) >= 8


def test_the_cross_check_counts_a_differing_status_and_amount(both):
    evaluation, bare = both
    mid = "innovation_voucher"
    eligible, amount = bare[mid]
    row = int(np.flatnonzero(eligible & (evaluation.results[mid].status == 0))[0])
    wrong_status, wrong_amount = eligible.copy(), amount.copy()
    wrong_status[row] = False
    wrong_amount[row] += 0.01
    decided, same, _, _ = agreement(evaluation, {**bare, mid: (wrong_status, amount)})[mid]
    assert same == decided - 1
    _, _, compared, equal = agreement(evaluation, {**bare, mid: (eligible, wrong_amount)})[mid]
    assert equal == compared - 1

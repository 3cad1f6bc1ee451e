"""A check across fields (rules/fields.yaml `checks`) made once into Python functions over one record's values.

engine/inputs/record_checks.py `_evaluate` walks a check's node for every record it checks, dispatching on the kind of
each node and making a Value per node: the same walk serves columns (ColumnRows) and one record (OneRow). A firm's
JSON is one record, checked on every request: here each node of a check becomes, once, a function of (OneRow, param)
that does what `_evaluate` does over a OneRow (its three-valued logic, MEASURES.md §1, on the same cells), returning
(known, data, true, false) as a tuple instead of a Value. tests/test_record_checks_one_row.py compares the two on
every kind of node.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from engine.common.calendar import add_years_day, add_years_days
from engine.inputs.check_rows import COMPARISONS, OneRow, constant_cell, never_unknown
from engine.inputs.table import EXACT_SCALE
from engine.rules import expr as ex

Step = Callable[[OneRow, Callable], tuple]  # (row, param) -> (known, data, true, false)


_CONSTANTS: dict = {}  # id(value) -> (the value, its tuple): a rule parameter's value is the same object every day


def constant_of(value) -> tuple:
    """OneRow.constant as a (known, data, true, false) tuple, kept for each value object read (a parameter's Decimal
    is made millionths once, not on every firm)."""
    found = _CONSTANTS.get(id(value))
    if found is not None and found[0] is value:  # the value is kept here, so its id is not reused meanwhile
        return found[1]
    made = _constant_of(value)
    if len(_CONSTANTS) > 4096:  # values made per call (a what-if's) do not pile up
        _CONSTANTS.clear()
    _CONSTANTS[id(value)] = (value, made)
    return made


def _constant_of(value) -> tuple:
    kind, cell = constant_cell(value)
    if kind == "bool":
        return True, None, cell, not cell
    return cell is not None, cell, None, None


def _condition(true, false) -> tuple:
    return true | false, None, true, false


def _field(name: str, spec) -> Step:
    if spec.type == "yesno":
        missing = bool(spec.missing_means) if never_unknown(spec) else None

        def flag(row, param):
            cell = row.cell(spec, name)
            if cell is None:
                cell = missing
            true, false = cell is True, cell is False
            return true | false, None, true, false
        return flag

    def value(row, param):
        cell = row.cell(spec, name)
        return cell is not None, cell, None, None
    return value


def _texts(left: Step, test: Callable[[object], bool], negated: bool) -> Step:
    def tested(row, param):
        known, data = left(row, param)[:2]
        result = known and bool(test(data))
        true, false = known & result, known & (not result)
        return (true | false, None, false, true) if negated else (true | false, None, true, false)
    return tested


def years_later(day_known, day, years_known, years) -> tuple:
    """(known, day) of a day (days since 1970-01-01) plus whole years (millionths), as OneRow.years_later gives it."""
    known = day_known & years_known
    if not known:
        return known, 0.0
    try:  # on Python dates: the years within 1..9999
        return known, float(add_years_day(int(day), years // EXACT_SCALE))
    except (ValueError, OverflowError):
        pass
    return known, float(add_years_days(np.array([day]), np.array([years // EXACT_SCALE], np.int64))[0])


def _years_later(day: Step, years: Step) -> Step:
    def later(row, param):
        d, y = day(row, param), years(row, param)
        return (*years_later(d[0], d[1], y[0], y[1]), None, None)
    return later


def compile_node(node, record: dict) -> Step:
    """The node of a check over one record of the fields `record` (field -> FieldSpec; another name is a rule
    parameter, read through `param` when the step runs)."""
    if isinstance(node, ex.Name):
        spec = record.get(node.name)
        if spec is not None:
            return _field(node.name, spec)
        name = node.name
        return lambda row, param: constant_of(param(name))
    if isinstance(node, ex.Const):
        constant = constant_of(node.value)
        return lambda row, param: constant
    if isinstance(node, ex.Not):
        part = compile_node(node.part, record)

        def negated(row, param):
            p = part(row, param)
            return _condition(p[3], p[2])
        return negated
    if isinstance(node, ex.Logic):
        parts = tuple(compile_node(p, record) for p in node.parts)
        every = node.op == "all"

        def logic(row, param):
            done = [p(row, param) for p in parts]
            trues, falses = [d[2] for d in done], [d[3] for d in done]
            return _condition(all(trues), any(falses)) if every else _condition(any(trues), all(falses))
        return logic
    if isinstance(node, ex.Compare):
        left, right, op = compile_node(node.left, record), compile_node(node.right, record), COMPARISONS[node.op]

        def compared(row, param):
            a, b = left(row, param), right(row, param)
            both = a[0] & b[0]
            result = both and bool(op(a[1], b[1]))
            return _condition(both & result, both & (not result))
        return compared
    if isinstance(node, ex.Arith):
        left, right, plus = compile_node(node.left, record), compile_node(node.right, record), node.op == "+"

        def summed(row, param):
            a, b = left(row, param), right(row, param)
            known = a[0] & b[0]
            return known, (a[1] + b[1] if plus else a[1] - b[1]) if known else 0, None, None
        return summed
    if isinstance(node, ex.In):
        codes = node.right.value if isinstance(node.right, ex.Const) else ()
        return _texts(compile_node(node.left, record), lambda v: v in codes, node.negated)
    if isinstance(node, ex.Call) and node.fn == "startswith":
        prefix = node.args[1].value
        return _texts(compile_node(node.args[0], record), lambda v: str(v).startswith(prefix), False)
    if isinstance(node, ex.Call) and node.fn == "add_years":
        day, years = (compile_node(a, record) for a in node.args)
        return _years_later(day, years)
    if isinstance(node, ex.Call) and node.fn == "given":
        part = compile_node(node.args[0], record)

        def given(row, param):
            known = part(row, param)[0]
            return _condition(known, not known)
        return given
    message = f"{ex.render(node)!r} is not supported in a check (rules/fields.yaml checks)"

    def unsupported(row, param):  # raised when evaluated, as _evaluate raises it
        raise ValueError(message)
    return unsupported


class CheckStep:
    """A check over one record: its node's step over a row (OneRow, ColumnRow), and over a record's parsed values."""

    __slots__ = ("check", "record", "step", "on_values")

    def __init__(self, check, record: dict):
        from engine.inputs.check_source import source_step  # the generated source builds on this module's helpers

        self.check, self.record = check, record
        self.step = source_step(check.node, record) or compile_node(check.node, record)
        on_values = source_step(check.node, record, on_values=True)
        # a record's parsed values (a firm's JSON): the step over OneRow(values), without the OneRow
        step = self.step
        self.on_values = on_values or (lambda values, param: step(OneRow(values), param))

    def __call__(self, row: OneRow, param) -> tuple:
        return self.step(row, param)


_STEPS: dict = {}  # id(check) -> CheckStep
_NODE_STEPS: dict = {}  # (id(node), id(record)) -> (node, record, its step)


def node_step(node, record: dict) -> Step:
    """A condition over one record of the fields `record` (a filled_from condition), made once per node and record
    fields: its generated source, or its closures where the source is not generated."""
    from engine.inputs.check_source import source_step  # the generated source builds on this module's helpers

    key = (id(node), id(record))
    found = _NODE_STEPS.get(key)
    if found is None or found[0] is not node or found[1] is not record:
        found = _NODE_STEPS[key] = (node, record, source_step(node, record) or compile_node(node, record))
    return found[2]
_RECORD_STEPS: dict = {}  # (id(checks), item type, id(record), joined) -> (checks, record, its CheckSteps)


def record_steps(checks: tuple, item_type: str | None, record: dict, joined: bool) -> tuple[CheckStep, ...]:
    """The checks of one record type (those reading joined values when `joined`, the others when not), in their
    order, each made once: a record's checks pass over the rules' other record types once, not per record."""
    key = (id(checks), item_type, id(record), joined)
    found = _RECORD_STEPS.get(key)
    if found is None or found[0] is not checks or found[1] is not record:
        found = _RECORD_STEPS[key] = (checks, record, tuple(check_step(c, record) for c in checks
                                                            if c.of == item_type and c.joined == joined))
    return found[2]


def check_step(check, record: dict) -> CheckStep:
    """The check over one record of the fields `record`, made once per check and record fields."""
    found = _STEPS.get(id(check))
    if found is None or found.check is not check or found.record is not record:
        found = _STEPS[id(check)] = CheckStep(check, record)
    return found


__all__ = ["CheckStep", "Step", "check_step", "compile_node", "constant_of", "node_step", "record_steps",
           "years_later"]

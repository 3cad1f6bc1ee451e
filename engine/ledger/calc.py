"""Scalar expressions of the ledger rules, compiled once into closures over a context, with Decimal arithmetic.

The text is parsed by engine/rules/expr.py (Python's parser, closed node set: nothing is ever `eval`-ed). Where the
measures' evaluator works on columns with three-valued logic, the ledger evaluates one event at a time and every name
it reads has a value (event fields are required, entity fields and running totals start at 0), so the logic here is
plain two-valued.

Types: num (Decimal), date, bool, str, list (a tuple of codes). `compile_expr(node, resolve)` checks the types when
the rules load and returns `(fn, type)`, where `fn(ctx)` computes the value; `resolve(name)` returns `(getter, type)`
for a name, or raises KeyError when the name means nothing in that scope.
"""

from __future__ import annotations

import operator
import datetime as dt
from decimal import ROUND_FLOOR, Decimal, DivisionByZero, InvalidOperation

from engine.common.calendar import years_between
from engine.rules import expr as ex

NUM, DATE, BOOL, STR, LIST = ex.NUM, ex.DATE, ex.BOOL, ex.STR, ex.LIST

_CMP = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
        "!=": operator.ne}


class LedgerMathError(ArithmeticError):
    """An expression that cannot be computed for this event (a division by zero)."""


render = ex.render


def _div(a: Decimal, b: Decimal) -> Decimal:
    if not b:
        raise LedgerMathError("division by zero")
    try:
        return a / b
    except (DivisionByZero, InvalidOperation):
        raise LedgerMathError("division by zero") from None


_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": _div}


def compile_expr(node, resolve) -> tuple:
    """(fn, type) for an expression node; TypeError (wrong operand types) or KeyError (unknown name) when it is not
    a valid ledger expression. The types are those of the one checker of the language (`expr.type_of`), which the
    measures' loader runs too, so an expression means the same in a lifecycle and in a measure."""
    kind = ex.type_of(node, lambda name: resolve(name)[1])
    return _compile(node, resolve), kind


def _compile(node, resolve):
    if isinstance(node, ex.Const):
        value = node.value
        return lambda c: value
    if isinstance(node, ex.Name):
        return resolve(node.name)[0]
    if isinstance(node, ex.Compare):
        fa, fb, op = _compile(node.left, resolve), _compile(node.right, resolve), _CMP[node.op]
        return lambda c: op(fa(c), fb(c))
    if isinstance(node, ex.In):
        fa, fb = _compile(node.left, resolve), _compile(node.right, resolve)
        if node.negated:
            return lambda c: fa(c) not in _codes(fb(c))
        return lambda c: fa(c) in _codes(fb(c))
    if isinstance(node, ex.Logic):
        fns = tuple(_compile(p, resolve) for p in node.parts)
        if node.op == "all":
            return lambda c: all(f(c) for f in fns)
        return lambda c: any(f(c) for f in fns)
    if isinstance(node, ex.Not):
        f = _compile(node.part, resolve)
        return lambda c: not f(c)
    if isinstance(node, ex.Arith):
        fa, fb = _compile(node.left, resolve), _compile(node.right, resolve)
        ta = ex.type_of(node.left, lambda name: resolve(name)[1])
        tb = ex.type_of(node.right, lambda name: resolve(name)[1])
        if DATE in (ta, tb):
            return _date_arith(node.op, fa, fb, ta, tb)
        op = _ARITH[node.op]
        return lambda c: op(fa(c), fb(c))
    if isinstance(node, ex.IfElse):
        fc, ft, fo = (_compile(n, resolve) for n in (node.cond, node.then, node.other))
        return lambda c: ft(c) if fc(c) else fo(c)
    if isinstance(node, ex.Call):
        fns = tuple(_compile(a, resolve) for a in node.args)
        if node.fn in ("min", "max"):
            agg = min if node.fn == "min" else max
            return lambda c: agg(f(c) for f in fns)
        f0 = fns[0]
        if node.fn == "year":
            return lambda c: Decimal(f0(c).year)
        if node.fn == "years_between":
            f1 = fns[1]
            return lambda c: Decimal(years_between(f0(c), f1(c)))
        if node.fn == "given":
            return lambda c: f0(c) is not None
        if node.fn == "startswith":
            f1 = fns[1]
            return lambda c: f0(c).startswith(_codes(f1(c)))
    raise TypeError(f"{render(node)}: not available in ledger rules")


def _codes(value) -> tuple:
    return (value,) if isinstance(value, str) else tuple(value)


def whole_days(days: Decimal) -> int:
    """A date moved by a number of days lands on a whole day, the earlier one (the floor of the signed days), as
    the measures' columns do (engine/evaluate/kernel.py floor_days)."""
    return int(days.to_integral_value(rounding=ROUND_FLOOR))


def _date_arith(op: str, fa, fb, ta: str, tb: str):
    if ta == DATE and tb == DATE:  # the checker admits only date - date: a number of days
        return lambda c: Decimal((fa(c) - fb(c)).days)
    if ta == DATE:
        sign = 1 if op == "+" else -1
        return lambda c: fa(c) + dt.timedelta(days=whole_days(sign * fb(c)))
    return lambda c: fb(c) + dt.timedelta(days=whole_days(fa(c)))

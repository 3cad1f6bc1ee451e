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
from decimal import Decimal, DivisionByZero, InvalidOperation

from engine.rules import expr as ex

NUM, DATE, BOOL, STR, LIST = "num", "date", "bool", "str", "list"

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
    a valid ledger expression."""
    where = render(node)
    if isinstance(node, ex.Const):
        value = node.value
        kind = STR if isinstance(value, str) else LIST if isinstance(value, tuple) else NUM
        return (lambda c: value), kind
    if isinstance(node, ex.Name):
        return resolve(node.name)
    if isinstance(node, ex.Compare):
        (fa, ta), (fb, tb) = compile_expr(node.left, resolve), compile_expr(node.right, resolve)
        if STR in (ta, tb):
            if ta != tb or node.op not in ("==", "!="):
                raise TypeError(f"{where}: text can only be compared with text, by == or !=")
        elif not (ta == tb and ta in (NUM, DATE)):
            raise TypeError(f"{where}: compares a {ta} with a {tb}")
        op = _CMP[node.op]
        return (lambda c: op(fa(c), fb(c))), BOOL
    if isinstance(node, ex.In):
        (fa, ta), (fb, tb) = compile_expr(node.left, resolve), compile_expr(node.right, resolve)
        if ta != STR or tb != LIST:
            raise TypeError(f"{where}: `in` tests a text value against a list of codes")
        if node.negated:
            return (lambda c: fa(c) not in fb(c)), BOOL
        return (lambda c: fa(c) in fb(c)), BOOL
    if isinstance(node, ex.Logic):
        parts = [compile_expr(p, resolve) for p in node.parts]
        if any(t != BOOL for _, t in parts):
            raise TypeError(f"{where}: and/or take conditions")
        fns = tuple(f for f, _ in parts)
        if node.op == "all":
            return (lambda c: all(f(c) for f in fns)), BOOL
        return (lambda c: any(f(c) for f in fns)), BOOL
    if isinstance(node, ex.Not):
        f, t = compile_expr(node.part, resolve)
        if t != BOOL:
            raise TypeError(f"{where}: `not` takes a condition")
        return (lambda c: not f(c)), BOOL
    if isinstance(node, ex.Arith):
        (fa, ta), (fb, tb) = compile_expr(node.left, resolve), compile_expr(node.right, resolve)
        if ta != NUM or tb != NUM:
            raise TypeError(f"{where}: arithmetic on a {ta} and a {tb}")
        op = _ARITH[node.op]
        return (lambda c: op(fa(c), fb(c))), NUM
    if isinstance(node, ex.IfElse):
        (fc, tc), (ft, tt), (fo, to) = (compile_expr(n, resolve) for n in (node.cond, node.then, node.other))
        if tc != BOOL or tt != to:
            raise TypeError(f"{where}: needs `value if condition else value` with values of one type")
        return (lambda c: ft(c) if fc(c) else fo(c)), tt
    if isinstance(node, ex.Call):
        args = [compile_expr(a, resolve) for a in node.args]
        fns = tuple(f for f, _ in args)
        if node.fn in ("min", "max"):
            if any(t != NUM for _, t in args):
                raise TypeError(f"{where}: {node.fn}() takes numbers")
            agg = min if node.fn == "min" else max
            return (lambda c: agg(f(c) for f in fns)), NUM
        if node.fn == "year":
            if args[0][1] != DATE:
                raise TypeError(f"{where}: year() takes a date")
            f0 = fns[0]
            return (lambda c: Decimal(f0(c).year)), NUM
        raise TypeError(f"{where}: {node.fn}() is not available in ledger rules (min, max, year are)")
    raise TypeError(f"{where}: not allowed in ledger rules")

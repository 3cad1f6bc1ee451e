"""The rule expression language: parsed, never evaluated as Python.

Rule files write conditions and amounts as small expressions (`rd_intensity > rd_whitelist.min_rd_intensity`,
`min(items.subsidy, tech_loan_interest_subsidy.cap)`). Python's own parser turns the text into a syntax tree, and
this module keeps only a closed set of node kinds, rejecting everything else with the offending text, so a rule file
can never run code.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass
from decimal import Decimal

FUNCTIONS = {
    "min": (2, None),
    "max": (2, None),
    "lookup": (2, 2),
    "year": (1, 1),
    "startswith": (2, 2),
    "given": (1, 1),
    "years_between": (2, 2),
    "add_years": (2, 2),
    "make_date": (3, 3),
}

COMPARISONS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
ARITHMETIC = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


class ExprError(ValueError):
    """A rule expression that is not in the language."""


@dataclass(frozen=True)
class Const:
    value: object  # Decimal, str or tuple of str


@dataclass(frozen=True)
class Name:
    name: str  # dotted for parameters and items: "hnte.min_age_years", "items.subsidy"


@dataclass(frozen=True)
class Compare:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class In:
    left: object
    right: object
    negated: bool = False


@dataclass(frozen=True)
class Logic:
    op: str  # "all" | "any"
    parts: tuple


@dataclass(frozen=True)
class Not:
    part: object


@dataclass(frozen=True)
class Arith:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple


@dataclass(frozen=True)
class IfElse:
    cond: object
    then: object
    other: object


@dataclass(frozen=True)
class Function:
    """A function the rules define (rules/functions.yaml): an expression of its parameters, which may also read the
    firm's fields and derived values and the rule parameters. A call is replaced by the body with the arguments put in
    for the parameters when the calling expression is parsed, so what evaluates expressions never meets it."""

    name: str
    params: tuple  # parameter names, in call order
    body: object  # over the parameters (and the firm names in `reads`), with the functions it calls already put in
    reads: tuple = ()  # the firm's fields, derived values and rule parameters the body reads beside its parameters
    types: tuple = ()  # the parameters' types (num, date, bool, str, list, table), in call order


def parse(text: str, functions: dict | None = None) -> object:
    """Parse one expression into the node types above, or raise ExprError naming what is not allowed. `functions`
    (name -> Function) are the rules' own functions, expanded where they are called."""
    if not isinstance(text, str) or not text.strip():
        raise ExprError(f"empty expression: {text!r}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"cannot parse {text!r}: {exc.msg}") from None
    return _convert(tree.body, text, functions or {})


def called(text: str) -> set[str]:
    """The names of the functions an expression calls (before any is expanded); empty when it does not parse."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return set()
    return {_dotted(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)} - {None}


def substitute(node, values: dict):
    """The expression with each Name in `values` replaced by its node."""
    if isinstance(node, Name):
        return values.get(node.name, node)
    if isinstance(node, Const):
        return node
    changes = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if isinstance(value, tuple):
            changes[f.name] = tuple(substitute(v, values) for v in value)
        elif dataclasses.is_dataclass(value):
            changes[f.name] = substitute(value, values)
    return dataclasses.replace(node, **changes)


def _dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _convert(node, text, fns):
    if isinstance(node, ast.BoolOp):
        op = "all" if isinstance(node.op, ast.And) else "any"
        return Logic(op, tuple(_convert(v, text, fns) for v in node.values))
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            return Not(_convert(node.operand, text, fns))
        if isinstance(node.op, ast.USub):
            inner = _convert(node.operand, text, fns)
            if isinstance(inner, Const) and isinstance(inner.value, Decimal):
                return Const(-inner.value)
            return Arith("-", Const(Decimal(0)), inner)
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1:
            raise ExprError(f"chained comparison in {text!r}: write each comparison separately")
        op, right = node.ops[0], node.comparators[0]
        left = _convert(node.left, text, fns)
        if isinstance(op, (ast.In, ast.NotIn)):
            return In(left, _convert(right, text, fns), isinstance(op, ast.NotIn))
        if type(op) not in COMPARISONS:
            raise ExprError(f"operator not allowed in {text!r}")
        return Compare(COMPARISONS[type(op)], left, _convert(right, text, fns))
    if isinstance(node, ast.BinOp):
        if type(node.op) not in ARITHMETIC:
            raise ExprError(f"operator not allowed in {text!r}")
        return Arith(ARITHMETIC[type(node.op)], _convert(node.left, text, fns), _convert(node.right, text, fns))
    if isinstance(node, ast.IfExp):
        return IfElse(_convert(node.test, text, fns), _convert(node.body, text, fns), _convert(node.orelse, text, fns))
    if isinstance(node, ast.Call):
        fn = _dotted(node.func)
        if fn in fns and not node.keywords:
            f = fns[fn]
            if len(node.args) != len(f.params):
                raise ExprError(f"{fn}() takes {len(f.params)} arguments ({', '.join(f.params)}) in {text!r}")
            return substitute(f.body, dict(zip(f.params, (_convert(a, text, fns) for a in node.args))))
        if fn not in FUNCTIONS or node.keywords:
            raise ExprError(f"unknown function {fn!r} in {text!r}")
        lo, hi = FUNCTIONS[fn]
        if len(node.args) < lo or (hi is not None and len(node.args) > hi):
            raise ExprError(f"{fn}() takes {lo}{'' if hi == lo else '+'} arguments in {text!r}")
        return Call(fn, tuple(_convert(a, text, fns) for a in node.args))
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = _dotted(node)
        if name is None:
            raise ExprError(f"not a name in {text!r}")
        return Name(name)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or node.value is None:
            raise ExprError(f"write conditions, not literals, in {text!r}")
        if isinstance(node.value, (int, float)):
            # the source text of the literal, so 0.05 stays exactly 0.05
            return Const(Decimal(ast.get_source_segment(text.strip(), node) or repr(node.value)))
        if isinstance(node.value, str):
            return Const(node.value)
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_convert(e, text, fns) for e in node.elts]
        if not all(isinstance(i, Const) and isinstance(i.value, str) for i in items):
            raise ExprError(f"a list may hold only quoted codes in {text!r}")
        return Const(tuple(i.value for i in items))
    raise ExprError(f"{type(node).__name__} not allowed in {text!r}")


def names(node) -> set[str]:
    """Every name an expression refers to."""
    if isinstance(node, Name):
        return {node.name}
    found = set()
    for child in children(node):
        found |= names(child)
    return found


def children(node) -> tuple:
    if isinstance(node, (Compare, Arith, In)):
        return (node.left, node.right)
    if isinstance(node, Logic):
        return node.parts
    if isinstance(node, Not):
        return (node.part,)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, IfElse):
        return (node.cond, node.then, node.other)
    return ()


def render(node) -> str:
    """Source-like text of an expression node (for messages and for inline parts of a larger expression)."""
    if isinstance(node, Const):
        if isinstance(node.value, tuple):
            return "[" + ", ".join(repr(v) for v in node.value) + "]"
        return repr(node.value) if isinstance(node.value, str) else str(node.value)
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Compare):
        return f"{render(node.left)} {node.op} {render(node.right)}"
    if isinstance(node, In):
        return f"{render(node.left)} {'not in' if node.negated else 'in'} {render(node.right)}"
    if isinstance(node, Logic):
        return f" {'and' if node.op == 'all' else 'or'} ".join(f"({render(p)})" for p in node.parts)
    if isinstance(node, Not):
        return f"not {render(node.part)}"
    if isinstance(node, Arith):
        return f"({render(node.left)} {node.op} {render(node.right)})"
    if isinstance(node, Call):
        return f"{node.fn}({', '.join(render(a) for a in node.args)})"
    if isinstance(node, IfElse):
        return f"({render(node.then)} if {render(node.cond)} else {render(node.other)})"
    return str(node)

"""An amount's exact value (a Fraction) as Python source generated beside its float code (scalar_source.py), once
per plan and day.

The reference is the exact walk of scalar.py (`Env.exact`, `_exact`, `has_exact`): at every node of an amount's tree
it asks, for each firm, what the node's form already says — whether the node is a constant of the day (a Decimal),
whether a division's divisor is one, whether the branch of an if/else not taken has an exact value. Those answers
are the same for every firm of a day without a what-if, so here they are settled once, when the code is generated,
and what is left is straight-line code over the scope's cached values. Each value is a Python int, its numerator
over a scale settled with the code (a field's exact millionths, a ratio's units of 1/10,000, a constant's
denominator; + and - bring two scales to their least common multiple, × multiplies them, ÷ by a constant of the
day multiplies the scale by its numerator), and the one Fraction (one gcd) is made of the result. Where a value
comes as a Fraction (a list's total, a derived value, a lookup), the code around it is Fraction arithmetic. An
if/else reads its condition's value and computes the branch it takes; a min or max of known operands is Python's.
What depends on the firm stays a test at run time: whether the table holds a field's exact column, and where the
walk computes the branch not taken (a list's total, None only for a firm whose items have no exact form), the same
computation.

Case by case the code mirrors the walk (and its forms, `Env._form`), so each value is the walk's Fraction
(tests/test_exact_source.py compares both on every key of every sample firm and rule case, on several days, on
changed and random firms and on tables without some exact columns). A measure's own value is inlined (its scope is
the amount's); a derived value calls `Env.exact` on the firm's scope, which keeps it for every measure. A what-if
(whose constants are its own) and the closures' plan keep the walk.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from engine.evaluate.scalar_source import SourceFunction, Writer
from engine.inputs.table import EXACT_SCALE
from engine.rules import expr as ex
from engine.rules.params import Cases

_PYTHON_ARITH = {"+": "+", "-": "-", "*": "*", "/": "/"}
_NONE = "None"  # the code of a value with no exact form
FRACTION = 0  # the scale of a code holding a Fraction itself (a list's total, a derived value, a lookup, a case)


class ExactGenerator:
    """Writes the exact functions of one scalar plan for one day. values: the plan's float Generator (a node's value,
    where the exact code needs one, is computed as its step computes it); runtime: what the code reads by name
    (scalar.py `_EXACT_RUNTIME`)."""

    def __init__(self, plan, values, runtime: dict):
        self.plan, self.values, self.runtime = plan, values, runtime
        self.exact_decimal = runtime["exact_decimal"]
        self.ratio_scale = runtime["RATIO_SCALE"]  # a ratio's units (Env.ratio_units): of its 4th decimal

    def exact(self, node, env) -> SourceFunction:
        """`f(env) -> Fraction | None`: node's exact value in env's scope (its own cache, env.exacts, the caller's).
        env is a scope of the day the function serves (its constants decide the forms)."""
        out = Writer(self.runtime)
        # id(node) -> _scale's and _static_none's answers, kept for this function's writing only (a day's forms)
        out.scales, out.nones = {}, {}
        value, scale = self._exact(node, env, out)
        result = _NONE
        if _literal(value):  # a constant of the day (a parameter): its Fraction, made once
            result = _as_fraction(value, scale, out)
        elif value != _NONE:
            result = out.fresh()
            out.emit(f"{result} = {_as_fraction(value, scale, out)}")
        return out.function("exact", "env", result, "exact " + ex.render(node))

    # -- values ---------------------------------------------------------------------------------------------------
    def _exact(self, node, env, out: Writer) -> tuple:
        """(code, scale) of node's exact value, Env._exact case by case: the code of a local or a constant holding
        the value's numerator over scale (a whole number the code does not compute), or, where scale is FRACTION,
        the value itself; None where it has no exact value. A numerator is a Python int: +, -, × and ÷ by a
        constant are integer operations, and the one Fraction (one gcd) is made of the result."""
        if env.constant(node):  # a Decimal of the day (a constant, a parameter, or +-*/, min, max of those)
            value = self.exact_decimal(env.value_of(node))
            return str(value.numerator), value.denominator
        kind = type(node)
        if kind is ex.Const:
            return _NONE, 1
        if kind is ex.Name:
            return self._name(node.name, env, out)
        if kind is ex.IfElse:
            return self._if_else(node, env, out)
        if kind is ex.Arith:
            return self._arith(node, env, out)
        r = out.fresh()
        if kind is ex.Call and node.fn in ("min", "max"):
            parts = [self._exact(a, env, out) for a in node.args]
            if any(code == _NONE for code, _ in parts):
                return _NONE, 1
            scale = _common([s for _, s in parts])
            listed = [code for code, _ in parts if not _literal(code)]
            codes = [_known_at_scale(code, s, scale, out) for code, s in parts]  # none of them None (tested below)
            values = [self.values.value(a, env, out) for a in node.args]
            # every operand known (a constant is): the least or the greatest exact value, else the helper's rules
            known = " and ".join(f"type({v}) is float" for v, a in zip(values, node.args) if not env.constant(a))
            extreme = f"{node.fn}({', '.join(codes)})"
            out.emit(f"if {' or '.join(f'{c} is None' for c in listed) or 'False'}:")
            out.emit(f"    {r} = None")
            if known:
                out.emit(f"elif {known}:")
                out.emit(f"    {r} = {extreme}")
                out.emit("else:")
                out.emit(f"    {r} = extreme_exact(env, {out.bind(node, 'n')}, [{', '.join(codes)}], "
                         f"[{', '.join(values)}], {node.fn == 'min'}, {'ZERO' if scale == FRACTION else '0'})")
            else:
                out.emit("else:")
                out.emit(f"    {r} = {extreme}")
            return r, scale
        if kind is ex.Call and node.fn in ("year", "years_between"):  # a float or an unknown, never a Decimal
            value = self.values.value(node, env, out)
            out.emit(f"{r} = int({value}) if type({value}) is float else 0")
            return r, 1
        value = self.values.value(node, env, out)  # the walk reads the node's value first: a Decimal is exact
        if kind is ex.Call and node.fn == "lookup":
            x, table = self.values.value(node.args[0], env, out), self.values.value(node.args[1], env, out)
            out.emit(f"{r} = exact_decimal({value}) if type({value}) is Decimal else lookup_exact({x}, {table})")
        else:  # dates built in expressions (and the rest) have no exact form
            out.emit(f"{r} = exact_decimal({value}) if type({value}) is Decimal else None")
        return r, FRACTION

    def _name(self, name: str, env, out: Writer) -> tuple:
        """Env.exact_name: a measure's own value (its code inlined: the same scope), a list's total, else the
        firm's (or the item's) name."""
        m = env.measure
        if m is None:
            return self._wide_name(name, env, "env", out)
        if name in m.values:
            return self._exact(m.values[name].expr, env, out)
        if name.startswith("items."):  # the list's total, summed where the items are (Run.items), or None
            r = out.fresh()
            out.emit(f"{r} = env.items_exact")
            out.emit(f"if {r} is not None:")
            out.emit(f"    {r} = {r}[{out.bind(name[len('items.'):], 'q')}]()")
            return r, FRACTION
        return self._wide_name(name, env, "env.wide_env", out)

    def _wide_name(self, name: str, env, scope: str, out: Writer) -> tuple:
        """(code, scale) of a name of the firm's scope (or the item's: scope, the code of that scope)."""
        rules, quoted, r = env.run.rules, out.bind(name, "q"), out.fresh()
        if env.item_type is None and name in rules.derived:
            spec = rules.derived[name]
            if "ratio" in spec:  # its units of 1/10,000, kept when the ratio is computed
                out.emit(f"{r} = {scope}")
                out.emit(f"{r}.name({quoted})")
                out.emit(f"{r} = {r}.ratio_units")
                out.emit(f"{r} = 0.0 if {r} is None else {r}.get({quoted}, 0.0)")
                out.emit(f"{r} = int({r}) if isfinite({r}) else 0")
                return r, self.ratio_scale
            # computed once per firm (Env.exact keeps it on the firm's scope), as the walk does
            out.emit(f"{r} = {scope}.exact({out.bind(spec['expr'], 'n')})")
            return r, FRACTION
        value = env.run.params.get(name)
        scale = _name_scale(value)
        cols = out.fresh()
        out.emit(f"{cols} = {scope}.cols")
        out.emit(f"if {quoted} in {cols}.num:")  # a field: its exact numerators, where the table holds them
        out.emit(f"    {r} = {cols}.exact.get({quoted})")
        out.emit(f"    if {r} is not None:")
        out.emit(f"        {r} = {_times(f'int({r}[{scope}.row])', scale // EXACT_SCALE)}")
        out.emit("else:")
        if isinstance(value, Cases):  # a parameter chosen by the firm (never a field's name): the first case met
            numerators = ([(node, int(Fraction(v) * scale)) for node, _, v in value.cases],
                          int(Fraction(value.otherwise) * scale))
            out.emit(f"    {r} = case_numerator({scope}, {out.bind(numerators, 'c')})")
        else:
            out.emit(f"    {r} = None")
        return r, scale

    def _if_else(self, node: ex.IfElse, env, out: Writer) -> tuple:
        """The branch taken (the other when the condition is False, else the first), if the branch not taken has
        an exact value too (Env.has_exact), else None; the branch not taken is not computed unless its form asks.
        Both branches' numerators are brought to one scale (or both made Fractions)."""
        held = self.values.value(node.cond, env, out)
        r = out.fresh()
        scale = _common([self._scale(node.then, env, out), self._scale(node.other, env, out)])
        out.emit(f"if {held} is False:")
        out.indent += 1
        self._taken(node.other, node.then, env, out, r, scale)
        out.indent -= 1
        out.emit("else:")
        out.indent += 1
        self._taken(node.then, node.other, env, out, r, scale)
        out.indent -= 1
        return r, scale

    def _taken(self, taken, other, env, out: Writer, r: str, scale: int) -> None:
        static, tests = self._form(other, env, out)
        if static is False:
            out.emit(f"{r} = None")
            return
        if tests:  # the fields' exact columns the form reads, in this table
            out.emit(f"if {' and '.join(tests)}:")
            out.indent += 1
        if static is None:  # the form depends on the firm: the walk computes the branch not taken
            o, _ = self._exact(other, env, out)
            out.emit(f"if {o} is not None:" if not _literal(o) else "if True:")
            out.indent += 1
        value, own = self._exact(taken, env, out)
        assert own == self._scale(taken, env, out) or value == _NONE, ex.render(taken)  # _scale mirrors _exact
        out.emit(f"{r} = {_at_scale(value, own, scale, out)}")
        if static is None:
            out.indent -= 1
            out.emit("else:")
            out.emit(f"    {r} = None")
        if tests:
            out.indent -= 1
            out.emit("else:")
            out.emit(f"    {r} = None")

    def _arith(self, node: ex.Arith, env, out: Writer) -> tuple:
        if self.plan.date_shift(node, env):  # a date moved by days: its whole day
            value = self.values.value(node, env, out)
            r = out.fresh()
            out.emit(f"{r} = int({value}) if type({value}) is float else 0")
            return r, 1
        (a, sa), (b, sb) = self._exact(node.left, env, out), self._exact(node.right, env, out)
        if node.op == "/" and (not env.constant(node.right) or env.value_of(node.right) == 0):
            return _NONE, 1  # a divisor that is not one constant has no exact form (exact.divide)
        if _NONE in (a, b):
            return _NONE, 1
        r = out.fresh()
        if FRACTION in (sa, sb):  # a list's total, a derived value, a lookup: Fraction arithmetic
            fa, fb = out.fresh(), out.fresh()
            out.emit(f"{fa} = {_as_fraction(a, sa, out)}")
            out.emit(f"{fb} = {_as_fraction(b, sb, out)}")
            out.emit(f"{r} = {_unless_none([fa, fb], f'{fa} {_PYTHON_ARITH[node.op]} {fb}')}")
            return r, FRACTION
        if node.op == "/":  # (a / sa) / (p / q) = a * q / (sa * p), a divisor p / q of the day (not 0)
            divisor = self.exact_decimal(env.value_of(node.right))
            p, q = divisor.numerator, divisor.denominator
            out.emit(f"{r} = {_unless_none([a], _times(a, q if p > 0 else -q))}")
            return r, sa * abs(p)
        if node.op == "*":
            product = _times(a, b) if _literal(b) else _times(b, a) if _literal(a) else f"{a} * {b}"
            out.emit(f"{r} = {_unless_none([a, b], product)}")
            return r, sa * sb
        scale = _common([sa, sb])
        out.emit(f"{r} = {_unless_none([a, b], f'{_times(a, scale // sa)} {node.op} {_times(b, scale // sb)}')}")
        return r, scale

    def _scale(self, node, env, out: Writer) -> int:
        """The scale _exact gives node's code, found without writing any (an if/else brings its branches to one)."""
        held = out.scales.get(id(node))
        if held is None:
            held = out.scales[id(node)] = self._find_scale(node, env, out)
        return held

    def _find_scale(self, node, env, out: Writer) -> int:
        if env.constant(node):
            return self.exact_decimal(env.value_of(node)).denominator
        kind = type(node)
        if kind is ex.Name:
            name, m = node.name, env.measure
            if m is not None and name in m.values:
                return self._scale(m.values[name].expr, env, out)
            if m is not None and name.startswith("items."):
                return FRACTION
            if env.item_type is None and name in env.run.rules.derived:
                return self.ratio_scale if "ratio" in env.run.rules.derived[name] else FRACTION
            return _name_scale(env.run.params.get(name))
        if kind is ex.IfElse:
            return _common([self._scale(node.then, env, out), self._scale(node.other, env, out)])
        if kind is ex.Arith:
            if self.plan.date_shift(node, env):
                return 1
            if node.op == "/" and (not env.constant(node.right) or env.value_of(node.right) == 0):
                return 1
            sa, sb = self._scale(node.left, env, out), self._scale(node.right, env, out)
            if self._static_none(node.left, env, out) or self._static_none(node.right, env, out):
                return 1
            if FRACTION in (sa, sb):
                return FRACTION
            if node.op == "/":
                return sa * abs(self.exact_decimal(env.value_of(node.right)).numerator)
            return sa * sb if node.op == "*" else _common([sa, sb])
        if kind is ex.Call and node.fn in ("min", "max"):
            if any(self._static_none(a, env, out) for a in node.args):
                return 1
            return _common([self._scale(a, env, out) for a in node.args])
        if kind is ex.Call and node.fn in ("year", "years_between"):
            return 1
        if kind is ex.Const:
            return 1
        return FRACTION

    def _static_none(self, node, env, out: Writer) -> bool:
        """Whether _exact writes None for node whatever the firm (a constant that is not a number, a division by a
        divisor that varies, and what is made of them)."""
        held = out.nones.get(id(node))
        if held is None:
            held = out.nones[id(node)] = self._find_static_none(node, env, out)
        return held

    def _find_static_none(self, node, env, out: Writer) -> bool:
        if env.constant(node):
            return False
        kind = type(node)
        if kind is ex.Const:
            return True
        if kind is ex.Name:
            m = env.measure
            return m is not None and node.name in m.values and self._static_none(m.values[node.name].expr, env, out)
        if kind is ex.Arith:
            if self.plan.date_shift(node, env):
                return False
            if self._static_none(node.left, env, out) or self._static_none(node.right, env, out):
                return True
            return node.op == "/" and (not env.constant(node.right) or env.value_of(node.right) == 0)
        if kind is ex.Call and node.fn in ("min", "max"):
            return any(self._static_none(a, env, out) for a in node.args)
        return False

    # -- forms ------------------------------------------------------------------------------------------------
    def _form(self, node, env, out: Writer) -> tuple:
        """Env._form of node as (static, tests): static True (an exact value), False (None) or None (asks the
        firm's values); tests, codes of whether the table holds the exact column of a field the form reads (any
        False: no exact value)."""
        kind = type(node)
        if kind is ex.Const:
            return isinstance(node.value, Decimal), ()
        if kind is ex.Name:
            return (True, ()) if env.constant(node) else self._name_form(node.name, env, out)
        if kind is ex.IfElse:
            return _all_forms([self._form(node.then, env, out), self._form(node.other, env, out)])
        if kind is ex.Arith:
            if env.constant(node) or self.plan.date_shift(node, env):
                return True, ()
            if node.op == "/" and (not env.constant(node.right) or env.value_of(node.right) == 0):
                return False, ()
            return _all_forms([self._form(node.left, env, out), self._form(node.right, env, out)])
        if kind is ex.Call:
            if env.constant(node) or node.fn in ("lookup", "year", "years_between"):
                return True, ()
            if node.fn in ("min", "max"):
                return _all_forms([self._form(a, env, out) for a in node.args])
        return False, ()

    def _name_form(self, name: str, env, out: Writer) -> tuple:
        m = env.measure
        if m is not None:
            if name in m.values:
                return self._form(m.values[name].expr, env, out)
            if name.startswith("items."):  # a list's total: depends on the firm's items (none without a list)
                return None, ("env.items_exact is not None",)
            env = env.wide_env
        rules = env.run.rules
        if env.item_type is None and name in rules.derived:
            spec = rules.derived[name]
            return (True, ()) if "ratio" in spec else self._form(spec["expr"], env, out)
        quoted = out.bind(name, "q")
        cases = isinstance(env.run.params.get(name), Cases)
        return True, (f"(env.cols.exact.get({quoted}) is not None if {quoted} in env.cols.num else {cases})",)


def _all_forms(forms: list) -> tuple:
    """Several parts' forms together (scalar.py `_all_forms`): False if one has no exact value, else None if one
    depends on the firm, else True; the tests of every part."""
    if any(static is False for static, _ in forms):
        return False, ()
    tests = []
    for _, part in forms:
        tests.extend(t for t in part if t not in tests)
    return (None if any(static is None for static, _ in forms) else True), tuple(tests)


def _name_scale(value) -> int:
    """The scale of a name's numerators read from the table (millionths), and where the name is a parameter with
    cases, of its values too."""
    if not isinstance(value, Cases):
        return EXACT_SCALE
    values = [Fraction(v) for _, _, v in value.cases] + [Fraction(value.otherwise)]
    return math.lcm(EXACT_SCALE, *(v.denominator for v in values))


def _common(scales: list) -> int:
    """One scale for several codes: FRACTION if one is a Fraction, else the least common multiple."""
    if FRACTION in scales:
        return FRACTION
    return math.lcm(*scales)


def _times(code: str, k) -> str:
    """code × k (a whole number), written out where code is."""
    if k == 1 or k == "1":
        return code
    if _literal(code):
        return str(int(code) * int(k))
    return f"{code} * {k}"


def _literal(code: str) -> bool:
    """Whether a code is a whole number written out (a constant's numerator): never None."""
    return code.lstrip("-").isdigit()


def _unless_none(codes: list, expression: str) -> str:
    """expression, or None where one of codes (not written-out numbers) is None."""
    tests = [f"{c} is None" for c in codes if not _literal(c)]
    return f"None if {' or '.join(tests)} else {expression}" if tests else expression


def _at_scale(code: str, scale: int, target: int, out: Writer) -> str:
    """The code of a value at scale brought to target (a multiple of it, or FRACTION)."""
    if code == _NONE or scale == target:
        return code
    if target == FRACTION:
        return _as_fraction(code, scale, out)
    if _literal(code):
        return str(int(code) * (target // scale))
    return f"(None if {code} is None else {code} * {target // scale})"


def _known_at_scale(code: str, scale: int, target: int, out: Writer) -> str:
    """_at_scale of a code known not to be None."""
    if scale == target:
        return code
    if target == FRACTION:
        return out.bind(Fraction(int(code), scale), "x") if _literal(code) else f"Fraction({code}, {scale})"
    return _times(code, target // scale)


def _as_fraction(code: str, scale: int, out: Writer) -> str:
    """The code of a value as a Fraction (one gcd, made once where a value leaves the integers)."""
    if code == _NONE or scale == FRACTION:
        return code
    if _literal(code):  # a constant: its Fraction made now
        return out.bind(Fraction(int(code), scale), "x")
    return f"(None if {code} is None else Fraction({code}, {scale}))"

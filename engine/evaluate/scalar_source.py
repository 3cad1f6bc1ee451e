"""Python source generated from the checked expression nodes, once per RuleSet: the scalar plan (scalar.py) without a
closure call per node.

A closure per node costs a Python call, and the dispatch on its operands' types, at every node of every measure. Here
an expression (or a whole condition tree) becomes one function of straight-line code over local variables: a name is
a dict lookup in its scope's cache, a comparison or an operation on two known numbers is the Python operator itself,
and only where an operand is not a known number does the code call the scalar kernel's function of the same meaning
(`compare_value`, `arith_value`, `tri_all`, ...), so the three-valued results are the closures' exactly.

What stays a call: a subexpression cached per scope (shared across measures, `Plan.shared_slot`, or repeated in one
tree) is looked up in its cache and computed by its own generated function only when missing; the branches of an
if/else are inlined each under its own branch (a branch not taken is not computed, as in the closures); functions
other than min, max and given, and the operands a condition shows, call their closures (scalar.py `ScalarPlan`).

Each generated function is compiled once (`compile`, one code object per function) and kept by the plan; its source
is kept beside it (`SourceFunction.source`) for a reader debugging a rule.
"""

from __future__ import annotations

from decimal import Decimal

from engine.rules import expr as ex

_PYTHON_COMPARE = {"<=": "<=", "<": "<", ">=": ">=", ">": ">", "==": "==", "!=": "!="}
_PYTHON_ARITH = {"+": "+", "-": "-", "*": "*", "/": "/"}


def shown_operands(e) -> tuple:
    """The operands of a leaf condition the explainer shows beside its result (a list test, a prefix test, a negated
    call)."""
    if isinstance(e, ex.In):
        return (e.left, e.right)
    if isinstance(e, ex.Call) and e.fn == "startswith":
        return (e.args[0], e.args[1])
    if isinstance(e, ex.Not) and isinstance(e.part, ex.Call):
        return tuple(e.part.args)
    return ()


def _number_constant(node) -> bool:
    """A constant of the rules that is a number (a Decimal): never NaN, so a comparison with it can be inlined."""
    return isinstance(node, ex.Const) and isinstance(node.value, Decimal)


# functions whose closure (scalar.py ScalarPlan._call) only reads its arguments and calls the scalar kernel: the
# generated code calls the kernel's function of their values (the runtime's name) without the closures
_CALLED_INLINE = {"lookup": "lookup_value", "year": "year_value", "years_between": "years_value",
                  "startswith": "startswith_value"}


def _text_constant(node: ex.Compare) -> bool:
    """An equality (or inequality) with a constant text of the rules on the right: for a field's known text (a
    Text) it is Python's own (compared's str_in of one value)."""
    return node.op in ("==", "!=") and isinstance(node.right, ex.Const) and isinstance(node.right.value, str)


class SourceFunction:
    """A generated function and its source (the source for a reader; the function is what runs)."""

    __slots__ = ("fn", "source")

    def __init__(self, fn, source: str):
        self.fn, self.source = fn, source


class Writer:
    """The lines of one function being generated, the values it reads as globals, and its local names."""

    def __init__(self, runtime: dict):
        self.lines: list = []
        self.globals: dict = dict(runtime)
        self.indent = 1
        self.count = 0
        self.bound: dict = {}  # id(value) -> the global name it is bound to

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.indent + line)

    def fresh(self) -> str:
        self.count += 1
        return f"v{self.count}"

    def bind(self, value, hint: str = "g") -> str:
        """A global name for a value the code reads (a constant, a closure, a node)."""
        name = self.bound.get(id(value))
        if name is None:
            name = self.bound[id(value)] = f"{hint}{len(self.globals)}"
            self.globals[name] = value
        return name

    def function(self, name: str, params: str, result: str | None, label: str) -> SourceFunction:
        body = self.lines + ([f"    return {result}"] if result is not None else [])
        source = f"def {name}({params}):\n" + "\n".join(body or ["    pass"]) + "\n"
        namespace = self.globals
        exec(compile(source, f"<scalar plan: {label}>", "exec"), namespace)  # noqa: S102 - our own generated source
        return SourceFunction(namespace[name], source)


class Generator:
    """Writes the functions of one scalar plan. plan: the ScalarPlan (its steps, caches and closures are what a
    generated function calls where it does not inline); runtime: the scalar kernel's functions and markers the code
    reads by name."""

    def __init__(self, plan, runtime: dict):
        self.plan, self.runtime = plan, runtime
        self.text_type = runtime["Text"]

    # -- an expression --------------------------------------------------------------------------------------------
    def expression(self, node, env) -> SourceFunction:
        """`f(env) -> value` computing node itself (its own cache, if any, is the caller's)."""
        out = Writer(self.runtime)
        result = self._body(node, env, out)
        return out.function("expression", "env", result, ex.render(node))

    def condition(self, node, env) -> SourceFunction:
        """`f(env, nodes, operands) -> result` of a whole condition tree: every node's result into nodes, a leaf's
        shown operands into operands, in the order the closures write them."""
        out = Writer(self.runtime)
        result = self._condition(node, env, out)
        return out.function("condition", "env, nodes, operands", result, node.path)

    def _condition(self, node, env, out: Writer) -> str:
        path = out.bind(node.path, "p")
        kind = node.kind
        if kind == "all" or kind == "any":
            parts = [self._condition(ch, env, out) for ch in node.children]
            result = self._combine(kind, parts, out)
            out.emit(f"nodes[{path}] = {result}")
            return result
        if kind == "requires":
            r = out.fresh()
            out.emit(f"{r}_s, {r}_m, {r}_z = env.run.results[{out.bind(node.measure, 'm')}]")
            out.emit(f"{r} = True if {r}_s == ELIGIBLE else Unknown({r}_m, {r}_z) if {r}_s == UNDETERMINED else False")
            out.emit(f"nodes[{path}] = {r}")
            return r
        e = node.expr
        if isinstance(e, ex.Compare):
            a, b = self._value(e.left, env, out), self._value(e.right, env, out)
            r = out.fresh()
            if _text_constant(e):  # a field's code against a code of the rules: compared's str_in, inline
                out.emit(f"if type({a}) is Text:")
                out.emit(f"    {r} = {a} {_PYTHON_COMPARE[e.op]} {b}")
                out.emit(f"    operands[{path}] = ({a}, {b})")
                out.emit("else:")
                out.emit(f"    {r}, operands[{path}] = compared({out.bind(e.op, 'o')}, {a}, {b})")
                out.emit(f"nodes[{path}] = {r}")
                return r
            if _number_constant(e.right):  # a field (or a value) against a threshold of the rules
                k = out.bind(float(e.right.value), "k")
                out.emit(f"if type({a}) is float:")
                out.emit(f"    {r} = {a} {_PYTHON_COMPARE[e.op]} {k}")
                out.emit(f"    operands[{path}] = ({a}, {b})")
                out.emit(f"elif type({a}) is Interval:")
                out.emit(f"    {r} = {self._unknown_vs(e.op, a, k)}")
                out.emit(f"    operands[{path}] = ({a}, {b})")
                out.emit("else:")
                out.emit(f"    {r}, operands[{path}] = compared({out.bind(e.op, 'o')}, {a}, {b})")
                out.emit(f"nodes[{path}] = {r}")
                return r
            out.emit(f"if type({a}) is float and (type({b}) is float or type({b}) is Decimal):")
            out.emit(f"    {r} = {a} {_PYTHON_COMPARE[e.op]} ({b} if type({b}) is float else {self._float(b)})")
            out.emit(f"    operands[{path}] = ({a}, {b})")
            out.emit(f"elif type({a}) is Interval and type({b}) is Decimal:")  # an unknown against a parameter
            out.emit(f"    {r}_k = {self._float(b)}")
            out.emit(f"    {r} = {self._unknown_vs(e.op, a, r + '_k')}")
            out.emit(f"    operands[{path}] = ({a}, {b})")
            out.emit("else:")
            out.emit(f"    {r}, operands[{path}] = compared({out.bind(e.op, 'o')}, {a}, {b})")
            out.emit(f"nodes[{path}] = {r}")
            return r
        r = self._value(e, env, out)
        out.emit(f"nodes[{path}] = {r}")
        shown = shown_operands(e)  # the operands the explainer shows
        if shown or isinstance(e, ex.In):
            steps = [out.bind(self.plan.step(a, env), "s") for a in shown]
            out.emit(f"operands[{path}] = ({''.join(f'{s}(env), ' for s in steps)})")
        return r

    # -- values ---------------------------------------------------------------------------------------------------
    def value(self, node, env, out: Writer) -> str:
        """The name of a local (or global) holding node's value as its step computes it, into out: the exact code
        (exact_source.py) reads an if/else's condition, a min/max's operands and a year's value this way."""
        return self._value(node, env, out)

    def _value(self, node, env, out: Writer) -> str:
        """The name of a local (or global) holding node's value, with its scope's cache looked up first."""
        if isinstance(node, ex.Const):
            return out.bind(node.value, "k")
        plan = self.plan
        if isinstance(node, ex.Call):
            names = plan.constant_names(node, env)
            if names is not None:  # a date made of parameters, the same for every firm of a day
                r = out.fresh()
                key = plan.repeated.get(node, id(node))
                out.emit(f"{r} = day_value(env, {out.bind(key, 'd')}, {out.bind(names, 'k')}, "
                         f"{out.bind(plan.raw_step(node, env), 'f')})")
                return r
        slot = plan.column_plan.shared_slot(node, env.item_type, env.measure)
        if slot is not None:
            return self._cached("env.shared", slot, plan.raw_step(node, env), out)
        key = plan.repeated.get(node)
        if key is not None:
            return self._cached("env.memo", key, plan.raw_step(node, env), out)
        return self._body(node, env, out)

    def _cached(self, cache: str, key: int, fn, out: Writer) -> str:
        r = out.fresh()
        out.emit(f"{r} = {cache}.get({key}, MISSING)")
        out.emit(f"if {r} is MISSING:")
        out.emit(f"    {r} = {cache}[{key}] = {out.bind(fn, 'f')}(env)")
        return r

    def _body(self, node, env, out: Writer) -> str:
        """The code computing node itself; the name of the local holding it."""
        if isinstance(node, ex.Const):
            return out.bind(node.value, "k")
        if isinstance(node, ex.Name):
            return self._name(node.name, env, out)
        r = None
        if isinstance(node, ex.Compare):
            r = self._compare(node, env, out)
        elif isinstance(node, ex.In) and isinstance(node.right, ex.Const):
            a = self._value(node.left, env, out)
            allowed = node.right.value
            allowed = out.bind(frozenset({allowed} if isinstance(allowed, str) else allowed), "k")
            negated = "True" if node.negated else "False"
            r = out.fresh()
            out.emit(f"{r} = (({a} in {allowed}) != {negated}) if type({a}) is Text else "
                     f"str_in({a}, {allowed}, {negated})")
        elif isinstance(node, ex.Logic):
            parts = [self._value(p, env, out) for p in node.parts]
            r = self._combine(node.op, parts, out)
        elif isinstance(node, ex.Not):
            p = self._value(node.part, env, out)
            r = out.fresh()
            out.emit(f"{r} = False if {p} is True else True if {p} is False else {p}")
        elif isinstance(node, ex.Arith):
            r = self._arith(node, env, out)
        elif isinstance(node, ex.IfElse):
            r = self._if_else(node, env, out)
        elif isinstance(node, ex.Call) and node.fn in ("min", "max"):
            values = [self._value(a, env, out) for a in node.args]
            r = out.fresh()
            known = " and ".join(f"type({v}) is float" for v in values)
            listed = ", ".join(values)
            out.emit(f"if {known}:")
            out.emit(f"    {r} = {node.fn}({listed})")
            out.emit("else:")
            out.emit(f"    {r} = reduce_value(env, {out.bind(node, 'n')}, [{listed}], {node.fn == 'min'})")
        elif isinstance(node, ex.Call) and node.fn == "given":
            v = self._value(node.args[0], env, out)
            r = out.fresh()
            out.emit(f"{r} = type({v}) is float or type({v}) is bool or type({v}) is Text")
        elif isinstance(node, ex.Call) and node.fn in _CALLED_INLINE:  # its closure's work, on values read inline
            values = [self._value(a, env, out) for a in node.args]
            r = out.fresh()
            out.emit(f"{r} = {_CALLED_INLINE[node.fn]}({', '.join(values)})")
        elif isinstance(node, ex.Call) and node.fn in self.runtime["SCALAR_DATE_FUNCTIONS"]:  # scalar.py date_value
            values = [self._value(a, env, out) for a in node.args]
            r = out.fresh()
            out.emit(f"{r} = date_value(env, {out.bind(node.fn, 'q')}, [{', '.join(values)}])")
        if r is None:  # the rest (lookups, dates, startswith, a set that is not a constant): its closure
            r = out.fresh()
            out.emit(f"{r} = {out.bind(self.plan.closure(node, env), 'c')}(env)")
        return r

    def _name(self, name: str, env, out: Writer) -> str:
        # a measure's own value or an item total is cached on the measure's scope, anything else on the firm's (or
        # the item's): scalar.py ScalarPlan._build
        quoted = out.bind(name, "q")
        r = out.fresh()
        if env.measure is not None and name.startswith("items."):  # a total over the items the scope counts
            out.emit(f"{r} = env.items_bound[{out.bind(name[len('items.'):], 'q')}]")
        elif env.measure is not None and name in env.measure.values:
            out.emit(f"{r} = env.cache.get({quoted}, MISSING)")
            out.emit(f"if {r} is MISSING:")
            out.emit(f"    {r} = {out.bind(self.plan.value_resolver(name, env), 'r')}(env)")
        else:
            out.emit(f"{r} = env.wide.get({quoted}, MISSING)")
            out.emit(f"if {r} is MISSING:")
            out.emit(f"    {r} = {out.bind(self.plan.resolver(name, env.item_type), 'r')}(env.wide_env)")
        return r

    def _combine(self, op: str, parts: list, out: Writer) -> str:
        r = out.fresh()
        if len(parts) == 1:
            listed = f"({parts[0]},)"
        else:
            listed = "(" + ", ".join(parts) + ")"
        stop, go = ("False", "True") if op == "all" else ("True", "False")
        stops = " or ".join(f"{p} is {stop}" for p in parts)
        goes = " and ".join(f"{p} is {go}" for p in parts)
        combine = "tri_all" if op == "all" else "tri_any"
        out.emit(f"{r} = {stop} if {stops} else {go} if {goes} else {combine}({listed})")
        return r

    def _compare(self, node: ex.Compare, env, out: Writer) -> str:
        a, b = self._value(node.left, env, out), self._value(node.right, env, out)
        op = _PYTHON_COMPARE[node.op]
        r = out.fresh()
        if _text_constant(node):  # as in a condition's leaf
            out.emit(f"if type({a}) is Text:")
            out.emit(f"    {r} = {a} {op} {b}")
            out.emit("else:")
            out.emit(f"    {r} = compare_value({out.bind(node.op, 'o')}, {a}, {b})")
            return r
        if _number_constant(node.right):
            limit = out.bind(float(node.right.value), "k")
            out.emit(f"if type({a}) is float:")
            out.emit(f"    {r} = {a} {op} {limit}")
            out.emit(f"elif type({a}) is Interval:")
            out.emit(f"    {r} = {self._unknown_vs(node.op, a, limit)}")
            out.emit("else:")
            out.emit(f"    {r} = compare_value({out.bind(node.op, 'o')}, {a}, {b})")
        else:
            out.emit(f"if type({a}) is float and type({b}) is float:")
            out.emit(f"    {r} = {a} {op} {b}")
            out.emit(f"elif type({a}) is Interval and type({b}) is Decimal:")  # an unknown against a parameter
            out.emit(f"    {r}_k = {self._float(b)}")
            out.emit(f"    {r} = {self._unknown_vs(node.op, a, r + '_k')}")
            out.emit("else:")
            out.emit(f"    {r} = compare_value({out.bind(node.op, 'o')}, {a}, {b})")
        return r

    def _unknown_vs(self, op: str, a: str, k: str) -> str:
        """The code comparing an unknown number (local a, an Interval) with a known one (k, a name), for op: the
        scalar kernel's own source for it (scalar.py UNKNOWN_VS_NUMBER_CODE), inline."""
        return self.runtime["UNKNOWN_VS_NUMBER_CODE"][op].format(a=a, k=k)

    def _arith(self, node: ex.Arith, env, out: Writer) -> str:
        a, b = self._value(node.left, env, out), self._value(node.right, env, out)
        r = out.fresh()
        shift = self.plan.date_shift(node, env)
        call = f"arith_value({out.bind(node.op, 'o')}, {a}, {b}, {shift})"
        if shift:
            out.emit(f"{r} = {call}")
            return r
        op = _PYTHON_ARITH[node.op]
        divide = node.op == "/"
        if isinstance(node.right, ex.Const) and isinstance(node.right.value, Decimal) and \
                not (divide and node.right.value == 0):
            cases = [(f"type({a}) is float", a, out.bind(float(node.right.value), "k"))]
        else:
            nonzero = f" and {b}" if divide else ""
            # a number and a parameter (a Decimal): what arith_value gives, the Decimal as a float; two Decimals
            # stay Decimal arithmetic there
            a_float = out.bind(float(node.left.value), "k") if _number_constant(node.left) else self._float(a)
            cases = [(f"type({a}) is float and type({b}) is float{nonzero}", a, b),
                     (f"type({a}) is float and type({b}) is Decimal{nonzero}", a, self._float(b)),
                     (f"type({a}) is Decimal and type({b}) is float{nonzero}", a_float, b)]
        for k, (known, left, right) in enumerate(cases):
            out.emit(f"{'el' if k else ''}if {known}:")
            out.emit(f"    {r} = {left} {op} {right}")
            out.emit(f"    if {r} != {r}:")
            out.emit(f"        {r} = UNBOUNDED")  # inf - inf and the like: no value, nothing missing (kernel.arith)
        out.emit("else:")
        out.emit(f"    {r} = {call}")
        return r

    @staticmethod
    def _float(v: str) -> str:
        """The code of a parameter's value (a Decimal in local v) as a float: the day's parameters are converted
        once (scalar.py decimal_floats), a what-if's when met (float(Decimal) costs several dict lookups)."""
        return f"(FLOATS.get({v}) or float({v}))"  # 0.0 from the dict (falsy) is converted again: its sign kept

    def _if_else(self, node: ex.IfElse, env, out: Writer) -> str:
        held = self._value(node.cond, env, out)
        r = out.fresh()
        n = out.bind(node, "n")
        for test, branch in ((f"if {held} is True:", node.then), (f"elif {held} is False:", node.other)):
            out.emit(test)
            out.indent += 1
            value = self._value(branch, env, out)
            out.emit(f"{r} = {value} if type({value}) is float else if_else_value(env, {held}, {value}, {n})")
            out.indent -= 1
        out.emit("else:")
        out.emit(f"    {r} = if_else_value(env, {held}, None, {n})")
        return r

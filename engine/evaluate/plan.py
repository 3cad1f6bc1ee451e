"""The compile step: a RuleSet's expressions turned once into closures over an evaluation scope (`Env`).

Each expression node of the rules becomes a function `step(env) -> value` with its dispatch, its operand types and its
constant parts settled when it is compiled, so an evaluation never walks the expression tree again. The plan is built
once per RuleSet (`plan_of`) and serves every table: a million firms column-wise, one firm, the explainer's operands.

Subexpressions shared across measures are computed once per table. Before anything is compiled, the plan counts the
expressions of every measure, derived value and item test by their value (two measures writing `rd_intensity >= 0.03`
share one node); a node that occurs more than once and reads only firm-wide names (or, for list items, only the item's
fields and parameters) is cached in its scope for the evaluation, named names (derived ratios, lookups, scores and the
measures' own values) always are.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

from engine.evaluate import kernel as c
from engine.evaluate.dates import DATE_FUNCTIONS
from engine.evaluate.kernel import Num, Str, Tri
from engine.rules import expr as ex
from engine.rules.loader import RuleSet, expression_type, measure_expressions
from engine.rules.params import LookupTable

_MISSING = object()
_LEAVES = (ex.Name, ex.Const)


def plan_of(rules: RuleSet) -> "Plan":
    """The rule set's plan, compiled on first use and kept on the RuleSet (rules never change once loaded)."""
    plan = rules.__dict__.get("compiled_plan")
    if plan is None:
        plan = rules.__dict__["compiled_plan"] = Plan(rules)
    return plan


class Plan:
    def __init__(self, rules: RuleSet):
        self.rules = rules
        self._steps: dict = {}  # id(node) -> (node, step); the node is kept so its id stays its own
        self._compares: dict = {}  # id(node) -> (node, step giving (Tri, operands))
        self._slots: dict = {}  # (scope, node) -> cache key of a subexpression used more than once
        self._shared = self._count_shared()
        self.one_row_consts: dict = {}  # Decimal -> its Num on a table of one row (read-only, Evaluator.num)
        self.bit_rows: dict = {}  # mask words -> {field: its bit as a row of words} (read-only, Evaluator.bit)

    # -- common subexpressions -----------------------------------------------------------------------------------
    def _count_shared(self) -> set:
        """(scope, node) of the non-leaf subexpressions that occur more than once; scope is None for the firm, the
        item type for a list's items. Nodes reading a measure's own values or its item totals are not shared."""
        counts: Counter = Counter()
        rules = self.rules

        def walk(node, scope, measure):
            if isinstance(node, _LEAVES):
                return
            # a node reading a measure's own values is counted within that measure (its scope's cache, below)
            counts[(scope, node) if not _reads_local(node, measure) else (_local(measure), node)] += 1
            for child in ex.children(node):
                walk(child, scope, measure)

        for d in rules.derived.values():
            if "expr" in d:
                walk(d["expr"], None, None)
        for m in rules.measures.values():
            # a measure with items or titles evaluates its values and amount twice, for the amount and for the
            # potential amount, so what they read from the firm is worth keeping once
            twice = m.items is not None or any(v.counts_as_item for v in m.values.values())
            for _where, node, _line, scope in measure_expressions(m):
                if scope == "pool":
                    continue
                item_scope = scope.startswith("item")
                for _ in range(2 if twice and scope in ("measure", "amount") else 1):
                    walk(node, m.items.item_type if item_scope else None, None if item_scope else m)
        return {key for key, count in counts.items() if count > 1}

    # -- steps ---------------------------------------------------------------------------------------------------
    def step(self, node, env):
        """The compiled step of a node of the rules (compiled in env's scope on first use)."""
        entry = self._steps.get(id(node))
        if entry is None:
            entry = self._steps[id(node)] = (node, self._compile(node, env))
        return entry[1]

    def compare_step(self, node: ex.Compare, env):
        """A comparison's step that also gives its evaluated operands, which the explainer shows."""
        entry = self._compares.get(id(node))
        if entry is None:
            entry = self._compares[id(node)] = (node, _compare(node, self._compile(node.left, env),
                                                               self._compile(node.right, env)))
        return entry[1]

    def _compile(self, node, env):
        fn = self._build(node, env)
        if isinstance(node, _LEAVES):
            return fn
        local = _reads_local(node, env.measure)
        key = (_local(env.measure), node) if local else (env.item_type, node)
        if key not in self._shared:
            return fn
        slot = self._slots.setdefault(key, len(self._slots))
        # a node reading the measure's values and item totals is kept in the scope that binds them (the amount's,
        # the potential amount's), once per scope; any other in the table's shared dict
        where = "cache" if local else "shared"

        def cached(env, slot=slot, fn=fn, where=where):
            cache = getattr(env, where)
            value = cache.get(slot, _MISSING)
            if value is _MISSING:
                value = cache[slot] = fn(env)
            return value

        return cached

    def shared_slot(self, node, item_type: str | None, measure) -> int | None:
        """The cache slot of a subexpression computed once per scope (the firm, or one list's items), None for one
        that is not: the scalar specialisation (scalar.py) caches the same ones."""
        key = (item_type, node)
        if isinstance(node, _LEAVES) or key not in self._shared or _reads_local(node, measure):
            return None
        return self._slots.setdefault(key, len(self._slots))

    def _type(self, node, env) -> str:
        return expression_type(self.rules, node, env.measure, env.item_type)

    def _build(self, node, env):
        sub = self._compile
        if isinstance(node, ex.Name):
            name = node.name
            return lambda env: env.name(name)
        if isinstance(node, ex.Const):
            value = node.value
            return lambda env: value
        if isinstance(node, ex.Compare):
            both = _compare(node, sub(node.left, env), sub(node.right, env))
            window = _year_window(node, sub, env)
            if window is not None:
                def compare(env):
                    result = window(env)
                    return both(env)[0] if result is None else result
                return compare
            return lambda env: both(env)[0]
        if isinstance(node, ex.In):
            left, right, negated = sub(node.left, env), sub(node.right, env), node.negated

            def is_in(env):
                allowed = right(env)
                return c.str_in(left(env), {allowed} if isinstance(allowed, str) else set(allowed), negated)
            return is_in
        if isinstance(node, ex.Logic):
            parts = tuple(sub(p, env) for p in node.parts)
            combine = c.tri_all if node.op == "all" else c.tri_any
            return lambda env: combine([p(env) for p in parts])
        if isinstance(node, ex.Not):
            part = sub(node.part, env)
            return lambda env: c.tri_not(part(env))
        if isinstance(node, ex.Arith):
            return _arith(node.op, sub(node.left, env), sub(node.right, env),
                          self._type(node, env) == ex.DATE and self._type(node.left, env) != self._type(node.right, env))
        if isinstance(node, ex.IfElse):
            cond, then, other = sub(node.cond, env), sub(node.then, env), sub(node.other, env)

            def choose(env):
                test, a, b = cond(env), then(env), other(env)
                if isinstance(a, Decimal) and isinstance(b, Decimal) and a == b:
                    return _one_value(test, env.num(a))
                return c.if_else(test, env.num(a), env.num(b))
            return choose
        if isinstance(node, ex.Call):
            return self._call(node, env)
        raise TypeError(f"{ex.render(node)}: not in the expression language")  # pragma: no cover

    def _call(self, node: ex.Call, env):
        args = tuple(self._compile(a, env) for a in node.args)
        fn = node.fn
        if fn in ("min", "max"):
            pick = min if fn == "min" else max
            reduce = c.num_min if fn == "min" else c.num_max

            def extreme(env):
                values = [a(env) for a in args]
                if all(isinstance(v, Decimal) for v in values):
                    return pick(values)
                return reduce([env.num(v) for v in values])
            return extreme
        first = args[0]
        if fn == "lookup":
            second = args[1]

            def look(env):
                x, table = env.num(first(env)), second(env)
                if not isinstance(table, LookupTable):
                    raise TypeError("lookup() needs a table parameter")
                return c.lookup(x, [(k, float(b), v) for k, b, v in table.rows], table.otherwise)
            return look
        if fn == "startswith":
            second = args[1]

            def starts(env):
                prefixes = second(env)
                return c.str_startswith(first(env), (prefixes,) if isinstance(prefixes, str) else tuple(prefixes))
            return starts
        if fn == "given":
            def given(env):
                value = first(env)
                return Tri.known(~value.unknown) if isinstance(value, Tri) else c.given(value)
            return given
        if fn == "year":
            return lambda env: c.date_year(env.num(first(env)))
        if fn == "years_between":
            second = args[1]

            def years(env):
                end = second(env)
                if isinstance(end, Decimal):  # a day known when the table is evaluated (as_of)
                    return c.years_until(env.num(first(env)), c.EPOCH + dt.timedelta(days=int(end)))
                return c.years_between(env.num(first(env)), env.num(end))
            return years
        if fn in DATE_FUNCTIONS:  # dates built in an expression: add_years, make_date (engine/evaluate/dates.py)
            build = DATE_FUNCTIONS[fn]
            return lambda env: build(*(env.num(a(env)) for a in args))
        raise TypeError(fn)  # pragma: no cover - the parser admits no other function


def _local(measure) -> tuple:
    """The scope of a measure's own values, where the nodes reading them are counted and cached."""
    return ("measure", measure.id)


def _reads_local(node, measure) -> bool:
    """Whether a node reads a measure's own values or item totals: its value is that measure's, never shared (the
    same text may be shared where the name is firm-wide)."""
    if measure is None:
        return False
    return any(n in measure.values or n.startswith("items.") for n in ex.names(node))


def _one_value(test: Tri, value: Num) -> Num:
    """An if/else whose branches are one and the same constant (a parameter whose places all have the value of the
    rest, `NAME@PLACE if district in (…) else NAME`): that constant on every row, known even where the test is not,
    as kernel.if_else gives it, with the test's masks where it is unknown (empty elsewhere), without a pass over the
    rows. A point, so what reads it takes the points' paths."""
    if c.is_empty(test.miss) and c.is_empty(test.zero):
        return value
    return Num(value.lo, value.hi, test.miss, test.zero, value.static, value.exact_of)


def _compare(node: ex.Compare, left, right):
    op = node.op

    def both(env):
        a, b = left(env), right(env)
        if isinstance(a, Str) or isinstance(b, Str):
            text, other = (a, b) if isinstance(a, Str) else (b, a)
            return c.str_in(text, {other}, op == "!="), (a, b)
        if isinstance(a, Decimal) and isinstance(b, Decimal):
            a = env.num(a)
        return c.compare(op, env.num(a), env.num(b)), (a, b)
    return both


_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _year_window(node: ex.Compare, sub, env):
    """`year(d) >= policy_year - 1` and its kin: a step comparing the date d with the first day of a year, where the
    other side is a number known when the table is evaluated (a parameter, the policy year), giving what comparing
    d's year would (kernel.year_compare), without a year per row; None where it does not apply (then the years are
    compared). The explainer's operands (compare_step) still show the year."""
    left, right, op = node.left, node.right, node.op
    if not _is_year(left):
        if not _is_year(right):
            return None
        left, right, op = right, left, _FLIPPED[op]
    date, bound = sub(left.args[0], env), sub(right, env)

    def window(env):
        year = bound(env)
        if not isinstance(year, Decimal):
            return None
        return c.year_compare(op, env.num(date(env)), env.num(year), float(year))
    return window


def _is_year(node) -> bool:
    return isinstance(node, ex.Call) and node.fn == "year"


def _decimal_arith(op: str, a: Decimal, b: Decimal) -> Decimal:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b


def _arith(op: str, left, right, date_plus_days: bool):
    """`date_plus_days`: a date moved by a number of days, which lands on a whole day (the floor), as in the ledger
    (engine/ledger/calc.py)."""
    def arith(env):
        a, b = left(env), right(env)
        if isinstance(a, Decimal) and isinstance(b, Decimal):
            value = _decimal_arith(op, a, b)
            return value.to_integral_value(rounding="ROUND_FLOOR") if date_plus_days else value
        result = c.arith(op, env.num(a), env.num(b))
        return c.floor_days(result) if date_plus_days else result
    return arith


"""A check across fields (rules/fields.yaml `checks`) over one record, as Python source generated once per check.

engine/inputs/one_row_checks.py makes each node of a check a closure of (row, param) returning a (known, data, true,
false) tuple: a firm's eight checks call some seventy closures and build as many tuples on every request. Here the
same node becomes one straight-line function of (row, param): each node's four parts are locals, computed by the
same expressions in the same order as its closure computes them (every part of an all / any evaluated, as the
closures evaluate them; a comparison's operator only when both sides are known), and the function returns the root's
tuple. The closures stay the reference: tests/test_one_row_checks.py compares both at every node of every check.
A node the closures do not support is not generated (`source_step` returns None): the caller keeps the closures,
which raise when evaluated.
"""

from __future__ import annotations

from engine.common.values import NUMERIC_TYPES
from engine.inputs.check_rows import COMPARISONS, never_unknown
from engine.inputs.one_row_checks import Step, constant_of, years_later
from engine.inputs.table import EPOCH, exact_of
from engine.rules import expr as ex

_OPERATORS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!="}
assert _OPERATORS.keys() == COMPARISONS.keys()  # the closures' operators, written as Python's own


class _Unsupported(Exception):
    """A node a check may not hold: left to the closures, which word the refusal."""


class _Writer:
    """The lines of one check's function, its constants (bound by name in the function's globals) and the local
    holding each field's cell, read once."""

    def __init__(self, record: dict, on_values: bool):
        self.record, self.lines, self.bound, self.cells, self.count = record, [], {}, {}, 0
        self.on_values = on_values  # read the record's parsed values (OneRow.values) instead of row.cell

    def bind(self, value) -> str:
        name = f"K{len(self.bound)}"
        self.bound[name] = value
        return name

    def local(self, prefix: str = "v") -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def emit(self, line: str) -> None:
        self.lines.append("    " + line)

    def cell(self, name: str, spec) -> str:
        """The local holding row.cell(spec, name), read where the field is first met."""
        found = self.cells.get(name)
        if found is None:
            found = self.cells[name] = self.local("c")
            if not self.on_values:
                self.emit(f"{found} = cell({self.bind(spec)}, {name!r})")
            elif spec.type == "list":
                self.emit(f"{found} = None")
            else:  # check_rows._cell of the parsed value, inline
                made = "bool({})" if spec.type == "yesno" else "exact_of({})" if spec.type in NUMERIC_TYPES else \
                    "float(({} - EPOCH).days)" if spec.type == "date" else "{}"
                value = self.local("g")
                self.emit(f"{value} = get({name!r})")
                self.emit(f"{found} = None if {value} is None else {made.format(value)}")
        return found

    def condition(self, true: str, false: str) -> tuple[str, str, str, str]:
        """one_row_checks._condition: (true | false, None, true, false)."""
        known = self.local("k")
        self.emit(f"{known} = {true} | {false}")
        return known, "None", true, false

    def node(self, node) -> tuple[str, str, str, str]:
        """Emit the lines of a node; (known, data, true, false) as expressions over locals and literals."""
        if isinstance(node, ex.Name):
            spec = self.record.get(node.name)
            if spec is None:  # a rule parameter, read when the check runs
                parts = tuple(self.local(p) for p in "kdtf")
                self.emit(f"{', '.join(parts)} = constant_of(param({node.name!r}))")
                return parts
            cell = self.cell(node.name, spec)
            if spec.type == "yesno":
                value = cell
                if never_unknown(spec):
                    value = self.local("y")
                    self.emit(f"{value} = {cell} if {cell} is not None else {bool(spec.missing_means)!r}")
                true, false = self.local("t"), self.local("f")
                self.emit(f"{true} = {value} is True")
                self.emit(f"{false} = {value} is False")
                return self.condition(true, false)
            known = self.local("k")
            self.emit(f"{known} = {cell} is not None")
            return known, cell, "None", "None"
        if isinstance(node, ex.Const):
            parts = tuple(self.local(p) for p in "kdtf")
            self.emit(f"{', '.join(parts)} = {self.bind(constant_of(node.value))}")
            return parts
        if isinstance(node, ex.Not):
            _, _, true, false = self.node(node.part)
            return self.condition(false, true)
        if isinstance(node, ex.Logic):
            done = [self.node(p) for p in node.parts]
            trues, falses = [f"({d[2]})" for d in done], [f"({d[3]})" for d in done]
            every, some = (" and ".join(trues), " or ".join(falses)) if node.op == "all" else \
                (" or ".join(trues), " and ".join(falses))
            true, false = self.local("t"), self.local("f")
            self.emit(f"{true} = bool({every})")  # all(...) / any(...) of the parts' truth, without the list
            self.emit(f"{false} = bool({some})")
            return self.condition(true, false)
        if isinstance(node, ex.Compare):
            a, b = self.node(node.left), self.node(node.right)
            both, result, true, false = (self.local(p) for p in ("b", "r", "t", "f"))
            self.emit(f"{both} = {a[0]} & {b[0]}")
            self.emit(f"{result} = {both} and bool({a[1]} {_OPERATORS[node.op]} {b[1]})")
            self.emit(f"{true} = {both} & {result}")
            self.emit(f"{false} = {both} & (not {result})")
            return self.condition(true, false)
        if isinstance(node, ex.Arith):
            a, b = self.node(node.left), self.node(node.right)
            known, data = self.local("k"), self.local("d")
            self.emit(f"{known} = {a[0]} & {b[0]}")
            self.emit(f"{data} = ({a[1]} {'+' if node.op == '+' else '-'} {b[1]}) if {known} else 0")
            return known, data, "None", "None"
        if isinstance(node, ex.In):
            codes = node.right.value if isinstance(node.right, ex.Const) else ()
            left = self.node(node.left)
            return self._tested(left, f"{left[1]} in {self.bind(codes)}", node.negated)
        if isinstance(node, ex.Call) and node.fn == "startswith":
            left = self.node(node.args[0])
            return self._tested(left, f"str({left[1]}).startswith({self.bind(node.args[1].value)})", False)
        if isinstance(node, ex.Call) and node.fn == "add_years":
            day, years = (self.node(a) for a in node.args)
            known, data = self.local("k"), self.local("d")
            self.emit(f"{known}, {data} = years_later({day[0]}, {day[1]}, {years[0]}, {years[1]})")
            return known, data, "None", "None"
        if isinstance(node, ex.Call) and node.fn == "given":
            known = self.node(node.args[0])[0]
            missing = self.local("n")
            self.emit(f"{missing} = not {known}")
            return self.condition(known, missing)
        raise _Unsupported

    def _tested(self, left: tuple, test: str, negated: bool) -> tuple[str, str, str, str]:
        """one_row_checks._texts: the test read only when the value is known."""
        result, true, false = self.local("r"), self.local("t"), self.local("f")
        self.emit(f"{result} = {left[0]} and bool({test})")
        self.emit(f"{true} = {left[0]} & {result}")
        self.emit(f"{false} = {left[0]} & (not {result})")
        return self.condition(false, true) if negated else self.condition(true, false)


def source_step(node, record: dict, on_values: bool = False) -> Step | None:
    """The node as one generated function of (row, param), giving what one_row_checks.compile_node(node, record)
    gives; None when the node holds what a check may not (the closures then refuse it when evaluated). `on_values`:
    a function of (values, param) instead, reading a record's parsed values (field -> value, as OneRow(values) reads
    them) without a OneRow."""
    writer = _Writer(record, on_values)
    try:
        known, data, true, false = writer.node(node)
    except _Unsupported:
        return None
    head = ["def step(values, param):", "    get = values.get"] if on_values else \
        ["def step(row, param):", "    cell = row.cell"]
    lines = [*head, *writer.lines, f"    return {known}, {data}, {true}, {false}"]
    namespace = {"constant_of": constant_of, "years_later": years_later, "exact_of": exact_of, "EPOCH": EPOCH,
                 **writer.bound}
    exec(compile("\n".join(lines), f"<check {ex.render(node)}>", "exec"), namespace)  # noqa: S102 - our own source
    step = namespace["step"]
    step.source = "\n".join(lines)  # for a reader of a failing test
    return step


__all__ = ["source_step"]

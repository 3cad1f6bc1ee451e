"""Python source generated from a measure's condition tree, once per tree: the entries of its conditions in a check
object built by straight-line code, one dict per condition copied from the node's for its outcome, without a loop
over the nodes.

The explainer's loop over a measure's nodes (a tuple unpacked, a dict copied and completed, a branch on the node's
kind, per node and per firm) was two thirds of an explanation (issue 10). Here each node is a few lines of the
generated function: its result looked up, and the entry of a held, failed or unknown condition copied from that
node's entry for the outcome (path, depth, kind, label, expression, held: a global made once per plan; a copy is
half the time of the literal) and completed with the missing fields and a `requires` node's status; a leaf with two
operands is completed by the explainer's `shown` (the firm's value, the threshold, the sentence and the shortfall).
Each condition, and each list of missing fields, is made afresh for each check (the caller's, explainer.py); the
labels are the plan's, shared.

The source depends only on the tree's structure (paths, kinds, expressions, required measures), so one code object
serves every plan of a rule set; each plan binds its own labels and node words as the function's globals.

Each tree has two functions: one over the one-row views of any evaluation (a node's result a Tri, a leaf's operands
Num, Str or constants, read at row i), and one over one firm's scalar results as the scalar evaluation holds them
(`scalar`: a node's result True, False or Unknown, a leaf's operands floats, Intervals, Text or constants), which
writes the same entries without converting a value to a view first (issue 10: the views were a fifth of an
explanation)."""

from __future__ import annotations

import threading
from functools import lru_cache

from engine.evaluate.kernel import Num
from engine.evaluate.scalar import Interval

_CODE: dict = {}  # the tree's structure -> the compiled code of its function
_LOCK = threading.Lock()
_MAX_CODES = 4096
_DECIDING = frozenset(("leaf", "requires"))  # the kinds of node that decide a status (and "jurisdiction", not a node)


_TEMPLATES = ("ET", "EF", "EU")  # the globals' prefix of a node's entry held, failed and unknown (entries_function)


def _template(w, held) -> dict:
    """A node's entry with its result `held`, the firm's parts (missing fields, a required measure's status) left
    None: the generated code fills in a copy, in this order of keys."""
    entry = {"path": w.path, "depth": w.depth, "kind": w.kind, "label": w.label, "expr": w.expr, "held": held,
             "missing": None}
    if w.measure is not None:
        entry["measure"], entry["value"] = w.measure, None
    return entry


def _structure(nodes_words) -> tuple:
    return tuple((w.path, w.depth, w.kind, w.expr, w.leaf, w.measure, w.compare) for w in nodes_words)


def entries_source(nodes_words, scalar: bool = False) -> str:
    """The source of `entries(get, operands, i, firm, out, names, shown, results, failed)`: the entries of row i's
    conditions (nodes' results from `get`, operands from `operands`) appended to out, in the nodes' order
    (explainer.entries); and, unless `failed` is None, the entries that decided an ineligible status appended to it
    (explainer.failed: a leaf or requires that failed under groups that all failed), each node's result kept in a
    local for the nodes under it (the nodes come in preorder, iter_nodes: a group before its conditions).
    scalar: `get` and `operands` give one firm's (or one item's) scalar results as they are (True, False or Unknown;
    a tuple of floats, Intervals, Text and constants), `shown` is the explainer's shown_scalar; else they give the
    evaluation's one-row views, read at row i."""
    structure = _structure(nodes_words)
    index = {path: k for k, (path, *_rest) in enumerate(structure)}
    lines = ["def entries(get, operands, i, firm, out, names, shown, shortfall, results, failed):",
             "    append = out.append"]
    if scalar:  # a decided result is True or False itself; an undecided one an Unknown with its bit sets
        outcomes = (("t is True", "True", "[]"), ("t is False", "False", "[]"), (None, "None", "names(t.miss)"))
        # a number is a float when known (a NaN one shown as none, as its row is), else an Interval
        known_left = ("type(o[0]) in NUMBERS", "v = o[0]",
                      "v = (v if v == v else None) if type(v) is float else float(v.lo) if v.lo == v.hi else None")
    else:
        outcomes = (("t.t[i]", "True", "[]"), ("t.f[i]", "False", "[]"), (None, "None", "names(t.miss[i])"))
        known_left = ("type(o[0]) is Num", "lo = o[0].lo[i]", "v = float(lo) if lo == o[0].hi[i] else None")
    for k, (path, depth, kind, expr, leaf, measure, compare) in enumerate(structure):
        lines += [f"    h{k} = None", f"    t = get({path!r})", "    if t is not None:"]
        for n, (test, held, missing) in enumerate(outcomes):
            # the node's entry of that outcome, made once per plan, copied (twice as fast as a dict literal)
            lines += [f"        {('if ' if n == 0 else 'elif ') + test if test else 'else'}:",
                      f"            h{k} = {held}",
                      f"            e = {_TEMPLATES[n]}{k}.copy()",
                      f"            e['missing'] = {missing}"]
        if measure is not None:
            lines.append(f"        e['value'] = STATUSES[int(results[{measure!r}].status[i])]")
        if leaf:
            lines += [f"        o = operands({path!r})",
                      "        if o is not None and len(o) == 2:  # given(x) has one operand, nothing to show"]
            if compare:  # a number against the parameter shown before: its value and sentence here (as shown does)
                lines += [f"            known = W{k}.known",
                          f"            if known is not None and o[1] is known[0] and {known_left[0]}:",
                          *(f"                {line}" for line in known_left[1:]),
                          f"                s = F{k}(v)",
                          "                tails = known[2]",
                          "                e['value'] = v",
                          "                e['threshold'] = known[1]",
                          # one string built of the three (BUILD_STRING), not two concatenations
                          f"                e['text'] = {{'zh': f'{{HZ{k}}}{{s[0]}}{{tails[0]}}', "
                          f"'en': f'{{HE{k}}}{{s[1]}}{{tails[1]}}'}}",
                          f"                if h{k} is False and firm:",
                          f"                    f = shortfall(W{k}, v, known[1], i)",
                          "                    if f:",
                          "                        e['shortfall'] = f",
                          "            else:",
                          f"                shown(W{k}, e, h{k}, o, i, firm)"]
            else:
                lines.append(f"            shown(W{k}, e, h{k}, o, i, firm)")
        up = [index.get(p) for p in enclosing(path)]
        if kind in _DECIDING and all(u is not None and u < k for u in up):  # else never deciding: a group not shown
            held_false = " and ".join(f"h{u} is False" for u in [k, *up])
            lines.append(f"        if {held_false} and failed is not None:")
            lines.append("            failed.append(e)")
        lines.append("        append(e)")
    lines.append("    return out")
    return "\n".join(lines) + "\n"


@lru_cache(maxsize=8192)
def enclosing(path: str) -> tuple[str, ...]:
    """The paths of the groups enclosing a condition's, innermost first ("1.2.3" -> "1.2", "1")."""
    out = []
    end = path.rfind(".")
    while end > 0:
        out.append(path[:end])
        end = path.rfind(".", 0, end)
    return tuple(out)


def entries_function(nodes_words, statuses, scalar: bool = False):
    """The generated `entries` of these nodes (a plan's NodeWords, in their order), bound to their labels and words;
    scalar: the function over scalar results (entries_source)."""
    key = (_structure(nodes_words), scalar)
    code = _CODE.get(key)
    if code is None:
        code = compile(entries_source(nodes_words, scalar), "<condition entries>", "exec")
        with _LOCK:
            if len(_CODE) >= _MAX_CODES:
                _CODE.clear()
            _CODE[key] = code
    namespace = {"STATUSES": statuses, "Num": Num, "NUMBERS": (float, Interval)}
    for k, w in enumerate(nodes_words):
        for prefix, held in zip(_TEMPLATES, (True, False, None)):
            namespace[f"{prefix}{k}"] = _template(w, held)
        namespace[f"W{k}"] = w
        if w.compare:
            namespace[f"F{k}"], (namespace[f"HZ{k}"], namespace[f"HE{k}"]) = w.format, w.heads
    exec(code, namespace)  # defines `entries` in namespace: its globals are the labels and words bound above
    return namespace["entries"]


__all__ = ["enclosing", "entries_function", "entries_source"]

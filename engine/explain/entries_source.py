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

The source depends only on the tree's structure (paths, kinds, expressions, required measures, how a comparison's
value is shown), so one code object serves every plan of a rule set; each plan binds its own labels and node words
as the function's globals.

Each tree has code over the one-row views of any evaluation (a node's result a Tri, a leaf's operands Num, Str or
constants, read at row i: node_lines) and code over one firm's scalar results as the scalar evaluation holds them (a
node's result True, False or Unknown, a leaf's operands floats, Intervals, Text or constants: scalar_node_lines),
which writes the same entries without converting a value to a view first (issue 10: the views were a fifth of an
explanation). The second is a function of its own for a measure's items (over every item's results, read at one
item) and is inline in the function of a measure's whole entry for one firm (measure_source.py)."""

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


class _NotEvaluated:
    """The results of a node no item evaluated: none at every item."""

    __slots__ = ()

    def __getitem__(self, i: int) -> None:
        return None


_NOT_EVALUATED = _NotEvaluated()


def _template(w, held) -> dict:
    """A node's entry with its result `held`, the firm's parts (missing fields, a required measure's status) left
    None: the generated code fills in a copy, in this order of keys."""
    entry = {"path": w.path, "depth": w.depth, "kind": w.kind, "label": w.label, "expr": w.expr, "held": held,
             "missing": None}
    if w.measure is not None:
        entry["measure"], entry["value"] = w.measure, None
    return entry


def structure_of(nodes_words) -> tuple:
    """What the generated code of these nodes depends on (not their words): one code object per structure."""
    return tuple((w.path, w.depth, w.kind, w.expr, w.leaf, w.measure, w.compare, w.shown_as) for w in nodes_words)


def entries_source(nodes_words, scalar: bool = False, per_item: bool = False) -> str:
    """The source of `entries(get, operands, i, firm, out, names, shown, results, failed)`: the entries of row i's
    conditions (nodes' results from `get`, operands from `operands`) appended to out, in the nodes' order
    (explainer.entries); and, unless `failed` is None, the entries that decided an ineligible status appended to it
    (explainer.failed: a leaf or requires that failed under groups that all failed), each node's result kept in a
    local for the nodes under it (the nodes come in preorder, iter_nodes: a group before its conditions).
    scalar: `get` and `operands` give one firm's (or one item's) scalar results as they are (True, False or Unknown;
    a tuple of floats, Intervals, Text and constants), `shown` is the explainer's shown_scalar; else they give the
    evaluation's one-row views, read at row i. per_item (scalar only): `get` and `operands` give the list of every
    item's results of a node, read at item i."""
    lines = ["def entries(get, operands, i, firm, out, names, shown, shortfall, results, failed):"]
    if scalar:
        lines += scalar_node_lines(nodes_words, "    ", "out", per_item=per_item)
    else:
        lines.append("    append = out.append")
        lines += node_lines(nodes_words, "    ")
    lines.append("    return out")
    return "\n".join(lines) + "\n"


def scalar_node_lines(nodes_words, indent: str, out: str, firm: bool | None = None, failed: bool | None = None,
                      per_item: bool = False) -> list:
    """The lines of entries_source's body over one firm's (or one item's) scalar results, each line indented by
    `indent`: the entries added to the list `out` in the nodes' order. They read the locals `get`, `operands`, `i`,
    `names`, `shown`, `shortfall` and `results` (and `firm` and `failed` where these are None: known when the code
    is written, True a firm's and a list kept, False an item's and none kept) and the globals entries_namespace
    binds. Each node's code branches once on its result (True, False, not evaluated, else an Unknown) to copy its
    entry for that outcome; a leaf's operands follow, once (a node not evaluated has none). Each entry is kept in
    a local of its own, the list made at the end in one go. per_item: `get` and `operands` give every item's
    results of a node, a list read at item i (a node no item evaluated: NOT_EVALUATED, none at every item)."""
    structure = structure_of(nodes_words)
    deciding, read_later = _deciding(structure, failed)
    at = "NOT_EVALUATED)[i]" if per_item else ")"
    firm_text = "firm" if firm is None else repr(firm)
    lines = ["every = True  # every node evaluated (else the entries of those that were, in order)"]
    for k, (path, _depth, _kind, _expr, leaf, measure, compare, shown_as) in enumerate(structure):
        lines.append(f"t = get({path!r}{', ' if per_item else ''}{at}")
        held_read = leaf or k in read_later or k in deciding  # its result read below (or by the nodes under it)
        # (test, held, template, missing fields)
        branches = (("if t is True", "True", "ET", "[]"), ("elif t is False", "False", "EF", "[]"),
                    ("elif t is None", None, None, None),
                    ("else", "None", "EU", "list(found) if (found := DECODED(t.miss)) is not None else names(t.miss)"))
        for test, held, template, missing in branches:
            lines.append(f"{test}:")
            if held_read:
                lines.append(f"    h{k} = {held if held is not None else 'None'}")
            if held is None:  # not evaluated (a node the evaluation did not reach): no entry, no operands
                lines += [f"    e{k} = None", "    every = False"]
                continue
            # the node's entry of that outcome, made once per plan, copied (twice as fast as a dict literal)
            lines += [f"    e{k} = {template}{k}.copy()", f"    e{k}['missing'] = {missing}"]
            if measure is not None:
                lines.append(f"    e{k}['value'] = STATUSES[int(results[{measure!r}].status[i])]")
        if leaf:
            lines.append(f"o = operands({path!r}{', ' if per_item else ''}{at}")
            if compare:  # two operands; a number against the parameter shown before: shown here, as shown does
                lines += ["if o is not None:",
                          "    v, right = o",
                          f"    known = W{k}.known  # (never None: NodeWords.known)",
                          "    if right is known[0] and ((kind := type(v)) is float or kind is Interval):",
                          # a number is a float when known (a NaN one shown as none, as its row is), else an Interval
                          "        if kind is float:",
                          "            if v != v:",
                          "                v = None",
                          "        else:",
                          "            v = float(v.lo) if v.lo == v.hi else None",
                          "        tails = known[2]",
                          f"        e{k}['value'] = v",
                          f"        e{k}['threshold'] = known[1]",
                          *(f"        {line}" for line in text_lines(k, shown_as))]
                if firm is not False:
                    lines += [f"        if h{k} is False{' and firm' if firm is None else ''}:",
                              f"            f = shortfall(W{k}, v, known[1], i)",
                              "            if f:",
                              f"                e{k}['shortfall'] = f"]
                lines += ["    else:",
                          f"        shown(W{k}, e{k}, h{k}, o, i, {firm_text})"]
            else:
                lines += ["if o is not None and len(o) == 2:  # given(x) has one operand, nothing to show",
                          f"    shown(W{k}, e{k}, h{k}, o, i, {firm_text})"]
        if k in deciding:
            test = " and ".join([f"h{u} is False" for u in [k, *deciding[k]]] +
                                (["failed is not None"] if failed is None else []))
            lines += [f"if {test}:", f"    failed.append(e{k})"]
    entries = ", ".join(f"e{k}" for k in range(len(structure)))
    lines += ["if every:",
              f"    {out} += ({entries}{',' if len(structure) == 1 else ''})",
              "else:",
              # (an entry is a dict that is never empty, so `filter` keeps every one there is)
              f"    {out} += filter(None, ({entries}{',' if len(structure) == 1 else ''}))"]
    return [indent + line for line in lines]


def text_lines(k: int, shown_as: str) -> list:
    """The lines that write node k's sentence of the firm's value v (a float, or None where unknown) into its entry
    e{k}, as the node's formatter F{k} (wording.both_formatter) words v, written out for the kinds that are most
    of a firm's: an amount whose shortest decimal has at most two places (round_amount's whole cents) in 万元, a
    count or a year whole, a number as written; the words of v in both languages are the same once v is known.
    Each sentence is one string built of the three (BUILD_STRING), not two concatenations."""
    unknown = [f"e{k}['text'] = {{'zh': f'{{HZ{k}}}{{UZ{k}}}{{tails[0]}}', 'en': f'{{HE{k}}}{{UE{k}}}{{tails[1]}}'}}"]
    if shown_as == "money":  # below 1e15, as round_amount's shortcut
        said = ["s = repr(v)",
                "dot = s.find('.')",
                f"s = f'{{v + 0.0:,.2f}} 万元' if dot > 0 and len(s) - dot <= 3 and -1e15 < v < 1e15 else F{k}(v)[0]"]
    elif shown_as in ("count", "year"):
        said = ["s = str(int(v))"]
    elif shown_as in ("ratio", "date"):
        said = [f"s = F{k}(v)[0]"]
    else:  # a float as written (wording.number_text): its repr without a trailing .0, unless it has an exponent
        said = ["s = repr(v)",
                f"s = F{k}(v)[0] if 'e' in s or 'n' in s else s[:-2] if s.endswith('.0') else s"]
    return ["if v is None:", *(f"    {line}" for line in unknown), "else:", *(f"    {line}" for line in said),
            f"    e{k}['text'] = {{'zh': f'{{HZ{k}}}{{s}}{{tails[0]}}', 'en': f'{{HE{k}}}{{s}}{{tails[1]}}'}}"]


def _deciding(structure: tuple, failed: bool | None) -> tuple:
    """({node: the groups above it} of the nodes that can decide an ineligible status, the groups read so): a leaf
    or requires under groups that are all shown (the nodes come in preorder: a group before its own); none where
    no list of them is kept (`failed` False)."""
    index = {path: k for k, (path, *_rest) in enumerate(structure)}
    deciding = {}
    for k, (path, _depth, kind, *_rest) in enumerate(structure):
        up = [index.get(p) for p in enclosing(path)]
        if failed is not False and kind in _DECIDING and all(u is not None and u < k for u in up):
            deciding[k] = up  # (else never deciding: a group not shown)
    return deciding, {u for up in deciding.values() for u in up}


def node_lines(nodes_words, indent: str) -> list:
    """The lines of entries_source's body over an evaluation's one-row views (read at row i), each line indented by
    `indent`: they read the locals `get`, `operands`, `i`, `firm`, `append`, `names`, `shown`, `shortfall`,
    `results` and `failed`, and the node words' globals entries_namespace binds."""
    structure = structure_of(nodes_words)
    deciding, read_later = _deciding(structure, None)
    lines = []
    outcomes = (("t.t[i]", "True", "[]"), ("t.f[i]", "False", "[]"), (None, "None", "names(t.miss[i])"))
    for k, (path, depth, kind, expr, leaf, measure, compare, _shown_as) in enumerate(structure):
        lines += [f"t = get({path!r})", "if t is not None:"]
        for n, (test, held, missing) in enumerate(outcomes):
            # the node's entry of that outcome, made once per plan, copied (twice as fast as a dict literal)
            lines += [f"    {('if ' if n == 0 else 'elif ') + test if test else 'else'}:",
                      f"        h{k} = {held}",
                      f"        e = {_TEMPLATES[n]}{k}.copy()",
                      f"        e['missing'] = {missing}"]
        if measure is not None:
            lines.append(f"    e['value'] = STATUSES[int(results[{measure!r}].status[i])]")
        if leaf:
            lines += [f"    o = operands({path!r})",
                      "    if o is not None and len(o) == 2:  # given(x) has one operand, nothing to show"]
            if compare:  # a number against the parameter shown before: its value and sentence here (as shown does)
                lines += [f"        known = W{k}.known",
                          "        if known is not None and o[1] is known[0] and type(o[0]) is Num:",
                          "            lo = o[0].lo[i]",
                          "            v = float(lo) if lo == o[0].hi[i] else None",
                          f"            s = F{k}(v)",
                          "            tails = known[2]",
                          "            e['value'] = v",
                          "            e['threshold'] = known[1]",
                          # one string built of the three (BUILD_STRING), not two concatenations
                          f"            e['text'] = {{'zh': f'{{HZ{k}}}{{s[0]}}{{tails[0]}}', "
                          f"'en': f'{{HE{k}}}{{s[1]}}{{tails[1]}}'}}",
                          f"            if h{k} is False and firm:",
                          f"                f = shortfall(W{k}, v, known[1], i)",
                          "                if f:",
                          "                    e['shortfall'] = f",
                          "        else:",
                          f"            shown(W{k}, e, h{k}, o, i, firm)"]
            else:
                lines.append(f"        shown(W{k}, e, h{k}, o, i, firm)")
        if k in deciding:
            held_false = " and ".join(f"h{u} is False" for u in [k, *deciding[k]])
            lines.append(f"    if {held_false} and failed is not None:")
            lines.append("        failed.append(e)")
        lines.append("    append(e)")
        if k in read_later:  # not evaluated (a node the evaluation did not reach): its result read as none
            lines += ["else:", f"    h{k} = None"]
    return [indent + line for line in lines]


@lru_cache(maxsize=8192)
def enclosing(path: str) -> tuple[str, ...]:
    """The paths of the groups enclosing a condition's, innermost first ("1.2.3" -> "1.2", "1")."""
    out = []
    end = path.rfind(".")
    while end > 0:
        out.append(path[:end])
        end = path.rfind(".", 0, end)
    return tuple(out)


def entries_function(nodes_words, statuses, scalar: bool = False, decoded: dict | None = None,
                     per_item: bool = False):
    """The generated `entries` of these nodes (a plan's NodeWords, in their order), bound to their labels and words;
    scalar: the function over scalar results (entries_source; per_item: over every item's); decoded: the rule set's
    decoded bit sets (mask_names.decoded_bits), read first for an unknown node's missing fields."""
    key = (structure_of(nodes_words), scalar, per_item)
    code = _CODE.get(key)
    if code is None:
        code = compiled(entries_source(nodes_words, scalar, per_item), key, "<condition entries>")
    namespace = entries_namespace(nodes_words, statuses, decoded)
    exec(code, namespace)  # defines `entries` in namespace: its globals are the labels and words bound above
    return namespace["entries"]


def compiled(source: str, key, name: str):
    """The code of generated source, kept by `key` (what the source depends on) for every plan to come."""
    code = compile(source, name, "exec")
    with _LOCK:
        if len(_CODE) >= _MAX_CODES:
            _CODE.clear()
        _CODE[key] = code
    return code


def known_code(key):
    """The code compiled before for `key` (compiled), or None."""
    return _CODE.get(key)


def entries_namespace(nodes_words, statuses, decoded: dict | None = None) -> dict:
    """The globals node_lines' code reads: each node's entry held, failed and unknown (ET, EF, EU), its words (W)
    and, for a comparison, its formatter (F), the heads of its sentence (HZ, HE) and the words of an unknown value
    (UZ, UE), by the node's index; DECODED,
    the `get` of `decoded` (none: every unknown node's names from `names`)."""
    namespace = {"STATUSES": statuses, "Num": Num, "Interval": Interval, "NOT_EVALUATED": _NOT_EVALUATED,
                 "DECODED": ({} if decoded is None else decoded).get}
    for k, w in enumerate(nodes_words):
        for prefix, held in zip(_TEMPLATES, (True, False, None)):
            namespace[f"{prefix}{k}"] = _template(w, held)
        namespace[f"W{k}"] = w
        if w.compare:
            namespace[f"F{k}"], (namespace[f"HZ{k}"], namespace[f"HE{k}"]) = w.format, w.heads
            namespace[f"UZ{k}"], namespace[f"UE{k}"] = w.format(None)  # an unknown value's words
    return namespace


__all__ = ["compiled", "enclosing", "entries_function", "entries_namespace", "entries_source", "known_code",
           "node_lines", "scalar_node_lines", "structure_of", "text_lines"]

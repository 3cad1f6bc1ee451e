"""`settled`: what the one-firm benchmarks (bench_engine.py, bench_one_firm_versions.py) read of an evaluation to make
everything the scalar evaluation makes only when first read. It reads the Evaluation through its public interfaces
only, so one function times any version of the engine."""

from __future__ import annotations


def settled(ev):
    """The evaluation with everything the explainer reads of it made, as the column path makes it up front: the exact
    amounts it reports (where the amount, potential amount or part is set), every measure's values, and the one-row
    views of its conditions' results and operands (and its items') — except where the view has a `source` (one
    firm's scalar evaluation since i10-entries): the explainer reads those results as they are, nothing to make."""
    for r in ev.results.values():
        shown = {"amount": r.amount, "potential": r.potential,
                 **{f"parts.{k}": v for k, v in r.parts.items()},
                 **{f"potential_parts.{k}": v for k, v in r.potential_parts.items()}}
        for key in r.exact:
            if shown[key][0] == shown[key][0]:
                r.exact[key].at(0)
        values = r.values
        scalar = getattr(values, "scalar", None)  # one firm's values: the explainer reads them unconverted
        for name in values:
            scalar(name) if scalar is not None else values[name]
        views = [r.nodes, r.operands]
        if r.items is not None:
            views += [r.items.nodes, r.items.operands, r.items.amounts]
        for view in views:
            if hasattr(view, "source"):
                continue  # made already: the explainer reads one firm's results as they are (view.source)
            for name in view:
                view[name]
    return ev

"""One partition of a list screened on its own, and the whole list's figures put together from the partitions'.

The partition function takes and gives Arrow tables and plain Python values only, never a Dask type, so that any
engine that hands over Arrow batches can call it: Dask (engine/outputs/distributed.py) or Spark's mapInArrow
(docs/scale.md). A partition holds whole firms: every item of a firm is in its firm's partition, so duplicate codes
and items without a screened firm are found there as in one list.

Programme pools belong to the whole list: a partition reports what its firms request; the pool's factor comes from
the sum over every partition (pool_cuts), and only then are the per-firm granted amounts written (firm_results).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from engine.evaluate.evaluator import ELIGIBLE, STATUSES
from engine.common.money import round_amount
from engine.inputs.frames import table_from_arrow
from engine.inputs.parquet_list import rejections_table
from engine.outputs.pools import PoolOutcome, constant
from engine.outputs.screen import Screening, pool_figures, screen_table
from engine.rules.loader import RuleSet


@dataclass
class MeasureFigures:
    """A measure's sums over some firms, exact: added over partitions they give the whole list's."""

    counts: dict  # status name -> firms
    amount: Fraction = Fraction(0)  # own amounts of the eligible firms
    amount_unknown: int = 0
    own: Fraction = Fraction(0)  # what the eligible firms ask, all parts
    pooled: Fraction | None = None  # what they ask of the pool (None: no pool applies)

    def __add__(self, other: "MeasureFigures") -> "MeasureFigures":
        pooled = None if self.pooled is None and other.pooled is None else (self.pooled or 0) + (other.pooled or 0)
        return MeasureFigures({k: self.counts[k] + other.counts[k] for k in self.counts}, self.amount + other.amount,
                              self.amount_unknown + other.amount_unknown, self.own + other.own, pooled)


@dataclass
class PartitionResult:
    """What one partition gives back: its per-firm results (before the pools' cut), its rejected rows, its sizes
    and its measures' figures."""

    firms: object  # pyarrow.Table, see firm_results
    rejected: object  # pyarrow.Table, see rejections_table
    firm_rows: int
    screened: int
    item_rows: dict  # list field -> rows given (None: the list was not given)
    item_accepted: dict
    figures: dict  # measure id -> MeasureFigures
    params: dict = field(default_factory=dict)
    screening: Screening | None = None  # kept only in-process (not sent back by the Dask path)


def measure_figures(screening: Screening) -> dict:
    """Each measure's figures over the screened firms (pooled is set where the pool's parameter has a value)."""
    out = {}
    for mid, mc in screening.measures.items():
        counts = {name: int(np.count_nonzero(mc.status == code)) for code, name in enumerate(STATUSES)}
        eligible = mc.status == ELIGIBLE
        figures = MeasureFigures(counts)
        if mc.exact:
            figures.amount = mc.exact["amount"].total(eligible)
            figures.amount_unknown = int(np.count_nonzero(eligible & np.isnan(mc.amount)))
            figures.own = mc.granted_exact.own.total()
            if mc.pool is not None:
                figures.pooled = mc.pool.requested
        out[mid] = figures
    return out


def pool_cuts(rules: RuleSet, params: dict, figures: dict) -> dict:
    """Measure id -> the whole list's PoolOutcome, from what every firm of the list requests."""
    out = {}
    for mid, f in figures.items():
        m = rules.measures[mid]
        if m.pool is None or f.pooled is None:
            continue
        pool = Fraction(constant(m.pool, params))
        requested = f.pooled
        factor = Fraction(1) if requested <= pool or requested <= 0 else pool / requested
        out[mid] = PoolOutcome(mid, pool, m.pool_applies_to, requested, min(requested, pool), factor)
    return out


def firm_results(screening: Screening):
    """Per firm: its credit code, and per measure its status and its own amount (granted: the same until
    with_pools cuts it; pooled: the part a pool pays, for a pool on one part); null where there is none."""
    import pyarrow as pa

    table = screening.table
    arrays = {"credit_code": pa.array(table.columns.text["credit_code"].values, pa.string())}
    names = pa.array(STATUSES, pa.string())
    for mid, mc in screening.measures.items():
        # the status names taken by Arrow from the codes, not one Python string per firm
        arrays[f"{mid}.status"] = names.take(pa.array(mc.status))
        if not mc.exact:
            continue
        eligible = mc.status == ELIGIBLE
        own = np.where(eligible, mc.amount, np.nan)
        arrays[f"{mid}.amount"] = arrays[f"{mid}.granted"] = pa.array(own, pa.float64(), mask=np.isnan(own))
        part = screening.rules.measures[mid].pool_applies_to
        if screening.rules.measures[mid].pool is not None and part:
            pooled = np.where(eligible, mc.parts[part], np.nan)
            arrays[f"{mid}.pooled"] = pa.array(pooled, pa.float64(), mask=np.isnan(pooled))
    return pa.table(arrays)


def with_pools(firms, pools: dict):
    """Per-firm results with the whole list's pools (measure id -> PoolOutcome) applied: granted = own − cut × the
    pooled amount; amounts to the cent."""
    import pyarrow as pa

    for name in firms.column_names:
        if not name.endswith(".granted"):
            continue
        mid = name[:-len(".granted")]
        own = firms.column(f"{mid}.amount").to_numpy(zero_copy_only=False).astype(float)
        granted = own
        outcome = pools.get(mid)
        if outcome is not None and outcome.factor != 1:
            pooled = firms.column(f"{mid}.pooled").to_numpy(zero_copy_only=False).astype(float) \
                if outcome.applies_to else own
            granted = own - np.nan_to_num(pooled) * float(1 - outcome.factor)
        i = firms.column_names.index(name)
        firms = firms.set_column(i, name, pa.array(np.round(granted, 2), pa.float64(), mask=np.isnan(granted)))
        i = firms.column_names.index(f"{mid}.amount")
        firms = firms.set_column(i, f"{mid}.amount", pa.array(np.round(own, 2), pa.float64(), mask=np.isnan(own)))
    return firms.drop_columns([c for c in firms.column_names if c.endswith(".pooled")])


def local_results(screening: Screening):
    """The per-firm results of a screening of the whole list, pools applied (what the Dask path writes)."""
    return with_pools(firm_results(screening), {mid: mc.pool for mid, mc in screening.measures.items()
                                                if mc.pool is not None})


def row_numbers(rows: dict | None) -> dict:
    """The row numbers a reason names (as if each sheet's header were row 1) from whole-list row indexes."""
    return {sheet: index + 2 for sheet, index in (rows or {}).items()}


def screen_partition(rules: RuleSet, as_of: dt.date, overrides: dict | None, firms, items: dict,
                     rows: dict | None = None) -> PartitionResult:
    """Screen the firms of one partition (an Arrow table with canonical columns) and their items (list field ->
    Arrow table, or None when the list is not given). `rows` (sheet -> whole-list row index of each row) numbers
    the rejected rows as in the whole list. The per-firm results have no pool cut yet: see firm_results."""
    table, rejections = table_from_arrow(rules, firms, items, as_of, row_numbers(rows))
    screening = screen_table(rules, table, as_of, overrides)
    return PartitionResult(firm_results(screening), rejections_table(rejections), firms.num_rows, table.n,
                           {k: None if v is None else v.num_rows for k, v in items.items()},
                           {k: len(table.lists[k].firm) for k in items}, measure_figures(screening),
                           screening.params, screening)


def whole_figures(rules: RuleSet, results: list) -> tuple[dict, dict]:
    """The figures of every partition added up, and the whole list's pools."""
    figures: dict = {}
    for r in results:
        for mid, f in r.figures.items():
            figures[mid] = figures[mid] + f if mid in figures else f
    params = next((r.params for r in results if r.params), {})
    return figures, pool_cuts(rules, params, figures)


def by_measure(rules: RuleSet, figures: dict, pools: dict) -> dict:
    """The summary's by_measure, as Screening.summary words it."""
    out = {}
    for m in rules.measure_list():
        f = figures[m.id]
        has_amount = m.amount is not None or bool(m.parts)
        entry = {**f.counts, "amount": round_amount(f.amount) if has_amount else None,
                 "amount_unknown": f.amount_unknown if has_amount else 0}
        outcome = pools.get(m.id)
        if outcome is not None:
            entry["pool"] = pool_figures(outcome)
            entry["granted"] = round_amount(f.own - (1 - outcome.factor) * f.pooled)
        out[m.id] = entry
    return out


# -- a budget of the whole list ---------------------------------------------------------------------------------------

BUDGET_TEXT = ("credit_code", "name", "district", "industry_code")  # the text a budget groups by and names firms with


@dataclass
class ScreenedPart:
    """One partition screened under one or more parameter sets (baseline, scenario), for the budget of the whole list:
    the whole-list row of each screened firm, the text fields a budget reads, per parameter set the measures'
    per-firm columns before any pool, and the partition's sizes and rejected rows."""

    rows: np.ndarray
    text: dict  # field -> object array
    measures: list  # per parameter set: measure id -> MeasureColumns
    params: list  # per parameter set
    firm_rows: int
    item_rows: dict
    item_accepted: dict
    rejections: list

    @property
    def screened(self) -> int:
        return len(self.rows)


def _unpooled(columns: dict, n: int) -> dict:
    """The measures' columns as a budget needs them: no pool yet (it belongs to the whole list), no missing-data
    masks (a budget does not list what firms lack)."""
    for mc in columns.values():
        mc.granted, mc.pool, mc.granted_exact = None, None, None
        mc.missing = np.zeros((n, 0), np.uint64)
    return columns


def budget_partition(rules: RuleSet, as_of: dt.date, override_sets: list, firms, items: dict,
                     rows: dict | None = None) -> ScreenedPart:
    """Screen the firms of one partition once per parameter set (the input is read and checked once). Arrow tables
    in, NumPy arrays and plain Python values out, as screen_partition."""
    from engine.inputs.frames import FIRMS, screened_arrow

    table, rejections, kept = screened_arrow(rules, firms, items, as_of, row_numbers(rows))
    whole_rows = (rows[FIRMS][kept] if rows else kept).astype(np.int64)
    screenings = [screen_table(rules, table, as_of, overrides) for overrides in override_sets]
    return ScreenedPart(whole_rows, {name: table.columns.text[name].values for name in BUDGET_TEXT},
                        [_unpooled(s.measures, table.n) for s in screenings], [s.params for s in screenings],
                        firms.num_rows, {k: None if v is None else v.num_rows for k, v in items.items()},
                        {k: len(table.lists[k].firm) for k in items}, rejections)


def _joined(values: list, n: int, order: np.ndarray) -> np.ndarray:
    return (np.concatenate(values) if values else np.zeros(n))[order]


def whole_screening(rules: RuleSet, as_of: dt.date, overrides: dict | None, parts: list, which: int,
                    read_of) -> Screening:
    """The screening of the whole list from its partitions' (parameter set `which`), firms in whole-list row order,
    the pools applied over every firm, as screen_table gives it for one list; `read_of(table, source_rows)` gives
    its ListRead. The budget (engine/outputs/budget.py) takes it unchanged."""
    from engine.common.exact import place
    from engine.inputs.table import Columns, Table, TextColumn
    from engine.outputs.screen import MeasureColumns, pooled_columns

    rows = np.concatenate([p.rows for p in parts]) if parts else np.zeros(0, np.int64)
    n = len(rows)
    order = np.argsort(rows, kind="stable")
    columns = Columns(n, text={name: TextColumn.from_values(_joined([p.text[name] for p in parts], n, order))
                               for name in BUDGET_TEXT})
    table = Table(n, columns, {}, {})
    given = [p for p in parts if p.screened] or parts[:1]
    measures = {}
    for m in rules.measure_list():
        cols = [p.measures[which][m.id] for p in given]

        def joined(get, cols=cols):
            return _joined([get(c) for c in cols], n, order)

        mc = MeasureColumns(joined(lambda c: c.status).astype(np.int8), joined(lambda c: c.amount),
                            joined(lambda c: c.potential), np.zeros((n, 0), np.uint64))
        for name in cols[0].parts if cols else ():
            mc.parts[name] = joined(lambda c: c.parts[name])
        for name in cols[0].potential_parts if cols else ():
            mc.potential_parts[name] = joined(lambda c: c.potential_parts[name])
        for key in cols[0].exact if cols else ():
            exact, start = None, 0
            for c in cols:
                exact = place(exact, n, start, c.exact[key])
                start += len(c.status)
            mc.exact[key] = exact[order]
        measures[m.id] = mc
    params = given[0].params[which] if given else {}
    read = read_of(table, rows[order] + 2)
    return Screening(rules, as_of, params, dict(overrides or {}), table, pooled_columns(rules, measures, params, as_of),
                     read)

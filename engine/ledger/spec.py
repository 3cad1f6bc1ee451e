"""Load the lifecycle files under rules/ledger/ into compiled specs (the format is described at the top of
rules/ledger/innovation_voucher.yaml).

Everything is checked when the rules load, before any event is applied: every name an expression uses (event field,
entity field, running total, pool, parameter, let), the types of expressions (a guard is a condition, an amount a
number), states, events, citations (keys of rules/sources.yaml) and measure ids. A file that breaks the format fails
with RulesError naming the file, the line and the reason.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from engine.rules import expr as ex
from engine.common.errors import RulesError
from engine.rules.params import Cases, LookupTable
from engine.rules.loader import RuleSet, read_yaml
from engine.rules.yaml_marks import line_of
from engine.ledger.calc import BOOL, DATE, LIST, NUM, STR, compile_expr, render

ZERO = Decimal(0)

# event field types -> expression types
EVENT_TYPES = {"id": STR, "text": STR, "credit_code": STR, "choice": STR, "code": STR, "money": NUM, "yesno": BOOL,
               "date": DATE}
# entity field types -> expression types
ENTITY_TYPES = {"money": NUM, "date": DATE, "yesno": BOOL, "text": STR}
STANDARD_FIELDS = {"firm": STR, "opened": DATE, "state": STR, "due": DATE}
ACTUALS = ("committed", "paid", "expired", "clawed_back", "remaining")
QUEUE_COUNTERS = ("claimed", "paid", "queued", "reduced", "clawed_back")
RESERVED_EVENT_FIELDS = {"key", "date", "type"}
BUILTIN_EVENTS = ("close_day", "pool_top_up")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")


@dataclass
class EventField:
    name: str
    type: str
    label: dict
    choices: tuple = ()
    spec: object = None  # the FieldSpec of a `code` field


@dataclass
class EventSpec:
    type: str
    name: dict
    fields: dict  # name -> EventField
    lifecycle: str | None  # None for the built-in events


@dataclass
class Reason:
    """A bilingual text with {name} placeholders, each compiled to a getter."""

    templates: dict  # lang -> text
    getters: dict  # placeholder -> (fn, type)

    def render(self, ctx, lang: str) -> str:
        def value(m):
            fn, kind = self.getters[m.group(1)]
            try:
                return show(fn(ctx), kind, lang)
            except Exception:  # a value that cannot be shown must not hide the reason itself
                return "?"

        return _PLACEHOLDER.sub(value, self.templates[lang])

    def both(self, ctx) -> dict:
        return {"en": self.render(ctx, "en"), "zh": self.render(ctx, "zh")}


def show(value, kind: str = None, lang: str = "en") -> str:
    """A value as a reason shows it: numbers exactly (at most 4 decimals), dates ISO, yes/no, codes joined."""
    if isinstance(value, bool):
        return ("是" if value else "否") if lang == "zh" else ("yes" if value else "no")
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return str(value.quantize(Decimal(1)))
        text = format(value.normalize(), "f")
        if len(text.partition(".")[2]) > 4:
            text = format(value.quantize(Decimal("0.0001")).normalize(), "f")
        return text
    if isinstance(value, tuple):
        return ", ".join(map(str, value))
    if value is None:
        return "—"
    return str(value)


@dataclass
class Guard:
    fn: object
    text: str
    reason: Reason


@dataclass
class Effect:
    op: str  # set | add | subtract | claim | unclaim
    items: list  # [(target, fn)] for set/add/subtract; [("amount", fn)] for claim/unclaim
    pool: str | None = None
    as_field: str | None = None


@dataclass
class Transition:
    event: str
    lifecycle: "Lifecycle"
    creates: bool
    sources: tuple  # the states it fits
    to: str
    lets: dict  # name -> fn, in file order
    guards: list
    effects: list
    unknown: Reason | None
    refused_in: dict  # state -> Reason
    cite: list


@dataclass
class Expiry:
    months_fn: object
    to: str
    effects: list
    cite: list
    record_as: str | None = None  # a date field of the entity that keeps the last day, also after the state


@dataclass
class StateSpec:
    name: str
    label: dict
    expiry: Expiry | None


@dataclass
class PoolSpec:
    id: str
    name: dict
    lifecycle: str
    size_fn: object  # ctx -> Decimal (parameters on the ctx's date)
    year_fn: object | None  # ctx -> Decimal year, or None for a standing fund
    counters: dict  # name -> {zh, en}
    actuals: list  # [(name, fn over a PoolView)]
    pays_while: object | None  # fn over a PoolView with .claim, for a queue pool
    cite: list

    @property
    def yearly(self) -> bool:
        return self.year_fn is not None


@dataclass
class TotalSpec:
    name: str  # "firm.unredeemed" or "loan.interest_counted"
    owner: str  # firm | entity
    field: str
    label: dict
    year_fn: object | None


@dataclass
class Lifecycle:
    id: str
    file: str
    name: dict
    measures: list
    citations: list
    entity: str
    entity_label: dict
    key: str
    fields: dict  # name -> {"type", "zh", "en"}
    field_types: dict  # name -> expression type (num, date, bool, str)
    pools: dict
    totals: dict
    events: dict
    states: dict
    transitions: dict
    pool_year_fn: object = None  # `pool_year`: the year this lifecycle's events book to in yearly pools

    @property
    def plural(self) -> str:
        return f"{self.entity}s"


@dataclass
class LedgerRules:
    rules: RuleSet
    lifecycles: dict  # id -> Lifecycle
    events: dict  # type -> EventSpec (built-ins included)
    transitions: dict  # event type -> Transition
    pools: dict  # id -> PoolSpec
    by_entity: dict  # entity name -> Lifecycle
    version: str
    files: list = field(default_factory=list)


class _Loader:
    def __init__(self, rules: RuleSet, path: Path):
        self.rules = rules
        self.path = path
        self.file = str(path)
        self.data, _ = read_yaml(path)

    def fail(self, message: str, line: int | None = None):
        """Refuse the file; `line` is the line of the faulty key or value (line_of), None when it has none."""
        raise RulesError(self.file, message, line=line)

    def bilingual(self, raw, what: str, line: int | None = None) -> dict:
        if not isinstance(raw, dict) or not raw.get("zh") or not raw.get("en"):
            self.fail(f"{what} needs both a zh and an en text", line_of(raw) or line)
        extra = sorted(set(raw) - {"zh", "en"})
        if extra:
            self.fail(f"{what}: unexpected key(s) {', '.join(map(str, extra))} beside zh/en "
                      "(quote a text that contains a comma or a colon)", line_of(raw, extra[0]) or line)
        return {"zh": str(raw["zh"]), "en": str(raw["en"])}

    def citations(self, raw, what: str, line: int | None = None) -> list:
        if not isinstance(raw, list) or not raw:
            self.fail(f"{what}: a list of {{source, clause}} citations is required", line_of(raw) or line)
        out = []
        for k, cite in enumerate(raw):
            if not isinstance(cite, dict) or not cite.get("source"):
                self.fail(f"{what}: each citation needs a source", line_of(raw, k))
            source = self.rules.sources.get(cite["source"])
            if self.rules.sources and source is None:
                self.fail(f"{what}: source {cite['source']!r} is not in sources.yaml", line_of(cite, "source", True))
            clause = cite.get("clause")
            if source is not None and clause is not None and str(clause) not in (source.get("clauses") or {}):
                self.fail(f"{what}: {cite['source']} has no clause {clause!r} in sources.yaml",
                          line_of(cite, "clause", True))
            out.append({"source": str(cite["source"]), **({"clause": str(clause)} if clause is not None else {})})
        return out

    def compile(self, text, resolve, what: str, want: str | None = None, line: int | None = None):
        """The expression `text` (standing at `line`) compiled, of the type `want` when given."""
        if isinstance(text, (int, float, Decimal)) and not isinstance(text, bool):
            text = str(text)
        if not isinstance(text, str):
            self.fail(f"{what}: expected an expression, got {text!r}", line)
        try:
            node = ex.parse(text)
        except ex.ExprError as exc:
            self.fail(f"{what}: {exc}", line)
        try:
            fn, kind = compile_expr(node, resolve)
        except KeyError as exc:
            name = exc.args[0]
            self.fail(f"{what}: unknown name {name!r} (not an event field, entity field, total, pool, parameter or "
                      "let in this place)", line)
        except TypeError as exc:
            self.fail(f"{what}: {exc}", line)
        if want is not None and kind != want:
            shown = "a condition (yes/no)" if want == BOOL else f"a {want}"
            self.fail(f"{what}: {render(node)!r} is a {kind}, not {shown}", line)
        return fn, kind

    def reason(self, raw, resolve, what: str, line: int | None = None) -> Reason:
        texts = self.bilingual(raw, what, line)
        getters = {}
        for lang, template in texts.items():
            for name in _PLACEHOLDER.findall(template):
                if name not in getters:
                    try:
                        getters[name] = resolve(name)
                    except KeyError:
                        self.fail(f"{what}: unknown name {{{name}}} in the {lang} text", line_of(raw, lang, True))
        return Reason(texts, getters)


def _param_resolver(rules: RuleSet):
    def resolve(name):
        p = rules.params.get(name)
        if p is None:
            raise KeyError(name)
        value = next((v for _, v in p.values if v is not None), None)
        if isinstance(value, (LookupTable, Cases)):
            raise TypeError(f"parameter {name!r} is a table or depends on the firm: not available in ledger rules")
        kind = LIST if isinstance(value, tuple) else NUM
        return (lambda c: c.param(name)), kind

    return resolve


def _lifecycle(rules: RuleSet, path: Path, all_pools: dict) -> Lifecycle:
    ld = _Loader(rules, path)
    data = ld.data
    if not isinstance(data, dict):
        ld.fail("a lifecycle file holds one mapping", line_of(data))
    for key in ("lifecycle", "name", "measures", "citations", "entity", "states", "events", "transitions"):
        if key not in data:
            ld.fail(f"missing `{key}`", line_of(data))
    lid = str(data["lifecycle"])
    if lid != path.stem:
        ld.fail(f"lifecycle {lid!r} must match the file name {path.stem!r}", line_of(data, "lifecycle", True))
    measures = data["measures"] if isinstance(data["measures"], list) else [data["measures"]]
    for k, m in enumerate(measures):
        if m not in rules.measures:
            ld.fail(f"measures: {m!r} is not a measure under rules/measures/",
                    line_of(data["measures"], k) if isinstance(data["measures"], list) else
                    line_of(data, "measures", True))
    ent = data["entity"]
    if not isinstance(ent, dict) or not ent.get("name") or not ent.get("key"):
        ld.fail("entity needs a name and a key", line_of(data, "entity"))
    entity = str(ent["name"])
    if entity in ("firm", "pools", "date") or "." in entity:
        ld.fail(f"entity name {entity!r} is reserved", line_of(ent, "name", True))
    fields, field_types = {}, {}
    raw_fields = ent.get("fields") or {}
    for name, spec in raw_fields.items():
        if not isinstance(spec, dict) or spec.get("type") not in ENTITY_TYPES:
            ld.fail(f"entity field {name!r}: type must be one of {', '.join(ENTITY_TYPES)}", line_of(raw_fields, name))
        if name in STANDARD_FIELDS:
            ld.fail(f"entity field {name!r} is a standard field (firm, opened, state, due)", line_of(raw_fields, name))
        fields[name] = {"type": spec["type"], **ld.bilingual({k: spec.get(k) for k in ("zh", "en")},
                                                              f"entity field {name}", line_of(raw_fields, name))}
        field_types[name] = ENTITY_TYPES[spec["type"]]
    lc = Lifecycle(lid, ld.file, ld.bilingual(data["name"], "name", line_of(data, "name", True)), measures,
                   ld.citations(data["citations"], "citations", line_of(data, "citations")), entity,
                   ld.bilingual(ent.get("label"), "entity label", line_of(ent, "label", True)), str(ent["key"]),
                   fields, field_types, {}, {}, {}, {}, {})
    params = _param_resolver(rules)

    # -- scopes ---------------------------------------------------------------------------------------------------
    def base_resolve(name, event: EventSpec | None = None, lets: dict | None = None):
        if name == "date":
            return (lambda c: c.date), DATE
        if event is not None and name in event.fields:
            kind = EVENT_TYPES[event.fields[name].type]
            return (lambda c: c.ev[name]), kind
        if lets is not None and name in lets:
            kind = lets[name]
            return (lambda c: c.let(name)), kind
        head, _, tail = name.partition(".")
        if head == entity and tail:
            if tail in STANDARD_FIELDS:
                return (lambda c: getattr(c.entity, tail)), STANDARD_FIELDS[tail]
            total = lc.totals.get(name)
            if total is not None:
                return (lambda c: c.entity_total(total)), NUM
            if tail in field_types:
                kind = field_types[tail]
                default = ZERO if kind == NUM else None
                return (lambda c: c.entity.data.get(tail, default)), kind
        if head == "firm" and name in lc.totals:
            total = lc.totals[name]
            return (lambda c: c.firm_total(total)), NUM
        if head == "pools" and tail:
            pid, _, what = tail.partition(".")
            pool = lc.pools.get(pid) or all_pools.get(pid)  # a pool of a lifecycle loaded before (payouts draw on it)
            if pool is not None and (what in pool.counters or what == "size" or what in dict(pool.actuals)):
                return (lambda c: c.pool_value(pool, what)), NUM
        return params(name)

    # -- pools ----------------------------------------------------------------------------------------------------
    year_resolve = base_resolve  # pools' and totals' years may use the entity and the date only
    raw_pools = data.get("pools") or {}
    for pid, spec in raw_pools.items():
        where, pool_line = f"pool {pid}", line_of(raw_pools, pid)
        if pid not in rules.measures:
            ld.fail(f"{where}: a pool is named after the measure it pays ({pid!r} is not a measure)", pool_line)
        if pid in all_pools:
            ld.fail(f"{where}: declared twice (also in {all_pools[pid].lifecycle})", pool_line)
        if not isinstance(spec, dict):
            ld.fail(f"{where}: expected a mapping", pool_line)
        counters = {}
        raw_counters = spec.get("counters") or {}
        for cname, label in raw_counters.items():
            if cname in ("size", "claim", "topped_up"):
                ld.fail(f"{where}: counter name {cname!r} is reserved", line_of(raw_counters, cname))
            counters[cname] = ld.bilingual(label, f"{where} counter {cname}", line_of(raw_counters, cname))
        queue = spec.get("queue")
        if queue is not None:
            missing = [c for c in QUEUE_COUNTERS if c not in counters]
            if missing:
                ld.fail(f"{where}: a queue pool keeps the counters {', '.join(QUEUE_COUNTERS)} "
                        f"(missing {', '.join(missing)})", line_of(spec, "queue"))
            if spec.get("year") is not None:
                ld.fail(f"{where}: a queue pool is a standing fund (no `year`)", line_of(spec, "year"))
        counters["topped_up"] = {"zh": "追加资金", "en": "topped up"}
        size_fn, _ = ld.compile(spec.get("size"), params, f"{where} size", NUM, line_of(spec, "size", True))
        year_fn = None
        if spec.get("year") is not None:
            year_fn, _ = ld.compile(spec["year"], year_resolve, f"{where} year", NUM, line_of(spec, "year", True))
        raw_actuals = spec.get("actuals") or {}
        if list(raw_actuals) != list(ACTUALS):
            ld.fail(f"{where}: actuals must be, in this order: {', '.join(ACTUALS)}", line_of(spec, "actuals"))
        actuals = []

        def pool_resolve(name, _done=None, _counters=counters, _claim=False):
            if name in (_done or ()):
                return (lambda v: v.actual(name)), NUM
            if name in _counters:
                return (lambda v: v.counters.get(name, ZERO)), NUM
            if name == "size":
                return (lambda v: v.size), NUM
            if name == "claim" and _claim:
                return (lambda v: v.claim), NUM
            return params(name)

        done = []
        for aname, text in raw_actuals.items():
            fn, _ = ld.compile(text, lambda n, d=tuple(done): pool_resolve(n, d), f"{where} actual {aname}", NUM,
                               line_of(raw_actuals, aname, True))
            actuals.append((aname, fn))
            done.append(aname)
        pays_while = None
        if queue is not None:
            if not isinstance(queue, dict) or "pays_while" not in queue:
                ld.fail(f"{where}: queue needs `pays_while`", line_of(spec, "queue"))
            pays_while, _ = ld.compile(queue["pays_while"], lambda n: pool_resolve(n, (), counters, True),
                                       f"{where} queue pays_while", BOOL, line_of(queue, "pays_while", True))
        cite = ld.citations(spec.get("cite"), f"{where} cite", line_of(spec, "cite"))
        lc.pools[pid] = PoolSpec(pid, ld.bilingual(spec.get("name"), f"{where} name", line_of(spec, "name", True)),
                                 lid, size_fn,
                                 year_fn, counters, actuals, pays_while, cite)
        all_pools[pid] = lc.pools[pid]

    if data.get("pool_year") is not None:
        # a lifecycle that draws on another's yearly pool says which year its movements belong to
        lc.pool_year_fn, _ = ld.compile(data["pool_year"], year_resolve, "pool_year", NUM,
                                        line_of(data, "pool_year", True))

    # -- totals ---------------------------------------------------------------------------------------------------
    raw_totals = data.get("totals") or {}
    for tname, spec in raw_totals.items():
        head, _, tail = tname.partition(".")
        if head not in ("firm", entity) or not tail or "." in tail:
            ld.fail(f"total {tname!r}: name it firm.<name> or {entity}.<name>", line_of(raw_totals, tname))
        if head == entity and (tail in field_types or tail in STANDARD_FIELDS):
            ld.fail(f"total {tname!r}: {tail!r} is already an entity field", line_of(raw_totals, tname))
        spec = spec or {}
        label = ld.bilingual({k: spec.get(k) for k in ("zh", "en")}, f"total {tname}", line_of(raw_totals, tname))
        lc.totals[tname] = TotalSpec(tname, "firm" if head == "firm" else "entity", tail, label, None)
    for tname, spec in raw_totals.items():
        if (spec or {}).get("year") is not None:
            lc.totals[tname].year_fn, _ = ld.compile(spec["year"], year_resolve, f"total {tname} year", NUM,
                                                     line_of(spec, "year", True))

    # -- events ---------------------------------------------------------------------------------------------------
    raw_events = data["events"]
    for etype, spec in raw_events.items():
        event_line = line_of(raw_events, etype)
        if etype in BUILTIN_EVENTS:
            ld.fail(f"event {etype!r} is built in", event_line)
        efields = {}
        raw_efields = (spec or {}).get("fields") or {}
        for fname, fspec in raw_efields.items():
            field_line = line_of(raw_efields, fname)
            if fname in RESERVED_EVENT_FIELDS:
                ld.fail(f"event {etype}: field {fname!r} is common to every event", field_line)
            fspec = fspec if isinstance(fspec, dict) else {"type": fspec}
            ftype = fspec.get("type")
            if ftype not in EVENT_TYPES:
                ld.fail(f"event {etype} field {fname}: type must be one of {', '.join(EVENT_TYPES)}", field_line)
            label = {"zh": str(fspec.get("zh") or fname), "en": str(fspec.get("en") or fname)}
            choices, fs = (), None
            if ftype == "choice":
                choices = tuple(str(c) for c in fspec.get("choices") or ())
                if not choices:
                    ld.fail(f"event {etype} field {fname}: a choice needs `choices`", field_line)
            if ftype == "code":
                of = str(fspec.get("of") or "")
                head, _, tail = of.partition(".")
                parent = rules.fields.fields.get(head)
                if parent is not None and parent.type == "list" and tail:
                    fs = rules.item_fields(parent.item).get(tail)
                elif not tail:
                    fs = parent
                if fs is None or fs.type != "code":
                    ld.fail(f"event {etype} field {fname}: `of` must name a code field of rules/fields.yaml "
                            f"(like voucher_services.provider_region), not {of!r}",
                            line_of(fspec, "of", True) or field_line)
            efields[fname] = EventField(fname, ftype, label, choices, fs)
        if lc.key not in efields or efields[lc.key].type != "id":
            ld.fail(f"event {etype}: needs the field {lc.key!r} of type id", event_line)
        lc.events[etype] = EventSpec(etype, ld.bilingual((spec or {}).get("name"), f"event {etype} name",
                                                         line_of(spec, "name", True) or event_line), efields, lid)

    # -- states ---------------------------------------------------------------------------------------------------
    raw_states = data["states"]
    if not isinstance(raw_states, dict) or not raw_states:
        ld.fail("states: a mapping of states is required", line_of(data, "states"))
    for sname in raw_states:
        lc.states[sname] = StateSpec(sname, {}, None)

    def effects(raw, scope, what: str, line: int | None) -> list:
        out = []
        if not isinstance(raw, list):
            ld.fail(f"{what}: effects is a list", line_of(raw) or line)
        for k, eff in enumerate(raw):
            if not isinstance(eff, dict) or len(eff) != 1:
                ld.fail(f"{what}: each effect is one of set/add/subtract/claim/unclaim", line_of(raw, k))
            op, body = next(iter(eff.items()))
            op_line = line_of(eff, op)
            if op == "set":
                items = []
                for target, text in (body or {}).items():
                    if target not in field_types:
                        ld.fail(f"{what}: set {target!r}: not a field of the {entity} (declare it under entity.fields)",
                                line_of(body, target))
                    fn, _ = ld.compile(text, scope, f"{what} set {target}", field_types[target],
                                       line_of(body, target, True))
                    items.append((target, fn))
                out.append(Effect("set", items))
            elif op in ("add", "subtract"):
                items = []
                for target, text in (body or {}).items():
                    _check_target(ld, lc, target, what, all_pools, line_of(body, target))
                    fn, _ = ld.compile(text, scope, f"{what} {op} {target}", NUM, line_of(body, target, True))
                    items.append((target, fn))
                out.append(Effect(op, items))
            elif op in ("claim", "unclaim"):
                body = body or {}
                pool = lc.pools.get(body.get("pool"))
                if pool is None or pool.pays_while is None:
                    ld.fail(f"{what}: {op} needs a queue pool of this lifecycle, not {body.get('pool')!r}",
                            line_of(body, "pool", True) or op_line)
                as_field = str(body.get("as") or "")
                for suffix in ("", "_paid", "_queued", "_clawed_back"):
                    if field_types.get(as_field + suffix) != NUM:
                        ld.fail(f"{what}: {op} as {as_field!r} needs the money field {as_field + suffix!r} "
                                f"on the {entity}", line_of(body, "as", True) or op_line)
                fn, _ = ld.compile(body.get("amount"), scope, f"{what} {op} amount", NUM,
                                   line_of(body, "amount", True) or op_line)
                out.append(Effect(op, [("amount", fn)], pool.id, as_field))
            else:
                ld.fail(f"{what}: unknown effect {op!r} (set, add, subtract, claim, unclaim)", op_line)
        return out

    expiry_scope = base_resolve
    for sname, spec in raw_states.items():
        spec = spec or {}
        label = ld.bilingual(spec.get("name"), f"state {sname} name",
                             line_of(spec, "name", True) or line_of(raw_states, sname))
        expiry = None
        if spec.get("expires") is not None:
            raw = spec["expires"]
            months_fn, _ = ld.compile(raw.get("after_months"), params, f"state {sname} expires after_months", NUM,
                                      line_of(raw, "after_months", True))
            if raw.get("to") not in lc.states:
                ld.fail(f"state {sname} expires: `to` {raw.get('to')!r} is not a state", line_of(raw, "to", True))
            record_as = raw.get("record_as")
            if record_as is not None and field_types.get(record_as) != DATE:
                ld.fail(f"state {sname} expires: record_as {record_as!r} must be a date field of the {entity}",
                        line_of(raw, "record_as", True))
            expiry = Expiry(months_fn, raw["to"], effects(raw.get("effects") or [], expiry_scope,
                                                          f"state {sname} expires", line_of(raw, "effects", True)),
                            ld.citations(raw.get("cite"), f"state {sname} expires cite", line_of(raw, "cite")),
                            record_as)
        lc.states[sname] = StateSpec(sname, label, expiry)

    # -- transitions ----------------------------------------------------------------------------------------------
    raw_tr = data["transitions"]
    for etype in lc.events:
        if etype not in raw_tr:
            ld.fail(f"event {etype!r} has no transition", line_of(raw_events, etype))
    for etype, spec in raw_tr.items():
        where, tr_line = f"transition {etype}", line_of(raw_tr, etype)
        if etype not in lc.events:
            ld.fail(f"{where}: no event {etype!r} is declared under events", tr_line)
        spec = spec or {}
        event = lc.events[etype]
        creates = bool(spec.get("creates"))
        sources = spec.get("from")
        if creates == (sources is not None):
            ld.fail(f"{where}: give either `creates: true` or `from` states", tr_line)
        source_lines = [line_of(sources, k) for k in range(len(sources))] if isinstance(sources, list) else \
            [line_of(spec, "from", True)]
        sources = tuple(sources if isinstance(sources, list) else [sources]) if sources is not None else ()
        for s, s_line in zip(sources, source_lines):
            if s not in lc.states:
                ld.fail(f"{where}: from {s!r} is not a state", s_line)
        if spec.get("to") not in lc.states:
            ld.fail(f"{where}: `to` {spec.get('to')!r} is not a state", line_of(spec, "to", True) or tr_line)
        if creates and "firm" not in event.fields:
            ld.fail(f"{where}: an event that opens a {entity} needs a `firm` field (credit_code)", tr_line)
        lets, let_types = {}, {}

        def scope(name, _event=event, _lets=let_types):
            return base_resolve(name, _event, _lets)

        raw_lets = spec.get("let") or {}
        for lname, text in raw_lets.items():
            if "." in lname or lname in event.fields or lname == "date":
                ld.fail(f"{where}: let {lname!r} clashes with a field or is dotted", line_of(raw_lets, lname))
            fn, kind = ld.compile(text, scope, f"{where} let {lname}", line=line_of(raw_lets, lname, True))
            lets[lname], let_types[lname] = fn, kind
        guards = []
        raw_guards = spec.get("guards") or []
        for k, g in enumerate(raw_guards, 1):
            if not isinstance(g, dict) or "check" not in g or "reason" not in g:
                ld.fail(f"{where} guard {k}: needs `check` and `reason`", line_of(raw_guards, k - 1))
            fn, _ = ld.compile(g["check"], scope, f"{where} guard {k}", BOOL, line_of(g, "check", True))
            guards.append(Guard(fn, str(g["check"]), ld.reason(g["reason"], scope, f"{where} guard {k} reason",
                                                               line_of(g, "reason", True))))

        def event_only(name, _event=event):
            if name == "date" or name in _event.fields:
                return base_resolve(name, _event)
            return params(name)

        unknown = None
        if not creates:
            if spec.get("unknown") is None:
                ld.fail(f"{where}: needs `unknown` (the reason when the {entity} does not exist)", tr_line)
            unknown = ld.reason(spec["unknown"], event_only, f"{where} unknown", line_of(spec, "unknown", True))
        refused = {}
        raw_refused = spec.get("refused_in") or {}
        for sname, raw in raw_refused.items():
            if sname not in lc.states:
                ld.fail(f"{where}: refused_in {sname!r} is not a state", line_of(raw_refused, sname))
            if sname in sources:
                ld.fail(f"{where}: refused_in {sname!r} is a state the event fits", line_of(raw_refused, sname))
            refused[sname] = ld.reason(raw, scope, f"{where} refused_in {sname}", line_of(raw_refused, sname, True))
        tr = Transition(etype, lc, creates, sources, spec["to"], lets, guards,
                        effects(spec.get("effects") or [], scope, where, line_of(spec, "effects", True) or tr_line),
                        unknown, refused,
                        ld.citations(spec.get("cite"), f"{where} cite", line_of(spec, "cite") or tr_line))
        lc.transitions[etype] = tr
    return lc


def _check_target(ld: _Loader, lc: Lifecycle, target: str, what: str, all_pools: dict, line: int | None):
    head, _, tail = target.partition(".")
    if target in lc.totals:
        return
    if head == lc.entity and lc.field_types.get(tail) == NUM:
        return
    if head == "pools":
        pid, _, counter = tail.partition(".")
        pool = lc.pools.get(pid) or all_pools.get(pid)
        if pool is not None and counter in pool.counters and counter != "topped_up":
            if pool.pays_while is not None and counter in QUEUE_COUNTERS:
                ld.fail(f"{what}: {target} is kept by claim/unclaim", line)
            return
    ld.fail(f"{what}: {target!r} is not a total, a money field of the {lc.entity} or a pool counter", line)


def builtin_events(pools: dict) -> dict:
    money = EventField("amount", "money", {"zh": "金额(万元)", "en": "amount"})
    return {
        "close_day": EventSpec("close_day", {"zh": "日终结算", "en": "close of day"}, {}, None),
        "pool_top_up": EventSpec("pool_top_up", {"zh": "资金池追加", "en": "pool top-up"}, {
            "pool": EventField("pool", "choice", {"zh": "资金池", "en": "pool"}, tuple(sorted(pools))),
            "amount": money}, None),
    }


def load_ledger_rules(rules: RuleSet, directory: Path | str | None = None) -> LedgerRules:
    directory = Path(directory) if directory is not None else Path(rules.directory) / "ledger"
    if not directory.is_dir():
        raise RulesError(str(directory), "ledger rules directory not found")
    lifecycles, pools, events, transitions, by_entity = {}, {}, {}, {}, {}
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise RulesError(str(directory), "no lifecycle files")
    for path in files:
        lc = _lifecycle(rules, path, pools)
        if lc.entity in by_entity:
            raise RulesError(str(path), f"entity {lc.entity!r} is also declared in {by_entity[lc.entity].file}")
        for etype in lc.events:
            if etype in events:
                raise RulesError(str(path), f"event {etype!r} is also declared in {events[etype].lifecycle}",
                                 line=line_of(read_yaml(path)[0]["events"], etype))
            events[etype] = lc.events[etype]
            transitions[etype] = lc.transitions[etype]
        lifecycles[lc.id] = lc
        by_entity[lc.entity] = lc
    events.update(builtin_events(pools))
    return LedgerRules(rules, lifecycles, events, transitions, pools, by_entity, rules.version,
                       [str(p) for p in files])


_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()


def ledger_rules(rules: RuleSet | None = None) -> LedgerRules:
    """The compiled ledger rules of a RuleSet (default: the project's rules), loaded once per RuleSet."""
    from engine.rules.loader import default_rules

    rules = rules or default_rules()
    with _CACHE_LOCK:
        hit = _CACHE.get(id(rules))
        if hit is None or hit[0] is not rules:
            hit = (rules, load_ledger_rules(rules))
            _CACHE[id(rules)] = hit
        return hit[1]

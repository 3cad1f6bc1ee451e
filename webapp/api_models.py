"""The JSON API's models (pydantic v2) and the OpenAPI 3.1 document generated from them.

The models describe the contracts of ARCHITECTURE.md: the firm object that `POST /api/v1/evaluate` takes (built from
the field dictionary rules/fields.yaml, so a new field is documented without touching Python), the `check` object it
returns, the catalogue, the screening and budget answers and the error body. They document; they do not validate the
input: the engine reads a firm (engine/inputs/firm.py) and reports every wrong value itself, in English and Chinese.

`openapi_document(rules)` assembles the document: each model's `model_json_schema(ref_template=…)`, its `$defs`
collected into `components/schemas`, the paths with their parameters, bodies and responses, and the bearer scheme.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model

from engine.evaluate.evaluator import STATUSES
from engine.rules.fields import IGNORED_INPUT_KEYS, FieldSpec
from engine.rules.loader import RuleSet

from .ids import MAX_ID

API_VERSION = "1.0.0"
REF = "#/components/schemas/{model}"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

Status = Literal[STATUSES]  # eligible, ineligible, undetermined, not_in_force


class _Out(BaseModel):
    """An answer of the API: the keys listed are always there unless optional; more keys may be added later."""

    model_config = ConfigDict(extra="allow")


# -- shared pieces ----------------------------------------------------------------------------------------------------

class Text(_Out):
    """A text in Chinese and English."""

    zh: str
    en: str


class Citation(_Out):
    """The policy document (and clause) a measure rests on."""

    source: str = Field(description="The source document's key in rules/sources.yaml")
    clause: Optional[str] = Field(description="The clause cited, when one is")
    title: Optional[str]
    quote: Optional[str] = Field(description="The clause's text")
    description: Optional[str]
    in_seeds: bool = Field(description="Whether the document is one of the project's seed documents")


# -- the check object -------------------------------------------------------------------------------------------------

class Shortfall(_Out):
    """How far a failed numeric threshold is: the change in the firm's own input that would meet it."""

    field: str
    change: float
    text: Text


class Condition(_Out):
    """One condition of a measure (a node of its condition tree) and whether the firm meets it."""

    path: str = Field(description='Position in the tree: "1", "1.2", "1.2.3" ("0" is the jurisdiction)')
    depth: int
    kind: Literal["all", "any", "leaf", "requires", "jurisdiction"]
    label: Text
    expr: Optional[str] = Field(None, description="The rule's expression (leaves only)")
    held: Optional[bool] = Field(description="true / false, or null when unknown for lack of data")
    missing: list[str] = Field(description="Fields whose absence leaves the condition unknown")
    value: Union[float, str, bool, list[str], None] = Field(None, description="The firm's value compared")
    threshold: Union[float, str, list[str], None] = Field(None, description="What it is compared with")
    text: Optional[Text] = Field(None, description="The comparison in a sentence")
    shortfall: Optional[Shortfall] = None
    measure: Optional[str] = Field(None, description="For `requires`: the measure required")


class ItemResult(_Out):
    """One list item (a loan, a voucher service) of a measure that counts items."""

    index: int
    id: Optional[str]
    counts: Optional[bool]
    amounts: dict[str, Optional[float]]
    missing: list[str]
    conditions: list[Condition]


class ProvenanceLine(_Out):
    """A figure, window or criteria version the result rests on that was not read in an official text
    (MEASURES-2.md "Provenance")."""

    parameter: str = Field(description="The parameter's name, `window` or `window@<jurisdiction>`")
    label: Text
    tag: Literal["T", "R", "I", "D"] = Field(description="T reproduction, R national rule as commonly stated, "
                                                        "I reading made here, D local default")
    note: Optional[str] = Field(description="For D the place borrowed from (or 未找到出处), for T the reproduction")
    sentence: Text = Field(description="What a person is told beside the amount or decision")


class MeasureResult(_Out):
    """The outcome of one measure for the firm."""

    measure: str = Field(description="The measure's id")
    name: Text
    status: Status
    amount: Optional[float] = Field(description="万元; null when not eligible or when the amount is unknown")
    potential_amount: Optional[float] = Field(description="万元, for an undetermined firm: the amount if it qualifies")
    budget_kind: str = Field(description="One of the kinds of rules/budget_kinds.yaml")
    department: Text
    jurisdiction: list[str]
    missing: list[str] = Field(description="Fields whose absence leaves the status undetermined")
    missing_reasons: dict[str, str]
    conditions: list[Condition]
    citations: list[Citation]
    failed: Optional[list[Text]] = Field(None, description="For `ineligible`: the conditions that decided it")
    failed_paths: Optional[list[str]] = None
    reason: Optional[Text] = Field(None, description="For `not_in_force`: why the measure does not apply")
    part_labels: Optional[dict[str, Text]] = None
    parts: Optional[dict[str, Optional[float]]] = None
    potential_parts: Optional[dict[str, Optional[float]]] = None
    values: Optional[dict[str, Optional[float]]] = None
    report: Optional[dict[str, Optional[float]]] = None
    benefit: Optional[Text] = None
    benefits: Optional[list[Text]] = None
    pool: Optional[str] = None
    items: Optional[list[ItemResult]] = None
    provenance: list[ProvenanceLine] = Field(default_factory=list,
                                             description="One line per figure not read in an official text")
    version: Optional[str] = Field(None, description="The criteria version used, for a measure with versions")


class FirmIdentity(_Out):
    credit_code: Optional[str]
    name: Optional[str]
    district: Optional[str] = None


class CheckResult(_Out):
    """The `check` object: what `huiqi check --format json` prints and `POST /api/v1/evaluate` returns."""

    as_of: dt.date
    rules_version: str
    firm: FirmIdentity
    results: list[MeasureResult]
    totals: dict[str, float] = Field(description="Sums of the eligible measures' amounts, 万元, one per budget kind "
                                                 "that rules/budget_kinds.yaml marks `totalled`")
    undetermined: list[str] = Field(description="The measures whose status waits for more data")
    parameters: dict[str, Any] = Field(description="Every parameter's value used, overrides applied")
    overrides: dict[str, Any] = Field(description="The parameters set by `set=`")


# -- the catalogue ----------------------------------------------------------------------------------------------------

class CatalogueCondition(_Out):
    path: str
    depth: int
    kind: str
    expr: Optional[str]
    label: Text


class Window(_Out):
    from_: dt.date = Field(alias="from")
    to: Optional[dt.date]


class ParameterValue(_Out):
    from_: dt.date = Field(alias="from")
    value: Any


class ParameterEntry(_Out):
    """A named parameter with its dated values (rules/parameters.yaml)."""

    name: str
    zh: str
    en: str
    unit: Optional[Text]
    cite: list[str]
    local_default: bool = Field(description="A value borrowed as a local default, not from Taizhou's own documents")
    value: Any = Field(description="The value in force on as_of")
    values: list[ParameterValue]


class CatalogueItems(_Out):
    of: str
    label: Text
    conditions: list[CatalogueCondition]
    amounts: dict[str, str]


class MeasureEntry(_Out):
    """One measure of the catalogue: conditions in words, parameters with dated values, sources."""

    id: str
    name: Text
    jurisdiction: list[str]
    jurisdiction_names: Text
    window: Window
    in_force: bool
    department: Text
    budget_kind: str
    budget_kind_name: Text
    benefit: Optional[Text]
    benefits: Optional[list[Text]]
    notes: Optional[Text]
    conditions: list[CatalogueCondition]
    amount: Optional[str]
    amount_parts: Optional[dict[str, str]]
    pool: Optional[str]
    parameters: list[ParameterEntry]
    citations: list[Citation]
    items: Optional[CatalogueItems] = None


class Catalogue(_Out):
    """What `huiqi measures --format json` prints."""

    as_of: dt.date
    rules_version: str
    measures: list[MeasureEntry]


# -- screening --------------------------------------------------------------------------------------------------------

class MeasureCounts(_Out):
    eligible: int
    ineligible: int
    undetermined: int
    not_in_force: int
    amount: Optional[float] = Field(description="万元, the eligible firms' total; null for a measure without amount")
    amount_unknown: int
    pool: Optional[dict[str, Any]] = None
    granted: Optional[float] = None


class ScreenSummary(_Out):
    """What `huiqi screen --format json` prints; rows_read == firms_screened + rows_rejected always."""

    as_of: dt.date
    rules_version: str
    rows_read: int
    firms_screened: int
    rows_rejected: int
    by_measure: dict[str, MeasureCounts]
    file: Optional[str] = Field(None, description="The uploaded file's name")
    blank_rows: Optional[int] = None
    item_sheets: Optional[dict[str, dict[str, Any]]] = None
    rejections: Optional[int] = None
    ignored_columns: Optional[list[str]] = None
    overrides: list[str] = []


class RejectedRow(_Out):
    """A row of the list that was not screened, and why."""

    sheet: str
    row: int = Field(description="The spreadsheet's row number (the header is row 1)")
    column: Optional[str]
    value: Optional[str]
    reason_zh: str
    reason_en: str


class ScreenAccepted(_Out):
    """A list taken for screening: the run works in the background; GET `status_url` to follow it."""

    run: int = Field(description="The screening run's id (it joins the bureau's history)")
    status: Literal["queued"]
    status_url: str = Field(description="The run's status (GET it with the same token); also the Location header",
                            json_schema_extra={"format": "uri-reference"})


class ScreeningRunStatus(_Out):
    """A screening run: its progress while it works, the summary and the workbook's link when done, the reason when
    it failed."""

    run: int
    file: str = Field(description="The uploaded file's name")
    as_of: dt.date
    rules_version: str
    parameters: dict[str, str] = Field(description="The what-if overrides of the run, NAME: VALUE")
    created_at: str = Field(description="When the run was recorded (UTC)", json_schema_extra={"format": "date-time"})
    status: Literal["queued", "running", "done", "failed"]
    phase: str = Field(description="queued, reading, screening, writing, done or failed")
    done: int = Field(description="Firms screened so far")
    total: int = Field(description="Firms to screen (0 until the list is read)")
    updated_at: Optional[str] = Field(description="The last progress (UTC)", json_schema_extra={"format": "date-time"})
    error: Optional[str] = Field(None, description="Why the run failed (failed only)")
    summary: Optional[ScreenSummary] = Field(None, description="done only")
    rejected_rows: Optional[list[RejectedRow]] = Field(None, description="The first 200 rejected rows (done only)")
    workbook: Optional[str] = Field(None, description="The result workbook's link (done only; GET it with the same "
                                    "token): under the server's configured base URL, or relative to the API's address "
                                    "when none is set", json_schema_extra={"format": "uri-reference"})


# -- budget -----------------------------------------------------------------------------------------------------------

class BudgetMeasure(_Out):
    name: Text
    budget_kind: str
    department: Text
    eligible: int
    undetermined: int
    amount_unknown: int
    requested: float
    take_up: float
    expected: float
    granted: float
    parts: Optional[dict[str, float]]
    pool: Optional[dict[str, Any]]


class BudgetRange(_Out):
    """`low`: undetermined firms get nothing; `high`: they all qualify (with their potential amounts)."""

    low: dict[str, float]
    high: dict[str, float]
    firms_undetermined: int
    potential_unknown: int


class BudgetFigures(_Out):
    """What `huiqi budget --format json` prints without what-if: totals in 万元."""

    as_of: dt.date
    policy_year: int
    rules_version: str
    rows_read: int
    firms_screened: int
    rows_rejected: int
    by_measure: dict[str, BudgetMeasure]
    by_kind: dict[str, Any] = Field(description="Per budget kind of rules/budget_kinds.yaml: a total (万元) for a "
                                                "totalled kind, <kind>_parts for one with parts, else firm counts")
    by_department: dict[str, dict[str, float]]
    by_district: dict[str, dict[str, float]]
    by_industry: dict[str, dict[str, float]]
    pools: dict[str, dict[str, Any]]
    requested: dict[str, float] = Field(description="Programme pools: what the eligible firms request")
    granted: dict[str, float] = Field(description="Programme pools: what the pools grant")
    range: BudgetRange
    assumptions: dict[str, Any]


class MeasureChanges(_Out):
    gained: int
    lost: int
    gained_firms: list[dict[str, Any]]
    lost_firms: list[dict[str, Any]]


class BudgetComparison(_Out):
    """What `huiqi budget --set … --format json` prints: the baseline, the scenario and scenario − baseline."""

    baseline: BudgetFigures
    scenario: BudgetFigures
    delta: dict[str, Any]
    changes: dict[str, MeasureChanges] = Field(description="Per measure, the firms that gain or lose eligibility")
    overrides: list[str]


class BudgetResponse(RootModel[Union[BudgetComparison, BudgetFigures]]):
    """The figures, or with `set=` the comparison of baseline and scenario."""


class BudgetRunRequest(BaseModel):
    """A budget of a screening run that is done (its list is screened again on as_of, with the overrides)."""

    model_config = ConfigDict(extra="forbid")

    run: int = Field(description="The id of a done screening run")
    as_of: Optional[dt.date] = Field(None, description="Default: the run's own as_of")
    set: Optional[list[str]] = Field(None, description="What-if: NAME=VALUE overrides")


# -- errors -----------------------------------------------------------------------------------------------------------

class ProblemDetail(BaseModel):
    """One wrong value of the firm object."""

    field: Optional[str] = Field(description="The field (null when the whole record is wrong)")
    item: Optional[str] = Field(description="The list field (loans, voucher_services) of a wrong item")
    index: Optional[int] = Field(description="The item's position in its list, from 0")
    value: Any = Field(description="The value as given")
    reason: str = Field(description="What is wrong, in English")
    reason_zh: str = Field(description="What is wrong, in Chinese")
    code: Optional[str] = Field(None, description="Machine-readable reason: not_a_number, below_min, unknown_field, "
                                                  "required, …")


class ErrorBody(BaseModel):
    code: str = Field(description="Machine-readable: invalid_json, invalid_value, invalid_parameter, invalid_date, "
                                  "unreadable_list, missing_file, unauthorized, not_found, run_not_done, "
                                  "request_entity_too_large, unsupported_media_type, …")
    message: str
    details: list[Any] = Field(description="For invalid_value: one ProblemDetail per wrong value")


class Error(BaseModel):
    """Every error: a 4xx status for the caller's mistakes, 500 for ours."""

    error: ErrorBody


class InvalidValueBody(ErrorBody):
    code: Literal["invalid_value"]
    details: list[ProblemDetail] = Field(description="One entry per wrong value of the firm object")


class InvalidValueError(BaseModel):
    """422: the firm object holds wrong values; every one is listed, in English and Chinese."""

    error: InvalidValueBody


# -- the firm object, from the field dictionary -----------------------------------------------------------------------

_SCALARS = {"text": str, "credit_code": str, "district": str, "industry_code": str, "code": str, "date": dt.date,
            "integer": int, "money": float, "decimal": float, "yesno": bool}


def _number(value) -> float | int:
    f = float(value)
    return int(f) if f.is_integer() else f


def _describe(spec: FieldSpec) -> tuple[str, dict]:
    """The field's Chinese label first, then what else the dictionary knows, and its numeric bounds."""
    parts = [spec.zh]
    if spec.unit:
        parts.append(f"单位 {spec.unit['zh']}")
    if spec.help:
        parts.append(spec.help["zh"])
    if spec.codes:
        parts.append("取值 " + "、".join(f"{code}（{label['zh']}）" for code, label in spec.codes.items()))
    for check, word in (("at_most", "不大于"), ("at_least", "不小于")):
        if check in spec.checks:
            parts.append(f"{word} {spec.checks[check]}")
    if spec.checks.get("not_after_as_of"):
        parts.append("不晚于评估日期")
    if spec.required:
        parts.append("必填")
    bounds = {}
    if "min" in spec.checks:
        bounds["ge"] = _number(spec.checks["min"])
    if "max" in spec.checks:
        bounds["le"] = _number(spec.checks["max"])
    return "；".join(parts), bounds


def _property(spec: FieldSpec, annotation) -> tuple:
    description, bounds = _describe(spec)
    extra: dict[str, Any] = {"x-label-zh": spec.zh, "x-label-en": spec.en, "x-type": spec.type}
    if spec.codes:
        extra["x-codes"] = {code: dict(label) for code, label in spec.codes.items()}
        extra["examples"] = list(spec.codes)
    if spec.unit:
        extra["x-unit"] = dict(spec.unit)
    if not spec.required:
        annotation = Optional[annotation]
    field = Field(... if spec.required else None, alias=spec.name, title=spec.en, description=description,
                  json_schema_extra=extra, **bounds)
    return annotation, field


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


_OPEN = {
    # keys starting with "_" are notes a person may leave in a file; the engine ignores them, as it ignores these
    "patternProperties": {"^_": {}},
}


def firm_models(rules: RuleSet) -> tuple[type[BaseModel], dict[str, type[BaseModel]]]:
    """(Firm, {item type: item model}) built with create_model over rules.fields, like engine/inputs/firm.py does."""
    items = {}
    for item_type, item in rules.fields.items.items():
        definitions = {f"f_{name}": _property(spec, _SCALARS[spec.type]) for name, spec in item.fields.items()}
        items[item_type] = create_model(
            _camel(item_type),
            __config__=ConfigDict(extra="forbid", title=_camel(item_type), json_schema_extra={
                "description": f"{item.zh}（{item.en}）", **_OPEN}),
            **definitions)
    definitions = {}
    for name, spec in rules.fields.fields.items():
        annotation = list[items[spec.item]] if spec.type == "list" else _SCALARS[spec.type]
        definitions[f"f_{name}"] = _property(spec, annotation)
    for key in sorted(IGNORED_INPUT_KEYS):
        definitions[f"f_{key}"] = (Any, Field(None, alias=key, description="备注，不参与评估 (a note; ignored)"))
    description = ("企业信息（FIRM.json）: the canonical field names of rules/fields.yaml; numbers as JSON numbers, "
                   "dates as ISO strings, yes/no as true/false, loans and voucher_services as arrays of objects; "
                   "an absent key or null is unknown. Keys starting with '_' are ignored.")
    config = ConfigDict(extra="forbid", title="Firm", json_schema_extra={"description": description, **_OPEN})
    firm = create_model("Firm", __config__=config, **definitions)
    return firm, items


# -- the OpenAPI document ---------------------------------------------------------------------------------------------

OUTPUT_MODELS = (CheckResult, Catalogue, MeasureEntry, ScreenAccepted, ScreeningRunStatus, BudgetFigures, BudgetComparison,
                 BudgetResponse, Error, InvalidValueError)
INPUT_MODELS = (BudgetRunRequest,)


def _collect(components: dict, model: type[BaseModel], mode: str) -> None:
    schema = model.model_json_schema(ref_template=REF, mode=mode)
    for name, definition in schema.pop("$defs", {}).items():
        _put(components, name, definition)
    _put(components, model.__name__, schema)


def _put(components: dict, name: str, schema: dict) -> None:
    if name in components and components[name] != schema:
        raise ValueError(f"two different schemas are named {name!r}")
    components[name] = schema


def _ref(name: str) -> dict:
    return {"$ref": REF.format(model=name)}


def _json(name: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


AS_OF = {"name": "as_of", "in": "query", "required": False, "description": "Evaluation date (default: today)",
         "schema": {"type": "string", "format": "date"}}
SET = {"name": "set", "in": "query", "required": False, "style": "form", "explode": True,
       "description": "What-if: override a parameter, NAME=VALUE (repeat for several; the names are in "
                      "GET /api/v1/measures)",
       "schema": {"type": "array", "items": {"type": "string", "pattern": "^[^=]+=.*$"}}}
LANG = {"name": "lang", "in": "query", "required": False, "description": "The result workbook's language",
        "schema": {"type": "string", "enum": ["zh", "en"], "default": "zh"}}
BEARER = [{"bearerAuth": []}]

ERRORS = {
    "BadRequest": "invalid_json, invalid_date, invalid_parameter, missing_file or unreadable_list",
    "Unauthorized": "No token, or a token that belongs to no enabled bureau account",
    "Forbidden": "The account's role does not allow this (see the roles in the README)",
    "NotFound": "No such measure, run or workbook",
    "Conflict": "The screening run is not done (queued, running or failed)",
    "PayloadTooLarge": "The upload or the JSON body is larger than the server's limit",
    "UnsupportedMediaType": "The body is not of the content type the endpoint takes",
    "InvalidValue": "invalid_value: the firm object holds wrong values (details: one entry per value)",
    "ServiceUnavailable": "too_many_jobs (the screening queue is full) or database_busy (another change holds the "
                          "database): try again after the Retry-After header's seconds",
    "EventRejected": "event_rejected: an event of the batch is refused (details: its index, key and reason); "
                     "nothing was posted",
    "PayoutRefused": "refused: the step does not fit what the batch and the ledger hold, e.g. a total over what is "
                     "left of the pool, with the figures (details: the reason in Chinese); nothing changed",
}


def _upload_body(extra: dict | None = None) -> dict:
    properties = {
        "file": {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream",
                 "description": "The enterprise list: an Excel workbook (.xlsx) or a CSV file, told by its content"},
        "as_of": {"type": "string", "format": "date"},
        "set": {"type": "array", "items": {"type": "string"}, "description": "NAME=VALUE, repeat for several"},
        **(extra or {}),
    }
    return {"type": "object", "properties": properties, "required": ["file"]}


def _example_value(p) -> str:
    value = next((v for _, v in reversed(p.values) if v is not None), "")
    return ",".join(value) if isinstance(value, tuple) else str(value)


BATCH_NUMBER = {"name": "number", "in": "path", "required": True, "schema": {"type": "string"},
                "description": "The batch number (批次号), e.g. MSJX-2025-11-001"}
OBJECT = {"type": "object"}


def _payout_steps(errors) -> dict:
    """The steps of a 免申即享 batch (webapp/payout_api.py): each answers with the batch as GET
    /api/v1/payouts/{number} shows it, or a JSON error naming why the step does not fit (docs/payout.md)."""
    batch = {"description": "The batch after the step", "content": {"application/json": {"schema": OBJECT}}}
    refused = {"422": {"$ref": "#/components/responses/PayoutRefused"}}

    def step(operation: str, summary: str, description: str, body: dict | None = None, answer: dict = batch,
             status: str = "200") -> dict:
        op = {"operationId": operation, "tags": ["payouts"], "summary": summary, "description": description,
              "security": BEARER, "parameters": [] if operation == "createPayoutBatch" else [BATCH_NUMBER],
              "responses": {status: answer, **refused,
                            **errors("BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict",
                                     "PayloadTooLarge")}}
        if body is not None:
            op["requestBody"] = {"required": operation != "approvePayoutBatch",
                                 "content": {"application/json": {"schema": body}}}
        return {"post": op}

    text = {"type": "string"}
    return {
        "/api/v1/payouts/{number}/ask": step(
            "askPayoutFirms", "Ask the firms of a proposed batch",
            "One one-time confirmation code per firm (`huiqi payout ask`); the codes are in this answer only, the "
            "server keeps their keyed hashes. Needs propose_payout.",
            answer={"description": "The codes for the notices and the SMS system", "content": {"application/json": {
                "schema": {"type": "object", "properties": {
                    "number": text, "codes": {"type": "array", "items": {"type": "object", "properties": {
                        "credit_code": text, "name": {"type": ["string", "null"]},
                        "phone": {"type": ["string", "null"]}, "code": text,
                        "expires": {"type": "string", "format": "date"}}}}}}}}}),
        "/api/v1/payouts/{number}/answers": step(
            "recordPayoutAnswer", "Record a firm's answer received on paper",
            "A confirmation with the receiving account (户名 the registered firm name, 开户行, 账号 of 8 to 30 "
            "digits: each wrong value in `details`), or a decline (`huiqi payout confirm|decline`). Needs "
            "propose_payout.",
            {"type": "object", "required": ["credit_code", "decision"], "properties": {
                "credit_code": text, "decision": {"type": "string", "enum": ["confirm", "decline"]},
                "account_name": text, "bank": text, "account_no": text}}),
        "/api/v1/payouts/{number}/review": step(
            "reviewPayoutBatch", "Review an asked batch",
            "The confirmed payouts go to the finance bureau, the unanswered ones are withdrawn (`huiqi payout "
            "review`). Needs propose_payout."),
        "/api/v1/payouts/{number}/approve": step(
            "approvePayoutBatch", "Approve a reviewed batch, whole or in part",
            "Never by the account that proposed it (403, two-person rule); an approval that would overdraw the "
            "pool is refused with the figures (`huiqi payout approve`). Needs approve_payout.",
            {"type": "object", "properties": {"leave_out": {"type": "array", "items": text,
                                                            "description": "Credit codes to leave out"}}}),
        "/api/v1/payouts/{number}/pay": step(
            "payPayoutBatch", "Record the payment of an approved batch",
            "The approved payouts are posted to the ledger as paid, so the budget's actuals include them (`huiqi "
            "payout pay`). Needs approve_payout."),
        "/api/v1/payouts/{number}/payments": {"get": {
            "operationId": "payoutPayments", "tags": ["payouts"], "summary": "The payment list of an approved batch",
            "description": "Columns 序号, 统一社会信用代码, 户名, 开户行, 账号 (in full), 金额(元), 政策, 批次号 "
                           "(docs/payout.md; `huiqi payout export`). Needs approve_payout.",
            "security": BEARER,
            "parameters": [BATCH_NUMBER, {"name": "format", "in": "query", "required": False,
                                          "schema": {"type": "string", "enum": ["xlsx", "csv"], "default": "xlsx"}}],
            "responses": {"200": {"description": "The payment list", "content": {
                XLSX: {"schema": {"type": "string", "format": "binary", "contentMediaType": XLSX}},
                "text/csv": {"schema": {"type": "string"}}}},
                **errors("BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict")}}},
    }


def openapi_document(rules: RuleSet) -> dict:
    firm, items = firm_models(rules)
    schemas: dict[str, dict] = {}
    for model in (firm, *items.values(), *INPUT_MODELS):
        _collect(schemas, model, "validation")
    for model in OUTPUT_MODELS:
        _collect(schemas, model, "serialization")

    set_example = {**SET, "example": [f"{name}={_example_value(p)}" for name, p in list(rules.params.items())[:1]]}

    def errors(*names: str) -> dict:
        codes = {"BadRequest": "400", "Unauthorized": "401", "Forbidden": "403", "NotFound": "404",
                 "Conflict": "409", "PayloadTooLarge": "413", "UnsupportedMediaType": "415", "InvalidValue": "422",
                 "ServiceUnavailable": "503"}
        return {codes[n]: {"$ref": f"#/components/responses/{n}"} for n in names}

    workbook = {"description": "The result workbook",
                "content": {XLSX: {"schema": {"type": "string", "format": "binary", "contentMediaType": XLSX}}}}
    paths = {
        "/api/v1/measures": {"get": {
            "operationId": "listMeasures", "tags": ["measures"], "summary": "The measure catalogue",
            "parameters": [AS_OF],
            "responses": {"200": _json("Catalogue", "Every measure, its conditions, parameters and sources"),
                          **errors("BadRequest")}}},
        "/api/v1/measures/{measure_id}": {"get": {
            "operationId": "getMeasure", "tags": ["measures"], "summary": "One measure of the catalogue",
            "parameters": [{"name": "measure_id", "in": "path", "required": True, "schema": {"type": "string"},
                            "example": rules.measure_list()[0].id}, AS_OF],
            "responses": {"200": _json("MeasureEntry", "The measure"), **errors("BadRequest", "NotFound")}}},
        "/api/v1/evaluate": {"post": {
            "operationId": "evaluate", "tags": ["firms"], "summary": "Check one firm against every measure",
            "description": "The same as `huiqi check FIRM.json --format json`: the body is the FIRM.json object.",
            "security": [], "parameters": [AS_OF, set_example],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Firm")}}},
            "responses": {"200": _json("CheckResult", "The check object"),
                          **errors("BadRequest", "PayloadTooLarge", "UnsupportedMediaType", "InvalidValue")}}},
        "/api/v1/screen": {"post": {
            "operationId": "screen", "tags": ["bureaus"], "summary": "Screen an enterprise list",
            "description": "Records a screening run (in the history, as on the screening page) and screens the list "
                           "in the background: the answer is 202 with the run's status link (also in Location). "
                           "GET it until the status is done (the summary, the first 200 rejected rows and the "
                           "workbook's link) or failed (the reason). When the server's screening queue is full the "
                           "answer is 503 with Retry-After.",
            "security": BEARER, "parameters": [AS_OF, SET, LANG],
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _upload_body({
                "lang": {"type": "string", "enum": ["zh", "en"], "description": "The workbook's language"}})}}},
            "responses": {"202": {**_json("ScreenAccepted", "The run is queued; follow its status link"),
                                  "headers": {"Location": {"description": "The run's status link",
                                                           "schema": {"type": "string"}}}},
                          **errors("BadRequest", "Unauthorized", "Forbidden", "PayloadTooLarge",
                                   "UnsupportedMediaType", "ServiceUnavailable")}}},
        "/api/v1/runs/{run_id}": {"get": {
            "operationId": "runStatus", "tags": ["bureaus"], "summary": "A screening run's status and result",
            "security": BEARER,
            "parameters": [{"name": "run_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "responses": {"200": _json("ScreeningRunStatus", "The run's status, progress and, when done, summary"),
                          **errors("Unauthorized", "Forbidden", "NotFound")}}},
        "/api/v1/runs/{run_id}/workbook": {"get": {
            "operationId": "runWorkbook", "tags": ["bureaus"], "summary": "The result workbook of a screening run",
            "security": BEARER,
            "parameters": [{"name": "run_id", "in": "path", "required": True,
                            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID}}],
            "responses": {"200": workbook, **errors("Unauthorized", "Forbidden", "NotFound", "Conflict")}}},
        "/api/v1/budget": {"post": {
            "operationId": "budget", "tags": ["bureaus"], "summary": "The subsidy budget of a list",
            "description": "A list uploaded, or `{\"run\": id}` naming a done screening run. Without `set` the "
                           "figures (`huiqi budget --format json`); with `set` the baseline, the scenario and the "
                           "delta.",
            "security": BEARER, "parameters": [AS_OF, SET],
            "requestBody": {"required": True, "content": {
                "multipart/form-data": {"schema": _upload_body()},
                "application/json": {"schema": _ref("BudgetRunRequest")}}},
            "responses": {"200": _json("BudgetResponse", "The figures, or baseline / scenario / delta"),
                          **errors("BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict",
                                   "PayloadTooLarge", "UnsupportedMediaType")}}},
        "/api/v1/ledger/events": {"post": {
            "operationId": "postLedgerEvents", "tags": ["ledger"], "summary": "Post a batch of ledger events",
            "description": "Voucher and IP-pledge loan events with business dates and idempotency keys, applied whole "
                           "or not at all (`huiqi ledger post`).",
            "security": BEARER,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "oneOf": [{"type": "array", "items": {"type": "object"}, "minItems": 1},
                          {"type": "object", "properties": {"events": {"type": "array", "items": {"type": "object"}}},
                           "required": ["events"]}]}}}},
            "responses": {"200": {"description": "Applied and duplicate counts", "content": {"application/json": {
                "schema": {"type": "object", "properties": {"applied": {"type": "integer"},
                                                            "duplicates": {"type": "integer"}}}}}},
                          "422": {"$ref": "#/components/responses/EventRejected"},
                          **errors("BadRequest", "Unauthorized", "Forbidden", "Conflict", "PayloadTooLarge",
                                   "UnsupportedMediaType", "ServiceUnavailable")}}},
        "/api/v1/ledger/status": {"get": {
            "operationId": "ledgerStatus", "tags": ["ledger"], "summary": "Pools, vouchers, loans (and one firm)",
            "security": BEARER,
            "parameters": [{"name": "firm", "in": "query", "required": False, "schema": {"type": "string"},
                            "description": "A credit code: that firm's totals and history"}],
            "responses": {"200": {"description": "The ledger's state", "content": {"application/json": {
                "schema": {"type": "object"}}}}, **errors("Unauthorized", "Forbidden")}}},
        "/api/v1/ledger/actuals": {"get": {
            "operationId": "ledgerActuals", "tags": ["ledger"], "summary": "The pools' actuals of a year",
            "security": BEARER,
            "parameters": [{"name": "year", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 9999}}],
            "responses": {"200": {"description": "Committed, paid, expired, clawed back and remaining per measure",
                                  "content": {"application/json": {"schema": {"type": "object"}}}},
                          **errors("BadRequest", "Unauthorized", "Forbidden")}}},
        # --- issue 13 免申即享 (webapp/payout_api.py) ---
        "/api/v1/payouts": {"get": {
            "operationId": "payoutBatches", "tags": ["payouts"], "summary": "免申即享 batches",
            "description": "Every batch: number, measure, policy year, state (proposed, asked, reviewed, approved, "
                           "paid), firms, who proposed and approved it, the run (docs/payout.md).",
            "security": BEARER,
            "responses": {"200": {"description": "The batches, newest first", "content": {"application/json": {
                "schema": {"type": "object", "properties": {"batches": {"type": "array",
                                                                        "items": {"type": "object"}}}}}}},
                          **errors("Unauthorized", "Forbidden")}},
            "post": {
                "operationId": "createPayoutBatch", "tags": ["payouts"], "summary": "Make a batch from a run",
                "description": "A batch for one measure and policy year from a finished screening run (`huiqi payout "
                               "create`): 409 while another batch of the measure and year is not finished, 422 when "
                               "its total exceeds what is left of the pool (with the figures) or no firm is payable. "
                               "Needs propose_payout.",
                "security": BEARER,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["run", "measure", "policy_year"], "properties": {
                        "run": {"type": "integer"}, "measure": {"type": "string"},
                        "policy_year": {"type": "integer", "minimum": 2000, "maximum": 2100}}}}}},
                "responses": {"201": {"description": "The batch made", "content": {"application/json": {
                    "schema": {"type": "object"}}}}, "422": {"$ref": "#/components/responses/PayoutRefused"},
                    **errors("BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict", "PayloadTooLarge")}}},
        "/api/v1/payouts/{number}": {"get": {
            "operationId": "payoutBatch", "tags": ["payouts"], "summary": "One 免申即享 batch",
            "description": "The batch with its firms (amount in yuan, state, how each answered, the account masked), "
                           "the undetermined firms and those left out as already held by the ledger.",
            "security": BEARER,
            "parameters": [{"name": "number", "in": "path", "required": True, "schema": {"type": "string"},
                            "description": "The batch number (批次号), e.g. MSJX-2025-11-001"}],
            "responses": {"200": {"description": "The batch", "content": {"application/json": {
                "schema": {"type": "object"}}}}, **errors("Unauthorized", "Forbidden", "NotFound")}}},
        **_payout_steps(errors),
        "/api/openapi.json": {"get": {
            "operationId": "openapi", "tags": ["meta"], "summary": "This document", "security": [],
            "responses": {"200": {"description": "The OpenAPI 3.1 document",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}}}},
    }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "Huiqi (惠企) API",
            "version": API_VERSION,
            "description": "Eligibility, amounts and budgets for Taizhou's science-and-technology support measures. "
                           f"Rules version {rules.version}. Amounts are in 万元. Errors are JSON "
                           '`{"error": {"code", "message", "details"}}`.',
            "x-rules-version": rules.version,
        },
        "tags": [{"name": "measures"}, {"name": "firms"}, {"name": "bureaus"}, {"name": "ledger"}, {"name": "payouts"}, {"name": "meta"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {name: _json("InvalidValueError" if name == "InvalidValue" else "Error", description)
                          for name, description in ERRORS.items()},
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "The API token of a bureau account (`Authorization: Bearer <token>`, the scheme in any "
                               "case); what it may do follows the account's role"}},
        },
    }


_DOCS: dict[str, dict] = {}
_LOCK = threading.Lock()


def cached_openapi_document(rules: RuleSet) -> dict:
    """The document, built once per rules version."""
    with _LOCK:
        doc = _DOCS.get(rules.version)
        if doc is None:
            doc = _DOCS[rules.version] = openapi_document(rules)
        return doc

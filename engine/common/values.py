"""Scalar value parsers shared by JSON, the web form and spreadsheet cells (MEASURES.md §2 "Reading values").

Each ``parse_<type>(value, spec, as_of=None)`` returns the normalised value, None for unknown (None, an empty or
whitespace-only string), or raises ValueProblem for a wrong value. ``spec`` is a FieldSpec (or None: no checks);
after the type is parsed the field's own checks (min, max, not_after_as_of) are applied. A wrong value is never
turned into unknown.
"""

from __future__ import annotations

import calendar
import math
import numbers
import operator
import re
import unicodedata
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Mapping

import numpy as np


class ValueProblem(ValueError):
    """A value that does not fit its field. reason_en / reason_zh follow "value 'x' ..."."""

    def __init__(self, reason_en: str, reason_zh: str, code: str | None = None):
        self.reason_en = reason_en
        self.reason_zh = reason_zh
        self.code = code
        super().__init__(reason_en)


# ---------------------------------------------------------------------------------------------------------------------
# folding

_EXTRA_FOLD = str.maketrans({"\u2212": "-"})  # MINUS SIGN, which NFKC leaves alone


def fold(text: str) -> str:
    """NFKC (full-width digits, letters, punctuation and spaces to half-width), trimmed."""
    if text.isascii():  # NFKC leaves ASCII as it is, and the extra fold maps no ASCII character
        return text.strip()
    return unicodedata.normalize("NFKC", text).translate(_EXTRA_FOLD).strip()


_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(data: Any) -> bool:
    """Whether parsed JSON holds a lone surrogate (an escaped "\\ud800" is valid JSON but no text): such a value
    cannot be stored, shown or encoded as UTF-8, so it is refused where JSON is read."""
    if isinstance(data, str):
        return _SURROGATE.search(data) is not None
    if isinstance(data, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in data.items())
    if isinstance(data, list):
        return any(has_lone_surrogate(v) for v in data)
    return False


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_number(value: Any) -> bool:
    return isinstance(value, (numbers.Real, Decimal)) and not isinstance(value, bool)


def _is_finite(number: Any) -> bool:
    return number.is_finite() if isinstance(number, Decimal) else math.isfinite(number)


# ---------------------------------------------------------------------------------------------------------------------
# numbers

_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+")
_NUMBER_WITH_TEXT = re.compile(r"[+-]?[\d,]*\.?\d+\s*[^\d.,\s+-].*")


def _not_a_number(value: Any) -> ValueProblem:
    if isinstance(value, str) and _NUMBER_WITH_TEXT.fullmatch(fold(value)):
        return ValueProblem("is not a number: write the number alone, without units or other text",
                            "不是数字：请只填写数字，不要带单位或其他文字", "not_a_number")
    return ValueProblem("is not a number", "不是数字", "not_a_number")


# Every number a firm can state (万元, counts, percentages) lies far below 10^12: the largest firm's revenue is
# about 10^8 万元. A larger value is a typing or export mistake, and refusing it keeps exact arithmetic bounded.
MAX_INTEGER_DIGITS = 12
_LIMIT = Decimal(10) ** MAX_INTEGER_DIGITS
MAX_NUMBER_TEXT = 64  # characters of a number written as text


def _too_large() -> ValueProblem:
    return ValueProblem(f"is too large: a number here has at most {MAX_INTEGER_DIGITS} digits before the decimal point",
                        f"数值过大：整数部分最多 {MAX_INTEGER_DIGITS} 位", "too_large")


def _bounded(number: Decimal) -> Decimal:
    if abs(number) >= _LIMIT:
        raise _too_large()
    return number


def exact_number(value: Any) -> Any:
    """A float (a spreadsheet number cell, a JSON number) as the shortest decimal that reads back as the same float,
    which is what was typed (1874.48, not its binary neighbour); other values unchanged."""
    return Decimal(repr(value)) if type(value) is float else value


def is_number_text(text: str) -> bool:
    """Whether folded text is a number as the parsers read it (digits, thousands commas, a decimal point)."""
    return _NUMBER.fullmatch(text) is not None


def _to_decimal(value: Any) -> Decimal | None:
    kind = type(value)
    if kind is int:  # a JSON whole number: as numbers.Integral below, without the abstract class check
        if abs(value) >= _LIMIT:
            raise _too_large()
        return Decimal(value)
    if kind is float:  # a JSON number with a fraction: as numbers.Real below
        if not math.isfinite(value):
            raise _not_a_number(value)
        return _bounded(Decimal(repr(value)))
    if _is_blank(value):
        return None
    if isinstance(value, bool):
        raise ValueProblem("is not a number (a yes/no value was given)", "不是数字（给出的是“是/否”值）", "not_a_number")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _not_a_number(value)
        return _bounded(value)
    if isinstance(value, numbers.Integral):
        value = int(value)
        if abs(value) >= _LIMIT:  # before Decimal(), which a 5,000-digit integer would make slow
            raise _too_large()
        return Decimal(value)
    if isinstance(value, numbers.Real):
        f = float(value)
        if not math.isfinite(f):
            raise _not_a_number(value)
        return _bounded(Decimal(repr(f)))
    if isinstance(value, str):
        text = fold(value)
        if _NUMBER.fullmatch(text):
            digits = text.replace(",", "").lstrip("+-").split(".")[0].lstrip("0")
            if len(digits) > MAX_INTEGER_DIGITS:
                raise _too_large()
            if len(text) > MAX_NUMBER_TEXT:
                raise ValueProblem(f"has too many digits: write at most {MAX_NUMBER_TEXT} characters",
                                   f"位数过多：最多 {MAX_NUMBER_TEXT} 个字符", "too_many_digits")
            return Decimal(text.replace(",", ""))
    raise _not_a_number(value)


_INT_LIMIT = 10 ** MAX_INTEGER_DIGITS


def parse_money(value: Any, spec: Any = None, as_of: date | None = None) -> Decimal | None:
    """A decimal number exactly as entered (万元 for money fields)."""
    return check_value(_to_decimal(value), spec, as_of)


def parse_decimal(value: Any, spec: Any = None, as_of: date | None = None) -> Decimal | None:
    """A decimal number; a field whose unit is a ratio also takes a percentage (`12%` is 0.12, MEASURES-2 §2.1)."""
    unit = getattr(spec, "unit", None) or {}
    if isinstance(value, str) and unit.get("en") == "ratio":
        text = fold(value).strip()
        if text.endswith("%"):
            number = _to_decimal(text[:-1].strip())
            return check_value(None if number is None else number / 100, spec, as_of)
    return parse_money(value, spec, as_of)


def parse_integer(value: Any, spec: Any = None, as_of: date | None = None) -> int | None:
    if type(value) is int and -_INT_LIMIT < value < _INT_LIMIT:  # a JSON whole number: what the Decimal gives back
        return check_value(value, spec, as_of)
    d = _to_decimal(value)
    if d is None:
        return None
    if d != d.to_integral_value():
        raise ValueProblem("is not a whole number", "不是整数", "not_an_integer")
    return check_value(int(d), spec, as_of)


# ---------------------------------------------------------------------------------------------------------------------
# dates

_EXCEL_EPOCH = date(1899, 12, 30)
_EXCEL_MAX = (date(9999, 12, 31) - _EXCEL_EPOCH).days
_DATE_SEP = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_DATE_ZH = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_DATE_FORMS_EN = "use YYYY-MM-DD, YYYY/M/D or YYYY年M月D日"
_DATE_FORMS_ZH = "请用 YYYY-MM-DD、YYYY/M/D 或 YYYY年M月D日"


def _make_date(y: int, m: int, d: int) -> date:
    if not 1 <= y <= 9999:
        raise ValueProblem(f"is not a real date: there is no year {y}", f"日期不存在：没有 {y} 年", "impossible_date")
    if not 1 <= m <= 12:
        raise ValueProblem(f"is not a real date: there is no month {m}", f"日期不存在：没有 {m} 月", "impossible_date")
    last = calendar.monthrange(y, m)[1]
    if not 1 <= d <= last:
        month = date(y, m, 1).strftime("%B")
        raise ValueProblem(f"is not a real date: {month} {y} has {last} days",
                           f"日期不存在：{y}年{m}月只有{last}天", "impossible_date")
    return date(y, m, d)


def _from_excel_serial(value: Any) -> date:
    serial = math.floor(value)  # the time of day is ignored
    if serial == 60:
        raise ValueProblem("is Excel's day number for 29 February 1900, which did not exist",
                           "是 Excel 中 1900年2月29日 的日期序号，该日期不存在", "impossible_date")
    if not 1 <= serial <= _EXCEL_MAX:
        raise ValueProblem(f"is not a date (an Excel date number lies between 1 and {_EXCEL_MAX}; {_DATE_FORMS_EN})",
                           f"不是日期（Excel 日期序号应在 1 到 {_EXCEL_MAX} 之间；{_DATE_FORMS_ZH}）", "not_a_date")
    # 1900 date system: serials below 60 count from 1899-12-31, later ones skip Excel's phantom 1900-02-29
    return _EXCEL_EPOCH + timedelta(days=serial + (1 if serial < 60 else 0))


def parse_date(value: Any, spec: Any = None, as_of: date | None = None) -> date | None:
    if type(value) is str and len(value) == 10 and value[4] == "-" == value[7] and value.isascii():
        # YYYY-MM-DD, as JSON mostly gives it: the form _DATE_SEP reads, without folding and the pattern; anything
        # else (other digits, an impossible date) takes the path below, which words the problem
        y, m, d = value[:4], value[5:7], value[8:]
        if y.isdigit() and m.isdigit() and d.isdigit():
            try:
                return check_value(date(int(y), int(m), int(d)), spec, as_of)
            except ValueError as problem:
                if isinstance(problem, ValueProblem):
                    raise
    if _is_blank(value):
        return None
    if isinstance(value, datetime):
        result = value.date()
    elif isinstance(value, date):
        result = value
    elif _is_number(value):
        if not _is_finite(value):
            raise ValueProblem(f"is not a date ({_DATE_FORMS_EN})", f"不是日期（{_DATE_FORMS_ZH}）", "not_a_date")
        result = _from_excel_serial(value)
    elif isinstance(value, str):
        text = fold(value)
        m = _DATE_SEP.fullmatch(text)
        if m:
            result = _make_date(int(m[1]), int(m[3]), int(m[4]))
        elif m := _DATE_ZH.fullmatch(text):
            result = _make_date(int(m[1]), int(m[2]), int(m[3]))
        else:
            raise ValueProblem(f"is not a date ({_DATE_FORMS_EN})", f"不是日期（{_DATE_FORMS_ZH}）", "not_a_date")
    else:
        raise ValueProblem(f"is not a date ({_DATE_FORMS_EN})", f"不是日期（{_DATE_FORMS_ZH}）", "not_a_date")
    return check_value(result, spec, as_of)


# ---------------------------------------------------------------------------------------------------------------------
# yes/no and codes

_YES_NO = {"是": True, "否": False, "y": True, "n": False, "yes": True, "no": False,
           "true": True, "false": False, "1": True, "0": False}


def parse_yesno(value: Any, spec: Any = None, as_of: date | None = None) -> bool | None:
    if type(value) is bool:  # a JSON true / false
        return value
    if _is_blank(value):
        return None
    if isinstance(value, bool):
        return value
    if _is_number(value) and _is_finite(value) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        answer = _YES_NO.get(fold(value).casefold())
        if answer is not None:
            return answer
    raise ValueProblem("is not yes or no (use 是/否, Y/N, yes/no, true/false or 1/0)",
                       "不是“是/否”（可填 是/否、Y/N、yes/no、true/false 或 1/0）", "not_yes_no")


def code_key(text: str) -> str:
    return fold(text).casefold()


def build_code_index(codes: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Lookup from every accepted spelling (code, Chinese label, English label; folded, case-insensitive) to the code.
    Raises ValueError naming a spelling that two codes share."""
    index: dict[str, str] = {}
    for code, labels in codes.items():
        for spelling in (code, labels["zh"], labels["en"]):
            key = code_key(spelling)
            if index.setdefault(key, code) != code:
                raise ValueError(f"'{spelling}' would mean both '{index[key]}' and '{code}'")
    return index


def parse_code(value: Any, spec: Any, as_of: date | None = None) -> str | None:
    if _is_blank(value):
        return None
    index = getattr(spec, "code_index", None) or build_code_index(spec.codes)
    if isinstance(value, str):
        # an ASCII spelling found as it is (the code itself, as JSON mostly gives it) is its own code_key: the
        # index's keys are folded, stripped and case-folded already
        code = index.get(value) if value.isascii() else None
        if code is not None:
            return code
        code = index.get(code_key(value))
        if code is not None:
            return code
    en = ", ".join(f"{code} ({labels['zh']}, {labels['en']})" for code, labels in spec.codes.items())
    zh = "、".join(f"{labels['zh']} ({code})" for code, labels in spec.codes.items())
    raise ValueProblem(f"is not one of the accepted values: {en}", f"不是可选值之一：{zh}", "unknown_code")


# ---------------------------------------------------------------------------------------------------------------------
# text-like types


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # tab and line breaks are ordinary text


def _text(value: Any) -> str | None:
    """A value as text: strings as given, whole numbers without a trailing '.0' (a spreadsheet may store a loan
    number as a number). Dates, yes/no values and other objects are not text."""
    if isinstance(value, str):
        control = _CONTROL.search(value)
        if control is not None:
            code = f"U+{ord(control.group()):04X}"
            raise ValueProblem(f"contains a control character ({code}): remove it",
                               f"含有控制字符（{code}），请删除", "control_character")
        return value
    if _is_number(value):
        if not _is_finite(value):
            return None
        if isinstance(value, numbers.Integral) or value == int(value):
            return str(int(value))
        return str(value)
    return None


def parse_text(value: Any, spec: Any = None, as_of: date | None = None) -> str | None:
    if _is_blank(value):
        return None
    text = _text(value)
    if text is None:
        raise ValueProblem("is not text", "不是文本", "not_text")
    return text.strip()


def parse_district(value: Any, spec: Any = None, as_of: date | None = None) -> str | None:
    if _is_blank(value):
        return None
    text = _text(value)
    if text is None:
        raise ValueProblem("is not text", "不是文本", "not_text")
    text = fold(text)
    # the forms people write (台州市路桥区, 路桥) -> the canonical district, from rules/jurisdictions.yaml
    return (getattr(spec, "code_index", None) or {}).get(code_key(text), text)


_INDUSTRY_CODE = re.compile(r"[A-T][0-9]{2,4}")


def parse_industry_code(value: Any, spec: Any = None, as_of: date | None = None) -> str | None:
    if _is_blank(value):
        return None
    if isinstance(value, str):
        text = fold(value).upper()
        if _INDUSTRY_CODE.fullmatch(text):
            return text
    raise ValueProblem("is not a GB/T 4754-2017 industry code (a letter A–T and 2 to 4 digits, e.g. C3511)",
                       "不是国民经济行业代码（GB/T 4754-2017：一个字母 A–T 加 2 至 4 位数字，如 C3511）",
                       "bad_industry_code")


# GB 32100-2015 统一社会信用代码: 18 characters from this set; the last is a check character.
CREDIT_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_CODE_VALUE = {c: i for i, c in enumerate(CREDIT_CODE_CHARS)}


def credit_code_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a credit code (upper case)."""
    if len(first17) != len(_CREDIT_CODE_WEIGHTS):
        raise ValueError(f"expected {len(_CREDIT_CODE_WEIGHTS)} characters, got {len(first17)}")  # as zip(strict=True)
    total = sum(map(operator.mul, map(_CREDIT_CODE_VALUE.__getitem__, first17), _CREDIT_CODE_WEIGHTS))
    return CREDIT_CODE_CHARS[(31 - total % 31) % 31]


def parse_credit_code(value: Any, spec: Any = None, as_of: date | None = None) -> str | None:
    if _is_blank(value):
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = str(int(value))  # an all-digit code stored as a whole number
    if not isinstance(value, str):
        raise ValueProblem("is not a credit code: enter the 18 characters as text",
                           "不是统一社会信用代码：请以文本形式填写 18 位代码", "bad_credit_code")
    code = fold(value).upper()
    if len(code) != 18:
        raise ValueProblem(f"has {len(code)} characters; a unified social credit code has 18",
                           f"长度为 {len(code)} 位，统一社会信用代码应为 18 位", "bad_credit_code")
    wrong = next((c for c in code if c not in _CREDIT_CODE_VALUE), None)
    if wrong is not None:
        raise ValueProblem(f"contains '{wrong}', which cannot appear in a unified social credit code "
                           "(digits and capital letters except I, O, S, V, Z)",
                           f"含有字符 '{wrong}'，统一社会信用代码只用数字和除 I、O、S、V、Z 以外的大写字母",
                           "bad_credit_code")
    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        raise ValueProblem(f"has the check character '{code[17]}', but the first 17 characters give '{expected}'",
                           f"校验位为 '{code[17]}'，按前 17 位计算应为 '{expected}'", "bad_check_character")
    return code


# ---------------------------------------------------------------------------------------------------------------------
# checks and dispatch


def check_value(value: Any, spec: Any, as_of: date | None = None) -> Any:
    """Apply the field's own checks (min, max inclusive; not_after_as_of when as_of is given) to a parsed value.
    Checks between fields (at_most, at_least) belong to the record and are applied by engine/inputs/firm.py."""
    if value is None or spec is None or not spec.checks:
        return value
    low, above, high, not_after_as_of = _bounds(spec.checks)
    if low is not None and value < low:
        raise ValueProblem(f"is below the minimum {low}", f"小于最小值 {low}", "below_min")
    if above is not None and value <= above:
        raise ValueProblem(f"must be above {above}", f"应大于 {above}", "not_above")
    if high is not None and value > high:
        raise ValueProblem(f"is above the maximum {high}", f"大于最大值 {high}", "above_max")
    if not_after_as_of and as_of is not None and value > (as_of := _day_of(as_of)):
        raise ValueProblem(f"is after the evaluation date {as_of.isoformat()}",
                           f"晚于评估日期 {as_of.isoformat()}", "after_as_of")
    return value


_BOUNDS: dict = {}  # id(a field's checks) -> (the checks, their min, above, max, not_after_as_of)


def _bounds(checks: Mapping) -> tuple:
    """A field's own checks as check_value reads them, looked up once per checks mapping (a field is parsed for every
    firm; four lookups in its read-only mapping each time cost more than its check)."""
    found = _BOUNDS.get(id(checks))
    if found is None or found[0] is not checks:  # the mapping is kept here, so its id is not reused meanwhile
        found = _BOUNDS[id(checks)] = (checks, (checks.get("min"), checks.get("above"), checks.get("max"),
                                                checks.get("not_after_as_of")))
    return found[1]


def _day_of(as_of: date) -> date:
    return as_of.date() if isinstance(as_of, datetime) else as_of


PARSERS: dict[str, Callable[..., Any]] = {
    "text": parse_text,
    "credit_code": parse_credit_code,
    "district": parse_district,
    "date": parse_date,
    "industry_code": parse_industry_code,
    "code": parse_code,
    "integer": parse_integer,
    "money": parse_money,
    "decimal": parse_decimal,
    "yesno": parse_yesno,
}
NUMERIC_TYPES = frozenset({"integer", "money", "decimal"})
ORDERED_TYPES = NUMERIC_TYPES | {"date"}  # types that at_most / at_least can compare


def parse_value(value: Any, spec: Any, as_of: date | None = None) -> Any:
    """Parse one scalar value for its field (spec.type picks the parser)."""
    return PARSERS[spec.type](value, spec, as_of)


# ---------------------------------------------------------------------------------------------------------------------
# spreadsheet headers

_SPACES = re.compile(r"\s+")
_SUFFIX = re.compile(r"\(([^()]*)\)$")


def _header_key(text: str) -> str:
    return _SPACES.sub("", unicodedata.normalize("NFKC", text)).lower()


def _split_header(text: str) -> tuple[str, str | None]:
    """(folded, space-free, lower-case header without its trailing parenthesised suffix, the suffix or None)."""
    folded = _header_key(text)
    m = _SUFFIX.search(folded)
    return (folded[: m.start()], m[1]) if m else (folded, None)


def normalize_header(text: str) -> str:
    """Fold full-width forms, drop all spaces and a trailing parenthesised suffix such as (万元), lower-case."""
    return _split_header(text)[0]


def _units(spec: Any) -> set[str]:
    """The unit spellings a field's header may carry: the suffix of its Chinese label, its unit's zh and en."""
    units = {_split_header(spec.zh)[1]} - {None}
    if getattr(spec, "unit", None):
        units |= {_header_key(spec.unit[lang]) for lang in ("zh", "en")}
    return units


def match_header(text: Any, names: Mapping[str, Any]) -> str | None:
    """The field whose Chinese label or English name matches a column header, or None.

    A unit suffix may be left out or written in full- or half-width parentheses, but a header stating a unit that
    differs from the field's own (营业收入(元) for a field in 万元) matches nothing, so that an amount in 元 is
    never read as 万元."""
    if text is None:
        return None
    key, unit = _split_header(str(text))
    if not key:
        return None
    for name, spec in names.items():
        if key == normalize_header(name) or key == normalize_header(spec.zh):
            units = _units(spec)
            return name if unit is None or not units or unit in units else None
    return None


# ---------------------------------------------------------------------------------------------------------------------
# vectorised shortcuts: which distinct values a parser would return unchanged (the rest still go to the parser)

_PYTHON_SPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace())  # what str.strip() removes
_NOT_A_CODE_CHARACTER = 255
_CREDIT_CODE_VALUES = np.full(256, _NOT_A_CODE_CHARACTER, np.uint8)
_CREDIT_CODE_VALUES[np.frombuffer(CREDIT_CODE_CHARS.encode(), np.uint8)] = np.arange(len(CREDIT_CODE_CHARS))
_C1_LEAD = 0xC2  # UTF-8 of U+0080–U+009F (C1 controls, _CONTROL): 0xC2 followed by 0x80–0x9F


def _string_buffers(texts) -> tuple:
    """(the array as one large_string chunk, its n + 1 byte offsets, its UTF-8 bytes as uint8)."""
    import pyarrow as pa

    texts = texts.cast(pa.large_string())
    texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    offsets = np.frombuffer(texts.buffers()[1], np.int64)[texts.offset: texts.offset + len(texts) + 1]
    data = texts.buffers()[2]
    return texts, offsets, np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)


def plain_text_mask(texts) -> np.ndarray:
    """For an Arrow string array: the values parse_text returns as they are (not blank, no surrounding space as
    str.strip() sees it, no control character). Over the array's bytes: the first and last characters are compared
    with the spaces' encodings (_edge_spaces), NumPy looks for control bytes."""
    texts, offsets, data = _string_buffers(texts)
    lengths = np.diff(offsets)
    plain = lengths > 0
    plain[_edge_spaces(offsets, data, plain)] = False
    if texts.null_count:
        plain &= texts.is_valid().to_numpy(zero_copy_only=False)
    used = data[offsets[0]: offsets[-1]]
    control = np.zeros(0, np.int64)
    if len(used) and used.min() < 0x20:  # C0 controls, or a tab or line break (ordinary text)
        control = np.flatnonzero((used < 0x20) & (used != 0x09) & (used != 0x0A) & (used != 0x0D))
    control = np.concatenate([control, np.flatnonzero(used == 0x7F)])
    lead = np.flatnonzero(used[:-1] == _C1_LEAD)
    control = np.concatenate([control, lead[(used[lead + 1] >= 0x80) & (used[lead + 1] <= 0x9F)]])
    if len(control):
        plain[np.searchsorted(offsets, control + offsets[0], side="right") - 1] = False
    return plain


# the UTF-8 of each character str.strip() removes, by its length in bytes, as big-endian integers; and the bytes that
# can begin or end one
_SPACES_BY_LENGTH = {k: np.array(sorted(int.from_bytes(c.encode(), "big") for c in _PYTHON_SPACE
                                        if len(c.encode()) == k), np.int64) for k in (1, 2, 3)}
_MAY_BEGIN_SPACE = np.zeros(256, bool)
_MAY_BEGIN_SPACE[[c.encode()[0] for c in _PYTHON_SPACE]] = True
_MAY_END_SPACE = np.zeros(256, bool)
_MAY_END_SPACE[[c.encode()[-1] for c in _PYTHON_SPACE]] = True


def _edge_spaces(offsets: np.ndarray, data: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """The values (of those `filled`: at least one byte) whose first or last character is one str.strip() removes,
    read from the UTF-8 bytes: the rare value whose first or last byte can belong to such a character is compared
    with their encodings (a valid UTF-8 value holds a character's encoding only on a character's boundaries)."""
    rows = np.flatnonzero(filled)
    starts, ends = offsets[rows], offsets[rows + 1]
    found = []
    for at_start, candidates in ((True, rows[_MAY_BEGIN_SPACE[data[starts]]]),
                                 (False, rows[_MAY_END_SPACE[data[ends - 1]]])):
        if not len(candidates):
            continue
        length = offsets[candidates + 1] - offsets[candidates]
        edge = offsets[candidates] if at_start else offsets[candidates + 1]
        for k, encodings in _SPACES_BY_LENGTH.items():
            fits = np.flatnonzero(length >= k)
            first = edge[fits] if at_start else edge[fits] - k
            packed = np.zeros(len(fits), np.int64)
            for i in range(k):
                packed = (packed << 8) | data[first + i]
            found.append(candidates[fits[np.isin(packed, encodings)]])
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def valid_credit_code_mask(texts) -> np.ndarray:
    """For an Arrow string array: the values parse_credit_code returns as they are (18 characters of the code's
    alphabet, check character right)."""
    return credit_code_values(texts)[0]


def credit_code_values(texts) -> tuple[np.ndarray, np.ndarray]:
    """For an Arrow string array: (the values parse_credit_code returns as they are: 18 characters of the code's
    alphabet with the right check character; the (k, 18) matrix of their character values), computed over the
    bytes of the array, the GB 32100-2015 checksum as one product."""
    texts, offsets, data = _string_buffers(texts)
    n = len(texts)
    form = np.diff(offsets) == 18  # bytes: a character outside ASCII takes more than one and fails below
    if texts.null_count:
        form &= texts.is_valid().to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(form)
    if len(rows) == n and offsets[-1] - offsets[0] == 18 * n:
        matrix = data[offsets[0]: offsets[-1]].reshape(n, 18)
    else:
        matrix = data[offsets[rows][:, None] + np.arange(18)]
    values = _CREDIT_CODE_VALUES[matrix]
    total = np.einsum("ij,j->i", values[:, :17], np.array(_CREDIT_CODE_WEIGHTS, np.int32), dtype=np.int32,
                      casting="unsafe")
    # a character outside the alphabet is 255, the only value with its top bit set: 8 characters at a time
    words = values.view(_EIGHTEEN_BYTES).reshape(-1)
    foreign = ((words["head"] | words["middle"]) & _TOP_BITS) != 0
    foreign |= (words["tail"] & np.uint16(0x8080)) != 0
    right = ~foreign & ((31 - total % 31) % 31 == values[:, 17])
    form[rows] = right
    return form, values if right.all() else values[right]


_EIGHTEEN_BYTES = np.dtype([("head", "<u8"), ("middle", "<u8"), ("tail", "<u2")])
_TOP_BITS = np.uint64(0x8080808080808080)

"""Synthetic enterprise lists for tests and benchmarks (MEASURES.md §2 list workbooks).

    python -m sample_firms.generate --rows N [--seed S] [--broken K] [--loans-per-firm 1.0]
                                    [--services-per-firm 0.5] [--header-variants] [--first M] -o OUT.(xlsx|csv)

``generate()`` builds three DataFrames (firms, loans, voucher services) column by column with NumPy — no Python loop
per row — so a million firms with about a million loans take a few seconds. Columns are the canonical English field
names of rules/fields.yaml; values are typed as a bureau export holds them: money in 万元 as float64 with at most two
decimals, counts as nullable integers (Int64), dates as datetime64, yes/no as nullable booleans, codes, districts and
industry codes as categoricals of their Chinese labels (信用贷, 正常, 浙江, 先进制造与自动化 …), missing as NaN/NA.

The data are fictitious but consistent (tech_staff <= employees, hi_tech_revenue <= revenue, rd_expense_3y >=
rd_expense, revenue_3y >= revenue, rd_domestic_3y <= rd_expense_3y, HNTE first certification no later than the
current certificate, …) and every credit code is unique with a valid GB 32100-2015 check character (and a valid GB
11714 check character in its organisation-code part). A latent "technology" score per firm ties R&D intensity, tech
staff, IP, high-tech revenue, innovation score, HNTE certification and registration together, so that every measure
has eligible, ineligible and undetermined firms. The financial fields describe fiscal year FISCAL_YEAR (2025: the
policy year 2026 of the sample-firm stories).

``write()`` writes the list workbook (sheets 企业名单, 贷款明细, 创新券服务, Chinese headers) with xlsxwriter in
constant-memory mode, or the firm sheet alone as a UTF-8 CSV with BOM, optionally corrupting rows deliberately and
returning a manifest of what it broke.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from engine.common.calendar import add_years_days

ROOT = Path(__file__).resolve().parents[1]
FIELDS_YAML = ROOT / "rules" / "fields.yaml"

FISCAL_YEAR = 2025  # the year the yearly financial fields and interest_paid describe (policy year 2026)

# ---------------------------------------------------------------------------------------------------------------------
# the field dictionary


def _load_fields(path: Path = FIELDS_YAML):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    firm = {k: v for k, v in data["fields"].items() if v["type"] != "list"}
    items = {k: v["fields"] for k, v in data["items"].items()}
    return firm, items["loan"], items["voucher_service"]


def _load_lists(path: Path = FIELDS_YAML) -> dict:
    """The MEASURES-2 list sheets: list field -> (sheet label, item field specs)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: (spec["zh"], data["items"][spec["item"]]["fields"]) for name, spec in data["fields"].items()
            if spec["type"] == "list" and name not in ("loans", "voucher_services")}


FIRM_SPECS, LOAN_SPECS, SERVICE_SPECS = _load_fields()
LIST_SPECS = _load_lists()  # rd_platforms, first_sets, first_set_policies, tech_contracts, patent_projects
FIRM_COLUMNS = list(FIRM_SPECS)
LOAN_COLUMNS = ["credit_code", *LOAN_SPECS]
SERVICE_COLUMNS = ["credit_code", *SERVICE_SPECS]
FIRM_SHEET, LOAN_SHEET, SERVICE_SHEET = "企业名单", "贷款明细", "创新券服务"


def _zh_codes(spec: dict) -> dict[str, str]:
    return {code: labels["zh"] for code, labels in spec["codes"].items()}


TECH_FIELDS = _zh_codes(FIRM_SPECS["tech_field"])  # electronic_information -> 电子信息 … none -> 无
LOAN_KINDS = _zh_codes(LOAN_SPECS["kind"])
LOAN_STATUS = _zh_codes(LOAN_SPECS["status"])
REGIONS = _zh_codes(SERVICE_SPECS["provider_region"])
SERVICE_KINDS = _zh_codes(SERVICE_SPECS["kind"])


def _label(name: str, specs: dict) -> str:
    return FIRM_SPECS["credit_code"]["zh"] if name == "credit_code" and name not in specs else specs[name]["zh"]


FIRM_LABELS = {name: FIRM_SPECS[name]["zh"] for name in FIRM_COLUMNS}
LOAN_LABELS = {name: _label(name, LOAN_SPECS) for name in LOAN_COLUMNS}
SERVICE_LABELS = {name: _label(name, SERVICE_SPECS) for name in SERVICE_COLUMNS}

# ---------------------------------------------------------------------------------------------------------------------
# reference tables

# (district, share, division code for the credit code, name prefix, city prefix); MEASURES.md §3
DISTRICTS = [
    ("路桥区", 0.15, "331004", "台州市路桥区", "台州"),
    ("温岭市", 0.15, "331081", "温岭市", "台州"),
    ("黄岩区", 0.12, "331003", "台州市黄岩区", "台州"),
    ("椒江区", 0.11, "331002", "台州市椒江区", "台州"),
    ("临海市", 0.10, "331082", "临海市", "台州"),
    ("玉环市", 0.09, "331083", "玉环市", "台州"),
    ("台州湾新区", 0.06, "331000", "台州湾", "台州"),
    ("天台县", 0.05, "331023", "天台县", "台州"),
    ("仙居县", 0.04, "331024", "仙居县", "台州"),
    ("三门县", 0.03, "331022", "三门县", "台州"),
    ("温州浙南产业集聚区", 0.05, "330300", "温州", "温州"),
    ("杭州市滨江区", 0.015, "330108", "杭州", "杭州"),
    ("宁波市鄞州区", 0.01, "330212", "宁波", "宁波"),
    ("温州市鹿城区", 0.01, "330302", "温州", "温州"),
    ("上海市浦东新区", 0.0075, "310115", "上海", "上海"),
    ("苏州市吴中区", 0.0075, "320506", "苏州", "苏州"),
]

_TF = list(TECH_FIELDS.values())  # index 0..7: the eight fields, 8: 无
EI, BIO, AERO, MAT, SERV, ENERGY, ENV, MANU, NONE = range(9)

# (GB/T 4754-2017 code, weight, primary tech field, words used in names, on the 2023 No. 44 lists sometimes)
INDUSTRIES = [
    ("C3443", 6, MANU, ("阀门", "流体控制"), False),
    ("C3441", 6, MANU, ("泵业", "机电"), False),
    ("C3421", 3, MANU, ("数控机床", "机床"), True),
    ("C3422", 1, MANU, ("锻压机床", "机床"), True),
    ("C3525", 5, MANU, ("模具", "模塑"), False),
    ("C3599", 3, MANU, ("智能装备", "机械"), False),
    ("C3511", 1, MANU, ("矿山机械", "重工"), False),
    ("C3670", 8, MANU, ("汽车零部件", "汽配"), False),
    ("C3752", 2, MANU, ("摩托车配件", "车业"), False),
    ("C3483", 2, MANU, ("紧固件", "五金"), False),
    ("C4011", 2, MANU, ("自动化", "智能控制"), False),
    ("C2929", 6, MAT, ("塑胶", "塑业"), False),
    ("C2927", 3, NONE, ("日用品", "塑料制品"), False),
    ("C2651", 1, MAT, ("高分子材料", "新材料"), False),
    ("C2614", 2, MAT, ("化工", "精细化工"), False),
    ("C3360", 1, MAT, ("表面处理", "热处理"), False),
    ("C2710", 3, BIO, ("药业", "制药"), False),
    ("C2720", 2, BIO, ("医药", "药业"), False),
    ("C2761", 1, BIO, ("生物科技", "生物医药"), False),
    ("C3581", 2, BIO, ("医疗器械", "医疗科技"), False),
    ("C3812", 3, ENERGY, ("电机", "机电"), False),
    ("C3823", 2, ENERGY, ("电气", "电力设备"), False),
    ("C3841", 1, ENERGY, ("新能源", "电池"), False),
    ("C3825", 1, ENERGY, ("光伏", "光电"), False),
    ("C3982", 2, EI, ("电子", "电路"), True),
    ("C3744", 0.3, AERO, ("航空部件", "航空科技"), False),
    ("C3311", 2, NONE, ("钢结构", "金属制品"), False),
    ("C1810", 2, NONE, ("服饰", "服装"), False),
    ("C2110", 1, NONE, ("家居", "家具"), False),
    ("C1610", 0.2, NONE, ("烟草", "卷烟"), False),
    ("D4620", 1, ENV, ("环保科技", "水务"), False),
    ("I6513", 3, EI, ("软件", "信息技术"), False),
    ("I6531", 2, EI, ("数智科技", "网络科技"), False),
    ("I6520", 0.5, EI, ("芯片", "微电子"), True),
    ("M7320", 2, SERV, ("科技", "技术研究"), False),
    ("M7452", 1, SERV, ("检测技术", "检测"), False),
    ("M7514", 1, ENERGY, ("节能科技", "能源科技"), False),
    ("M7530", 0.5, SERV, ("科技服务", "技术转移"), False),
    ("F5123", 2, NONE, ("果蔬", "农产品"), False),
    ("F5191", 2, NONE, ("贸易", "商贸"), False),
    ("F5292", 2, NONE, ("电子商务", "网络科技"), False),
    ("F5179", 1, NONE, ("化工贸易", "进出口"), False),
    ("H6110", 1, NONE, ("酒店管理", "大酒店"), False),
    ("H6210", 1, NONE, ("餐饮管理", "餐饮"), False),
    ("K7010", 1, NONE, ("置业", "房地产开发"), False),
    ("L7212", 1, NONE, ("投资管理", "资产管理"), False),
    ("L7211", 0.5, NONE, ("控股", "实业"), False),
    ("R9011", 0.5, NONE, ("文化娱乐", "文化传媒"), False),
    ("A0141", 0.5, NONE, ("农业开发", "生态农业"), False),
    ("E4710", 1, NONE, ("建设", "建筑工程"), False),
]

BRAND_CHARS = ("锦屹瀚森锐泽澜川晟泰启衡恒舟精创浙瓯灵江海湾绿岭博钜坤芯宏达鑫盛华源德信诚远航宇星辰峰通联兴隆昌嘉禾润凯越"
               "捷优睿智尚骏腾飞奥东方新力天和永丰金铭欣瑞祥安康宁甬杰豪顺益")
SUFFIXES = ("有限公司", "股份有限公司", "有限责任公司")

# (provider, region code, primary service kind, share of use, probability of being an approved provider)
PROVIDERS = [
    ("浙江大学台州研究院", "zhejiang", "rd", 0.13, 0.97),
    ("台州市产品质量安全检测研究院", "zhejiang", "testing", 0.14, 0.97),
    ("浙江省机电产品质量检测所有限公司", "zhejiang", "testing", 0.08, 0.95),
    ("台州学院科研服务中心", "zhejiang", "rd", 0.07, 0.93),
    ("浙江工业大学台州研究院", "zhejiang", "rd", 0.07, 0.95),
    ("浙江大学分析测试中心", "zhejiang", "instrument", 0.08, 0.97),
    ("中国科学院宁波材料技术与工程研究所", "zhejiang", "instrument", 0.06, 0.95),
    ("台州市科技创新服务中心", "zhejiang", "other", 0.06, 0.90),
    ("杭州华测检测技术有限公司", "zhejiang", "testing", 0.06, 0.80),
    ("上海材料研究所", "shanghai", "testing", 0.04, 0.92),
    ("中国科学院上海硅酸盐研究所", "shanghai", "instrument", 0.03, 0.92),
    ("上海交通大学分析测试中心", "shanghai", "instrument", 0.02, 0.90),
    ("江苏省产品质量监督检验研究院", "jiangsu", "testing", 0.04, 0.90),
    ("南京大学现代分析中心", "jiangsu", "instrument", 0.03, 0.90),
    ("中国科学技术大学理化科学实验中心", "anhui", "instrument", 0.025, 0.90),
    ("安徽省产品质量监督检验研究院", "anhui", "testing", 0.015, 0.85),
    ("广东省科学院测试分析研究所", "other", "testing", 0.03, 0.85),
    ("北京化工大学分析测试中心", "other", "instrument", 0.02, 0.80),
]

# GB 32100-2015 and GB 11714-1997
CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28], dtype=np.int64)
ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ASCII = np.frombuffer(CREDIT_CHARS.encode(), dtype=np.uint8)
_VALUE_OF_ASCII = np.full(128, -1, dtype=np.int64)
_VALUE_OF_ASCII[_ASCII] = np.arange(31)

_EPOCH_D = np.datetime64("1970-01-01", "D")
_EXCEL_OFFSET = 25569  # Excel serial of 1970-01-01


def _day(iso: str) -> int:
    return int((np.datetime64(iso, "D") - _EPOCH_D).astype(np.int64))


# ---------------------------------------------------------------------------------------------------------------------
# vectorised helpers


def credit_check_values(first17: np.ndarray) -> np.ndarray:
    """GB 32100-2015 check values (0..30) for an (N, 17) array of character values (0..30)."""
    total = np.zeros(len(first17), dtype=np.int32)
    for k in range(17):
        total += first17[:, k].astype(np.int32) * int(CREDIT_WEIGHTS[k])
    return (31 - total % 31) % 31


def credit_code_check_chars(first17: np.ndarray) -> np.ndarray:
    """The check characters (as uint8 ASCII) for an (N, 17) array of character values."""
    return _ASCII[credit_check_values(first17)]


def _org_check_ascii(body_ascii: np.ndarray) -> np.ndarray:
    """GB 11714 check character (uint8 ASCII, 0-9 or X) for an (N, 8) array of ASCII digits / capital letters."""
    total = np.zeros(len(body_ascii), dtype=np.int32)
    for k in range(8):
        b = body_ascii[:, k].astype(np.int32)
        total += np.where(b <= ord("9"), b - ord("0"), b - ord("A") + 10) * int(ORG_WEIGHTS[k])
    c = 11 - total % 11  # 10 -> X, 11 -> 0
    return np.where(c == 10, ord("X"), np.where(c == 11, ord("0"), ord("0") + c)).astype(np.uint8)


def _ascii_rows_to_str(a: np.ndarray) -> np.ndarray:
    """(N, W) uint8 ASCII -> object array of str."""
    a = np.ascontiguousarray(a, dtype=np.uint8)
    return a.view(f"S{a.shape[1]}").ravel().astype(f"U{a.shape[1]}").astype(object)


def _digits(out: np.ndarray, values: np.ndarray) -> None:
    """Write non-negative integers as zero-padded ASCII decimal digits into the (N, W) uint8 array out."""
    rest = values.astype(np.int64)
    for k in range(out.shape[1] - 1, -1, -1):
        out[:, k] = ord("0") + rest % 10
        rest = rest // 10


def make_credit_codes(rng: np.random.Generator, division: np.ndarray, established_year: np.ndarray) -> np.ndarray:
    """Unique 18-character credit codes: 9 (market regulator) 1 (enterprise), the 6-digit division code (an (N, 6)
    uint8 ASCII array), a 9-character organisation code (8 digits for older firms, MA + 6 characters for most firms
    founded since 2016, plus its GB 11714 check character) and the GB 32100-2015 check character."""
    n = len(division)
    out = np.empty((n, 18), dtype=np.uint8)
    out[:, 0] = ord("9")
    out[:, 1] = ord("1")
    out[:, 2:8] = division
    # unique integers; rendered in decimal (8 digits) or base 31 behind "MA": distinct within each form, and the
    # two forms differ in their first character
    ids = rng.choice(10**8, size=n, replace=False) if n else np.zeros(0, dtype=np.int64)
    ma = (established_year >= 2016) & (rng.random(n) < 0.8)
    body = np.empty((n, 8), dtype=np.uint8)
    _digits(body, ids)
    rest = ids.copy()
    ma_body = np.empty((n, 6), dtype=np.uint8)
    for k in range(5, -1, -1):  # base 31 over the credit-code alphabet (10**8 < 31**6)
        ma_body[:, k] = _ASCII[rest % 31]
        rest //= 31
    body[ma, 0] = ord("M")
    body[ma, 1] = ord("A")
    body[ma, 2:] = ma_body[ma]
    out[:, 8:16] = body
    out[:, 16] = _org_check_ascii(body)
    out[:, 17] = credit_code_check_chars(_VALUE_OF_ASCII[out[:, :17]].astype(np.uint8))
    return _ascii_rows_to_str(out)


def _cat(index: np.ndarray, labels, missing: np.ndarray | None = None) -> pd.Categorical:
    codes = index.astype(np.int16 if len(labels) < 30000 else np.int32)
    if missing is not None:
        codes = np.where(missing, -1, codes).astype(codes.dtype)
    return pd.Categorical.from_codes(codes, categories=list(labels))


def _int(values: np.ndarray, missing: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(values.astype(np.int64), missing.copy())


def _bool(values: np.ndarray, missing: np.ndarray) -> pd.arrays.BooleanArray:
    return pd.arrays.BooleanArray(values.astype(bool), missing.copy())


def _money(values: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    out = np.round(values.astype(np.float64), 2)
    if missing is not None:
        out[missing] = np.nan
    return out


def _date(days: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    out = (_EPOCH_D + days.astype(np.int64)).astype("datetime64[s]")
    if missing is not None:
        out[missing] = np.datetime64("NaT")
    return out


def _choice(rng: np.random.Generator, n: int, p) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    return np.searchsorted(np.cumsum(p / p.sum()), rng.random(n), side="right").clip(0, len(p) - 1)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _civil(days: np.ndarray):
    """(year, month, day) arrays of dates given as days since 1970-01-01 (proleptic Gregorian, integer arithmetic)."""
    z = days.astype(np.int64) + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = yoe + era * 400 + (m <= 2)
    return y, m, d


def _days(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of (year, month, day) arrays."""
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * np.where(m > 2, m - 3, m + 9) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _add_years(days: np.ndarray, years) -> np.ndarray:
    """Shift dates (days since 1970) by whole years; 29 February becomes 28 February when needed."""
    y, m, d = _civil(days)
    y = y + np.asarray(years, dtype=np.int64)
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    d = np.where((m == 2) & (d == 29) & ~leap, 28, d)
    return _days(y, m, d)


# ---------------------------------------------------------------------------------------------------------------------
# generate


def generate(rows: int, seed: int = 0, loans_per_firm: float = 1.0,
             services_per_firm: float = 0.5) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Firms, loans and voucher services of a synthetic list of `rows` firms (deterministic for a seed)."""
    if rows < 0:
        raise ValueError("rows must be >= 0")
    rng = np.random.default_rng(seed)
    n = int(rows)
    z = rng.standard_normal(n)  # latent technology level

    # where and what
    d_idx = _choice(rng, n, [d[1] for d in DISTRICTS])
    i_idx = _choice(rng, n, [ind[1] for ind in INDUSTRIES])
    primary_tf = np.array([ind[2] for ind in INDUSTRIES])[i_idx]
    tech_ind = primary_tf != NONE
    u = rng.random(n)
    tf_idx = np.where(tech_ind,
                      np.where(u < 0.68, primary_tf, np.where(u < 0.90, NONE, rng.integers(0, 8, n))),
                      np.where(u < 0.88, NONE, rng.integers(0, 8, n)))
    techy = tf_idx != NONE
    z = z + np.where(techy, 0.35, -0.6)

    # founding date: 1990-01-01 .. 2025-12-31, younger firms more frequent
    last_day, first_day = _day("2025-12-31"), _day("1990-01-01")
    est = last_day - np.minimum(rng.exponential(9.5 * 365.25, n), last_day - first_day).astype(np.int64)

    # size
    employees = np.clip(np.rint(rng.lognormal(np.log(45) + 0.15 * z, 1.25)), 1, 30000).astype(np.int64)
    per_head = rng.lognormal(np.log(55), 0.6, n)
    revenue = np.round(employees * per_head, 2)
    revenue[rng.random(n) < 0.01] = 0.0  # start-ups without sales: ratios over revenue are unknown (zero)
    staff_ratio = _sigmoid(-1.55 + 0.55 * z + 0.5 * rng.standard_normal(n))
    tech_staff = np.minimum(np.floor(employees * staff_ratio), employees).astype(np.int64)
    total_assets = np.round(np.maximum(revenue, 20 * employees) * rng.lognormal(0.0, 0.5, n), 2)
    total_cost = np.round(revenue * rng.uniform(0.78, 1.05, n), 2)

    # R&D: intensity spread around 2-8 % for technology firms (the > 5 % whitelist splits them), low elsewhere
    intensity = rng.lognormal(np.log(0.036) + 0.35 * z, 0.45) * np.where(techy, 1.0, 0.35)
    no_rd = rng.random(n) < np.where(techy, 0.04, 0.35)
    rd = np.where(revenue > 0, revenue * intensity, rng.lognormal(np.log(20), 0.8, n))
    rd_expense = np.where(no_rd, 0.0, np.round(rd, 2))
    total_cost = np.where(revenue > 0, total_cost, np.round(rd_expense + rng.lognormal(np.log(40), 0.8, n), 2))
    taxable = np.round((revenue - total_cost) * rng.uniform(0.7, 1.3, n) - 0.2 * rd_expense, 2)
    rd_3y = np.maximum(np.round(rd_expense * (1 + rng.uniform(0.45, 1.0, n) + rng.uniform(0.35, 1.0, n)), 2),
                       rd_expense)
    revenue_3y = np.maximum(np.round(revenue * (1 + rng.uniform(0.6, 1.08, n) + rng.uniform(0.5, 1.08, n)), 2),
                            revenue)
    dom_share = np.where(rng.random(n) < 0.5, 1.0,
                         np.where(rng.random(n) < 0.8, rng.uniform(0.7, 1.0, n), rng.uniform(0.3, 0.7, n)))
    rd_dom_3y = np.minimum(np.round(rd_3y * dom_share, 2), rd_3y)
    hi_share = _sigmoid(0.25 + 0.8 * z + 0.8 * rng.standard_normal(n)) * np.where(techy, 1.0, 0.25)
    hi_tech = np.minimum(np.round(revenue * hi_share, 2), revenue)

    ip1 = rng.poisson(np.exp(-0.6 + 0.8 * z))
    ip2 = rng.poisson(np.exp(1.0 + 0.6 * z))
    score = np.clip(np.rint(64 + 9 * z + 8 * rng.standard_normal(n)), 10, 100)

    # HNTE certificates (~15 %): valid until 2025-2028, renewed every three years since the first certification
    hnte = rng.random(n) < _sigmoid(-1.95 + 1.2 * z) * np.where(techy, 1.0, 0.15)
    valid_until = rng.integers(_day("2025-01-01"), _day("2028-12-31") + 1, n)
    issued = _add_years(valid_until + 1, -3)  # the current certificate's date of issue
    est = np.where(hnte, np.minimum(est, issued - 400 - rng.integers(0, 3000, n)), est)
    est = np.maximum(est, first_day)
    renewals = np.minimum(_choice(rng, n, [0.5, 0.3, 0.2]), np.maximum((issued - est - 366) // 1096, 0))
    first_cert = np.where(renewals > 0, _add_years(issued, -3 * renewals), issued)
    est_year = _civil(est)[0]

    small = (employees <= 500) & (revenue <= 20000) & (total_assets <= 20000)
    registered = (rng.random(n) < _sigmoid(-1.15 + 1.0 * z + 1.5 * hnte)) & small
    machine = np.array([ind[4] for ind in INDUSTRIES])[i_idx]
    ic_mt = rng.random(n) < np.where(machine, 0.35, 0.004)
    rd_institute = rng.random(n) < _sigmoid(-3.4 + 1.1 * z)
    standard_5y = rng.random(n) < _sigmoid(-3.6 + 0.9 * z)
    award_5y = rng.random(n) < _sigmoid(-5.5 + 1.0 * z)
    incident = rng.random(n) < 0.012
    dishonest = rng.random(n) < 0.03
    restricted = rng.random(n) < np.where(tech_ind, 0.01, 0.05)

    # missing values: most firms fill the form completely, some leave gaps, a few leave many (~10 % per field)
    care = _choice(rng, n, [0.62, 0.28, 0.10])
    p_missing = np.array([0.0, 0.2, 0.44])[care]

    def gap() -> np.ndarray:
        return rng.random(n) < p_missing

    # names: place + two-character brand + trade word (+ 科技) + legal form, assembled from small tables of the
    # possible heads, brands and tails, so only two string additions run over all rows
    place = np.where(rng.random(n) < 0.55, 0, np.where(rng.random(n) < 0.55, 1, 2))
    zhejiang = np.array([d[2].startswith("33") for d in DISTRICTS])[d_idx]
    place = np.where((place == 1) & ~zhejiang, 2, place)
    heads = np.array([h for d in DISTRICTS for h in (d[3], "浙江", d[4])])
    nb = len(BRAND_CHARS)
    brands = np.array([a + b for a in BRAND_CHARS for b in BRAND_CHARS])
    b1 = rng.integers(0, nb, n)
    b2 = (b1 + rng.integers(1, nb, n)) % nb
    tails = np.array([w + infix + suffix for ind in INDUSTRIES for w in ind[3]
                      for infix in ("", "" if w.endswith(("科技", "技术")) else "科技") for suffix in SUFFIXES])
    big = (employees > 300) | (revenue > 30000)
    suffix = np.where(big & (rng.random(n) < 0.5), 1, _choice(rng, n, [0.86, 0.11, 0.03]))
    tail = ((i_idx * 2 + rng.integers(0, 2, n)) * 2 + (techy & (rng.random(n) < 0.4))) * len(SUFFIXES) + suffix
    name = np.strings.add(np.strings.add(heads[d_idx * 3 + place], brands[b1 * nb + b2]), tails[tail]).astype(object)

    division = np.frombuffer("".join(d[2] for d in DISTRICTS).encode(), dtype=np.uint8).reshape(-1, 6)[d_idx]
    credit_code = make_credit_codes(rng, division, est_year)

    firm_cols = {
        "credit_code": credit_code,
        "name": name,
        "district": _cat(d_idx, [d[0] for d in DISTRICTS], gap()),
        "established": _date(est, gap()),
        "industry_code": _cat(i_idx, [ind[0] for ind in INDUSTRIES], gap()),
        "tech_field": _cat(tf_idx, _TF, gap()),
    }
    m_emp, m_staff = gap(), gap()
    firm_cols["employees"] = _int(employees, m_emp)
    firm_cols["tech_staff"] = _int(tech_staff, m_staff)
    for key, arr in (("revenue", revenue), ("total_assets", total_assets), ("total_cost", total_cost),
                     ("hi_tech_revenue", hi_tech), ("taxable_income", taxable), ("rd_expense", rd_expense),
                     ("rd_expense_3y", rd_3y), ("revenue_3y", revenue_3y), ("rd_domestic_3y", rd_dom_3y)):
        firm_cols[key] = _money(arr, gap())
    firm_cols["ip_class1"] = _int(ip1, gap())
    firm_cols["ip_class2"] = _int(ip2, gap())
    firm_cols["innovation_score"] = _money(score, gap())
    firm_cols["hnte_valid_until"] = _date(valid_until, ~hnte)  # empty = not certified
    firm_cols["hnte_first_certified"] = _date(first_cert, ~hnte | gap())
    for key, arr in (("ic_or_machine_tool", ic_mt), ("tech_sme_registered", registered),
                     ("rd_institute", rd_institute), ("standard_5y", standard_5y), ("award_5y", award_5y),
                     ("major_incident", incident), ("dishonest", dishonest), ("restricted_industry", restricted)):
        firm_cols[key] = _bool(arr, gap())
    scalar = _second_catalogue_scalars(np.random.default_rng([seed, 11]), n, est, employees, revenue, revenue_3y,
                                       rd_expense, rd_3y, total_assets, ip1, incident)
    for key in FIRM_COLUMNS:
        if key not in firm_cols and key in scalar:
            firm_cols[key] = scalar[key]
    # a contact phone per firm (issue 13, the codes' SMS file) and its gaps, from the row number: no random draw, so
    # every other column stays as a seed gave it before
    row = np.arange(n)
    phone = np.strings.add("138", np.strings.zfill(row.astype(str), 8)).astype(object)
    phone[(row * 2654435761 % 1000) / 1000 < p_missing] = None
    firm_cols["contact_phone"] = phone
    assert set(firm_cols) == set(FIRM_COLUMNS)
    firm_cols = {key: firm_cols[key] for key in FIRM_COLUMNS}  # the columns in the dictionary's order
    firms = pd.DataFrame(firm_cols)
    del firm_cols

    loans = _generate_loans(rng, credit_code, loans_per_firm)
    services = _generate_services(rng, credit_code, services_per_firm)
    return firms, loans, services


def _second_catalogue_scalars(rng: np.random.Generator, n: int, est, employees, revenue, revenue_3y, rd_expense,
                              rd_3y, total_assets, ip1, incident) -> dict:
    """The scalar fields of MEASURES-2 §2.1, consistent with the firm's other figures (revenue + revenue_y2 <=
    revenue_3y, rd_expense + rd_expense_y2 <= rd_expense_3y, main product <= main business <= revenue, an incident
    of last year also one of the last three, titles' valid-until three years after the first date, milestones in
    order). A stream of their own, so the older columns keep their values for a seed."""
    def gap(p: float = 0.04) -> np.ndarray:
        return rng.random(n) < p

    def some(p: float) -> np.ndarray:
        return rng.random(n) < p

    def when(lo: str, hi, size=None) -> np.ndarray:
        return rng.integers(_day(lo), (_day(hi) if isinstance(hi, str) else hi) + 1, n)

    out = {}
    rest = np.maximum(revenue_3y - revenue, 0)
    revenue_y2 = np.round(rest * rng.uniform(0.50, 0.56, n), 2)
    out["revenue_y2"] = _money(revenue_y2, gap())
    out["revenue_y3"] = _money(np.round(np.maximum(rest - revenue_y2, 0), 2), gap())
    out["rd_expense_y2"] = _money(np.round(np.maximum(rd_3y - rd_expense, 0) * rng.uniform(0.45, 0.6, n), 2), gap())
    main_business = np.round(revenue * rng.uniform(0.7, 1.0, n), 2)
    out["main_business_revenue"] = _money(main_business, gap())
    out["main_product_revenue"] = _money(np.round(main_business * rng.uniform(0.3, 0.95, n), 2), gap())
    out["total_liabilities"] = _money(np.round(total_assets * rng.uniform(0.1, 0.9, n), 2), gap())
    out["equity_financing_2y"] = _money(np.where(some(0.08), np.round(rng.lognormal(np.log(1500), 0.9, n), 2), 0.0),
                                        gap())
    out["is_sme"] = _bool((employees < 1000) | (revenue < 40000), ~some(0.4))  # mostly left to the size rule
    out["segment_since"] = _date(est + (rng.random(n) * np.maximum(_day("2026-06-30") - est, 0)).astype(np.int64),
                                 gap(0.2))
    out["innovative_sme_valid_until"] = _date(when("2024-01-01", "2028-12-31"), ~some(0.12))
    specialized = some(0.08)
    first = when("2021-01-01", "2026-10-31")
    out["specialized_first"] = _date(first, ~specialized | gap(0.05))
    out["specialized_valid_until"] = _date(_add_years(first, 3) - 1, ~specialized)
    giant = specialized & some(0.12)
    giant_first = np.maximum(first + 365, when("2022-01-01", "2026-10-31"))
    giant_first = np.minimum(giant_first, _day("2026-10-31"))
    out["little_giant_first"] = _date(giant_first, ~giant)
    out["little_giant_valid_until"] = _date(_add_years(giant_first, 3) - 1, ~giant)
    out["hidden_champion_first"] = _date(when("2020-01-01", "2026-10-31"), ~some(0.01))
    out["ip_class1_core"] = _int(np.floor(ip1 * rng.uniform(0, 1, n)).astype(np.int64), gap())
    award = _zh_codes(FIRM_SPECS["sci_award_3y"])
    out["sci_award_3y"] = _cat(_choice(rng, n, [0.93, 0.04, 0.02, 0.01]), list(award.values()), gap(0.3))
    makers = _zh_codes(FIRM_SPECS["makers_china_3y"])
    out["makers_china_3y"] = _cat(_choice(rng, n, [0.96, 0.03, 0.01]), list(makers.values()), gap(0.3))
    out["market_leading"] = _bool(some(0.2), gap(0.3))
    out["market_share"] = _money(np.round(rng.beta(1.2, 12, n), 2), gap(0.4))
    out["market_rank_domestic"] = _int(rng.integers(1, 60, n), gap(0.4))
    out["industry_chain_key"] = _bool(some(0.15), gap(0.3))
    out["sme_quality_score"] = _money(np.round(rng.uniform(30, 95, n), 1), gap(0.3))
    out["major_incident_3y"] = _bool(some(0.02) | incident, gap())
    out["zj_institute_score"] = _money(np.round(rng.uniform(30, 95, n), 1), gap(0.5))
    out["tech_transfer_income"] = _money(np.where(some(0.05), np.round(rng.lognormal(np.log(200), 1.0, n), 2), 0.0),
                                         gap(0.2))
    reform = some(0.06)
    d_reform = when("2015-01-01", "2026-06-30")
    tutoring = reform & some(0.4)
    d_tutoring = np.minimum(d_reform + rng.integers(30, 900, n), _day("2026-10-31"))
    accepted = tutoring & some(0.5)
    d_accepted = np.minimum(d_tutoring + rng.integers(30, 600, n), _day("2026-10-31"))
    listed = accepted & some(0.6)
    d_listed = np.minimum(d_accepted + rng.integers(30, 500, n), _day("2026-10-31"))
    neeq = reform & ~tutoring & some(0.3)
    d_neeq = np.minimum(d_reform + rng.integers(30, 700, n), _day("2026-10-31"))
    out["shareholding_reform_date"] = _date(d_reform, ~reform)
    out["ipo_tutoring_date"] = _date(d_tutoring, ~tutoring)
    out["ipo_accepted_date"] = _date(d_accepted, ~accepted)
    out["listed_date"] = _date(d_listed, ~listed)
    out["ipo_local_investment"] = _money(np.round(rng.lognormal(np.log(30000), 0.8, n), 2), ~listed | gap(0.2))
    out["neeq_listed_date"] = _date(d_neeq, ~neeq)
    _candidates(rng, out, n, est, revenue, revenue_3y, rd_expense, rd_3y, total_assets, ip1, incident)
    investing = some(0.3)
    equipment = np.where(investing, np.round(rng.lognormal(np.log(300), 1.0, n), 2), 0.0)
    out["equipment_investment"] = _money(equipment, gap(0.3))
    sei = np.where(equipment >= 500, np.round(equipment * rng.uniform(0, 1, n), 2), 0.0)
    out["sei_equipment_investment"] = _money(sei, gap(0.3))
    return out


def _candidates(rng: np.random.Generator, out: dict, n: int, est, revenue, revenue_3y, rd_expense, rd_3y,
                total_assets, ip1, incident) -> None:
    """Some firms are groomed for the 专精特新 ladder (MEASURES-2 §4.16, §4.17), so that a list has firms that meet
    the criteria and firms that just miss them: shares, debt, R&D in both years, a title, a leading product; half
    of those above 5000万元 already hold the provincial title and aim at the little-giant one."""
    intensity = np.divide(rd_expense, revenue, out=np.zeros(n), where=revenue > 0)
    cand = (rng.random(n) < 0.15) & (revenue >= 1500) & (rd_expense >= 100) & (intensity >= 0.03)
    giant = cand & (revenue >= 5000) & (rng.random(n) < 0.5)
    idx = np.flatnonzero(cand)

    def put(key, values, where=idx):
        column = out[key].copy()
        column[where] = values[where] if len(values) == n else values
        out[key] = column

    put("main_business_revenue", np.round(revenue * np.where(giant, rng.uniform(0.9, 1.0, n),
                                                              rng.uniform(0.85, 1.0, n)), 2))
    put("main_product_revenue", np.round(revenue * rng.uniform(0.55, 0.84, n), 2))
    put("total_liabilities", np.round(total_assets * rng.uniform(0.2, 0.7, n), 2))
    y2 = np.minimum(np.round(revenue * rng.uniform(0.80, 0.95, n), 2), np.round(np.maximum(revenue_3y - revenue, 0), 2))
    put("revenue_y2", y2)
    rd_y2 = np.round(y2 * np.maximum(intensity, 0.031) * rng.uniform(1.0, 1.1, n), 2)
    rd_y2 = np.where(giant, np.maximum(rd_y2, 1250 - rd_expense), rd_y2)
    # never above what the three-year R&D leaves (MEASURES-2 §2.1): a groomed firm may then just miss a bound
    put("rd_expense_y2", np.minimum(np.round(np.maximum(rd_y2, 101), 2), np.round(np.maximum(rd_3y - rd_expense, 0), 2)))
    put("revenue_y3", np.round(revenue / rng.uniform(1.15, 1.5, n), 2), np.flatnonzero(giant))
    put("segment_since", _date(np.minimum(est, _day("2021-06-30"))))
    put("innovative_sme_valid_until", _date(np.full(n, _day("2027-06-30"))))
    put("ip_class1_core", pd.array(np.where(giant, np.minimum(ip1, 5), np.minimum(ip1, 2)), dtype="Int64"))
    award = list(_zh_codes(FIRM_SPECS["sci_award_3y"]).values())  # none, provincial_top3, national_top3, national_top5
    choice = np.where(ip1 >= np.where(giant, 4, 1), 0, np.where(giant, 2, 1))
    put("sci_award_3y", pd.Categorical.from_codes(choice, award))
    put("market_leading", pd.array(np.ones(n, bool), dtype="boolean"))
    put("market_share", np.round(rng.uniform(0.10, 0.30, n), 2))
    put("industry_chain_key", pd.array(np.ones(n, bool), dtype="boolean"))
    put("sme_quality_score", np.round(rng.uniform(60, 95, n), 1))
    put("major_incident_3y", pd.array(incident, dtype="boolean"))
    first = rng.integers(_day("2023-12-01"), _day("2025-10-31") + 1, n)
    put("specialized_first", _date(first, ~giant))
    put("specialized_valid_until", _date(_add_years(first, 3) - 1, ~giant))


def _owners(rng: np.random.Generator, n: int, per_firm: float):
    """A Poisson number of items per firm: (owning firm per item, item count, a draw of missing cells)."""
    counts = rng.poisson(per_firm, n) if n and per_firm > 0 else np.zeros(n, dtype=np.int64)
    owner = np.repeat(np.arange(n), counts)
    m = len(owner)

    def gap(p: float = 0.05) -> np.ndarray:
        return rng.random(m) < p

    return owner, m, gap


def _generate_loans(rng: np.random.Generator, credit_code: np.ndarray, per_firm: float) -> pd.DataFrame:
    owner, m, gap = _owners(rng, len(credit_code), per_firm)

    kind = _choice(rng, m, [0.30, 0.12, 0.20, 0.10, 0.28])  # credit, first, renewal, ip_pledge, other
    kind_codes = list(LOAN_KINDS)
    ip = kind == kind_codes.index("ip_pledge")
    principal = np.clip(np.round(rng.lognormal(np.log(300), 0.9, m) / 10) * 10, 50, 3000)
    principal = np.where(rng.random(m) < 0.15, np.round(rng.uniform(50, 3000, m), 2), principal)
    start = rng.integers(_day("2022-07-01"), _day("2026-10-31") + 1, m)
    months = np.array([6, 12, 12, 12, 24, 36])[rng.integers(0, 6, m)]
    end = _add_years(start, months // 12)
    end = np.where(months == 6, start + 182, end)
    fy0, fy1 = _day(f"{FISCAL_YEAR}-01-01"), _day(f"{FISCAL_YEAR + 1}-01-01")
    overlap = np.clip(np.minimum(end, fy1) - np.maximum(start, fy0), 0, None)
    interest = np.round(principal * rng.uniform(0.03, 0.05, m) * overlap / 365.0, 2)
    defaulted = rng.random(m) < 0.03
    loss = np.round(principal * rng.uniform(0.1, 0.9, m), 2)
    width = max(7, len(str(m)))
    ids = np.empty((m, 6 + width), dtype=np.uint8)  # DK, year of the start date, sequence number
    ids[:, 0], ids[:, 1] = ord("D"), ord("K")
    _digits(ids[:, 2:6], _civil(start)[0])
    _digits(ids[:, 6:], np.arange(1, m + 1))
    loan_id = _ascii_rows_to_str(ids)
    cols = {
        "credit_code": credit_code[owner],
        "loan_id": loan_id,
        "kind": _cat(kind, list(LOAN_KINDS.values()), gap()),
        "principal": _money(principal, gap()),
        "interest_paid": _money(interest, gap()),
        "start": _date(start, gap()),
        "end": _date(end, gap()),
        "partner_bank": _bool(rng.random(m) < 0.7, gap()),
        "pledge_registered": _bool(rng.random(m) < 0.85, ~ip | gap()),
        "status": _cat(defaulted.astype(np.int64), list(LOAN_STATUS.values()), gap(0.03)),
        "loss": _money(loss, ~defaulted | gap(0.1)),
    }
    assert list(cols) == LOAN_COLUMNS
    return pd.DataFrame(cols)


def _generate_services(rng: np.random.Generator, credit_code: np.ndarray, per_firm: float) -> pd.DataFrame:
    owner, m, gap = _owners(rng, len(credit_code), per_firm)

    p_idx = _choice(rng, m, [p[3] for p in PROVIDERS])
    region_codes, kind_codes = list(REGIONS), list(SERVICE_KINDS)
    region = np.array([region_codes.index(p[1]) for p in PROVIDERS])[p_idx]
    primary = np.array([kind_codes.index(p[2]) for p in PROVIDERS])[p_idx]
    kind = np.where(rng.random(m) < 0.7, primary, rng.integers(0, len(kind_codes), m))
    approved = rng.random(m) < np.array([p[4] for p in PROVIDERS])[p_idx]
    fee = np.clip(np.round(rng.lognormal(np.log(1.0), 0.7, m), 2), 0.2, 5.0)
    cols = {
        "credit_code": credit_code[owner],
        "provider": _cat(p_idx, [p[0] for p in PROVIDERS], gap(0.02)),
        "provider_region": _cat(region, list(REGIONS.values()), gap()),
        "provider_approved": _bool(approved, gap()),
        "fee": _money(fee, gap()),
        "kind": _cat(kind, list(SERVICE_KINDS.values()), gap()),
    }
    assert list(cols) == SERVICE_COLUMNS
    return pd.DataFrame(cols)


# the MEASURES-2 list sheets (首台套明细, 首台套保单, 研发平台明细, 技术合同明细, 专利产业化项目): a few items per hundred
# firms, made so that the first-set measures have eligible, ineligible and undetermined firms
LIST_RATES = {"rd_platforms": 0.08, "first_sets": 0.03, "tech_contracts": 0.15, "patent_projects": 0.04}


def _ids(prefix: str, m: int) -> np.ndarray:
    width = max(6, len(str(m)))
    ids = np.empty((m, len(prefix) + width), dtype=np.uint8)
    for k, ch in enumerate(prefix):
        ids[:, k] = ord(ch)
    _digits(ids[:, len(prefix):], np.arange(1, m + 1))
    return _ascii_rows_to_str(ids)


def _codes(rng, m: int, specs: dict, name: str, p, gap) -> pd.Categorical:
    labels = [v["zh"] for v in specs[name]["codes"].values()]
    return _cat(_choice(rng, m, p), labels, gap())


def generate_lists(credit_code: np.ndarray, seed: int = 0, rates: dict | None = None) -> dict[str, pd.DataFrame]:
    """The five MEASURES-2 list sheets for firms with these credit codes: list field -> DataFrame with credit_code
    and the item fields (typed as generate() types them). Policies name first-set items of their own firm."""
    rng = np.random.default_rng(seed + 7919)
    rates = {**LIST_RATES, **(rates or {})}
    y = FISCAL_YEAR + 1  # the policy year of the sample stories
    out = {}

    specs = LIST_SPECS["rd_platforms"][1]
    owner, m, gap = _owners(rng, len(credit_code), rates["rd_platforms"])
    out["rd_platforms"] = pd.DataFrame({
        "credit_code": credit_code[owner], "platform_id": _ids("PT", m), "name": np.full(m, "企业研发中心", object),
        "kind": _codes(rng, m, specs, "kind", [0.1, 0.35, 0.2, 0.15, 0.05, 0.1, 0.05], gap),
        "level": _codes(rng, m, specs, "level", [0.1, 0.4, 0.5], gap),
        "recognized": _date(rng.integers(_day(f"{y - 6}-01-01"), _day(f"{y}-06-30"), m), gap()),
    })

    specs = LIST_SPECS["first_sets"][1]
    owner, m, gap = _owners(rng, len(credit_code), rates["first_sets"])
    recognized = rng.integers(_day(f"{y - 4}-01-01"), _day(f"{y}-06-30"), m)
    delivered = recognized + rng.integers(30, 900, m)
    out["first_sets"] = pd.DataFrame({
        "credit_code": credit_code[owner], "item_id": _ids("ST", m), "product": np.full(m, "首台套装备", object),
        "level": _codes(rng, m, specs, "level", [0.1, 0.35, 0.45, 0.1], gap),
        "category": _codes(rng, m, specs, "category", [0.75, 0.2, 0.05], gap),
        "recognized": _date(recognized, gap()),
        "national_catalog": _bool(rng.random(m) < 0.3, gap()),
        "app_reward_taken": _bool(rng.random(m) < 0.1, rng.random(m) < 0.5),  # often left empty: counts as no
        "cluster_field": _bool(rng.random(m) < 0.5, gap()),
        "app_contract_value": _money(np.round(rng.lognormal(np.log(900), 0.8, m), 2), gap()),
        "app_delivered": _date(np.minimum(delivered, _day(f"{y}-06-30")), gap(0.3)),
        "app_related_party": _bool(rng.random(m) < 0.1, gap()),
    })

    specs = LIST_SPECS["first_set_policies"][1]
    item = np.flatnonzero(rng.random(m) < 0.6)  # items insured, one policy each
    k = len(item)
    insured = np.round(rng.uniform(300, 5000, k), 2)
    national = rng.random(k) < 0.3
    start = np.minimum(np.maximum(recognized[item] + rng.integers(0, 700, k), _day(f"{y - 2}-09-01")),
                       _day(f"{y}-06-30"))
    # the policy year a start falls in: whole calendar years since recognition (MEASURES-2 §2.2), at most the 4th
    years = np.maximum((start - recognized[item]) // 365, 0)
    years = years - (add_years_days(recognized[item], years) > start)
    year_index = 1 + np.minimum(np.maximum(years, 0), 3)
    out["first_set_policies"] = pd.DataFrame({
        "credit_code": credit_code[owner[item]], "policy_id": _ids("BD", k),
        "item_id": out["first_sets"]["item_id"].to_numpy()[item],
        "scheme": _cat(national.astype(np.int64), [v["zh"] for v in specs["scheme"]["codes"].values()],
                       rng.random(k) < 0.02),
        "start": _date(start, rng.random(k) < 0.03),
        "insured_value": _money(insured),
        "premium": _money(np.round(insured * rng.uniform(0.005, 0.04, k), 2), rng.random(k) < 0.03),
        "premium_paid": _bool(rng.random(k) < 0.85, rng.random(k) < 0.05),
        "year_index": _int(year_index, rng.random(k) < 0.02),
        "national_subsidy": _bool(rng.random(k) < 0.05, rng.random(k) < 0.5),
    })

    specs = LIST_SPECS["tech_contracts"][1]
    owner, m, gap = _owners(rng, len(credit_code), rates["tech_contracts"])
    amount = np.round(rng.lognormal(np.log(80), 1.0, m), 2)
    out["tech_contracts"] = pd.DataFrame({
        "credit_code": credit_code[owner], "contract_id": _ids("HT", m),
        "role": _codes(rng, m, specs, "role", [0.7, 0.3], gap),
        "counterparty": _codes(rng, m, specs, "counterparty", [0.3, 0.2, 0.4, 0.1], gap),
        "kind": _codes(rng, m, specs, "kind", [0.35, 0.2, 0.15, 0.1, 0.2], gap),
        "registered": _bool(rng.random(m) < 0.7, gap()),
        "amount": _money(amount, gap()),
        "paid_prev_year": _money(np.round(amount * rng.uniform(0, 1, m), 2), gap()),
        "industrialized": _bool(rng.random(m) < 0.4, gap()),
        "subsidy_received": _money(np.where(rng.random(m) < 0.8, 0.0, np.round(rng.uniform(0, 80, m), 2)), gap()),
        "license_years": _int(rng.integers(1, 11, m), gap(0.3)),
        "license_exclusive": _bool(rng.random(m) < 0.3, gap(0.3)),
    })

    specs = LIST_SPECS["patent_projects"][1]
    owner, m, gap = _owners(rng, len(credit_code), rates["patent_projects"])
    out["patent_projects"] = pd.DataFrame({
        "credit_code": credit_code[owner], "project_id": _ids("ZL", m), "product": np.full(m, "专利产品", object),
        "patent_kind": _codes(rng, m, specs, "patent_kind", [0.6, 0.3, 0.1], gap),
        "start": _date(rng.integers(_day(f"{y - 5}-01-01"), _day(f"{y}-06-30"), m), gap()),
        "sales_3y": _money(np.round(rng.lognormal(np.log(800), 0.9, m), 2), gap()),
        "rewarded": _bool(rng.random(m) < 0.1, rng.random(m) < 0.5),
    })
    for name, frame in out.items():
        assert list(frame.columns) == ["credit_code", *LIST_SPECS[name][1]], name
    return out


# ---------------------------------------------------------------------------------------------------------------------
# write

# header spellings seen in bureau lists (header_variants=True), each one accepted by the §2 header matching
HEADER_VARIANTS = {
    "revenue": "营业收入（万元）",  # full-width parentheses
    "total_assets": "资产总额 (万元)",  # a space before the unit
    "rd_expense": "研发费用",  # unit dropped
    "ip_class2": "ip_class2",  # English field names
    "innovation_score": "innovation_score",
}

FIRM_BREAKS = ("text_in_number", "negative_count", "tech_staff_gt_employees", "bad_check_character",
               "impossible_date", "unknown_code", "duplicate_credit_code", "missing_name")
# (sheet, kind, field)
ITEM_BREAKS = ((LOAN_SHEET, "unknown_code", "kind"), (LOAN_SHEET, "orphan_credit_code", "credit_code"),
               (SERVICE_SHEET, "unknown_code", "provider_region"), (SERVICE_SHEET, "text_in_number", "fee"))
FORMULA_NAME = '=HYPERLINK("http://x","点我")'


def _type_of(name: str, specs: dict) -> str:
    return "credit_code" if name == "credit_code" else specs[name]["type"]


def _column_values(s: pd.Series, kind: str) -> tuple[str, list]:
    """('n', floats with nan) | ('d', Excel serials with nan) | ('s', str or None) for one column."""
    if kind in ("integer", "money", "decimal"):
        return "n", pd.to_numeric(s, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan).tolist()
    if kind == "date":
        if not pd.api.types.is_datetime64_any_dtype(s):
            s = pd.to_datetime(s)
        days = s.to_numpy(dtype="datetime64[s]").astype("datetime64[D]")
        serial = (days - _EPOCH_D).astype(np.int64).astype(np.float64) + _EXCEL_OFFSET
        serial[np.isnat(days)] = np.nan
        return "d", serial.tolist()
    if kind == "yesno":
        missing = s.isna().to_numpy()
        yes = s.fillna(False).astype(bool).to_numpy()
        out = np.where(yes, "是", "否").astype(object)
        out[missing] = None
        return "s", out.tolist()
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = np.asarray(s.cat.categories.astype(str), dtype=object)
        codes = s.cat.codes.to_numpy()
        out = cats[np.maximum(codes, 0)] if len(cats) else np.full(len(s), None, dtype=object)
        out = np.asarray(out, dtype=object)
        out[codes < 0] = None
        return "s", out.tolist()
    return "s", s.astype(object).where(s.notna(), None).tolist()


def _prepare(df: pd.DataFrame, columns: list[str], specs: dict) -> list[tuple[str, list]]:
    return [_column_values(df[c], _type_of(c, specs)) for c in columns]


def _orphan_code(existing: set, rng: np.random.Generator) -> str:
    """A valid credit code (Luqiao, GB 11714 and GB 32100 check characters right) that no firm of the list has."""
    division = np.frombuffer(b"331004", dtype=np.uint8).reshape(1, 6)
    while True:
        code = str(make_credit_codes(rng, division, np.array([2020]))[0])
        if code not in existing:
            return code


def _plan_breaks(firms, loans, services, broken: int, seed: int, with_items: bool):
    """Decide which cells to corrupt. Returns (overrides per sheet {row: {col: value}}, manifest entries, valid)."""
    rng = np.random.default_rng([seed, 20261122])
    n = len(firms)
    over = {FIRM_SHEET: {}, LOAN_SHEET: {}, SERVICE_SHEET: {}}
    entries, valid = [], []
    if broken <= 0 or n == 0:
        return over, entries, valid
    codes = firms["credit_code"].astype(object).to_numpy()
    has_items = np.zeros(n, dtype=bool)
    if with_items:
        has_items |= pd.Series(codes).isin(set(loans["credit_code"])).to_numpy()
        has_items |= pd.Series(codes).isin(set(services["credit_code"])).to_numpy()
    # firm rows to corrupt: preferably firms without loans or services (so no item row is rejected along with them)
    # and never the first row (a duplicate copies an earlier firm's code)
    order = rng.permutation(np.arange(1, n))
    order = np.concatenate([order[~has_items[order]], order[has_items[order]]])
    k_firm = min(broken, max(len(order) - 1, 0))
    picked = [int(i) for i in order[: k_firm + 1]]
    rows, formula_row = picked[:k_firm], (picked[k_firm] if len(picked) > k_firm else None)
    used = set(picked)
    col = {name: FIRM_LABELS[name] for name in FIRM_COLUMNS}
    emp = firms["employees"]
    for j, r in enumerate(rows):
        kind = FIRM_BREAKS[j % len(FIRM_BREAKS)]
        cells = over[FIRM_SHEET].setdefault(r, {})
        if kind == "text_in_number":
            field, value = "revenue", "约三千万"
        elif kind == "negative_count":
            field, value = "employees", -5
            cells["tech_staff"] = None  # keep the row's one reason: a count below zero
        elif kind == "tech_staff_gt_employees":
            e = emp.iloc[r]
            e = 12 if pd.isna(e) else int(e)
            cells["employees"] = e
            field, value = "tech_staff", e + 5
        elif kind == "bad_check_character":
            code = codes[r]
            wrong = CREDIT_CHARS[(CREDIT_CHARS.index(code[17]) + 1 + int(rng.integers(0, 30))) % 31]
            field, value = "credit_code", code[:17] + wrong
        elif kind == "impossible_date":
            field, value = "established", "2023-02-30"
        elif kind == "unknown_code":
            field, value = "tech_field", "人工智能"
        elif kind == "duplicate_credit_code":
            earlier = [i for i in range(r) if i not in used]
            src = earlier[int(rng.integers(0, len(earlier)))] if earlier else 0
            field, value = "credit_code", codes[src]
        else:  # missing_name
            field, value = "name", None
        cells[field] = value
        entries.append((FIRM_SHEET, r, field, kind, value))
    if formula_row is not None:
        over[FIRM_SHEET].setdefault(formula_row, {})["name"] = FORMULA_NAME
        valid.append((FIRM_SHEET, formula_row, "name", "formula_text", FORMULA_NAME))
    if with_items:
        k_items = math.ceil(broken / 3)
        bad_firms = set(codes[rows])
        frames = {LOAN_SHEET: loans, SERVICE_SHEET: services}
        pools = {}
        for sheet, frame in frames.items():
            ok = ~frame["credit_code"].isin(bad_firms).to_numpy()
            pools[sheet] = [int(i) for i in rng.permutation(np.flatnonzero(ok))]
        existing = set(codes)
        for j in range(k_items):
            sheet, kind, field = ITEM_BREAKS[j % len(ITEM_BREAKS)]
            if not pools[sheet]:
                continue
            r = pools[sheet].pop()
            if kind == "unknown_code":
                value = "抵押贷" if sheet == LOAN_SHEET else "广东"
            elif kind == "orphan_credit_code":
                value = _orphan_code(existing, rng)
                existing.add(value)
            else:
                value = "约五千元"
            over[sheet].setdefault(r, {})[field] = value
            entries.append((sheet, r, field, kind, value))
    return over, entries, valid


def agree_with_platforms(firms: pd.DataFrame, lists: dict | None) -> pd.DataFrame:
    """The firms with rd_institute raised from no to yes where 研发平台明细 gives them a provincial or national
    platform of a kind other than 其他: such a row and a stated no contradict each other (MEASURES-2 §2.2)."""
    platforms = (lists or {}).get("rd_platforms")
    if platforms is None or not len(platforms) or "rd_institute" not in firms:
        return firms
    codes = LIST_SPECS["rd_platforms"][1]
    levels = {codes["level"]["codes"][c]["zh"] for c in ("provincial", "national")}
    other = codes["kind"]["codes"]["other"]["zh"]
    qualifies = platforms["level"].isin(levels) & platforms["kind"].notna() & (platforms["kind"] != other)
    holders = firms["credit_code"].isin(set(platforms.loc[qualifies.to_numpy(), "credit_code"]))
    stated_no = (firms["rd_institute"] == False).fillna(False)  # noqa: E712 (a nullable boolean column)
    if not (holders & stated_no).any():
        return firms
    firms = firms.copy()
    firms.loc[(holders & stated_no).to_numpy(), "rd_institute"] = True
    return firms


def write(path, firms: pd.DataFrame, loans: pd.DataFrame | None = None, services: pd.DataFrame | None = None,
          broken: int = 0, seed: int = 0, header_variants: bool = False, lists: dict | None = None) -> dict:
    """Write a list workbook (.xlsx: sheets 企业名单, 贷款明细, 创新券服务) or the firm sheet as CSV (UTF-8 with BOM).

    broken > 0 corrupts that many firm rows (cycling through FIRM_BREAKS) and ceil(broken / 3) loan or service rows
    (cycling through ITEM_BREAKS; .xlsx only), each making its row invalid under MEASURES.md §2 "Reading values", and
    gives one more firm the formula-looking name FORMULA_NAME (valid text, written as text). Returns the manifest:
    {"broken": [(sheet, excel_row, column_label, kind)], "values": [the corrupt value of each entry],
     "valid": [(sheet, excel_row, column_label, "formula_text")], "rows": {sheet: data rows},
     "headers": {sheet: [the headers written]}}.
    Excel rows count from 1 with the header in row 1, so the first firm is row 2; column_label is the header as
    written. header_variants=True writes the firm-sheet headers of HEADER_VARIANTS (营业收入（万元）, 资产总额 (万元),
    研发费用, two English field names), all of which the §2 header matching accepts. Firm rows are corrupted only
    when there are enough rows (the first row and one row for the formula name are spared). `lists` (.xlsx only,
    from generate_lists) adds the MEASURES-2 sheets 研发平台明细, 首台套明细, 首台套保单, 技术合同明细, 专利产业化项目."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise ValueError(f"{path}: write .xlsx or .csv")
    loans = loans if loans is not None else pd.DataFrame(columns=LOAN_COLUMNS)
    services = services if services is not None else pd.DataFrame(columns=SERVICE_COLUMNS)
    xlsx = suffix == ".xlsx"
    if xlsx:
        firms = agree_with_platforms(firms, lists)
    over, entries, valid = _plan_breaks(firms, loans, services, broken, seed, with_items=xlsx)

    firm_headers = [FIRM_LABELS[c] for c in FIRM_COLUMNS]
    if header_variants:
        firm_headers = [HEADER_VARIANTS.get(c, FIRM_LABELS[c]) for c in FIRM_COLUMNS]
    sheets = [(FIRM_SHEET, firms, FIRM_COLUMNS, FIRM_SPECS, firm_headers)]
    if xlsx:
        sheets += [(LOAN_SHEET, loans, LOAN_COLUMNS, LOAN_SPECS, [LOAN_LABELS[c] for c in LOAN_COLUMNS]),
                   (SERVICE_SHEET, services, SERVICE_COLUMNS, SERVICE_SPECS,
                    [SERVICE_LABELS[c] for c in SERVICE_COLUMNS])]
        # the MEASURES-2 items of a corrupted firm row would be rejected with it: leave them out, so that the
        # manifest lists every rejected row
        spoiled = set(firms["credit_code"].to_numpy()[[r for r in over[FIRM_SHEET] if r < len(firms)]]) - {
            firms["credit_code"].iloc[r] for _s, r, *_ in valid}
        for name, frame in (lists or {}).items():
            frame = frame[~frame["credit_code"].isin(spoiled)].reset_index(drop=True)
            label, specs = LIST_SPECS[name]
            columns = ["credit_code", *specs]
            sheets.append((label, frame, columns, specs, [_label(c, specs) for c in columns]))
            over.setdefault(label, {})
    headers = {sheet: hdr for sheet, _, _, _, hdr in sheets}
    position = {sheet: {c: i for i, c in enumerate(cols)} for sheet, _, cols, _, _ in sheets}

    if xlsx:
        _write_xlsx(path, sheets, over)
    else:
        _write_csv(path, firms, firm_headers, over[FIRM_SHEET])

    def label(sheet, field):
        return headers[sheet][position[sheet][field]]

    return {
        "broken": [(s, r + 2, label(s, f), k) for s, r, f, k, _ in entries],
        "values": [v for *_, v in entries],
        "valid": [(s, r + 2, label(s, f), k) for s, r, f, k, _ in valid],
        "rows": {sheet: len(df) for sheet, df, *_ in sheets},
        "headers": headers,
    }


_WIDTHS = {"credit_code": 21, "name": 34, "district": 12, "provider": 30, "loan_id": 15}


def _write_xlsx(path: Path, sheets, over) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                         "strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"title": "企业名单（合成数据）", "author": "Huiqi sample_firms.generate",
                       "created": dt.datetime(2026, 11, 22)})  # fixed, so the file is reproducible
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    for sheet, df, columns, specs, header in sheets:
        ws = wb.add_worksheet(sheet)
        prepared = _prepare(df, columns, specs)
        for c, (name, (kind, _)) in enumerate(zip(columns, prepared)):
            ws.set_column(c, c, _WIDTHS.get(name, 12 if kind == "d" else max(10, min(2 * len(header[c]) + 2, 24))))
        ws.freeze_panes(1, 0)
        ws.set_row(0, None, head)
        for c, text in enumerate(header):
            ws.write_string(0, c, text, head)
        pos = {name: i for i, name in enumerate(columns)}
        rows_over = {r: {pos[f]: v for f, v in cells.items()} for r, cells in over.get(sheet, {}).items()}
        _write_rows(ws, prepared, len(df), rows_over, date_fmt)
    wb.close()


def _write_rows(ws, prepared, n, rows_over, date_fmt) -> None:
    write_string, write_number = ws.write_string, ws.write_number
    strings = [(c, vals) for c, (kind, vals) in enumerate(prepared) if kind == "s"]
    numbers = [(c, vals) for c, (kind, vals) in enumerate(prepared) if kind == "n"]
    dates = [(c, vals) for c, (kind, vals) in enumerate(prepared) if kind == "d"]
    # constant_memory flushes a row when a later row starts, so the cells of one row may come in any column order
    for r in range(n):
        x = r + 1
        if r in rows_over:
            _write_row_with_overrides(ws, prepared, r, x, rows_over[r], date_fmt)
            continue
        for c, vals in strings:
            v = vals[r]
            if v is not None:
                write_string(x, c, v)
        for c, vals in numbers:
            v = vals[r]
            if v == v:
                write_number(x, c, v)
        for c, vals in dates:
            v = vals[r]
            if v == v:
                write_number(x, c, v, date_fmt)


def _write_row_with_overrides(ws, prepared, r, x, cells, date_fmt) -> None:
    for c, (kind, vals) in enumerate(prepared):
        if c in cells:
            v = cells[c]
            if v is None:
                continue
            if isinstance(v, str):
                ws.write_string(x, c, v)
            else:
                ws.write_number(x, c, v)
            continue
        v = vals[r]
        if kind == "s":
            if v is not None:
                ws.write_string(x, c, v)
        elif v == v:
            ws.write_number(x, c, v, date_fmt if kind == "d" else None)


def _write_csv(path: Path, firms: pd.DataFrame, header: list[str], rows_over: dict) -> None:
    out = {}
    for name, label in zip(FIRM_COLUMNS, header):
        s = firms[name]
        kind = _type_of(name, FIRM_SPECS)
        if kind == "date":
            out[label] = pd.to_datetime(s).dt.strftime("%Y-%m-%d").astype(object).where(s.notna(), None)
        elif kind == "yesno":
            out[label] = pd.Series(_column_values(s, kind)[1], dtype=object)
        elif kind == "integer":
            out[label] = s.astype("Int64").astype(object).where(s.notna(), None)
        else:
            out[label] = s
    table = pd.DataFrame(out)
    if rows_over:
        labels = dict(zip(FIRM_COLUMNS, header))
        for r, cells in rows_over.items():
            for field, value in cells.items():
                col = labels[field]
                if table[col].dtype != object:
                    table[col] = table[col].astype(object)
                table.iat[r, table.columns.get_loc(col)] = value
    table.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n")


# ---------------------------------------------------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sample_firms.generate", description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, required=True, help="number of firms")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--broken", type=int, default=0, help="firm rows to corrupt (plus ceil(K/3) loan/service rows)")
    ap.add_argument("--loans-per-firm", type=float, default=1.0)
    ap.add_argument("--services-per-firm", type=float, default=0.5)
    ap.add_argument("--header-variants", action="store_true", help="write some real-world header spellings")
    ap.add_argument("--no-lists", action="store_true", help="leave out the MEASURES-2 list sheets (首台套明细 …)")
    ap.add_argument("--lists-per-firm", type=float, default=1.0,
                    help="scale the items per firm of the MEASURES-2 sheets (1.0: " +
                         ", ".join(f"{k} {v}" for k, v in LIST_RATES.items()) + ")")
    ap.add_argument("--first", type=int, default=None, help="write only the first M firms (and their items)")
    ap.add_argument("-o", "--output", required=True, help="OUT.xlsx or OUT.csv")
    args = ap.parse_args(argv)
    if Path(args.output).suffix.lower() not in (".xlsx", ".csv"):
        ap.error("the output must end in .xlsx or .csv")

    t0 = time.perf_counter()
    firms, loans, services = generate(args.rows, args.seed, args.loans_per_firm, args.services_per_firm)
    rates = {k: v * args.lists_per_firm for k, v in LIST_RATES.items()}
    lists = {} if args.no_lists else generate_lists(firms["credit_code"].to_numpy(), args.seed, rates)
    t1 = time.perf_counter()
    if args.first is not None:
        firms = firms.iloc[: args.first].reset_index(drop=True)
        keep = set(firms["credit_code"])
        loans = loans[loans["credit_code"].isin(keep)].reset_index(drop=True)
        services = services[services["credit_code"].isin(keep)].reset_index(drop=True)
        lists = {k: v[v["credit_code"].isin(keep)].reset_index(drop=True) for k, v in lists.items()}
    manifest = write(args.output, firms, loans, services, broken=args.broken, seed=args.seed,
                     header_variants=args.header_variants, lists=lists)
    t2 = time.perf_counter()
    rows = ", ".join(f"{sheet} {k}" for sheet, k in manifest["rows"].items())
    print(f"wrote {args.output}: {rows} rows in {t2 - t0:.2f} s (generate {t1 - t0:.2f} s, write {t2 - t1:.2f} s)")
    for (sheet, row, column, kind), value in zip(manifest["broken"], manifest["values"]):
        print(f"broken\t{sheet}\trow {row}\t{column}\t{kind}\t{value!r}")
    for sheet, row, column, kind in manifest["valid"]:
        print(f"valid\t{sheet}\trow {row}\t{column}\t{kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

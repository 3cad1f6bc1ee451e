"""The synthetic list generator (sample_firms/generate.py): generated values, the written workbook, the manifest."""

import datetime as dt
import pathlib

import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml

from engine.common.errors import InputError
from engine.evaluate.evaluator import STATUSES, evaluate
from engine.inputs.firm import parse_firm, parse_item
from engine.rules.loader import default_rules
from engine.inputs.table import from_records
from engine.common.values import match_header
from sample_firms.generate import LIST_RATES, credit_code_check_chars, generate, generate_lists, write

ROOT = pathlib.Path(__file__).resolve().parents[1]
DICT = yaml.safe_load((ROOT / "rules" / "fields.yaml").read_text(encoding="utf-8"))
FIRM_FIELDS = [k for k, v in DICT["fields"].items() if v["type"] != "list"]
LOAN_FIELDS = list(DICT["items"]["loan"]["fields"])
SERVICE_FIELDS = list(DICT["items"]["voucher_service"]["fields"])
CODE_ZH = DICT["fields"]["credit_code"]["zh"]
AS_OF = dt.date(2026, 11, 22)
TAIZHOU = {"椒江区", "黄岩区", "路桥区", "临海市", "温岭市", "玉环市", "天台县", "仙居县", "三门县", "台州湾新区"}

# GB 32100-2015, written out independently of the generator and of engine/common/values.py
CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def code_is_valid(code: str) -> bool:
    if len(code) != 18 or any(c not in CHARSET for c in code):
        return False
    remainder = 31 - sum(CHARSET.index(c) * w for c, w in zip(code[:17], WEIGHTS)) % 31
    return code[17] == CHARSET[0 if remainder == 31 else remainder]


@pytest.fixture(scope="module")
def lists():
    return generate(1000, seed=0)


@pytest.fixture(scope="module")
def rules():
    return default_rules()


def zh_codes(spec):
    return {v["zh"] for v in spec["codes"].values()}


def known(*series):
    mask = np.ones(len(series[0]), dtype=bool)
    for s in series:
        mask &= s.notna().to_numpy()
    return mask


# ---------------------------------------------------------------------------------------------------------------------
# generate()


def test_columns_and_types(lists):
    firms, loans, services = lists
    assert list(firms.columns) == FIRM_FIELDS
    assert list(loans.columns) == ["credit_code", *LOAN_FIELDS]
    assert list(services.columns) == ["credit_code", *SERVICE_FIELDS]
    assert len(firms) == 1000
    for name in FIRM_FIELDS:
        kind, s = DICT["fields"][name]["type"], firms[name]
        if kind in ("money", "decimal"):
            assert s.dtype == np.float64, name
            assert np.array_equal(np.round(s.dropna(), 2), s.dropna()), name  # at most two decimals
        elif kind == "integer":
            assert pd.api.types.is_integer_dtype(s.dtype), name
        elif kind == "date":
            assert pd.api.types.is_datetime64_any_dtype(s.dtype), name
        elif kind == "yesno":
            assert pd.api.types.is_bool_dtype(s.dtype), name
    for name, spec in (("tech_field", DICT["fields"]["tech_field"]),):
        assert set(firms[name].dropna().astype(str)) <= zh_codes(spec)
    loan_spec, service_spec = DICT["items"]["loan"]["fields"], DICT["items"]["voucher_service"]["fields"]
    assert set(loans["kind"].dropna().astype(str)) == zh_codes(loan_spec["kind"])
    assert set(loans["status"].dropna().astype(str)) == zh_codes(loan_spec["status"])
    assert set(services["provider_region"].dropna().astype(str)) == zh_codes(service_spec["provider_region"])
    assert set(services["kind"].dropna().astype(str)) == zh_codes(service_spec["kind"])


def test_credit_codes_unique_and_valid(lists):
    firms, loans, services = lists
    codes = firms["credit_code"].tolist()
    assert len(set(codes)) == len(codes)
    assert all(code_is_valid(c) for c in codes)
    assert set(loans["credit_code"]) <= set(codes) and set(services["credit_code"]) <= set(codes)


def test_vectorised_check_characters_agree():
    rng = np.random.default_rng(1)
    first = rng.integers(0, 31, (2000, 17))
    checks = credit_code_check_chars(first)
    for row, check in zip(first, checks):
        body = "".join(CHARSET[v] for v in row)
        assert code_is_valid(body + chr(check))


def test_consistent_values(lists):
    firms, loans, services = lists
    f = firms

    def holds(a, op, b):
        m = known(f[a], f[b])
        x, y = f[a].to_numpy(dtype=float, na_value=np.nan)[m], f[b].to_numpy(dtype=float, na_value=np.nan)[m]
        return bool(np.all(op(x, y)))

    assert holds("tech_staff", np.less_equal, "employees")
    assert holds("hi_tech_revenue", np.less_equal, "revenue")
    assert holds("rd_expense_3y", np.greater_equal, "rd_expense")
    assert holds("revenue_3y", np.greater_equal, "revenue")
    assert holds("rd_domestic_3y", np.less_equal, "rd_expense_3y")
    for name in ("employees", "tech_staff", "revenue", "total_assets", "total_cost", "rd_expense", "ip_class1"):
        assert (f[name].dropna() >= 0).all(), name
    assert (f["taxable_income"].dropna() < 0).any()  # any sign
    est = f["established"].dropna()
    assert est.min() >= pd.Timestamp("1990-01-01") and est.max() <= pd.Timestamp("2025-12-31")
    until = f["hnte_valid_until"].dropna()
    assert 0.10 <= len(until) / len(f) <= 0.20
    assert until.dt.year.between(2025, 2028).all()
    m = known(f["hnte_first_certified"], f["established"])
    assert (f["hnte_first_certified"][m] >= f["established"][m]).all()
    assert (f["hnte_first_certified"].dropna() <= f["hnte_valid_until"][f["hnte_first_certified"].notna()]).all()
    assert f["hnte_first_certified"][f["hnte_valid_until"].isna()].isna().all()
    assert 0.2 <= f["tech_sme_registered"].mean() <= 0.4 and 0.01 <= f["dishonest"].mean() <= 0.06
    intensity = (f["rd_expense"] / f["revenue"]).replace(np.inf, np.nan).dropna()
    assert 0.1 <= (intensity > 0.05).mean() <= 0.4 and 0.2 <= (intensity.between(0.02, 0.08)).mean()
    districts = f["district"].dropna().astype(str)
    assert 0.8 <= districts.isin(TAIZHOU).mean() <= 0.95
    assert 0.02 <= (districts == "温州浙南产业集聚区").mean() <= 0.09
    assert f["industry_code"].dropna().astype(str).str.fullmatch(r"[A-T]\d{4}").all()

    assert loans["loan_id"].is_unique
    assert 0.9 <= len(loans) / len(f) <= 1.1 and 0.4 <= len(services) / len(f) <= 0.6
    assert loans["principal"].dropna().between(50, 3000).all()
    assert (loans["interest_paid"].dropna() >= 0).all()
    paid = known(loans["interest_paid"], loans["principal"])
    assert (loans["interest_paid"][paid] <= loans["principal"][paid] * 0.05 + 0.01).all()
    dates = known(loans["start"], loans["end"])
    assert (loans["start"][dates] < loans["end"][dates]).all()
    assert loans["pledge_registered"][loans["kind"].notna() & (loans["kind"] != "知识产权质押")].isna().all()
    assert loans["loss"][loans["status"] == "正常"].isna().all()
    assert 0.01 <= (loans["status"] == "违约").mean() <= 0.06
    assert services["fee"].dropna().between(0.2, 5).all()
    assert (services["provider_region"] == "浙江").mean() > 0.6


def test_a_mix_of_missing_values(lists):
    firms, _, _ = lists
    share = firms.isna().mean()
    assert share["credit_code"] == 0 and share["name"] == 0
    # the MEASURES-2 scalar fields (from revenue_y2 on) have gaps of their own design: a title, milestone or investment
    # is often absent (empty = never, not reached); each has values and gaps
    second = FIRM_FIELDS[FIRM_FIELDS.index("revenue_y2"):]
    assert ((share[second] > 0) & (share[second] < 1)).all(), share[second]
    optional = [c for c in FIRM_FIELDS if c not in ("credit_code", "name", "hnte_valid_until", "hnte_first_certified")
                and c not in second]
    assert share[optional].between(0.05, 0.16).all(), share[optional]
    complete = firms[optional].notna().all(axis=1).mean()
    assert 0.4 <= complete <= 0.8  # most firms fill the form completely; the others leave gaps


def test_deterministic_for_a_seed():
    a, b = generate(150, seed=3), generate(150, seed=3)
    for x, y in zip(a, b):
        pd.testing.assert_frame_equal(x, y)
    assert not a[0]["credit_code"].equals(generate(150, seed=4)[0]["credit_code"])


def records(firms, loans, services, lists=None):
    def clean(row):
        out = {}
        for k, v in row.items():
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                continue
            out[k] = v.date() if isinstance(v, pd.Timestamp) else v.item() if isinstance(v, np.generic) else v
        return out

    items = {}
    frames = {"loans": loans, "voucher_services": services, **(lists or {})}
    for key, frame in frames.items():
        for row in frame.astype(object).to_dict("records"):
            items.setdefault((key, row.pop("credit_code")), []).append(clean(row))
    result = []
    for row in firms.astype(object).to_dict("records"):
        firm = clean(row)
        for key in frames:
            firm[key] = items.get((key, firm["credit_code"]), [])
        result.append(firm)
    return result


def test_every_generated_firm_is_valid_and_every_measure_splits(rules):
    firms, loans, services = generate(1500, seed=11)
    # the MEASURES-2 sheets, denser than by default so each of their measures splits among 1,500 firms
    lists = generate_lists(firms["credit_code"].to_numpy(), 11, {k: 10 * v for k, v in LIST_RATES.items()})
    parsed = [parse_firm(raw, rules.fields, AS_OF) for raw in records(firms, loans, services, lists)]
    ev = evaluate(rules, from_records(rules, parsed), AS_OF)
    for measure, result in ev.results.items():
        seen = {STATUSES[s] for s in result.status}
        # hnte_tax_rate needs only hnte_valid, which is never unknown (MEASURES.md §2: missing = not certified)
        expected = {"eligible", "ineligible"} | ({"undetermined"} if measure != "hnte_tax_rate" else set())
        assert expected <= seen, (measure, seen)


# ---------------------------------------------------------------------------------------------------------------------
# write()


def read_sheets(path):
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return wb.sheetnames, {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}
    finally:
        wb.close()


@pytest.fixture(scope="module")
def workbook(tmp_path_factory):
    firms, loans, services = generate(200, seed=7)
    path = tmp_path_factory.mktemp("xlsx") / "list.xlsx"
    manifest = write(path, firms, loans, services, broken=12, seed=7, header_variants=True)
    return path, manifest, (firms, loans, services)


def test_workbook_sheets_and_headers(workbook, tmp_path):
    path, manifest, (firms, loans, services) = workbook
    names, sheets = read_sheets(path)
    assert names == ["企业名单", "贷款明细", "创新券服务"]
    loan_zh = DICT["items"]["loan"]["fields"]
    service_zh = DICT["items"]["voucher_service"]["fields"]
    assert sheets["贷款明细"][0] == [CODE_ZH] + [loan_zh[k]["zh"] for k in LOAN_FIELDS]
    assert sheets["创新券服务"][0] == [CODE_ZH] + [service_zh[k]["zh"] for k in SERVICE_FIELDS]
    assert [len(sheets[s]) - 1 for s in names] == [len(firms), len(loans), len(services)]
    # the header variants are real-world spellings that the §2 header matching still reads as the same fields
    header = sheets["企业名单"][0]
    assert "营业收入（万元）" in header and "资产总额 (万元)" in header and "研发费用" in header
    assert sum(h in FIRM_FIELDS for h in header) == 2
    specs = default_rules().fields.fields
    assert [match_header(h, specs) for h in header] == FIRM_FIELDS
    # without variants the headers are exactly the labels
    plain = tmp_path / "plain.xlsx"
    write(plain, firms.head(3), loans.head(0), services.head(0))
    assert read_sheets(plain)[1]["企业名单"][0] == [DICT["fields"][k]["zh"] for k in FIRM_FIELDS]


def test_values_written_as_typed(workbook):
    path, manifest, (firms, loans, services) = workbook
    _, sheets = read_sheets(path)
    broken_rows = {(s, r) for s, r, _, _ in manifest["broken"]} | {(s, r) for s, r, _, _ in manifest["valid"]}
    rows = sheets["企业名单"]
    header = rows[0]
    col = {f: header.index(h) for f, h in zip(FIRM_FIELDS, manifest["headers"]["企业名单"])}
    for i in range(len(firms)):
        if ("企业名单", i + 2) in broken_rows:
            continue
        row, src = rows[i + 1], firms.iloc[i]
        assert row[col["credit_code"]] == src["credit_code"]
        assert row[col["name"]] == src["name"]
        for f in ("revenue", "employees", "rd_expense_3y"):
            assert (row[col[f]] is None) if pd.isna(src[f]) else row[col[f]] == src[f]
        est = row[col["established"]]
        assert (est is None) if pd.isna(src["established"]) else est.date() == src["established"].date()
        flag = row[col["dishonest"]]
        assert flag == (None if pd.isna(src["dishonest"]) else "是" if src["dishonest"] else "否")


def test_manifest_rows_hold_the_corrupt_values(workbook, rules):
    path, manifest, (firms, loans, services) = workbook
    _, sheets = read_sheets(path)
    kinds = {k for *_, k in manifest["broken"]}
    assert {"text_in_number", "negative_count", "tech_staff_gt_employees", "bad_check_character", "impossible_date",
            "unknown_code", "duplicate_credit_code", "missing_name", "orphan_credit_code"} <= kinds
    assert sum(s == "企业名单" for s, *_ in manifest["broken"]) == 12
    assert any(s == "贷款明细" for s, *_ in manifest["broken"]) and any(s == "创新券服务" for s, *_ in manifest["broken"])
    for (sheet, row, label, kind), value in zip(manifest["broken"], manifest["values"]):
        rows = sheets[sheet]
        cell = rows[row - 1][rows[0].index(label)]
        assert cell == value, (sheet, row, label, kind)
        if kind == "text_in_number":
            assert cell in ("约三千万", "约五千元")
        elif kind == "negative_count":
            assert cell == -5
        elif kind == "impossible_date":
            assert cell == "2023-02-30"
        elif kind == "bad_check_character":
            assert not code_is_valid(cell)
        elif kind == "missing_name":
            assert cell is None
        elif kind == "unknown_code":
            assert cell in ("人工智能", "抵押贷", "广东")
    (sheet, row, label, kind), = manifest["valid"]
    assert kind == "formula_text"
    wb = openpyxl.load_workbook(path, read_only=True)
    cell = next(c for r in wb[sheet].iter_rows(min_row=row, max_row=row) for c in r
                if c.value == '=HYPERLINK("http://x","点我")')
    assert cell.data_type == "s"  # text, not a formula
    wb.close()


def test_exactly_the_manifest_rows_are_rejected(workbook, rules):
    """Read the workbook back the way §2 says (headers matched, values parsed and checked): the rejected rows are
    exactly the manifest's broken rows; the formula-looking name is accepted."""
    path, manifest, _ = workbook
    _, sheets = read_sheets(path)
    fields = rules.fields
    expected = {(s, r) for s, r, _, _ in manifest["broken"]}
    rejected, seen, firm_codes = set(), set(), set()
    rows = sheets["企业名单"]
    names = [match_header(h, fields.fields) for h in rows[0]]
    for r, values in enumerate(rows[1:], start=2):
        raw = {n: v for n, v in zip(names, values) if v is not None}
        try:
            firm = parse_firm(raw, fields, AS_OF)
        except InputError:
            rejected.add(("企业名单", r))
            continue
        if firm["credit_code"] in seen:
            rejected.add(("企业名单", r))  # the second row with a code is the duplicate
        seen.add(firm["credit_code"])
        firm_codes.add(firm["credit_code"])
    for sheet, item in (("贷款明细", "loan"), ("创新券服务", "voucher_service")):
        rows = sheets[sheet]
        item_fields = fields.items[item].fields
        names = ["credit_code" if h == CODE_ZH else match_header(h, item_fields) for h in rows[0]]
        for r, values in enumerate(rows[1:], start=2):
            raw = {n: v for n, v in zip(names, values) if v is not None}
            code = raw.pop("credit_code")
            try:
                parse_item(raw, item, fields, AS_OF)
            except InputError:
                rejected.add((sheet, r))
                continue
            if code not in firm_codes:
                rejected.add((sheet, r))
    assert rejected == expected


def test_csv_has_a_bom_and_the_firm_sheet(tmp_path):
    firms, loans, services = generate(50, seed=2)
    path = tmp_path / "list.csv"
    manifest = write(path, firms, loans, services)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(back.columns) == [DICT["fields"][k]["zh"] for k in FIRM_FIELDS]
    assert len(back) == 50 and manifest["broken"] == []
    assert back[CODE_ZH].tolist() == firms["credit_code"].tolist()
    assert set(back["列入经营异常名录或严重失信名单"]) <= {"是", "否", ""}
    assert back["成立日期"].str.fullmatch(r"(\d{4}-\d{2}-\d{2})?").all()

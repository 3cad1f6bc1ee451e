"""The `huiqi` command line (ARCHITECTURE.md "Contracts"): `check` and `measures`, exit code 0 on success, 2 with one
line on stderr and no traceback for a user's mistake. Run in process through engine.cli.run, plus one run of the
installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import run

REPO = Path(__file__).resolve().parents[1]
SAMPLES = sorted((REPO / "sample_firms").glob("*.json"))
AS_OF = "2026-11-22"
MEASURE_IDS = [
    "tech_sme", "hnte", "hnte_tax_rate", "hnte_cultivation", "hnte_reward", "rd_whitelist", "rd_super_deduction",
    "tech_loan_interest_subsidy", "ip_pledge_interest_subsidy", "ip_pledge_risk_compensation", "innovation_voucher",
    # MEASURES-2.md (issue 11), in the order of its sections
    "first_set_reward", "first_set_insurance_subsidy", "first_set_insurance_national", "first_set_application_reward",
    "specialized_sme", "little_giant", "specialized_reward", "provincial_rd_institute", "provincial_key_rd_institute",
    "rd_institute_reward", "tech_contract_subsidy", "tech_outcome_purchase_subsidy", "tech_transfer_income_tax",
    "listing_reward", "patent_industrialization_reward", "equipment_upgrade_subsidy",
]
STATUSES = {"eligible", "ineligible", "undetermined", "not_in_force"}
ZH_MARKERS = ("【符合】", "【不符合】", "【需补充信息】", "【不适用】")
NEAR_MISS = REPO / "sample_firms" / "luqiao_rd_near_miss.json"  # Luqiao, tech SME by score, R&D intensity 4.60%


def huiqi(capsys, *argv):
    """Run the CLI in process: (exit code, stdout, stderr)."""
    code = run([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def check_json(capsys, *argv) -> dict:
    code, out, err = huiqi(capsys, "check", *argv, "--format", "json")
    assert code == 0, err
    assert err == ""
    return json.loads(out)


def result(obj: dict, measure: str) -> dict:
    return next(r for r in obj["results"] if r["measure"] == measure)


def assert_one_line_error(code, out, err, *needles):
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("huiqi")
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def write(tmp_path):
    def _write(name: str, content) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False),
                            encoding="utf-8")
        return path
    return _write


# -- check: every sample firm --------------------------------------------------------------------------------------------

def test_there_are_sample_firms():
    assert len(SAMPLES) >= 10


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_check_every_sample_firm_in_chinese(capsys, sample):
    firm = json.loads(sample.read_text(encoding="utf-8"))
    code, out, err = huiqi(capsys, "check", sample, "--as-of", AS_OF)
    assert code == 0, err
    assert err == ""
    assert firm["name"] in out
    assert f"评估日期: {AS_OF}" in out
    markers = [line for line in out.splitlines() if line.startswith("【")]
    assert len(markers) == len(MEASURE_IDS), out
    assert all(line.startswith(ZH_MARKERS) for line in markers), markers
    assert "合计" in out


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_check_every_sample_firm_as_json(capsys, sample):
    firm = json.loads(sample.read_text(encoding="utf-8"))
    obj = check_json(capsys, sample, "--as-of", AS_OF)
    assert obj["as_of"] == AS_OF
    assert obj["rules_version"]
    assert obj["firm"]["name"] == firm["name"]
    assert obj["firm"]["credit_code"] == firm.get("credit_code")
    assert [r["measure"] for r in obj["results"]] == MEASURE_IDS
    for r in obj["results"]:
        for key in ("measure", "status", "amount", "potential_amount", "budget_kind", "missing", "conditions",
                    "citations"):
            assert key in r, (r["measure"], key)
        assert r["status"] in STATUSES
        assert r["budget_kind"] in {"cash", "tax", "non_cash", "contingent"}
        assert isinstance(r["missing"], list) and isinstance(r["conditions"], list) and r["citations"]
        if r["status"] != "eligible":
            assert r["amount"] is None, r["measure"]
        if r["status"] == "undetermined":
            assert r["missing"], r["measure"]
    assert set(obj["totals"]) == {"cash", "tax", "contingent"}
    assert all(isinstance(v, float) for v in obj["totals"].values())


def test_check_in_english(capsys):
    code, out, err = huiqi(capsys, "check", NEAR_MISS, "--as-of", AS_OF, "--lang", "en")
    assert code == 0, err
    heads = [line for line in out.splitlines() if line.startswith("【")]
    assert len(heads) == len(MEASURE_IDS)
    assert all(h.startswith(("【ELIGIBLE】", "【NOT ELIGIBLE】", "【NEEDS INFORMATION】", "【NOT IN FORCE HERE】"))
               for h in heads), heads
    assert "【ELIGIBLE】Technology-based SME evaluation (registration)" in out
    assert "【NOT ELIGIBLE】Whitelist of tech firms with R&D intensity above 5%" in out
    assert "【ELIGIBLE】HNTE cultivation pool entry" in out
    assert "Totals (eligible measures)" in out
    assert "【符合】" not in out and "科技型中小企业评价入库" not in out


def test_check_text_shows_amounts_and_totals(capsys):
    code, out, err = huiqi(capsys, "check", REPO / "sample_firms" / "luqiao_tech_loans.json", "--as-of", AS_OF)
    assert code == 0, err
    section = out.split("【符合】科技贷款贴息")[1].split("\n\n")[0]
    assert "金额: 20.00 万元" in section  # 7.50 + 4.05 + 12.00 capped at 20
    assert "合计(已符合条件的措施): 财政资金 30.00 万元" in out


def test_check_json_amounts_of_a_sample(capsys):
    obj = check_json(capsys, REPO / "sample_firms" / "yuhuan_ip_pledge_default.json", "--as-of", AS_OF)
    risk = result(obj, "ip_pledge_risk_compensation")
    assert risk["status"] == "eligible"
    assert risk["amount"] == 200.0  # 620 × 0.40 = 248, capped at 200 per loan
    assert obj["totals"]["contingent"] == 200.0
    assert result(obj, "ip_pledge_interest_subsidy")["status"] == "ineligible"  # a defaulted loan earns no subsidy


def test_check_without_as_of_uses_today(capsys):
    import datetime as dt

    obj = check_json(capsys, NEAR_MISS)
    assert obj["as_of"] == dt.date.today().isoformat()


# -- check: bad input ----------------------------------------------------------------------------------------------------

def test_missing_file(capsys, tmp_path):
    path = tmp_path / "nope.json"
    assert_one_line_error(*huiqi(capsys, "check", path), "nope.json", "not found")


def test_directory_instead_of_a_file(capsys, tmp_path):
    assert_one_line_error(*huiqi(capsys, "check", tmp_path), str(tmp_path), "directory")


def test_invalid_json(capsys, write):
    path = write("bad.json", '{"name": "台州测试",\n "revenue": }')
    assert_one_line_error(*huiqi(capsys, "check", path), "bad.json", "invalid JSON", "line 2")


def test_json_array_instead_of_an_object(capsys, write):
    path = write("list.json", [{"name": "台州测试"}])
    assert_one_line_error(*huiqi(capsys, "check", path), "list.json", "expected one JSON object")


def test_not_utf8(capsys, write):
    path = write("gbk.json", '{"name": "台州测试"}'.encode("gbk"))
    assert_one_line_error(*huiqi(capsys, "check", path), "gbk.json", "UTF-8")


def test_negative_employees_names_the_field_and_value(capsys, write):
    path = write("neg.json", {"name": "台州测试", "district": "路桥区", "employees": -3})
    code, out, err = huiqi(capsys, "check", path, "--as-of", AS_OF)
    assert_one_line_error(code, out, err, "neg.json", "employees", "-3")
    code, out, err = huiqi(capsys, "check", path, "--as-of", AS_OF, "--lang", "en")
    assert_one_line_error(code, out, err, "field 'employees'", "value '-3'", "below the minimum 0")


def test_text_in_a_number_field(capsys, write):
    path = write("text.json", {"name": "台州测试", "revenue": "很多"})
    assert_one_line_error(*huiqi(capsys, "check", path, "--as-of", AS_OF, "--lang", "en"),
                          "field 'revenue'", "很多", "not a number")


def test_every_wrong_value_is_reported_on_the_one_line(capsys, write):
    path = write("two.json", {"name": "台州测试", "employees": -3, "revenue": "abc"})
    code, out, err = huiqi(capsys, "check", path, "--as-of", AS_OF, "--lang", "en")
    assert_one_line_error(code, out, err, "employees", "revenue")


def test_unknown_field_in_the_firm(capsys, write):
    path = write("unknown.json", {"name": "台州测试", "revenu": 100})
    assert_one_line_error(*huiqi(capsys, "check", path, "--as-of", AS_OF, "--lang", "en"), "unknown field 'revenu'")


def test_firm_without_a_name(capsys, write):
    path = write("noname.json", {"district": "路桥区"})
    assert_one_line_error(*huiqi(capsys, "check", path, "--as-of", AS_OF, "--lang", "en"), "name")


def test_founded_after_as_of(capsys, write):
    path = write("future.json", {"name": "台州测试", "established": "2027-01-01"})
    assert_one_line_error(*huiqi(capsys, "check", path, "--as-of", AS_OF, "--lang", "en"),
                          "established", "2027-01-01")


def test_unknown_set_name(capsys):
    assert_one_line_error(*huiqi(capsys, "check", NEAR_MISS, "--set", "rd_whitelist.min_intensity=0.04"),
                          "rd_whitelist.min_intensity", "unknown parameter")


def test_set_with_a_non_number(capsys):
    assert_one_line_error(*huiqi(capsys, "check", NEAR_MISS, "--set", "rd_whitelist.min_rd_intensity=four"),
                          "rd_whitelist.min_rd_intensity", "four", "expected a number")


@pytest.mark.parametrize("value", ["nan", "inf", ""])
def test_set_with_a_non_finite_or_empty_number(capsys, value):
    assert_one_line_error(*huiqi(capsys, "check", NEAR_MISS, "--set", f"lpr_1y={value}"), "lpr_1y")


def test_set_without_a_value(capsys):
    assert_one_line_error(*huiqi(capsys, "check", NEAR_MISS, "--set", "lpr_1y"), "NAME=VALUE")


def test_set_a_table_with_the_wrong_number_of_values(capsys):
    assert_one_line_error(*huiqi(capsys, "check", NEAR_MISS, "--set", "hnte.rd_ratio_tiers=0.05,0.04"),
                          "hnte.rd_ratio_tiers", "3")


def test_set_a_code_list_with_an_unknown_code(capsys):
    code, out, err = huiqi(capsys, "check", REPO / "sample_firms" / "luqiao_voucher_yangtze_delta.json",
                           "--as-of", AS_OF, "--set", "innovation_voucher.accepted_regions=zhejiang,mars")
    assert_one_line_error(code, out, err, "mars")


@pytest.mark.parametrize("value", ["2026-13-01", "2026-02-30", "tomorrow", "22/11/2026"])
def test_bad_as_of(capsys, value):
    assert_one_line_error(*huiqi(capsys, "check", NEAR_MISS, "--as-of", value), "--as-of", value)


def test_unknown_option(capsys):
    assert_one_line_error(*huiqi(capsys, "check", NEAR_MISS, "--colour"), "--colour")


def test_bad_format_choice(capsys):
    assert_one_line_error(*huiqi(capsys, "check", NEAR_MISS, "--format", "xml"), "--format", "xml")


def test_missing_argument_and_unknown_command(capsys):
    assert_one_line_error(*huiqi(capsys, "check"), "FIRM.json")
    assert_one_line_error(*huiqi(capsys, "frobnicate"), "frobnicate")


def test_deeply_nested_json(capsys, write):
    path = write("deep.json", '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}")
    try:
        code, out, err = huiqi(capsys, "check", path, "--as-of", AS_OF)
    except RecursionError as exc:
        pytest.fail(f"RecursionError escaped the CLI: {exc}")
    assert_one_line_error(code, out, err, "deep.json")


def test_huge_revenue(capsys, write):
    path = write("huge.json", '{"name": "台州测试", "district": "路桥区", "revenue": 12345678901234567890}')
    try:
        code, out, err = huiqi(capsys, "check", path, "--as-of", AS_OF)
    except Exception as exc:  # noqa: BLE001 - any escape is the bug
        pytest.fail(f"{type(exc).__name__} escaped the CLI")
    assert code in (0, 2)
    if code == 2:
        assert_one_line_error(code, out, err, "revenue")


# -- measures ------------------------------------------------------------------------------------------------------------

def test_measures_text_lists_every_measure(capsys):
    code, out, err = huiqi(capsys, "measures", "--as-of", AS_OF)
    assert code == 0, err
    listed = [line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")][1:]
    assert listed == MEASURE_IDS
    assert "rd_whitelist.min_rd_intensity = 5%" in out  # a ratio as a percentage, as on the page


def test_measures_json(capsys):
    code, out, err = huiqi(capsys, "measures", "--format", "json", "--as-of", AS_OF)
    assert code == 0, err
    data = json.loads(out)
    assert data["as_of"] == AS_OF and data["rules_version"]
    assert [m["id"] for m in data["measures"]] == MEASURE_IDS
    for m in data["measures"]:
        assert m["name"]["zh"] and m["name"]["en"]
        assert m["parameters"], m["id"]
        assert m["citations"], m["id"]
        assert m["conditions"], m["id"]
        assert m["in_force"] is True
    whitelist = next(m for m in data["measures"] if m["id"] == "rd_whitelist")
    param = next(p for p in whitelist["parameters"] if p["name"] == "rd_whitelist.min_rd_intensity")
    assert param["value"] == 0.05
    assert param["values"] == [{"from": "2021-04-19", "value": 0.05}]
    lpr = next(p for p in next(m for m in data["measures"] if m["id"] == "tech_loan_interest_subsidy")["parameters"]
               if p["name"] == "lpr_1y")
    assert lpr["value"] == 0.03


def test_measures_before_every_window(capsys):
    data = json.loads(huiqi(capsys, "measures", "--format", "json", "--as-of", "2000-01-01")[1])
    assert [m["in_force"] for m in data["measures"]] == [False] * len(MEASURE_IDS)


def test_measures_bad_option(capsys):
    assert_one_line_error(*huiqi(capsys, "measures", "--format", "yaml"), "--format")
    assert_one_line_error(*huiqi(capsys, "measures", "--as-of", "soon"), "--as-of")


# -- what-if and dates -----------------------------------------------------------------------------------------------------

def test_what_if_lower_whitelist_threshold(capsys):
    default = check_json(capsys, NEAR_MISS, "--as-of", AS_OF)
    whitelist = result(default, "rd_whitelist")
    assert whitelist["status"] == "ineligible"
    assert default["overrides"] == {}

    scenario = check_json(capsys, NEAR_MISS, "--as-of", AS_OF, "--set", "rd_whitelist.min_rd_intensity=0.04")
    assert result(scenario, "rd_whitelist")["status"] == "eligible"
    assert scenario["overrides"] == {"rd_whitelist.min_rd_intensity": 0.04}
    assert scenario["parameters"]["rd_whitelist.min_rd_intensity"] == 0.04
    # nothing else moved
    others = lambda obj: [(r["measure"], r["status"], r["amount"]) for r in obj["results"] if r["measure"] != "rd_whitelist"]
    assert others(scenario) == others(default)


def test_what_if_is_shown_in_the_text_report(capsys):
    code, out, err = huiqi(capsys, "check", NEAR_MISS, "--as-of", AS_OF, "--set", "rd_whitelist.min_rd_intensity=0.04")
    assert code == 0, err
    assert "假设参数: rd_whitelist.min_rd_intensity=0.04" in out
    assert "【符合】研发投入强度高于5%的科技企业白名单" in out


def test_what_if_on_an_amount(capsys):
    obj = check_json(capsys, REPO / "sample_firms" / "luqiao_tech_loans.json", "--as-of", AS_OF,
                     "--set", "tech_loan_interest_subsidy.cap=30")
    assert result(obj, "tech_loan_interest_subsidy")["amount"] == 23.55  # 7.50 + 4.05 + 12.00, no longer capped


def test_as_of_before_a_window_is_not_in_force(capsys):
    obj = check_json(capsys, NEAR_MISS, "--as-of", "2020-06-30")
    whitelist = result(obj, "rd_whitelist")  # in force from 2021-04-19
    assert whitelist["status"] == "not_in_force"
    assert "2021-04-19" in whitelist["reason"]["en"]
    assert whitelist["amount"] is None and whitelist["conditions"] == []
    assert result(obj, "tech_loan_interest_subsidy")["status"] == "not_in_force"
    assert result(obj, "innovation_voucher")["status"] != "not_in_force"  # from 2019-03-05
    assert result(obj, "tech_sme")["status"] == "eligible"
    code, out, _ = huiqi(capsys, "check", NEAR_MISS, "--as-of", "2020-06-30")
    assert "【不适用】研发投入强度高于5%的科技企业白名单" in out
    assert "评估日期不在政策有效期内(2021-04-19起)" in out


def test_as_of_on_the_first_day_of_the_window(capsys):
    obj = check_json(capsys, NEAR_MISS, "--as-of", "2021-04-19")
    assert result(obj, "rd_whitelist")["status"] != "not_in_force"
    obj = check_json(capsys, NEAR_MISS, "--as-of", "2021-04-18")
    assert result(obj, "rd_whitelist")["status"] == "not_in_force"


def test_as_of_decides_the_dated_rate(capsys):
    # rd_super_deduction.rate: 0.75 in 2019; 1.00 from 2023; amount = rd_expense 315.1 × rate × 25 %
    assert result(check_json(capsys, NEAR_MISS, "--as-of", "2019-06-30"), "rd_super_deduction")["amount"] == 59.08
    assert result(check_json(capsys, NEAR_MISS, "--as-of", AS_OF), "rd_super_deduction")["amount"] == 78.78


# -- the installed console script --------------------------------------------------------------------------------------------

def test_installed_console_script():
    script = Path(sys.executable).with_name("huiqi")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "engine.cli"]
    done = subprocess.run(command + ["check", str(NEAR_MISS), "--as-of", AS_OF, "--format", "json"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    obj = json.loads(done.stdout)
    assert result(obj, "rd_whitelist")["status"] == "ineligible"
    bad = subprocess.run(command + ["check", str(NEAR_MISS), "--as-of", "2026-02-30"],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert len(bad.stderr.splitlines()) == 1 and "Traceback" not in bad.stderr

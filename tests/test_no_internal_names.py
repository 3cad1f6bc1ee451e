"""Issue 12 point 6: no Chinese page shows an identifier from the rules (a field, item field, measure or parameter
id) or a seed file name. Every page a person can reach is walked through Flask's test client, as a firm (the form,
every sample firm's result, the catalogue) and as the bureaus (screening, a run, a measure's firms, budget, ledger),
and its visible text (no tags, attribute values, scripts or styles) is searched."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from engine.rules.loader import default_rules
from webapp import db

from conftest import API_PASSWORD
from listfiles import SAMPLES
from test_guided import CORE, post, step_id
from test_web import _upload, csrf, login

AS_OF = "2026-11-22"
SEED_FILE = re.compile(r"\b\d{3}_[0-9a-f]{16}(?:\.txt)?\b")


class _Visible(HTMLParser):
    """The text a reader sees: data outside script and style."""

    def __init__(self):
        super().__init__()
        self.parts, self.hidden = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.hidden += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ".join(parser.parts)


def identifiers() -> set[str]:
    rules = default_rules()
    names = set(rules.fields.fields) | set(rules.measures) | set(rules.params)
    for item in rules.fields.items:
        names |= set(rules.item_fields(item))
    return names


def leaks(html: str) -> list[str]:
    text = visible_text(html)
    found = [n for n in identifiers() if re.search(rf"(?<![\w.]){re.escape(n)}(?![\w.])", text)]
    return sorted(found) + SEED_FILE.findall(text)


@pytest.fixture()
def bureau(app, client):
    """A client logged in with an account that may screen, budget and read the ledger; the sample list screened."""
    s = db.new_session(app)
    db.add_user(s, "guanli", API_PASSWORD, "admin")
    s.close()
    login(client, API_PASSWORD, "guanli")
    response = _upload(client, (SAMPLES / "bureau_list.xlsx").read_bytes(), "名单.xlsx")
    assert response.status_code == 302
    return client, response.location


def _pages(client, run_url: str):
    rules = default_rules()
    yield "/", client.get("/")
    for path in sorted(SAMPLES.glob("*.json")):
        firm = json.loads(path.read_text(encoding="utf-8"))
        data = {"firm": json.dumps(firm, ensure_ascii=False), "as_of": AS_OF, "csrf_token": csrf(client)}
        yield f"result of {path.stem}", client.post("/check/answer", data=data)
        yield f"form of {path.stem}", client.get(f"/?sample={path.stem}")
    yield from _guided(client)
    yield "/catalogue/", client.get("/catalogue/")
    for mid in rules.measures:
        yield f"/catalogue/{mid}", client.get(f"/catalogue/{mid}")
    yield "/screen/", client.get("/screen/")
    yield run_url, client.get(run_url)
    for mid in rules.measures:
        response = client.get(f"{run_url}/measures/{mid}")
        if response.status_code != 404:  # a measure no firm is eligible for has no sheet
            yield f"{run_url}/measures/{mid}", response
    run_id = run_url.rstrip("/").split("/")[-1]
    yield "/budget/", client.get(f"/budget/?run={run_id}")
    what_if = {"csrf_token": csrf(client, "/budget/"), "run": run_id, "as_of": AS_OF,
               "p-rd_whitelist.min_rd_intensity": "4%", "p-innovation_voucher.take_up": "-1"}
    yield "/budget/ what-if out of range", client.post("/budget/", data=what_if)
    del what_if["p-innovation_voucher.take_up"]
    yield "/budget/ what-if", client.post("/budget/", data=what_if)
    yield "/ledger/", client.get("/ledger/")
    yield "/login", client.get("/login")


def _guided(client):
    """The guided questionnaire: the core (and the core with answers to correct), each topic step, the result."""
    response = client.get("/guided/")
    yield "/guided/", response
    yield "/guided/ core to correct", post(client, response.get_data(as_text=True), **{**CORE, "f-employees": "很多"})
    response = post(client, response.get_data(as_text=True), **CORE)
    while step_id(response.get_data(as_text=True)):
        yield f"/guided/ step {step_id(response.get_data(as_text=True))}", response
        response = post(client, response.get_data(as_text=True))
    yield "/guided/ result", response


def test_no_chinese_page_shows_an_identifier_or_a_seed_file_name(bureau):
    client, run_url = bureau
    walked = 0
    for name, response in _pages(client, run_url):
        assert response.status_code == (400 if "out of range" in name else 422 if "to correct" in name else 200), name
        assert leaks(response.get_data(as_text=True)) == [], name
        walked += 1
    assert walked > 40


def test_the_walker_finds_a_leak():
    """The check can fail: a page naming a parameter id or a seed file is caught."""
    assert leaks("<p>白名单门槛 rd_whitelist.min_rd_intensity</p>") == ["rd_whitelist.min_rd_intensity"]
    assert leaks("<p>来源 004_e5140ed4d9e9f93f.txt</p>") == ["004_e5140ed4d9e9f93f.txt"]
    assert leaks('<p title="revenue">营业收入</p><script>var revenue = 1;</script>') == []

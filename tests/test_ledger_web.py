"""The ledger through the web page, the API and the budget: events posted, pools shown, actuals beside estimates."""

from __future__ import annotations

import io
import json
import re

import openpyxl
import pytest

from engine.cli import run

from test_web import PASSWORD, csrf, login, web, client  # noqa: F401  (fixtures)
from listfiles import SAMPLES

FIRM = "91331000MA2AAAAA0J"
EVENTS = [
    {"type": "voucher_apply", "key": "a1", "date": "2025-03-03", "firm": FIRM, "voucher_id": "V1", "amount": 2,
     "dishonest": False},
    {"type": "voucher_apply", "key": "a2", "date": "2025-03-04", "firm": FIRM, "voucher_id": "V2", "amount": 1.5,
     "dishonest": False},
]


def _jsonl(events) -> bytes:
    return "\n".join(json.dumps(e, ensure_ascii=False) for e in events).encode()


@pytest.mark.both_databases
def test_ledger_page_posts_events_and_shows_pools_and_a_firm(client):  # noqa: F811
    assert client.get("/ledger/").status_code == 302  # bureau page
    login(client)
    response = client.post("/ledger/events", data={"csrf_token": csrf(client, "/ledger/"),
                                                  "events": (io.BytesIO(_jsonl(EVENTS)), "events.jsonl")},
                           content_type="multipart/form-data")
    page = response.data.decode()
    assert response.status_code == 200 and 'id="ledger-result"' in page
    row = re.search(r'data-pool="innovation_voucher" data-year="2025">(.*?)</tr>', page, re.S).group(1)
    assert '<td class="committed">3.50</td>' in row and '<td class="remaining">196.50</td>' in row
    bad = [dict(EVENTS[0], key="a3", voucher_id="V3", amount=5)]  # above the 2 万 per application
    response = client.post("/ledger/events", data={"csrf_token": csrf(client, "/ledger/"),
                                                  "events": (io.BytesIO(_jsonl(bad)), "bad.jsonl")},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and 'id="ledger-error"' in response.data.decode()
    page = client.get(f"/ledger/?firm={FIRM}").data.decode()
    assert 'id="history"' in page and "V1" in page and "V2" in page
    report = client.get("/ledger/report")
    assert report.status_code == 200 and openpyxl.load_workbook(io.BytesIO(report.data)).sheetnames


@pytest.mark.both_databases
def test_ledger_api_posts_and_reports_actuals(web, client):  # noqa: F811
    from webapp import db

    s = db.new_session(web)
    token = db.user_by_name(s, "kejiju").new_token()
    s.commit()
    s.close()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/ledger/events", json=EVENTS).status_code == 401
    response = client.post("/api/v1/ledger/events", json={"events": EVENTS}, headers=headers)
    assert response.status_code == 200 and response.get_json()["applied"] == 2
    again = client.post("/api/v1/ledger/events", json=EVENTS, headers=headers).get_json()
    assert again["applied"] == 0 and again["duplicates"] == 2
    bad = client.post("/api/v1/ledger/events", json=[dict(EVENTS[0], key="x", voucher_id="V9", amount=-1)],
                      headers=headers)
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "event_rejected"
    actuals = client.get("/api/v1/ledger/actuals?year=2025", headers=headers).get_json()
    assert actuals["actuals"]["innovation_voucher"]["committed"] == 3.5
    status = client.get(f"/api/v1/ledger/status?firm={FIRM}", headers=headers).get_json()
    assert len(status["firm"]["history"]) == 2


def test_budget_shows_the_ledger_actuals_beside_the_estimates(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HUIQI_INSTANCE", str(tmp_path))
    monkeypatch.delenv("HUIQI_DATABASE_URL", raising=False)
    events = tmp_path / "events.jsonl"
    events.write_bytes(_jsonl(EVENTS))
    args = ["budget", str(SAMPLES / "bureau_list.xlsx"), "--as-of", "2025-06-30", "--format", "json"]
    assert run(args) == 0
    assert "actuals" not in json.loads(capsys.readouterr().out)  # no ledger yet, and none is created
    assert not (tmp_path / "huiqi.sqlite3").exists()
    assert run(["ledger", "post", str(events)]) == 0
    capsys.readouterr()
    assert run(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["actuals"]["innovation_voucher"]["committed"] == 3.5
    assert run(["budget", str(SAMPLES / "bureau_list.xlsx"), "--as-of", "2025-06-30"]) == 0
    assert "台账实际数" in capsys.readouterr().out

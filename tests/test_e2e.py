"""End to end: `qa serve` (gunicorn) on a free port, asked over real HTTP."""
import pytest
import requests

from qa.config import SAMPLE_REPORTS

from .conftest import running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("served") / "index", SAMPLE_REPORTS) as base:
        yield base


def test_seed_question_over_http(server):
    r = requests.get(server + "/ask", params={"q": "how is London CRC doing on public protection"}, timeout=10)
    assert r.status_code == 200
    body = r.json()
    first = body["passages"][0]
    assert "quality of public protection work was variable" in first["text"]
    c = first["citation"]
    assert (c["title"], c["published"]) == (
        "London Community Rehabilitation Company - notable improvement from a very low base but much still to do",
        "2018-03-08")
    text = requests.get(server + f"/reports/{c['report_id']}/text", timeout=10).text
    assert text[c["char_start"]:c["char_end"]] == first["text"]


def test_post_with_malformed_json_over_http(server):
    r = requests.post(server + "/ask", data="{oops", headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


def test_chat_page_and_report_viewer_are_served(server):
    home = requests.get(server + "/", timeout=10)
    assert home.status_code == 200 and "<textarea" in home.text
    assert requests.get(server + "/static/chat.js", timeout=10).status_code == 200
    page = requests.get(server + "/reports/2018-03-london-crc-press-release", timeout=10)
    assert page.status_code == 200 and 'id="2018-03-london-crc-press-release-1"' in page.text

"""End to end: `qa serve` (gunicorn) on a free port, asked over real HTTP."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from qa.config import SAMPLE_REPORTS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    index = tmp_path_factory.mktemp("served") / "index"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa", "serve", "--index", str(index), "--reports", str(SAMPLE_REPORTS),
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(base + "/health", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the server did not start:\n" + (proc.stdout.read() if proc.stdout else ""))
        time.sleep(0.2)
    yield base
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


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

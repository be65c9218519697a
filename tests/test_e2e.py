"""End to end: `qa serve` (gunicorn) on a free port, asked over real HTTP."""
import os
import socket
from collections import Counter
from pathlib import Path

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


def _holders(server_port: int, client_ports: set[int]) -> list[int]:
    """The pid holding the server end of each connection from ``client_ports`` (Linux's /proc)."""
    inodes = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16), fields[9]
            if local == server_port and remote in client_ports:
                inodes[f"socket:[{inode}]"] = remote
    holders = {}
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            target = os.readlink(fd)
        except OSError:  # the process or the descriptor went away meanwhile
            continue
        if target in inodes:
            holders[inodes[target]] = int(fd.parts[2])
    return list(holders.values())


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads which process holds a socket from Linux's /proc")
def test_a_burst_of_keep_alive_connections_is_shared_by_the_workers(server):
    """32 connections opened at once and kept alive: each of the 2 workers serves a fair share of them
    (a worker holding most would queue their requests while the other idles)."""
    port = int(server.rsplit(":", 1)[1])
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
    try:
        for c in conns:
            c.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        for c in conns:
            assert c.recv(65536).startswith(b"HTTP/1.1 200")
        share = Counter(_holders(port, {c.getsockname()[1] for c in conns}))
    finally:
        for c in conns:
            c.close()
    assert sum(share.values()) == 32 and len(share) == 2 and min(share.values()) >= 8, share

"""Under gunicorn with 2 workers: rebuilds swap generations with no failed request, every answer
comes from one generation, and an admin upload handled by one worker is seen by both."""
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from qa.build import build_index
from qa.config import SAMPLE_REPORTS
from qa.index import GENERATIONS, Index

from .conftest import server_process
from .makefiles import probation_pdf

TOKEN = "hot-swap-token"


@pytest.fixture()
def gunicorn(tmp_path):
    reports, index = tmp_path / "reports", tmp_path / "index"
    shutil.copytree(SAMPLE_REPORTS, reports)
    build_index(reports, index)
    env = {"QA_INDEX_DIR": str(index), "QA_REPORTS_DIR": str(reports), "QA_ADMIN_TOKEN": TOKEN}
    command = [sys.executable, "-m", "gunicorn", "-w", "2", "--threads", "4", "-b", "127.0.0.1:{port}",
               "qa.app:create_app()"]
    with server_process(command, env) as base:
        yield base, reports, index


def _generation(index: Path, version: str) -> Index:
    return Index(index / GENERATIONS / version)


def test_ten_rebuilds_under_load_fail_no_request_and_never_mix_generations(gunicorn):
    base, reports, index = gunicorn
    stop = threading.Event()
    responses: list[tuple[int, dict | str]] = []

    def client():
        session = requests.Session()
        while not stop.is_set():
            try:
                r = session.get(base + "/ask", params={"q": "zebra crossing audit in London", "top_k": 10}, timeout=10)
                responses.append((r.status_code, r.json() if r.status_code == 200 else r.text))
            except requests.RequestException as exc:
                responses.append((0, repr(exc)))

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    built = []
    try:
        for i in range(10):
            (reports / f"update-{i}.txt").write_text(
                f"Zebra crossing audit {i}\n\nThe zebra crossing audit number {i} found London crossings safe.\n")
            r = subprocess.run([sys.executable, "-m", "qa", "index", "update", "--reports", str(reports),
                                "--index", str(index)], capture_output=True, text=True, timeout=300,
                               env={**os.environ, "QA_KEEP_GENERATIONS": "100"})  # kept for the checks below
            assert r.returncode == 0, r.stderr
            built.append(r.stdout.strip().rsplit(" ", 1)[-1])
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert len(set(built)) == 10
    failures = [r for r in responses if r[0] != 200]
    assert not failures, failures[:3]
    assert len(responses) >= 50
    seen = {body["index_version"] for _, body in responses}
    assert len(seen) >= 5, "the service did not move through the generations"
    for _, body in responses:
        gen = _generation(index, body["index_version"])
        reports_of = gen.report_index
        for p in body["passages"]:
            c = p["citation"]
            assert c["report_id"] in reports_of
            assert gen.report_text(c["report_id"])[c["char_start"]:c["char_end"]] == p["text"]
        # the answer holds exactly the audit reports of its own generation: none missing, none from another
        updates = {rid for rid in reports_of if rid.startswith("update-")}
        cited = {p["citation"]["report_id"] for p in body["passages"]}
        cited |= {a["report_id"] for p in body["passages"] for a in p["also_in"]}  # near-copies folded in
        assert cited - {"2018-03-london-crc-press-release"} == updates


def test_upload_through_one_worker_is_answered_by_both(gunicorn, tmp_path):
    base, reports, _ = gunicorn
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.post(base + "/admin/reindex", timeout=10).status_code == 401
    data = probation_pdf(tmp_path / "kent.pdf").read_bytes()
    r = requests.post(base + "/admin/reports", headers=auth, files={"file": ("kent.pdf", data)}, timeout=30)
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    deadline = time.monotonic() + 120
    while job["status"] not in ("succeeded", "failed") and time.monotonic() < deadline:
        time.sleep(0.1)
        job = requests.get(base + job["url"], headers=auth, timeout=10).json()["job"]  # any worker answers
    assert job["status"] == "succeeded", job
    versions = set()
    for _ in range(20):  # both workers, each on its next request, serve the new generation
        body = requests.get(base + "/ask", params={"q": "quality of assessment for unpaid work"}, timeout=10).json()
        versions.add(body["index_version"])
        assert body["passages"][0]["citation"]["source"] == "kent.pdf"
    assert versions == {job["result"]["generation"]}
    bad = requests.post(base + "/admin/reports", headers=auth, files={"file": ("x.pdf", b"%PDF-1.4 nope")}, timeout=30)
    assert bad.status_code == 422 and "x.pdf" in bad.json()["error"]["message"]
    assert sorted(p.name for p in reports.iterdir()) == sorted(
        ["2018-03-london-crc-press-release.txt", "2018-03-london-crc-press-release.meta.json", "kent.pdf"])

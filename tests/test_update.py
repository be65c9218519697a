"""New reports arrive: incremental update, watched folder, failures that must not lose the index."""
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qa.answer import ask
from qa.build import build_index
from qa.config import SAMPLE_REPORTS
from qa.index import GENERATIONS, IndexStore, read_pointer

from .conftest import qa_cli

from .makefiles import probation_pdf

QUESTIONS = ["how is London CRC doing on public protection?", "unpaid work supervision", "quality of assessment",
             "Dr Patel leadership", "domain 3 resettlement findings"]


@pytest.fixture()
def reports(tmp_path):
    folder = tmp_path / "reports"
    shutil.copytree(SAMPLE_REPORTS, folder)
    return folder


def answers(index_dir: Path) -> list[dict]:
    index = IndexStore(index_dir).current()
    out = []
    for q in QUESTIONS:
        body = ask(index, q, 10)
        body.pop("took_ms"), body.pop("index_version")
        out.append(body)
    return out


def test_update_then_ask_equals_build_then_ask(reports, tmp_path):
    updated, fresh = tmp_path / "updated", tmp_path / "fresh"
    build_index(reports, updated)
    probation_pdf(reports / "example.pdf", n_pages=5)
    (reports / "2018-03-london-crc-press-release.meta.json").write_text(json.dumps({"title": "Renamed"}))
    build_index(reports, updated, incremental=True)
    build_index(reports, fresh)
    assert answers(updated) == answers(fresh)


def test_a_new_pdf_is_the_only_file_read_and_a_deleted_one_is_gone(reports, tmp_path):
    index = tmp_path / "index"
    assert qa_cli("index", "build", "--reports", reports, "--index", index).returncode == 0
    probation_pdf(reports / "kent.pdf")
    r = qa_cli("index", "update", "--reports", reports, "--index", index)
    assert r.returncode == 0, r.stderr
    assert "extracted: 1 file(s): kent.pdf" in r.stdout and "reused from cache: 1 file(s)" in r.stdout
    body = ask(IndexStore(index).current(), "quality of assessment for unpaid work")
    assert body["found"] and body["passages"][0]["citation"]["source"] == "kent.pdf"
    (reports / "kent.pdf").unlink()
    r = qa_cli("index", "update", "--reports", reports, "--index", index)
    assert r.returncode == 0 and "removed: 1 report(s) whose files are gone: kent.pdf" in r.stdout
    assert "extracted:" not in r.stdout
    body = ask(IndexStore(index).current(), "quality of assessment for unpaid work")
    assert all(p["citation"]["source"] != "kent.pdf" for p in body["passages"])


def test_the_same_document_under_two_names_is_indexed_once(reports, tmp_path):
    probation_pdf(reports / "a.pdf")
    shutil.copy(reports / "a.pdf", reports / "b.pdf")
    r = qa_cli("index", "update", "--reports", reports, "--index", tmp_path / "i")
    assert "duplicate: b.pdf has the same content as a.pdf; indexed once" in r.stdout
    assert "indexed 2 report(s)" in r.stdout


def test_watch_updates_after_a_burst_and_survives_a_bad_file(reports, tmp_path):
    from qa.watch import watch

    index = tmp_path / "index"
    stop = threading.Event()
    results = []
    t = threading.Thread(target=watch, args=(reports, index), kwargs={"settle": 0.5, "stop": stop,
                                                                      "on_update": results.append})
    t.start()
    try:
        def wait_for(n):
            deadline = time.monotonic() + 60
            while len(results) < n and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(results) >= n, "the watcher did not update"
            return results[n - 1]

        first = wait_for(1)  # the catch-up update at start
        assert first.reports == 1
        staging = tmp_path / "staging"  # written first, then moved in at once: a burst, however slow the writing
        staging.mkdir()
        for i in range(3):
            probation_pdf(staging / f"burst-{i}.pdf", n_pages=2 + i)
        for i in range(3):  # one update for all three
            os.replace(staging / f"burst-{i}.pdf", reports / f"burst-{i}.pdf")
        second = wait_for(2)
        assert sorted(second.extracted) == ["burst-0.pdf", "burst-1.pdf", "burst-2.pdf"]
        (reports / "broken.pdf").write_bytes(b"%PDF-1.7 this is not really a pdf")
        third = wait_for(3)
        assert [r.file for r in third.rejected] == ["broken.pdf"] and third.reports == 4
        (reports / "broken.pdf").unlink()
        (reports / "burst-0.pdf").unlink()
        fourth = wait_for(4)
        assert fourth.removed == ["burst-0.pdf"] and not fourth.rejected and fourth.reports == 3
        assert len(results) == 4
    finally:
        stop.set()
        t.join(timeout=30)
    assert read_pointer(index) == results[-1].generation


def _slow_corpus(folder: Path, n: int = 60) -> None:
    """Enough PDF pages that a build takes a few seconds, so kills land in every stage of it."""
    folder.mkdir()
    for i in range(n):
        probation_pdf(folder / f"report-{i:02d}.pdf", n_pages=30)


def test_sigkill_at_any_moment_leaves_the_old_generation_serving(reports, tmp_path):
    index = tmp_path / "index"
    first = build_index(reports, index)
    slow = tmp_path / "slow"
    _slow_corpus(slow)
    t0 = time.monotonic()
    assert qa_cli("index", "build", "--reports", slow, "--index", tmp_path / "timing").returncode == 0
    duration = time.monotonic() - t0
    live = read_pointer(index)
    for fraction in (0.05, 0.2, 0.4, 0.6, 0.8, 0.95):
        proc = subprocess.Popen([sys.executable, "-m", "qa", "index", "build", "--reports", str(slow),
                                 "--index", str(index)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(duration * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = read_pointer(index)
        assert now in (live, None) or (index / GENERATIONS / now / "manifest.json").exists()
        live = now
        store = IndexStore(index).current()  # whatever CURRENT names is complete and answers
        body = ask(store, "what did inspectors find?")  # words of the sample and of the slow corpus
        assert body["index_version"] == store.version and body["passages"]
        assert all(p["text"] in store.report_text(p["citation"]["report_id"]) for p in body["passages"])
    final = qa_cli("index", "build", "--reports", slow, "--index", index)
    assert final.returncode == 0, final.stderr
    assert not [p for p in (index / GENERATIONS).iterdir() if p.name.startswith(".tmp-")]
    assert IndexStore(index).current().version != first.generation


def _limited_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_a_full_disk_gives_a_clear_message_and_keeps_the_old_index(reports, tmp_path):
    index = tmp_path / "index"
    first = build_index(reports, index)
    slow = tmp_path / "big"
    _slow_corpus(slow, n=8)
    r = subprocess.run([sys.executable, "-m", "qa", "index", "build", "--reports", str(slow), "--index", str(index)],
                       capture_output=True, text=True, preexec_fn=_limited_file_size, timeout=600)
    assert r.returncode != 0
    assert "could not write the index" in r.stderr and "file size limit" in r.stderr
    assert "previous index is untouched" in r.stderr
    assert read_pointer(index) == first.generation
    assert not [p for p in (index / GENERATIONS).iterdir() if p.name.startswith(".tmp-")]
    assert ask(IndexStore(index).current(), QUESTIONS[0])["found"]


def test_a_permission_error_gives_a_clear_message_and_keeps_the_old_index(reports, tmp_path):
    index = tmp_path / "index"
    first = build_index(reports, index)
    probation_pdf(reports / "new.pdf")
    command = [sys.executable, "-m", "qa", "index", "build", "--reports", str(reports), "--index", str(index)]
    if os.geteuid() == 0:  # root ignores file modes: run the build without the capability that lets it
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    os.chmod(index / GENERATIONS, 0o555)
    try:
        r = subprocess.run(command, capture_output=True, text=True, timeout=600)
    finally:
        os.chmod(index / GENERATIONS, 0o755)
    assert r.returncode != 0
    assert "could not write the index" in r.stderr and "permission denied" in r.stderr
    assert read_pointer(index) == first.generation
    assert ask(IndexStore(index).current(), QUESTIONS[0])["found"]

"""`qa fetch` and `qa watch --feed` against a real local site (tests/fakesite.py), over real HTTP."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from qa.app import create_app
from qa.build import build_index
from qa.cli import parse_duration
from qa.errors import BadRequest, FetchError
from qa.fetch import USER_AGENT, Politeness, _retry_after, fetch_feed, file_name, last_fetch, read_page
from qa.watch import watch_feed

from . import fakesite
from .conftest import ADMIN_TOKEN, ROOT

FAST = Politeness(delay=0, retries=1, backoff=0, timeout=0.5, max_bytes=2**20)


@pytest.fixture()
def site():
    s = fakesite.Site()
    server = fakesite.start(s)
    yield s
    s.release.set()
    server.shutdown()
    server.server_close()


def run_fetch(site, reports: Path, *extra: str) -> subprocess.CompletedProcess:
    """`qa fetch` in a process of its own, with the builder's limit at 1 MB and no waiting."""
    return subprocess.run(
        [sys.executable, "-m", "qa", "fetch", "--feed", f"{site.base}/feed.xml", "--reports", str(reports),
         "--delay", "0", "--retries", "1", "--timeout", "0.5", *extra],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "QA_MAX_FILE_MB": "1", "PYTHONPATH": str(ROOT)})


STORED = ("/files/riverside-report.pdf", "/files/annex.pdf", "/files/flaky.pdf")


def pdf_downloads(site) -> int:
    """Full downloads (200, not 304) of the PDFs a first fetch stores."""
    return sum(1 for p, h in site.requests if p in STORED and h.get("status") == 200)


def sidecar(reports: Path, source: str) -> dict:
    for f in reports.glob("*.meta.json"):
        meta = json.loads(f.read_text("utf-8"))
        if meta["source"] == source:
            return meta
    raise AssertionError(f"no sidecar with source {source}")


def test_fetch_stores_linked_pdfs_then_ask_cites_their_address(site, tmp_path):
    reports, index = tmp_path / "reports", tmp_path / "index"
    r = run_fetch(site, reports)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    base = site.base
    for stored in ("/files/riverside-report.pdf", "/files/annex.pdf", "/files/flaky.pdf", "/items/press"):
        assert f"<- {base}{stored}\n" in out
    assert f"rejected: {base}/files/missing.pdf: HTTP 404" in out
    assert f"rejected: {base}/files/slow.pdf: no answer within 0.5 s" in out
    assert f"rejected: {base}/private/secret.pdf: robots.txt" in out
    assert f"rejected: {base}/files/fake.pdf: not a PDF (served as application/pdf" in out
    assert f"rejected: {base}/files/huge.pdf: " in out and "over the 1 MB limit" in out
    assert "4 stored" in out

    # Nothing under the disallowed path, and no link of the navigation, header or footer, was asked for.
    paths = site.paths()
    assert not any(p.startswith("/private/") for p in paths)
    assert not any(p.startswith(("/nav/", "/footer/")) for p in paths)
    assert site.counts["/files/flaky.pdf"] == 2  # a 500, then the retry that succeeded
    assert {h["user-agent"] for _, h in site.requests} == {USER_AGENT}

    report = sidecar(reports, f"{base}/files/riverside-report.pdf")
    assert report == {"title": "Inspection of Riverside probation service", "published": "2026-11-20",
                      "source": f"{base}/files/riverside-report.pdf", "publisher": fakesite.PUBLISHER}
    assert sidecar(reports, f"{base}/files/annex.pdf")["published"] == "2026-11-20"  # reached by a redirect
    assert sidecar(reports, f"{base}/items/press")["kind"] == "press release"
    names = sorted(p.name for p in reports.iterdir() if not p.name.startswith("."))
    assert len(names) == 8 and all(n.startswith("2026-11-") for n in names)
    assert not list(reports.rglob("*.part"))

    build_index(reports, index)
    client = create_app(index, {"TESTING": True}).test_client()
    body = client.get("/ask", query_string={"q": "how well did Riverside manage the risk of harm"}).get_json()
    top = body["passages"][0]["citation"]
    assert top["source"] == f"{base}/files/riverside-report.pdf"
    assert top["published"] == "2026-11-20" and top["publisher"] == fakesite.PUBLISHER and top["page"] == 1

    downloads = pdf_downloads(site)
    again = run_fetch(site, reports)
    assert again.returncode == 0, again.stderr
    assert "0 stored" in again.stdout
    assert pdf_downloads(site) == downloads
    assert sorted(p.name for p in reports.iterdir() if not p.name.startswith(".")) == names


def test_an_unchanged_file_is_not_downloaded_twice(site, tmp_path):
    """An item seen again (its page re-read) gets 304s for the files it stored: ETag / If-None-Match."""
    reports = tmp_path / "reports"
    fetch_feed(f"{site.base}/feed.xml", reports, manners=FAST)
    state = reports / ".fetch" / "state.json"
    data = json.loads(state.read_text("utf-8"))
    data["items"], data["feeds"] = {}, {}
    state.write_text(json.dumps(data), "utf-8")
    downloads = pdf_downloads(site)
    result = fetch_feed(f"{site.base}/feed.xml", reports, manners=FAST)
    assert result.stored == []
    assert f"{site.base}/files/riverside-report.pdf" in result.unchanged
    assert pdf_downloads(site) == downloads
    assert any(p == "/files/riverside-report.pdf" and h["status"] == 304 for p, h in site.requests)


def test_a_file_with_only_last_modified_is_not_downloaded_twice(site, tmp_path):
    """A PDF served with Last-Modified and no ETag: when its item is read again, the fetcher asks
    If-Modified-Since with the date it stored (and no If-None-Match), gets a 304 and downloads nothing."""
    reports, url = tmp_path / "reports", f"{site.base}/files/dated.pdf"
    first = fetch_feed(f"{site.base}/lm/feed.xml", reports, manners=FAST)
    assert [s.source for s in first.stored] == [url]
    site.lm_published = "Thu, 26 Nov 2026 09:00:00 GMT"  # the item is updated: its page is read again
    again = fetch_feed(f"{site.base}/lm/feed.xml", reports, manners=FAST)
    assert again.items == 1 and again.stored == [] and again.rejected == []
    assert again.unchanged == [url] and f"unchanged: {url}" in again.lines()
    assert last_fetch(reports)["unchanged"] == [url]
    assert site.counts["/items/lm"] == 2
    first_ask, second_ask = site.asked("/files/dated.pdf")
    assert first_ask["if-modified-since"] is None and first_ask["if-none-match"] is None
    assert first_ask["status"] == 200
    assert second_ask["if-modified-since"] == fakesite.DATED_LAST_MODIFIED and second_ask["if-none-match"] is None
    assert second_ask["status"] == 304
    assert site.full_bodies("/files/dated.pdf") == 1
    assert (reports / first.stored[0].file).read_bytes() == fakesite.DATED


def test_the_same_file_at_a_second_address_is_stored_once_and_not_downloaded_again(site, tmp_path):
    """A PDF linked at two addresses is stored once; the second address is remembered too, so the next
    fetch asks both If-Modified-Since and downloads neither."""
    reports, url = tmp_path / "reports", f"{site.base}/files/dated.pdf"
    copy = f"{site.base}/files/dated-copy.pdf"
    first = fetch_feed(f"{site.base}/copy/feed.xml", reports, manners=FAST)
    assert [s.source for s in first.stored] == [url] and first.unchanged == [copy]
    assert len(list(reports.glob("*.pdf"))) == 1
    site.lm_published = "Thu, 26 Nov 2026 09:00:00 GMT"
    again = fetch_feed(f"{site.base}/copy/feed.xml", reports, manners=FAST)
    assert again.stored == [] and sorted(again.unchanged) == sorted([url, copy])
    assert [h["status"] for h in site.asked("/files/dated-copy.pdf")] == [200, 304]
    assert site.full_bodies("/files/dated.pdf") == site.full_bodies("/files/dated-copy.pdf") == 1

def test_the_feed_itself_unreadable_is_the_only_failure(site, tmp_path):
    r = subprocess.run([sys.executable, "-m", "qa", "fetch", "--feed", f"{site.base}/no-such-feed.xml",
                        "--reports", str(tmp_path), "--delay", "0", "--retries", "0"],
                       capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode != 0
    assert "the feed cannot be read" in r.stderr and "HTTP 404" in r.stderr
    with pytest.raises(FetchError, match="not an RSS or Atom feed"):
        fetch_feed(f"{site.base}/robots.txt", tmp_path / "b", manners=FAST)
    assert last_fetch(tmp_path / "b")["rejected"][0]["url"] == f"{site.base}/robots.txt"


def test_since_and_max_limit_the_items(site, tmp_path):
    since = fetch_feed(f"{site.base}/feed.xml", tmp_path / "a", manners=FAST,
                       since=__import__("datetime").date(2026, 11, 21))
    assert since.items == 1 and [s.source for s in since.stored] == [f"{site.base}/items/press"]
    first = fetch_feed(f"{site.base}/feed.xml", tmp_path / "b", manners=FAST, max_items=1)
    assert first.items == 1


def test_waits_between_requests_and_backs_off(site, tmp_path):
    """The waits are asked of ``sleep`` (recorded here, not slept): one host, at most one request a
    ``delay``; a 500 waits ``backoff`` before its retry."""
    waits: list[float] = []
    fetch_feed(f"{site.base}/feed.xml", tmp_path, manners=Politeness(delay=3.0, retries=1, backoff=7.0, timeout=0.5,
                                                                       max_bytes=2**20), sleep=waits.append)
    assert 7.0 in waits
    politeness = [w for w in waits if w != 7.0]
    assert len(politeness) >= len(site.requests) - 2 and all(0 < w <= 3.0 for w in politeness)
    polite = Politeness()
    assert polite.delay >= 1 and polite.retries >= 1 and polite.backoff >= 1 and "InspectionQA" in polite.user_agent


# No delay between requests, so the only wait asked of ``sleep`` is the one before the retry; a
# backoff of 7 s tells the fetcher's own wait apart from the server's.
BUSY = Politeness(delay=0, retries=2, backoff=7.0, timeout=0.5, max_bytes=2**20)


def test_retry_after_is_the_wait_before_the_retry(site, tmp_path):
    """A 429 with Retry-After: 4 is retried after the server's 4 s, not the fetcher's 7 s backoff, and
    the retry stores the file (the wait is recorded, not slept)."""
    waits: list[float] = []
    result = fetch_feed(f"{site.base}/busy/feed.xml", tmp_path, manners=BUSY, sleep=waits.append)
    assert waits == [4.0]
    assert [h["status"] for h in site.asked("/files/busy.pdf")] == [429, 200]
    assert [s.source for s in result.stored] == [f"{site.base}/files/busy.pdf"] and result.rejected == []


@pytest.mark.parametrize("status, retry_after, wait", [
    (503, "2", 2.0),  # a 503 is honoured as a 429 is
    (503, "3600", 300.0),  # capped at 5 minutes
    (503, "Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # an HTTP date already past: no wait
    (429, "-5", 7.0),  # not whole seconds: the fetcher's own backoff
    (429, "nan", 7.0),  # float() reads it, and time.sleep(nan) raised ValueError, ending the whole fetch
    (429, "soon", 7.0),  # unreadable: the backoff
    (429, "", 7.0),  # empty: the backoff
])
def test_retry_after_capped_or_unreadable(site, tmp_path, status, retry_after, wait):
    """Retry-After in whole seconds is capped at 5 minutes, a date already past means now, and anything
    else falls back to the backoff. Either way the retry is made and succeeds."""
    site.busy = (status, retry_after)
    waits: list[float] = []
    result = fetch_feed(f"{site.base}/busy/feed.xml", tmp_path, manners=BUSY, sleep=waits.append)
    assert waits == [wait]
    assert [h["status"] for h in site.asked("/files/busy.pdf")] == [status, 200]
    assert len(result.stored) == 1 and result.rejected == []


def test_retry_after_as_a_date_is_the_time_until_then():
    """Retry-After may be an HTTP date (RFC 9110): the wait is the time until then, capped at 5 minutes."""
    soon = datetime.now(timezone.utc) + timedelta(seconds=120)
    assert 100 < _retry_after(format_datetime(soon, usegmt=True), 7.0) <= 120
    assert _retry_after(format_datetime(soon + timedelta(hours=1), usegmt=True), 7.0) == 300.0


def test_names_are_made_by_the_fetcher():
    hostile = "../../etc/passwd\x00\x1b[31m /absolute\\path " + "é" * 300
    name = file_name(hostile, None, "http://x/../../a.pdf", ".pdf")
    assert "/" not in name and "\\" not in name and ".." not in name and len(name) < 100
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-.")
    assert file_name("Same", "2026-01-01", "http://x/a.pdf", ".pdf") != file_name("Same", "2026-01-01", "http://x/b.pdf", ".pdf")


def test_only_the_main_content_links_count():
    page = read_page(fakesite.ITEM_REPORT, "http://site/items/riverside", [])
    assert "http://site/files/riverside-report.pdf" in page.pdfs
    assert not any("/nav/" in p or "/footer/" in p for p in page.pdfs)
    assert page.article_kind is None  # a list of links, not an article
    assert read_page(fakesite.ITEM_PRESS, "http://site/items/press", []).article_kind == "press release"


def test_watch_feed_updates_the_index_and_admin_reports_the_fetch(site, tmp_path, monkeypatch):
    reports, index = tmp_path / "reports", tmp_path / "index"
    stop, done = threading.Event(), []

    def on_fetch(fetched, built):
        done.append((fetched, built))
        stop.set()

    thread = threading.Thread(target=watch_feed, args=(f"{site.base}/feed.xml", reports, index, 3600.0, stop, FAST,
                                                       on_fetch))
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive()
    fetched, built = done[0]
    assert built is not None and built.reports == 4 and len(fetched.stored) == 4

    monkeypatch.setenv("QA_ADMIN_TOKEN", ADMIN_TOKEN)
    client = create_app(index, {"TESTING": True}, reports_dir=reports).test_client()
    assert client.get("/admin/fetch").status_code == 401
    body = client.get("/admin/fetch", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).get_json()["fetch"]
    assert body["feed"] == f"{site.base}/feed.xml" and body["finished"]
    assert {s["source"] for s in body["stored"]} >= {f"{site.base}/files/riverside-report.pdf"}
    reasons = {r["url"]: r["reason"] for r in body["rejected"]}
    assert "robots.txt" in reasons[f"{site.base}/private/secret.pdf"]
    assert "not a PDF" in reasons[f"{site.base}/files/fake.pdf"]


def test_every_reads_durations():
    assert [parse_duration(d) for d in ("90s", "15m", "1h", "1d", "30")] == [90, 900, 3600, 86400, 30]
    for bad in ("soon", "0", "5 fortnights", "-1h"):
        with pytest.raises(BadRequest, match="not a duration"):
            parse_duration(bad)


def test_never_into_the_bundled_sample(site):
    from qa.config import SAMPLE_REPORTS
    from qa.errors import Conflict

    with pytest.raises(Conflict, match="a reports folder of your own"):
        fetch_feed(f"{site.base}/feed.xml", SAMPLE_REPORTS, manners=FAST)
    assert site.requests == [] and not (SAMPLE_REPORTS / ".fetch").exists()

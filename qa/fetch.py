"""Fetch: new reports from a publication feed (RSS or Atom) into the reports folder.

Each new item's page is fetched; every PDF its main content links to (not its navigation, header or
footer) is stored, and the page itself when it is a press release or report page. Each stored file
gets a ``.meta.json`` sidecar (the item's title and date, the file's web address as ``source``, the
feed's site as ``publisher``), which the build reads as it reads any sidecar.

Polite and safe: robots.txt is honoured (redirect targets too), requests carry our own User-Agent,
one host is asked at most once per ``delay`` seconds (or its Crawl-delay), 5xx answers and timeouts
are retried with exponential backoff, ETag / Last-Modified make an unchanged file a 304, downloads
are capped at the builder's file-size limit and a PDF must start like one. File names are made here,
never from a URL, and a download is moved into the folder only once complete. What was fetched is
remembered in ``<reports>/.fetch/`` (hidden: the build skips it), so a second run stores nothing new.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Callable
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import feedparser
import lxml.html
import requests
from lxml import etree

from . import __version__
from .build import text_slug
from .config import own_reports_dir
from .errors import BadRequest, FetchError
from .index import atomic_write_text
from .ingest import SIDECAR, Limits, too_large
from .ingest.html import strip_chrome

log = logging.getLogger(__name__)

USER_AGENT = f"InspectionQA-fetch/{__version__} (report fetcher; honours robots.txt)"
STATE_DIR = ".fetch"
MAX_REDIRECTS = 5
MAX_PAGE_BYTES = 5 * 2**20  # a feed or an item page larger than this is not one
_REDIRECTS = {301, 302, 303, 307, 308}
_CHROME_ROLES = "@role='navigation' or @role='banner' or @role='contentinfo' or @role='complementary' or @role='search'"
_ARTICLE_KIND = re.compile(r"\b(press[ _-]?release|news[ _-]?release|news[ _-]?story|report)s?\b", re.I)
_PRESS = re.compile(r"\b(press|news)\b", re.I)
MIN_ARTICLE_WORDS = 80


@dataclass
class Politeness:
    """How the fetcher treats the sites it reads. The defaults are polite; tests make them fast."""

    delay: float = 2.0  # seconds between two requests to one host (robots.txt Crawl-delay if longer)
    retries: int = 3  # further attempts after a 5xx answer or a timeout
    backoff: float = 2.0  # seconds before the first retry, doubled for each next one (or Retry-After)
    timeout: float = 30.0  # seconds to connect, and between two pieces of an answer
    max_bytes: int = Limits().max_file_bytes  # largest file stored: the builder's limit (QA_MAX_FILE_MB)
    user_agent: str = USER_AGENT


@dataclass
class StoredFile:
    """A report file the fetch stored, and where it came from."""

    file: str
    source: str
    title: str
    published: str | None


@dataclass
class Refused:
    """Something the fetch could not or would not store, and why."""

    url: str
    reason: str


@dataclass
class FetchResult:
    """What one fetch did: when, from which feed, what it stored, left unchanged and rejected."""

    feed: str
    started: str
    finished: str = ""
    items: int = 0  # new items read
    stored: list[StoredFile] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # addresses whose file was already stored
    rejected: list[Refused] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """What the fetch stored, left as it was and rejected (with why), the summary last: what
        ``qa fetch`` and ``qa watch --feed`` print."""
        out = [f"stored: {s.file} <- {s.source}" for s in self.stored]
        out += [f"unchanged: {url}" for url in self.unchanged]
        out += [f"rejected: {r.reason}" for r in self.rejected]
        out.append(f"fetched {self.items} new item(s) from {self.feed}: {len(self.stored)} stored, "
                   f"{len(self.unchanged)} unchanged, {len(self.rejected)} rejected")
        return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Client:
    """One HTTP session that follows robots.txt, waits between requests to a host and retries."""

    def __init__(self, manners: Politeness, sleep: Callable[[float], None] = time.sleep):
        self.manners = manners
        self.sleep = sleep
        self.session = requests.Session()
        self.session.headers["User-Agent"] = manners.user_agent
        self._robots: dict[str, RobotFileParser | None] = {}
        self._last: dict[str, float] = {}

    def close(self) -> None:
        self.session.close()

    def get(self, url: str, headers: dict | None = None) -> tuple[requests.Response, str]:
        """GET ``url`` (streamed) after robots.txt allows it, following redirects by hand so that each
        target is checked too; the answer and the address it came from."""
        for _ in range(MAX_REDIRECTS + 1):
            self._check_allowed(url)
            response = self._request(url, headers)
            location = response.headers.get("Location")
            if response.status_code not in _REDIRECTS or not location:
                return response, url
            response.close()
            url = urljoin(url, location)
        raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects", code="too_many_redirects")

    def _check_allowed(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"{url}: not an http(s) address", code="bad_address")
        robots = self._robots_for(parts)
        if robots is None or not robots.can_fetch(self.manners.user_agent, url):
            raise FetchError(f"{url}: robots.txt of {parts.netloc} does not allow it", code="robots_disallowed")

    def _robots_for(self, parts) -> RobotFileParser | None:
        """The host's robots.txt (redirects followed); a missing one (4xx) allows everything, an
        unreachable one (5xx, network) nothing (RFC 9309)."""
        key = f"{parts.scheme}://{parts.netloc}"
        if key not in self._robots:
            parser: RobotFileParser | None = RobotFileParser(key + "/robots.txt")
            try:
                response = self._request(key + "/robots.txt", None)
                for _ in range(MAX_REDIRECTS):
                    location = response.headers.get("Location")
                    if response.status_code not in _REDIRECTS or not location:
                        break
                    response.close()
                    response = self._request(urljoin(response.url, location), None)
                with response:
                    if response.status_code >= 400:
                        parser.parse([])
                    else:
                        parser.parse(_read(response, MAX_PAGE_BYTES, key + "/robots.txt").decode("utf-8", "replace")
                                     .splitlines())
            except FetchError:
                parser = None
            self._robots[key] = parser
        return self._robots[key]

    def _wait_turn(self, host: str) -> None:
        robots = self._robots.get(host)
        delay = max(self.manners.delay, float((robots.crawl_delay(self.manners.user_agent) if robots else 0) or 0))
        wait = self._last.get(host, -1e9) + delay - time.monotonic()
        if wait > 0:
            self.sleep(wait)
        self._last[host] = time.monotonic()

    def _request(self, url: str, headers: dict | None) -> requests.Response:
        parts = urlsplit(url)
        host = f"{parts.scheme}://{parts.netloc}"
        why, retry_wait = "", 0.0
        for attempt in range(self.manners.retries + 1):
            if attempt:
                self.sleep(retry_wait)
            self._wait_turn(host)
            try:
                response = self.session.get(url, headers=headers, stream=True, allow_redirects=False,
                                            timeout=self.manners.timeout)
            except requests.Timeout:
                why, retry_wait = f"no answer within {self.manners.timeout:g} s", self.manners.backoff * 2**attempt
                continue
            except requests.RequestException as exc:
                why, retry_wait = f"could not connect ({type(exc).__name__})", self.manners.backoff * 2**attempt
                continue
            if response.status_code < 500 and response.status_code != 429:
                return response
            why = f"HTTP {response.status_code}"
            retry_wait = _retry_after(response.headers.get("Retry-After"), self.manners.backoff * 2**attempt)
            response.close()
        raise FetchError(f"{url}: {why} after {self.manners.retries + 1} attempt(s)", code="fetch_failed")


def _retry_after(value: str | None, default: float) -> float:
    """A server's Retry-After, whole seconds or an HTTP date (RFC 9110), as a wait in seconds capped at
    5 minutes; ``default`` when it is neither ("nan", "-5", "soon")."""
    value = (value or "").strip()
    if value.isascii() and value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return default
        if when.tzinfo is None:  # "-0000": a date in UTC
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return min(max(seconds, 0.0), 300.0)


def _read(response: requests.Response, limit: int, url: str) -> bytes:
    """The whole body, refused as soon as it is larger than ``limit``."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FetchError(too_large(url, int(declared), limit), code="too_large")
    body, size = [], 0
    try:
        for piece in response.iter_content(1 << 16):
            size += len(piece)
            if size > limit:
                raise FetchError(too_large(url, size, limit) + " (stopped there)", code="too_large")
            body.append(piece)
    except requests.RequestException as exc:
        raise FetchError(f"{url}: the download broke off ({type(exc).__name__})", code="fetch_failed") from exc
    return b"".join(body)


# --- memory of earlier fetches -----------------------------------------------------------------

@dataclass
class FetchState:
    """What earlier fetches into one reports folder saw: feeds' and files' validators, items read,
    and which stored file each address became."""

    feeds: dict = field(default_factory=dict)  # feed url -> {"etag", "last_modified"}
    items: dict = field(default_factory=dict)  # item id -> its updated date as the feed gave it
    files: dict = field(default_factory=dict)  # file url -> {"file", "sha256", "etag", "last_modified"}

    @classmethod
    def load(cls, folder: Path) -> "FetchState":
        try:
            data = json.loads((folder / "state.json").read_text(encoding="utf-8"))
            return cls(data.get("feeds", {}), data.get("items", {}), data.get("files", {}))
        except (OSError, ValueError, AttributeError):
            return cls()

    def save(self, folder: Path) -> None:
        atomic_write_text(folder / "state.json", json.dumps(asdict(self), ensure_ascii=False, indent=1))


def last_fetch(reports_dir: Path) -> dict | None:
    """The result of the last fetch into ``reports_dir`` (``GET /admin/fetch``), or None."""
    try:
        return json.loads((Path(reports_dir) / STATE_DIR / "last.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _validators(response: requests.Response) -> dict:
    return {"etag": response.headers.get("ETag"), "last_modified": response.headers.get("Last-Modified")}


def _conditional(known: dict | None) -> dict:
    headers = {}
    if known and known.get("etag"):
        headers["If-None-Match"] = known["etag"]
    if known and known.get("last_modified"):
        headers["If-Modified-Since"] = known["last_modified"]
    return headers


# --- feed and pages ----------------------------------------------------------------------------

@dataclass
class Item:
    """One feed entry: what identifies it, where it points and what the feed says about it."""

    key: str
    stamp: str
    link: str
    title: str
    published: str | None
    tags: list[str]


def _entry_date(entry) -> str | None:
    for name in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry[name] if name in entry.keys() else None  # entry.get maps a missing "updated" to "published"
        if value:
            return date(value.tm_year, value.tm_mon, value.tm_mday).isoformat()
    return None


def _own(entry, name: str) -> str:
    return str(entry[name]) if name in entry.keys() else ""


def parse_feed(data: bytes, url: str) -> tuple[str | None, list[Item]]:
    """The feed's site name (the publisher) and its items, newest first as the feed lists them."""
    parsed = feedparser.parse(data, response_headers={"content-location": url})
    if not parsed.get("version") and not parsed.entries:
        reason = f" ({parsed.get('bozo_exception')})" if parsed.get("bozo") else ""
        raise FetchError(f"{url}: not an RSS or Atom feed{reason}", code="feed_unreadable")
    site = parsed.feed.get("title") or urlsplit(parsed.feed.get("link") or url).hostname
    items = []
    for entry in parsed.entries:
        link = entry.get("link")
        if not link:
            continue
        link = urljoin(url, link)
        items.append(Item(key=entry.get("id") or link, stamp=_own(entry, "updated") or _own(entry, "published"),
                          link=link, title=" ".join((entry.get("title") or "").split()) or link,
                          published=_entry_date(entry), tags=[t.get("term", "") for t in entry.get("tags", [])]))
    return (" ".join(site.split()) if site else None), items


@dataclass
class Page:
    """What an item's page offers: the PDFs of its main content, and whether it is itself a report."""

    pdfs: list[str]
    article_kind: str | None  # "press release" or "report" when the page's own text is worth storing


def read_page(data: bytes, url: str, tags: list[str]) -> Page:
    """PDF links of the page's main content, not of its navigation, header, footer or side bars;
    whether the page is a press release or report page (by its tags, og:type, labels and length)."""
    try:
        root = lxml.html.document_fromstring(data)
    except (etree.ParserError, ValueError):
        return Page([], None)
    labels = " ".join(tags + root.xpath("//meta[@property='og:type' or @name='dc.type' or @name='govuk:format']"
                                        "/@content") + root.xpath("//body/@class"))
    strip_chrome(root)
    for el in root.xpath(f"//*[{_CHROME_ROLES}]"):
        el.drop_tree()
    main = (root.xpath("//main") or root.xpath("//*[@role='main']") or root.xpath("//article")
            or root.xpath("//body") or [root])[0]
    pdfs: list[str] = []
    for a in main.xpath(".//a[@href]"):
        try:
            href = urljoin(url, a.get("href").strip())
        except ValueError:
            continue
        if urlsplit(href).path.lower().endswith(".pdf") or (a.get("type") or "").lower() == "application/pdf":
            href = href.split("#", 1)[0]
            if href not in pdfs:
                pdfs.append(href)
    words = len(" ".join(p.text_content() for p in main.xpath(".//p")).split())
    kind = None
    if words >= MIN_ARTICLE_WORDS and (_ARTICLE_KIND.search(labels) or "article" in labels.lower()):
        kind = "press release" if _PRESS.search(labels) else "report"
    return Page(pdfs, kind)


# --- storing -----------------------------------------------------------------------------------

def file_name(title: str, published: str | None, url: str, suffix: str) -> str:
    """A stored file's name, made here: the date, the title as ASCII words and a hash of the address
    (so two files never clash); nothing of the URL itself, so no path can come from outside."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:10]
    return f"{published or 'undated'}-{text_slug(title, 60)}-{digest}{suffix}"


class Fetcher:
    """One run over one feed into one reports folder."""

    def __init__(self, reports_dir: Path, manners: Politeness, sleep: Callable[[float], None] = time.sleep):
        self.reports_dir = Path(reports_dir)
        self.state_dir = self.reports_dir / STATE_DIR
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state = FetchState.load(self.state_dir)
        self.manners = manners
        self.client = Client(manners, sleep)

    def feed(self, url: str) -> tuple[str | None, list[Item]] | None:
        """The feed's publisher and items; None when it has not changed since the last fetch."""
        try:
            response, _ = self.client.get(url, _conditional(self.state.feeds.get(url)))
            with response:
                if response.status_code == 304:
                    return None
                if response.status_code != 200:
                    raise FetchError(f"{url}: the feed answered HTTP {response.status_code}", code="feed_unreadable")
                data = _read(response, MAX_PAGE_BYTES, url)
                validators = _validators(response)
        except FetchError as exc:
            raise FetchError(f"the feed cannot be read: {exc.message}", code="feed_unreadable") from None
        parsed = parse_feed(data, url)
        self.state.feeds[url] = validators
        return parsed

    def item(self, item: Item, publisher: str | None, result: FetchResult) -> None:
        """Store what one item links to; every failure is one rejection, never the end of the run."""
        try:
            response, where = self.client.get(item.link)
            with response:
                if response.status_code != 200:
                    raise FetchError(f"{item.link}: HTTP {response.status_code}")
                if _is_pdf_response(response, where):
                    self._store_pdf_answer(response, where, item, publisher, result)
                    return
                data = _read(response, MAX_PAGE_BYTES, where)
        except FetchError as exc:
            result.rejected.append(Refused(item.link, exc.message))
            return
        page = read_page(data, where, item.tags)
        for pdf in page.pdfs:
            self.file(pdf, item, publisher, result)
        if page.article_kind:
            self._store(data, where, ".html", item, publisher, result, kind=page.article_kind)

    def file(self, url: str, item: Item, publisher: str | None, result: FetchResult) -> None:
        """Download one linked PDF unless the server says it is unchanged (ETag / Last-Modified)."""
        known = self.state.files.get(url)
        try:
            response, where = self.client.get(url, _conditional(known))
            with response:
                if response.status_code == 304 and known:
                    result.unchanged.append(url)
                    return
                if response.status_code != 200:
                    raise FetchError(f"{url}: HTTP {response.status_code}")
                self._store_pdf_answer(response, where, item, publisher, result, key=url)
        except FetchError as exc:
            result.rejected.append(Refused(url, exc.message))

    def _store_pdf_answer(self, response: requests.Response, where: str, item: Item, publisher: str | None,
                          result: FetchResult, key: str | None = None) -> None:
        data = _read(response, self.manners.max_bytes, where)
        if b"%PDF-" not in data[:1024]:
            start = data[:40].decode("ascii", "replace").strip()
            raise FetchError(f"{where}: not a PDF (served as {response.headers.get('Content-Type') or 'no type'}, "
                             f"but it starts {start!r})", code="not_a_pdf")
        self._store(data, where, ".pdf", item, publisher, result, validators=_validators(response), key=key)

    def _store(self, data: bytes, where: str, suffix: str, item: Item, publisher: str | None,
               result: FetchResult, kind: str | None = None, validators: dict | None = None,
               key: str | None = None) -> None:
        """Write the sidecar, then move the complete file into the folder; a file already stored with
        these bytes is left as it is."""
        key = key or where
        digest = hashlib.sha256(data).hexdigest()
        known = self.state.files.get(key)
        if known and known.get("sha256") == digest and (self.reports_dir / known["file"]).exists():
            known.update(validators or {})
            result.unchanged.append(key)
            return
        same = next((f for f in self.state.files.values() if f.get("sha256") == digest), None)
        if same is not None:  # the same bytes at another address: remembered, so next time it can be a 304
            self.state.files[key] = {"file": same["file"], "sha256": digest, **(validators or {})}
            result.unchanged.append(key)
            return
        name = known["file"] if known else file_name(item.title, item.published, where, suffix)
        meta = {"title": item.title, "published": item.published, "source": where, "publisher": publisher,
                "kind": kind}
        target = self.reports_dir / name
        tmp = self.state_dir / f"{uuid.uuid4().hex}.part"
        try:
            tmp.write_bytes(data)
            atomic_write_text(target.with_name(target.stem + SIDECAR),
                              json.dumps({k: v for k, v in meta.items() if v}, ensure_ascii=False, indent=1))
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        self.state.files[key] = {"file": name, "sha256": digest, **(validators or {})}
        result.stored.append(StoredFile(name, where, item.title, item.published))


def _is_pdf_response(response: requests.Response, where: str) -> bool:
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return kind == "application/pdf" or urlsplit(where).path.lower().endswith(".pdf")


def parse_since(value: str | None) -> date | None:
    """``--since``: a YYYY-MM-DD date, or None."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"--since {value!r} is not a date: write it as YYYY-MM-DD", code="invalid_since") from None


def fetch_feed(feed_url: str, reports_dir: Path, *, since: date | None = None, max_items: int | None = None,
               manners: Politeness | None = None, sleep: Callable[[float], None] = time.sleep) -> FetchResult:
    """Store what the feed's new items link to in ``reports_dir``; remember it for the next run.

    Raises :class:`FetchError` only when the feed itself cannot be read; every other failure is one
    entry of ``rejected``. The result is also kept as ``<reports>/.fetch/last.json``.
    """
    if max_items is not None and max_items < 1:
        raise BadRequest("--max must be 1 or more", code="invalid_max")
    reports_dir = own_reports_dir(Path(reports_dir), "give --reports DIR")
    result = FetchResult(feed=feed_url, started=_now())
    fetcher = Fetcher(reports_dir, manners or Politeness(), sleep)
    try:
        parsed = fetcher.feed(feed_url)
        publisher, items = parsed if parsed else (None, [])
        new = [i for i in items if fetcher.state.items.get(i.key) != i.stamp
               and not (since and i.published and i.published < since.isoformat())]
        for item in new[:max_items]:
            fetcher.item(item, publisher, result)
            fetcher.state.items[item.key] = item.stamp
            result.items += 1
    except FetchError as exc:
        result.rejected.append(Refused(feed_url, exc.message))
        raise
    finally:
        fetcher.client.close()
        fetcher.state.save(fetcher.state_dir)
        result.finished = _now()
        atomic_write_text(fetcher.state_dir / "last.json", json.dumps(result.to_json(), ensure_ascii=False, indent=1))
    return result


__all__ = ["fetch_feed", "FetchResult", "Politeness", "StoredFile", "Refused", "last_fetch", "parse_since",
           "read_page", "parse_feed", "file_name", "USER_AGENT"]

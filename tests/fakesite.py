"""A publication site for the fetch tests, served over real HTTP on 127.0.0.1 (a random port).

It has a robots.txt, an RSS feed with ETags, item pages with navigation and footers, PDFs (made by
reportlab) with ETags, a redirect, a 404, a 500 then a success, a slow answer, a disallowed path, an
HTML page served as application/pdf and a file far over any small size limit. Two small feeds of one
item each test one thing apiece: /lm/feed.xml links a PDF served with Last-Modified but no ETag,
/busy/feed.xml a PDF first answered 429 or 503 with a Retry-After; /copy/feed.xml links the same
PDF at two addresses. Every request is logged with its
conditional headers, so a test can say what was (and was not) asked for, and how.
"""
from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

PUBLISHER = "HM Inspectorate of Probation"


def make_pdf(title: str, paragraphs: list[str]) -> bytes:
    """A real one-page PDF with a text layer."""
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    c.setFont("Helvetica-Bold", 20)
    c.drawString(72, 770, title)
    c.setFont("Helvetica", 11)
    y = 730
    for para in paragraphs:
        words, line = para.split(), ""
        for w in words:
            if len(line) + len(w) > 85:
                c.drawString(72, y, line)
                y, line = y - 15, ""
            line = f"{line} {w}".strip()
        c.drawString(72, y, line)
        y -= 25
    c.save()
    return out.getvalue()


REPORT_X = make_pdf("Inspection of Riverside probation service", [
    "Inspectors found that the Riverside probation service managed the risk of harm posed by people on "
    "probation well, and that its work with women on probation was outstanding.",
    "The service should improve how quickly it allocates cases to probation practitioners after sentence.",
])
ANNEX = make_pdf("Riverside inspection: data annex", [
    "The annex sets out caseload figures for Riverside: practitioners held on average 42 cases each "
    "during the fieldwork weeks of the inspection.",
])
FLAKY = make_pdf("Thematic inspection of electronic monitoring", [
    "The thematic inspection of electronic monitoring found that curfew tags were fitted promptly but "
    "that breaches were not always followed up by the responsible officer.",
])
NAV_PDF = make_pdf("Site menu", ["A menu document linked from the navigation bar only."])
FOOTER_PDF = make_pdf("Privacy notice", ["A privacy notice linked from the footer only."])
SECRET = make_pdf("Secret", ["Nothing here may ever be requested."])
DATED = make_pdf("Annual report of the Inspectorate", [
    "The annual report is served with a Last-Modified date and no ETag, as many older sites do.",
])
BUSY = make_pdf("Inspection of Eastfield youth justice service", [
    "The service was busy: its first answer asked the fetcher to come back later.",
])
DATED_LAST_MODIFIED = "Wed, 18 Nov 2026 08:00:00 GMT"

PRESS_TEXT = (
    "HM Inspectorate of Probation has published its inspection of the Riverside probation service today. "
    "Chief Inspector of Probation said the service had made good progress in protecting the public and "
    "praised the dedicated team of practitioners working with women on probation. Inspectors rated the "
    "service good overall and made four recommendations, including faster allocation of cases after "
    "sentence, better recording of risk assessments, more consistent contact with victims and a review "
    "of the accommodation available to people leaving prison in the region served by the service."
)


def _page(title: str, main: str, *, head: str = "", body_class: str = "") -> bytes:
    return f"""<!DOCTYPE html><html><head><title>{title} - GOV.UK</title>{head}</head>
<body class="{body_class}">
<header><a href="/">Home</a> <a href="/nav/header-guide.pdf">Guide</a></header>
<nav><ul><li><a href="/nav/menu.pdf">Menu (PDF)</a></li><li><a href="/about">About</a></li></ul></nav>
<main><h1>{title}</h1>{main}</main>
<div role="navigation"><a href="/nav/related.pdf">Related</a></div>
<footer><a href="/footer/privacy.pdf">Privacy notice</a> <a href="/accessibility">Accessibility</a></footer>
</body></html>""".encode()


ITEM_REPORT = _page("Inspection of Riverside probation service", """
<p>Our inspection of the Riverside probation service.</p>
<ul>
 <li><a href="/files/riverside-report.pdf">Inspection report (PDF)</a></li>
 <li><a href="/files/old-annex.pdf">Data annex (PDF)</a></li>
 <li><a href="/files/missing.pdf">Easy read version (PDF)</a></li>
 <li><a href="/files/flaky.pdf">Thematic report (PDF)</a></li>
 <li><a href="/files/slow.pdf">Large print (PDF)</a></li>
 <li><a href="/private/secret.pdf">Internal draft (PDF)</a></li>
 <li><a href="/files/fake.pdf">Welsh version (PDF)</a></li>
 <li><a href="/files/huge.pdf">Full evidence pack (PDF)</a></li>
</ul>""")
ITEM_PRESS = _page("Riverside probation service rated good", f"<p>{PRESS_TEXT}</p><p>{PRESS_TEXT}</p>",
                   head='<meta property="og:type" content="article">', body_class="press-release")


def _rss(base: str, items: str) -> bytes:
    """The site's feed envelope around ``items`` (RSS <item> elements)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>{PUBLISHER}</title><link>{base}/</link><description>Publications</description>
{items}
</channel></rss>""".encode()


def feed(base: str) -> bytes:
    return _rss(base, f"""<item><title>Riverside probation service rated good</title><link>{base}/items/press</link>
 <guid>{base}/items/press</guid><pubDate>Tue, 24 Nov 2026 09:30:00 GMT</pubDate>
 <category>Press release</category></item>
<item><title>Inspection of Riverside probation service</title><link>{base}/items/riverside</link>
 <guid>{base}/items/riverside</guid><pubDate>Fri, 20 Nov 2026 10:00:00 GMT</pubDate></item>
<item><title>An old publication</title><link>{base}/items/old</link>
 <guid>{base}/items/old</guid><pubDate>Mon, 02 Mar 2020 10:00:00 GMT</pubDate></item>""")


def one_item_feed(base: str, title: str, link: str, published: str) -> bytes:
    """A feed of one item (no validators: read in full every time); a new ``published`` makes the
    item new again, so its page is read again."""
    return _rss(base, f"""<item><title>{title}</title><link>{base}{link}</link>
 <guid>{base}{link}</guid><pubDate>{published}</pubDate></item>""")


ROBOTS = b"User-agent: *\nDisallow: /private/\n"


@dataclass
class Site:
    """The running site: its address, the requests it got, and what it serves."""

    base: str = ""
    requests: list[tuple[str, dict]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    huge_bytes: int = 8 * 2**20
    lm_published: str = "Wed, 18 Nov 2026 09:00:00 GMT"  # the /lm/feed.xml item's date; change it to re-read
    busy: tuple[int, str] = (429, "4")  # /files/busy.pdf's first answer: its status and Retry-After

    def paths(self) -> list[str]:
        return [p for p, _ in self.requests]

    def full_bodies(self, path: str) -> int:
        """How many times ``path`` was answered with its body (not a 304)."""
        return sum(1 for p, h in self.requests if p == path and h.get("status") == 200)

    def asked(self, path: str) -> list[dict]:
        """What each request for ``path`` carried (conditional headers) and got (status), in order."""
        return [h for p, h in self.requests if p == path]


def start(site: Site) -> ThreadingHTTPServer:
    """Serve ``site`` on a free port of 127.0.0.1 in a background thread."""
    statics = {
        "/files/riverside-report.pdf": REPORT_X, "/files/annex.pdf": ANNEX, "/nav/menu.pdf": NAV_PDF,
        "/nav/header-guide.pdf": NAV_PDF, "/nav/related.pdf": NAV_PDF, "/footer/privacy.pdf": FOOTER_PDF,
        "/private/secret.pdf": SECRET,
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _send(self, status: int, body: bytes = b"", kind: str = "text/html", headers: dict | None = None) -> None:
            site.requests[-1][1]["status"] = status
            self.send_response(status)
            self.send_header("Content-Type", kind)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _dated(self, body: bytes, kind: str, last_modified: str) -> None:
            """Last-Modified and no ETag: a 304 when If-Modified-Since is not before the file's date."""
            since = self.headers.get("If-Modified-Since")
            try:
                unchanged = since is not None and parsedate_to_datetime(since) >= parsedate_to_datetime(last_modified)
            except (TypeError, ValueError):
                unchanged = False
            if unchanged:
                self._send(304, headers={"Last-Modified": last_modified})
            else:
                self._send(200, body, kind, {"Last-Modified": last_modified})

        def _cached(self, body: bytes, kind: str) -> None:
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                self._send(304, headers={"ETag": etag})
            else:
                self._send(200, body, kind, {"ETag": etag})

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            site.requests.append((path, {"user-agent": self.headers.get("User-Agent", ""),
                                         "if-none-match": self.headers.get("If-None-Match"),
                                         "if-modified-since": self.headers.get("If-Modified-Since")}))
            site.counts[path] = site.counts.get(path, 0) + 1
            if path == "/robots.txt":
                self._send(200, ROBOTS, "text/plain")
            elif path == "/feed.xml":
                self._cached(feed(site.base), "application/rss+xml")
            elif path == "/items/riverside":
                self._send(200, ITEM_REPORT)
            elif path == "/items/press":
                self._send(200, ITEM_PRESS)
            elif path == "/items/old":
                self._send(200, _page("Old", '<p><a href="/files/old.pdf">Old report</a></p>'))
            elif path in statics:
                self._cached(statics[path], "application/pdf")
            elif path == "/files/old-annex.pdf":
                self._send(301, headers={"Location": "/files/annex.pdf"})
            elif path == "/files/flaky.pdf":
                if site.counts[path] == 1:
                    self._send(500, b"<h1>Internal Server Error</h1>")
                else:
                    self._cached(FLAKY, "application/pdf")
            elif path == "/files/slow.pdf":
                site.release.wait(10)
                try:
                    self._send(200, REPORT_X, "application/pdf")
                except OSError:  # the fetcher gave up long ago
                    pass
            elif path == "/lm/feed.xml":
                self._send(200, one_item_feed(site.base, "Annual report of the Inspectorate", "/items/lm",
                                              site.lm_published), "application/rss+xml")
            elif path == "/items/lm":
                self._send(200, _page("Annual report", '<p><a href="/files/dated.pdf">Annual report (PDF)</a></p>'))
            elif path == "/copy/feed.xml":
                self._send(200, one_item_feed(site.base, "Annual report, two addresses", "/items/copy",
                                              site.lm_published), "application/rss+xml")
            elif path == "/items/copy":
                self._send(200, _page("Annual report", '<p><a href="/files/dated.pdf">Annual report (PDF)</a> '
                                                       '<a href="/files/dated-copy.pdf">The same, again</a></p>'))
            elif path in ("/files/dated.pdf", "/files/dated-copy.pdf"):
                self._dated(DATED, "application/pdf", DATED_LAST_MODIFIED)
            elif path == "/busy/feed.xml":
                self._send(200, one_item_feed(site.base, "Inspection of Eastfield youth justice service",
                                              "/items/busy", "Thu, 19 Nov 2026 09:00:00 GMT"), "application/rss+xml")
            elif path == "/items/busy":
                self._send(200, _page("Eastfield", '<p><a href="/files/busy.pdf">Inspection report (PDF)</a></p>'))
            elif path == "/files/busy.pdf":
                if site.counts[path] == 1:
                    status, retry_after = site.busy
                    self._send(status, b"<h1>Busy</h1>", headers={"Retry-After": retry_after})
                else:
                    self._send(200, BUSY, "application/pdf")
            elif path == "/files/fake.pdf":
                self._send(200, b"<!DOCTYPE html><html><body><p>Page not found</p></body></html>", "application/pdf")
            elif path == "/files/huge.pdf":
                site.requests[-1][1]["status"] = 200
                self.send_response(200)
                self.send_header("Content-Type", "application/pdf")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    self.wfile.write(b"%PDF-1.4\n")
                    for _ in range(site.huge_bytes // 2**16):
                        self.wfile.write(b"0" * 2**16)
                except OSError:
                    pass
            else:
                self._send(404, b"<h1>Not found</h1>")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True, name="fakesite").start()
    return server

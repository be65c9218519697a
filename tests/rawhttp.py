"""Raw HTTP for the hardening tests: bytes exactly as given (no client normalises a bad request line,
a non-UTF-8 query or a broken chunked body), and the checks every error response must pass."""
from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# Paths that belong to the JSON API: every non-2xx answer there is the error envelope, never HTML.
# The HTML pages (/, /browse, /reports/<id>) may answer a browser's 404 with an HTML page.
HTML_PAGES_MAY_404 = ("/", "/browse")


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def send_raw(base: str, request: bytes, timeout: float = 15.0) -> RawResponse:
    """Send ``request`` as is to the server at ``base`` (http://host:port), half-close, read the
    whole answer. Raises OSError/ValueError when nothing parseable comes back."""
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        try:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before reading a large request whole
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, OSError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return parse_response(b"".join(chunks))


def parse_response(data: bytes) -> RawResponse:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError(f"no complete HTTP response: {data[:200]!r}")
    lines = head.decode("latin-1").split("\r\n")
    version, status, *reason = lines[0].split(" ", 2)
    if not version.startswith("HTTP/"):
        raise ValueError(f"not an HTTP response: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    elif "content-length" in headers:
        body = body[:int(headers["content-length"])]
    return RawResponse(int(status), reason[0] if reason else "", headers, body)


def _dechunk(data: bytes) -> bytes:
    out, pos = [], 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(data[end + 2:end + 2 + size])
        pos = end + 2 + size + 2


def request_bytes(method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b"",
                  content_length: bool = True) -> bytes:
    head = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body and content_length:
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def envelope_problem(status: int, content_type: str, body: bytes, *, head: bool = False) -> str | None:
    """What is wrong with an error response (None when it is the contract's envelope)."""
    if not content_type.startswith("application/json"):
        return f"content type {content_type!r}, not JSON"
    if head:
        return None  # HEAD: headers only
    try:
        payload = json.loads(body)
    except ValueError:
        return f"body is not JSON: {body[:120]!r}"
    error = payload.get("error") if isinstance(payload, dict) else None
    if not (isinstance(error, dict) and isinstance(error.get("code"), str) and isinstance(error.get("message"), str)
            and error["code"] and len(error["message"]) >= 10):
        return f"not the error envelope: {body[:160]!r}"
    return None


def may_be_html_404(path: str, status: int, accept: str) -> bool:
    """A 404 of an HTML page (not an API path) asked for by a browser may be an HTML page."""
    if status != 404 or not ("html" in accept or "*/*" in accept or not accept):
        return False
    path = path.split("?", 1)[0]
    if path in HTML_PAGES_MAY_404:
        return True
    return path.startswith("/reports/") and not path.rstrip("/").endswith("/text")


def check_response(method: str, path: str, accept: str, status: int, content_type: str, body: bytes,
                   headers: dict[str, str]) -> str | None:
    """None when the response keeps the hardening rules, else what it breaks."""
    if status >= 500:
        return f"status {status}: {body[:200]!r}"
    if headers.get("x-content-type-options", "").lower() != "nosniff":
        return "no X-Content-Type-Options: nosniff"
    if status < 300 or 300 <= status < 400:
        return None
    if "text/html" in content_type and may_be_html_404(path, status, accept):
        return None
    problem = envelope_problem(status, content_type, body, head=method.upper() == "HEAD")
    return f"status {status}: {problem}" if problem else None

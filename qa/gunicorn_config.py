"""The gunicorn configuration: its settings, its worker and its access logger.

The gunicorn settings are the module-level names below: ``qa serve`` (:mod:`qa.serve`) applies them, and
so does ``gunicorn -c python:qa.gunicorn_config 'qa.app:create_app()'`` (gunicorn reads a config
module's settings by name). What each one bounds:

- ``timeout`` 30 s: a worker that stops reporting to the arbiter for 30 s (hung, not merely busy: the
  gthread worker's main loop keeps beating while a request runs in a thread) is killed and replaced;
  ``graceful_timeout`` 30 s: on restart or stop, requests in flight get 30 s to finish.
- ``keepalive`` 5 s: an idle keep-alive connection is closed after 5 s; a new connection that sends no
  data within 5 s is handed back to the poller, so slow clients do not hold a thread.
- ``limit_request_line`` 4094 bytes (414 beyond; long questions go in a POST body),
  ``limit_request_fields`` 100 headers and ``limit_request_field_size`` 8190 bytes each (431 beyond).
- Request bodies: 64 KB for the API (413, ``qa.app.MAX_BODY_BYTES``), 20 files of 100 MB for admin uploads.

``JSONErrorWorker`` answers the errors gunicorn raises itself, before the app sees a request (an
unparseable request line, bytes that are not HTTP, headers over the limits), with the API's JSON
envelope instead of gunicorn's HTML page; it leaves new connections to the less busy worker, formats
the Date header once a second and beats its heartbeat once a second. ``AccessLogger`` writes
gunicorn's access lines, the same ones, at a fraction of the cost.

Those reach into gunicorn's internals, each for a reason measured in ``bench/README.md`` (``bench/http_load.py``): the JSON
envelope is the API's error contract (``util.write_error``); the accept delay doubled requests served
when one worker took most keep-alive connections (``ThreadWorker.accept``, ``nr_conns``); the cached
Date header (``util.http_date``), the heartbeat once a second (``Worker.notify``) and the plain access
atoms (``Logger.atoms``: a sixth of a /health request's CPU) each cut per-request CPU; headers and body
in one write (``wsgi.Response``) keep a killed replica's answers retryable behind a load balancer. pyproject.toml
bounds gunicorn below the next major release, and ``tests/test_serve.py`` checks every internal used
here, so a gunicorn that changes one fails there, loudly, not in production.
"""
from __future__ import annotations

import json
import logging
import os
import re
import time
import traceback
from collections.abc import Callable
from functools import lru_cache

from gunicorn import glogging
from gunicorn import util as _gunicorn_util
from gunicorn.http import wsgi as _gunicorn_wsgi
from gunicorn.workers.gthread import ThreadWorker

from .errors import http_error_code

log = logging.getLogger(__name__)

# --- gunicorn settings (read by name by `gunicorn -c python:qa.gunicorn_config`) ------------------
worker_class = "qa.gunicorn_config.JSONErrorWorker"
logger_class = "qa.gunicorn_config.AccessLogger"
threads = 4
timeout = 30
graceful_timeout = 30
keepalive = 5
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

SETTINGS = {name: globals()[name] for name in (
    "worker_class", "logger_class", "threads", "timeout", "graceful_timeout", "keepalive", "limit_request_line",
    "limit_request_fields", "limit_request_field_size")}

_HINTS = {
    400: "the request is not valid HTTP",
    403: "the request is forbidden",
    414: f"the request line is longer than {limit_request_line} bytes; send long questions in the JSON body of "
         "POST /ask",
    417: "the Expect header cannot be met",
    431: f"too many or too large headers (at most {limit_request_fields} headers of {limit_request_field_size} "
         "bytes each)",
    501: "the transfer coding is not supported",
}


def json_error(status: int, reason: str, detail: str = "") -> bytes:
    """A complete HTTP response carrying the API's error envelope (what ``JSONErrorWorker`` sends)."""
    code = http_error_code(status)
    message = _HINTS.get(status) or ("something went wrong on our side; the error has been logged" if status >= 500
                                     else "the request could not be read")
    if detail and status < 500:
        message = f"{message} ({detail[:200]})"
    body = json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=True).encode("ascii")
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"
            "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n\r\n")
    return head.encode("latin-1") + body


_HTTP_DATE = _gunicorn_util.http_date


def _write_json_error(sock, status_int, reason, mesg):
    _gunicorn_util.write_nonblock(sock, json_error(int(status_int), str(reason), str(mesg or "")))


ACCEPT_DELAY_STEP = 0.00025  # s of delay per connection held beyond the worker's threads
ACCEPT_DELAY_MAX = 0.005
NOTIFY_EVERY = 1.0  # s between heartbeats to the arbiter (its timeout is 30 s)


class JSONErrorWorker(ThreadWorker):
    """gunicorn's threaded worker, whose own error responses are the JSON envelope (never HTML), and
    which leaves new connections to a less busy worker.

    All workers wait on one listening socket. A keep-alive connection stays with the worker that
    accepted it, so a burst of connections (a proxy's pool, a load tester's) taken mostly by one worker
    leaves that one with a queue and the other idle: with 2 workers, 27 of 32 connections on one
    halved the requests served. A worker holding more connections than it has threads therefore waits
    a moment (ACCEPT_DELAY_STEP per connection beyond, at most ACCEPT_DELAY_MAX) before it accepts;
    a worker with fewer takes the connection meanwhile, and the late one finds none waiting.
    """

    _notified = float("-inf")

    def init_process(self):
        # gunicorn's Worker.handle_error writes its page through gunicorn.util.write_error; in this
        # worker process that is our JSON writer.
        _gunicorn_util.write_error = _write_json_error
        _gunicorn_util.http_date = cached_http_date(_HTTP_DATE)
        _gunicorn_wsgi.Response = OneWriteResponse
        super().init_process()

    def accept(self, listener):
        surplus = self.nr_conns - self.cfg.threads
        if surplus > 0 and self.cfg.workers > 1:
            time.sleep(min(ACCEPT_DELAY_MAX, ACCEPT_DELAY_STEP * surplus))
        super().accept(listener)

    def notify(self):
        """The heartbeat (a utime on the worker's temporary file) once a second, not once per event."""
        now = time.monotonic()
        if now - self._notified >= NOTIFY_EVERY:
            self._notified = now
            super().notify()


class OneWriteResponse(_gunicorn_wsgi.Response):
    """gunicorn's response, whose status line and headers go out in the same write as the body when
    the body comes in one piece of a known length (every JSON answer). gunicorn writes them apart, and
    a replica killed between the two writes (SIGKILL, the OOM killer) would leave a load balancer with
    headers it has already passed on to its client: too late to retry the request on another replica
    (deploy/cluster-test saw it once in four runs before this).
    """

    def write(self, arg):
        if (self.headers_sent or self.chunked or self._omits_body or not isinstance(arg, bytes)
                or self.response_length is None or len(arg) > self.response_length):
            return super().write(arg)
        head = self.default_headers()
        head.extend("%s: %s\r\n" % (k, v) for k, v in self.headers)
        _gunicorn_util.write(self.sock, ("%s\r\n" % "".join(head)).encode("latin-1") + arg)
        self.headers_sent = True
        self.sent += len(arg)


_ATOM = re.compile(r"%\(([^)]*)\)")
_PLAIN_ATOMS = frozenset("hlutrsmUqHbBfaTDMLp")


@lru_cache(maxsize=8)
def _plain_format(access_log_format: str) -> bool:
    """Does the access log format name only atoms that need no header or environ variable?"""
    return set(_ATOM.findall(access_log_format)) <= _PLAIN_ATOMS


def _plain_handler(h: logging.Handler) -> bool:
    """Would ``logging`` write just the message, plus the terminator, to this handler's stream?"""
    return (type(h) in (logging.StreamHandler, logging.FileHandler) and h.stream is not None and not h.filters
            and h.level <= logging.INFO and h.formatter is not None and type(h.formatter) is logging.Formatter
            and h.formatter._fmt == "%(message)s")


def cached_http_date(http_date: Callable[..., str]) -> Callable[..., str]:
    """gunicorn's ``util.http_date`` (the Date header), formatted once per second rather than per response."""
    cache: tuple = (None, "")

    def now(timestamp=None):
        nonlocal cache
        if timestamp is not None:
            return http_date(timestamp)
        second, known = int(time.time()), cache
        if known[0] != second:
            known = cache = (second, http_date(second))
        return known[1]

    return now


class AccessLogger(glogging.Logger):
    """gunicorn's logger; an access line whose format names only plain atoms (the default
    ``%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"`` does) is built from those atoms alone.

    gunicorn's own ``atoms`` copies every request header, response header and environ variable into
    the dict on every request, whether the format uses them or not: a sixth of a /health request's CPU.
    A format that names a header or environ variable (``%({x-forwarded-for}i)s``) gets gunicorn's way.
    """

    def access(self, resp, req, environ, request_time):
        """gunicorn's access line, written straight to the stream when the access log is only plain
        stream or file handlers with gunicorn's ``%(message)s`` format (``qa serve``'s ``-``, or
        ``--access-logfile FILE``): the same bytes, without a LogRecord per request. Any other logging
        set-up (syslog, a dictConfig, filters) goes through ``logging`` as gunicorn does."""
        handlers = self.access_log.handlers
        if not (self.access_log_enabled and handlers and all(_plain_handler(h) for h in handlers)
                and self.access_log.isEnabledFor(logging.INFO) and not self.access_log.filters):
            return super().access(resp, req, environ, request_time)
        try:
            line = self.cfg.access_log_format % self.atoms_wrapper_class(self.atoms(resp, req, environ, request_time))
            for h in handlers:
                with h.lock:
                    h.stream.write(line + h.terminator)
                    h.flush()
        except Exception:
            self.error(traceback.format_exc())

    def atoms(self, resp, req, environ, request_time):
        if not _plain_format(self.cfg.access_log_format):
            return super().atoms(resp, req, environ, request_time)
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        return {
            "h": environ.get("REMOTE_ADDR", "-"),
            "l": "-",
            "u": self._get_user(environ) or "-",
            "t": self.now(),
            "r": f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {environ['SERVER_PROTOCOL']}",
            "s": status,
            "m": environ.get("REQUEST_METHOD"),
            "U": environ.get("PATH_INFO"),
            "q": environ.get("QUERY_STRING"),
            "H": environ.get("SERVER_PROTOCOL"),
            "b": sent is not None and str(sent) or "-",
            "B": sent,
            "f": environ.get("HTTP_REFERER", "-"),
            "a": environ.get("HTTP_USER_AGENT", "-"),
            "T": request_time.seconds,
            "D": (request_time.seconds * 1000000) + request_time.microseconds,
            "M": (request_time.seconds * 1000) + int(request_time.microseconds / 1000),
            "L": "%d.%06d" % (request_time.seconds, request_time.microseconds),
            "p": f"<{os.getpid()}>",
        }

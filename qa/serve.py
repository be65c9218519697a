"""Run the web service under gunicorn, the production WSGI server, from ``qa serve``.

The gunicorn settings are the module-level names below: ``qa serve`` applies them, and so does
``gunicorn -c python:qa.serve 'qa.app:create_app()'`` (gunicorn reads a config module's settings by
name). What each one bounds:

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
envelope instead of gunicorn's HTML page.
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from gunicorn import util as _gunicorn_util
from gunicorn.workers.gthread import ThreadWorker

from . import config as qa_config  # not "config": gunicorn reads that name as a setting
from .index import read_pointer

log = logging.getLogger(__name__)

# --- gunicorn settings (read by name by `gunicorn -c python:qa.serve`) ---------------------------
worker_class = "qa.serve.JSONErrorWorker"
threads = 4
timeout = 30
graceful_timeout = 30
keepalive = 5
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

SETTINGS = {name: globals()[name] for name in (
    "worker_class", "threads", "timeout", "graceful_timeout", "keepalive", "limit_request_line",
    "limit_request_fields", "limit_request_field_size")}

_HINTS = {
    400: ("bad_request", "the request is not valid HTTP"),
    403: ("forbidden", "the request is forbidden"),
    414: ("uri_too_long", f"the request line is longer than {limit_request_line} bytes; send long questions "
                          "in the JSON body of POST /ask"),
    417: ("expectation_failed", "the Expect header cannot be met"),
    431: ("headers_too_large", f"too many or too large headers (at most {limit_request_fields} headers of "
                               f"{limit_request_field_size} bytes each)"),
    501: ("not_implemented", "the transfer coding is not supported"),
}


def json_error(status: int, reason: str, detail: str = "") -> bytes:
    """A complete HTTP response carrying the API's error envelope (what ``JSONErrorWorker`` sends)."""
    code, message = _HINTS.get(status, ("internal_error" if status >= 500 else "bad_request",
                                        "something went wrong on our side; the error has been logged"
                                        if status >= 500 else "the request could not be read"))
    if detail and status < 500:
        message = f"{message} ({detail[:200]})"
    body = json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=True).encode("ascii")
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"
            "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n\r\n")
    return head.encode("latin-1") + body


def _write_json_error(sock, status_int, reason, mesg):
    _gunicorn_util.write_nonblock(sock, json_error(int(status_int), str(reason), str(mesg or "")))


class JSONErrorWorker(ThreadWorker):
    """gunicorn's threaded worker whose own error responses are the JSON envelope, never HTML."""

    def init_process(self):
        # gunicorn's Worker.handle_error writes its page through gunicorn.util.write_error; in this
        # worker process that is our JSON writer.
        _gunicorn_util.write_error = _write_json_error
        super().init_process()


def ensure_index(index_dir: Path, reports_dir: Path | None) -> None:
    """Build (or update) the index first when none exists or a reports folder was named."""
    if reports_dir is None and read_pointer(index_dir) is not None:
        return
    from .cli import _print_build, run_build

    result = run_build(reports_dir or qa_config.reports_dir(), index_dir, incremental=True)
    _print_build(result, out=sys.stderr)


def serve(index_dir: Path, reports_dir: Path | None = None, host: str = "127.0.0.1", port: int = 5000,
          workers: int = 2) -> None:
    from gunicorn.app.base import BaseApplication

    from .app import create_app

    ensure_index(Path(index_dir), reports_dir)
    app = create_app(index_dir, reports_dir=reports_dir)

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            for name, value in SETTINGS.items():
                self.cfg.set(name, value)
            self.cfg.set("accesslog", "-")
            self.cfg.set("errorlog", "-")

        def load(self):
            return app

    print(f"Inspection QA: serving {index_dir} on http://{host}:{port}/", file=sys.stderr, flush=True)
    Server().run()

"""Serve: the Flask app factory, the JSON API blueprint and the HTML pages blueprint.

Handlers parse input, call one stage function and format its output. Every error becomes
``{"error": {"code", "message"}}`` here, in one place; the API never answers with an HTML error page.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request, send_from_directory
from werkzeug.exceptions import HTTPException

from . import config
from .answer import ask
from .errors import BadRequest, QAError
from .index import Index, IndexStore

log = logging.getLogger(__name__)
api = Blueprint("api", __name__)
pages = Blueprint("pages", __name__)

MAX_BODY_BYTES = 64 * 1024


def current_index() -> Index:
    """The generation this request is answered from, taken once per request."""
    return current_app.extensions["qa_store"].current()


def _error(code: str, message: str, status: int) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


@api.route("/ask", methods=["GET", "POST"])
def ask_endpoint():
    if request.method == "POST":
        body = request.get_json(force=True, silent=True)
        if body is None:
            raise BadRequest("the request body must be JSON, e.g. {\"question\": \"...\"}", code="invalid_json")
        if not isinstance(body, dict):
            raise BadRequest("the JSON body must be an object with a 'question' field", code="invalid_json")
        question, top_k, history = body.get("question"), body.get("top_k"), body.get("history")
    else:
        question = request.args.get("q", request.args.get("question"))
        if question is None:
            raise BadRequest("add the question as ?q=...", code="invalid_question")
        top_k = request.args.get("top_k")
        if top_k is not None:
            try:
                top_k = int(top_k)
            except ValueError:
                raise BadRequest("'top_k' must be a whole number from 1 to 50", code="invalid_top_k") from None
        history = request.args.getlist("history") or None
    return jsonify(ask(current_index(), question, top_k, history))


@api.route("/health")
def health():
    index = current_index()
    return jsonify({"status": "ok", "index_version": index.version, "reports": len(index.reports),
                    "chunks": index.n_chunks})


@api.route("/reports")
def reports():
    index = current_index()
    return jsonify([{k: r[k] for k in ("id", "title", "publisher", "published", "source", "chunks", "pages")}
                    for r in index.reports])


@api.route("/reports/<report_id>/text")
def report_text(report_id: str):
    return Response(current_index().report_text(report_id), mimetype="text/plain", content_type="text/plain; charset=utf-8")


@pages.route("/")
def home():
    return send_from_directory(config.web_dir(), "index.html")


@pages.route("/static/<path:name>")
def static_file(name: str):
    return send_from_directory(config.web_dir(), name)


@pages.route("/reports/<report_id>")
def report_page(report_id: str):
    index = current_index()
    report = index.report(report_id)
    text = index.report_text(report_id)
    layout = index.report_layout(report_id)
    blocks = _viewer_blocks(index, report_id, text, layout)
    return render_template("report.html", report=report, blocks=blocks, version=index.version)


def _viewer_blocks(index: Index, report_id: str, text: str, layout: dict) -> list[dict]:
    """The report text cut into passage regions, each holding its text, page markers and headings.

    Passages overlap by a sentence; the viewer shows each character once, so a passage's region runs
    from its start to the next passage's start, and its element carries its ``chunk_id``.
    """
    chunks = index.chunks_of(report_id)
    cuts = [(int(index.chunk_start[c]), index.chunk_id(int(c))) for c in chunks]
    bounds = [(0, None)] + cuts if not cuts or cuts[0][0] > 0 else cuts
    marks = sorted([(s, 0, ("page", n, s)) for n, (s, _e) in enumerate(layout["pages"], start=1)]
                   + [(s, 1, ("heading", e, level)) for s, e, _t, level in layout["headings"]])
    regions = []
    m = 0
    for i, (start, cid) in enumerate(bounds):
        end = bounds[i + 1][0] if i + 1 < len(bounds) else len(text)
        items, pos = [], start
        while m < len(marks) and marks[m][0] < end:
            at, _, mark = marks[m]
            m += 1
            at = max(at, pos)
            if at > pos:
                items.append({"kind": "text", "text": text[pos:at]})
                pos = at
            if mark[0] == "page":
                items.append({"kind": "page", "page": mark[1]})
            else:
                stop = min(mark[1], end)
                items.append({"kind": "heading", "text": text[pos:stop], "level": min(int(mark[2]) + 1, 6)})
                pos = stop
        if end > pos:
            items.append({"kind": "text", "text": text[pos:end]})
        regions.append({"id": cid, "items": items})
    return regions


def _handle_qa_error(exc: QAError):
    if exc.status >= 500:
        log.error("%s: %s", exc.code, exc.message)
    if request.blueprint == "pages" and request.accept_mimetypes.accept_html and exc.status == 404:
        return render_template("error.html", message=exc.message), exc.status
    return _error(exc.code, exc.message, exc.status)


def _handle_http_error(exc: HTTPException):
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.code or 500, "http_error")
    message = {
        404: "no such page or endpoint; the API has /ask, /health, /reports and /reports/<id>/text",
        405: f"{request.method} is not allowed here",
        413: f"the request body is larger than {MAX_BODY_BYTES // 1024} KB",
    }.get(exc.code or 500, exc.description or "request failed")
    return _error(code, message, exc.code or 500)


def _handle_unexpected(exc: Exception):
    log.exception("unexpected error on %s %s", request.method, request.path)
    return _error("internal_error", "something went wrong on our side; the error has been logged", 500)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def create_app(index_dir: str | Path | None = None, test_config: dict | None = None) -> Flask:
    """Build the web app over the index in ``index_dir`` (default: ``QA_INDEX_DIR`` or ``index/``)."""
    web = config.web_dir()
    app = Flask(__name__, static_folder=None, template_folder=str(web / "templates"))
    app.config.update(
        INDEX_DIR=str(index_dir or config.index_dir()),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    if test_config:
        app.config.update(test_config)
    app.extensions["qa_store"] = IndexStore(Path(app.config["INDEX_DIR"]))
    app.register_blueprint(api)
    app.register_blueprint(pages)
    app.register_error_handler(QAError, _handle_qa_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(Exception, _handle_unexpected)
    app.after_request(_security_headers)
    if os.environ.get("QA_LOG_LEVEL"):
        logging.basicConfig(level=os.environ["QA_LOG_LEVEL"])
    return app

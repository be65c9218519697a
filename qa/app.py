"""Serve: the Flask app factory, the JSON API blueprint and the HTML pages blueprint.

Handlers parse input, call one stage function and format its output. Every error becomes
``{"error": {"code", "message"}}`` here, in one place; the API never answers with an HTML error page.
"""
from __future__ import annotations

import logging
import os
from datetime import date
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request, send_from_directory
from werkzeug.exceptions import HTTPException

from . import config
from .admin import admin
from .answer import ask, validate_filters
from .examples import example_questions
from .errors import BadRequest, IndexUnavailable, QAError
from .index import Index, IndexStore
from .viewer import passage_regions

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
        filters = validate_filters(body.get("report_ids", body.get("report_id")), body.get("published_from"),
                                   body.get("published_to"))
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
        filters = validate_filters(request.args.getlist("report_id") or None, request.args.get("published_from"),
                                   request.args.get("published_to"))
    return jsonify(ask(current_index(), question, top_k, history, filters))


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
    blocks = passage_regions(index, report_id)
    return render_template("report.html", report=report, blocks=blocks, version=index.version)


@pages.route("/browse")
def browse():
    """Every indexed report as an HTML list (``GET /reports`` stays JSON, per the contract)."""
    try:
        index = current_index()
    except IndexUnavailable as exc:
        return render_template("browse.html", reports=[], chunks=0, message=exc.message), exc.status
    newest_first = sorted(index.reports, key=lambda r: r.get("published") or "", reverse=True)
    return render_template("browse.html", reports=newest_first, chunks=index.n_chunks, message=None)


@pages.route("/examples")
def examples():
    """A few questions to start from, made from what is indexed and checked to be answered."""
    index = current_index()
    if "examples" not in index.memo:  # once per generation and worker
        index.memo["examples"] = example_questions(index)
    return jsonify({"examples": index.memo["examples"], "index_version": index.version})


@pages.app_template_filter("long_date")
def long_date(iso: str | None) -> str:
    """2018-03-08 -> 8 March 2018 (GOV.UK style); anything else unchanged."""
    try:
        day = date.fromisoformat(iso) if iso else None
    except (TypeError, ValueError):
        return iso or ""
    return f"{day.day} {day:%B %Y}" if day else ""


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


def create_app(index_dir: str | Path | None = None, test_config: dict | None = None,
               reports_dir: str | Path | None = None) -> Flask:
    """Build the web app over the index in ``index_dir`` (default: ``QA_INDEX_DIR`` or ``index/``).

    ``reports_dir`` (default ``QA_REPORTS_DIR``) is where admin uploads go; the admin API is on only
    when ``QA_ADMIN_TOKEN`` is set.
    """
    web = config.web_dir()
    app = Flask(__name__, static_folder=None, template_folder=str(web / "templates"))
    app.config.update(
        INDEX_DIR=str(index_dir or config.index_dir()),
        REPORTS_DIR=str(reports_dir or config.reports_dir()),
        ADMIN_TOKEN=os.environ.get("QA_ADMIN_TOKEN") or None,
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
    app.register_blueprint(admin)
    app.register_error_handler(QAError, _handle_qa_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(Exception, _handle_unexpected)
    app.after_request(_security_headers)
    if os.environ.get("QA_LOG_LEVEL"):
        logging.basicConfig(level=os.environ["QA_LOG_LEVEL"])
    return app

"""Serve: the Flask app factory, the JSON API blueprint and the HTML pages blueprint.

Handlers parse input, call one stage function and format its output. Every error becomes
``{"error": {"code", "message"}}`` here, in one place; the API never answers with an HTML error page.
"""
from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import orjson
from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from . import config, web
from .admin import admin
from .answer import ask, validate_filters
from .examples import example_questions
from .errors import BadRequest, IndexUnavailable, PayloadTooLarge, QAError, TooManyRequests, http_error_code
from .index import Index, IndexStore
from .openapi import openapi_spec
from .ratelimit import RateLimiter, parse_rate
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


def _read_body() -> bytes:
    """The request body, at most MAX_CONTENT_LENGTH bytes (413 beyond), also when it comes chunked
    (Transfer-Encoding: chunked has no Content-Length for Werkzeug to check up front)."""
    limit = request.max_content_length or MAX_BODY_BYTES
    stream = request.stream  # a Content-Length over the limit: 413 here
    parts, size = [], 0
    try:
        while size <= limit:
            part = stream.read(min(65536, limit + 1 - size))
            if not part:
                break
            parts.append(part)
            size += len(part)
    except HTTPException:
        raise
    except Exception as exc:  # a malformed chunked body, a client that went away mid-body
        raise BadRequest(f"the request body could not be read ({type(exc).__name__}); send it again",
                         code="invalid_body") from None
    if size > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit // 1024} KB")
    return b"".join(parts)


def _json_body():
    """The request body as JSON, whatever its Content-Type says; a 400 ``invalid_json`` when it is not.

    Beyond ``json.loads``'s ValueError this also turns nesting too deep to parse (RecursionError) and
    strings that are not valid Unicode (lone surrogates such as ``"\\ud800"``, which could never be
    written back as UTF-8) into that 400, so no body can reach a 500.
    """
    raw = _read_body()
    if not raw.strip():
        return None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    stack = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BadRequest("the JSON body holds text that is not valid Unicode (a lone surrogate such as "
                                 "\\ud800); send UTF-8 text", code="invalid_json") from None
    return body


@api.before_request
def _rate_limit():
    limiter: RateLimiter | None = current_app.extensions.get("qa_rate_limiter")
    if limiter is None or request.endpoint != "api.ask_endpoint" or request.method == "OPTIONS":
        return
    wait = limiter.hit(request.remote_addr or "unknown")
    if wait:
        seconds = limiter.retry_after(wait)
        raise TooManyRequests(f"too many questions from your address: the limit is {limiter.rate}; "
                              f"try again in {seconds} s", retry_after=seconds)


@api.route("/ask", methods=["GET", "POST"])
def ask_endpoint():
    if request.method == "POST":
        body = _json_body()
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
    return ask_response(ask(current_index(), question, top_k, history, filters,
                            rerank=current_app.config["RERANKER"] == "lexical"))


def _positional(x: float) -> bool:
    """Does json.dumps write ``x`` without an exponent (as orjson does then, digit for digit)?"""
    return x == 0 or 1e-4 <= abs(x) < 1e16


def ask_response(body: dict) -> Response:
    """``jsonify(body)`` for an /ask body, byte for byte, encoded by orjson (JSON encoding was a tenth of
    a request's CPU with the standard library's encoder).

    orjson writes every string (any code point), integer, list and object as ``json.dumps`` does with
    Flask's settings (compact, ``ensure_ascii=False``), and floats too where they need no exponent: it
    writes ``1e-5`` where json.dumps writes ``1e-05``. An /ask body's only floats are its scores and
    ``took_ms``; with one outside that range, or anything orjson refuses, jsonify writes the body."""
    if all(_positional(x) for x in [body["took_ms"], *(p["score"] for p in body["passages"])]):
        try:
            return current_app.response_class(orjson.dumps(body) + b"\n", mimetype=current_app.json.mimetype)
        except TypeError:
            pass
    return jsonify(body)


@api.route("/openapi.json")
def openapi():
    """The OpenAPI 3.0 description of this API."""
    return jsonify(openapi_spec())


@api.route("/health")
def health():
    index = current_index()
    return jsonify({"status": "ok", "index_version": index.version, "reports": len(index.reports),
                    "chunks": index.n_chunks, "reranker": current_app.config["RERANKER"]})


@api.route("/reports")
def reports():
    index = current_index()
    return jsonify([{k: r.get(k) for k in ("id", "title", "publisher", "published", "inspected", "source", "chunks",
                                            "pages")}
                    for r in index.reports])


@api.route("/reports/<report_id>/text")
def report_text(report_id: str):
    return Response(current_index().report_text(report_id), mimetype="text/plain", content_type="text/plain; charset=utf-8")


@pages.route("/")
def home():
    return render_template("index.html")


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
    """2018-03-08 -> 8 March 2018 (GOV.UK style), 2024-07 -> July 2024, an interval
    2016-11-09/2016-11-10 -> 9–10 November 2016; anything else unchanged."""
    if not iso:
        return ""
    if "/" in iso:
        start, _, end = iso.partition("/")
        first, last = long_date(start), long_date(end)
        if first.split(" ", 1)[-1] == last.split(" ", 1)[-1] and first.count(" ") == 2:
            return f"{first.split(' ', 1)[0]}–{last}"
        return f"{first} – {last}"
    try:
        if len(iso) == 7:
            return f"{date.fromisoformat(iso + '-01'):%B %Y}"
        day = date.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso
    return f"{day.day} {day:%B %Y}"


def _handle_qa_error(exc: QAError):
    if exc.status >= 500:
        log.error("%s: %s", exc.code, exc.message)
    if request.blueprint == "pages" and request.accept_mimetypes.accept_html and exc.status == 404:
        return render_template("error.html", message=exc.message), exc.status
    response, status = _error(exc.code, exc.message, exc.status)
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response, status


def _handle_http_error(exc: HTTPException):
    status = exc.code or 500
    limit = request.max_content_length or MAX_BODY_BYTES
    message = {
        404: "no such page or endpoint; the API has /ask, /health, /reports and /reports/<id>/text",
        405: f"{request.method} is not allowed here",
        413: f"the request body is larger than {limit // 1024} KB" if limit < 2**20
        else f"the request body is larger than {limit // 2**20} MB",
    }.get(status, exc.description or "request failed")
    if status >= 500:
        log.error("HTTP %s on %s %s: %s", status, request.method, request.path, message)
    response, status = _error(http_error_code(status), message, status)
    if status == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response, status


def _handle_unexpected(exc: Exception):
    log.exception("unexpected error on %s %s", request.method, request.path)
    return _error("internal_error", "something went wrong on our side; the error has been logged", 500)


SECURITY_HEADERS = (
    ("Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),  # frame-ancestors for browsers without CSP 2
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


def _security_headers(response: Response) -> Response:
    """Every response gets the headers of ``SECURITY_HEADERS`` it does not set itself, in that order.

    One pass over the response's headers: ``Headers.setdefault`` per header costs a KeyError (a
    werkzeug exception object) for each one missing, on every request."""
    present = {name.lower() for name in response.headers.keys()}
    response.headers.extend([(k, v) for k, v in SECURITY_HEADERS if k.lower() not in present])
    if request.method == "OPTIONS" and response.mimetype == "text/html" and not response.content_length:
        response.mimetype = "text/plain"  # Flask's automatic OPTIONS answer: an empty body, not an HTML page
    return response


WEB = Path(web.__file__).parent


def create_app(index_dir: str | Path | None = None, test_config: dict | None = None,
               reports_dir: str | Path | None = None, settings: config.Settings | None = None) -> Flask:
    """Build the web app over the index in ``index_dir``, configured by ``settings`` (default: read from
    the environment once, here; a malformed ``QA_*`` value stops the start with its reason).

    ``reports_dir`` is where admin uploads go; the admin API is on only when ``QA_ADMIN_TOKEN`` is set.
    """
    settings = settings or config.load()
    app = Flask(__name__, static_folder=WEB / "static", static_url_path="/static",
                template_folder=WEB / "templates")
    app.config.update(
        SETTINGS=settings,
        INDEX_DIR=str(index_dir or settings.index_dir),
        REPORTS_DIR=str(reports_dir or settings.reports_dir),
        ADMIN_TOKEN=settings.admin_token,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        JSON_SORT_KEYS=False,
        # Never Flask's debug mode (not even with FLASK_DEBUG=1 in the environment): no debugger, no
        # stack traces in responses; unexpected errors are logged and answered with a 500 envelope.
        DEBUG=False,
        PROPAGATE_EXCEPTIONS=False,
        RATE_LIMIT=settings.rate_limit,
        RERANKER=settings.reranker,
    )
    app.url_map.merge_slashes = False  # "/reports/x//text" is a 404 envelope, not an HTML redirect page
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    if test_config:
        app.config.update(test_config)
    app.extensions["qa_store"] = IndexStore(Path(app.config["INDEX_DIR"]))
    rate = parse_rate(app.config["RATE_LIMIT"])
    app.extensions["qa_rate_limiter"] = RateLimiter(rate) if rate else None
    app.register_blueprint(api)
    app.register_blueprint(pages)
    app.register_blueprint(admin)
    app.register_error_handler(QAError, _handle_qa_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(Exception, _handle_unexpected)
    app.after_request(_security_headers)
    if settings.log_level:
        logging.basicConfig(level=settings.log_level)
    return app

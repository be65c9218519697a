"""The OpenAPI 3.0 description of the HTTP API, served at ``GET /openapi.json``.

It states the contract (``../shared/docs/contract.md``) and the limits the service enforces; the fuzz
test (``tests/test_fuzz.py``) generates its requests from it.
"""
from __future__ import annotations

from copy import deepcopy

from .answer import DATE_PATTERN, MAX_HISTORY, MAX_QUESTION_CHARS, MAX_REPORT_IDS, MAX_TOP_K

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict:
    words = {400: "The request is malformed or out of bounds (the code says which field).",
             401: "Missing or wrong admin token.",
             404: "No such report, job or endpoint (or the admin API is off).",
             405: "Method not allowed here.",
             409: "A rebuild is already running, or uploads have no reports folder of their own.",
             413: "The request body is too large (64 KB for /ask).",
             415: "Unsupported report file type.",
             422: "A report file cannot be read; the message gives the reason.",
             429: "Too many requests from this address (QA_RATE_LIMIT); retry after Retry-After seconds.",
             503: "No usable index yet."}
    out = {str(s): _json(_ERROR, words[s]) for s in statuses}
    if "429" in out:
        out["429"]["headers"] = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
    return out


_TEXT_FIELD = {"type": "string", "minLength": 1, "maxLength": MAX_QUESTION_CHARS}

SPEC: dict = {
    "openapi": "3.0.3",
    "info": {
        "title": "Inspection QA",
        "version": "1",
        "description": "Questions over inspection reports, answered with passages and checkable citations. "
                       "Every error is {\"error\": {\"code\", \"message\"}} with a 4xx/5xx status.",
    },
    "paths": {
        "/ask": {
            "get": {
                "operationId": "askGet",
                "summary": "Answer a question given as query parameters",
                "parameters": [
                    {"name": "q", "in": "query", "required": True, "schema": _TEXT_FIELD,
                     "description": "the question (1 to 1,000 characters after trimming)"},
                    {"name": "top_k", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K, "default": 5}},
                    {"name": "history", "in": "query", "required": False, "style": "form", "explode": True,
                     "schema": {"type": "array", "items": {"type": "string", "maxLength": MAX_QUESTION_CHARS}},
                     "description": f"earlier questions, oldest first (the last {MAX_HISTORY} are used)"},
                    {"name": "report_id", "in": "query", "required": False, "style": "form", "explode": True,
                     "schema": {"type": "array", "maxItems": MAX_REPORT_IDS, "items": {"type": "string"}}},
                    {"name": "published_from", "in": "query", "required": False,
                     "schema": {"type": "string", "pattern": DATE_PATTERN}},
                    {"name": "published_to", "in": "query", "required": False,
                     "schema": {"type": "string", "pattern": DATE_PATTERN}},
                ],
                "responses": {"200": _json({"$ref": "#/components/schemas/Answer"}, "The answer"),
                              **_errors(400, 413, 429, 503)},
            },
            "post": {
                "operationId": "askPost",
                "summary": "Answer a question given as a JSON body",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/AskRequest"}}}},
                "responses": {"200": _json({"$ref": "#/components/schemas/Answer"}, "The answer"),
                              **_errors(400, 413, 429, 503)},
            },
        },
        "/health": {"get": {
            "operationId": "health", "summary": "Service and index status",
            "responses": {"200": _json({"type": "object", "required": ["status", "index_version", "reports", "chunks"],
                                        "properties": {"status": {"type": "string", "enum": ["ok"]},
                                                       "index_version": {"type": "string"},
                                                       "reports": {"type": "integer"},
                                                       "chunks": {"type": "integer"},
                                                       "reranker": {"type": "string", "enum": ["off", "lexical"],
                                                                    "description": "the second stage in use (QA_RERANKER)"}}},
                                   "Healthy"),
                          **_errors(503)}}},
        "/reports": {"get": {
            "operationId": "listReports", "summary": "The indexed reports",
            "responses": {"200": _json({"type": "array", "items": {"$ref": "#/components/schemas/Report"}}, "Reports"),
                          **_errors(503)}}},
        "/reports/{report_id}": {"get": {
            "operationId": "reportPage", "summary": "The report viewer (HTML), every passage anchored by its chunk_id",
            "parameters": [{"name": "report_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}},
                          **_errors(404, 503),
                          "404": {"description": "No such report: an HTML page for a browser, else the error envelope",
                                  "content": {"application/json": {"schema": _ERROR},
                                              "text/html": {"schema": {"type": "string"}}}}}}},
        "/reports/{report_id}/text": {"get": {
            "operationId": "reportText", "summary": "The report's extracted text, the basis of char_start/char_end",
            "parameters": [{"name": "report_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "text", "content": {"text/plain": {"schema": {"type": "string"}}}},
                          **_errors(404, 503)}}},
        "/examples": {"get": {
            "operationId": "examples", "summary": "Example questions the index answers",
            "responses": {"200": _json({"type": "object", "required": ["examples", "index_version"], "properties": {
                "examples": {"type": "array", "items": {"type": "object"}}, "index_version": {"type": "string"}}},
                "Examples"), **_errors(503)}}},
        "/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This description",
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.0 document")}}},
        "/admin/reindex": {"post": {
            "operationId": "adminReindex", "summary": "Start a background update of the reports folder",
            "security": [{"bearer": []}],
            "responses": {"202": _json({"type": "object", "required": ["job"],
                                        "properties": {"job": {"$ref": "#/components/schemas/Job"}}}, "Job started"),
                          **_errors(401, 404, 409)}}},
        "/admin/jobs/{job_id}": {"get": {
            "operationId": "adminJob", "summary": "A rebuild job's status",
            "security": [{"bearer": []}],
            "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _json({"type": "object", "required": ["job"],
                                        "properties": {"job": {"$ref": "#/components/schemas/Job"}}}, "The job"),
                          **_errors(401, 404)}}},
        "/admin/reports": {"post": {
            "operationId": "adminUpload", "summary": "Upload report files (multipart, field 'file')",
            "security": [{"bearer": []}],
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}}}}}},
            "responses": {"202": _json({"type": "object", "required": ["stored", "job"], "properties": {
                "stored": {"type": "array", "items": {"type": "string"}},
                "job": {"$ref": "#/components/schemas/Job"}}}, "Stored; rebuild started"),
                **_errors(400, 401, 404, 409, 413, 415, 422)}}},
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "QA_ADMIN_TOKEN; the admin API is off (404) without it"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
            "AskRequest": {"type": "object", "required": ["question"], "properties": {
                "question": _TEXT_FIELD,
                "top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K, "default": 5},
                "history": {"type": "array", "items": {"type": "string", "maxLength": MAX_QUESTION_CHARS},
                            "description": f"earlier questions, oldest first (the last {MAX_HISTORY} are used)"},
                "report_ids": {"type": "array", "maxItems": MAX_REPORT_IDS, "items": {"type": "string"}},
                "published_from": {"type": "string", "pattern": DATE_PATTERN},
                "published_to": {"type": "string", "pattern": DATE_PATTERN}}},
            "Citation": {"type": "object", "required": [
                "report_id", "title", "published", "source", "page", "section", "char_start", "char_end", "url"],
                "properties": {
                    "report_id": {"type": "string"}, "title": {"type": "string"},
                    "publisher": {"type": "string", "nullable": True},
                    "published": {"type": "string", "nullable": True}, "source": {"type": "string"},
                    "page": {"type": "integer", "nullable": True}, "page_end": {"type": "integer", "nullable": True},
                    "section": {"type": "string", "nullable": True},
                    "char_start": {"type": "integer"}, "char_end": {"type": "integer"}, "url": {"type": "string"}}},
            "Passage": {"type": "object", "required": ["rank", "score", "chunk_id", "text", "citation"], "properties": {
                "rank": {"type": "integer"}, "score": {"type": "number"}, "chunk_id": {"type": "string"},
                "text": {"type": "string"}, "citation": {"$ref": "#/components/schemas/Citation"}}},
            "Answer": {"type": "object", "required": ["question", "found", "answer", "passages", "index_version", "took_ms"],
                       "properties": {
                           "question": {"type": "string"}, "found": {"type": "boolean"}, "answer": {"type": "string"},
                           "passages": {"type": "array", "items": {"$ref": "#/components/schemas/Passage"}},
                           "index_version": {"type": "string"}, "took_ms": {"type": "number"}}},
            "Report": {"type": "object", "required": ["id", "title", "published", "source", "chunks"], "properties": {
                "id": {"type": "string"}, "title": {"type": "string"},
                "publisher": {"type": "string", "nullable": True}, "published": {"type": "string", "nullable": True},
                "inspected": {"type": "string", "nullable": True,
                              "description": "inspection date, or start/end (ISO 8601), where the report states it"},
                "source": {"type": "string"}, "chunks": {"type": "integer"},
                "pages": {"type": "integer", "nullable": True}}},
            "Job": {"type": "object", "required": ["id", "status"], "properties": {
                "id": {"type": "string"}, "status": {"type": "string",
                                                     "enum": ["queued", "running", "succeeded", "failed"]},
                "url": {"type": "string"}}},
        },
    },
}


def openapi_spec() -> dict:
    """A copy of the description (callers may not change the module's)."""
    return deepcopy(SPEC)

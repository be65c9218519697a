"""Admin API: upload reports and rebuild the index in the background, behind a bearer token.

Off unless ``QA_ADMIN_TOKEN`` is set. A job's state lives in ``<index>/jobs/<id>.json`` so that any
gunicorn worker can report on a job another worker started; one rebuild runs at a time (the build
lock), an upload's rebuild queues behind a running one.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import re
import threading
import time
import unicodedata
import uuid
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request

from .build import BuildLock, build_index
from .config import Settings, own_reports_dir
from .errors import (BadRequest, BuildError, Conflict, LengthRequired, NotFound, PayloadTooLarge, QAError,
                     Unauthorized, UnsupportedType)
from .fetch import last_fetch
from .index import atomic_write_text
from .ingest import SUFFIXES, extract

log = logging.getLogger(__name__)
admin = Blueprint("admin", __name__, url_prefix="/admin")

MAX_UPLOAD_FILES = 20
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


@admin.before_request
def _authorize():
    token = current_app.config.get("ADMIN_TOKEN")
    if not token:
        raise NotFound("the admin API is off; set QA_ADMIN_TOKEN on the server to enable it")
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {token}"
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8")):
        raise Unauthorized("send the admin token as 'Authorization: Bearer <token>'")
    # Uploads may be larger than an /ask body; each file is still checked against the per-file limit.
    request.max_content_length = MAX_UPLOAD_FILES * _settings().limits.max_file_bytes


def safe_filename(name: str) -> str:
    """A file name that stays inside the reports folder: no path, no control characters, no leading
    dot; letters of any script kept."""
    name = unicodedata.normalize("NFKC", name or "").replace("\\", "/").split("/")[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = re.sub(r"[^\w.\- ]", "_", name).strip(" .")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = stem[:120].strip(" .") or "report"
    return f"{stem}.{suffix.lower()}" if suffix else stem


def _reports_dir() -> Path:
    return own_reports_dir(Path(current_app.config["REPORTS_DIR"]), "start the server with --reports DIR")


def _index_dir() -> Path:
    return Path(current_app.config["INDEX_DIR"])


def _settings() -> Settings:
    return current_app.config["SETTINGS"]


# --- jobs -------------------------------------------------------------------------------------

def _job_path(index_dir: Path, job_id: str) -> Path:
    return index_dir / "jobs" / f"{job_id}.json"


def _save_job(index_dir: Path, job: dict) -> None:
    (index_dir / "jobs").mkdir(parents=True, exist_ok=True)
    atomic_write_text(_job_path(index_dir, job["id"]), json.dumps(job, ensure_ascii=False))


def _run_job(index_dir: Path, reports_dir: Path, job: dict, lock: BuildLock, settings: Settings) -> None:
    def progress(done: int, total: int, name: str) -> None:
        job["progress"] = {"done": done, "total": total, "file": name}
        _save_job(index_dir, job)

    try:
        if not lock.held:
            lock.acquire(wait=True)
        job.update(status="running", started=time.time())
        _save_job(index_dir, job)
        result = build_index(reports_dir, index_dir, incremental=True, on_progress=progress, lock=lock,
                             settings=settings)
        job.update(status="succeeded", result=result.to_json())
    except QAError as exc:
        job.update(status="failed", error={"code": exc.code, "message": exc.message})
    except Exception as exc:  # never leave a job "running" forever
        log.exception("rebuild job %s failed", job["id"])
        job.update(status="failed", error={"code": "internal_error", "message": f"the rebuild failed: {exc}"})
    finally:
        lock.release()
        job["finished"] = time.time()
        _save_job(index_dir, job)


def start_job(index_dir: Path, reports_dir: Path, wait: bool, settings: Settings) -> dict:
    """Start a background rebuild; without ``wait`` a running rebuild makes this a 409."""
    lock = BuildLock(index_dir)
    if not wait:
        try:
            lock.acquire()
        except BuildError:
            raise Conflict("a rebuild is already running; poll its job or try again when it has finished") from None
    job = {"id": uuid.uuid4().hex, "kind": "reindex", "status": "queued", "created": time.time(),
           "progress": {"done": 0, "total": None, "file": ""}, "result": None, "error": None}
    _save_job(index_dir, job)
    threading.Thread(target=_run_job, args=(index_dir, reports_dir, dict(job), lock, settings), daemon=True,
                     name=f"reindex-{job['id'][:8]}").start()
    return job


def _job_body(job: dict) -> dict:
    return {**job, "url": f"/admin/jobs/{job['id']}"}


# --- routes -----------------------------------------------------------------------------------

@admin.route("/reindex", methods=["POST"])
def reindex():
    job = start_job(_index_dir(), _reports_dir(), wait=False, settings=_settings())
    return jsonify({"job": _job_body(job)}), 202


@admin.route("/fetch")
def fetch_status():
    last = last_fetch(Path(current_app.config["REPORTS_DIR"]))
    if last is None:
        raise NotFound("no fetch has run into this server's reports folder yet (qa fetch or qa watch --feed)")
    return jsonify({"fetch": last})


@admin.route("/jobs/<job_id>")
def job_status(job_id: str):
    if not _JOB_ID.match(job_id):
        raise NotFound("no such job")
    try:
        job = json.loads(_job_path(_index_dir(), job_id).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"no job {job_id}") from None
    return jsonify({"job": _job_body(job)})


@admin.route("/reports", methods=["POST"])
def upload():
    if request.content_length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        # Werkzeug checks the size limit against Content-Length; a chunked body would be spooled unchecked.
        raise LengthRequired("send the upload with a Content-Length header (not chunked)")
    files = [f for key in request.files for f in request.files.getlist(key)]
    if not files:
        raise BadRequest("send the report files as multipart/form-data (field name 'file')", code="no_files")
    if len(files) > MAX_UPLOAD_FILES:
        raise BadRequest(f"at most {MAX_UPLOAD_FILES} files per upload", code="too_many_files")
    checked: list[tuple[str, bytes]] = []
    for f in files:
        name = safe_filename(f.filename or "")
        suffix = Path(name).suffix.lower()
        if suffix not in SUFFIXES:
            raise UnsupportedType(f"{f.filename!r}: unsupported file type {suffix or '(none)'!r}; "
                                  f"supported: {', '.join(sorted(SUFFIXES))}")
        limits = _settings().limits
        data = f.read(limits.max_file_bytes + 1)
        if len(data) > limits.max_file_bytes:
            raise PayloadTooLarge(f"{name}: over the {limits.max_file_bytes // 2**20} MB limit per file "
                                  "(QA_MAX_FILE_MB)")  # only limit + 1 bytes were read: its size is not known
        extract(data, name, limits, ocr=_settings().ocr)  # the same checks a build makes (RejectedFile: 422)
        checked.append((name, data))
    folder = _reports_dir()
    stored = []
    for name, data in checked:
        tmp = folder / f".upload-{uuid.uuid4().hex}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, folder / name)
        stored.append(name)
    job = start_job(_index_dir(), folder, wait=True, settings=_settings())
    return jsonify({"stored": stored, "job": _job_body(job)}), 202

"""Fixtures: indexes built from the bundled sample and from ../shared/corpus, and files the tests make."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from qa.app import create_app
from qa.build import build_index
from qa.config import SAMPLE_REPORTS
from qa.index import IndexStore

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("QA_SHARED_DIR", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus"
BENCH = SHARED / "bench"


def qa_cli(*args, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run ``qa ARGS`` as a user would, in a real process; ``env`` adds to (or, with None values, removes
    from) the environment."""
    environ = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return subprocess.run([sys.executable, "-m", "qa", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=environ, **kwargs)


@pytest.fixture()
def wrk():
    """wrk, the HTTP load tool: required in CI (.ci/run installs it), else its tests are skipped."""
    if shutil.which("wrk") is None:
        if os.environ.get("CI"):
            pytest.fail("wrk is missing: .ci/run installs it with apt-get install -y wrk")
        pytest.skip("wrk is not installed (apt-get install -y wrk)")


def need_shared(path: Path = CORPUS) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared corpus sits beside the project in CI, not in a fresh clone")
    return path


@pytest.fixture(scope="session")
def sample_index_dir(tmp_path_factory) -> Path:
    index = tmp_path_factory.mktemp("sample-index")
    build_index(SAMPLE_REPORTS, index)
    return index


@pytest.fixture(scope="session")
def sample_index(sample_index_dir):
    return IndexStore(sample_index_dir).current()


@pytest.fixture(scope="session")
def corpus_index_dir(tmp_path_factory) -> Path:
    need_shared()
    index = tmp_path_factory.mktemp("corpus-index")
    build_index(CORPUS, index)
    return index


@pytest.fixture(scope="session")
def corpus_index(corpus_index_dir):
    return IndexStore(corpus_index_dir).current()


@pytest.fixture()
def client(sample_index_dir):
    return create_app(sample_index_dir, {"TESTING": True}).test_client()


@pytest.fixture()
def corpus_client(corpus_index_dir):
    return create_app(corpus_index_dir, {"TESTING": True}).test_client()


ADMIN_TOKEN = "s3cret-token"


@pytest.fixture()
def admin_app(tmp_path, monkeypatch):
    """(test client, reports folder, index folder) of an app with the admin API on (``ADMIN_TOKEN``),
    over a copy of the bundled sample the test may change."""
    reports, index = tmp_path / "reports", tmp_path / "index"
    shutil.copytree(SAMPLE_REPORTS, reports)
    build_index(reports, index)
    monkeypatch.setenv("QA_ADMIN_TOKEN", ADMIN_TOKEN)
    return create_app(index, {"TESTING": True}, reports_dir=reports).test_client(), reports, index


def wait_for_job(client, job: dict) -> dict:
    """Poll an admin job until it succeeds or fails (2 min at most); its last state."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = client.get(job["url"], headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).get_json()["job"]
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    pytest.fail(f"job {job['id']} did not finish")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(index: Path, reports: Path):
    """`qa serve` (gunicorn) on a free port over ``reports``; yields its base URL, stops it afterwards."""
    command = [sys.executable, "-m", "qa", "serve", "--index", str(index), "--reports", str(reports), "--port", "{port}"]
    with server_process(command) as base:
        yield base


@contextmanager
def server_process(command: list[str], env: dict[str, str] | None = None):
    """Run a server command ("{port}" is filled with a free port) until it answers /health; yields its
    base URL and stops the whole process group afterwards."""
    port = free_port()
    # The server's log goes to a file: a pipe nobody reads would fill up and stall the server.
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([part.replace("{port}", str(port)) for part in command],
                            env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(base + "/health", timeout=2).status_code == 200:
                break
        except requests.RequestException:  # not listening yet, or too busy to answer in time
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.seek(0)
            pytest.fail("the server did not start:\n" + log.read())
        time.sleep(0.2)
    try:
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()

"""qa/serve.py: the access lines of ``AccessLogger`` are gunicorn's own, character for character."""
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn import glogging
from gunicorn.config import Config

from qa import serve

ENVIRON = {"REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "POST", "RAW_URI": "/ask?q=a%22b", "PATH_INFO": "/ask",
           "QUERY_STRING": "q=a%22b", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_USER_AGENT": 'curl/8 "quoted"',
           "HTTP_X_FORWARDED_FOR": "10.0.0.1", "HTTP_AUTHORIZATION": "Basic dXNlcjpwdw=="}
REQ = SimpleNamespace(headers=[("USER-AGENT", 'curl/8 "quoted"'), ("X-FORWARDED-FOR", "10.0.0.1")])
RESP = SimpleNamespace(status="200 OK", sent=1234, headers=[("Content-Type", "application/json")])


def _line(logger_class, fmt: str) -> str:
    cfg = Config()
    cfg.set("access_log_format", fmt)
    logger = logger_class(cfg)
    logger.now = lambda: "[26/Nov/2026:12:00:00 +0000]"
    atoms = logger.atoms(RESP, REQ, ENVIRON, timedelta(seconds=1, microseconds=2345))
    return fmt % logger.atoms_wrapper_class(atoms)


@pytest.mark.parametrize("fmt", [
    Config().access_log_format,  # gunicorn's default, which qa serve uses
    "%(h)s %(m)s %(U)s %(q)s %(H)s %(B)s %(T)s %(D)s %(M)s %(L)s %(p)s %(l)s %(u)s %(t)s %(f)s",
    '%(h)s "%(r)s" %({x-forwarded-for}i)s %({content-type}o)s %({path_info}e)s',  # gunicorn's own way
])
def test_access_lines_are_gunicorns(fmt):
    assert _line(serve.AccessLogger, fmt) == _line(glogging.Logger, fmt)


def test_qa_serve_settings_name_the_worker_and_the_logger():
    assert serve.SETTINGS["worker_class"] == "qa.serve.JSONErrorWorker"
    assert serve.SETTINGS["logger_class"] == "qa.serve.AccessLogger"

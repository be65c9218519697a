"""qa/gunicorn_config.py: the access lines of ``AccessLogger`` are gunicorn's own, character for character."""
import inspect
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn import glogging, util
from gunicorn.config import Config

from qa import gunicorn_config as serve

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


def test_the_worker_and_logger_named_in_the_settings_are_the_ones_gunicorn_loads():
    cfg = Config()
    for name, value in serve.SETTINGS.items():
        cfg.set(name, value)
    assert cfg.worker_class is serve.JSONErrorWorker
    assert cfg.logger_class is serve.AccessLogger


def _params(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)


def test_the_gunicorn_internals_we_rely_on_are_still_there():
    """Each internal qa/gunicorn_config.py patches or overrides, as this gunicorn has it: a release that
    renames, re-signs or stops calling one fails here, not in production."""
    from gunicorn.http import wsgi
    from gunicorn.workers import base
    from gunicorn.workers.gthread import ThreadWorker

    assert _params(util.write_error) == ["sock", "status_int", "reason", "mesg"]
    assert "util.write_error(" in inspect.getsource(base.Worker.handle_error)  # the call our JSON writer replaces
    assert _params(util.http_date) == ["timestamp"]
    assert "util.http_date()" in inspect.getsource(wsgi.Response.default_headers)  # read through the module
    assert _params(ThreadWorker.accept) == ["self", "listener"]
    assert "self.nr_conns" in inspect.getsource(ThreadWorker.__init__)
    assert _params(base.Worker.notify) == ["self"] and _params(ThreadWorker.init_process) == ["self"]
    assert _params(glogging.Logger.atoms) == ["self", "resp", "req", "environ", "request_time"]
    assert _params(glogging.Logger.access) == ["self", "resp", "req", "environ", "request_time"]
    assert "response_class = Response" in inspect.getsource(wsgi.create)  # looked up when each request comes
    response = inspect.getsource(wsgi.Response)
    for name in ("self.headers_sent", "self.chunked", "self._omits_body", "self.response_length", "self.sent",
                 "def default_headers(self)", "util.write(self.sock"):
        assert name in response, name
    for name in ("access_log", "atoms_wrapper_class", "_get_user", "now"):
        assert hasattr(glogging.Logger(Config()), name), name


def _written(logger_class, path, filtered: bool = False) -> str:
    cfg = Config()
    cfg.set("accesslog", str(path))
    logger = logger_class(cfg)
    logger.now = lambda: "[26/Nov/2026:12:00:00 +0000]"
    if filtered:
        logger.access_log.addFilter(lambda record: False)
    try:
        for seconds in (1, 2):
            logger.access(RESP, REQ, ENVIRON, timedelta(seconds=seconds))
    finally:
        logger.access_log.filters.clear()
        for h in list(logger.access_log.handlers):
            logger.access_log.removeHandler(h)
            h.close()
    return path.read_text()


def test_access_lines_written_to_a_file_are_gunicorns(tmp_path):
    ours, theirs = _written(serve.AccessLogger, tmp_path / "ours.log"), _written(glogging.Logger, tmp_path / "theirs.log")
    assert ours == theirs and ours.count("\n") == 2 and '"POST /ask?q=a%22b HTTP/1.1" 200 1234' in ours


def test_a_logging_set_up_with_filters_is_obeyed(tmp_path):
    assert _written(serve.AccessLogger, tmp_path / "filtered.log", filtered=True) == ""


def test_the_date_header_is_formatted_once_a_second(monkeypatch):
    calls = []

    def http_date(timestamp=None):
        calls.append(timestamp)
        return f"date {timestamp}"

    now = serve.cached_http_date(http_date)
    for clock in (100.1, 100.9, 101.0, 101.5):
        monkeypatch.setattr(serve.time, "time", lambda: clock)
        assert now() == f"date {int(clock)}"
    assert calls == [100, 101]
    assert now(5) == "date 5"
    assert serve.cached_http_date(util.http_date)(1_800_000_000) == util.http_date(1_800_000_000)

"""One family of errors, each with a stable code, a message a person can act on and an HTTP status.

The web app turns them into ``{"error": {"code", "message"}}`` responses (``qa.app``); the CLI prints
the message and exits with ``exit_code`` (``qa.cli``).
"""
from __future__ import annotations


HTTP_ERROR_CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                    411: "length_required", 413: "payload_too_large", 414: "uri_too_long", 415: "unsupported_type",
                    416: "range_not_satisfiable", 417: "expectation_failed", 429: "rate_limited",
                    431: "headers_too_large", 501: "not_implemented"}
"""The error code of each HTTP status that the server (Flask/Werkzeug or gunicorn) raises itself."""


def http_error_code(status: int) -> str:
    """The envelope's ``code`` for an HTTP error the app did not raise as a :class:`QAError`."""
    return HTTP_ERROR_CODES.get(status, "internal_error" if status >= 500 else "bad_request")


class QAError(Exception):
    """Base of every error the service reports to a user."""

    code = "error"
    status = 500
    exit_code = 1

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class BadRequest(QAError):
    """The request or command line is malformed or out of bounds."""

    code = "bad_request"
    status = 400
    exit_code = 2


class NotFound(QAError):
    code = "not_found"
    status = 404


class PayloadTooLarge(QAError):
    code = "payload_too_large"
    status = 413


class IndexUnavailable(QAError):
    """No usable index: never built, unreadable, or built by an incompatible version."""

    code = "index_unavailable"
    status = 503
    exit_code = 3


class BuildError(QAError):
    """A build could not complete; the previous index is untouched."""

    code = "build_failed"
    status = 500
    exit_code = 4


class PublishError(QAError):
    """A generation could not be published to a replica; that replica's CURRENT was not moved."""

    code = "publish_failed"
    status = 500
    exit_code = 5


class RejectedFile(QAError):
    """One report file cannot be indexed (corrupt, empty, scanned, too large...). The build goes on."""

    code = "rejected_file"
    status = 422


class TooManyRequests(QAError):
    """A client asked more often than the configured rate limit allows (``QA_RATE_LIMIT``)."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int, code: str | None = None):
        super().__init__(message, code=code)
        self.retry_after = max(1, int(retry_after))


class Unauthorized(QAError):
    """The admin token is missing or wrong."""

    code = "unauthorized"
    status = 401


class Conflict(QAError):
    """The request clashes with the server's state (a rebuild already running; uploads into the sample)."""

    code = "conflict"
    status = 409


class UnsupportedType(QAError):
    code = "unsupported_type"
    status = 415


class LengthRequired(QAError):
    code = "length_required"
    status = 411


class ConfigError(QAError, ValueError):
    """A ``QA_*`` setting has a value that cannot be used; the service does not start with it."""

    code = "invalid_setting"
    exit_code = 2


class FetchError(QAError):
    """A feed or a file on the web could not be fetched (or was refused: robots.txt, size, type)."""

    code = "fetch_failed"
    status = 502
    exit_code = 5

"""One family of errors, each with a stable code, a message a person can act on and an HTTP status.

The web app turns them into ``{"error": {"code", "message"}}`` responses (``qa.app``); the CLI prints
the message and exits with ``exit_code`` (``qa.cli``).
"""
from __future__ import annotations


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


class RejectedFile(QAError):
    """One report file cannot be indexed (corrupt, empty, scanned, too large...). The build goes on."""

    code = "rejected_file"
    status = 422

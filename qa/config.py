"""Settings: every ``QA_*`` environment variable in one registry, read once.

Each field of :class:`Settings` is a setting: its environment variable, default and help live in the
field's metadata. :func:`load` reads the environment once into a ``Settings`` that the CLI, the build
and ``create_app`` are handed; no other module reads ``os.environ``. ``qa config`` prints the registry
with the values in force and where each came from.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from .errors import ConfigError
from .ingest.document import Limits
from .ratelimit import parse_rate

PACKAGE_DIR = Path(__file__).resolve().parent
SAMPLE_REPORTS = PACKAGE_DIR / "sample" / "reports"
RERANKERS = ("off", "lexical")


def _positive(kind: type) -> Callable[[str], int | float]:
    def parse(raw: str):
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError("is not a whole number" if kind is int else "is not a number") from None
        if value <= 0:
            raise ValueError("must be above 0")
        return value
    return parse


def _reranker(raw: str) -> str:
    value = raw.strip().lower()
    if value not in RERANKERS:
        raise ValueError(f"is not a reranker: use one of {', '.join(RERANKERS)}")
    return value


def _rate(raw: str) -> str | None:
    parse_rate(raw)
    return raw.strip() if raw.strip() not in ("0", "off", "none") else None


def _log_level(raw: str) -> str:
    value = raw.strip().upper()
    if not isinstance(logging.getLevelName(value), int):
        raise ValueError("is not a logging level: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return value


def _setting(env: str, default, help: str, parse: Callable[[str], object] = str, secret: bool = False):
    return field(default=default, metadata={"env": env, "help": help, "parse": parse, "secret": secret})


@dataclass(frozen=True)
class Settings:
    """What the service, the build and the CLI are configured with (defaults: ``Settings()``)."""

    index_dir: Path = _setting("QA_INDEX_DIR", Path("index"), "where the index lives", Path)
    reports_dir: Path = _setting("QA_REPORTS_DIR", SAMPLE_REPORTS,
                                 "where `qa index`, `qa watch` and `qa serve` read reports (default: the bundled sample)",
                                 Path)
    reranker: str = _setting("QA_RERANKER", "off",
                             "`lexical` turns on the second stage that reorders the engine's 50 best passages "
                             "(qa/rerank.py); `/health` says which is live", _reranker)
    admin_token: str | None = _setting("QA_ADMIN_TOKEN", None,
                                       "enables the admin API; the bearer token it requires", secret=True)
    rate_limit: str | None = _setting("QA_RATE_LIMIT", None,
                                      "`/ask` requests per client address, like 60/minute (unset or 0: no limit)",
                                      _rate)
    log_level: str | None = _setting("QA_LOG_LEVEL", None, "Python logging level for the app", _log_level)
    max_file_mb: int = _setting("QA_MAX_FILE_MB", 100, "largest report file accepted, in MB", _positive(int))
    max_inflated_mb: int = _setting("QA_MAX_INFLATED_MB", 256,
                                    "what a PDF's compressed streams may inflate to in all, in MB", _positive(int))
    extract_seconds: float = _setting("QA_EXTRACT_SECONDS", 120.0, "longest time reading one file may take, in s",
                                      _positive(float))
    max_chars: int = _setting("QA_MAX_CHARS", 25_000_000, "most characters of text one file may hold",
                              _positive(int))
    keep_generations: int = _setting("QA_KEEP_GENERATIONS", 3, "superseded index generations kept",
                                     _positive(int))
    generation_grace: float = _setting("QA_GENERATION_GRACE", 60.0,
                                       "seconds a superseded generation stays for requests still reading it",
                                       _positive(float))

    @property
    def limits(self) -> Limits:
        """What reading one report file may cost (the build and admin uploads check it)."""
        return Limits(max_file_bytes=self.max_file_mb * 2**20, max_inflated_bytes=self.max_inflated_mb * 2**20,
                      seconds=self.extract_seconds, max_chars=self.max_chars)


def registry() -> list[dict]:
    """Every setting: ``{name, env, type, default, help}``."""
    return [{"name": f.name, "env": f.metadata["env"], "type": str(f.type), "default": _shown(f, f.default),
             "help": f.metadata["help"]} for f in fields(Settings)]


def _raw(environ: Mapping[str, str], env: str) -> str | None:
    raw = environ.get(env)
    return raw if raw is not None and raw.strip() else None


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings in force: each variable set (and not blank) in ``environ`` (default ``os.environ``)
    over its default. A value that does not parse stops here with the variable's name and the reason."""
    environ = os.environ if environ is None else environ
    values = {}
    for f in fields(Settings):
        raw = _raw(environ, f.metadata["env"])
        if raw is None:
            continue
        try:
            values[f.name] = f.metadata["parse"](raw)
        except ValueError as exc:
            shown = "(hidden)" if f.metadata["secret"] else repr(raw)
            raise ConfigError(f"{f.metadata['env']}={shown} {exc}") from None
    return Settings(**values)


def _shown(f, value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return "(hidden)" if f.metadata["secret"] and value is not None else value
    return str(value)


def describe(settings: Settings, environ: Mapping[str, str] | None = None) -> list[dict]:
    """The registry with each setting's value in ``settings`` and its source (``environment`` or
    ``default``); secrets are shown as ``(hidden)``."""
    environ = os.environ if environ is None else environ
    rows = registry()
    for row, f in zip(rows, fields(Settings)):
        row["value"] = _shown(f, getattr(settings, f.name))
        row["source"] = "environment" if _raw(environ, f.metadata["env"]) is not None else "default"
    return rows

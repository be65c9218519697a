"""Watch a reports folder and update the index when files arrive, change or go.

A burst of copies (several files, or one large file written in pieces) is waited out: the update runs
once the folder has been quiet for ``settle`` seconds. A file that cannot be read is reported and
skipped by the build itself; a failed update is logged and the watcher keeps going.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from .build import BuildResult, build_index
from .config import Settings
from .errors import QAError
from .fetch import FetchResult, Politeness, fetch_feed
from .index import read_pointer

log = logging.getLogger("qa.watch")

_IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload", ".swp", "~")


class _Changes(FileSystemEventHandler):
    def __init__(self, root: Path):
        self.root = root
        self.last = 0.0
        self.pending = threading.Event()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = [event.src_path, getattr(event, "dest_path", "") or ""]
        if not any(p and self._relevant(Path(str(p))) for p in paths):
            return
        self.last = time.monotonic()
        self.pending.set()

    def _relevant(self, path: Path) -> bool:
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return False
        return not any(part.startswith(".") for part in rel.parts) and not path.name.endswith(_IGNORED_SUFFIXES)


def watch(reports_dir: Path, index_dir: Path, settle: float = 2.0, stop: threading.Event | None = None,
          on_update: Callable[[BuildResult], None] | None = None, settings: Settings | None = None) -> None:
    """Update now, then after every settled burst of changes, until ``stop`` is set."""
    reports_dir, index_dir = Path(reports_dir).resolve(), Path(index_dir)
    stop = stop or threading.Event()
    changes = _Changes(reports_dir)
    observer = Observer()
    observer.schedule(changes, str(reports_dir), recursive=True)
    observer.start()
    log.info("watching %s (index %s)", reports_dir, index_dir)
    changes.pending.set()  # catch up with whatever changed while nobody watched
    try:
        while not stop.is_set():
            if not changes.pending.wait(0.2):
                continue
            if time.monotonic() - changes.last < settle:
                stop.wait(0.1)
                continue
            changes.pending.clear()
            try:
                result = build_index(reports_dir, index_dir, incremental=True, settings=settings)
            except QAError as exc:
                log.error("update failed: %s", exc.message)
                continue
            for line in result.lines():
                log.info("%s", line)
            if on_update:
                on_update(result)
    finally:
        observer.stop()
        observer.join()


def watch_feed(feed_url: str, reports_dir: Path, index_dir: Path, every: float, stop: threading.Event | None = None,
               manners: Politeness | None = None, on_fetch: Callable[[FetchResult, BuildResult | None], None] | None = None,
               settings: Settings | None = None) -> None:
    """Fetch the feed now and then every ``every`` seconds, until ``stop`` is set; update the index
    whenever a fetch stored something (or no index exists yet). A feed that cannot be read, or an
    update that fails, is logged and the next round comes as planned."""
    reports_dir, index_dir = Path(reports_dir), Path(index_dir)
    stop = stop or threading.Event()
    log.info("fetching %s every %g s into %s (index %s)", feed_url, every, reports_dir, index_dir)
    while not stop.is_set():
        fetched, result = None, None
        try:
            fetched = fetch_feed(feed_url, reports_dir, manners=manners, sleep=stop.wait)
            for line in fetched.lines():
                log.info("%s", line)
            if fetched.stored or read_pointer(index_dir) is None:
                result = build_index(reports_dir, index_dir, incremental=True, settings=settings)
                for line in result.lines():
                    log.info("%s", line)
        except QAError as exc:
            log.error("%s", exc.message)
        if on_fetch and fetched is not None:
            on_fetch(fetched, result)
        stop.wait(every)

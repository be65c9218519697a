"""Run the web service under gunicorn, the production WSGI server, from ``qa serve``."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from . import config
from .index import read_pointer

log = logging.getLogger(__name__)


def ensure_index(index_dir: Path, reports_dir: Path | None) -> None:
    """Build (or update) the index first when none exists or a reports folder was named."""
    if reports_dir is None and read_pointer(index_dir) is not None:
        return
    from .cli import _print_build, run_build

    result = run_build(reports_dir or config.reports_dir(), index_dir, incremental=True)
    _print_build(result, out=sys.stderr)


def serve(index_dir: Path, reports_dir: Path | None = None, host: str = "127.0.0.1", port: int = 5000,
          workers: int = 2) -> None:
    from gunicorn.app.base import BaseApplication

    from .app import create_app

    ensure_index(Path(index_dir), reports_dir)
    app = create_app(index_dir, reports_dir=reports_dir)

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", 4)
            self.cfg.set("timeout", 30)
            self.cfg.set("accesslog", "-")
            self.cfg.set("errorlog", "-")

        def load(self):
            return app

    print(f"Inspection QA: serving {index_dir} on http://{host}:{port}/", file=sys.stderr, flush=True)
    Server().run()

"""``qa serve``: the web app under gunicorn, the production WSGI server, configured by
:mod:`qa.gunicorn_config`."""
from __future__ import annotations

import sys
from pathlib import Path

from .config import Settings
from .gunicorn_config import SETTINGS


def serve(index_dir: Path, settings: Settings, reports_dir: Path | None = None, host: str = "127.0.0.1",
          port: int = 5000, workers: int = 2) -> None:
    """Serve the app over ``index_dir`` under gunicorn with :mod:`qa.gunicorn_config`'s settings, until stopped."""
    from gunicorn.app.base import BaseApplication

    from .app import create_app

    app = create_app(index_dir, reports_dir=reports_dir, settings=settings)

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            for name, value in SETTINGS.items():
                self.cfg.set(name, value)
            self.cfg.set("accesslog", "-")
            self.cfg.set("errorlog", "-")

        def load(self):
            return app

    print(f"Inspection QA: serving {index_dir} on http://{host}:{port}/", file=sys.stderr, flush=True)
    Server().run()

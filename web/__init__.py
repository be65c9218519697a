"""The chat page's assets, shipped inside the package as ``qa.web``: ``static/`` (served at
``/static/``) and ``templates/`` (rendered by Flask, never served)."""

"""The settings registry (qa/config.py): every QA_* variable the code names is in it and in the README,
``qa config`` shows it, a bad value stops the start with its reason; the web assets' layout."""
import json
import re
from pathlib import Path

import pytest

from qa import config
from qa.app import create_app
from qa.config import Settings
from qa.errors import ConfigError

from .conftest import qa_cli

ROOT = Path(__file__).resolve().parent.parent
NAME = re.compile(r"\bQA_[A-Z][A-Z0-9_]*\b")


def _names_in(paths) -> set[str]:
    return {m for p in paths for m in NAME.findall(p.read_text(encoding="utf-8"))}


def test_every_variable_the_code_names_is_in_the_registry_and_the_readme():
    registered = {row["env"] for row in config.registry()}
    in_code = _names_in((ROOT / "qa").rglob("*.py"))
    assert in_code - registered == set()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = {m for line in readme.splitlines() if line.startswith("| `QA_") for m in NAME.findall(line.split("|")[1])}
    assert registered - table == set(), "README's settings table misses these"
    assert table - registered == set(), "README's settings table names settings that do not exist"


def test_no_module_but_the_registry_reads_the_environment():
    readers = [p.relative_to(ROOT).as_posix() for p in (ROOT / "qa").rglob("*.py")
               if re.search(r"os\.environ|os\.getenv|getenv\(", p.read_text(encoding="utf-8"))]
    assert readers == ["qa/config.py"]


def test_values_come_from_the_environment_over_the_defaults():
    s = config.load({"QA_MAX_FILE_MB": "5", "QA_RERANKER": " Lexical ", "QA_KEEP_GENERATIONS": "7",
                     "QA_INDEX_DIR": "/srv/qa/index", "QA_LOG_LEVEL": "info", "QA_RATE_LIMIT": "0"})
    assert (s.max_file_mb, s.reranker, s.keep_generations, s.index_dir, s.log_level, s.rate_limit) == \
        (5, "lexical", 7, Path("/srv/qa/index"), "INFO", None)
    assert s.limits.max_file_bytes == 5 * 2**20
    assert config.load({}) == Settings()
    assert config.load({"QA_OCR": "1"}).ocr and not config.load({"QA_OCR": "off"}).ocr
    assert config.load({"QA_MAX_FILE_MB": "", "QA_EXTRACT_SECONDS": "  "}) == Settings()  # blank is unset


@pytest.mark.parametrize("env, value, reason", [
    ("QA_MAX_FILE_MB", "ten", "is not a whole number"),
    ("QA_MAX_FILE_MB", "0", "must be above 0"),
    ("QA_GENERATION_GRACE", "-1", "must be above 0"),
    ("QA_EXTRACT_SECONDS", "1m", "is not a number"),
    ("QA_RERANKER", "neural", "is not a reranker"),
    ("QA_RATE_LIMIT", "lots", "is not a rate"),
    ("QA_LOG_LEVEL", "LOUD", "is not a logging level"),
    ("QA_OCR", "maybe", "is not on or off"),
])
def test_a_bad_value_names_the_variable_and_the_reason(env, value, reason):
    with pytest.raises(ConfigError) as caught:
        config.load({env: value})
    assert caught.value.message.startswith(f"{env}={value!r} {reason}")


def test_a_secret_is_never_shown():
    with pytest.raises(ConfigError) as caught:
        config.load({"QA_ADMIN_TOKEN": "s3cret", "QA_MAX_FILE_MB": "x"})
    rows = config.describe(config.load({"QA_ADMIN_TOKEN": "s3cret"}), {"QA_ADMIN_TOKEN": "s3cret"})
    token = next(r for r in rows if r["env"] == "QA_ADMIN_TOKEN")
    assert token["value"] == "(hidden)" and token["source"] == "environment"
    assert "s3cret" not in json.dumps(rows) and "s3cret" not in caught.value.message


def test_qa_config_json_lists_every_setting_with_its_value(tmp_path):
    r = qa_cli("config", "--json", env={"QA_INDEX_DIR": str(tmp_path), "QA_MAX_CHARS": "1000"})
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["env"] for row in rows] == [row["env"] for row in config.registry()]
    assert all(set(row) == {"name", "env", "type", "default", "value", "help"} and row["help"] for row in rows)
    by_env = {row["env"]: row for row in rows}
    assert by_env["QA_INDEX_DIR"]["value"] == str(tmp_path) and by_env["QA_INDEX_DIR"]["default"] == "index"
    assert by_env["QA_MAX_CHARS"]["value"] == 1000 and by_env["QA_MAX_CHARS"]["default"] == 25_000_000
    assert by_env["QA_ADMIN_TOKEN"]["value"] is None
    text = qa_cli("config", env={"QA_MAX_CHARS": "1000"}).stdout
    assert re.search(r"^QA_MAX_CHARS\s+1000\s+environment\s", text, re.M)
    assert re.search(r"^QA_MAX_FILE_MB\s+100\s+default\s", text, re.M)


def test_a_bad_value_stops_the_cli_and_the_app(sample_index_dir, monkeypatch):
    r = qa_cli("ask", "public protection", env={"QA_MAX_FILE_MB": ""})
    assert r.returncode != 2, r.stderr  # blank: the default (it once crashed on int(""))
    r = qa_cli("config", env={"QA_KEEP_GENERATIONS": "many"})
    assert r.returncode == 2 and r.stderr.strip() == "error: QA_KEEP_GENERATIONS='many' is not a whole number"
    monkeypatch.setenv("QA_EXTRACT_SECONDS", "soon")
    with pytest.raises(ConfigError, match="QA_EXTRACT_SECONDS='soon' is not a number"):
        create_app(sample_index_dir)


def test_the_settings_object_reaches_the_build(tmp_path):
    from qa.build import build_index

    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "big.txt").write_text("Probation inspection findings. " * 40_000)  # about 1.2 MB
    (tmp_path / "r" / "small.txt").write_text("Probation inspection findings in one short report.")
    result = build_index(tmp_path / "r", tmp_path / "i", settings=Settings(max_file_mb=1))
    assert [r.file for r in result.rejected] == ["big.txt"] and "over the 1 MB limit" in result.rejected[0].reason
    assert build_index(tmp_path / "r", tmp_path / "i2").rejected == []


TEMPLATES = sorted(p.name for p in (ROOT / "web" / "templates").glob("*.html"))


@pytest.mark.parametrize("path", [f"/static/templates/{t}" for t in TEMPLATES] +
                         [f"/templates/{t}" for t in TEMPLATES] +
                         ["/static/../templates/base.html", "/static/%2e%2e/templates/base.html",
                          "/static/__init__.py", "/static/../__init__.py", "/index.html"])
def test_templates_and_package_files_are_not_served(client, path):
    r = client.get(path)
    assert r.status_code == 404, path
    assert b"{%" not in r.data and b"{{" not in r.data


def test_static_files_are_served_by_flask(client):
    for name in sorted(p.name for p in (ROOT / "web" / "static").iterdir()):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and r.data == (ROOT / "web" / "static" / name).read_bytes(), name


def test_every_page_extends_the_one_base_template():
    for name in TEMPLATES:
        if name != "base.html":
            assert (ROOT / "web" / "templates" / name).read_text(encoding="utf-8").startswith(
                '{% extends "base.html" %}'), name
    assert not list((ROOT / "web").glob("*.html"))

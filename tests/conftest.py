"""Fixtures: indexes built from the bundled sample and from ../shared/corpus, and files the tests make."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from qa.app import create_app
from qa.build import build_index
from qa.config import SAMPLE_REPORTS
from qa.index import IndexStore

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("QA_SHARED_DIR", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus"
BENCH = SHARED / "bench"


def need_shared(path: Path = CORPUS) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared corpus sits beside the project in CI, not in a fresh clone")
    return path


@pytest.fixture(scope="session")
def sample_index_dir(tmp_path_factory) -> Path:
    index = tmp_path_factory.mktemp("sample-index")
    build_index(SAMPLE_REPORTS, index)
    return index


@pytest.fixture(scope="session")
def sample_index(sample_index_dir):
    return IndexStore(sample_index_dir).current()


@pytest.fixture(scope="session")
def corpus_index_dir(tmp_path_factory) -> Path:
    need_shared()
    index = tmp_path_factory.mktemp("corpus-index")
    build_index(CORPUS, index)
    return index


@pytest.fixture(scope="session")
def corpus_index(corpus_index_dir):
    return IndexStore(corpus_index_dir).current()


@pytest.fixture()
def client(sample_index_dir):
    return create_app(sample_index_dir, {"TESTING": True}).test_client()


@pytest.fixture()
def corpus_client(corpus_index_dir):
    return create_app(corpus_index_dir, {"TESTING": True}).test_client()

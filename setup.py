"""The compiled parts of the BM25 engine; everything else is declared in pyproject.toml."""
from setuptools import Extension, setup

setup(ext_modules=[
    Extension("qa._query", ["qa/_query.c"], extra_compile_args=["-O3"]),
    Extension("qa._postings", ["qa/_postings.c"], extra_compile_args=["-O3"]),
])

"""The compiled parts of the BM25 engine; everything else is declared in pyproject.toml."""
from setuptools import Extension, setup

# No fused multiply-add or reassociation: the scores must equal rank-bm25's to the last bit.
FLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math"]

setup(ext_modules=[
    Extension("qa._query", ["qa/_query.c"], extra_compile_args=FLAGS),
    Extension("qa._postings", ["qa/_postings.c"], extra_compile_args=FLAGS),
])

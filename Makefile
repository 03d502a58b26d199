# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test typecheck services bench conformance clean

run: $(VENV)/.installed
	@scripts/services.sh rabbitmq || echo "hint: HUB_BROKER_URL=memory:// make run  runs without RabbitMQ"
	$(BIN)/hub serve

test: $(VENV)/.installed-test
	scripts/services.sh
	scripts/browser.sh
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

typecheck: $(VENV)/.installed-test
	$(BIN)/python -m mypy

services:
	scripts/services.sh

bench: $(VENV)/.installed-test
	scripts/services.sh
	$(BIN)/python bench/ingest.py

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(VENV)/bin/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/bin/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

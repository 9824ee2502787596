# Developer commands. Every target that needs Python sets up .venv itself, so on a
# fresh machine `make run` and `make test` are the whole set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RULES ?= rules
PORT ?= 50051

.PHONY: setup run test lint fmt check bench proto proto-check clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tierline serve --rules $(RULES) --host 127.0.0.1 --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check engine server tests benchmarks
	$(BIN)/ruff format --check engine server tests benchmarks
	$(BIN)/mypy engine server

fmt: $(STAMP)
	$(BIN)/ruff format engine server tests benchmarks
	$(BIN)/ruff check --fix engine server tests benchmarks

check: $(STAMP)
	$(BIN)/tierline check $(RULES)
	$(BIN)/tierline test $(RULES)

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

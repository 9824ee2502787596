# Developer commands. Every target that needs Python sets up .venv itself, so on a
# fresh machine `make run` and `make test` are the whole set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RULES ?= rules
PORT ?= 50051

.PHONY: setup run test test-slow test-all lint fmt check bench compare-kim proto proto-check clean
.PHONY: vscode vscode-test studio-assets studio-assets-check

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tierline serve --rules $(RULES) --host 127.0.0.1 --port $(PORT)

# The suite without the tests marked slow (Spark, load, fuzz, whole data sets): under 10
# minutes on 2 cores. CI runs both halves (.ci/run).
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

test-all: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check engine server tierline tests benchmarks
	$(BIN)/ruff format --check engine server tierline tests benchmarks
	$(BIN)/mypy engine server tierline

fmt: $(STAMP)
	$(BIN)/ruff format engine server tierline tests benchmarks
	$(BIN)/ruff check --fix engine server tierline tests benchmarks

check: $(STAMP)
	$(BIN)/tierline check $(RULES) definitions
	$(BIN)/tierline test $(RULES) definitions

# How the shipped definitions disagree on the Kim et al. accounts (README, "How the
# definitions disagree"); FORMAT=html OUT=report.html for the page with charts.
KIM ?= ../shared/data/influencers/kim2020_instagram_influencers/influencers.txt
FORMAT ?= markdown
compare-kim: $(STAMP)
	@$(BIN)/tierline compare definitions/followers_only/*.tiers --data $(KIM) \
	    --map 'followers=#Followers' --map 'followees=#Followees' --map 'posts=#Posts' \
	    --map category=Category --id Username --format $(FORMAT) $(if $(OUT),-o $(OUT))

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,spark,bench]'
	$(BIN)/python -m benchmarks.run

GEN := server/gen
PROTOS := $(wildcard proto/tierline/v1/*.proto)

# Generated code lives in server/gen; imports are rewritten to be package-relative.
proto: $(STAMP)
	rm -rf $(GEN)/tierline
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=$(GEN) --grpc_python_out=$(GEN) \
		--plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy --mypy_out=$(GEN) \
		--plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc --mypy_grpc_out=$(GEN) $(PROTOS)
	find $(GEN)/tierline -type d -exec touch {}/__init__.py \;
	sed -i 's/^from tierline\.v1 import/from server.gen.tierline.v1 import/' $(GEN)/tierline/v1/*.py $(GEN)/tierline/v1/*.pyi

# CI: the committed generated code must match the .proto sources.
proto-check: $(STAMP)
	rm -rf /tmp/tierline-proto-check && mkdir -p /tmp/tierline-proto-check
	$(MAKE) -s proto GEN=/tmp/tierline-proto-check >/dev/null
	diff -r $(GEN)/tierline /tmp/tierline-proto-check/tierline
	rm -rf /tmp/tierline-proto-check

# The VS Code extension (editors/vscode): its .vsix (not committed), and its grammar's tests.
vscode:
	cd editors/vscode && npm ci --no-audit --no-fund && npm run package

vscode-test:
	cd editors/vscode && npm ci --no-audit --no-fund && npm run test:grammar

# The studio's page: tierline/studio/web (npm, lockfile) built by esbuild into the committed
# tierline/studio/static; CI checks that the committed build matches its sources.
STUDIO_WEB := tierline/studio/web
studio-assets:
	cd $(STUDIO_WEB) && npm ci --no-audit --no-fund && node build.mjs

studio-assets-check:
	rm -rf /tmp/tierline-studio-check && mkdir -p /tmp/tierline-studio-check
	cd $(STUDIO_WEB) && node build.mjs /tmp/tierline-studio-check
	diff -r tierline/studio/static /tmp/tierline-studio-check
	rm -rf /tmp/tierline-studio-check

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

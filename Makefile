# pool-oracle: `make demo` runs the main job, `make test` the whole suite. Both set up what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup prometheus test lint typecheck unit demo demo-prove devnet bench faults soak lock clean

TOOLS_STAMP := tools/node_modules/.installed

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

setup: $(STAMP) $(TOOLS_STAMP) prometheus

# Prometheus and promtool from Debian's package, for the observability tests (skipped if present).
prometheus:
	@command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || { \
	  echo "installing Debian's prometheus package (prometheus, promtool)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

# anvil and solc, pinned by tools/package-lock.json, installed under the project. npm install, not ci:
# the registry serves only this platform's anvil binary package, which a lock file cannot list for
# every platform; the versions still come from package-lock.json.
$(TOOLS_STAMP): tools/package.json tools/package-lock.json
	cd tools && npm install --no-audit --no-fund --loglevel=error
	@touch $@

# The venv is rebuilt from the hashed lock whenever the lock or the project metadata changes.
$(STAMP): requirements/dev.lock requirements/build.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r requirements/build.lock -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

lint: setup
	$(BIN)/ruff check oracle tests benchmarks deploy
	$(BIN)/ruff format --check oracle tests benchmarks deploy

typecheck: setup
	$(BIN)/mypy

# The whole suite; of the fault matrix, its short form (the full one is `make faults`).
test: lint typecheck
	$(BIN)/pytest -m "not faults_full"

unit: setup
	$(BIN)/pytest -m "unit and not slow"

# The devnet and the daemon together: reports landing and share prices moving (about 75 s).
demo: setup
	$(BIN)/python -m oracle.devnet.demo --seconds $${DEMO_SECONDS:-75} --workdir .demo

# The proof engine alone, offline: prove two validators of a sample state and verify them.
demo-prove: setup
	@mkdir -p .demo
	$(BIN)/pool-oracle sample-state --layout beaconkit-electra --validators 64 --output .demo/state.ssz
	$(BIN)/pool-oracle prove --state .demo/state.ssz --index 0 --index 63 --output .demo/proof.json
	$(BIN)/pool-oracle verify --proof .demo/proof.json --verbose

devnet: setup
	$(BIN)/pool-oracle devnet --write-config .demo/devnet.yaml

# Every row of the fault matrix against the real daemon on the devnet, then RELIABILITY.md from the results.
faults: setup
	rm -f .faults/results.json
	$(BIN)/pytest tests/faults -v
	$(BIN)/pytest -m faults_full tests/daemon/test_set_pool_e2e.py
	$(BIN)/python -m tests.faults.render

# 1,000 cycles with random faults; RSS, fds and journal size sampled into RELIABILITY.md (about 20 min).
soak: setup
	$(BIN)/python -m tests.faults.soak --cycles $${SOAK_CYCLES:-1000}

bench: setup
	$(BIN)/python benchmarks/bench_prove.py
	$(BIN)/python benchmarks/bench_bkjson.py
	$(BIN)/python benchmarks/bench_multiproof.py
	$(BIN)/python benchmarks/bench_pool_gas.py

# Re-resolve the pinned, hashed lock files (needs the package index).
lock:
	$(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install --quiet pip-tools
	.lock-venv/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe -o requirements/runtime.lock pyproject.toml
	.lock-venv/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --extra dev -o requirements/dev.lock pyproject.toml
	.lock-venv/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe -o requirements/build.lock requirements/build.in

clean:
	rm -rf $(VENV) .lock-venv .demo .pytest_cache .mypy_cache .ruff_cache

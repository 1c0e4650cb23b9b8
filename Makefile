# Everything a fresh clone needs: a .venv with the CPU build of torch, npm packages in
# devnet/ (anvil, forge, solc-js, OpenZeppelin) and contracts compiled by forge.
# Each step is stamped, so re-running `make demo` / `make test` installs nothing twice.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
FORGE := $(CURDIR)/devnet/node_modules/.bin/forge
PY_STAMP := $(VENV)/.installed
NPM_STAMP := devnet/node_modules/.installed
SOL_STAMP := contracts/out/.built
SOURCES := node tests scripts bench
DEMO_OUT ?= out/demo

.PHONY: setup browser demo demo-byzantine test lint forge-test slither pytest clean \
	bench-flower-env

setup: $(PY_STAMP) $(SOL_STAMP)

$(PY_STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,interop,export]'
	touch $@

$(NPM_STAMP): devnet/package.json devnet/package-lock.json
	cd devnet && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(SOL_STAMP): $(NPM_STAMP) $(wildcard contracts/src/*.sol) contracts/foundry.toml
	cd contracts && $(FORGE) build
	touch $@

# The browser test drives Debian's chromium with Playwright (no browser download). The
# installed binaries are the stamp: apt-get runs only while one of them is missing.
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver

browser: $(CHROMIUM) $(CHROMEDRIVER)

$(CHROMIUM) $(CHROMEDRIVER) &:
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "make: the browser test needs Debian's chromium; as root run:" \
	    "apt-get install -y chromium chromium-driver" >&2; exit 1; fi
	@command -v apt-get >/dev/null || { echo "make: no apt-get here: install chromium" \
	  "and chromedriver so that $(CHROMIUM) and $(CHROMEDRIVER) exist" >&2; exit 1; }
	$(APT_INSTALL) || { apt-get update -q && $(APT_INSTALL); }

demo: setup
	$(PY) -m node demo --out $(DEMO_OUT)

# 6 nodes, 2 of them Byzantine (sign flip), robust rule nnm+trimmed_mean, digits task
demo-byzantine: setup
	$(PY) -m node demo --nodes 6 --byzantine 2 --attack sign_flip,boost --task digits-mlp \
	  --out out/demo-byzantine

lint: $(PY_STAMP)
	$(VENV)/bin/ruff check $(SOURCES)
	$(VENV)/bin/ruff format --check $(SOURCES)
	$(VENV)/bin/mypy node

forge-test: $(SOL_STAMP)
	cd contracts && FOUNDRY_PROFILE=ci $(FORGE) test

# Static analysis of contracts/src (settings in contracts/slither.config.json; accepted
# findings are explained in contracts/README.md). Slither reads a build of src/ only, with
# build info, in its own out directory and with its own compiler cache: a running test
# never sees contracts/out disappear, and the two builds never invalidate each other's
# cache (a shared one made every `forge test` after `make slither` recompile everything).
# That build is redone only when a source changes.
SLITHER_STAMP := contracts/cache/slither-out/.built

$(SLITHER_STAMP): $(NPM_STAMP) $(wildcard contracts/src/*.sol) contracts/foundry.toml
	cd contracts && rm -rf cache/slither-out cache/slither-cache && \
	  $(FORGE) build --build-info --out cache/slither-out --cache-path cache/slither-cache \
	  --skip './test/**'
	touch $@

slither: $(SLITHER_STAMP) $(PY_STAMP)
	cd contracts && PATH="$(CURDIR)/devnet/node_modules/.bin:$$PATH" \
	  $(CURDIR)/$(VENV)/bin/slither . --compile-force-framework foundry --fail-medium

# Flower (flwr 1.42) for bench/vs_flower.py, in its own venv: its protobuf/grpc pins clash
# with libp2p's. Its app trains with torch: the CPU build from this disk, pinned as in
# .venv (a bare `torch` would fetch a CUDA build). Not needed by `make test`: the install
# takes ~2 min of CPU (6.5 min wall on the loaded 2-core machine).
FLOWER_VENV := .venv-flower
FLOWER_STAMP := $(FLOWER_VENV)/.installed

bench-flower-env: $(FLOWER_STAMP)

$(FLOWER_STAMP): Makefile
	test -x $(FLOWER_VENV)/bin/python || $(PYTHON) -m venv $(FLOWER_VENV)
	$(FLOWER_VENV)/bin/pip install -q torch==2.13.0
	$(FLOWER_VENV)/bin/pip install -q flwr==1.42.0
	touch $@

# Two workers, one test file each at a time (module fixtures stay in one worker): most
# integration tests wait on round windows, so two overlap well on a 2-core machine. Files
# start in tests/conftest.py's order, the slowest first (xdist's own: most tests first).
PYTEST_WORKERS ?= 2
pytest: setup browser
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25

# The installs and checks two at a time (pip beside npm + forge build + forge test; each
# target's output printed whole when it ends): about 3 min less on a fresh clone. Then
# pytest alone, so its round windows never share the cores with forge or mypy.
test:
	$(MAKE) --no-print-directory -j2 --output-sync=target lint forge-test slither setup browser
	$(MAKE) --no-print-directory pytest

clean:
	rm -rf $(VENV) $(FLOWER_VENV) devnet/node_modules contracts/out contracts/cache .data out

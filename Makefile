# davsync: every target bootstraps what it needs on a fresh Debian machine with Python 3.11.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PORT   ?= 8080
ROOT   ?= data

.PHONY: serve test lint fmt bench tools clean venv test-venv soak fuzz test-random scaleout scaleout-down

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[server]'
	touch $@

$(VENV)/.test-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(VENV)/.installed $@

venv: $(VENV)/.installed
test-venv: $(VENV)/.test-installed

## serve: run the server on http://127.0.0.1:$(PORT)/ over ./$(ROOT)
serve: venv
	$(VENV)/bin/davserver serve --root $(ROOT) --port $(PORT)

## tools: Debian packages the interop tests drive (litmus, cadaver, davfs2, nginx + dav-ext, chromium + chromium-driver, nextcloudcmd, owncloudcmd, Ceph mon+osd+radosgw); needs root or sudo
tools:
	@bash .ci/install-tools

## test: every test, with the real third-party clients installed first
test: test-venv tools
	$(VENV)/bin/pytest -q

## test-random: every test in random order (pytest-randomly); prints the seed, and
## make test-random SEED=<n> [TESTS="tests/unit tests/hostile"] repeats that order
ifndef SEED
SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif
TESTS ?=
test-random: test-venv tools
	@echo "test-random: --randomly-seed=$(SEED) (repeat: make test-random SEED=$(SEED))"
	$(VENV)/bin/pytest -q -p randomly --randomly-seed=$(SEED) $(TESTS)

lint: test-venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: test-venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: test-venv tools
	$(PY) -m bench.run

## scaleout: PostgreSQL, Ceph radosgw, two davserver nodes and nginx (TLS) on loopback;
## prints URL:, NODE: lines and the credentials (see docs/SCALEOUT.md)
scaleout: test-venv tools
	$(PY) -m interop.scaleout up

## scaleout-down: stops exactly what make scaleout started
scaleout-down: test-venv
	$(PY) -m interop.scaleout down

## soak: 50 concurrent clients for 60 s against a real server, then every stored hash verified
soak: test-venv
	$(PY) -m bench.load --clients 50 --duration 60

## fuzz: the targets in tests/fuzz with FUZZ_EXAMPLES examples each (make test runs a few)
FUZZ_EXAMPLES ?= 5000
fuzz: test-venv
	DAVSYNC_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VENV)/bin/pytest -q tests/fuzz \
		-W ignore::hypothesis.errors.HypothesisWarning

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

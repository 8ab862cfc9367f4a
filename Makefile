# The two commands a new user runs: `make demo` and `make test`. Both set up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint demo demo-quick clean-venv

setup:
	bash tools/setup_env.sh

# pytest workers: one per core, at most 4 (each imports torch, mmdet and mmseg); tests/conftest.py shares the
# cores' threads among them. `make test TEST_JOBS=1` runs the suite in one process.
TEST_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)

test: setup
	$(PY) -m pytest -q -n $(TEST_JOBS) tests

lint: setup
	$(PY) -m ruff check mixskd_mm tools tests configs benchmarks

demo: setup
	$(PY) tools/demo.py --out outputs/demo

clean-venv:
	rm -rf $(VENV)

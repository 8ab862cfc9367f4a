# The two commands a new user runs: `make demo` and `make test`. Both set up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint demo demo-quick clean-venv

setup:
	bash tools/setup_env.sh

test: setup
	$(PY) -m pytest -q tests

lint: setup
	$(PY) -m ruff check mixskd_mm tools tests configs benchmarks

demo: setup
	$(PY) tools/demo.py --out outputs/demo

clean-venv:
	rm -rf $(VENV)

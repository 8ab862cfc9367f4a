# The two commands a new user runs: `make demo` and `make test`. Both set up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test test-modes lint demo clean-venv

setup:
	bash tools/setup_env.sh

# pytest workers: one per core, at most 4 (each imports torch, mmdet and mmseg); tests/conftest.py shares the
# cores' threads among them. `make test TEST_JOBS=1` runs the suite in one process.
TEST_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)

# TEST_ISA makes this CPU pick the kernel families another CPU would (fp32 sums then round differently):
#   avx2    oneDNN's convolutions and ATen's vectorised kernels capped at AVX2 (a CPU without AVX-512)
#   avx     oneDNN at AVX without FMA, ATen's unvectorised kernels (an older CPU; what an AVX2-only CPU can change)
#   avx512  oneDNN at AVX-512 without AMX or bf16 units, ATen's AVX-512 kernels (needs a CPU with AVX-512)
TEST_ISA ?=
# PYTEST_ARGS: more pytest options, e.g. PYTEST_ARGS="--durations=20" or PYTEST_ARGS="-k export"
PYTEST_ARGS ?=
HAS_AVX512 := $(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo yes)
ISA_ENV_avx2 := ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2
ISA_ENV_avx := ONEDNN_MAX_CPU_ISA=AVX ATEN_CPU_CAPABILITY=default
ISA_ENV_avx512 = $(if $(HAS_AVX512),ONEDNN_MAX_CPU_ISA=AVX512_CORE ATEN_CPU_CAPABILITY=avx512,\
  $(error TEST_ISA=avx512 needs a CPU with AVX-512 (this one has no avx512f flag): use avx2 or avx))
ISA_ENV = $(if $(TEST_ISA),$(or $(ISA_ENV_$(TEST_ISA)),$(error TEST_ISA=$(TEST_ISA): use avx2, avx, avx512 or leave it empty)),)

test: setup
	$(ISA_ENV) $(PY) -m pytest -q -n $(TEST_JOBS) --dist loadgroup $(PYTEST_ARGS) tests

# The suite as each CPU and thread count of ours would run it, one mode after the other (4 runs, about an hour on
# 2 cores): JOBS:ISA = two workers of one thread and one worker of two threads, with this CPU's kernels and with the
# kernel families of another (AVX2 on a CPU with AVX-512, AVX on one without).
OTHER_ISA := $(if $(HAS_AVX512),avx2,avx)
TEST_MODES ?= 2: 1: 2:$(OTHER_ISA) 1:$(OTHER_ISA)
test-modes: setup
	@failed=""; for mode in $(TEST_MODES); do jobs=$${mode%%:*}; isa=$${mode#*:}; \
	  echo "[test-modes] TEST_JOBS=$$jobs TEST_ISA=$$isa"; \
	  $(MAKE) --no-print-directory test TEST_JOBS=$$jobs TEST_ISA=$$isa || failed="$$failed $$mode"; \
	done; \
	if [ -n "$$failed" ]; then echo "[test-modes] failed in mode(s) JOBS:ISA$$failed"; exit 1; fi; \
	echo "[test-modes] every mode passed: $(TEST_MODES)"

# ruff's rules and mypy's strictness: pyproject.toml
lint: setup
	$(PY) -m ruff check mixskd_mm tools tests configs benchmarks
	$(PY) -m mypy mixskd_mm

demo: setup
	$(PY) tools/demo.py --out outputs/demo

clean-venv:
	rm -rf $(VENV)

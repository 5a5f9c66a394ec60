# Set-up is part of each target: `make demo` and `make test` work on a fresh clone and leave
# the environment in .venv. torch (test extra only) is pinned to the 2.13.0 CPU wheel.
PY := .venv/bin/python

.PHONY: demo test lint test-slow bench clean-venv

.venv/core.stamp: pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

.venv/test.stamp: pyproject.toml .venv/core.stamp
	$(PY) -m pip install -q -e ".[test]"
	touch $@

demo: .venv/core.stamp
	.venv/bin/skyreels-jax demo --out outputs/demo.mp4

# ruff first (the lint rules are in pyproject.toml); then the tests in two processes (pytest-xdist: the
# suite is mostly compiles, which XLA runs on one thread; TEST_WORKERS=0 runs them in this one). pytest
# exits 5 when it collects no test: that is reported, not treated as a crash.
TEST_WORKERS ?= 2
test: .venv/test.stamp
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

lint: .venv/test.stamp
	$(PY) -m ruff check .

test-slow: .venv/test.stamp
	$(PY) -m pytest -q -m slow -s $(PYTEST_ARGS)

# CPU benchmarks against diffusers as an outside reviewer measures them (pinned, fresh processes, alternating
# sides, medians), with a roofline column; one table (docs/performance.md). BENCH_ARGS="--rows vae" for a subset
bench: .venv/test.stamp
	$(PY) -m benchmarks.run_all $(BENCH_ARGS)

clean-venv:
	rm -rf .venv

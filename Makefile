# The two set-up commands of the README: `make serve` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
AS_OF ?= $(shell date +%F)

.PHONY: serve test bench install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Until the web app exists, serving means checking every sample firm on the command line.
serve: $(STAMP)
	@for f in sample_firms/*.json; do echo "=== $$f"; $(VENV)/bin/huiqi check "$$f" --as-of $(AS_OF) || exit $$?; echo; done

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_screen.py

clean:
	rm -rf $(VENV) .pytest_cache

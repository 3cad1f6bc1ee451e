# The two set-up commands of the README: `make serve` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
AS_OF ?= $(shell date +%F)

.PHONY: serve test bench install clean translations postgresql

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

HOST ?= 127.0.0.1
PORT ?= 8000

# The web app with the sample firms ready: the self-check offers every sample firm, and the sample bureau list is
# screened once so the bureau pages have a run. The first start creates an account and prints its password once.
serve: $(STAMP)
	$(VENV)/bin/huiqi serve --host $(HOST) --port $(PORT) --demo

# Browser tests drive Debian's Chromium through Playwright (never a downloaded browser); a CJK font makes the
# screenshots readable.
CHROMIUM := /usr/bin/chromium
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc

$(CHROMIUM) $(CJK_FONT):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei; \
	else echo "Chromium is missing and cannot be installed here: browser tests will be skipped"; fi

# The account, screening-history and ledger tests also run on PostgreSQL: the test set-up starts a throwaway cluster
# with Debian's binaries (initdb, pg_ctl), installed here when missing.
postgresql:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
		else echo "PostgreSQL is missing and cannot be installed here: its tests will be skipped"; fi; \
	fi

# One pytest worker per core, at most four (each worker starts its own PostgreSQL cluster and Chromium); a test
# file stays on one worker, so its module fixtures are built once.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)

test: $(STAMP) $(CHROMIUM) $(CJK_FONT) postgresql
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# wrk is the load client of the web benchmark (Debian's package); without it the benchmark uses a Python client.
bench: $(STAMP)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } || true
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_screen.py
	$(PY) benchmarks/bench_limit.py
	$(PY) benchmarks/bench_web.py
	$(PY) benchmarks/bench_jobs.py
	$(PY) benchmarks/bench_ledger.py
	$(PY) benchmarks/bench_dask.py
	$(PY) benchmarks/bench_payout.py

clean:
	rm -rf $(VENV) .pytest_cache

# After changing user-facing text: refresh the message catalogues, then translate the new entries in
# webapp/translations/zh/LC_MESSAGES/messages.po (the app compiles them when it starts).
translations: $(STAMP)
	$(VENV)/bin/pybabel extract -F webapp/babel.cfg -k _l -o webapp/translations/messages.pot .
	$(VENV)/bin/pybabel update -i webapp/translations/messages.pot -d webapp/translations --no-fuzzy-matching

# SecondLook: `make demo` and `make test` set themselves up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)
# Test-only JavaScript tools (axe-core), pinned by package-lock.json.
NODE_STAMP := node_modules/.installed-$(shell cat package-lock.json | sha256sum | cut -c1-12)

.PHONY: install demo test test-embedded bench lint chromium clean

# The stamp names the requirements' hash: unchanged requirements skip pip entirely.
$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(PY) manage.py demo

# Browser tests drive Debian's Chromium (never a downloaded browser).
chromium:
	@bash scripts/ensure-chromium

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@rm -f node_modules/.installed-*
	@touch $@

test: $(STAMP) chromium $(NODE_STAMP)
	$(PY) -m pytest

# The domain and API tests again on the embedded default (SQLite, in-process tasks), for
# runs whose main pass used DATABASE_URL (CI runs both).
test-embedded: $(STAMP)
	env -u DATABASE_URL -u REDIS_URL -u CELERY_BROKER_URL $(PY) -m pytest -q tests/studies tests/inference

bench: $(STAMP)
	$(PY) bench/prepare_topk.py
	$(PY) bench/prepare.py
	$(PY) bench/attacks.py
	$(PY) bench/explanations.py
	$(PY) bench/mmd_critic.py
	@if [ -n "$$DATABASE_URL" ]; then $(PY) bench/export.py && $(PY) bench/load.py; \
	else echo "bench/export.py and bench/load.py need DATABASE_URL (a PostgreSQL server): skipped"; fi

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf data .pytest_cache .ruff_cache

# Two commands do all the set-up on a fresh machine:
#   make demo   - creates .venv, installs everything (Debian's chromium when missing), runs
#                 `scrapy crawl pins_search`, `scrapy crawl pins` and `scrapy crawl links` (a small
#                 mixed batch) against the local sandbox and says where the results are
#   make test   - the same set-up, then the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup chromium demo test test-postgres lint bench sandbox scrapyd clean

setup: $(STAMP) chromium

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# scrapy-playwright drives the system's Chromium; `playwright install` cannot download here.
# Headless runs use Debian's chromium-headless-shell (half the memory and CPU of the full
# browser's headless mode); HEADLESS=false needs the full chromium.
chromium:
	@if command -v chromium >/dev/null 2>&1 && command -v chromium-headless-shell >/dev/null 2>&1; then \
		echo "chromium: $$(command -v chromium), $$(command -v chromium-headless-shell)"; \
	else \
		echo "installing Debian's chromium and chromium-headless-shell"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-headless-shell >/dev/null \
		&& echo "chromium: $$(command -v chromium), $$(command -v chromium-headless-shell)"; \
	fi

DEMO_DB := sqlite:///data/crawler.sqlite3

# The whole Pinterest workflow against the sandbox (same seed: the same site for both steps):
# collect 200 pins for a keyword, then fetch their details and images.
demo: setup
	$(BIN)/python -m sandbox.run --latency-ms 50 -- \
		$(BIN)/scrapy crawl pins_search -a keyword="autumn garden" -a limit=200 -s DATABASE_URL=$(DEMO_DB)
	$(BIN)/python -m sandbox.run --latency-ms 100 --jitter-ms 50 --missing-rate 0.02 --orig-forbidden-rate 0.1 -- \
		$(BIN)/scrapy crawl pins -a keyword="autumn garden" -s CONCURRENT_REQUESTS=16 -s DATABASE_URL=$(DEMO_DB)
	@echo
	@$(BIN)/scrapy pindb check -s DATABASE_URL=$(DEMO_DB)
	@echo "images: $$(find data/images -type f | wc -l) files under data/images/"
	@echo "results: data/crawler.sqlite3 (table pins), data/images/, data/metrics/ (run metrics as JSON)"
	@echo
	$(BIN)/python -m sandbox.run --site-latency-ms youtube=150,youtube_comments=100,bilibili=80,reddit=200,article=250 -- \
		$(BIN)/scrapy crawl links -a batch=sandbox/demo/links.json -s CONCURRENT_REQUESTS=8 -s DATABASE_URL=$(DEMO_DB) \
		-s PROGRESS_FILE=data/links-progress.jsonl -o data/links-results.jsonl
	@echo
	@echo "links: data/crawler.sqlite3 (tables tasks, link_results, link_comments), data/links-results.jsonl (the feed),"
	@echo "       data/links-progress.jsonl (task events), run report: $$(ls -t data/metrics/links-*.html | head -1)"

test: setup
	$(BIN)/python -m pytest

# The same suite with every crawl writing to PostgreSQL: a database of the run's own, made and
# dropped by it, on the server CRAWLER_TEST_POSTGRES names (default postgres@127.0.0.1:5432)
test-postgres: setup
	$(BIN)/python -m pytest --database=postgresql

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/pins.py

sandbox: setup
	$(BIN)/python -m sandbox --port 8765

# Scrapyd for this project (./scrapyd.conf: 127.0.0.1:6800, state under data/scrapyd/), with
# authentication on: SCRAPYD_USERNAME and SCRAPYD_PASSWORD from the environment or .env
scrapyd: setup
	@set -a; [ ! -f .env ] || . ./.env; set +a; 	if [ -z "$$SCRAPYD_USERNAME" ] || [ -z "$$SCRAPYD_PASSWORD" ]; then 		echo "error: set SCRAPYD_USERNAME and SCRAPYD_PASSWORD (environment or .env): a Scrapyd without them runs anyone's code" >&2; 		exit 2; 	fi; 	exec $(BIN)/scrapyd --pidfile=

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache bench/results

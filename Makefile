# Two commands do all the set-up on a fresh machine:
#   make demo   - creates .venv, installs everything (Debian's chromium when missing), runs
#                 `scrapy crawl pins` against the local sandbox and says where the results are
#   make test   - the same set-up, then the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup chromium demo test lint bench sandbox clean

setup: $(STAMP) chromium

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# scrapy-playwright drives the system's Chromium; `playwright install` cannot download here.
chromium:
	@if command -v chromium >/dev/null 2>&1; then \
		echo "chromium: $$(command -v chromium)"; \
	else \
		echo "installing Debian's chromium"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null \
		&& echo "chromium: $$(command -v chromium)"; \
	fi

DEMO_IDS := data/demo/ids.txt

demo: setup
	@mkdir -p data/demo
	@$(BIN)/python -c "import random; r = random.Random(7); \
		print('\n'.join(str(r.randrange(10**17, 10**18)) for _ in range(300)))" > $(DEMO_IDS)
	@echo "https://www.pinterest.com/pin/175147872999363183/" >> $(DEMO_IDS)
	@echo "UGluOjEyMzQ1" >> $(DEMO_IDS)
	$(BIN)/python -m sandbox.run --latency-ms 100 --jitter-ms 50 --missing-rate 0.02 -- \
		$(BIN)/scrapy crawl pins -a ids_file=$(DEMO_IDS) -a keyword=demo -s CONCURRENT_REQUESTS=16 \
		-s DATABASE_URL=sqlite:///data/crawler.sqlite3
	@echo
	@$(BIN)/python -m crawler.db.summary sqlite:///data/crawler.sqlite3
	@echo "results: data/crawler.sqlite3 (table pins); e.g. sqlite3 data/crawler.sqlite3 'select * from pins limit 5'"

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/pins.py

sandbox: setup
	$(BIN)/python -m sandbox --port 8765

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache bench/results

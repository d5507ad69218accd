"""Project defaults. Per-spider differences live in each spider's `custom_settings`; optional
bundles (browser, sandbox) are add-ons switched on by one setting each (crawler/addons.py).
Secrets come from the environment or `.env`, never from here."""

from __future__ import annotations

from scrapy.settings.default_settings import EXTENSIONS_BASE as _SCRAPY_EXTENSIONS_BASE

from crawler.env import load_dotenv

load_dotenv()

BOT_NAME = "crawler"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"
COMMANDS_MODULE = "crawler.commands"

ADDONS = {
    "crawler.addons.SharedComponentsAddon": 0,
    "crawler.addons.ConcurrencyAddon": 0,
    "crawler.addons.HTTPClientAddon": 5,
    "crawler.addons.BrowserAddon": 10,
    "crawler.addons.SandboxAddon": 20,  # after the browser: it wraps whichever handler is chosen
}

TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
# libuv's event loop under the reactor: less CPU per request than asyncio's own (bench/pins.py
# --latency-ms 0 compares them). `-s ASYNCIO_EVENT_LOOP=asyncio.SelectorEventLoop`: the plain one.
ASYNCIO_EVENT_LOOP = "uvloop.Loop"
ROBOTSTXT_OBEY = False
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
)

# --- speed (see ../shared/PERFORMANCE_NOTES.md) ---
CONCURRENT_REQUESTS = 16  # the per-domain cap follows it (ConcurrencyAddon)
# One item per response: Scrapy's default of 100 starts 100 workers per response (~25% CPU).
CONCURRENT_ITEMS = 1
# Scrapy re-parses the callback's source on every response for this check (2-3% CPU).
WARN_ON_GENERATOR_RETURN_VALUE = False
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False  # see EXTENSIONS_BASE
# Plain downloads through this project's asyncio HTTP/1.1 client (crawler/handlers/http.py):
# about 30% of the CPU of Scrapy's Twisted client per request. "twisted" switches back.
HTTP_CLIENT = "asyncio"
DOWNLOAD_TIMEOUT = 60
DOWNLOAD_MAXSIZE = 64 * 1024 * 1024
DOWNLOAD_WARNSIZE = 16 * 1024 * 1024
RETRY_TIMES = 2
# 429s are the throttle's (crawler/middlewares/throttle.py): it waits Retry-After and finds the
# rate the site accepts; RetryMiddleware keeps the errors.
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408]
THROTTLE_ENABLED = True
THROTTLE_HTTP_CODES = [429]
THROTTLE_HEADROOM = 1.25  # pacing target = per-domain concurrency x this (ConcurrencyAddon)
THROTTLE_BACKOFF = 0.9  # after a refusal: this share of the rate the site accepted
THROTTLE_PROBE = 1.02  # without refusals the cap rises this much per second near a known limit
THROTTLE_FAST_PROBE = 1.1  # ... and this much while the limit is unknown or long untested
THROTTLE_FAST_AFTER = 10.0  # seconds without a refusal before probing fast again
THROTTLE_MAX_RETRIES = 10
THROTTLE_MAX_WAIT = 60.0
AUTOTHROTTLE_ENABLED = False  # replaced by the throttle, which paces the same way
DOWNLOAD_DELAY_JITTER = 0  # random jitter on the spacing would exceed latency/concurrency at times
LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"

# JOBDIR that survives kill -9: the database decides what is left after an unclean stop
DUPEFILTER_CLASS = "crawler.dupefilters.CrashSafeDupeFilter"

# Every spider runs the one database writer and the one throttle (SharedComponentsAddon) and
# adds its own components in its update_settings (crawler/components.py): it inherits nothing
# of another spider's.
# A spider that talks to one site sets this: the per-domain cap then follows CONCURRENT_REQUESTS
# (ConcurrencyAddon), so that -s CONCURRENT_REQUESTS=16 means 16 at once there
CONCURRENCY_ONE_SITE = False

# --- this project's settings ---
DATABASE_URL = "sqlite:///data/crawler.sqlite3"
DATABASE_BATCH_SIZE = 500
DATABASE_FLUSH_INTERVAL = 1.0  # seconds: the most a crash can lose of fetched-but-unsaved work
# A database out of reach (PostgreSQL restarting, a SQLite file locked by another process): rows
# wait and are tried again; at this many waiting the crawl starts no new requests until half are
# written (about 2.5 KB each in memory); past the timeout (seconds) it stops with one line.
DATABASE_MAX_PENDING_ROWS = 2000
DATABASE_OUTAGE_TIMEOUT = 300.0

# A task of the task table (crawler/db/tasks.py) is held this long by the run that claimed it,
# renewed while it runs: after a kill -9, how long its tasks wait before another run takes them.
TASKS_LEASE_S = 120.0

BROWSER_ENABLED = False  # the spiders that need Chromium switch it on (pins, pins_search, jdpower)
BROWSER_EARLY_DRIVER = True  # Playwright's driver starts while the crawler is built (crawler/driver.py)
BROWSER_EXECUTABLE = ""  # empty: chromium-headless-shell (headless), else chromium, on PATH
BROWSER_DRIVER_HEAP_MB = 128  # heap limit of Playwright's Node.js driver (NODE_OPTIONS wins)
HEADLESS = True
PLAYWRIGHT_MAX_CONTEXTS = 8

SANDBOX_URL = ""  # e.g. http://127.0.0.1:8765: every request goes to the local sandbox

PINTEREST_BASE_URL = "https://www.pinterest.com"
PINTEREST_SESSION_RETRIES = 3  # warm-ups again after a 403 CSRF answer, per request
PINTEREST_CLOSE_BROWSER_AFTER_WARMUP = True

# J.D. Power (`scrapy crawl jdpower`); credentials only from JD_USER / JD_PASS (environment, .env)
JDPOWER_BASE_URL = "https://www.jdpowervalues.com"
CONCURRENT_CONTEXTS = 5  # browser contexts downloading at once
JDPOWER_OUTPUT_DIR = "downloads"  # reports in <this>/<YYYY-MM-DD>/run-<N>/
JDPOWER_RETRIES = 2  # per vehicle, each on a fresh page
JDPOWER_HTTP_RETRIES = 2  # a 5xx/429 on one step, tried again in place before it counts as a try
JDPOWER_PDF_TIMEOUT = 120  # seconds from the click to the whole PDF
# a worker's browser context is made anew after this many vehicles: Playwright's driver keeps what
# a context's pages did until the context closes (each report POST's body holds on to a 64 KB read
# buffer); 500 vehicles: the driver's mean 139 MB with 20, 147 MB with 50
JDPOWER_CONTEXT_VEHICLES = 20
JDPOWER_PAGE_VEHICLES = 1  # vehicles a browser page opens in turn: more costs memory, saves CPU
JDPOWER_NEXT_PAGE_DELAY = 0.5  # s after a report is under way before the next vehicle's page opens
JDPOWER_CONTEXT_FAILURES = 3  # failures in a row before a context is closed and made anew

EXTENSIONS = {
    "crawler.extensions.prompt_scheduling.PromptScheduling": 0,
    "crawler.extensions.progress.Progress": 0,
    "crawler.extensions.log_level.LogLevel": 0,
}
# Scrapy's remote control runs Python sent over HTTP, and importing its module costs ~0.15 s of
# every crawl's start-up (aiohttp and aiohttp.web). Naming it in EXTENSIONS, even as None, makes
# Scrapy import it to normalise the key, so it leaves the base list instead.
EXTENSIONS_BASE = {k: v for k, v in _SCRAPY_EXTENSIONS_BASE.items() if not k.endswith(".RemoteControl")}

PROGRESS_ENABLED = True
PROGRESS_LOG_INTERVAL = 10.0  # seconds between progress log lines when not on a terminal
METRICS_DIR = "data/metrics"  # run metrics as JSON, one file per run; empty: none

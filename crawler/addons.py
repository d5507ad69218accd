"""Add-ons: optional bundles, each switched on by one setting, applied before settings freeze.

Add-ons see the final settings (command line included) before Scrapy builds any component, which
is what the three below need: each derives several settings from one the user sets.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.components import add_components

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

_PLAYWRIGHT_HANDLER = "crawler.handlers.browser.BrowserDownloadHandler"
_HTTP_HANDLERS = {"asyncio": "crawler.handlers.http.AsyncioHTTPDownloadHandler", "twisted": None}
_SANDBOX_HTTP_HANDLERS = {
    "asyncio": "crawler.handlers.sandbox.SandboxAsyncioHTTPDownloadHandler",
    "twisted": "crawler.handlers.sandbox.SandboxHTTPDownloadHandler",
}
_SANDBOX_PLAYWRIGHT_HANDLER = "crawler.handlers.sandbox.SandboxPlaywrightDownloadHandler"

# What Playwright 1.65 switches off itself (chromiumSwitches.ts): a second --disable-features
# replaces the first instead of adding to it, so its list is repeated here, ours after it.
_PLAYWRIGHT_DISABLED_FEATURES = [
    "AvoidUnnecessaryBeforeUnloadCheckSync", "DestroyProfileOnBrowserClose", "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable", "LensOverlay", "MediaRouter", "PaintHolding",
    "ThirdPartyStoragePartitioning", "AvoidCorsURLLoaderRestartOnRedirect", "TcpPortRandomizationWin",
    "OptimizationHints", "NetworkTimeServiceQuerying", "AimEnabled", "PreconnectToSearch",
    "msForceBrowserSignIn", "msEdgeUpdateLaunchServicesPreferredVersion",
]  # fmt: skip
# Chromium 156 preloads the address bar's drop-down (a WebUI page, one renderer of 50 MB each)
# for every window, and headless makes a window per browser context: 5 contexts, 250 MB.
_OUR_DISABLED_FEATURES = [
    "WebUIOmniboxPopup", "WebUIOmniboxAimPopup", "WebUIOmniboxFullPopup", "PreloadTopChromeWebUI",
]  # fmt: skip

_PLAYWRIGHT_ENABLED_FEATURES = ["CDPScreenshotNewSurface", "SkipListAccountsWithoutGaiaCookies"]
_OUR_ENABLED_FEATURES = ["NetworkServiceInProcess2"]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--in-process-gpu",  # no GPU here: its process only composited in software (60 MB)
    # and without SwiftShader (software GL) for that: the browser composites in plain software;
    # 96 MB for the browser process instead of 111 (means over 250 vehicles, 3 runs of each)
    "--disable-software-rasterizer",
    "--disable-dev-shm-usage",
    # Chromium keeps calling Google's services without these; this network refuses them.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-features=" + ",".join(_PLAYWRIGHT_DISABLED_FEATURES + _OUR_DISABLED_FEATURES),
    "--enable-features=" + ",".join(_PLAYWRIGHT_ENABLED_FEATURES + _OUR_ENABLED_FEATURES),
]


class SharedComponentsAddon:
    """What every spider runs, beside its own components: the one throttle and the one database
    writer. Added here rather than listed in the project's dicts, so that neither a spider's
    dict nor a user's `-s DOWNLOADER_MIDDLEWARES=...` drops them unless it says None."""

    def update_settings(self, settings: BaseSettings) -> None:
        # 560: its process_response runs before Retry's (550), so 429s are the throttle's
        add_components(
            settings,
            "DOWNLOADER_MIDDLEWARES",
            {"crawler.middlewares.throttle.ThrottleMiddleware": 560},
            shared=True,
        )
        add_components(
            settings,
            "ITEM_PIPELINES",
            {"crawler.pipelines.database.DatabaseWriterPipeline": 800},
            shared=True,
        )


class ConcurrencyAddon:
    """For a spider that talks to one site (CONCURRENCY_ONE_SITE): `-s CONCURRENT_REQUESTS=16`
    means 16 at once against that site too, evenly spread.

    Scrapy caps each domain at CONCURRENT_REQUESTS_PER_DOMAIN (default 8), and a crawl of one API
    host would have its CONCURRENT_REQUESTS silently halved. Unless the user set the per-domain
    cap, it follows CONCURRENT_REQUESTS there. The throttle's target follows the per-domain cap
    for every spider.
    """

    def update_settings(self, settings: BaseSettings) -> None:
        total = settings.getint("CONCURRENT_REQUESTS")
        per_domain = "CONCURRENT_REQUESTS_PER_DOMAIN"
        priority = settings.getpriority("CONCURRENT_REQUESTS") or 0
        one_site = settings.getbool("CONCURRENCY_ONE_SITE")
        if one_site and (settings.getpriority(per_domain) or 0) < priority:
            settings.set(per_domain, total, priority=priority)
        # The throttle spaces request starts by latency / target: with the target above the
        # concurrency the spacing never limits throughput, but it spreads the requests over the
        # latency instead of sending them in bursts of CONCURRENT_REQUESTS that come back
        # together and queue behind each other (+1.5% of the limit at 200 ms, bench/pins.py).
        target = "THROTTLE_TARGET_CONCURRENCY"
        if (settings.getpriority(target) or 0) < priority:
            per = settings.getint(per_domain)
            settings.set(target, per * settings.getfloat("THROTTLE_HEADROOM", 1.25), priority=priority)


class HTTPClientAddon:
    """HTTP_CLIENT=asyncio (default): plain downloads through crawler/handlers/http.py, which
    costs about 30% of Scrapy's Twisted client in CPU per request; `twisted` keeps Scrapy's own."""

    def update_settings(self, settings: BaseSettings) -> None:
        client = http_client(settings)
        if _HTTP_HANDLERS[client]:
            handlers = {"http": _HTTP_HANDLERS[client], "https": _HTTP_HANDLERS[client]}
            settings.set("DOWNLOAD_HANDLERS", handlers, priority="addon")


def http_client(settings: BaseSettings) -> str:
    client = settings.get("HTTP_CLIENT") or "asyncio"
    if client not in _HTTP_HANDLERS:
        raise ValueError(f"HTTP_CLIENT {client!r} is not one of: {', '.join(_HTTP_HANDLERS)}")
    return client


class BrowserAddon:
    """BROWSER_ENABLED (the spiders that need it switch it on): scrapy-playwright with the
    system's Chromium, headless unless HEADLESS=false, images/stylesheets/fonts/media blocked.
    Requests use the browser only when they carry `meta["playwright"] = True`."""

    def __init__(self, crawler: Any = None) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> BrowserAddon:
        return cls(crawler)

    def update_settings(self, settings: BaseSettings) -> None:
        if not settings.getbool("BROWSER_ENABLED"):
            return
        handlers = {"http": _PLAYWRIGHT_HANDLER, "https": _PLAYWRIGHT_HANDLER}
        settings.set("DOWNLOAD_HANDLERS", handlers, priority="addon")
        headless = _env_bool("HEADLESS", settings.getbool("HEADLESS", True))
        executable = settings.get("BROWSER_EXECUTABLE") or _find_chromium(headless)
        options: dict[str, object] = {"headless": headless, "args": list(CHROMIUM_ARGS)}
        if executable:
            options["executable_path"] = executable
        settings.set("PLAYWRIGHT_LAUNCH_OPTIONS", options, priority="addon")
        # Playwright's driver is a Node.js process started with this environment. Left alone
        # its heap grew to 250 MB in 500 vehicles (bench/jdpower_long.py), garbage it had not
        # yet collected: with these limits it stays at 130-140 MB and the run is as fast.
        # A NODE_OPTIONS of the user's keeps its options and gets these added (unless it sets
        # them itself): replaced by it, they were lost and the driver grew again.
        heap = settings.getint("BROWSER_DRIVER_HEAP_MB", 128)
        os.environ["NODE_OPTIONS"] = _with_node_options(
            os.environ.get("NODE_OPTIONS", ""), ["--max-semi-space-size=1", f"--max-old-space-size={heap}"]
        )
        # Node.js keeps the driver's compiled code here between runs: it starts in 0.20 s
        # instead of 0.28 (a place it cannot write to is ignored, silently)
        os.environ.setdefault("NODE_COMPILE_CACHE", str(_cache_dir() / "node-compile-cache"))
        settings.set("PLAYWRIGHT_BROWSER_TYPE", "chromium", priority="addon")
        settings.set("PLAYWRIGHT_ABORT_REQUEST", "crawler.browser.abort_heavy_request", priority="addon")
        settings.set(
            "PLAYWRIGHT_PROCESS_REQUEST_HEADERS", "crawler.browser.request_headers", priority="addon"
        )
        own_provider = not settings.get("PLAYWRIGHT_BROWSER_PROVIDER")
        if settings.getbool("BROWSER_EARLY_DRIVER", True) and own_provider and self.crawler is not None:
            # Playwright's driver loads while the crawler is still being built (crawler/driver.py)
            from crawler import driver

            driver.start_early(self.crawler)


class SandboxAddon:
    """SANDBOX_URL=http://127.0.0.1:PORT: every download (browser pages included) goes to the
    sandbox; everything else keeps the real URLs. See crawler.handlers.sandbox."""

    def update_settings(self, settings: BaseSettings) -> None:
        if not settings.get("SANDBOX_URL"):
            return
        browser = settings.getbool("BROWSER_ENABLED")
        handler = _SANDBOX_PLAYWRIGHT_HANDLER if browser else _SANDBOX_HTTP_HANDLERS[http_client(settings)]
        settings.set("DOWNLOAD_HANDLERS", {"http": handler, "https": handler}, priority="addon")


def _find_chromium(headless: bool = True) -> str | None:
    """The system's Chromium. Headless, its old headless shell when installed (Debian's
    chromium-headless-shell, which `make setup` installs): no windows, no browser UI, so
    about 300 MB less than the full browser's headless mode for five contexts."""
    names = ["chromium", "chromium-browser", "google-chrome"]
    if headless:
        names.insert(0, "chromium-headless-shell")
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def _with_node_options(current: str, ours: list[str]) -> str:
    """NODE_OPTIONS `current` with each of `ours` (--name=value) added unless it names it."""
    named = {option.split("=", 1)[0] for option in current.split()}
    added = [option for option in ours if option.split("=", 1)[0] not in named]
    return " ".join([*current.split(), *added])


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "crawler"


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() not in ("0", "false", "no", "off", "")

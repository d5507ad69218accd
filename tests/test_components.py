"""What each spider really runs: the components every spider shares (crawler/settings.py), plus
its own (its update_settings), and nothing of another spider's. Built as Scrapy builds them,
so a component that switches itself off (NotConfigured) is not listed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import scrapy
from scrapy.core.downloader.middleware import DownloaderMiddlewareManager
from scrapy.core.spidermw import SpiderMiddlewareManager
from scrapy.crawler import Crawler
from scrapy.pipelines import ItemPipelineManager
from scrapy.settings import Settings

from crawler.spiders.jdpower import JDPowerSpider
from crawler.spiders.links import LinksSpider
from crawler.spiders.pins import PinsSpider
from crawler.spiders.pins_search import PinsSearchSpider


class NewSpider(scrapy.Spider):
    """A spider added tomorrow, with nothing of its own yet."""

    name = "new"


# Scrapy's defaults every spider keeps unless it switches them off
SCRAPY_DOWNLOADER = ["DownloadTimeoutMiddleware", "DefaultHeadersMiddleware", "UserAgentMiddleware"]
SCRAPY_AFTER = ["HttpCompressionMiddleware", "RedirectMiddleware", "CookiesMiddleware", "HttpProxyMiddleware"]
ALL_SPIDER_MIDDLEWARES = [
    "StartSpiderMiddleware",
    "HttpErrorMiddleware",
    "RefererMiddleware",
    "UrlLengthMiddleware",
    "DepthMiddleware",
    "MetaCopyDetectionMiddleware",
]
PINTEREST = {
    "downloader": [
        *SCRAPY_DOWNLOADER,
        "PinterestSessionMiddleware",
        "RetryMiddleware",
        "ThrottleMiddleware",
        *SCRAPY_AFTER,
        "DownloaderStats",
    ],
    "spider": ["StartSpiderMiddleware", "HttpErrorMiddleware"],
    "handler": "crawler.handlers.browser.BrowserDownloadHandler",
    "per_domain": 16,
}
# the shared parts only: the writer, the throttle, the plain HTTP client
SHARED_ONLY: dict[str, Any] = {
    "downloader": [
        "OffsiteMiddleware",
        "HttpAuthMiddleware",
        *SCRAPY_DOWNLOADER,
        "RetryMiddleware",
        "ThrottleMiddleware",
        "MetaRefreshMiddleware",
        *SCRAPY_AFTER,
        "DownloaderStats",
    ],
    "spider": ALL_SPIDER_MIDDLEWARES,
    "pipelines": ["DatabaseWriterPipeline"],
    "handler": "crawler.handlers.http.AsyncioHTTPDownloadHandler",
    "per_domain": 8,  # Scrapy's: a spider of many sites has no one-site rule
}

EXPECTED: dict[type[scrapy.Spider], dict[str, Any]] = {
    PinsSpider: {**PINTEREST, "pipelines": ["PinImagesPipeline", "DatabaseWriterPipeline"]},
    PinsSearchSpider: {**PINTEREST, "pipelines": ["DatabaseWriterPipeline"]},
    JDPowerSpider: {
        "downloader": [
            "OffsiteMiddleware",
            "HttpAuthMiddleware",
            *SCRAPY_DOWNLOADER,
            "PagePoolMiddleware",
            "JDPowerSessionMiddleware",
            "RetryMiddleware",
            "MetaRefreshMiddleware",
            *SCRAPY_AFTER,
            "DownloaderStats",
        ],
        "spider": ALL_SPIDER_MIDDLEWARES,
        "pipelines": [],
        "handler": "crawler.handlers.browser.BrowserDownloadHandler",
        "per_domain": 12,  # two pages per context for its 5 contexts, and two more
    },
    NewSpider: SHARED_ONLY,
    # the shared parts, and the address guard on every request and redirect hop
    LinksSpider: {**SHARED_ONLY, "downloader": ["PublicAddressesOnly", *SHARED_ONLY["downloader"]]},
}


def _crawler(spidercls: type[scrapy.Spider], tmp_path: Path, **command_line: Any) -> Crawler:
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    # what a user would give with -s: nothing here changes which components run
    quiet = {"FILES_STORE": str(tmp_path / "images"), "BROWSER_EARLY_DRIVER": False}
    settings.update({**quiet, **command_line}, priority="cmdline")
    crawler = Crawler(spidercls, settings)
    crawler._apply_settings()  # what Scrapy does before it builds the engine (and get_crawler does)
    return crawler


def _names(manager: Any) -> list[str]:
    return [type(component).__name__ for component in manager.middlewares]


@pytest.mark.parametrize("spidercls", list(EXPECTED), ids=[cls.name for cls in EXPECTED])
def test_each_spider_runs_the_shared_components_and_its_own_only(spidercls, tmp_path: Path) -> None:
    crawler = _crawler(spidercls, tmp_path)
    expected = EXPECTED[spidercls]
    assert _names(DownloaderMiddlewareManager.from_crawler(crawler)) == expected["downloader"]
    assert _names(SpiderMiddlewareManager.from_crawler(crawler)) == expected["spider"]
    assert _names(ItemPipelineManager.from_crawler(crawler)) == expected["pipelines"]
    assert crawler.settings.getwithbase("DOWNLOAD_HANDLERS")["http"] == expected["handler"]
    assert crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN") == expected["per_domain"]


def test_a_users_own_middlewares_on_the_command_line_join_the_spiders(tmp_path: Path) -> None:
    mine = {"scrapy.downloadermiddlewares.stats.DownloaderStats": None}  # e.g. to save its CPU
    crawler = _crawler(PinsSpider, tmp_path, DOWNLOADER_MIDDLEWARES=mine)
    names = _names(DownloaderMiddlewareManager.from_crawler(crawler))
    assert "PinterestSessionMiddleware" in names and "ThrottleMiddleware" in names
    assert "DownloaderStats" not in names

"""The crawler project: spiders, parsers, middlewares, pipelines, the database."""

import os

# Scrapy's CookiesMiddleware asks tldextract for public suffixes, and tldextract downloads the
# list from publicsuffix.org on first use in every fresh cache: an outside call at every start of a
# new machine, container or Scrapyd egg, and a 60-line traceback in the log where it cannot go out.
# The list bundled with tldextract is used instead; name URLs in this variable to fetch it again.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

# Scrapy's TLS modules call inspect.stack() three times as they are imported (for the aliases
# of deprecated classes), and that walks every frame of the stack, reading their sources:
# scrapy-playwright imports them from deep inside the crawler's start, where it took 89 ms of
# every crawl's start-up. Imported here, near the top of the stack, it takes 39 ms: "Spider
# opened" came 17 ms sooner (medians of 12 runs taken in turn; 46 ms in the means).
import scrapy.core.downloader.contextfactory  # noqa: F401

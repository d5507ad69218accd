"""The crawler project: spiders, parsers, middlewares, pipelines, the database."""

import os

# Scrapy's CookiesMiddleware asks tldextract for public suffixes, and tldextract downloads the
# list from publicsuffix.org on first use in every fresh cache: an outside call at every start of a
# new machine, container or Scrapyd egg, and a 60-line traceback in the log where it cannot go out.
# The list bundled with tldextract is used instead; name URLs in this variable to fetch it again.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

"""Pure functions from recorded bytes/str/dict to items. No Scrapy, no network."""


class MalformedResponse(ValueError):
    """A response whose body is not what the site sends (truncated, not JSON, missing fields)."""

"""Local stand-ins for the sites this project scrapes.

One aiohttp process serves every emulated site. Requests are routed by the host they were meant
for: the ``X-Forwarded-Host`` header that the crawler's sandbox download handler adds (or the
``Host`` header), so ``https://www.pinterest.com/resource/...`` and ``https://i.pinimg.com/...``
both land here while the crawler keeps the real URLs. Everything is generated deterministically
from ids and ``--seed``; the knobs (latency, rate limit, errors...) make it fight back like the
real sites do. ``GET /_sandbox/stats`` tells what was served.
"""

"""Browser policies shared by every spider that opens pages."""

from __future__ import annotations

from typing import Any

BLOCKED_RESOURCE_TYPES = frozenset({"image", "stylesheet", "font", "media"})


def abort_heavy_request(playwright_request: Any) -> bool:
    """PLAYWRIGHT_ABORT_REQUEST: pages need their HTML and scripts, not their pictures."""
    return playwright_request.resource_type in BLOCKED_RESOURCE_TYPES

"""Components added to a component dict (DOWNLOADER_MIDDLEWARES, ITEM_PIPELINES...) without
dropping what is there.

Scrapy's `custom_settings`, like a user's `-s DOWNLOADER_MIDDLEWARES=...`, replaces the whole dict:
that is how `jdpower` once lost the throttle without anyone deciding it. So each spider adds its
own components from `update_settings`, and SharedComponentsAddon (crawler/addons.py) adds what
every spider runs, both through `add_components`: a user's dict on the command line then joins
them, its own entries winning, and switching one off takes an explicit None.
"""

from __future__ import annotations

from typing import Any

from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings


def add_components(
    settings: BaseSettings, name: str, components: dict[str, Any], *, shared: bool = False
) -> None:
    """`components` (path -> order, or None to switch one off) added to the dict setting `name`.
    A spider's (the default) win over the project's entries; the shared ones (`shared`) never
    overrule an entry already there, a spider's None included; a user's command line wins over
    both."""
    current = settings.getdict(name)
    priority = settings.getpriority(name) or 0
    spider = SETTINGS_PRIORITIES["spider"]
    existing_win = shared or priority > spider
    merged = {**components, **current} if existing_win else {**current, **components}
    settings.set(name, merged, priority=max(priority, spider))

"""Pin images through Scrapy's FilesPipeline: the original file, as Pinterest serves it.

FilesPipeline (not ImagesPipeline, which re-encodes to JPEG and would change the original)
brings what a crawl needs: downloads through the engine (same throttle, retries, sandbox), a
store, and a stat of the file first, so an image already on disk is not fetched again. What
this adds: the path `<keyword>/<pin id>.<ext>` under FILES_STORE (the keyword made safe, the
extension from an allow-list: nothing a server says can move a file outside the folder), and
the fallback from `originals/` to `736x/` when the original is refused.
"""

from __future__ import annotations

import asyncio
import re
from io import BytesIO
from os import PathLike
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.pipelines.files import FilesPipeline, FSFilesStore
from scrapy.utils.defer import ensure_awaitable
from scrapy.utils.httpobj import urlparse_cached

from crawler.items import PinImage
from crawler.storage import PART, DiskFull, stop_for_full_disk, write_whole

if TYPE_CHECKING:
    from scrapy.http import Response
    from scrapy.pipelines.media import MediaPipeline

_EXTENSIONS = {".jpg", ".jpeg", ".png", ".gif", ".webp"}
# what file_downloaded gives FilesPipeline for a file the disk had no room for: an exception
# there is logged with its traceback for every image; item_completed records nothing for it
_NOT_STORED = "not stored: disk full"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_folder(keyword: str | None) -> str:
    """A keyword as one path component: letters, digits, `._-`; never empty, `.` or `..`."""
    name = _UNSAFE.sub("_", keyword or "").strip("._")[:100]
    return name or "_unsorted"


class AtomicFSFilesStore(FSFilesStore):
    """Scrapy's file store, made safe against a kill at any moment, and off the reactor thread.

    Scrapy's FSFilesStore opens the final path and writes into it: a kill -9 in between leaves
    an empty or cut file under the real name, which the next run finds on disk, takes as done
    and records (bench/crash.py: an empty image recorded after one of three kills). Here the bytes go
    to `<name>.part` first and are renamed into place (crawler/storage.py), so a file under its
    real name is always whole; leftover `.part` files are removed when their folder is first
    used. The write runs in a thread, so a slow disk does not stall the crawl. An empty file
    counts as missing.
    """

    def persist_file(
        self,
        path: str | PathLike[str],
        buf: BytesIO,
        info: MediaPipeline.SpiderInfo,
        meta: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        final = self._get_filesystem_path(path)
        folder = str(final.parent)
        if folder not in self.created_directories[info]:
            self._mkdir(final.parent, info)
            for stale in final.parent.glob(f"*{PART}"):
                stale.unlink(missing_ok=True)
        return asyncio.to_thread(write_whole, final, buf.getvalue())

    def stat_file(self, path: str | PathLike[str], info: MediaPipeline.SpiderInfo) -> Any:
        try:
            if self._get_filesystem_path(path).stat().st_size == 0:
                return {}
        except OSError:
            return {}
        return super().stat_file(path, info)


class PinImagesPipeline(FilesPipeline):
    MEDIA_NAME = "image"
    STORE_SCHEMES = {**FilesPipeline.STORE_SCHEMES, "": AtomicFSFilesStore, "file": AtomicFSFilesStore}
    disk_full = False  # once a file did not fit, no fallback copy is tried either

    def get_media_requests(self, item: Any, info: MediaPipeline.SpiderInfo) -> list[Request]:
        if not isinstance(item, PinImage):
            return []
        url = item.fallback_url if item.using_fallback and item.fallback_url else item.url
        return [Request(url, meta={"pin_image_has_fallback": bool(item.fallback_url) and url == item.url})]

    async def process_item(self, item: Any, spider: Any = None) -> Any:
        if not isinstance(item, PinImage):
            return item
        item = await super().process_item(item)
        if item.path is None and item.fallback_url and not self.disk_full:
            self.crawler.stats.inc_value("images/fallback_736x")
            item.using_fallback = True  # per item: several are in flight at once
            item = await super().process_item(item)
        if item.path is None:
            self.crawler.stats.inc_value("images/failed")
        return item

    async def media_downloaded(
        self, response: Response, request: Request, info: MediaPipeline.SpiderInfo, *, item: Any = None
    ) -> Any:
        if response.status != 200 and request.meta.get("pin_image_has_fallback"):
            # expected for some originals: the 736x copy follows. IgnoreRequest is the media
            # pipeline's quiet failure (logged at debug), unlike an error with its traceback.
            self.crawler.stats.inc_value(f"images/original_refused/{response.status}")
            raise IgnoreRequest(f"original refused with HTTP {response.status}; trying 736x")
        return await super().media_downloaded(response, request, info, item=item)

    async def file_downloaded(
        self, response: Response, request: Request, info: MediaPipeline.SpiderInfo, *, item: Any = None
    ) -> str:
        try:
            return await ensure_awaitable(super().file_downloaded(response, request, info, item=item))
        except DiskFull as exc:
            self.disk_full = True
            stop_for_full_disk(self.crawler, exc, self.store_uri_text, "FILES_STORE")
            self.crawler.stats.inc_value("images/disk_full")
            return _NOT_STORED

    def item_completed(self, results: list[Any], item: Any, info: MediaPipeline.SpiderInfo) -> Any:
        for ok, result in results:
            if ok and result["checksum"] != _NOT_STORED:
                item.path = str(PurePosixPath(self.store_uri_text) / result["path"])
                self.crawler.stats.inc_value("images/saved")
        return item

    def file_path(
        self,
        request: Request,
        response: Response | None = None,
        info: MediaPipeline.SpiderInfo | None = None,
        *,
        item: Any = None,
    ) -> str:
        ext = PurePosixPath(urlparse_cached(request).path).suffix.lower()
        if ext not in _EXTENSIONS:
            ext = ".jpg"
        folder = safe_folder(item.keyword if isinstance(item, PinImage) else None)
        pin_id = item.id if isinstance(item, PinImage) and item.id.isdigit() else "unknown"
        return f"{folder}/{pin_id}{ext}"

    @property
    def store_uri_text(self) -> str:
        return str(self.crawler.settings.get("FILES_STORE")).rstrip("/")

"""The links spider's handling of a step, without a crawl: an answer no flow foresaw fails its
task and frees its worker instead of holding it for the rest of the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scrapy.http import HtmlResponse, Request
from scrapy.utils.test import get_crawler

from crawler.items import TaskEnd
from crawler.sites import Answer, Fetch, Link, Step
from crawler.spiders.links import LinksSpider, Task
from crawler.tasklog import TaskLog


class _Pool:
    def __init__(self) -> None:
        self.freed: list[int] = []

    def free(self, slot: int) -> None:
        self.freed.append(slot)


class _BuggyFlow:
    def start(self, link: Link, url: str, state: dict[str, Any]) -> Fetch:
        return Fetch(url)

    def step(self, answer: Answer, state: dict[str, Any]) -> Step:
        return Step(next=None, result=state["missing"])  # a KeyError


def test_an_unforeseen_error_fails_the_task_and_frees_its_worker(tmp_path: Path) -> None:
    batch = tmp_path / "b.txt"
    batch.write_text("https://example.com/a\n")
    crawler = get_crawler(LinksSpider)
    spider = LinksSpider.from_crawler(crawler, batch=str(batch))
    spider.pool = _Pool()  # type: ignore[assignment]
    spider.tasklog = TaskLog(crawler.stats, workers=2)
    task = Task("a", "article", "https://example.com/a", Link("article"), 1, _BuggyFlow())
    spider.tasklog.started("a", "article", 1)
    request = Request(task.url, meta={"task": task, "note": {}})
    response = HtmlResponse(task.url, body=b"<html></html>", request=request)
    (end,) = list(spider.parse_answer(response))
    assert isinstance(end, TaskEnd) and end.state == "failed"
    assert end.error == "internal error: KeyError: 'missing' (https://example.com/a)"
    assert spider.pool.freed == [1]  # type: ignore[attr-defined]

"""`scrapy crawl`, plus argument checks before anything starts.

Scrapy builds the spider inside the running reactor, so a bad `-a` argument surfaces as a
traceback in the log. Spiders that define `check_arguments(**kwargs)` get it called first here,
and a wrong argument ends the run with one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from scrapy.commands.crawl import Command as ScrapyCrawlCommand

from crawler.params import ArgumentError

if TYPE_CHECKING:
    import argparse


class Command(ScrapyCrawlCommand):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) == 1 and self.crawler_process is not None:
            try:
                spidercls = self.crawler_process.spider_loader.load(args[0])
            except KeyError:
                spidercls = None  # Scrapy's own message follows
            check = getattr(spidercls, "check_arguments", None)
            if check is not None:
                try:
                    check(**opts.spargs)
                except ArgumentError as exc:
                    print(f"error: {args[0]}: {exc}", file=sys.stderr)
                    self.exitcode = 2
                    return
        super().run(args, opts)

"""crawler/extensions/log_level.py: no LogRecord is built for a line no handler prints."""

from __future__ import annotations

import logging

from crawler.extensions.log_level import LogLevel


def test_scrapys_debug_lines_are_not_built_when_the_handlers_print_info_and_up():
    root, scrapy_logger = logging.getLogger(), logging.getLogger("scrapy")
    handler = logging.StreamHandler()
    handler.setLevel(logging.INFO)
    saved = root.level, scrapy_logger.level, root.handlers[:]
    root.handlers[:] = [handler]
    root.setLevel(logging.NOTSET)
    scrapy_logger.setLevel(logging.DEBUG)  # as Scrapy's configure_logging leaves them
    ext = LogLevel()
    try:
        ext.engine_started()
        engine = logging.getLogger("scrapy.core.engine")
        assert not engine.isEnabledFor(logging.DEBUG)
        assert engine.isEnabledFor(logging.INFO)
        assert not logging.getLogger("crawler.spiders.pins").isEnabledFor(logging.DEBUG)
        ext.engine_stopped()
        assert (root.level, scrapy_logger.level) == (logging.NOTSET, logging.DEBUG)

        handler.setLevel(logging.DEBUG)  # LOG_LEVEL=DEBUG: everything stays
        ext.engine_started()
        assert logging.getLogger("scrapy.core.engine").isEnabledFor(logging.DEBUG)
        ext.engine_stopped()
    finally:
        root.handlers[:] = saved[2]
        root.setLevel(saved[0])
        scrapy_logger.setLevel(saved[1])

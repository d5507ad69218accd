"""The login's waits between tries (the login itself is tested against the sandbox, in
tests/spiders/test_jdpower.py)."""

from crawler.middlewares.jdpower_session import _login_backoff


def test_login_waits_what_the_site_asks_for_up_to_a_minute() -> None:
    assert _login_backoff(1, 7.0) == 7.0
    assert _login_backoff(3, 3600.0) == 60.0


def test_login_waits_longer_after_each_failed_try() -> None:
    waits = [_login_backoff(attempt, None) for attempt in range(1, 5)]
    assert waits == sorted(waits) and len(set(waits)) == 4
    assert waits[0] <= 1.0  # every context waits for the login: a passing 500 costs little
    assert sum(waits) <= 10.0

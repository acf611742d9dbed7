import random
from datetime import UTC, datetime

import pytest

from payments.domain.delivery_policy import (
    Verdict,
    is_quickly_retryable,
    judge,
    max_attempts,
    parse_retry_after,
    retry_delay,
)

SCHEDULE = (5, 300, 1800)


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (299, Verdict.DELIVERED),
        (410, Verdict.GONE),
        (None, Verdict.RETRY),
        (301, Verdict.RETRY),
        (400, Verdict.RETRY),
        (404, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
    ],
)
def test_judge(code, verdict):
    assert judge(code) is verdict


@pytest.mark.parametrize(("code", "quick"), [(None, True), (429, True), (500, True), (502, True)])
def test_quick_retries_for_transient_failures(code, quick):
    assert is_quickly_retryable(code) is quick


@pytest.mark.parametrize("code", [200, 400, 404, 410, 301])
def test_no_quick_retry_for_answers_that_will_not_change(code):
    assert not is_quickly_retryable(code)


def test_attempts_are_the_first_plus_one_per_step():
    assert max_attempts(SCHEDULE) == 4
    assert max_attempts(()) == 1


@pytest.mark.parametrize(("attempts", "step"), [(1, 5), (2, 300), (3, 1800)])
def test_delay_follows_the_schedule_within_ten_percent(attempts, step):
    rng = random.Random(7)
    delays = [retry_delay(SCHEDULE, attempts, rng=rng) for _ in range(200)]
    assert all(step * 0.9 <= d <= step * 1.1 for d in delays)
    # Jitter really spreads the retries (not one fixed value).
    assert max(delays) - min(delays) > step * 0.1


@pytest.mark.parametrize("attempts", [0, 4, 5, 100])
def test_no_delay_once_the_schedule_is_used_up(attempts):
    assert retry_delay(SCHEDULE, attempts) is None


def test_longer_retry_after_wins_shorter_does_not():
    assert retry_delay(SCHEDULE, 1, retry_after=120) == 120
    assert 4.5 <= retry_delay(SCHEDULE, 1, retry_after=1) <= 5.5


def test_retry_after_is_capped_at_a_day():
    assert retry_delay(SCHEDULE, 1, retry_after=10**9) == 86400


def test_zero_step_stays_zero():
    assert retry_delay((0, 1), 1) == 0


NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Thu, 01 Jan 2026 12:01:30 GMT", 90.0),
        ("Thu, 01 Jan 2026 11:00:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
    ],
)
def test_parse_retry_after(header, seconds):
    assert parse_retry_after(header, NOW) == seconds

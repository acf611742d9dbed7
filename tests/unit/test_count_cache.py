"""count_cache in-process (no REDIS_URL): fresh, stale-while-recounting, expiry."""

import pytest

from payments.extensions import redis_store
from payments.services import count_cache


@pytest.fixture(autouse=True)
def in_process(monkeypatch):
    monkeypatch.setattr(redis_store, "client", None)
    monkeypatch.setattr(count_cache, "_local", {})
    monkeypatch.setattr(count_cache, "_local_refreshing", {})


def counter(*totals):
    calls = []

    def count():
        calls.append(1)
        return totals[len(calls) - 1]

    return count, calls


def test_fresh_total_is_not_recounted():
    count, calls = counter(5, 6)
    assert count_cache.cached_count("k", count) == 5
    assert count_cache.cached_count("k", count) == 5
    assert len(calls) == 1


def test_stale_total_is_recounted_by_one_caller_while_others_get_the_old_one(monkeypatch):
    count, calls = counter(5, 6)
    count_cache.cached_count("k", count)
    monkeypatch.setattr(count_cache, "FRESH_SECONDS", 0)
    assert count_cache._claim_refresh("k")  # another caller is recounting
    assert count_cache.cached_count("k", count) == 5
    count_cache._local_refreshing.clear()
    assert count_cache.cached_count("k", count) == 6
    assert len(calls) == 2


def test_entries_past_their_keep_time_are_gone(monkeypatch):
    count, _calls = counter(5, 7)
    count_cache.cached_count("k", count)
    monkeypatch.setattr(count_cache, "KEEP_SECONDS", 0)
    assert count_cache.cached_count("k", count) == 7

"""Fixtures of the fault-injection suite: one production stack per test module.

A module changes the stack by overriding `stack_options` (module scope), e.g. to reach
PostgreSQL through a proxy it can cut, or to run two schedulers.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.helpers import OrderIds
from tests.support.service_client import ServiceClient
from tests.support.stack import Stack, StackOptions


@pytest.fixture(scope="module")
def stack_options() -> StackOptions:
    return StackOptions()


@pytest.fixture(scope="module")
def stack(stack_options, tmp_path_factory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("stack"), stack_options)
    try:
        running.start()
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def service(stack) -> ServiceClient:
    return ServiceClient(stack.base_url, stack.credentials, stack.webhook_secret)


@pytest.fixture(scope="module")
def orders() -> OrderIds:
    return OrderIds()


@pytest.fixture(autouse=True)
def _fakes_back_to_normal(request) -> Iterator[None]:
    """A test that switched the provider or merchant into a fault leaves them answering."""
    yield
    if "stack" in request.fixturenames:
        stack = request.getfixturevalue("stack")
        stack.provider.set_mode("ok")
        stack.provider.latency = 0.0
        stack.provider.fail_orders = set()
        stack.merchant.set_mode("ok")
        for proxy in stack.proxies.values():
            proxy.restore()

"""Fixtures shared by the integration tests of payment creation."""

import pytest

from tests.support.fake_provider import FakeProvider, point_provider_at


@pytest.fixture(scope="module")
def provider_server():
    """A real provider on loopback, shared by a module; each test resets its behaviour."""
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def provider(app, demo, provider_server):
    """The demo providers pointed at the loopback provider, in its default (accepting) mode."""
    point_provider_at(app, provider_server.url)
    return provider_server.reset()

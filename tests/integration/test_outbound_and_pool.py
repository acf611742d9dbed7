"""Work that used to cost something on every request and now does not: outbound calls read
the proxy settings from the environment once per destination and share pooled connections
(payments/outbound.py), and a pooled database connection is pinged only after sitting idle
(payments/database.py)."""

from __future__ import annotations

import base64

import psycopg2
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from payments import database
from payments.database import engine_options
from payments.outbound import pool_for, proxies_for, proxy_url_for
from payments.providers import LinkRequest, request_payment_link
from payments.services.delivery import post_notification
from tests.support.http_server import LoopbackServer, Reply

_PROXY_VARIABLES = (
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
)


@pytest.fixture
def proxy_environment(monkeypatch):
    for name in (*_PROXY_VARIABLES, "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    proxies_for.cache_clear()
    proxy_url_for.cache_clear()
    yield monkeypatch
    proxies_for.cache_clear()
    proxy_url_for.cache_clear()


def _link_via(name: str) -> Reply:
    return Reply(201, {"payment_url": f"https://pay.example.test/{name}"})


def _ask_for_link(base_url: str) -> str:
    link = request_payment_link(
        base_url,
        LinkRequest(1, 1, "stripe", 7, "1.00", "1.00", "USD"),
        budget_seconds=5,
        request_id=None,
    )
    return link.payment_url


def test_provider_calls_go_through_the_environment_proxy(proxy_environment):
    with LoopbackServer(lambda request: _link_via("proxy")) as proxy:
        proxy_environment.setenv("HTTP_PROXY", proxy.url)
        proxy_environment.setenv("http_proxy", proxy.url)
        base = "http://provider.example.invalid"
        assert _ask_for_link(base) == "https://pay.example.test/proxy"
    assert [request.path for request in proxy.received()] == [f"{base}/payment-links"]


def test_no_proxy_destinations_are_called_directly(proxy_environment):
    with (
        LoopbackServer(lambda request: _link_via("proxy")) as proxy,
        LoopbackServer(lambda request: _link_via("direct")) as target,
    ):
        for name in ("HTTP_PROXY", "http_proxy"):
            proxy_environment.setenv(name, proxy.url)
        for name in ("NO_PROXY", "no_proxy"):
            proxy_environment.setenv(name, "127.0.0.1")
        assert _ask_for_link(target.url) == "https://pay.example.test/direct"
    assert proxy.received() == []


def test_one_pool_manager_per_process_and_proxy(proxy_environment):
    assert pool_for("http://127.0.0.1:1/a") is pool_for("https://provider.example.test/b")
    proxy_environment.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    proxy_environment.setenv("http_proxy", "http://127.0.0.1:3128")
    assert pool_for("http://merchant.example.test/") is not pool_for("https://127.0.0.1:1/")


def test_url_credentials_become_basic_auth():
    with LoopbackServer(lambda request: _link_via("auth")) as provider:
        base = provider.url.replace("http://", "http://shop:s%40cret@", 1)
        assert _ask_for_link(base) == "https://pay.example.test/auth"
    (received,) = provider.received()
    expected = base64.b64encode(b"shop:s@cret").decode()
    assert received.headers["authorization"] == f"Basic {expected}"


def test_merchant_deliveries_go_through_the_environment_proxy(proxy_environment):
    secret = "whsec_" + base64.b64encode(b"s" * 24).decode()
    with LoopbackServer(lambda request: Reply(204)) as proxy:
        proxy_environment.setenv("HTTP_PROXY", proxy.url)
        proxy_environment.setenv("http_proxy", proxy.url)
        url = "http://merchant.example.invalid/webhooks"
        result = post_notification(url, secret, "msg_proxy", {"a": 1}, None, timeout=5)
    assert result.status_code == 204
    assert [request.path for request in proxy.received()] == [url]
    assert proxy.received()[0].headers["webhook-id"] == "msg_proxy"


@pytest.fixture
def engine(database_url):
    url = database_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    engine = create_engine(url, **engine_options(url, pool_size=1))
    yield engine
    engine.dispose()


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(database_url: str, pid: int) -> None:
    admin = psycopg2.connect(database_url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
    admin.close()


def test_an_idle_connection_that_died_is_replaced_unnoticed(engine, database_url, monkeypatch):
    first = _backend_pid(engine)
    _terminate(database_url, first)  # as a database restart or an idle timeout would
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0.0)  # it has now "sat idle" long enough

    assert _backend_pid(engine) != first  # pinged on checkout, found dead, replaced: no error


def test_a_busy_connection_is_not_pinged_and_one_failure_resets_the_pool(engine, database_url):
    first = _backend_pid(engine)
    _terminate(database_url, first)

    # Checked in a moment ago: no ping, so the first statement meets the dead connection ...
    with pytest.raises(OperationalError) as failure:
        _backend_pid(engine)
    assert failure.value.connection_invalidated
    # ... and SQLAlchemy's disconnect handling gives the next request a fresh one.
    assert _backend_pid(engine) != first


@pytest.fixture
def probe_table(engine):
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE statement_probe (n integer)"))
    yield "statement_probe"
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE statement_probe"))


def _rows_seen_by_another_session(database_url: str) -> list[int]:
    other = psycopg2.connect(database_url)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT n FROM statement_probe ORDER BY n")
            return [row[0] for row in cursor.fetchall()]
    finally:
        other.close()


def test_statement_by_statement_commits_each_statement_as_it_completes(
    engine, database_url, probe_table
):
    with database.statement_by_statement(engine) as connection:
        connection.execute(text("INSERT INTO statement_probe VALUES (1)"))
        # No COMMIT yet, and still visible elsewhere: the statement was its own transaction.
        assert _rows_seen_by_another_session(database_url) == [1]
        assert connection.connection.dbapi_connection.autocommit is True

    # Back in the pool as an ordinary connection: a block that fails rolls back.
    with pytest.raises(DBAPIError):
        _insert_then_fail(engine.begin(), expect_autocommit=False)
    assert _rows_seen_by_another_session(database_url) == [1]


def _insert_then_fail(block, expect_autocommit: bool | None = None) -> None:
    with block as connection:
        if expect_autocommit is not None:
            assert connection.connection.dbapi_connection.autocommit is expect_autocommit
        connection.execute(text("INSERT INTO statement_probe VALUES (1)"))
        connection.execute(text("SELECT n FROM no_such_table"))


def test_statement_by_statement_restores_transactions_after_a_failed_statement(
    engine, database_url, probe_table
):
    with pytest.raises(DBAPIError):
        _insert_then_fail(database.statement_by_statement(engine))
    assert _rows_seen_by_another_session(database_url) == [1]  # the first statement stays
    with engine.connect() as connection:  # pool_size=1: the same connection again
        assert connection.connection.dbapi_connection.autocommit is False
        assert connection.execute(text("SELECT count(*) FROM statement_probe")).scalar() == 1


def test_statement_by_statement_is_one_transaction_on_sqlite(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'probe.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE statement_probe (n integer)"))
    with pytest.raises(DBAPIError):
        _insert_then_fail(database.statement_by_statement(engine))
    with database.statement_by_statement(engine) as connection:
        assert connection.execute(text("SELECT count(*) FROM statement_probe")).scalar() == 0
        connection.execute(text("INSERT INTO statement_probe VALUES (2)"))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT n FROM statement_probe")).scalars().all() == [2]
    engine.dispose()

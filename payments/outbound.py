"""Outbound HTTP, shared by the provider client and merchant deliveries: pooled urllib3
connections, and the proxy and trust store read from the environment once per process.

urllib3 directly rather than a requests session: a POST needs none of requests' session
machinery (cookies, hooks, redirects, settings merged from the environment on every call),
which was half the CPU of a call. What requests would take from the environment still applies,
read once: HTTP(S)_PROXY and NO_PROXY per destination (chosen by requests' own helpers), and
REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE or certifi's bundle; a change to them needs a restart.
Credentials in a URL (https://user:password@host/...) become HTTP Basic auth, as with requests.
"""

from __future__ import annotations

import os
from functools import lru_cache
from urllib.parse import unquote, urlsplit

import certifi
import urllib3
from requests.utils import get_environ_proxies, select_proxy

# Thread-safe pool managers, one per proxy (None: direct), each with a pool of kept-alive
# connections per host. block=False: a burst beyond `maxsize` opens extra connections instead
# of waiting for one. No retries or redirects of urllib3's own: callers decide.
_POOL_OPTIONS = {"num_pools": 64, "maxsize": 16, "block": False, "retries": False}
# Keyed by process too: a forked worker opens its own connections, never its parent's sockets.
_pools: dict[tuple[int, str | None], urllib3.PoolManager] = {}


def ca_bundle() -> str:
    """The trust store requests would use: REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, else certifi's."""
    return (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    )


def pool_for(url: str) -> urllib3.PoolManager:
    """The process's pool manager for `url`: through its proxy, or direct."""
    proxy = proxy_url_for(url)
    key = (os.getpid(), proxy)
    pool = _pools.get(key)
    if pool is None:
        if proxy is None:
            made = urllib3.PoolManager(ca_certs=ca_bundle(), **_POOL_OPTIONS)
        else:
            made = urllib3.ProxyManager(proxy, ca_certs=ca_bundle(), **_POOL_OPTIONS)
        pool = _pools.setdefault(key, made)  # atomic: concurrent first calls share one
    return pool


def with_url_credentials(url: str, headers: dict[str, str]) -> dict[str, str]:
    """`headers` plus HTTP Basic auth when the URL carries credentials (urllib3 would drop
    them silently)."""
    parts = urlsplit(url)
    if parts.username is None:
        return headers
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return {**headers, **urllib3.util.make_headers(basic_auth=credentials)}


def root_cause(exc: BaseException) -> str:
    """The type name of the innermost exception: what an error message may say of a failed
    call (never the URL, which may carry credentials)."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    return type(exc).__name__


@lru_cache(maxsize=512)
def proxies_for(url: str) -> dict[str, str]:
    """The proxies the environment sets for `url` (none when NO_PROXY covers it)."""
    return get_environ_proxies(url)


@lru_cache(maxsize=512)
def proxy_url_for(url: str) -> str | None:
    """The one proxy a request to `url` goes through, chosen as requests chooses it."""
    return select_proxy(url, proxies_for(url))

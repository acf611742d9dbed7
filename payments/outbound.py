"""Outbound HTTP settings read from the environment once per process: the provider client's
pooled `requests` session, and the proxy and trust store of merchant deliveries (urllib3).

With `trust_env` on (the default), requests looks up proxies, NO_PROXY and the CA bundle in the
environment on every call: about a tenth of a payment creation's CPU. The same settings are read
here once instead (HTTP(S)_PROXY and NO_PROXY per destination, REQUESTS_CA_BUNDLE or
CURL_CA_BUNDLE when the session is made), so deployments behind an egress proxy or with their
own CA work as they would with plain requests; a change to them needs a restart.
"""

from __future__ import annotations

import os
from functools import lru_cache

import certifi
import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies, select_proxy


def ca_bundle() -> str:
    """The trust store requests would use: REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, else certifi's."""
    return (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    )


def pooled_session(pool_maxsize: int) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_bundle()
    adapter = HTTPAdapter(pool_connections=8, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@lru_cache(maxsize=512)
def proxies_for(url: str) -> dict[str, str]:
    """The proxies the environment sets for `url` (none when NO_PROXY covers it)."""
    return get_environ_proxies(url)


@lru_cache(maxsize=512)
def proxy_url_for(url: str) -> str | None:
    """The one proxy a request to `url` goes through, chosen as requests chooses it."""
    return select_proxy(url, proxies_for(url))

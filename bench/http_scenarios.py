"""The HTTP scenarios at a fixed concurrency: the baseline (framework floor), payment creation,
and the reads (show, list first page, list deep page) as the merchant's data grows."""

from __future__ import annotations

import json
import random
from functools import partial

from bench import dataset
from bench.context import Bench
from bench.loadgen import LoadSpec

API = "/api/v1/payments"
PAGE_SIZE = 20
# Order ids of each load start far apart, so no load repeats another's orders, and all stay
# within a 32-bit integer in case a client library cares.
WARMUP_ORDERS, CREATE_ORDERS, PROFILE_ORDERS = 1_000_000_000, 1_200_000_000, 1_400_000_000
FLOOR_WARMUP_ORDERS, FLOOR_ORDERS = 1_600_000_000, 1_800_000_000
FLOOR = "/floor/payments"  # bench/floor.py, served with the baseline
THREAD_ORDER_STRIDE = 10_000_000


def baseline(bench: Bench) -> None:
    bench.measure("baseline", get_spec(bench.stack.baseline_url, "baseline", "/"))
    # Not a target: the service's own liveness route, i.e. the floor plus our app's overhead.
    bench.measure("ping", get_spec(bench.stack.service_url, "ping", f"{API}/ping"))


def create_spec(
    bench: Bench, first_order: int, base_url: str | None = None, path: str = API
) -> LoadSpec:
    """POST a new order each time to the service (or, given base_url and path, to the floor)."""
    merchant = bench.stack.merchants[0]

    def make_request(worker: int, n: int):
        body = {
            "order_id": first_order + worker * THREAD_ORDER_STRIDE + n,
            "amount": "10.50",
            "price": "10.50",
            "alias": "stripe",
            "subscription_id": merchant.subscription_id,
            "currency": "USD",
        }
        headers = {"X-API-Key": merchant.api_key, "Content-Type": "application/json"}
        return "POST", path, headers, json.dumps(body).encode()

    return LoadSpec(
        name="create",
        base_url=base_url or bench.stack.service_url,
        script="create",
        args=[str(first_order), merchant.api_key, str(merchant.subscription_id), path],
        make_request=make_request,
    )


def create(bench: Bench) -> None:
    result = bench.measure(
        "create", create_spec(bench, CREATE_ORDERS), warmup=create_spec(bench, WARMUP_ORDERS)
    )
    bench.profile_loads["create"] = lambda: bench.load(
        create_spec(bench, PROFILE_ORDERS), bench.options.profile_seconds
    )
    created = result.statuses.get(201, 0)
    if created < result.requests / 2:
        bench.results.notes.append(
            f"create: only {created} of {result.requests} answers were 201 "
            f"(statuses {result.statuses}); the figures are not those of payment creation."
        )
    floor_url = bench.stack.baseline_url
    bench.measure(
        "floor create",
        create_spec(bench, FLOOR_ORDERS, floor_url, FLOOR),
        warmup=create_spec(bench, FLOOR_WARMUP_ORDERS, floor_url, FLOOR),
    )


def get_spec(
    base_url: str, name: str, path: str, api_key: str | None = None, ids: tuple = (0, 0)
) -> LoadSpec:
    """GET `path`; "{id}" in it becomes a random id in `ids` (inclusive) on every request."""
    randomiser = random.Random(name)

    def make_request(worker: int, n: int):
        target = path.replace("{id}", str(randomiser.randint(*ids))) if "{id}" in path else path
        return "GET", target, ({"X-API-Key": api_key} if api_key else {}), None

    return LoadSpec(
        name=name,
        base_url=base_url,
        script="get",
        args=[api_key or "-", path, str(ids[0]), str(ids[1])],
        make_request=make_request,
    )


def read_specs(bench: Bench, rows: int, ids: tuple[int, int]) -> dict[str, LoadSpec]:
    merchant = bench.stack.merchants[1]
    url = bench.stack.service_url
    deep_page = max(1, rows // PAGE_SIZE // 2)
    return {
        "show": get_spec(url, "show", f"{API}/{{id}}/show", merchant.api_key, ids),
        "list": get_spec(url, "list", f"{API}?page=1&limit={PAGE_SIZE}", merchant.api_key),
        "list deep": get_spec(
            url, "list deep", f"{API}?page={deep_page}&limit={PAGE_SIZE}", merchant.api_key
        ),
    }


def floor_show_spec(bench: Bench, ids: tuple[int, int]) -> LoadSpec:
    merchant = bench.stack.merchants[1]
    path = f"{FLOOR}/{{id}}"
    return get_spec(bench.stack.baseline_url, "floor show", path, merchant.api_key, ids)


def reads(bench: Bench) -> None:
    """The same three reads with the small data set, then after growing it to the big one."""
    options = bench.options
    merchant = bench.stack.merchants[1]
    loaded = 0
    dataset.wait_until_settled(bench.stack.database_dsn)
    for label, rows in (("small", options.small_rows), ("big", options.big_rows)):
        print(f"bench: loading {rows - loaded:,} payments for merchant {merchant.id} ...")
        span = dataset.bulk_payments(
            bench.stack.database_dsn, merchant.id, rows - loaded, first_order=loaded
        )
        loaded = span.count
        bench.results.data_sets[label] = span.count
        for name, spec in read_specs(bench, span.count, (span.low, span.high)).items():
            result = bench.measure(f"{name} @{label}", spec)
            bench.profile_loads[f"{name} @{label}"] = partial(
                bench.load, spec, bench.options.profile_seconds
            )
            if result.non_2xx > result.requests / 2:
                bench.results.notes.append(
                    f"{name} @{label}: {result.non_2xx} of {result.requests} answers were not "
                    f"2xx (statuses {result.statuses}); the figures are not those of {name}."
                )
        bench.measure(f"floor show @{label}", floor_show_spec(bench, (span.low, span.high)))

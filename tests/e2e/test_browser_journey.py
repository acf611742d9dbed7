"""A merchant developer's first hour, in headless Chromium against `make run`: Swagger UI at
/docs (Authorize with a demo key, create a payment with "Try it out"), the sandbox checkout
(Pay), the merchant inbox (the signed notification, verified) and the payment's tracking.

Every step is saved as a screenshot under test-output/browser/ (the README's are copies), and
no request of the browser leaves the service: the docs work offline.

Debian's Chromium drives it (Playwright never downloads a browser here); without it, the test
is skipped and says why.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support import processes

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does when apt-get works)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SHOTS = processes.PROJECT_ROOT / "test-output" / "browser"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous for a loaded CI machine: every wait ends as soon as its element is there.
STEP_TIMEOUT_MS = 30_000
# The inbox shows a notification once the embedded worker delivered it (fast path, ~1 s).
INBOX_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """`make run` on a free port with a fresh instance folder, as a developer starts it."""
    tmp_path = tmp_path_factory.mktemp("browser")
    with processes.make_run(tmp_path) as (base, instance, _log):
        yield base, instance


@pytest.fixture
def page():
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.set_default_timeout(STEP_TIMEOUT_MS)
            sync_api.expect.set_options(timeout=STEP_TIMEOUT_MS)
            yield context.new_page()
        finally:
            browser.close()


def _shot(page, name: str, *, full_page: bool = False) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def _shot_region(page, name: str, top, bottom) -> None:
    """The page from `top` to `bottom` (which may be taller than the window)."""
    scroll_y = page.evaluate("window.scrollY")
    start, end = top.bounding_box(), bottom.bounding_box()
    y0 = max(0, start["y"] + scroll_y - 12)
    y1 = end["y"] + end["height"] + scroll_y + 12
    clip = {"x": 0, "y": y0, "width": page.viewport_size["width"], "height": y1 - y0}
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, clip=clip)


def _demo_key(instance: Path) -> str:
    credentials = json.loads((instance / "demo-credentials.json").read_text())
    return credentials["merchants"][0]["api_key"]


def test_docs_checkout_inbox_and_tracking_in_a_browser(service, page):
    base, instance = service
    seen_hosts: set[str] = set()
    page.on("request", lambda request: seen_hosts.add(urlsplit(request.url).netloc))

    page.goto(f"{base}/docs")
    page.locator("#operations-Payments-createPayment").wait_for()
    _shot(page, "01-docs", full_page=True)

    _authorize(page, _demo_key(instance))
    payment = _create_through_try_it_out(page, base)
    _pay_on_checkout(page, base, payment)
    _see_notification_in_inbox(page, base, payment["payment_id"])
    _track_through_try_it_out(page, base, payment["payment_id"])

    # Swagger UI's assets, the spec and every page came from the service: nothing else.
    assert seen_hosts == {urlsplit(base).netloc}


def _authorize(page, key: str) -> None:
    page.locator(".auth-wrapper button.authorize").click()
    modal = page.locator(".modal-ux")
    modal.locator("input[type=text]").fill(key)
    modal.locator("button.auth.authorize").click()
    # Once authorized, the dialog offers Logout and shows the value masked.
    sync_api.expect(modal.get_by_role("button", name="Logout")).to_be_visible()
    _shot(page, "02-authorized")
    modal.locator("button.btn-done").click()
    sync_api.expect(page.locator(".auth-wrapper button.authorize.locked")).to_be_visible()


def _create_through_try_it_out(page, base: str) -> dict:
    operation = page.locator("#operations-Payments-createPayment")
    operation.locator(".opblock-summary").click()
    body = operation.locator("textarea.body-param__text")
    example = json.loads(body.input_value())
    assert (example["subscription_id"], example["alias"]) == (1, "stripe")
    example["order_id"] = 100_000 + int(time.time()) % 900_000  # not the example's: unique
    body.fill(json.dumps(example, indent=2))
    with page.expect_response(
        lambda r: r.url == f"{base}/api/v1/payments" and r.request.method == "POST"
    ) as answer:
        operation.locator("button.execute").click()
    assert answer.value.status == 201, answer.value.text()
    payment = answer.value.json()
    live = operation.locator(".live-responses-table")
    sync_api.expect(live.locator("tr.response .response-col_status")).to_have_text("201")
    sync_api.expect(live).to_contain_text(payment["payment_url"])
    assert payment["status"] == "PAYMENT_PENDING"
    assert payment["payment_url"].startswith(f"{base}/sandbox/pay/")
    _shot_region(page, "03-created", operation.locator(".opblock-section-request-body"), live)
    payment["order_id"] = example["order_id"]
    return payment


def _pay_on_checkout(page, base: str, payment: dict) -> None:
    page.goto(payment["payment_url"])
    sync_api.expect(page.locator("#amount")).to_have_text("10.50 USD")
    sync_api.expect(page.locator("#order")).to_have_text(f"Order #{payment['order_id']}")
    sync_api.expect(page.locator(".merchant-name")).to_have_text("Demo")
    _shot(page, "04-checkout")
    page.locator("#pay").click()
    sync_api.expect(page.locator("#outcome")).to_contain_text("PAYMENT_FINISHED")
    _shot(page, "05-paid")


def _see_notification_in_inbox(page, base: str, payment_id: int) -> None:
    page.goto(f"{base}/sandbox/merchant")
    # The page reloads itself every few seconds until the delivery arrives.
    row = page.locator(f"tr.notification[data-payment-id='{payment_id}']")
    row.wait_for(timeout=INBOX_TIMEOUT_MS)
    sync_api.expect(row).to_contain_text("payment.finished")
    sync_api.expect(row).to_contain_text("PAYMENT_FINISHED")
    sync_api.expect(row.locator(".signature-verified")).to_be_visible()
    _shot(page, "06-inbox")


def _track_through_try_it_out(page, base: str, payment_id: int) -> None:
    # A new page load: the key must have survived (persistAuthorization).
    page.goto(f"{base}/docs#/Payments/trackPayment")
    operation = page.locator("#operations-Payments-trackPayment")
    field = operation.locator("input[placeholder='payment_id']")
    field.fill(str(payment_id))
    url = f"{base}/api/v1/payments/{payment_id}/tracking"
    with page.expect_response(lambda r: r.url == url) as answer:
        operation.locator("button.execute").click()
    assert answer.value.status == 200, answer.value.text()
    tracking = answer.value.json()
    assert tracking["payment_status"] == "PAYMENT_FINISHED"
    events = [event["event_type"] for event in tracking["events"]]
    assert events[0] == "EVENT_PAYMENT_CREATED"
    assert "EVENT_MERCHANT_NOTIFICATION_SENT" in events
    live = operation.locator(".live-responses-table")
    sync_api.expect(live).to_contain_text('"payment_status": "PAYMENT_FINISHED"')
    # The answer ends with payment_status: show the end of the (scrolling) body.
    body = live.locator("tr.response .highlight-code pre").first
    body.evaluate("element => { element.scrollTop = element.scrollHeight; }")
    _shot_region(page, "07-tracking", operation.locator(".parameters-container"), body)

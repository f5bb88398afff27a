"""The web wizard in a real headless browser: Playwright driving Debian's Chromium
(/usr/bin/chromium; Playwright's own download needs the internet, so it is never used) against
the API served by uvicorn in this process on a free port, the time-skipping Temporal server
and real PostgreSQL. From the provisioning email's link (read from the outbox row) to the
order summary PDF: SO-1, SO-3 (closing the wizard saves nothing), SO-5, SO-8 (a split that
does not add up is shown naming the rule), SO-10."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from models.common.mail import Mailer
from models.common.tables import License
from models.orders.tables import OrderService
from tests.browser import CHROMIUM_ARGS, chromium
from tests.orders.conftest import Orders
from tests.orders.web import link_of

TIMEOUT_MS = 90_000  # a loaded machine: every click is an update through Temporal


@pytest.fixture
async def served(orders: Orders, database_url: str, mailer: Mailer) -> AsyncIterator[str]:
    """The whole API (with the web wizard) served over real HTTP on a free port."""
    from api.app import create_app

    app = create_app(
        orders.settings,
        database_url,
        client=orders.env.client,
        db=orders.db,
        mailer=mailer,
        task_queue=orders.task_queue,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(600):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


async def test_so_1_so_3_so_10_browser_from_the_email_link_to_the_summary_pdf(
    orders: Orders, served: str, browser, tmp_path: Path
) -> None:
    """Click the provisioning email's *Set up now* link; walk some screens and close the
    wizard: nothing was saved (SO-3); open the link again and walk every screen: the partner
    org offered from the email's domain (SO-5), a new customer org, two Meetings sites whose
    split is first refused (SO-8), Calling's headquarters; *Provision and start billing*
    (SO-10) and download the order summary PDF."""
    orders.policy = orders.policy.model_copy(update={"setup_url": f"{served}/orders/setup"})
    h = await orders.accept()
    oid = h.id.removeprefix("order-")
    await orders.until(h, lambda s: s.state == "awaiting_setup")
    [mail] = await orders.notices(oid, "order_provisioning")
    link = link_of(mail.body)
    assert link.startswith(f"{served}/orders/setup?token=")

    context = await browser.new_context(accept_downloads=True)
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        await page.goto(link)
        await page.get_by_role("heading", name="Provisioning information required").wait_for()
        await page.get_by_role("button", name="Set up now").click()
        await page.get_by_role("heading", name="Who will set up this order?").wait_for()
        before = await orders.snapshot()

        # a first visit, closed half-way: nothing is saved (SO-3)
        await page.get_by_label("Yes, I will set it up").check()
        await page.get_by_role("button", name="Next").click()
        await page.get_by_label("This order is for a customer").check()
        await page.get_by_role("button", name="Next").click()
        await page.get_by_role("heading", name="Map the order to the partner org").wait_for()
        await page.get_by_role("link", name="Close the wizard").click()
        await page.get_by_text("Nothing was saved").wait_for()
        assert await orders.snapshot() == before

        # the link again: the wizard starts over
        await page.goto(link)
        await page.get_by_role("button", name="Set up now").click()
        await page.get_by_label("Yes, I will set it up").check()
        await page.get_by_role("button", name="Next").click()
        await page.get_by_label("This order is for a customer").check()
        await page.get_by_role("button", name="Next").click()
        await page.get_by_text("We found orgs that match the email setup@acme.test").wait_for()
        await page.get_by_label("Acme Partner").check()
        await page.get_by_role("button", name="Next").click()
        await page.get_by_label("The customer admin's email").fill("admin@browserco.test")
        await page.get_by_role("button", name="Next").click()
        await page.get_by_text("No org matches the email admin@browserco.test").wait_for()
        await page.get_by_label("Company name").fill("BrowserCo")
        await page.get_by_label("Business vertical").fill("retail")
        await page.get_by_label("Country or region").select_option("NL")
        await page.get_by_role("button", name="Next").click()

        await page.get_by_role("heading", name="Set up the services").wait_for()
        await page.get_by_role("button", name="I need additional URLs").click()
        await page.get_by_label("Site 2 URL name").wait_for()
        await page.get_by_label("Site 1 URL name").fill("browserco")
        await page.get_by_label("Site 1 time zone").fill("Europe/Amsterdam")
        await page.get_by_label("Site 1 licenses").fill("70")
        await page.get_by_label("Site 2 URL name").fill("browserco-labs")
        await page.get_by_label("Site 2 time zone").fill("UTC")
        await page.get_by_label("Site 2 early adopter").check()
        await page.get_by_label("Site 2 licenses").fill("20")
        await page.get_by_label("Headquarters location name").fill("Amsterdam HQ")
        await page.get_by_label("Country or region where most users are").select_option("NL")
        await page.get_by_role("button", name="Next").click()
        alert = page.get_by_role("alert")
        await alert.get_by_text("SO-8 (services.meetings.sites): the license split").wait_for()
        await page.get_by_label("Site 2 licenses").fill("30")
        await page.get_by_role("button", name="Next").click()

        await page.get_by_role("heading", name="Review").wait_for()
        assert await orders.snapshot() == before  # every screen checked, nothing written
        await page.get_by_role("button", name="Provision and start billing").click()
        await page.get_by_role("heading", name="Provisioned: billing has started").wait_for()
        async with page.expect_download() as info:
            await page.get_by_role("link", name="Download order summary (PDF)").click()
        download = await info.value
        saved = tmp_path / download.suggested_filename
        await download.save_as(saved)
    except Exception:
        await page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        raise
    finally:
        await context.close()

    assert download.suggested_filename == f"order-{oid}-summary.pdf"
    content = saved.read_bytes()
    assert content.startswith(b"%PDF-") and len(content) > 500
    row = await orders.row(oid)
    assert (row.state, row.subscription_status, row.partner_org_id) == (
        "provisioned",
        "active",
        orders.partner,
    )
    svc = await orders.rows(OrderService, OrderService.order_id == oid)
    assert sorted((x.service, x.status, x.billing_started_at is not None) for x in svc) == [
        ("calling", "provisioned", True),
        ("meetings", "provisioned", True),
    ]
    sites = next(x for x in svc if x.service == "meetings").settings["sites"]
    assert [(s["name"], s["licenses"], s["early_adopter"]) for s in sites] == [
        ("browserco", 70, False),
        ("browserco-labs", 30, True),
    ]
    lic = await orders.rows(License, License.org_id == row.customer_org_id)
    assert sorted((x.service, x.quantity, x.source) for x in lic) == [
        ("calling", 50, "paid"),
        ("meetings", 100, "paid"),
    ]
    assert (await orders.status(h)).state == "provisioned"

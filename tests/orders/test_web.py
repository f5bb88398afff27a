"""The set-up wizard's web pages (api/orders/web.py) over HTTP, as a browser posts them: the
email's link opens them, each screen calls the same validating update as the API, nothing
is saved until the commit (SO-3), refusals are shown on their screen naming rule and field,
and the order ends provisioned with its summary PDF (SO-10). The real browser walk is
tests/orders/test_browser.py."""

from __future__ import annotations

from typing import Any

from models.common.tables import License, Org
from models.orders.tables import OrderService, OrgSubdomain
from tests.orders.conftest import Orders
from tests.orders.web import WebWizard, link_of


async def _emailed(orders: Orders, **kw) -> tuple[str, str]:
    """(order id, the link of its provisioning email)."""
    h = await orders.accept(**kw)
    oid = h.id.removeprefix("order-")
    await orders.until(h, lambda s: s.state == "awaiting_setup")
    [mail] = await orders.notices(oid, "order_provisioning")
    return oid, link_of(mail.body)


async def test_so_3_web_wizard_closed_saves_nothing_then_so_10_provisions(api, orders: Orders):
    """SO-3: the link opens the wizard; walking every screen (the partner org from the
    email's domain, a new customer org, services with a split that does not add up and is
    refused naming SO-8 and the field) changes no row; closing it and opening the link again
    starts over. SO-10: the review provisions and starts billing; the PDF downloads."""
    oid, link = await _emailed(orders)
    w = WebWizard(api, link)
    page = await w.open()
    assert w.status == 200 and "Set up now" in page and f"Order {oid}" in page
    assert (await orders.row(oid)).state == "awaiting_setup"  # opening the page changes nothing
    await w.post()
    assert w.screen == "who"
    before = await orders.snapshot()

    await w.post(who="me")
    assert w.screen == "purpose"
    page = await w.post(purpose="customer")
    assert w.screen == "partner-org" and "Acme Partner" in page and "verified: acme.test" in page
    await w.post(org_choice=f"choose:{orders.partner}")
    assert w.screen == "customer-admin"
    page = await w.post(customer_admin_email="admin@webco.test")
    assert w.screen == "customer-org" and "No org matches the email admin@webco.test" in page
    page = await w.post(org_choice="create", company_name="", vertical="it", country="US")
    assert w.status == 400 and w.screen == "customer-org"
    assert "SO-5: a new org needs company_name" in w.errors()
    await w.post(org_choice="create", company_name="WebCo", vertical="it", country="US")
    assert w.screen == "services"
    await w.post("add_site", site_0_name="webco-a", site_0_timezone="Europe/Paris")
    assert w.screen == "services" and 'name="site_1_name"' in w.page
    sites: dict[str, Any] = dict(
        site_0_name="webco-a",
        site_0_timezone="Europe/Paris",
        site_0_licenses="60",
        site_1_name="webco-b",
        site_1_timezone="UTC",
        site_1_early_adopter=True,
        site_1_licenses="30",
        calling_location="Paris HQ",
        calling_country="FR",
    )
    await w.post(**sites)
    assert w.status == 400 and w.screen == "services"
    assert any(
        e.startswith("SO-8 (services.meetings.sites): the license split [60, 30]")
        for e in w.alert()
    ), w.alert()
    page = await w.post(**{**sites, "site_1_licenses": "40"})
    assert w.screen == "review" and "Provision and start billing" in page
    assert "webco-b.webex.com" in page and "early adopter" in page
    assert await orders.snapshot() == before  # SO-3: every screen checked, nothing written

    closed = await api.get("/orders/setup/closed")
    assert "Nothing was saved" in closed.text
    await w.open()
    await w.post()
    assert w.screen == "who" and 'value="me" checked' in w.page  # starts over, empty
    assert await orders.snapshot() == before

    await w.post(who="me")
    await w.post(purpose="customer")
    await w.post(org_choice=f"choose:{orders.partner}")
    await w.post(customer_admin_email="admin@webco.test")
    await w.post(org_choice="create", company_name="WebCo", vertical="it", country="US")
    await w.post("add_site")
    await w.post(**{**sites, "site_1_licenses": "40"})
    page = await w.post()  # Provision and start billing
    assert w.status == 200 and "Provisioned: billing has started" in page, page
    row = await orders.row(oid)
    assert row.state == "provisioned" and row.subscription_status == "active"
    svc = await orders.rows(OrderService, OrderService.order_id == oid)
    assert sorted((x.service, x.status, x.billing_started_at is not None) for x in svc) == [
        ("calling", "provisioned", True),
        ("meetings", "provisioned", True),
    ]
    lic = await orders.rows(License, License.org_id == row.customer_org_id)
    assert sorted((x.service, x.quantity) for x in lic) == [("calling", 50), ("meetings", 100)]
    pdf_href = page.split('id="summary-pdf"')[0].rsplit('href="', 1)[1].split('"')[0]
    pdf = await api.get(pdf_href.replace("&amp;", "&"), headers={"Authorization": ""})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-type"] == "application/pdf"
    assert "attachment" in pdf.headers["content-disposition"]
    again = await WebWizard(api, link).open()  # the link now shows the summary
    assert "Provisioned: billing has started" in again and "summary-pdf" in again


async def test_so_5_web_exact_match_taken_subdomain_and_not_my_org(api, orders: Orders):
    """SO-5 on the web: for my company, the contact's own org is proposed to confirm; "not
    my org" stops the wizard (contact Cisco) with nothing saved. SO-8: a taken subdomain is
    reported by *Check availability*, a free one is available."""
    oid, link = await _emailed(orders, provisioning_contact_email="boss@existing.test")
    async with orders.db.session() as s:
        from datetime import UTC, datetime

        s.add(OrgSubdomain(subdomain="taken", org_id=orders.stale, created_at=datetime.now(UTC)))
    w = WebWizard(api, link)
    await w.open()
    await w.post()
    before = await orders.snapshot()
    await w.post(who="me")
    page = await w.post(purpose="my_company")
    assert w.screen == "customer-org"
    assert "we matched your order to this org" in page and "Existing Co" in page
    await w.post("back")
    assert w.screen == "purpose" and 'value="my_company" checked' in w.page
    await w.post(purpose="my_company")
    assert w.screen == "customer-org"
    stop = await w.post(org_choice="not_mine")
    assert w.status == 409 and "Please contact Cisco" in stop and "SO-5" in stop
    assert await orders.snapshot() == before

    await w.open()
    await w.post()
    await w.post(who="me")
    await w.post(purpose="my_company")
    await w.post(org_choice=f"confirm:{orders.existing}")
    assert w.screen == "services"
    fields = dict(
        site_0_name="existing",
        site_0_timezone="UTC",
        calling_location="HQ",
        calling_country="DE",
    )
    await w.post("check_subdomain", **fields, subdomain="taken")
    assert w.status == 400 and "SO-8: taken is not available" in w.errors()
    await w.post("check_subdomain", **fields, subdomain="existing-co")
    assert "existing-co is available." in w.page
    assert await orders.snapshot() == before
    page = await w.post(**fields, subdomain="existing-co")
    assert w.screen == "review" and "Existing Co" in page
    await w.post()
    row = await orders.row(oid)
    assert (row.state, row.customer_org_id, row.purpose) == (
        "provisioned",
        orders.existing,
        "my_company",
    )
    [sub] = await orders.rows(OrgSubdomain, OrgSubdomain.subdomain == "existing-co")
    assert sub.org_id == orders.existing


async def test_so_4_web_hand_off_retires_the_link(api, orders: Orders):
    """SO-4: a colleague sets up: the review sends the hand-off; the old link no longer
    opens the set-up (401), the colleague's link does."""
    oid, link = await _emailed(orders)
    w = WebWizard(api, link)
    await w.open()
    await w.post()
    await w.post(who="colleague", handoff_email="not-an-email")
    assert w.status == 400 and "SO-4: the colleague's email is required" in w.errors()
    page = await w.post(who="colleague", handoff_email="Mate@acme.test")
    assert w.screen == "review" and "mate@acme.test" in page.lower()
    page = await w.post()
    assert "Handed off" in page and "mate@acme.test" in page
    assert (await orders.row(oid)).contact_email == "mate@acme.test"
    old = await WebWizard(api, link).open()
    assert "replaced by a newer one" in old
    [handoff] = await orders.notices(oid, "order_handoff")
    w2 = WebWizard(api, link_of(handoff.body))
    assert "Set up now" in await w2.open()


async def test_so_9_so_13_web_set_up_later_then_resume_from_the_link(api, orders: Orders):
    """SO-12: a new partner org sets its password first (refused when the two differ or it
    is short). SO-13: calling later: meetings is provisioned and billed, calling is not;
    SO-9: the same link later shows the service left and sets it up."""
    oid, link = await _emailed(orders, provisioning_contact_email="setup@fresh.test")
    w = WebWizard(api, link)
    await w.open()
    await w.post()
    await w.post(who="me")
    page = await w.post(purpose="customer")
    assert "No org matches the email setup@fresh.test" in page
    await w.post(org_choice="create", company_name="Fresh Partner", vertical="it", country="GB")
    await w.post(customer_admin_email="it@freshco.test")
    await w.post(org_choice="create", company_name="FreshCo", vertical="retail", country="GB")
    assert w.screen == "password"
    await w.post(partner_password="long enough pw", partner_password_again="other")
    assert w.status == 400 and "SO-12: the two passwords differ" in w.errors()
    await w.post(partner_password="short", partner_password_again="short")
    assert w.status == 400 and w.screen == "password"
    await w.post(partner_password="long enough pw", partner_password_again="long enough pw")
    assert w.screen == "services" and "long enough pw" not in w.page
    await w.post(site_0_name="freshco", site_0_timezone="Europe/London", calling_setup="later")
    page = await w.post()
    assert "Provisioned: billing has started" in page and "Set up later" in page
    row = await orders.row(oid)
    assert row.state == "provisioned" and row.partner_password_hash
    svc = {x.service: x for x in await orders.rows(OrderService, OrderService.order_id == oid)}
    assert (svc["meetings"].status, svc["calling"].status) == ("provisioned", "deferred")
    assert svc["calling"].billing_started_at is None
    [partner] = await orders.rows(Org, Org.id == row.partner_org_id)
    assert partner.name == "Fresh Partner" and partner.kind == "partner"

    w = WebWizard(api, link)
    page = await w.open()
    assert "Services set up later" in page and "calling" in page
    await w.post()
    assert w.screen == "services" and 'id="meetings"' not in w.page
    await w.post(calling_location="London", calling_country="GB")
    page = await w.post()
    assert "Provisioned: billing has started" in page
    svc = {x.service: x for x in await orders.rows(OrderService, OrderService.order_id == oid)}
    assert svc["calling"].status == "provisioned" and svc["calling"].billing_started_at
    assert (await orders.status(orders.handle(oid))).deferred_services == []


async def test_web_links_and_answers_cannot_be_forged(api, orders: Orders):
    """SO-1: a forged or unknown token opens nothing (401 page); answers that do not unseal
    start over; an ended order says so (PX-5); the PDF needs the link too."""
    oid, link = await _emailed(orders)
    forged = link[:-3] + "xyz"
    page = await WebWizard(api, forged).open()
    assert "is not valid" in page
    assert (await api.get("/orders/setup?token=", headers={"Authorization": ""})).status_code == 401
    pdf = await api.get("/orders/setup/summary.pdf?token=nope", headers={"Authorization": ""})
    assert pdf.status_code == 401
    w = WebWizard(api, link)
    await w.open()
    await w.post()
    w.page = w.page.replace('name="state" value="', 'name="state" value="x')
    await w.post(who="me")
    assert w.status == 400 and "Start again" in w.page
    await orders.handle(oid).execute_update("cancel", {"reason": "test"})
    page = await WebWizard(api, link).open()
    assert "The order is cancelled" in page
    headers = (await api.get("/orders/setup/closed")).headers
    assert (
        headers["referrer-policy"] == "no-referrer"
        and "frame-ancestors" in headers["content-security-policy"]
    )

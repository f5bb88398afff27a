"""The HTTP API of orders: the wholesale conventions (camelCase, {errorCode, description},
bearer tokens with scopes), idempotent create, refusals naming rule and field that write
nothing, and the wizard driven over HTTP, with the set-up link's token."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.orders.conftest import Orders


def body(**kw):
    b = {
        "orderId": "WEB-1",
        "offer": "A-WX",
        "requestedStartDate": date.today().isoformat(),
        "provisioningContactEmail": "setup@acme.test",
        "lines": [{"service": "meetings", "quantity": 20}],
    }
    b.update(kw)
    return b


async def test_so_1_create_is_idempotent_per_order_id(api, orders: Orders):
    """SO-1: the same order twice: 201 then 200 with the same order, one workflow, one
    email; another order under the same id: 409."""
    r = await api.post("/v1/orders", json=body())
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "WEB-1"
    assert r.headers["Location"].endswith("/v1/orders/WEB-1")
    again = await api.post("/v1/orders", json=body())
    assert again.status_code == 200 and again.json()["id"] == "WEB-1"
    other = await api.post("/v1/orders", json=body(offer="A-SPK"))
    assert other.status_code == 409 and other.json()["errorCode"] == 10070
    h = orders.handle("WEB-1")
    await orders.until(h, lambda s: s.state == "awaiting_setup")
    assert len(await orders.notices("WEB-1", "order_provisioning")) == 1
    got = (await api.get("/v1/orders/WEB-1")).json()
    assert got["state"] == "awaiting_setup" and got["services"][0]["quantity"] == 20
    assert "contactEmail" in got and "requestHash" not in got


async def test_so_1_bad_orders_are_refused_naming_rule_and_field_and_write_nothing(
    api, orders: Orders
):
    """SO-1: an unknown offer, a start date in the past, an invalid email: 400, the rule and
    the (camelCase) field named, nothing written."""
    before = await orders.snapshot()
    cases = [
        (body(offer="A-XYZ"), "SO-1", "offer"),
        (
            body(requestedStartDate=(date.today() - timedelta(days=1)).isoformat()),
            "SO-1",
            "requestedStartDate",
        ),
        (body(provisioningContactEmail="not an email"), "SO-1", "provisioningContactEmail"),
        (body(lines=[{"service": "fax", "quantity": 1}]), "SO-1", "lines"),
    ]
    for b, rule, field in cases:
        r = await api.post("/v1/orders", json=b)
        assert r.status_code == 400, r.text
        err = r.json()
        assert err["description"].startswith(f"{rule} ({field})"), err
        assert err["errors"][0]["field"] == field
    r = await api.post("/v1/orders", json=body(colour="red"))
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "colour"
    assert await orders.snapshot() == before


async def test_orders_api_needs_a_token_with_the_scope(api, orders: Orders):
    assert (await api.get("/v1/orders", headers={"Authorization": ""})).status_code == 401
    ro = {"Authorization": f"Bearer {orders.read_token}"}
    assert (await api.get("/v1/orders", headers=ro)).status_code == 200
    r = await api.post("/v1/orders", json=body(), headers=ro)
    assert r.status_code == 403 and r.json()["errorCode"] == 10011


async def test_list_filters_exactly_and_pages(api, orders: Orders):
    for i, offer in enumerate(["A-WX", "A-FLEX", "A-WX"]):
        later = (date.today() + timedelta(days=3)).isoformat()
        r = await api.post(
            "/v1/orders", json=body(orderId=f"L-{i}", offer=offer, requestedStartDate=later)
        )
        assert r.status_code == 201
    items = (await api.get("/v1/orders", params={"offer": "A-WX"})).json()["items"]
    assert [o["id"] for o in items] == ["L-0", "L-2"]
    assert (await api.get("/v1/orders", params={"offer": "A-W"})).json()["items"] == []
    page = (await api.get("/v1/orders", params={"offset": 1, "max": 1})).json()["items"]
    assert [o["id"] for o in page] == ["L-1"]
    sched = (await api.get("/v1/orders", params={"state": "scheduled"})).json()["items"]
    assert len(sched) == 3


async def test_px_5_http_contact_resend_cancel(api, orders: Orders):
    """PX-5 over HTTP: change the contact, resend; cancel; a cancelled order refuses with
    409 naming the rule."""
    await api.post("/v1/orders", json=body(orderId="C-1"))
    await orders.until(orders.handle("C-1"), lambda s: s.state == "awaiting_setup")
    r = await api.post("/v1/orders/C-1/contact", json={"email": "new@acme.test"})
    assert r.status_code == 200 and r.json()["state"] == "awaiting_setup", r.text
    bad = await api.post("/v1/orders/C-1/contact", json={"email": "nope"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "email"
    assert (await api.post("/v1/orders/C-1/resend")).status_code == 200
    later = (date.today() + timedelta(days=1)).isoformat()
    r = await api.post("/v1/orders/C-1/start-date", json={"requestedStartDate": later})
    assert r.json()["state"] == "scheduled"
    assert (await api.post("/v1/orders/C-1/cancel", json={"reason": "dup"})).status_code == 200
    r = await api.post("/v1/orders/C-1/resend")
    assert r.status_code == 409 and r.json()["description"].startswith("PX-5"), r.text
    sent = [n.recipient for n in await orders.notices("C-1", "order_provisioning")]
    assert sent == ["setup@acme.test", "new@acme.test", "new@acme.test"]


async def test_so_8_http_wizard_with_the_link_token(api, orders: Orders):
    """The wizard over HTTP with the email's signed token: steps save nothing; a split that
    does not sum up and a taken subdomain are refused naming rule and field; the commit
    provisions and the summary PDF downloads (SO-8, SO-10)."""
    await api.post(
        "/v1/orders", json=body(orderId="W-1", lines=[{"service": "meetings", "quantity": 20}])
    )
    await orders.until(orders.handle("W-1"), lambda s: s.state == "awaiting_setup")
    [mail] = await orders.notices("W-1", "order_provisioning")
    link = next(w for w in mail.body.split() if w.startswith("http"))
    token = parse_qs(urlparse(link).query)["token"][0]
    anon = {"Authorization": "", "X-Setup-Token": token}
    forged = {"Authorization": "", "X-Setup-Token": token[:-2] + "xx"}
    assert (await api.post("/v1/orders/W-1/setup/begin", headers=forged)).status_code == 401
    assert (await api.post("/v1/orders/W-1/setup/begin", headers=anon)).status_code == 200
    async with orders.db.session() as s:
        from models.orders.tables import OrgSubdomain

        s.add(OrgSubdomain(subdomain="taken", org_id=orders.existing, created_at=mail.created_at))
    before = await orders.snapshot()
    answers: dict[str, Any] = {
        "who": "me",
        "purpose": "customer",
        "partnerOrg": {"action": "choose", "orgId": orders.partner},
        "customerAdminEmail": "admin@webco.test",
        "customerOrg": {
            "action": "create",
            "companyName": "WebCo",
            "vertical": "it",
            "country": "US",
        },
        "services": {
            "meetings": {
                "sites": [
                    {"name": "webco-a", "timezone": "UTC", "licenses": 15},
                    {"name": "webco-b", "timezone": "UTC", "licenses": 10},
                ]
            }
        },
        "provisionAndStartBilling": True,
    }
    r = await api.post(
        "/v1/orders/W-1/setup/partner-org", json={"who": "me", "purpose": "customer"}, headers=anon
    )
    assert r.status_code == 200, r.text
    assert r.json()["step"]["partnerOrg"]["candidates"][0]["orgId"] == orders.partner
    r = await api.post("/v1/orders/W-1/setup/services", json=answers, headers=anon)
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "services.meetings.sites"
    assert r.json()["description"].startswith("SO-8")
    answers["services"]["meetings"]["sites"][1]["licenses"] = 5
    answers["services"]["subdomain"] = "taken"
    r = await api.post("/v1/orders/W-1/setup/services", json=answers, headers=anon)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "services.subdomain"
    answers["services"]["subdomain"] = "webco"
    assert (
        await api.post("/v1/orders/W-1/setup/review", json=answers, headers=anon)
    ).status_code == 200
    assert await orders.snapshot() == before  # SO-3
    r = await api.post("/v1/orders/W-1/setup/commit", json=answers, headers=anon)
    assert r.status_code == 200 and r.json()["state"] == "provisioned", r.text
    pdf = await api.get("/v1/orders/W-1/summary.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-type"] == "application/pdf"

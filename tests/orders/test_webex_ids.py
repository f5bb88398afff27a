"""Issue 9 (Cisco's spec): an order's orgs may carry Webex ids (base64 of
``ciscospark://us/ORGANIZATION/<uuid>``, 88 characters): a partner submitting with one, a
customer org chosen by one in the wizard, the list filtered by one; an id over
``WEBEX_ID_MAX`` is refused naming the field (migration 0012 widened the columns)."""

from __future__ import annotations

from datetime import UTC, datetime

from models.common.orgs import new_id
from models.common.tables import Org, OrgUser
from models.common.types import WEBEX_ID_MAX
from models.orders.store import create_order_token
from models.wholesale.tables import OrgDomain
from tests.orders.conftest import Orders, refused
from tests.webex import too_long, webex_id


def oid(h) -> str:
    return h.id.removeprefix("order-")


async def webex_orgs(orders: Orders) -> tuple[str, str, str]:
    """A partner (with a read token) and a customer org (with a verified domain and a
    user) whose ids are Webex's: (partner, customer, token)."""
    partner, customer = webex_id(padded=True), webex_id()
    now = datetime.now(UTC)
    async with orders.db.session() as s:
        s.add(Org(id=partner, kind="partner", name="Webex Partner", tier=1, created_at=now))
        s.add(Org(id=customer, kind="customer", name="Webex Co", country="US", created_at=now))
        await s.flush()
        s.add(OrgUser(id=new_id("u"), org_id=customer, email="boss@webexco.test", created_at=now))
        s.add(
            OrgUser(
                id=new_id("u"),
                org_id=partner,
                email="full@webexpartner.test",
                admin_role="full",
                created_at=now,
            )
        )
        s.add(OrgDomain(org_id=customer, domain="webexco.test", verified=True))
        await s.flush()
        _, token = await create_order_token(
            s, partner_org_id=partner, admin_email="full@webexpartner.test", scopes=["orders_read"]
        )
    return partner, customer, token


async def test_so_5_webex_ids_are_accepted_end_to_end(orders: Orders, api) -> None:
    """SO-5 with Webex ids: an order submitted by a partner whose org id is 88 characters,
    its wizard choosing a customer org of 87 by id, committed and provisioned; the row
    holds both ids whole and the HTTP list finds the order by the customer's."""
    partner, customer, token = await webex_orgs(orders)
    assert len(partner) == 88 and len(customer) == 87
    h = await orders.ready(submitted_by=partner)
    assert (await orders.row(oid(h))).submitted_by_org_id == partner
    base = {
        "who": "me",
        "purpose": "customer",
        "partner_org": {"action": "choose", "org_id": orders.partner},
        "customer_admin_email": "new.person@webexco.test",
    }
    r = await orders.step(h, "customer-org", **base)
    assert r.customer_org.kind == "candidates"
    assert [c.org_id for c in r.customer_org.candidates] == [customer]
    chosen = {"action": "choose", "org_id": customer}
    assert (await orders.step(h, "customer-org", **base, customer_org=chosen)).next_step == (
        "services"
    )
    answers = {**orders.answers_for(), **base, "customer_org": chosen}
    assert (await orders.commit(h, **answers)).state == "provisioned"
    assert (await orders.row(oid(h))).customer_org_id == customer
    listed = await api.get(
        "/v1/orders",
        params={"customerOrgId": customer},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert listed.status_code == 200, listed.text
    assert [o["id"] for o in listed.json()["items"]] == [oid(h)]


async def test_so_5_an_id_over_the_bound_is_refused_naming_the_field(orders: Orders, api):
    """One character over ``WEBEX_ID_MAX``: the wizard's update is refused naming
    ``answers.customer_org.org_id`` (SO-3); the list's ``customerOrgId`` answers 400 naming
    it."""
    h = await orders.ready()
    long = too_long()
    assert len(long) == WEBEX_ID_MAX + 1
    with refused("SO-3", "answers.customer_org.org_id"):
        await orders.step(
            h,
            "customer-org",
            who="me",
            purpose="customer",
            partner_org={"action": "choose", "org_id": orders.partner},
            customer_admin_email="new.person@webexco.test",
            customer_org={"action": "choose", "org_id": long},
        )
    r = await api.get("/v1/orders", params={"customerOrgId": long})
    assert r.status_code == 400, r.text
    assert "customerOrgId" in [e["field"] for e in r.json()["errors"]], r.json()

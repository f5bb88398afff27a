"""WH-C6: restricted-by-partner mode made real. The partner switches it off and on (API and
CLI); a customer admin's token (scoped to its own customer) is refused what the rule lists
while it is on, allowed when off, and never reaches another customer (answered as unknown)
or a partner's operation."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

import httpx
from sqlmodel import func, select

from models.wholesale import problems as P
from models.wholesale.store import create_customer_admin_token
from models.wholesale.tables import (
    WholesaleApiToken,
    WholesalePackageAssignment,
    WholesaleSubscriber,
)
from tests.cli_forks import lifecycles
from tests.wholesale.conftest import Wholesale


async def _customer_with_admin(wh: Wholesale, boss: str) -> tuple[str, dict[str, str], str]:
    """A provisioned customer whose first subscriber (its admin, WH-S2) holds a customer
    admin token; returns (customer id, that token's headers, the admin's subscriber id)."""
    cid = await wh.customer(wait_for=("provisioned",))
    r = await wh.subscriber(cid, email=boss)
    assert r.status_code == 200, r.text
    assert r.json()["isAdmin"] is True
    async with wh.db.session() as s:
        _, token = await create_customer_admin_token(s, customer_id=cid, admin_email=boss)
    return cid, {"Authorization": f"Bearer {token}"}, r.json()["id"]


async def _count(wh: Wholesale, table: type) -> int:
    async with wh.db.session() as s:
        return (await s.exec(select(func.count()).select_from(table))).one()


async def _restricted(wh: Wholesale, cid: str) -> bool:
    c = await wh.row(cid)
    assert c is not None
    return c.restricted_by_partner


def _refused(r: httpx.Response, rule: str, field: str) -> None:
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["errorCode"] == P.RESTRICTED_BY_PARTNER
    assert body["description"].startswith(f"{rule} ({field}): the customer is in restricted")
    assert [e["field"] for e in body["errors"]] == [field]


async def test_wh_c6_customer_admin_refused_what_the_rule_lists_while_restricted(
    wh: Wholesale,
) -> None:
    """WH-C6: on by default; adding, modifying and removing users, resetting packages and
    claiming users are refused naming the rule and field, and nothing is written."""
    cid, admin, boss_id = await _customer_with_admin(wh, "boss@pizza.test")
    r = await wh.http.get(f"/v1/wholesale/customers/{cid}/restrictedByPartner", headers=admin)
    assert r.status_code == 200 and r.json() == {"customerId": cid, "restrictedByPartner": True}
    subs, assignments = (
        await _count(wh, WholesaleSubscriber),
        await _count(wh, WholesalePackageAssignment),
    )
    other = await wh.subscriber(cid, email="ann@pizza.test")  # the partner may
    assert other.status_code == 200
    sid = other.json()["id"]
    subs += 1
    assignments += 1

    body = {
        "customerId": cid,
        "email": "new@pizza.test",
        "package": "webex_calling",
        "provisioningParameters": {"firstName": "N", "lastName": "U", "extension": "4321"},
    }
    _refused(
        await wh.http.post("/v1/wholesale/subscribers", json=body, headers=admin),
        "WH-C6",
        "customerId",
    )
    _refused(
        await wh.http.put(
            f"/v1/wholesale/subscribers/{sid}", json={"package": "webex_meetings"}, headers=admin
        ),
        "WH-C6",
        "package",
    )
    _refused(
        await wh.http.delete(f"/v1/wholesale/subscribers/{sid}", headers=admin),
        "WH-C6",
        "subscriberId",
    )
    _refused(
        await wh.http.post(f"/v1/subscribers/{sid}/emails/consentMove", headers=admin),
        "WH-C6",
        "subscriberId",
    )
    # nothing written: the same subscribers and package assignments, ann's package unchanged
    assert await _count(wh, WholesaleSubscriber) == subs
    assert await _count(wh, WholesalePackageAssignment) == assignments
    async with wh.db.session() as s:
        ann = await s.get(WholesaleSubscriber, sid)
    assert ann is not None and ann.package == "webex_calling"

    # what the mode does not restrict: reading its own customer and users, prechecks
    assert (await wh.http.get(f"/v1/wholesale/customers/{cid}", headers=admin)).status_code == 200
    r = await wh.http.get("/v1/wholesale/subscribers", headers=admin)
    assert r.status_code == 200
    assert {x["id"] for x in r.json()["items"]} == {boss_id, sid}
    r = await wh.http.post("/v1/wholesale/subscribers/validate", json=body, headers=admin)
    assert r.status_code == 200, r.text


async def test_wh_c6_partner_switches_it_off_then_on_again(wh: Wholesale) -> None:
    """WH-C6: "Partners can switch it off": then the customer admin adds a user and resets
    a package; switched on again, the same request is refused."""
    cid, admin, _ = await _customer_with_admin(wh, "boss@pizza.test")
    url = f"/v1/wholesale/customers/{cid}/restrictedByPartner"
    r = await wh.http.put(url, json={"restrictedByPartner": False}, headers=wh.auth())
    assert r.status_code == 200 and r.json() == {"customerId": cid, "restrictedByPartner": False}
    assert await _restricted(wh, cid) is False

    body = {
        "customerId": cid,
        "email": "new@pizza.test",
        "package": "webex_calling",
        "provisioningParameters": {"firstName": "N", "lastName": "U", "extension": "4321"},
    }
    r = await wh.http.post("/v1/wholesale/subscribers", json=body, headers=admin)
    assert r.status_code == 200, r.text
    sid = r.json()["id"]
    r = await wh.http.put(
        f"/v1/wholesale/subscribers/{sid}", json={"package": "webex_meetings"}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["package"] == "webex_meetings"
    async with wh.db.session() as s:
        rows = (
            await s.exec(
                select(WholesalePackageAssignment).where(
                    WholesalePackageAssignment.subscriber_id == sid
                )
            )
        ).all()
    assert sorted((a.package, a.closed_at is None) for a in rows) == [
        ("webex_calling", False),
        ("webex_meetings", True),
    ]

    r = await wh.http.put(url, json={"restrictedByPartner": True}, headers=wh.auth())
    assert r.status_code == 200 and r.json()["restrictedByPartner"] is True
    body["email"] = "third@pizza.test"
    _refused(
        await wh.http.post("/v1/wholesale/subscribers", json=body, headers=admin),
        "WH-C6",
        "customerId",
    )
    assert await _count(wh, WholesaleSubscriber) == 2  # boss and new, nothing more

    # the switch itself: partners only, a strict boolean, no unknown fields
    r = await wh.http.put(url, json={"restrictedByPartner": False}, headers=admin)
    assert r.status_code == 403 and r.json()["errorCode"] == P.PARTNER_ONLY
    assert await _restricted(wh, cid) is True
    for bad in ({"restrictedByPartner": "no"}, {}, {"restrictedByPartner": False, "x": 1}):
        assert (await wh.http.put(url, json=bad, headers=wh.auth())).status_code == 400
    # another partner's customer is unknown to it
    r = await wh.http.put(url, json={"restrictedByPartner": False}, headers=wh.auth("other"))
    assert r.status_code == 404


async def test_wh_c6_customer_admin_cannot_act_on_another_org(wh: Wholesale) -> None:
    """WH-C6: a customer admin's token is scoped to its own customer: another customer and
    its users are answered as unknown (even with the mode off), and a partner's operations
    answer 403."""
    cid, admin, _ = await _customer_with_admin(wh, "boss@pizza.test")
    other = await wh.customer(wait_for=("provisioned",))
    r = await wh.subscriber(other, email="eve@other.test")
    assert r.status_code == 200
    eve = r.json()["id"]
    for c in (cid, other):
        r = await wh.http.put(
            f"/v1/wholesale/customers/{c}/restrictedByPartner",
            json={"restrictedByPartner": False},
            headers=wh.auth(),
        )
        assert r.status_code == 200
    before = await _count(wh, WholesaleSubscriber)

    assert (await wh.http.get(f"/v1/wholesale/customers/{other}", headers=admin)).status_code == 404
    r = await wh.http.get("/v1/wholesale/customers", headers=admin)
    assert [c["id"] for c in r.json()["items"]] == [cid]
    r = await wh.http.get("/v1/wholesale/subscribers", params={"customerId": other}, headers=admin)
    assert r.status_code == 200 and r.json()["items"] == []
    assert (await wh.http.get(f"/v1/wholesale/subscribers/{eve}", headers=admin)).status_code == 404
    body = {
        "customerId": other,
        "email": "intruder@pizza.test",
        "package": "webex_calling",
        "provisioningParameters": {"firstName": "I", "lastName": "N", "extension": "5555"},
    }
    r = await wh.http.post("/v1/wholesale/subscribers", json=body, headers=admin)
    assert r.status_code == 404 and r.json()["errorCode"] == P.NOT_FOUND
    r = await wh.http.put(
        f"/v1/wholesale/subscribers/{eve}", json={"package": "webex_meetings"}, headers=admin
    )
    assert r.status_code == 404
    assert (
        await wh.http.delete(f"/v1/wholesale/subscribers/{eve}", headers=admin)
    ).status_code == 404
    r = await wh.http.get(f"/v1/wholesale/customers/{other}/restrictedByPartner", headers=admin)
    assert r.status_code == 404
    assert await _count(wh, WholesaleSubscriber) == before  # nothing written

    # a partner's operations: create or change customers, sub-partners, billing reports
    r = await wh.post_customer(who="partner")  # the partner may
    assert r.status_code == 202
    r = await wh.http.post("/v1/wholesale/customers", json=wh.customer_body(), headers=admin)
    assert r.status_code == 403 and r.json()["errorCode"] == P.PARTNER_ONLY
    r = await wh.http.put(
        f"/v1/wholesale/customers/{cid}", json={"packages": ["webex_calling"]}, headers=admin
    )
    assert r.status_code == 403
    assert (
        await wh.http.delete(f"/v1/wholesale/customers/{cid}", headers=admin)
    ).status_code == 403
    assert (await wh.http.get("/v1/wholesale/subPartners", headers=admin)).status_code == 403
    assert (await wh.http.get("/v1/wholesale/billing/reports", headers=admin)).status_code == 403
    r = await wh.http.get(
        "/v1/wholesale/customers", params={"onBehalfOfSubPartnerOrgId": wh.sub_a}, headers=admin
    )
    assert r.status_code == 403


async def test_wh_c6_only_an_admin_of_a_provisioned_customer_gets_a_token(wh: Wholesale) -> None:
    """WH-C6: a customer admin token is issued for an admin of that customer's org only;
    removing the customer spends it."""
    cid, admin, _ = await _customer_with_admin(wh, "boss@pizza.test")
    r = await wh.subscriber(cid, email="plain@pizza.test")
    assert r.status_code == 200 and r.json()["isAdmin"] is False
    from models.common.refusal import RuleError

    async with wh.db.session() as s:
        for email, customer in (("plain@pizza.test", cid), ("boss@pizza.test", "nope")):
            try:
                await create_customer_admin_token(s, customer_id=customer, admin_email=email)
            except RuleError as err:
                assert err.violations[0].field in ("admin", "customer")
            else:
                raise AssertionError("issued")
        kinds = (await s.exec(select(WholesaleApiToken.kind))).all()
    assert sorted(set(kinds)) == ["customer_admin", "partner"]
    assert kinds.count("customer_admin") == 1

    assert (
        await wh.http.delete(f"/v1/wholesale/customers/{cid}", headers=wh.auth())
    ).status_code == 202
    for _ in range(600):  # the workflow removes it (PX-3): a bound, not a timing
        c = await wh.row(cid)
        if c is None or c.status == "deleting":
            break
        await asyncio.sleep(0.1)
    r = await wh.http.get(f"/v1/wholesale/customers/{cid}", headers=admin)
    assert r.status_code == 401


async def test_wh_c6_cli_switches_the_mode(wh: Wholesale, database_url: str) -> None:
    """WH-C6: `lifecycles wholesale customer restrict ID --off/--on` (exit 0), an unknown
    customer exits 1; `lifecycles token create --customer` issues a customer admin token."""
    cid, _, _ = await _customer_with_admin(wh, "boss@pizza.test")
    env = {**os.environ, "LIFECYCLES_DATABASE_URL": database_url}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return lifecycles(list(args), env=env, timeout=120)  # a process of its own, forked

    r = await asyncio.to_thread(cli, "wholesale", "customer", "restrict", cid, "--off", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"customer_id": cid, "restricted_by_partner": False}
    assert await _restricted(wh, cid) is False
    r = await asyncio.to_thread(cli, "wholesale", "customer", "restrict", cid, "--on")
    assert r.returncode == 0 and r.stdout.strip() == f"{cid}: restricted-by-partner on"
    assert await _restricted(wh, cid) is True
    r = await asyncio.to_thread(cli, "wholesale", "customer", "restrict", "nope", "--off")
    assert r.returncode == 1

    r = await asyncio.to_thread(
        cli, "token", "create", "--customer", cid, "--admin", "boss@pizza.test", "--json"
    )
    assert r.returncode == 0, r.stderr
    token = json.loads(r.stdout)["token"]
    got = await wh.http.get(
        f"/v1/wholesale/customers/{cid}", headers={"Authorization": f"Bearer {token}"}
    )
    assert got.status_code == 200
    r = await asyncio.to_thread(
        cli, "token", "create", "--customer", cid, "--partner", wh.partner, "--admin", "x@y.z"
    )
    assert r.returncode == 2

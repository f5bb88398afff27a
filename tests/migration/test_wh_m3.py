"""WH-M3: in restricted-by-partner mode (WH-C6) customer admins cannot start a migration.

A customer admin's token migrates users into its own wholesale customer only. Restricted
(the default): start, approve and rollback answer 403 naming WH-M3, and nothing is written.
Switched off by the partner: the admin migrates into its customer, which a rollback keeps."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlmodel import func, select
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from models.common.tables import OrgUser
from models.migration.rules import NOTICE_KIND
from models.migration.tables import Migration, MigrationUser
from models.wholesale import problems as P
from models.wholesale.store import create_customer_admin_token
from models.wholesale.tables import WholesaleCustomer, WholesaleSubscriber
from tests.migration.conftest import Migrations, sample

PACKAGES = ["webex_voice", "webex_calling", "webex_suite", "webex_meetings"]


async def _own_customer(mig: Migrations) -> tuple[str, dict[str, str]]:
    """A customer the partner provisioned (the sample's packages), its first subscriber its
    admin (WH-S2), and that admin's customer admin token."""
    body: dict[str, Any] = {
        "provisioningId": mig.template,
        "packages": PACKAGES,
        "externalId": "own-customer",
        "address": {
            "addressLine1": "1 Main St",
            "city": "Milpitas",
            "stateOrProvince": "CA",
            "zipOrPostalCode": "95035",
            "country": "US",
        },
        "customerInfo": {"name": "Pizza Palace Co", "primaryEmail": "boss@pizza-palace.test"},
    }
    r = await mig.http.post("/v1/wholesale/customers", json=body, headers=mig.auth)
    assert r.status_code == 202, r.text
    cid = r.headers["Location"].rsplit("/", 1)[-1]
    for _ in range(3000):  # the customer's workflow provisions it: a bound, not a timing
        async with mig.db.session() as s:
            c = await s.get(WholesaleCustomer, cid)
        if c is not None and c.status == "provisioned":
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the customer was not provisioned")
    r = await mig.http.post(
        "/v1/wholesale/subscribers",
        json={
            "customerId": cid,
            "email": "boss@pizza-palace.test",
            "package": "webex_suite",
            "provisioningParameters": {"firstName": "B", "lastName": "Oss", "extension": "9000"},
        },
        headers=mig.auth,
    )
    assert r.status_code == 200 and r.json()["isAdmin"] is True, r.text
    async with mig.db.session() as s:
        _, token = await create_customer_admin_token(
            s, customer_id=cid, admin_email="boss@pizza-palace.test"
        )
    return cid, {"Authorization": f"Bearer {token}"}


async def _switch(mig: Migrations, cid: str, on: bool) -> None:
    r = await mig.http.put(
        f"/v1/wholesale/customers/{cid}/restrictedByPartner",
        json={"restrictedByPartner": on},
        headers=mig.auth,
    )
    assert r.status_code == 200, r.text


async def _rows(mig: Migrations, table: type) -> int:
    async with mig.db.session() as s:
        return (await s.exec(select(func.count()).select_from(table))).one()


def _refused_m3(r: httpx.Response, field: str) -> None:
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["errorCode"] == P.RESTRICTED_BY_PARTNER
    assert body["description"].startswith(f"WH-M3 ({field}): the customer is in restricted")
    assert [e["field"] for e in body["errors"]] == [field]


async def test_wh_m3_customer_admin_of_a_restricted_customer_cannot_start_a_migration(
    mig: Migrations,
) -> None:
    """WH-M3: restricted (the default, WH-C6): 403 naming WH-M3 and the field; no migration
    row, no user row, no subscriber, no workflow."""
    cid, admin = await _own_customer(mig)
    subs = await _rows(mig, WholesaleSubscriber)
    r = await mig.http.post("/v1/migrations", json={"export": sample()}, headers=admin)
    _refused_m3(r, "export")
    r = await mig.http.post(
        "/v1/migrations", json={"export": sample(), "customerId": cid}, headers=admin
    )
    _refused_m3(r, "export")
    assert await _rows(mig, Migration) == 0
    assert await _rows(mig, MigrationUser) == 0
    assert await _rows(mig, WholesaleSubscriber) == subs
    try:
        await mig.describe(f"migration-{mig.partner}-ent-pizza")
    except RPCError as err:
        assert err.status == RPCStatusCode.NOT_FOUND
    else:
        raise AssertionError("a migration workflow was started")
    # a precheck writes nothing and stays open to it
    r = await mig.http.post("/v1/migrations/precheck", json={"export": sample()}, headers=admin)
    assert r.status_code == 200 and r.json()["ok"] is True, r.text


async def test_wh_m3_with_the_mode_off_the_admin_migrates_into_its_own_customer(
    mig: Migrations,
) -> None:
    """WH-M3, WH-C6: switched off, the admin's migration provisions the sample into its own
    customer (no new customer); its rollback keeps the customer, its workflow and its
    admin; switched on again during review, the admin's approval is refused (WH-M3), the
    partner's goes through."""
    cid, admin = await _own_customer(mig)
    await _switch(mig, cid, False)
    before = await mig.snapshot()

    r = await mig.http.post("/v1/migrations", json={"export": sample()}, headers=admin)
    assert r.status_code == 202, r.text
    wid = r.json()["id"]
    p = await mig.wait_phase(wid, "review")
    assert (p.total, p.done, p.failed, p.customer_id) == (6, 6, 0, cid)
    async with mig.db.session() as s:
        customers = (await s.exec(select(WholesaleCustomer))).all()
        subs = (
            await s.exec(select(WholesaleSubscriber).where(WholesaleSubscriber.customer_id == cid))
        ).all()
        m = (await s.exec(select(Migration))).one()
    assert [c.id for c in customers] == [cid]
    assert len(subs) == 7 and m.existing_customer and m.customer_id == cid
    by_email = {x.email: x for x in subs}
    assert by_email["ann@pizza-palace.example"].package == "webex_suite"
    assert by_email["dan@pizza-palace.example"].extension == "2001"

    r = await mig.http.get(f"/v1/migrations/{wid}", headers=admin)
    assert r.status_code == 200 and r.json()["phase"] == "review"
    r = await mig.http.post(f"/v1/migrations/{wid}/rollback", json={}, headers=admin)
    assert r.status_code == 202, r.text
    await mig.wait_phase(wid, "rolled_back")
    assert await mig.snapshot() == before  # the customer, its admin, as before
    info = await mig.describe(f"wholesale-customer-{cid}")
    assert info.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
    async with mig.db.session() as s:
        boss = (
            await s.exec(select(OrgUser).where(OrgUser.email == "boss@pizza-palace.test"))
        ).one()
    assert boss.admin_role == "full"

    r = await mig.http.post("/v1/migrations", json={"export": sample()}, headers=admin)
    assert r.status_code == 202 and r.json()["id"] == wid
    await mig.wait_phase(wid, "review")
    await _switch(mig, cid, True)
    _refused_m3(
        await mig.http.post(f"/v1/migrations/{wid}/approve", json={}, headers=admin),
        "migrationId",
    )
    assert (await mig.progress(wid)).phase == "review"
    assert (await mig.decide(wid, "approve", by="admin@sp.test")).status_code == 202
    p = await mig.wait_phase(wid, "completed")
    assert p.moved == 6
    assert len(await mig.notices(NOTICE_KIND)) == 6


async def test_wh_m3_customer_admin_sees_only_migrations_into_its_own_customer(
    mig: Migrations,
) -> None:
    """WH-M3: the partner's migrations (new customers) and other customers are unknown to a
    customer admin's token (404), even with its mode off."""
    cid, admin = await _own_customer(mig)
    await _switch(mig, cid, False)
    wid = await mig.started()  # the partner's: a new customer
    await mig.wait_phase(wid, "review")
    for path in (f"/v1/migrations/{wid}", f"/v1/migrations/{wid}/report"):
        assert (await mig.http.get(path, headers=admin)).status_code == 404
    r = await mig.http.post(f"/v1/migrations/{wid}/rollback", json={}, headers=admin)
    assert r.status_code == 404
    async with mig.db.session() as s:
        other = (
            await s.exec(select(WholesaleCustomer.id).where(WholesaleCustomer.id != cid))
        ).one()
    export = sample()
    export["enterprise"]["id"] = "ent-other"
    r = await mig.http.post(
        "/v1/migrations", json={"export": export, "customerId": other}, headers=admin
    )
    assert r.status_code == 404 and r.json()["errorCode"] == P.NOT_FOUND
    assert await _rows(mig, Migration) == 1
    assert (await mig.progress(wid)).phase == "review"

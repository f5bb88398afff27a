"""Subscribers: WH-S1..S3, PX-2, and the package assignments billing reads."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, func, select

from models.common.orgs import new_id
from models.common.tables import Notice, Org, OrgUser
from models.wholesale.store import accept_user_move
from models.wholesale.tables import WholesalePackageAssignment, WholesaleSubscriber


async def _customer(wh, **kw):
    return await wh.customer(
        packages=["webex_calling", "webex_suite", "webex_meetings"], wait_for=("provisioned",), **kw
    )


async def test_wh_s1_required_fields(wh):
    """WH-S1: customer ID, email, package, first and last name; calling packages need an
    extension or a phone number; a location ID only for calling packages."""
    cid = await _customer(wh)
    r = await wh.subscriber(cid, extension=None)
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "provisioningParameters.extension"
    r = await wh.subscriber(cid, params={"firstName": ""})
    assert r.status_code == 400 and "provisioningParameters.firstName" in r.text
    r = await wh.subscriber(cid, package="webex_meetings", params={"locationId": "loc-1"})
    assert r.status_code == 400 and "provisioningParameters.locationId" in r.text
    r = await wh.subscriber(cid, package=None)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "package"
    r = await wh.subscriber(cid, package="webex_meetings", extension=None)
    assert r.status_code == 200  # meetings needs no number
    r = await wh.subscriber(cid, params={"primaryPhoneNumber": "+12405551212"}, extension=None)
    assert r.status_code == 200


async def test_wh_s2_first_subscriber_is_admin_and_keeps_its_level(wh):
    """WH-S2: the first subscriber of a new org becomes its admin; an admin's package is
    never downgraded below its level at the org's creation."""
    cid = await _customer(wh)
    admin = (await wh.subscriber(cid, package="webex_suite")).json()
    user = (await wh.subscriber(cid, package="webex_calling")).json()
    assert admin["isAdmin"] is True and user["isAdmin"] is False
    async with wh.db.session() as s:
        row = (await s.exec(select(OrgUser).where(OrgUser.email == admin["email"]))).one()
    assert row.admin_role == "full"
    r = await wh.http.put(
        f"/v1/wholesale/subscribers/{admin['id']}",
        json={"package": "webex_calling"},
        headers=wh.auth(),
    )
    assert r.status_code == 409 and "WH-S2" in r.json()["description"]
    r = await wh.http.put(
        f"/v1/wholesale/subscribers/{user['id']}",
        json={"package": "webex_meetings"},
        headers=wh.auth(),
    )
    assert r.status_code == 200 and r.json()["package"] == "webex_meetings"


async def test_package_change_closes_and_opens_assignments_at_one_instant(wh):
    """Package assignments (what billing reads) open when a package is assigned and close
    when it is removed; a change closes one and opens the next at the same instant."""
    cid = await _customer(wh)
    sub = (await wh.subscriber(cid, package="webex_calling")).json()
    await wh.http.put(
        f"/v1/wholesale/subscribers/{sub['id']}", json={"package": "webex_suite"}, headers=wh.auth()
    )
    r = await wh.http.delete(f"/v1/wholesale/subscribers/{sub['id']}", headers=wh.auth())
    assert r.status_code == 204
    async with wh.db.session() as s:
        rows = (
            await s.exec(
                select(WholesalePackageAssignment)
                .where(WholesalePackageAssignment.subscriber_id == sub["id"])
                .order_by(col(WholesalePackageAssignment.opened_at))
            )
        ).all()
    assert [r.package for r in rows] == ["webex_calling", "webex_suite"]
    assert rows[0].closed_at == rows[1].opened_at
    assert rows[1].closed_at is not None and rows[1].closed_at >= rows[1].opened_at


async def test_wh_s3_precheck_reports_every_conflict_and_writes_nothing(wh):
    """WH-S3: precheck reports a subscriber provisioned elsewhere, an email in use and
    conflicting parameters, all at once with their fields, writing nothing."""
    a = await _customer(wh)
    b = await wh.customer(packages=["webex_meetings"], wait_for=("provisioned",))
    taken = (
        await wh.subscriber(a, extension="4001", params={"primaryPhoneNumber": "+12405550001"})
    ).json()
    async with wh.db.session() as s:
        before = (await s.exec(select(func.count()).select_from(WholesaleSubscriber))).one()
    r = await wh.http.post(
        "/v1/wholesale/subscribers/validate",
        json={
            "customerId": b,
            "email": taken["email"],
            "package": "webex_calling",
            "provisioningParameters": {"primaryPhoneNumber": "+1 240 555 0001"},
        },
        headers=wh.auth(),
    )
    assert r.status_code == 409
    fields = sorted(e["field"] for e in r.json()["errors"])
    assert fields == ["email", "package", "provisioningParameters.primaryPhoneNumber"]
    r = await wh.http.post(
        "/v1/wholesale/subscribers/validate",
        json={
            "customerId": a,
            "email": "new@pizza.test",
            "package": "webex_calling",
            "provisioningParameters": {"extension": "4001"},
        },
        headers=wh.auth(),
    )
    assert (
        r.status_code == 409
        and r.json()["errors"][0]["field"] == "provisioningParameters.extension"
    )
    async with wh.db.session() as s:
        s.add(
            Org(id="o-elsewhere", kind="customer", name="Elsewhere", created_at=datetime.now(UTC))
        )
        await s.flush()
        s.add(
            OrgUser(
                id=new_id("u"),
                org_id="o-elsewhere",
                email="busy@else.test",
                created_at=datetime.now(UTC),
            )
        )
    r = await wh.http.post(
        "/v1/wholesale/subscribers/validate",
        json={"customerId": a, "email": "busy@else.test"},
        headers=wh.auth(),
    )
    assert r.status_code == 409 and "in use" in r.json()["description"]
    r = await wh.http.post(
        "/v1/wholesale/subscribers/validate",
        json={"customerId": a, "email": "fresh@pizza.test", "package": "webex_calling"},
        headers=wh.auth(),
    )
    assert r.status_code == 200 and r.json()["message"] == "success"
    async with wh.db.session() as s:
        after = (await s.exec(select(func.count()).select_from(WholesaleSubscriber))).one()
    assert after == before


async def test_px2_free_account_pending_migration_with_resendable_consent(wh):
    """PX-2: an email of an active free account gives pending_user_migration (202) and a
    consent email that can be re-sent; on consent the user moves and billing starts."""
    cid = await _customer(wh)
    async with wh.db.session() as s:
        s.add(Org(id="free-1", kind="free", name="Free", created_at=datetime.now(UTC)))
        await s.flush()
        s.add(
            OrgUser(
                id="u-free-1", org_id="free-1", email="free@user.test", created_at=datetime.now(UTC)
            )
        )
    r = await wh.subscriber(cid, email="free@user.test")
    assert r.status_code == 202 and r.json()["status"] == "pending_user_migration"
    assert "personId" not in r.json()
    sub_id = r.json()["id"]
    again = await wh.subscriber(cid, email="free@user.test")  # a retried request
    assert again.json()["id"] == sub_id
    r = await wh.http.post(f"/v1/subscribers/{sub_id}/emails/consentMove", headers=wh.auth())
    assert r.status_code == 204
    async with wh.db.session() as s:
        sent = (await s.exec(select(Notice).where(Notice.kind == "wholesale_consent_move"))).all()
        opened = (
            await s.exec(
                select(WholesalePackageAssignment).where(
                    WholesalePackageAssignment.subscriber_id == sub_id
                )
            )
        ).all()
    assert len(sent) == 2 and all(n.sent_at for n in sent) and opened == []
    sub = await accept_user_move(wh.db, None, sub_id)
    assert sub.status == "provisioned"
    r = await wh.http.get(f"/v1/wholesale/subscribers/{sub_id}", headers=wh.auth())
    assert r.json()["status"] == "provisioned" and r.json()["personId"] == "u-free-1"
    r = await wh.http.post(f"/v1/subscribers/{sub_id}/emails/consentMove", headers=wh.auth())
    assert r.status_code == 409
    r = await wh.http.get(
        "/v1/wholesale/subscribers",
        params={"customerId": cid, "status": "provisioned"},
        headers=wh.auth(),
    )
    assert [i["id"] for i in r.json()["items"]] == [sub_id]

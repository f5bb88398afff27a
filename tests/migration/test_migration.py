"""WH-M1, PX-8: a BroadWorks export migrated end to end, a user failing mid-way, rollback."""

from __future__ import annotations

import csv
import io

from sqlmodel import col, select
from temporalio.api.enums.v1 import WorkflowExecutionStatus

from models.common.tables import PhoneNumber
from models.migration import store
from models.migration.contract import BatchArg
from models.migration.rules import NOTICE_KIND
from models.migration.tables import Migration, MigrationDevice, MigrationSoftClient
from models.wholesale.tables import WholesaleCustomer, WholesaleSubscriber
from tests.migration.conftest import Migrations, sample


async def _subscribers(mig: Migrations) -> dict[str, WholesaleSubscriber]:
    async with mig.db.session() as s:
        return {x.email: x for x in (await s.exec(select(WholesaleSubscriber))).all()}


async def test_wh_m1_px_8_sample_migrated_with_the_right_package_and_number(
    mig: Migrations,
) -> None:
    export = sample()
    wid = await mig.started(export)
    assert wid == f"migration-{mig.partner}-ent-pizza"
    p = await mig.wait_phase(wid, "review")
    assert (p.total, p.done, p.failed, p.left) == (6, 6, 0, 0)

    subs = await _subscribers(mig)
    assert len(subs) == 6
    # WH-S2: the first user of the new org is its admin, and only that one
    assert [e for e, x in subs.items() if x.is_admin] == [export["users"][0]["email"]]
    for u in export["users"]:
        sub = subs[u["email"]]
        assert sub.package == u["package"]
        assert sub.extension == u.get("extension")
        digits = "".join(ch for ch in sub.primary_phone_number or "" if ch.isdigit())
        assert digits == (u.get("number") or "").lstrip("+")
        assert sub.status == "provisioned"
    async with mig.db.session() as s:
        c = (await s.exec(select(WholesaleCustomer))).one()
        numbers = (await s.exec(select(PhoneNumber))).all()
    assert c.external_id == "ent-pizza" and c.status == "provisioned"
    assert c.provisioning_parameters["webexForBroadWorks"] is True
    assert [x["name"] for x in c.packages] == [
        "webex_voice",
        "webex_calling",
        "webex_suite",
        "webex_meetings",
    ]
    assert {n.number for n in numbers} == {n["number"] for n in export["numbers"]}
    assert {n.org_id for n in numbers} == {c.org_id}
    assert await mig.notices(NOTICE_KIND) == []  # nobody is told before the cut-over

    r = await mig.decide(wid, "approve", by="admin@sp.test")
    assert r.status_code == 202, r.text
    p = await mig.wait_phase(wid, "completed")
    assert p.moved == 6

    async with mig.db.session() as s:
        devices = (await s.exec(select(MigrationDevice))).all()
        clients = (await s.exec(select(MigrationSoftClient))).all()
        m = (await s.exec(select(Migration))).one()
    assert {d.state for d in devices} == {"moved"} and len(devices) == 4
    assert {c.client for c in clients} == {"webex_app"} and len(clients) == 4
    assert m.state == "completed" and m.approved_by == "admin@sp.test"

    notices = await mig.notices(NOTICE_KIND)
    assert sorted(n.recipient for n in notices) == sorted(u["email"] for u in export["users"])
    assert all(n.sent_at is not None for n in notices)
    body = next(n.body for n in notices if n.recipient == "ann@pizza-palace.example")
    assert "reset your password" in body and "call history" in body and "Webex App" in body
    assert "+14085550101" in body and "speed dials" in body

    # PX-8 exactly once: the cut-over done again (a retried activity) sends nothing more
    await store.cut_over_batch(
        mig.db, mailer_of(mig), BatchArg(migration_id=m.id, start=0, end=6), lambda *a: None
    )
    assert len(await mig.notices(NOTICE_KIND)) == 6


def mailer_of(mig: Migrations):
    from models.common.mail import Mailer

    return Mailer(smtp_url=None, mail_from="lifecycles@test")


async def test_wh_m1_a_failing_user_is_retried_then_reported_while_the_rest_complete(
    mig: Migrations, monkeypatch
) -> None:
    real = store.provision_one
    attempts: list[str] = []

    async def flaky(db, mailer, scope, spec):
        if spec.email == "chloe@pizza-palace.example":
            attempts.append(spec.email)
            raise ConnectionError("BroadWorks user lookup timed out")
        return await real(db, mailer, scope, spec)

    real_many = store.provision_many

    async def many_but_chloe(db, scope, specs):
        return await real_many(
            db, scope, [sp for sp in specs if sp.email != "chloe@pizza-palace.example"]
        )

    monkeypatch.setattr(store, "provision_one", flaky)
    monkeypatch.setattr(store, "provision_many", many_but_chloe)
    wid = await mig.started()
    p = await mig.wait_phase(wid, "review")
    assert (p.done, p.failed, p.left) == (5, 1, 0)
    assert len(attempts) == 3  # migration_user_attempts, then recorded failed

    subs = await _subscribers(mig)
    assert "chloe@pizza-palace.example" not in subs and len(subs) == 5

    r = await mig.http.get(f"/v1/migrations/{wid}/report", headers=mig.auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = {row["user_id"]: row for row in csv.DictReader(io.StringIO(r.text))}
    assert len(rows) == 6
    assert rows["bw-chloe"]["state"] == "failed"
    assert rows["bw-chloe"]["attempts"] == "3"
    assert "ConnectionError: BroadWorks user lookup timed out" in rows["bw-chloe"]["reason"]
    assert {rows[k]["state"] for k in rows if k != "bw-chloe"} == {"provisioned"}
    assert rows["bw-ann"]["package"] == "webex_suite" and rows["bw-ann"]["number"] == "+14085550101"

    r = await mig.http.get(f"/v1/migrations/{wid}", headers=mig.auth)
    assert r.json()["failed"] == 1 and r.json()["phase"] == "review"


async def test_wh_m1_rollback_leaves_the_store_as_before(mig: Migrations) -> None:
    before = await mig.snapshot()
    wid = await mig.started()
    await mig.wait_phase(wid, "review")
    assert (await mig.snapshot()) != before
    r = await mig.decide(wid, "rollback", note="customer postponed")
    assert r.status_code == 202, r.text
    p = await mig.wait_phase(wid, "rolled_back")
    assert p.phase == "rolled_back"
    assert (await mig.snapshot()) == before
    assert await mig.notices(NOTICE_KIND) == []
    # the customer's workflow is gone too
    async with mig.db.session() as s:
        m = (await s.exec(select(Migration))).one()
    assert m.state == "rolled_back" and m.customer_id
    info = await mig.describe(f"wholesale-customer-{m.customer_id}")
    assert info.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED

    # and the enterprise may be migrated again
    wid2 = await mig.started()
    assert wid2 == wid
    await mig.wait_phase(wid, "review")
    async with mig.db.session() as s:
        assert (
            len((await s.exec(select(Migration).where(col(Migration.state) == "review"))).all())
            == 1
        )


async def test_wh_m1_decisions_outside_review_are_refused_naming_the_rule(mig: Migrations) -> None:
    wid = await mig.started()
    await mig.wait_phase(wid, "review")
    assert (await mig.decide(wid, "approve")).status_code == 202
    await mig.wait_phase(wid, "completed")
    for what in ("approve", "rollback"):
        r = await mig.decide(wid, what)
        assert r.status_code == 409
        assert r.json()["description"].startswith("WH-M1 (phase): the migration is completed")
    r = await mig.decide(wid, "approve", unknown=1)
    assert r.status_code == 400

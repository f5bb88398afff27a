"""Records a wholesale customer's history for the replay guard (tests/test_replay.py)."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

import pytest

from models.wholesale.contract import ComplianceCleared
from tests.test_replay import save_history
from tests.wholesale.test_compliance import _held
from workflows.wholesale.workflow import WholesaleCustomerProvisioning


@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="set RECORD_HISTORIES=1")
async def test_record_wholesale_history(wh) -> None:
    """A compliance hold, two rechecks, an operator's release, then provisioned."""
    cid = await _held(wh)
    await wh.env.sleep(timedelta(hours=13))
    await wh.handle(cid).signal(
        WholesaleCustomerProvisioning.compliance_cleared, ComplianceCleared(by="ops")
    )
    await wh.wait(cid, "provisioned")
    await save_history("wholesale_held_cleared_provisioned", wh.handle(cid))


@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="set RECORD_HISTORIES=1")
async def test_record_wholesale_update_delete_history(wh) -> None:
    """Provisioned, the package list changed through the HTTP API, then removed.

    wholesale_updated_then_deleted.json was recorded before the change-in-main-loop patch
    (the handlers applied the change); this one after it."""
    cid = await wh.customer(wait_for=("provisioned",))
    r = await wh.http.put(
        f"/v1/wholesale/customers/{cid}", json={"packages": ["webex_suite"]}, headers=wh.auth()
    )
    assert r.status_code == 202
    await wh.wait(cid, "provisioned")
    for _ in range(200):  # the change is applied: the customer is settled again
        if (
            await wh.handle(cid).query(WholesaleCustomerProvisioning.status)
        ).state == "provisioned":
            break
        await asyncio.sleep(0.05)
    r = await wh.http.delete(f"/v1/wholesale/customers/{cid}", headers=wh.auth())
    assert r.status_code == 202
    assert (await wh.handle(cid).result())["state"] == "deleted"
    await save_history("wholesale_change_queued_then_deleted", wh.handle(cid))


@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="set RECORD_HISTORIES=1")
async def test_record_wholesale_attach_lapsed_history(wh) -> None:
    """PX-4: the org admin is asked, reminded at day 3, and the attachment lapses at day 14."""
    from tests.wholesale.test_attach_approval import _waiting

    cid = await _waiting(wh)
    await wh.env.sleep(timedelta(days=14, minutes=1))
    await wh.wait_state(cid, "error")
    await wh.handle(cid).terminate("recorded")
    await save_history("wholesale_attach_reminded_then_lapsed", wh.handle(cid))


@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="set RECORD_HISTORIES=1")
async def test_record_wholesale_commands_judged_after_settling(wh, monkeypatch) -> None:
    """Patch ``wholesale-judge-after-settling``: a PUT sent while provisioning settled
    (waited, then applied), a DELETE sent while that change settled (waited, then removed)."""
    from tests.wholesale.test_settling import Gate, _sent_meanwhile

    provisioned = Gate(monkeypatch, "provision_customer")
    changed = Gate(monkeypatch, "apply_customer_change")
    cid = await wh.customer()
    await provisioned.wait_committed()
    put = asyncio.create_task(
        wh.http.put(
            f"/v1/wholesale/customers/{cid}", json={"packages": ["webex_suite"]}, headers=wh.auth()
        )
    )
    await _sent_meanwhile(wh, cid, put)
    provisioned.released.set()
    assert (await put).status_code == 202
    await changed.wait_committed()
    delete = asyncio.create_task(
        wh.http.delete(f"/v1/wholesale/customers/{cid}", headers=wh.auth())
    )
    await _sent_meanwhile(wh, cid, delete)
    changed.released.set()
    assert (await delete).status_code == 202
    assert (await wh.handle(cid).result())["state"] == "deleted"
    await save_history("wholesale_commands_judged_after_settling", wh.handle(cid))

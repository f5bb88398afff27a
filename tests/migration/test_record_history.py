"""Records BroadWorksMigration histories for the replay guard (tests/test_replay.py):
``RECORD_HISTORIES=1 pytest tests/migration/test_record_history.py``. Recording never
overwrites a history already there."""

from __future__ import annotations

import os

import pytest

from tests.migration.conftest import Migrations
from tests.test_replay import save_history


@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="set RECORD_HISTORIES=1")
async def test_record_migration_histories(mig: Migrations) -> None:
    """The sample provisioned in batches, then rolled back from review (WH-M1):
    `rolled_back`. The same enterprise again, reviewed, approved and cut over (PX-8 notices):
    `completed`."""
    wid = await mig.started()
    await mig.wait_phase(wid, "review")
    assert (await mig.decide(wid, "rollback", note="customer postponed")).status_code == 202
    await mig.wait_phase(wid, "rolled_back")
    handle = mig.env.client.get_workflow_handle(wid)
    await handle.result()
    await save_history("migration_rolled_back", handle)

    assert await mig.started() == wid  # a new run of the same workflow id
    await mig.wait_phase(wid, "review")
    assert (await mig.decide(wid, "approve", by="admin@sp.test")).status_code == 202
    p = await mig.wait_phase(wid, "completed")
    assert p.moved == 6
    handle = mig.env.client.get_workflow_handle(wid)
    await handle.result()
    await save_history("migration_completed", handle)


@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="set RECORD_HISTORIES=1")
async def test_record_migration_into_existing_customer_history(mig: Migrations) -> None:
    """WH-M3: a customer admin (mode switched off) migrates the sample into its own
    customer: no customer created, no child workflow; approved by the partner: `completed`."""
    from tests.migration.conftest import sample
    from tests.migration.test_wh_m3 import _own_customer, _switch

    cid, admin = await _own_customer(mig)
    await _switch(mig, cid, False)
    r = await mig.http.post("/v1/migrations", json={"export": sample()}, headers=admin)
    assert r.status_code == 202, r.text
    wid = r.json()["id"]
    await mig.wait_phase(wid, "review")
    assert (await mig.decide(wid, "approve", by="admin@sp.test")).status_code == 202
    await mig.wait_phase(wid, "completed")
    handle = mig.env.client.get_workflow_handle(wid)
    await handle.result()
    await save_history("migration_into_existing_customer_completed", handle)

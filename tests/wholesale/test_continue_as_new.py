"""A wholesale customer's workflow lives as long as the customer: past
`wholesale_max_history_events` history events it continues as new, carrying its state."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.service import RPCError, RPCStatusCode

from workers.settings import Settings
from workflows.wholesale.workflow import WholesaleCustomerProvisioning

MAX_EVENTS = 100


@pytest.fixture
def wh_settings() -> Settings:
    return Settings(wholesale_max_history_events=MAX_EVENTS)


async def _settled_after(wh, cid: str, changes: int):
    st = None
    for _ in range(400):
        try:
            st = await wh.handle(cid).query(
                WholesaleCustomerProvisioning.status, rpc_timeout=timedelta(seconds=2)
            )
        except RPCError as err:
            # A query that reaches the old run as it continues as new is never answered by
            # the time-skipping server (its completion finds the run closed): ask again.
            if err.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise
            continue
        if st.changes == changes and st.state == "provisioned":
            return st
        await asyncio.sleep(0.05)
    raise AssertionError(f"not settled after {changes} changes: {st}")


async def test_long_lived_customer_continues_as_new_with_its_state(wh):
    """Package changes until the history passes the limit: a new run takes over with the
    org, the state and the count of changes; the customer keeps answering and changing."""
    cid = await wh.customer(wait_for=("provisioned",))
    first = await wh.describe(cid)
    org_id = (await wh.row(cid)).org_id
    lists = [["webex_suite"], ["webex_meetings"]]
    changes = 0
    while (await wh.describe(cid)).execution.run_id == first.execution.run_id:
        assert changes < 30, "never continued as new"
        r = await wh.http.put(
            f"/v1/wholesale/customers/{cid}",
            json={"packages": lists[changes % 2]},
            headers=wh.auth(),
        )
        assert r.status_code == 202, r.text
        changes += 1
        await _settled_after(wh, cid, changes)

    st = await _settled_after(wh, cid, changes)
    assert st.org_id == org_id
    now = await wh.describe(cid)
    assert now.status == 1  # WORKFLOW_EXECUTION_STATUS_RUNNING
    assert now.history_length < first.history_length + 15  # a fresh, short history
    # the new run still takes changes, and the read model followed every one
    r = await wh.http.put(
        f"/v1/wholesale/customers/{cid}", json={"packages": ["webex_calling"]}, headers=wh.auth()
    )
    assert r.status_code == 202
    await _settled_after(wh, cid, changes + 1)
    c = await wh.row(cid)
    assert [p["name"] for p in c.packages] == ["webex_calling"] and c.org_id == org_id

"""WH-C2: screening against the restricted/denied party list, the hold, its rechecks,
its release and its escalation after 72 hours (time-skipping: 72 hours are 72 hours)."""

from __future__ import annotations

import json
from datetime import timedelta

from models.wholesale.contract import ComplianceCleared
from workflows import search_attributes as sa
from workflows.wholesale.workflow import WholesaleCustomerProvisioning


async def _held(wh, name: str = "Acme Arms Ltd") -> str:
    await wh.restricted({"name": "ACME ARMS", "country": "US", "source": "test list"})
    cid = await wh.customer(customerInfo={"name": name, "primaryEmail": "boss@acme-arms.test"})
    c = await wh.wait(cid, "pending_rpl_review")
    assert c.org_id is None or c.status == "pending_rpl_review"
    return cid


async def test_wh_c2_hit_holds_and_escalates_at_72_hours(wh):
    """WH-C2: a hit holds the customer in pending_rpl_review, rechecked every 6 hours;
    still held at 72 hours, onboarding stops and operations get the case."""
    cid = await _held(wh)
    r = await wh.http.get(f"/v1/wholesale/customers/{cid}", headers=wh.auth())
    assert r.json()["status"] == "pending_rpl_review"
    assert "orgId" not in r.json()

    await wh.env.sleep(timedelta(hours=71))
    st = await wh.handle(cid).query(WholesaleCustomerProvisioning.status)
    assert st.state == "pending_rpl_review"
    assert st.rechecks == 11  # at 6, 12, ..., 66 hours
    assert st.next_deadline_kind == "compliance_recheck"  # at 72 h, just before escalating
    assert st.escalate_at - st.hold_started_at == timedelta(hours=72)

    await wh.env.sleep(timedelta(hours=1, minutes=1))
    st = await wh.wait_state(cid, "compliance_escalated")
    assert st.rechecks == 12  # the 72-hour recheck came first and still hit
    assert st.escalated_at - st.hold_started_at >= timedelta(hours=72)
    fields = (await wh.describe(cid)).search_attributes.indexed_fields
    assert json.loads(fields[sa.LIFECYCLE_STATE.name].data) == "compliance_escalated"

    c = await wh.row(cid)
    assert c.status == "pending_rpl_review" and c.compliance_escalated_at is not None
    assert c.errors[0]["errorCode"] == 4301
    notices = await wh.notices("wholesale_compliance_escalated")
    assert [n.recipient for n in notices] == ["wholesale-ops@localhost"]
    assert notices[0].sent_at is not None
    assert cid in notices[0].body and "Acme" not in notices[0].subject

    # Operations clear it later: provisioning resumes.
    await wh.handle(cid).signal(
        WholesaleCustomerProvisioning.compliance_cleared, ComplianceCleared(by="ops")
    )
    await wh.wait(cid, "provisioned")


async def test_wh_c2_hold_clears_when_the_list_clears(wh):
    """WH-C2: the periodic recheck releases the customer once the list no longer names it."""
    cid = await _held(wh)
    await wh.env.sleep(timedelta(hours=10))
    await wh.restricted()  # the list is reloaded without the party
    await wh.env.sleep(timedelta(hours=2, minutes=1))  # the 12-hour recheck
    c = await wh.wait(cid, "provisioned")
    assert c.org_id and c.errors == []
    st = await wh.handle(cid).query(WholesaleCustomerProvisioning.status)
    assert st.state == "provisioned" and st.escalated_at is None and st.rechecks == 2


async def test_wh_c2_operator_signal_releases_the_hold(wh):
    """WH-C2: `compliance_cleared` releases a held customer at once."""
    cid = await _held(wh)
    await wh.handle(cid).signal(
        WholesaleCustomerProvisioning.compliance_cleared, ComplianceCleared(by="ops", note="ok")
    )
    c = await wh.wait(cid, "provisioned")
    assert c.compliance_hit_at is not None and c.compliance_escalated_at is None


async def test_wh_c2_screens_email_domain_and_ignores_other_names(wh):
    """WH-C2: a listed email domain holds too; an unlisted name provisions at once."""
    await wh.restricted({"domain": "denied.test"})
    held = await wh.customer(customerInfo={"name": "Fine Co", "primaryEmail": "a@denied.test"})
    free = await wh.customer(customerInfo={"name": "Fine Co", "primaryEmail": "a@fine.test"})
    await wh.wait(held, "pending_rpl_review")
    await wh.wait(free, "provisioned")

"""PX-4: an attachment that waits for the org admin's approval is reminded after 3 days and
lapses after 14 (time-skipping: 14 days are 14 days)."""

from __future__ import annotations

from datetime import timedelta

from models.common.orgs import create_customer_org
from models.wholesale.contract import AttachDecision
from models.wholesale.tables import OrgDomain
from workflows.wholesale.workflow import WholesaleCustomerProvisioning


async def _waiting(wh) -> str:
    async with wh.db.session() as s:
        big = await create_customer_org(s, "Verified Co", [("boss@verified.test", "full")], [])
        s.add(OrgDomain(org_id=big, domain="verified.test", verified=True))
    cid = await wh.customer(orgId=big, customerInfo=None)
    st = await wh.wait_state(cid, "pending_org_approval")
    assert st.approval_asked_at is not None
    return cid


async def test_px4_unanswered_approval_is_reminded_then_lapses(wh):
    """PX-4: no answer: the admin is asked again at day 3; at day 14 the customer ends in
    `error` (errorCode 4311) and operations are told, each notice once."""
    cid = await _waiting(wh)
    st = await wh.handle(cid).query(WholesaleCustomerProvisioning.status)
    assert st.next_deadline_kind == "attach_approval_reminder"
    assert st.next_deadline_at - st.approval_asked_at == timedelta(days=3)

    await wh.env.sleep(timedelta(days=3, minutes=1))
    st = await wh.wait_state(cid, "pending_org_approval")
    for _ in range(100):
        reminders = await wh.notices("wholesale_attach_approval_reminder")
        if reminders:
            break
        await wh.env.sleep(timedelta(seconds=1))
    assert [n.recipient for n in reminders] == ["boss@verified.test"]
    assert reminders[0].subject.startswith("Reminder: ") and reminders[0].sent_at is not None
    st = await wh.handle(cid).query(WholesaleCustomerProvisioning.status)
    assert st.next_deadline_kind == "attach_approval_lapse"
    assert st.next_deadline_at - st.approval_asked_at == timedelta(days=14)
    assert (await wh.row(cid)).status == "provisioning"  # still waiting, as the API says

    await wh.env.sleep(timedelta(days=11))
    st = await wh.wait_state(cid, "error")
    c = await wh.row(cid)
    assert c.status == "error" and c.errors[0]["errorCode"] == 4311
    assert "14 days" in c.errors[0]["description"]
    lapsed = await wh.notices("wholesale_attach_lapsed")
    assert [n.recipient for n in lapsed] == ["wholesale-ops@localhost"]
    assert len(await wh.notices("wholesale_attach_approval_reminder")) == 1
    assert len(await wh.notices("wholesale_attach_approval")) == 1

    # A late approval changes nothing: the request has lapsed.
    await wh.handle(cid).signal(
        WholesaleCustomerProvisioning.org_attach_decision,
        AttachDecision(approved=True, by="boss@verified.test"),
    )
    await wh.env.sleep(timedelta(hours=1))
    assert (await wh.row(cid)).status == "error"


async def test_px4_approval_in_time_attaches_and_never_lapses(wh):
    """PX-4: approved on day 5 (after the reminder): provisioned on the org; 30 days later
    still provisioned, and no lapse was ever sent."""
    cid = await _waiting(wh)
    await wh.env.sleep(timedelta(days=5))
    await wh.handle(cid).signal(
        WholesaleCustomerProvisioning.org_attach_decision,
        AttachDecision(approved=True, by="boss@verified.test"),
    )
    c = await wh.wait(cid, "provisioned")
    await wh.env.sleep(timedelta(days=30))
    st = await wh.handle(cid).query(WholesaleCustomerProvisioning.status)
    assert st.state == "provisioned" and st.next_deadline_at is None
    assert (await wh.row(cid)).org_id == c.org_id
    assert await wh.notices("wholesale_attach_lapsed") == []

"""TR-C*: a trial for an existing org with no sales relationship waits for consent."""

from __future__ import annotations

from datetime import timedelta

from models.trials.contract import AcceptConsent, CancelRequest, ProvisionRequest, ResendConsent
from tests.trials.helpers import PartnerCustomer, notices, recipients, rows, tid, trial_row, until
from workflows.trials.workflow import TrialLifecycle


def _has(kind: str, count: int = 1):
    return lambda s: sum(n.kind == kind for n in s.notices) >= count


async def _pending(world, **kw):
    org = await world.org(
        admins=[
            ("boss@existing.test", "full"),
            ("cfo@existing.test", "full"),
            ("ro@existing.test", "read_only"),
        ]
    )
    h = await world.start(org_id=org, customer=None, services=["calling"], **kw)
    await until(h, _has("consent_request"))
    return org, h


async def test_tr_c1_consent_to_given_full_admin_only(world, run_worker, db):
    """TR-C1: the given address is a full admin, so only that admin is asked."""
    async with run_worker():
        _, h = await _pending(world, admin_email="cfo@existing.test")
    assert await recipients(db, tid(h), "consent_request") == {"cfo@existing.test": 1}


async def test_tr_c1_consent_to_given_address_and_every_full_admin(world, run_worker, db):
    """TR-C1: the given address is not a full admin: it and every full admin are asked."""
    async with run_worker():
        _, h = await _pending(world, admin_email="ro@existing.test")
    assert await recipients(db, tid(h), "consent_request") == {
        "ro@existing.test": 1,
        "boss@existing.test": 1,
        "cfo@existing.test": 1,
    }


async def test_tr_c2_status_pending_then_awaiting_provisioning(world, run_worker, db):
    """TR-C2: the customer is *pending customer trial approval*, then on acceptance
    *awaiting provisioning details*; the trial then waits for provisioning."""
    async with run_worker():
        org, h = await _pending(world, admin_email="boss@existing.test")
        st = await h.query(TrialLifecycle.status)
        assert st.state == "pending_consent"
        pc = await rows(db, PartnerCustomer, PartnerCustomer.customer_org_id == org)
        assert [p.status for p in pc] == ["pending_customer_trial_approval"]
        await h.signal(
            TrialLifecycle.accept_consent,
            AcceptConsent(accepted_by="boss@existing.test", grant_full_admin=True),
        )
        st = await until(h, lambda s: s.state == "awaiting_provisioning")
        pc = await rows(db, PartnerCustomer, PartnerCustomer.customer_org_id == org)
        assert [p.status for p in pc] == ["awaiting_provisioning_details"]
        await h.execute_update(TrialLifecycle.provision, ProvisionRequest())
        assert (await until(h, lambda s: s.state == "active")).ends_at is not None


async def test_tr_c3_no_consent_in_30_days_cancels_and_removes_customer(world, run_worker, db):
    """TR-C3: with no action for 30 days the trial ends and the customer leaves the partner's
    list; an acceptance by someone who is not a full admin does not count."""
    async with run_worker():
        org, h = await _pending(world, admin_email="boss@existing.test")
        await h.signal(
            TrialLifecycle.accept_consent,
            AcceptConsent(accepted_by="ro@existing.test", grant_full_admin=True),
        )
        result = await h.result()
    assert result.state == "consent_expired"
    row = await trial_row(db, tid(h))
    assert row is not None and row.state == "consent_expired"
    assert result.consent_deadline_at - row.created_at == timedelta(days=30) or (
        abs((result.consent_deadline_at - row.created_at) - timedelta(days=30))
        < timedelta(minutes=1)
    )
    assert await rows(db, PartnerCustomer, PartnerCustomer.customer_org_id == org) == []
    assert await recipients(db, tid(h), "consent_expired") == {"sales@partner.test": 1}
    assert result.partner_admin_level is None


async def test_tr_c4_partner_becomes_provisioning_admin_unless_granted_full(world, run_worker, db):
    """TR-C4: declining full admin leaves the partner a provisioning admin."""
    async with run_worker():
        org, h = await _pending(world, admin_email="boss@existing.test")
        await h.signal(
            TrialLifecycle.accept_consent,
            AcceptConsent(accepted_by="cfo@existing.test", grant_full_admin=False),
        )
        st = await until(h, lambda s: s.state == "awaiting_provisioning")
    assert st.partner_admin_level == "provisioning_admin"
    pc = await rows(db, PartnerCustomer, PartnerCustomer.customer_org_id == org)
    assert pc[0].partner_admin_level == "provisioning_admin"


async def test_tr_c5_resend_keeps_the_clock_and_cancel_removes_customer(world, run_worker, env, db):
    """TR-C5: resending the consent email does not restart the 30-day clock; cancelling while
    pending removes the customer from the partner's list."""
    async with run_worker():
        org, h = await _pending(world, admin_email="boss@existing.test")
        before = (await h.query(TrialLifecycle.status)).consent_deadline_at
        await env.sleep(timedelta(days=10))
        await h.signal(TrialLifecycle.resend_consent, ResendConsent())
        st = await until(h, _has("consent_request", 2))
        assert st.consent_deadline_at == before
        sent = await notices(db, tid(h), "consent_request")
        assert [n.recipient for n in sent] == ["boss@existing.test"] * 2
        assert len({n.key for n in sent}) == 2
        await h.signal(TrialLifecycle.cancel, CancelRequest(by="partner", reason="wrong org"))
        result = await h.result()
    assert result.state == "cancelled" and result.cancelled_by == "partner"
    assert await rows(db, PartnerCustomer, PartnerCustomer.customer_org_id == org) == []

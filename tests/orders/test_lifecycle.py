"""SO-1, SO-2 and PX-5: the order's calendar, on the time-skipping server (days in
milliseconds) against real PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import parse_qs, urlparse

from models.orders.rules import read_setup_token
from models.orders.store import setup_token_key
from tests.orders.conftest import refused
from workflows.orders.workflow import SubscriptionOrder


def _token(body: str) -> str:
    link = next(w for w in body.split() if w.startswith("http"))
    return parse_qs(urlparse(link).query)["token"][0]


async def test_so_1_provisioning_email_goes_on_the_start_date_with_a_signed_link(orders):
    """SO-1: nothing before the requested start date; on it, one email to the contact
    ("Provisioning information required for order ...") whose link carries a signed token
    that expires when PX-5 would close the order."""
    h = await orders.accept(requested_start_date=date.today() + timedelta(days=3))
    oid = h.id.removeprefix("order-")
    st = await orders.until(h, lambda s: s.next_deadline_kind == "provisioning_email")
    assert st.state == "scheduled"
    assert (await orders.row(oid)).state == "scheduled"
    await orders.skip(2)
    assert await orders.notices(oid) == []
    await orders.skip(1.5)
    st = await orders.until(h, lambda s: s.state == "awaiting_setup")
    [mail] = await orders.notices(oid, "order_provisioning")
    assert mail.recipient == "setup@acme.test"
    assert mail.subject == f"Provisioning information required for order {oid}"
    assert mail.sent_at is not None
    row = await orders.row(oid)
    assert row.state == "awaiting_setup" and row.email_sent_at is not None
    assert row.close_at == row.email_sent_at + timedelta(days=30)  # PX-5, A-WX
    token = _token(mail.body)
    assert read_setup_token(setup_token_key(), token, row.email_sent_at) == (oid, 0)
    assert st.close_at == row.close_at


async def test_so_2_alerts_the_rep_once_the_day_after(orders):
    """SO-2: set-up not started the day after: the account representative is alerted, once."""
    h = await orders.accept()
    oid = h.id.removeprefix("order-")
    await orders.until(h, lambda s: s.state == "awaiting_setup")
    assert await orders.notices(oid, "order_rep_alert") == []
    await orders.skip(1.2)
    st = await orders.until(h, lambda s: s.rep_alerted_at is not None)
    await orders.skip(5)
    await orders.until(h, lambda s: s.next_deadline_kind == "close")
    alerts = await orders.notices(oid, "order_rep_alert")
    assert [(n.recipient, n.sent_at is not None) for n in alerts] == [("rep@cisco.test", True)]
    assert st.state == "awaiting_setup"
    assert (await orders.row(oid)).rep_alerted_at is not None


async def test_so_2_no_alert_once_setup_started(orders):
    """SO-2: a contact who opened the set-up link in time spares the alert."""
    h = await orders.ready()
    oid = h.id.removeprefix("order-")
    st = await orders.status(h)
    assert st.state == "setup_in_progress" and st.next_deadline_kind == "close"
    await orders.skip(3)
    assert await orders.notices(oid, "order_rep_alert") == []
    assert (await orders.row(oid)).state == "setup_in_progress"


async def test_px_5_flex_order_closes_after_7_days_and_the_partner_is_told(orders):
    """PX-5: an A-FLEX order not provisioned 7 days after the email closes; every admin of
    the partner is told, once; the workflow ends."""
    h = await orders.accept(offer="A-FLEX")
    oid = h.id.removeprefix("order-")
    st = await orders.until(h, lambda s: s.state == "awaiting_setup")
    assert st.close_at == st.email_sent_at + timedelta(days=7)
    await orders.skip(6.5)
    assert (await orders.status(h)).state == "awaiting_setup"
    await orders.skip(1)
    result = await h.result()
    assert result.state == "closed"
    closed = await orders.notices(oid, "order_closed")
    assert sorted(n.recipient for n in closed) == ["full@acme.test", "sales@acme.test"]
    assert all(n.sent_at for n in closed)
    row = await orders.row(oid)
    assert row.state == "closed" and row.closed_at is not None and row.next_deadline_at is None


async def test_px_5_other_offers_close_after_30_days(orders):
    """PX-5: A-WX (not A-FLEX) has 30 days; still open on day 8, closed on day 30."""
    h = await orders.ready(offer="A-SPK")
    await orders.skip(8)
    assert (await orders.status(h)).state == "setup_in_progress"
    await orders.skip(23)
    assert (await h.result()).state == "closed"


async def test_px_5_contact_start_date_and_resend_until_mapped_then_refused(orders):
    """PX-5: before mapping, the contact changes (the new contact gets a fresh link; the old
    link's version no longer matches), the email is re-sent (the clock does not restart),
    the start date moves; once mapped, all three are refused naming PX-5."""
    h = await orders.accept()
    oid = h.id.removeprefix("order-")
    st = await orders.until(h, lambda s: s.state == "awaiting_setup")
    first_close = st.close_at
    await h.execute_update(SubscriptionOrder.change_contact, {"email": "Other@Acme.test"})
    await h.execute_update(SubscriptionOrder.resend, {})
    mails = await orders.notices(oid, "order_provisioning")
    assert [m.recipient for m in mails] == ["setup@acme.test", "other@acme.test", "other@acme.test"]
    row = await orders.row(oid)
    assert row.contact_email == "other@acme.test" and row.contact_version == 1
    assert row.close_at == first_close  # resend and contact change keep PX-5's clock
    assert read_setup_token(setup_token_key(), _token(mails[-1].body), row.created_at)[1] == 1

    later = date.today() + timedelta(days=2)
    r = await h.execute_update(
        SubscriptionOrder.change_start_date, {"requested_start_date": later.isoformat()}
    )
    assert r.state == "scheduled"
    row = await orders.row(oid)
    assert row.requested_start_date == later and row.close_at is None
    with refused("SO-1", "requested_start_date"):
        await h.execute_update(
            SubscriptionOrder.change_start_date,
            {"requested_start_date": (date.today() - timedelta(days=1)).isoformat()},
        )
    with refused("SO-1", "email"):
        await h.execute_update(SubscriptionOrder.change_contact, {"email": "not-an-email"})

    await orders.skip(2.5)
    await orders.until(h, lambda s: s.state == "awaiting_setup")
    assert len(await orders.notices(oid, "order_provisioning")) == 4
    await h.execute_update(SubscriptionOrder.begin_setup, {})
    answers = {**orders.answers_for(), "provision_and_start_billing": False}
    answers["services"] = {"meetings": {"setup": "later"}, "calling": {"setup": "later"}}
    assert (await orders.commit(h, **answers)).state == "mapped"
    for update, arg, field in (
        (SubscriptionOrder.change_contact, {"email": "x@acme.test"}, "contact"),
        (SubscriptionOrder.resend, {}, "state"),
        (
            SubscriptionOrder.change_start_date,
            {"requested_start_date": later.isoformat()},
            "requested_start_date",
        ),
    ):
        with refused("PX-5", field):
            await h.execute_update(update, arg)
    assert (await orders.row(oid)).contact_email == "other@acme.test"


async def test_px_5_cancel_tells_the_partner_and_ends(orders):
    h = await orders.accept(requested_start_date=date.today() + timedelta(days=5))
    oid = h.id.removeprefix("order-")
    r = await h.execute_update(SubscriptionOrder.cancel, {"reason": "customer withdrew"})
    assert r.state == "cancelled"
    assert (await h.result()).state == "cancelled"
    assert len(await orders.notices(oid, "order_cancelled")) == 2
    assert await orders.notices(oid, "order_provisioning") == []
    assert (await orders.row(oid)).cancel_reason == "customer withdrew"

"""Records order histories for the replay guard (tests/test_replay.py replays every
tests/histories/*.json against the current workflow code). Run with
``RECORD_HISTORIES=1 pytest tests/orders/test_record_history.py``; an existing file is never
overwritten (a history recorded from older code is the guard itself)."""

from __future__ import annotations

import os

import pytest
from temporalio.client import WorkflowUpdateFailedError

from tests.orders.conftest import Orders
from tests.test_replay import save_history
from workflows.orders.workflow import SubscriptionOrder


@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="set RECORD_HISTORIES=1")
async def test_record_order_histories(orders: Orders) -> None:
    """Provisioned (SO-1 email, PX-5 contact change and resend, SO-3 steps, a refused
    commit, SO-10 with calling left for later, SO-13 resumed); closed unprovisioned after the
    SO-2 alert by PX-5 (A-FLEX, 7 days)."""
    h = await orders.accept()
    await orders.until(h, lambda s: s.state == "awaiting_setup")
    await h.execute_update(SubscriptionOrder.change_contact, {"email": "other@acme.test"})
    await h.execute_update(SubscriptionOrder.resend, {})
    await h.execute_update(SubscriptionOrder.begin_setup, {})
    await orders.step(h, "who", who="me")
    await orders.step(h, "partner-org", who="me", purpose="customer")
    answers = orders.answers_for()
    bad = {**answers, "services": {**answers["services"], "subdomain": "Not Valid"}}
    with pytest.raises(WorkflowUpdateFailedError):  # SO-8: the history keeps the refusal
        await orders.commit(h, **bad)
    answers["services"] = {**answers["services"], "calling": {"setup": "later"}}
    assert (await orders.commit(h, **answers)).state == "provisioned"
    await h.execute_update(
        SubscriptionOrder.setup_services,
        {"services": {"calling": {"location_name": "HQ", "country": "DE"}}},
    )
    assert (await h.result()).state == "provisioned"
    await save_history("order_provisioned_calling_later_resumed", h)

    h = await orders.accept(offer="A-FLEX")
    await orders.until(h, lambda s: s.state == "awaiting_setup")
    await orders.skip(1.5)
    await orders.until(h, lambda s: s.rep_alerted_at is not None)
    await orders.skip(6)
    assert (await h.result()).state == "closed"
    await save_history("order_flex_rep_alerted_then_closed_px5", h)

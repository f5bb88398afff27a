"""No payload can wedge an order: malformed updates are refused naming rule and field;
unknown signals are recorded where an operator sees them (status and current details)."""

from __future__ import annotations

from tests.orders.conftest import Orders, refused
from workflows.orders.workflow import SubscriptionOrder


async def test_px_5_malformed_commands_are_refused_and_the_order_keeps_running(orders: Orders):
    h = await orders.ready()
    with refused("PX-5", "email"):
        await h.execute_update(SubscriptionOrder.change_contact, {"email": 5})
    with refused("PX-5", "input"):
        await h.execute_update("change_contact", args=[{"email": "a@b.test"}, {"x": 1}])
    with refused("SO-3", "step"):
        await h.execute_update(SubscriptionOrder.check_setup, {"step": "payment"})
    with refused("SO-3", "who"):
        await h.execute_update(SubscriptionOrder.commit_setup, {"who": "nobody"})
    await h.signal("make_it_so", {"garbage": True})
    st = await orders.until(h, lambda s: bool(s.rejected))
    assert st.rejected[0].startswith("make_it_so:")
    assert st.state == "setup_in_progress"
    r = await h.execute_update(SubscriptionOrder.commit_setup, orders.answers_for())
    assert r.state == "provisioned"

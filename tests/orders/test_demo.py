"""`lifecycles demo orders` on the time-skipping server: every path reaches its end."""

from __future__ import annotations

from models.trials.tables import Trial
from scripts.orders_demo import run_demo, skip
from tests.orders.conftest import Orders


async def test_demo_walks_every_order_path(orders: Orders) -> None:
    """Provisioned (SO-10), closed after the SO-2 alert (PX-5), cancelled, contact changed
    and resent then provisioned with calling resumed (PX-5, SO-13), a trial converted
    (TR-V1); each workflow's Temporal UI page printed."""
    lines: list[str] = []
    finals = await run_demo(
        orders.env.client,
        orders.db,
        orders.settings,
        task_queue=orders.task_queue,
        sleep=skip(orders.env.sleep),
        echo=lines.append,
    )
    assert {path: st.state for path, st in finals.items()} == {
        "closed": "closed",
        "cancelled": "cancelled",
        "provisioned": "provisioned",
        "contact_resend": "provisioned",
        "trial": "provisioned",
    }
    assert finals["closed"].rep_alerted_at is not None
    assert finals["cancelled"].email_sent_at is None
    contact = finals["contact_resend"]
    assert contact.deferred_services == []
    sent = [n for n in contact.notices if n.kind == "order_provisioning"]
    assert len(sent) == 3 and sent[-1].recipient.startswith("it.lead@")
    assert finals["trial"].trial_converted
    [trial] = await orders.rows(Trial, Trial.id == finals["trial"].trial_id)
    assert trial.state == "converted"
    urls = [ln for ln in lines if "http://127.0.0.1:8233/namespaces/default/workflows/" in ln]
    assert len(urls) == 6  # five orders and the trial
    assert any("(SO-13)" in ln for ln in lines) and any("(SO-2)" in ln for ln in lines)

"""Records histories of the one-activity-per-step trial (patch ``trial-one-activity-per-step``)
into tests/histories/ for tests/test_replay.py:

    RECORD_HISTORIES=1 pytest tests/trials/test_record_history.py

A history already there is never overwritten (it is the guard against later changes)."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

import pytest

from activities.common import Deps
from models.trials.contract import (
    AcceptConsent,
    CancelRequest,
    ConvertRequest,
    ExtendRequest,
    NewCustomer,
    ProvisionRequest,
)
from tests.test_replay import save_history
from tests.trials.helpers import until
from tests.trials.test_messages import _Mailer
from workers.worker import build_worker
from workflows.trials.workflow import TrialLifecycle

DAY = timedelta(days=1)

pytestmark = pytest.mark.skipif(
    not os.environ.get("RECORD_HISTORIES"), reason="set RECORD_HISTORIES=1"
)


async def test_record_one_step_trial_histories(world, env, db, task_queue) -> None:
    """Migrated with numbers released; consent given, extended, converted in grace;
    cancelled while active; provisioned by an update sent with the start; a T-7 step
    that failed for good, then the operator's retry."""
    mailer = _Mailer()
    async with build_worker(env.client, Deps(db=db, mailer=mailer), task_queue=task_queue):
        h = await world.start(
            setup="now",
            customer=NewCustomer(
                company_name="Rec Co",
                admin_email="a@rec.test",
                vertical="retail",
                country="US",
                numbers=["+15550008888"],
            ),
        )
        await h.result()
        await save_history("trial_v2_migrated_numbers_released", h)

        org = await world.org(name="Other", admins=[("x@other.test", "full")], users=[])
        h = await world.start(org_id=org, customer=None, services=["messaging"], setup="now")
        await until(h, lambda s: s.state == "pending_consent" and bool(s.notices))
        await h.execute_update(
            TrialLifecycle.give_consent,
            AcceptConsent(accepted_by="x@other.test", grant_full_admin=True),
        )
        await h.execute_update(TrialLifecycle.extend, ExtendRequest(days=45))
        await env.sleep(50 * DAY)
        await until(h, lambda s: s.state == "grace")
        await h.execute_update(
            TrialLifecycle.convert,
            ConvertRequest(order_id="SO-2", provisioning_contact_email="x@other.test"),
        )
        await h.result()
        await save_history("trial_v2_consent_extend_convert_in_grace", h)

        h = await world.start(
            setup="now",
            customer=NewCustomer(
                company_name="Cancel Co",
                admin_email="a@cancel2.test",
                vertical="retail",
                country="US",
                numbers=["+15550008889"],
            ),
        )
        await until(h, lambda s: s.state == "active")
        await h.signal(TrialLifecycle.cancel, CancelRequest(by="customer", reason="too dear"))
        await h.result()
        await save_history("trial_v2_cancelled_with_calling", h)

        h = await world.start(
            setup="now",
            days=30,
            customer=NewCustomer(
                company_name="Err Co", admin_email="a@err.test", vertical="it", country="US"
            ),
        )
        await until(h, lambda s: s.state == "active" and bool(s.notices))
        mailer.down = True
        await env.sleep(23 * DAY + timedelta(hours=1))
        await until(h, lambda s: s.state == "error")
        mailer.down = False
        await h.execute_update(TrialLifecycle.retry)
        await until(h, lambda s: any(n.kind == "expiry_t_minus_7" for n in s.notices))
        await h.signal(TrialLifecycle.cancel, CancelRequest(by="partner"))
        await h.result()
        await save_history("trial_v2_error_retry_cancelled", h)

    h = await world.start(setup="later", services=["messaging"])  # no worker yet
    update = asyncio.create_task(h.execute_update(TrialLifecycle.provision, ProvisionRequest()))
    await asyncio.sleep(0.5)
    async with build_worker(env.client, Deps(db=db, mailer=mailer), task_queue=task_queue):
        await update
        await h.signal(TrialLifecycle.cancel, CancelRequest(by="partner"))
        await h.result()
    await save_history("trial_v2_provision_raced_the_opening", h)

"""On the real dev server: an operator finds "all trials of partner P in grace" with one
visibility query over the shared search attributes, which hold no personal data."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from activities.common import Deps
from models.trials.contract import NewCustomer
from tests.conftest import TrialWorld
from tests.trials.helpers import until
from workers.settings import Settings
from workers.worker import build_worker


@pytest.mark.devserver
async def test_operator_finds_trials_of_a_partner_in_grace(dev_env, db, mailer):
    """TR-E2 in the UI: `PartnerOrgId = P AND LifecycleState = "grace"` lists exactly the
    partner's trials in grace; ids and attributes carry no email or name."""
    queue = f"tq-{uuid.uuid4().hex[:8]}"
    world = await TrialWorld(dev_env, db, queue).setup()
    fast = Settings(day_seconds=0.05, trial_grace_days=2000)  # 1 day = 50 ms; grace ~100 s
    async with build_worker(dev_env.client, Deps(db=db, mailer=mailer), task_queue=queue):
        in_grace = await world.start(
            settings=fast,
            setup="now",
            days=1,
            customer=NewCustomer(
                company_name="Grace Co", admin_email="a@grace.test", vertical="retail", country="US"
            ),
        )
        active = await world.start(setup="now", days=30)
        await until(in_grace, lambda s: s.state == "grace")
        await until(active, lambda s: s.state == "active")
        query = f'PartnerOrgId = "{world.partner_id}" AND LifecycleState = "grace"'
        for _ in range(100):
            found = [w async for w in dev_env.client.list_workflows(query)]
            if found:
                break
            await asyncio.sleep(0.1)
        assert [w.id for w in found] == [in_grace.id]
        attrs = found[0].typed_search_attributes
        values = [str(p.value) for p in attrs]
        assert all("@" not in v and "Grace Co" not in v for v in values)
        assert "@" not in in_grace.id
        desc = await in_grace.describe()
        assert "messaging" in (await desc.static_summary() or "")
        for h in (in_grace, active):
            await h.terminate("test finished")

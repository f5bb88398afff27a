"""TR-D1, TR-D3, TR-D4: extension, service changes and cancellation of a running trial."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

from models.trials.contract import CancelRequest, ChangeServicesRequest, ExtendRequest
from tests.trials.helpers import (
    License,
    PhoneNumber,
    notices,
    recipients,
    refused,
    rows,
    tid,
    trial_row,
    until,
)
from workflows import search_attributes as sa
from workflows.trials.workflow import TrialLifecycle

DAY = timedelta(days=1)


async def _active(world, **kw):
    h = await world.start(setup="now", **kw)
    st = await until(
        h, lambda s: s.state == "active" and any(n.kind == "welcome" for n in s.notices)
    )
    return h, st


async def test_tr_d1_extension_is_today_plus_duration_not_added(world, run_worker, env):
    """TR-D1: 65 days left, extend by 30 today: 30 days left, not 95 — and it needs force,
    because that shortens the trial; without force it is refused and nothing changes."""
    async with run_worker():
        h, st = await _active(world, days=90)
        await env.sleep(25 * DAY)
        with refused("TR-D1", "days"):
            await h.execute_update(TrialLifecycle.extend, ExtendRequest(days=30))
        assert (await h.query(TrialLifecycle.status)).ends_at == st.ends_at
        r = await h.execute_update(TrialLifecycle.extend, ExtendRequest(days=30, force=True))
        now = st.activated_at + 25 * DAY
        assert abs(r.ends_at - (now + 30 * DAY)) < timedelta(minutes=1)
        r = await h.execute_update(TrialLifecycle.extend, ExtendRequest(days=60))
        assert abs(r.ends_at - (now + 60 * DAY)) < timedelta(minutes=1)
        with refused("TR-D1", "days"):  # the longest duration is a policy setting (90)
            await h.execute_update(TrialLifecycle.extend, ExtendRequest(days=91))


async def test_tr_d1_extended_before_t7_moves_the_notice(world, run_worker, env, db):
    """TR-D1 with TR-E1: a trial extended before T-7 gets no notice at the old T-7, one at the
    new T-7, and each notice exactly once."""
    async with run_worker():
        h, _st = await _active(world, days=30)
        await env.sleep(10 * DAY)
        r = await h.execute_update(TrialLifecycle.extend, ExtendRequest(days=60))
        await env.sleep(15 * DAY)  # day 25: past the old T-7 (day 23)
        assert await notices(db, tid(h), "expiry_t_minus_7") == []
        new_end = r.ends_at
        result = await h.result()
    t7 = await notices(db, tid(h), "expiry_t_minus_7")
    assert {n.due_at for n in t7} == {new_end - 7 * DAY}
    assert all(c == 1 for c in (await recipients(db, tid(h), "expiry_t_minus_7")).values())
    assert result.ends_at == new_end


async def _next_deadline_attrs(env, h) -> tuple[str | None, datetime | None]:
    """NextDeadlineKind and NextDeadlineAt as the server holds them (the raw description:
    the SDK's typed one cannot decode the time-skipping server's datetimes)."""
    desc = await env.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=env.client.namespace, execution=WorkflowExecution(workflow_id=h.id)
        )
    )
    fields = desc.workflow_execution_info.search_attributes.indexed_fields
    kind = fields.get(sa.NEXT_DEADLINE_KIND.name)
    at = fields.get(sa.NEXT_DEADLINE_AT.name)
    return (
        json.loads(kind.data) if kind and kind.data else None,
        datetime.fromisoformat(json.loads(at.data)) if at and at.data else None,
    )


async def _attrs_say(env, h, kind: str, at: datetime) -> None:
    """Until the search attributes say ``kind`` at ``at`` (upserted by the workflow task
    after the change; a bound, not a timing)."""
    got = await _next_deadline_attrs(env, h)
    for _ in range(300):
        if got[0] == kind and got[1] is not None and abs(got[1] - at) < timedelta(seconds=1):
            return
        await asyncio.sleep(0.05)
        got = await _next_deadline_attrs(env, h)
    raise AssertionError(f"search attributes say {got}, not {(kind, at)}")


async def test_tr_d1_extended_trial_attributes_show_the_state_deadline_read_model_the_wake(
    world, run_worker, env, db
):
    """TR-D1 with TR-E1, and what each view means (docs/operators.md): extended to end more
    than 7 days out, the NextDeadlineKind/NextDeadlineAt search attributes show the deadline
    that ends the state (`trial_expires` at the new end: they change with the state and its
    deadline, never for a notice within it), while the `status` query and the read model
    (`lifecycles trial list`, `wakes=`) show the moment the trial next wakes, its T-7 notice
    at the new end - 7 days. The timer fires then (the notice is sent); the attributes are
    not touched by it, and the query and read model move on to `trial_expires`."""
    async with run_worker():
        h, _st = await _active(world, days=30)
        await env.sleep(10 * DAY)
        r = await h.execute_update(TrialLifecycle.extend, ExtendRequest(days=60))
        t7 = r.ends_at - 7 * DAY
        st = await h.query(TrialLifecycle.status)
        assert (st.next_deadline_kind, st.next_deadline_at) == ("expiry_t_minus_7", t7)
        row = await trial_row(db, tid(h))
        assert (row.next_deadline_kind, row.next_deadline_at) == ("expiry_t_minus_7", t7)
        await _attrs_say(env, h, "trial_expires", r.ends_at)

        await env.sleep(53 * DAY + timedelta(hours=1))  # day 63 + 1 h: just past the new T-7
        st = await until(h, lambda s: any(n.kind == "expiry_t_minus_7" for n in s.notices))
        assert {n.due_at for n in await notices(db, tid(h), "expiry_t_minus_7")} == {t7}
        assert (st.next_deadline_kind, st.next_deadline_at) == ("trial_expires", r.ends_at)
        row = await trial_row(db, tid(h))
        assert (row.next_deadline_kind, row.next_deadline_at) == ("trial_expires", r.ends_at)
        await _attrs_say(env, h, "trial_expires", r.ends_at)
        await h.terminate("test finished")


async def test_tr_d1_notice_already_sent_is_never_sent_again(world, run_worker, env, db):
    """TR-D1 with TR-E1: extended after the T-7 notice went out, the trial does not send it
    again at its new T-7; the expiry-day notice comes once, at the new end."""
    async with run_worker():
        h, st = await _active(world, days=30)
        await env.sleep(24 * DAY)
        await until(h, lambda s: any(n.kind == "expiry_t_minus_7" for n in s.notices))
        r = await h.execute_update(TrialLifecycle.extend, ExtendRequest(days=20))
        result = await h.result()
    first = await notices(db, tid(h), "expiry_t_minus_7")
    assert {n.due_at for n in first} == {st.ends_at - 7 * DAY}
    today = await notices(db, tid(h), "expiry_today")
    assert {n.due_at for n in today} == {r.ends_at}
    assert result.state == "migrated_to_free_org"


async def test_tr_d3_services_added_removed_and_licenses_edited(world, run_worker, db):
    """TR-D3: services can be added or removed and the license count edited; the org's trial
    licenses follow. Impossible changes are refused and change nothing."""
    async with run_worker():
        h, st = await _active(world, services=["messaging", "calling"], license_count=25)
        with refused("TR-D3", "add"):
            await h.execute_update(
                TrialLifecycle.change_services, ChangeServicesRequest(add=["calling"])
            )
        with refused("TR-D3", "remove"):
            await h.execute_update(
                TrialLifecycle.change_services,
                ChangeServicesRequest(remove=["messaging", "calling"]),
            )
        with refused("TR-S2", "site_url"):
            await h.execute_update(
                TrialLifecycle.change_services, ChangeServicesRequest(add=["meetings"])
            )
        r = await h.execute_update(
            TrialLifecycle.change_services,
            ChangeServicesRequest(
                add=["meetings"],
                remove=["calling"],
                license_count=50,
                site_url="newco.webex.com",
                timezone="America/Chicago",
            ),
        )
        assert r.state == "active"
        st = await h.query(TrialLifecycle.status)
    assert sorted(st.services) == ["meetings", "messaging"] and st.license_count == 50
    lic = await rows(db, License, License.org_id == st.customer_org_id)
    assert sorted((x.service, x.quantity) for x in lic) == [("meetings", 50), ("messaging", 50)]
    row = await trial_row(db, tid(h))
    assert sorted(row.services) == ["meetings", "messaging"] and row.license_count == 50


async def test_tr_d3_added_service_must_pass_tr_s6(world, run_worker):
    """TR-D3 with TR-S6: a service the customer bought cannot be added to its trial."""
    org = await world.org(paid={"meetings": 5}, managed_by=world.partner_id)
    async with run_worker():
        h = await world.start(org_id=org, customer=None, services=["calling"], setup="now")
        await until(h, lambda s: s.state == "active")
        with refused("TR-S6", "services"):
            await h.execute_update(
                TrialLifecycle.change_services,
                ChangeServicesRequest(add=["meetings"], site_url="x.webex.com", timezone="UTC"),
            )
        assert (await h.query(TrialLifecycle.status)).services == ["calling"]


async def test_tr_d4_customer_cancels_at_any_time(world, run_worker, env, db):
    """TR-D4: the customer cancels an active trial: trial licenses go, calling stops and its
    numbers are retained for the retention period, then released."""
    async with run_worker():
        h, st = await _active(
            world,
            customer=world.request().customer.model_copy(update={"numbers": ["+14155550100"]}),
        )
        await env.sleep(5 * DAY)
        await h.signal(TrialLifecycle.cancel, CancelRequest(by="customer", reason="not now"))
        mid = await until(h, lambda s: s.state == "cancelled" and s.numbers_release_at is not None)
        assert mid.cancelled_by == "customer"
        assert await rows(db, License, License.org_id == st.customer_org_id) == []
        num = (await rows(db, PhoneNumber))[0]
        assert num.state == "retained"
        result = await h.result()
    held = result.numbers_released_at - result.cancelled_at
    assert 15 * DAY <= held < 15 * DAY + timedelta(minutes=1)
    assert (await rows(db, PhoneNumber))[0].state == "released"
    assert (await trial_row(db, tid(h))).state == "cancelled"

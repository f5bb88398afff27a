"""Issue 14 P1: a full trial costs what its deadlines cost. Welcome → T-7 → T → grace →
services ended → free org → numbers released is five activities: one to open the trial and
one per deadline (T-7, T, T+30: every user told then the free org, number release), each
writing its effects and the read model in one transaction; the search attributes change
with the state only."""

from __future__ import annotations

from collections import Counter

from temporalio.api.enums.v1 import EventType

from models.trials.contract import NewCustomer
from tests.trials.helpers import notices, tid, trial_row
from workers.worker import build_worker

ACTIVITY = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
UPSERT = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
TIMER = EventType.EVENT_TYPE_TIMER_STARTED
WFT = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED


async def shape(handle) -> tuple[list[str], Counter[int], int, list[str]]:
    """(activity names in order, event counts by type, events, states published) of a
    closed workflow. The SDK's own upsert of ``TemporalChangeVersion`` (a patch marker, in
    the same workflow task) is not one of ours."""
    names, kinds, events, states = [], Counter[int](), 0, []
    async for e in handle.fetch_history_events():
        events += 1
        kinds[e.event_type] += 1
        if e.event_type == ACTIVITY:
            names.append(e.activity_task_scheduled_event_attributes.activity_type.name)
        if e.event_type == UPSERT:
            fields = e.upsert_workflow_search_attributes_event_attributes.search_attributes
            if "LifecycleState" in fields.indexed_fields:
                states.append(fields.indexed_fields["LifecycleState"].data.decode().strip('"'))
    return names, kinds, events, states


async def test_tr_e1_e5_full_trial_is_five_activities(world, env, deps, task_queue, db):
    """TR-E1..TR-E5 end to end with real timers: 5 activities (open, T-7, T, TR-E3 users
    with the grace end, numbers release; issue 14 allows 6), 4 timers, 3 search-attribute
    updates (active, grace, migrated), no activity that only records a status, no
    heartbeat for a one-batch org; the read model is the final state.
    The worker is configured as `lifecycles worker` runs (workflow modules loaded once)."""
    async with build_worker(env.client, deps, task_queue=task_queue):
        h = await world.start(
            setup="now",
            customer=NewCustomer(
                company_name="Cost Co",
                admin_email="admin@cost.test",
                vertical="retail",
                country="US",
                numbers=["+15550007000"],
            ),
        )
        result = await h.result()
    assert result.state == "migrated_to_free_org" and result.numbers_released_at is not None
    names, kinds, events, states = await shape(h)
    assert names == ["trial_step"] * 3 + ["trial_mail_users", "trial_step"]
    assert len(names) <= 6
    assert kinds[TIMER] == 4  # T-7, T, T+30 (TR-E3 and grace end together), release
    assert states == ["active", "grace", "migrated_to_free_org"]
    assert kinds[WFT] == 10  # the start, and one after each activity and each timer
    assert events <= 60  # 101 before (and no timer: the old bench's calendar fired none)
    sent = Counter(n.kind for n in await notices(db, tid(h)) if n.sent_at)
    assert sent == {"welcome": 1, "expiry_t_minus_7": 5, "expiry_today": 5, "services_ended": 1}
    row = await trial_row(db, tid(h))
    assert (row.state, row.free_org_id) == ("migrated_to_free_org", f"free-{tid(h)}")
    assert row.numbers_released_at is not None and row.next_deadline_kind is None

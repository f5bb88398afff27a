"""The SetupAssistProject workflow on the time-skipping server against real PostgreSQL:
flows decided by seats, phases and tasks, information requests with their notices, the
Standard support window, charges, one project per location."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlmodel import func, select
from temporalio.client import WorkflowUpdateFailedError

from models.billing.tables import BillingCharge
from models.common.refusal import RuleError
from models.setup_assist import rules
from models.setup_assist.contract import CompleteTask
from models.setup_assist.phases import STANDARD_PHASES
from models.setup_assist.store import charges
from models.setup_assist.tables import SetupAssistProject
from tests.setup_assist.conftest import THURSDAY, SetupAssistWorld
from workflows.setup_assist.workflow import SetupAssistProject as ProjectWorkflow

DAY = timedelta(days=1)


async def complete(
    sa: SetupAssistWorld, location: str, task_id: str, who: str, **kw: object
) -> object:
    return await sa.handle(location).execute_update(
        ProjectWorkflow.complete_task, {"task_id": task_id, "who": who, "note": "done", **kw}
    )


def refusal(err: WorkflowUpdateFailedError) -> tuple[str, str]:
    r = RuleError.from_failure(err)
    assert r is not None, err
    v = r.violations[0]
    return v.rule, v.field


@pytest.mark.parametrize(("users", "flow", "quantity"), [(5, "express", 1), (6, "standard", 6)])
async def test_wh_a1_flow_from_the_seats_the_store_knows_and_wh_a5_charge(
    sa: SetupAssistWorld, users: int, flow: str, quantity: int
) -> None:
    """WH-A1: five seats are Express, six Standard, counted from the location's subscribers.
    WH-A5: the charge is one line in billing: Express 1 per location, Standard the users."""
    inp, _ = await sa.submit(users=users)
    st = await sa.until(inp.location_id, lambda s: s.state == "in_progress")
    assert st.flow == flow and st.seats == users
    assert len(st.phases) == (2 if flow == "express" else 8)
    row = await sa.row(inp.location_id)
    assert row is not None and row.state == "in_progress" and row.flow == flow
    async with sa.db.session() as s:
        lines = await charges(s, sa.partner)
    assert [(c.quantity, c.service_name, c.day) for c in lines] == [
        (Decimal(quantity), f"SETUP_ASSIST_{flow.upper()}", THURSDAY)
    ]
    assert lines[0].customer_org_id == inp.customer_org_id
    assert lines[0].subscription_id == "Sub-1"


async def test_wh_a7_one_project_per_location(sa: SetupAssistWorld) -> None:
    """WH-A7: a second request for the same location is refused naming the rule and the
    field, and writes nothing (one row, one charge, one workflow)."""
    inp, _ = await sa.submit(users=2)
    await sa.until(inp.location_id, lambda s: s.state == "in_progress")
    from api.setup_assist.service import submit_project
    from models.setup_assist.store import Scope

    req = sa.request(inp.customer_org_id, inp.location_id, completion_date=date(2026, 3, 27))
    with pytest.raises(RuleError) as err:
        await submit_project(
            sa.env.client,
            sa.db,
            sa.settings.setup_assist_policy(),
            req,
            Scope(sa.partner),
            task_queue=sa.task_queue,
            today=THURSDAY,
        )
    v = err.value.violations[0]
    assert (v.rule, v.field, v.status) == ("WH-A7", "location_id", 409)
    async with sa.db.session() as s:
        assert (await s.exec(select(func.count()).select_from(SetupAssistProject))).one() == 1
        assert (await s.exec(select(func.count()).select_from(BillingCharge))).one() == 1
    row = await sa.row(inp.location_id)
    assert row is not None and row.completion_date == date(2026, 3, 20)


async def test_wh_a3_express_phases_tasks_owed_and_wh_a6_one_hour_call(
    sa: SetupAssistWorld,
) -> None:
    """WH-A3: the Express flow's two phases; a task is completed by the one who owes it,
    only in its phase; the project shows what is open and who owes it. WH-A6: the customer
    call is at most one hour. The last task closes the project."""
    inp, h = await sa.submit(users=3)
    st = await sa.until(inp.location_id, lambda s: s.state == "in_progress")
    assert st.current_phase == 1
    assert {t.id: t.owner for t in st.open_tasks} == {
        "1.c1": "cisco",
        "1.p1": "partner",
        "1.p2": "partner",
        "1.p3": "partner",
    }
    assert st.owed_by == ["cisco", "partner"]

    for task, who, want in (
        ("2.c2", "cisco", ("WH-A3", "task_id")),  # phase 2 has not started
        ("1.c1", "partner", ("WH-A3", "who")),  # owed by Cisco
        ("9.c1", "cisco", ("WH-A3", "task_id")),  # no such task
    ):
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await complete(sa, inp.location_id, task, who)
        assert refusal(err.value) == want
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await h.execute_update(ProjectWorkflow.complete_task, {"task_id": "1.c1", "who": "cisco"})
    assert refusal(err.value) == ("WH-A3", "note")  # a note is required

    await complete(sa, inp.location_id, "1.c1", "cisco")
    for t in ("1.p1", "1.p2"):
        await complete(sa, inp.location_id, t, "partner")
    st = await sa.status(inp.location_id)
    assert st.current_phase == 1 and [t.id for t in st.open_tasks] == ["1.p3"]
    assert st.owed_by == ["partner"]
    await complete(sa, inp.location_id, "1.p3", "partner")
    st = await sa.status(inp.location_id)
    assert st.current_phase == 2 and st.phases[0].ended_on == THURSDAY
    row = await sa.row(inp.location_id)
    assert row is not None and row.current_phase == 2 and row.owed_by == ["cisco", "partner"]

    with pytest.raises(WorkflowUpdateFailedError) as err:  # WH-A6
        await complete(sa, inp.location_id, "2.c1", "cisco", call_minutes=61)
    assert refusal(err.value) == ("WH-A6", "call_minutes")
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await complete(sa, inp.location_id, "2.c1", "cisco")
    assert refusal(err.value) == ("WH-A6", "call_minutes")
    await complete(sa, inp.location_id, "2.c1", "cisco", call_minutes=60)
    for t in ("2.c2", "2.c3", "2.c4", "2.c5"):
        await complete(sa, inp.location_id, t, "cisco")
    await complete(sa, inp.location_id, "2.p1", "partner")
    final = await h.result()
    assert final.state == "closed" and final.closed_on == THURSDAY
    assert final.phases[1].tasks[0].call_minutes == 60
    row = await sa.row(inp.location_id)
    assert row is not None and row.state == "closed" and row.owed_by == []


async def test_wh_a4_reminder_on_the_due_day_escalation_after_each_once(
    sa: SetupAssistWorld,
) -> None:
    """WH-A4: asked Thursday 5 March (US), due Monday 9 March (two business days). Nothing
    before the due day; the reminder on it, to the partner's admins; the escalation the day
    after, to them and the Setup Assist team; each exactly once, however long it waits."""
    inp, h = await sa.submit(users=2)
    await sa.until(inp.location_id, lambda s: s.state == "in_progress")
    result = await h.execute_update(
        ProjectWorkflow.request_information, {"topic": "existing dial plan"}
    )
    assert result.number == 1 and result.due_on == date(2026, 3, 9)
    st = await sa.status(inp.location_id)
    assert st.next_deadline_kind == "info_reminder"
    assert st.owed_by == ["cisco", "partner"]
    reminder_at = st.next_deadline_at
    assert reminder_at is not None

    start = await sa.env.get_current_time()
    await sa.env.sleep(reminder_at - start - timedelta(minutes=5))
    assert await sa.notices("setup_assist_info_reminder") == []
    await sa.env.sleep(timedelta(minutes=10))
    st = await sa.until(inp.location_id, lambda s: s.next_deadline_kind == "info_escalation")
    assert st.today == date(2026, 3, 9)
    reminders = await sa.notices("setup_assist_info_reminder")
    assert [n.recipient for n in reminders] == ["admin@sp.test", "ops@sp.test"]
    assert all(n.sent_at is not None for n in reminders)
    assert st.next_deadline_at is not None and st.next_deadline_at - reminder_at == DAY

    await sa.env.sleep(DAY + timedelta(minutes=10))
    st = await sa.until(inp.location_id, lambda s: s.info_requests[0].escalated_at is not None)
    assert st.next_deadline_kind is None
    await sa.env.sleep(10 * DAY)
    escalations = await sa.notices("setup_assist_info_escalation")
    assert sorted(n.recipient for n in escalations) == [
        "admin@sp.test",
        "ops@sp.test",
        "setup-assist@localhost",
    ]
    assert len(await sa.notices("setup_assist_info_reminder")) == 2

    answered = await h.execute_update(
        ProjectWorkflow.answer_information, {"number": 1, "note": "attached"}
    )
    assert answered.message == "request 1 answered late"
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await h.execute_update(ProjectWorkflow.answer_information, {"number": 1, "note": "x"})
    assert refusal(err.value) == ("WH-A4", "number")
    st = await sa.status(inp.location_id)
    assert st.owed_by == ["cisco", "partner"]  # phase 1 tasks, no information owed


async def test_wh_a4_answered_in_time_sends_nothing(sa: SetupAssistWorld) -> None:
    """WH-A4: information given before its due day: no reminder, no escalation."""
    inp, h = await sa.submit(users=2)
    await sa.until(inp.location_id, lambda s: s.state == "in_progress")
    await h.execute_update(ProjectWorkflow.request_information, {"topic": "site list"})
    await sa.env.sleep(DAY)
    await h.execute_update(ProjectWorkflow.answer_information, {"number": 1, "note": "sent"})
    await sa.env.sleep(10 * DAY)
    st = await sa.status(inp.location_id)
    assert st.info_requests[0].answered_on == date(2026, 3, 6)
    assert st.next_deadline_kind is None
    assert await sa.notices("setup_assist_info_reminder") == []
    assert await sa.notices("setup_assist_info_escalation") == []


async def test_wh_a6_standard_support_five_business_days_then_notice_and_hand_off(
    sa: SetupAssistWorld,
) -> None:
    """WH-A6: Standard. Migrated (phase 6 done) Thursday 5 March (US): support runs five
    business days, through Thursday 12 March; when it ends the end-of-migration notice is
    sent once, and the operational hand-off's last task closes the project."""
    inp, h = await sa.submit(users=8)
    await sa.until(inp.location_id, lambda s: s.state == "in_progress")
    for ph in STANDARD_PHASES[:6]:
        for t in ph.tasks:
            await complete(sa, inp.location_id, t.id, t.owner)
    st = await sa.status(inp.location_id)
    assert st.state == "support" and st.current_phase == 7
    assert st.migration_date == THURSDAY
    assert st.support_ends_on == date(2026, 3, 12)
    assert st.next_deadline_kind == "support_ends"
    cal = inp.calendar.rules()
    assert rules.business_days_between(cal, THURSDAY, date(2026, 3, 12)) == 5
    assert {t.owner for t in st.open_tasks} == {"cisco", "partner"}
    end_at = st.next_deadline_at
    assert end_at is not None
    await complete(sa, inp.location_id, "7.p1", "partner")  # a support task done early

    now = await sa.env.get_current_time()
    await sa.env.sleep(end_at - now - timedelta(minutes=5))
    assert (await sa.status(inp.location_id)).state == "support"
    assert await sa.notices("setup_assist_end_of_migration") == []
    await sa.env.sleep(timedelta(minutes=10))
    st = await sa.until(inp.location_id, lambda s: s.state == "hand_off")
    assert st.today == date(2026, 3, 13)
    assert st.phases[6].ended_on == date(2026, 3, 13)
    assert all(t.done_on for t in st.phases[6].tasks)
    assert [t.id for t in st.open_tasks] == ["8.c1", "8.c3"]
    notices = await sa.notices("setup_assist_end_of_migration")
    assert [n.recipient for n in notices] == ["admin@sp.test", "ops@sp.test"]

    with pytest.raises(WorkflowUpdateFailedError) as err:
        await complete(sa, inp.location_id, "8.c2", "cisco")
    assert refusal(err.value)[1] == "task_id"
    await complete(sa, inp.location_id, "8.c1", "cisco")
    await complete(sa, inp.location_id, "8.c3", "cisco")
    final = await h.result()
    assert final.state == "closed" and final.closed_on == date(2026, 3, 13)
    assert len(await sa.notices("setup_assist_end_of_migration")) == 2


async def test_bad_update_payloads_are_refused_naming_rule_and_field(
    sa: SetupAssistWorld,
) -> None:
    """No input, two inputs, a string for a number, an unknown field: refused with rule and
    field, the project unchanged."""
    inp, h = await sa.submit(users=2)
    await sa.until(inp.location_id, lambda s: s.state == "in_progress")
    before = await sa.status(inp.location_id)
    cases = [
        (ProjectWorkflow.complete_task, [], ("WH-A3", "task_id")),
        (ProjectWorkflow.complete_task, [{"task_id": "1.c1"}, {}], ("WH-A3", "input")),
        (ProjectWorkflow.answer_information, [{"number": "1", "note": "x"}], ("WH-A4", "number")),
        (ProjectWorkflow.request_information, [{"topic": "x", "due": 3}], ("WH-A4", "due")),
    ]
    for update, args, want in cases:
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h.execute_update(update, args=args)
        assert refusal(err.value) == want
    typed = CompleteTask(task_id="1.c1", who="cisco", note="typed caller")
    await h.execute_update(ProjectWorkflow.complete_task, typed)
    after = await sa.status(inp.location_id)
    assert len(after.open_tasks) == len(before.open_tasks) - 1

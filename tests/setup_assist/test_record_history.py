"""Records Setup Assist histories for the replay guard (tests/test_replay.py)."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from models.setup_assist.phases import EXPRESS_PHASES, STANDARD_PHASES
from tests.setup_assist.conftest import SetupAssistWorld
from tests.test_replay import save_history
from workflows.setup_assist.workflow import SetupAssistProject as ProjectWorkflow

DAY = timedelta(days=1)


async def _complete(sa: SetupAssistWorld, location: str, phases, minutes: int = 45) -> None:
    h = sa.handle(location)
    for ph in phases:
        for t in ph.tasks:
            if t.kind == "end_of_migration_notice":
                continue
            extra = {"call_minutes": minutes} if t.kind == "customer_call" else {}
            await h.execute_update(
                ProjectWorkflow.complete_task,
                {"task_id": t.id, "who": t.owner, "note": "done", **extra},
            )


@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="set RECORD_HISTORIES=1")
async def test_record_setup_assist_histories(sa: SetupAssistWorld) -> None:
    """Express: a refused 90-minute call, then closed. Standard: information requested,
    reminded and escalated, answered late; phases 1-6; support ends on its timer with the
    end-of-migration notice; the hand-off closes it."""
    inp, h = await sa.submit(users=3)
    with pytest.raises(WorkflowUpdateFailedError):
        await h.execute_update(
            ProjectWorkflow.complete_task,
            {"task_id": "2.c1", "who": "cisco", "note": "x", "call_minutes": 90},
        )
    await _complete(sa, inp.location_id, EXPRESS_PHASES)
    await h.result()
    await save_history("setup_assist_express_closed", h)

    inp, h = await sa.submit(users=9)
    await h.execute_update(ProjectWorkflow.request_information, {"topic": "numbers to port"})
    await sa.env.sleep(5 * DAY)
    await sa.until(inp.location_id, lambda s: s.info_requests[0].escalated_at is not None)
    await h.execute_update(ProjectWorkflow.answer_information, {"number": 1, "note": "sent"})
    await _complete(sa, inp.location_id, STANDARD_PHASES[:6])
    await sa.env.sleep(10 * DAY)
    await sa.until(inp.location_id, lambda s: s.state == "hand_off")
    await _complete(sa, inp.location_id, STANDARD_PHASES[7:])
    final = await h.result()
    assert final.state == "closed"
    await save_history("setup_assist_standard_info_escalated_support_closed", h)

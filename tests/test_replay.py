"""Determinism guard: recorded histories of real runs replay against the current code.

A change to a workflow that would break lifecycles already running (different commands for
the same history) fails here; such a change must go through ``workflow.patched``. Each
lifecycle records its paths in ``tests/<lifecycle>/test_record_history.py`` (run with
``RECORD_HISTORIES=1``) through ``save_history``. The histories of code that no longer runs
(the first trial and device shapes, before their patches) are kept as recorded: no recorder
could make them again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workers.registry import WORKFLOWS
from workers.worker import sandbox_runner

HISTORIES = Path(__file__).parent / "histories"
# Recording never overwrites: a history recorded from older code is the guard itself
# (trial_devices_converted.json predates the `device-policy-in-trial-input` patch).


def _histories() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


@pytest.mark.parametrize("path", _histories(), ids=lambda p: p.stem)
async def test_recorded_history_replays_on_current_code(path: Path) -> None:
    """Every recorded lifecycle replays without a non-determinism error."""
    from temporalio.client import WorkflowHistory

    data = json.loads(path.read_text())
    history = WorkflowHistory.from_json(data["workflow_id"], data["history"])
    replayer = Replayer(
        workflows=list(WORKFLOWS),
        data_converter=pydantic_data_converter,
        workflow_runner=sandbox_runner(),
    )
    await replayer.replay_workflow(history)


def test_histories_are_recorded() -> None:
    assert len(_histories()) >= 5


async def save_history(name: str, handle: WorkflowHandle) -> None:
    history = await handle.fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    if (HISTORIES / f"{name}.json").exists():
        return
    (HISTORIES / f"{name}.json").write_text(
        json.dumps({"workflow_id": handle.id, "history": json.loads(history.to_json())}, indent=1)
    )

"""The trial benchmark (scripts/bench_trials.py) runs end to end on a tiny N.

It starts its own dev server, PostgreSQL and worker processes (about 10 s); nothing here
looks at a timing, only at what the benchmark reports and checks."""

from __future__ import annotations

import asyncio

import pytest

from scripts.bench_trials import main_async

pytestmark = pytest.mark.devserver  # its own dev server; N=2 keeps it well under 20 s


async def test_bench_trials_smoke() -> None:
    async with asyncio.timeout(120):  # a hang guard, not a timing check
        data = await main_async(trials=2, concurrency=2)
    assert data["subject_states"] == ["migrated_to_free_org"] * 2
    assert data["numbers_released"] == 2
    notices = data["notices"]
    assert len(notices["per_trial"]) == 2 and len(set(notices["per_trial"])) == 1
    assert notices["per_trial"][0] > 0
    assert notices["equal"] and notices["exactly_once"] and notices["unsent"] == 0
    assert data["baseline"]["activities_per_workflow"] == 2
    for key in ("ms_per_workflow", "transitions_per_workflow", "history_events_per_workflow"):
        assert data["ratios"][key] is not None
    assert "| **state transitions / workflow** |" in data["table"]

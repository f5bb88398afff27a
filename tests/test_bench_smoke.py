"""The bench (scripts/bench) runs end to end on a tiny N: its own dev server, PostgreSQL and
worker processes, the real trial and its no-op twin. Nothing here looks at a timing: only at
what the bench counts from the histories (issue 14 P1: a full trial is at most 6 activities
and 32 state transitions; the twin has the real one's shape) and at its correctness checks."""

from __future__ import annotations

import asyncio

import pytest

from scripts.bench.__main__ import table
from scripts.bench.run import bench

pytestmark = pytest.mark.devserver  # its own dev server


async def test_bench_trials_smoke() -> None:
    async with asyncio.timeout(300):  # a hang guard, not a timing check
        res = await bench("trials", 2, 2, day_seconds=0.1, rounds=1)
    assert [r.state for r in res.real.results] == ["migrated_to_free_org"] * 2
    assert all(r.numbers_released_at is not None for r in res.real.results)
    assert "each exactly once, all sent" in res.checks[1]
    real, twin = res.real.cost, res.noop.cost
    assert real.activities == 5 and real.upserts == 3
    assert 0 < real.transitions <= 32
    assert twin.activities == real.activities and twin.upserts == real.upserts
    for k in ("worker", "server", "postgres"):
        assert res.real.cpu[k] >= 0 and res.noop.cpu[k] >= 0
    assert "| **state transitions** |" in table(res)

"""The migration benchmark (scripts/bench_migration.py) runs end to end on a tiny customer.

It starts its own PostgreSQL, dev server, worker and API processes; nothing here looks at a
timing, only at what the benchmark reports and checks (WH-M1: every user provisioned, moved
and told once)."""

from __future__ import annotations

import asyncio

import pytest

from scripts.bench_migration import main_async, table

pytestmark = pytest.mark.devserver  # its own dev server


async def test_wh_m1_bench_migration_smoke() -> None:
    async with asyncio.timeout(600):  # a hang guard, not a timing check
        (r,) = await main_async([30], batch=10)
    assert (r["users"], r["done"], r["failed"]) == (30, 30, 0)
    assert r["checks"] == {
        "subscribers": 30,
        "open_assignments": 30,
        "users_moved": 30,
        "notices": 30,
        "notices_sent": 30,
        "exactly_once": True,
    }
    assert r["migration_runs"] == 1 and r["longest_run_events"] < 200
    assert r["worker_rss_peak_mb"] > 0 and r["api_rss_peak_mb"] > 0
    assert "| provisioned, moved, told exactly once | yes |" in table([r])

"""Issue 14, P3: the starter's pool goes without a ping per checkout; the start rules'
statement proves its connection, and a connection the server dropped costs one more read on
a fresh one, never a failed start or a missed refusal (TR-S1)."""

from __future__ import annotations

import asyncio

import pytest

from models.common.db import Database
from models.common.refusal import RuleError
from models.trials.store import start_checks
from workers.settings import Settings


async def _backend(db: Database) -> int:
    async with db.autocommit() as pg:
        return int((await (await pg.execute("SELECT pg_backend_pid()")).fetchone())[0])


async def _drop(admin: Database, pid: int) -> None:
    """Terminate a backend and wait until the server no longer lists it."""
    async with admin.autocommit() as pg:
        await pg.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(200):
            cur = await pg.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,))
            if await cur.fetchone() is None:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"backend {pid} still there")


async def test_tr_s1_start_checks_without_ping_survive_a_dropped_connection(
    world, db, database_url
):
    """A starter pool without pre-ping (one connection): after the server drops that
    connection, the next start's rules still answer (the same input as before, on a new
    backend), and a TR-S1 refusal is still raised to the caller."""
    starter = Database(database_url, pool_size=1, max_overflow=0, pre_ping=False)
    policy = Settings().trial_policy()
    try:
        first = await start_checks(starter, world.request(), "t-pool-1", policy)
        pid = await _backend(starter)
        await _drop(db, pid)
        again = await start_checks(starter, world.request(), "t-pool-1", policy)
        assert again == first
        assert first.new_customer and first.customer_org_id == "org-t-pool-1"
        assert await _backend(starter) != pid
        with pytest.raises(RuleError) as err:
            await start_checks(
                starter, world.request(started_by="ro@partner.test"), "t-pool-2", policy
            )
        assert [(v.rule, v.field) for v in err.value.violations] == [("TR-S1", "started_by")]
    finally:
        await starter.dispose()


async def test_tr_s1_a_dead_connection_is_not_pooled_again(world, db, database_url):
    """The dropped connection is invalidated when it comes back (not handed out again): every
    later start on the same pool reads on the new backend."""
    starter = Database(database_url, pool_size=1, max_overflow=0, pre_ping=False)
    policy = Settings().trial_policy()
    try:
        await start_checks(starter, world.request(), "t-pool-3", policy)
        pid = await _drop_and_recheck(starter, db, world, policy)
        pids = {await _backend(starter) for _ in range(3)}
        assert pid not in pids and len(pids) == 1
    finally:
        await starter.dispose()


async def _drop_and_recheck(starter: Database, db: Database, world, policy) -> int:
    pid = await _backend(starter)
    await _drop(db, pid)
    await start_checks(starter, world.request(), "t-pool-4", policy)
    return pid

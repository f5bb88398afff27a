"""WH-M1: a worker killed (SIGKILL) in the middle of a batch of users, and the migration
finishing on another worker with nothing doubled, counted row by row.

On the real dev server (restarting a worker on the time-skipping server is unreliable): the
first worker is a real process (tests/migration/killable_worker.py) that stalls once 100
users are provisioned: the second batch of 50 committed in the wholesale store, not yet
recorded on the migration's rows; it is killed there. The batch's heartbeat times out, its
retry runs on a second worker and finds those 50 users already provisioned (the wholesale
store answers the same subscriber again), and the migration goes on to review and cut-over.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import col, func, select
from temporalio.testing import WorkflowEnvironment

from activities.common import Deps
from api.app import create_app
from models.common.db import Database
from models.common.mail import Mailer
from models.common.tables import Notice, OrgUser, PhoneNumber
from models.migration.rules import NOTICE_KIND
from models.migration.tables import Migration, MigrationUser
from models.wholesale.tables import WholesalePackageAssignment, WholesaleSubscriber
from scripts.gen_broadworks import generate
from tests.migration.conftest import Migrations, _terminate
from tests.polling import eventually
from workers.settings import Settings
from workers.worker import build_worker

pytestmark = pytest.mark.devserver

USERS, BATCH, STALL_AFTER = 120, 50, 100


@pytest.fixture
async def dev_mig(
    dev_env: WorkflowEnvironment, db: Database, database_url: str, mailer: Mailer, task_queue: str
) -> AsyncIterator[Migrations]:
    """The API on the dev server's client, no worker yet (the test runs its own)."""
    settings = Settings(
        migration_batch_size=BATCH,
        migration_user_retry_seconds=0.0,
        migration_heartbeat_seconds=5,  # a dead worker's batch is retried within seconds
    )
    app = create_app(
        settings, database_url, client=dev_env.client, db=db, mailer=mailer, task_queue=task_queue
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://migration.test"
    ) as http:
        try:
            yield await Migrations(dev_env, db, http).setup()
        finally:
            await _terminate(dev_env, db)


async def _count(db: Database, table: type, *where) -> int:
    async with db.session() as s:
        q = select(func.count()).select_from(table)
        for w in where:
            q = q.where(w)
        return (await s.exec(q)).one()


async def test_wh_m1_worker_killed_mid_batch_finishes_with_nothing_doubled(
    dev_mig: Migrations, database_url: str, task_queue: str, deps: Deps
) -> None:
    mig = dev_mig
    target = mig.env.client.service_client.config.target_host
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.migration.killable_worker"],
        env={
            **os.environ,
            "LIFECYCLES_TEMPORAL_ADDRESS": target,
            "LIFECYCLES_DATABASE_URL": database_url,
            "LIFECYCLES_TASK_QUEUE": task_queue,
            "LIFECYCLES_METRICS_BIND": "",
            "H6_STALL_AFTER": str(STALL_AFTER),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stdout is not None
        wid = await mig.started(generate(USERS, enterprise="ent-kill", seed=11))
        async with asyncio.timeout(300):
            while (line := await asyncio.to_thread(proc.stdout.readline)) != b"stalled\n":
                assert line, "the worker process ended before it stalled"

        # the moment of the kill: 100 subscribers in the store, only the first batch recorded
        async with mig.db.session() as s:
            m = (await s.exec(select(Migration))).one()
        assert await _count(mig.db, WholesaleSubscriber) == STALL_AFTER
        assert (
            await _count(mig.db, MigrationUser, col(MigrationUser.state) == "provisioned") == BATCH
        )
        proc.send_signal(signal.SIGKILL)
        assert await asyncio.to_thread(proc.wait, 30) == -signal.SIGKILL

        async with build_worker(mig.env.client, deps, task_queue=task_queue):
            p = await mig.wait_phase(wid, "review", within=300)
            assert (p.total, p.done, p.failed, p.left) == (USERS, USERS, 0, 0)
            assert (await mig.decide(wid, "approve", by="admin@sp.test")).status_code == 202
            p = await mig.wait_phase(wid, "completed", within=300)
            assert p.moved == USERS

            async def all_sent() -> bool:
                async with mig.db.session() as s:
                    rows = (await s.exec(select(Notice).where(Notice.kind == NOTICE_KIND))).all()
                return len(rows) == USERS and all(n.sent_at for n in rows)

            await eventually(all_sent, "every notice sent")

        # nothing doubled, nothing lost: every count exact
        assert await _count(mig.db, WholesaleSubscriber) == USERS
        assert await _count(mig.db, WholesalePackageAssignment) == USERS
        assert (
            await _count(
                mig.db,
                WholesalePackageAssignment,
                col(WholesalePackageAssignment.closed_at).is_(None),
            )
            == USERS
        )
        assert await _count(mig.db, OrgUser, col(OrgUser.org_id) == m.org_id) == USERS
        assert await _count(mig.db, MigrationUser, col(MigrationUser.state) == "moved") == USERS
        assert await _count(mig.db, Notice, col(Notice.kind) == NOTICE_KIND) == USERS
        async with mig.db.session() as s:
            subs = (await s.exec(select(WholesaleSubscriber.email))).all()
            users = (await s.exec(select(MigrationUser))).all()
            numbers = (await s.exec(select(PhoneNumber.number))).all()
        export = generate(USERS, enterprise="ent-kill", seed=11)
        assert sorted(subs) == sorted(u["email"].lower() for u in export["users"])
        # each migration user points at its one subscriber
        assert sorted(u.subscriber_id or "" for u in users) == sorted(await _ids(mig.db))
        assert sorted(numbers) == sorted({n["number"] for n in export["numbers"]})
        # the retried batch: its users were tried again and found done
        assert max(u.attempts for u in users) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)


async def _ids(db: Database) -> list[str]:
    async with db.session() as s:
        return list((await s.exec(select(WholesaleSubscriber.id))).all())

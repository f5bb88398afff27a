"""A worker killed mid-lifecycle loses and duplicates nothing; the JSON contract works from
the `temporal` CLI, not only from Python."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

from models.trials.contract import NewCustomer
from scripts.binaries import temporal_cli
from tests.trials.helpers import PartnerCustomer, notices, rows, tid, until

DAY = timedelta(days=1)


async def _spawn_worker(env, database_url: str, task_queue: str, log: Path) -> subprocess.Popen:
    envvars = {
        **os.environ,
        "LIFECYCLES_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "LIFECYCLES_DATABASE_URL": database_url,
        "LIFECYCLES_TASK_QUEUE": task_queue,
        "LIFECYCLES_METRICS_BIND": "",
        "LIFECYCLES_LOG_FORMAT": "json",
        # No sticky cache: the time-skipping server does not time out a dead worker's sticky
        # queue, so its workflows would wait for it forever (a real server moves them on).
        "LIFECYCLES_MAX_CACHED_WORKFLOWS": "0",
    }
    with log.open("wb") as out:  # a file, not a pipe: a full pipe would block the worker
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "lifecycles"), "worker"],
            env=envvars,
            stderr=out,
            stdout=subprocess.DEVNULL,
        )
    for _ in range(400):
        if b"worker started" in log.read_bytes() or proc.poll() is not None:
            break
        await asyncio.sleep(0.05)
    assert proc.poll() is None, log.read_text()
    return proc


async def test_killed_worker_loses_and_duplicates_nothing(
    world, run_worker, env, db, database_url, task_queue, tmp_path
):
    """TR-E1/TR-E4/TR-E5 across a crash: a worker process is SIGKILLed mid-lifecycle, a new
    worker takes over; every notice exists exactly once and the lifecycle completes."""
    proc = await _spawn_worker(env, database_url, task_queue, tmp_path / "worker.log")
    try:
        h = await world.start(
            setup="now",
            customer=NewCustomer(
                company_name="Crash Co",
                admin_email="admin@crash.test",
                vertical="retail",
                country="US",
                numbers=["+15550001000"],
            ),
        )
        await until(h, lambda s: any(n.kind == "welcome" for n in s.notices))
        await env.sleep(24 * DAY)
        await until(h, lambda s: any(n.kind == "expiry_t_minus_7" for n in s.notices))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    async with run_worker():
        result = await h.result()
    assert result.state == "migrated_to_free_org" and result.numbers_released_at is not None
    sent = await notices(db, tid(h))
    counts = Counter((n.kind, n.recipient) for n in sent)
    assert set(counts.values()) == {1}
    kinds = Counter(n.kind for n in sent)
    assert kinds == {"welcome": 1, "expiry_t_minus_7": 5, "expiry_today": 5, "services_ended": 1}
    assert all(n.sent_at is not None for n in sent)
    assert {(v.kind, v.recipient) for v in result.notices} == set(counts)


def _cli(env, *args: str) -> str:
    target = env.client.service_client.config.target_host
    out = subprocess.run(
        [str(temporal_cli()), *args, "--address", target, "--namespace", "default"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


async def test_signals_and_updates_sent_with_the_temporal_cli(world, run_worker, env, db):
    """TR-C4 and TR-D1 driven by plain JSON through the `temporal` CLI, not Python."""
    org = await world.org()
    async with run_worker():
        h = await world.start(
            org_id=org,
            customer=None,
            services=["calling"],
            setup="now",
            admin_email="boss@existing.test",
        )
        await until(h, lambda s: s.state == "pending_consent" and s.notices)
        payload = json.dumps({"accepted_by": "boss@existing.test", "grant_full_admin": False})
        await asyncio.to_thread(
            _cli,
            env,
            "workflow",
            "signal",
            "--workflow-id",
            h.id,
            "--name",
            "accept_consent",
            "--input",
            payload,
        )
        st = await until(h, lambda s: s.state == "active")
        assert st.partner_admin_level == "provisioning_admin"
        out = await asyncio.to_thread(
            _cli,
            env,
            "workflow",
            "update",
            "execute",
            "--workflow-id",
            h.id,
            "--name",
            "extend",
            "--input",
            '{"days": 60}',
            "--output",
            "json",
        )
        assert "active" in out
        st2 = await until(h, lambda s: s.ends_at != st.ends_at)
        assert st2.ends_at and st.ends_at
        assert st2.ends_at - st.ends_at > 25 * DAY
        q = await asyncio.to_thread(
            _cli,
            env,
            "workflow",
            "query",
            "--workflow-id",
            h.id,
            "--type",
            "status",
            "--output",
            "json",
        )
        assert '"provisioning_admin"' in q
    pc = await rows(db, PartnerCustomer, PartnerCustomer.customer_org_id == org)
    assert pc[0].status == "active"

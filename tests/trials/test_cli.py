"""The operator CLI: `--json` output, and a refusal that names its rule and exits non-zero."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

from tests.cli_forks import lifecycles
from tests.trials.helpers import Trial, rows, until


def _run(env, database_url: str, task_queue: str, *args: str) -> subprocess.CompletedProcess:
    envvars = {
        **os.environ,
        "LIFECYCLES_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "LIFECYCLES_DATABASE_URL": database_url,
        "LIFECYCLES_TASK_QUEUE": task_queue,
    }
    return lifecycles(list(args), env=envvars, timeout=60)  # a process of its own, forked


async def test_cli_starts_a_trial_and_refuses_by_rule(
    world, run_worker, env, db, database_url, task_queue
):
    """TR-S1 through the CLI: a read-only admin is refused (exit 2, rule printed, nothing
    written); a sales admin's start prints {"trial_id", "workflow_id"}; `trial list --json`
    reads the PostgreSQL read model."""
    common = [
        "trial",
        "start",
        "--partner",
        world.partner_id,
        "--company",
        "Cli Co",
        "--admin-email",
        "a@cli.test",
        "--vertical",
        "retail",
        "--country",
        "US",
        "--services",
        "messaging",
        "--licenses",
        "5",
        "--days",
        "30",
    ]
    bad = await asyncio.to_thread(
        _run, env, database_url, task_queue, *common, "--by", "ro@partner.test", "--json"
    )
    assert bad.returncode == 2
    assert "refused: TR-S1 (started_by)" in bad.stderr
    assert await rows(db, Trial) == []
    async with run_worker():
        ok = await asyncio.to_thread(
            _run,
            env,
            database_url,
            task_queue,
            *common,
            "--by",
            "sales@partner.test",
            "--setup",
            "now",
            "--json",
        )
        assert ok.returncode == 0, ok.stderr
        started = json.loads(ok.stdout)
        assert started["workflow_id"] == f"trial-{started['trial_id']}"
        h = env.client.get_workflow_handle(started["workflow_id"])
        await until(h, lambda s: s.state == "active" and s.next_deadline_kind is not None)
        for _ in range(40):  # the read model is written by the workflow's next activity
            listed = await asyncio.to_thread(
                _run,
                env,
                database_url,
                task_queue,
                "trial",
                "list",
                "--partner",
                world.partner_id,
                "--json",
            )
            assert listed.returncode == 0, listed.stderr
            if '"active"' in listed.stdout:
                break
            await asyncio.sleep(0.25)
    assert [(t["id"], t["state"]) for t in json.loads(listed.stdout)] == [
        (started["trial_id"], "active")
    ]

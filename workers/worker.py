"""A production worker: one process polling one task queue, stopped gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.common import Deps
from models.common.db import Database
from models.common.mail import Mailer
from workers.billing import ensure_schedules
from workers.client import connect
from workers.logging import ActivityLogContext
from workers.registry import WORKFLOWS, activities
from workers.settings import Settings

log = structlog.get_logger(__name__)

# Pure-data modules imported by workflows are passed through the sandbox (loaded once).
PASSTHROUGH = ("pydantic", "pydantic_core", "annotated_types", "models")
# The workflow modules themselves, in a production worker: re-importing them for every
# workflow run (unmarshal, class decoration) was a seventh of the worker's CPU in the bench
# (issue 14). They hold no state at module level, and the sandbox's call restrictions still
# apply. Every worker, the tests' included, runs them so; the replay test (tests/test_replay.py)
# keeps reloading them for every history, as the guard that no run depends on another's.
WORKFLOW_MODULES = ("workflows",)


def sandbox_runner(reload_workflow_modules: bool = True) -> SandboxedWorkflowRunner:
    modules = PASSTHROUGH if reload_workflow_modules else (*PASSTHROUGH, *WORKFLOW_MODULES)
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*modules)
    )


def build_worker(
    client: Client,
    deps: Deps,
    *,
    task_queue: str,
    settings: Settings | None = None,
    extra_workflows: Sequence[type] = (),
    extra_activities: Sequence[Callable[..., Any]] = (),
) -> Worker:
    """The project's workflows and activities (plus any extra, e.g. a benchmark's own).
    Workflow modules are loaded once per worker, as in production (see WORKFLOW_MODULES)."""
    s = settings or Settings()
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[*WORKFLOWS, *extra_workflows],
        activities=[*activities(deps), *extra_activities],
        workflow_runner=sandbox_runner(reload_workflow_modules=False),
        interceptors=[ActivityLogContext()],
        max_concurrent_activities=s.max_concurrent_activities,
        max_concurrent_workflow_tasks=s.max_concurrent_workflow_tasks,
        max_cached_workflows=s.max_cached_workflows,
        graceful_shutdown_timeout=timedelta(seconds=s.graceful_shutdown_seconds),
    )


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or ``stop``), then let running activities finish."""
    if not settings.database_url:
        raise SystemExit("LIFECYCLES_DATABASE_URL is required for `lifecycles worker`")
    client = await connect(settings, with_metrics=True)
    await ensure_schedules(client, settings)  # billing-usage-close (PX-7), idempotent
    db = Database(
        settings.database_url,
        pool_size=min(settings.max_concurrent_activities, 20),
        pre_ping=False,  # a dead connection fails one attempt; the retry gets a fresh one
    )
    worker = build_worker(
        client,
        Deps(db=db, mailer=Mailer.from_settings(settings), device_policy=settings.device_policy()),
        task_queue=settings.task_queue,
        settings=settings,
    )
    if stop is None:  # a standalone worker owns the process's signals
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    log.info(
        "worker started",
        task_queue=settings.task_queue,
        namespace=settings.temporal_namespace,
        temporal=settings.temporal_address,
        metrics=settings.metrics_bind or None,
    )
    run = asyncio.create_task(worker.run())
    await asyncio.wait([run, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    if not run.done():
        log.info("worker stopping", grace_seconds=settings.graceful_shutdown_seconds)
        await worker.shutdown()
    await run
    await db.dispose()
    log.info("worker stopped")

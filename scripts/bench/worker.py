"""A bench worker process: ``python -m scripts.bench.worker '{"kind": ..., ...}'``.

``real``: the project's worker (``workers.worker.build_worker``) with the bench's calendar;
``noop``: ``BenchShape`` and the no-op activity only, with the same sandbox and slots. It says
``ready`` on stdout once polling, and stops (gracefully) when stdin closes."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any


async def serve(cfg: dict[str, Any]) -> None:
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

    from activities.common import Deps
    from models.common.db import Database
    from models.common.mail import Mailer
    from scripts.bench.shape import BenchShape, noop_activity
    from workers.logging import configure_logging
    from workers.settings import Settings
    from workers.worker import build_worker, sandbox_runner

    configure_logging("json", "WARNING")
    settings = Settings(
        day_seconds=cfg["day_seconds"], graceful_shutdown_seconds=2.0, metrics_bind=""
    )
    client = await Client.connect(cfg["address"], data_converter=pydantic_data_converter)
    db = None
    if cfg["kind"] == "real":
        db = Database(
            cfg["database_url"],
            pool_size=min(settings.max_concurrent_activities, 20),
            pre_ping=False,  # as `lifecycles worker` runs
        )
        deps = Deps(db=db, mailer=Mailer(smtp_url=None, mail_from="bench@localhost"))
        worker = build_worker(
            client,
            deps,
            task_queue=cfg["task_queue"],
            settings=settings,
        )
    else:  # the same sandbox, its one module passed through as the workflow modules are
        runner = sandbox_runner(reload_workflow_modules=False)
        runner = SandboxedWorkflowRunner(
            restrictions=runner.restrictions.with_passthrough_modules("scripts.bench.shape")
        )
        worker = Worker(
            client,
            task_queue=cfg["task_queue"],
            workflows=[BenchShape],
            activities=[noop_activity],
            workflow_runner=runner,
            max_concurrent_activities=settings.max_concurrent_activities,
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
            max_cached_workflows=settings.max_cached_workflows,
        )
    run = asyncio.create_task(worker.run())
    await asyncio.sleep(0.3)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    await asyncio.wait([run, stdin_closed], return_when=asyncio.FIRST_COMPLETED)
    if not run.done():
        await worker.shutdown()
    await run
    if db is not None:
        await db.dispose()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us through stdin
    asyncio.run(serve(json.loads(sys.argv[1])))


if __name__ == "__main__":
    from scripts.bench.worker import main as _main
    from scripts.exits import run_then_exit

    run_then_exit(_main)

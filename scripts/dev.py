"""`lifecycles dev` (= `make dev`): the whole system in the foreground on embedded defaults.

PostgreSQL (data under .lifecycles/postgres), migrations, the Temporal dev server with its UI
(SQLite file .lifecycles/temporal.db), this project's search attributes, one worker on the
task queue and the HTTP API. Ctrl-C stops everything; the next run reuses the data.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import sys
from typing import IO

import structlog

from models.common.db import upgrade
from scripts import devenv, stack
from workers.client import connect, register_search_attributes
from workers.codec import ensure_dev_key
from workers.logging import configure_logging
from workers.settings import Settings
from workers.worker import run_worker

log = structlog.get_logger("dev")


async def _connect_when_ready(settings: Settings, attempts: int = 100):
    for i in range(attempts):
        try:
            return await connect(settings)
        except RuntimeError:
            if i == attempts - 1:
                raise
            await asyncio.sleep(0.3)
    raise AssertionError("unreachable")


def _banner(settings: Settings, db_url: str, started_temporal: bool, env: str = "") -> str:
    from sqlalchemy.engine import make_url

    where = make_url(db_url).render_as_string(hide_password=True)
    ui = f"http://127.0.0.1:{settings.ui_port}" if started_temporal else "(the server's own UI)"
    lines = [
        "",
        "webex-lifecycles dev stack is up",
        f"  Temporal UI        {ui}",
        f"  Temporal frontend  {settings.temporal_address}"
        f"  namespace={settings.temporal_namespace}",
        f"  Worker             task queue '{settings.task_queue}'",
        f"  PostgreSQL         {where}  ({'configured' if settings.database_url else 'embedded'})",
        f"  Data               {settings.data_dir.resolve()}",
    ]
    if settings.metrics_bind:
        lines.append(f"  Metrics            http://{settings.metrics_bind}/metrics")
    lines.append(f"  HTTP API           http://{settings.api_bind}/docs")
    if env:  # scripts/devenv.py: `lifecycles` and `temporal` on PATH, pointed at this stack
        lines.append(f"  Shell              source {env}")
        lines.append("  Then try           lifecycles demo trials")
    lines += ["  Stop               Ctrl-C", ""]
    return "\n".join(lines)


async def _serve_api(settings: Settings, db_url: str, stop: asyncio.Event) -> None:
    import uvicorn

    from api.app import create_app

    host, _, port = settings.api_bind.rpartition(":")
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, db_url), host=host, port=int(port), log_config=None)
    )
    # uvicorn takes SIGINT/SIGTERM while it serves and raises them again once it has stopped,
    # when the loop's handlers (see _run) are back: `stop` is set either way.
    task = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await task


class AlreadyRunning(Exception):
    """Another `lifecycles dev` holds this data directory, or the API's address is taken."""


def claim(settings: Settings) -> IO[str]:
    """Hold ``<data dir>/dev.lock`` for as long as this process lives (the kernel lets it go
    when the process ends, however it ends) and write in it where this stack answers; raise
    :class:`AlreadyRunning`, saying where the other stack is, when it is held or when the API's
    address is taken."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = (settings.data_dir / "dev.lock").resolve()
    lock = path.open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        try:
            other = json.loads(lock.read() or "{}")
        except ValueError:
            other = {}
        lock.close()
        where = ", ".join(f"{k} {v}" for k, v in other.items()) or f"lock {path}"
        raise AlreadyRunning(
            f"a dev stack is already running from {settings.data_dir.resolve()} ({where}); "
            "use it, or stop it (Ctrl-C in its terminal) first"
        ) from None
    if stack.port_open(settings.api_bind):
        lock.close()
        raise AlreadyRunning(
            f"{settings.api_bind} (LIFECYCLES_API_BIND) is already taken: is a dev stack "
            "running from another directory? Stop it, or set LIFECYCLES_API_BIND and "
            "LIFECYCLES_DATA_DIR for a second one"
        )
    lock.seek(0)
    lock.truncate()
    json.dump(
        {
            "pid": os.getpid(),
            "api": f"http://{settings.api_bind}/docs",
            "temporal": settings.temporal_address,
        },
        lock,
    )
    lock.flush()
    return lock


async def _run(settings: Settings) -> None:
    pg = stack.database(settings)
    temporal: stack.TemporalDevServer | None = None
    try:
        upgrade(pg.url)
        log.info("migrations applied")
        temporal = stack.temporal_server(settings)
        client = await _connect_when_ready(settings)
        await register_search_attributes(client)
        env = devenv.shown(devenv.write(settings))
        print(_banner(settings, pg.url, temporal.process is not None, env), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        worker_settings = settings.model_copy(update={"database_url": pg.url})
        await asyncio.gather(run_worker(worker_settings, stop), _serve_api(settings, pg.url, stop))
    finally:
        if temporal is not None:
            temporal.stop()
        stack.forget_dead_users(settings)
        print("dev stack stopped (PostgreSQL stops as this process exits)", flush=True)


def main(settings: Settings | None = None) -> None:
    settings = devenv.for_dev(settings or Settings(log_format="console"))
    configure_logging(settings.log_format, settings.log_level)
    try:
        lock = claim(settings)
    except AlreadyRunning as err:
        print(f"lifecycles dev: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    with lock:
        ensure_dev_key(settings.data_dir)  # issue 9: payloads encrypted, <data dir>/codec.keys
        asyncio.run(_run(settings))

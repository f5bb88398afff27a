"""`lifecycles`: the console script for operators and scripts.

Every command that reports takes ``--json``. A refusal prints the rule that refused and
exits non-zero (2); nothing is written then.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import typer
from pydantic import BaseModel

from workers.settings import Settings, get_settings

if TYPE_CHECKING:
    from temporalio.client import Client

    from models.db import Database

app = typer.Typer(no_args_is_help=True, help="Webex partner lifecycles on Temporal.")
db_app = typer.Typer(no_args_is_help=True, help="Database migrations.")
app.add_typer(db_app, name="db")

JsonOpt = typer.Option(False, "--json", help="Print JSON.")


def emit(data: Any, as_json: bool, human: Callable[[Any], str] | None = None) -> None:
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    elif isinstance(data, list):
        data = [d.model_dump(mode="json") if isinstance(d, BaseModel) else d for d in data]
    if as_json or human is None:
        typer.echo(json.dumps(data, indent=None if as_json else 2, default=str))
    else:
        typer.echo(human(data))


def run(coro: Awaitable[Any]) -> Any:
    """Run a coroutine; print a rule refusal or a workflow refusal clearly and exit 2."""
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.exceptions import ApplicationError
    from temporalio.service import RPCError

    from activities.rules import RuleError
    from activities.wholesale_problems import Refused

    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except RuleError as err:
        for v in err.violations:
            typer.echo(f"refused: {v}", err=True)
        raise typer.Exit(2) from None
    except Refused as err:  # the wholesale API's refusals, {errorCode, description}
        for p in err.problems:
            typer.echo(f"refused: {p.description}", err=True)
        raise typer.Exit(2) from None
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        msg = cause.message if isinstance(cause, ApplicationError) else str(cause)
        typer.echo(f"refused: {msg}", err=True)
        raise typer.Exit(2) from None
    except RPCError as err:
        typer.echo(f"error: {err.message}", err=True)
        raise typer.Exit(1) from None
    except LookupError as err:
        typer.echo(f"error: {err.args[0] if err.args else err}", err=True)
        raise typer.Exit(1) from None


def database_url(settings: Settings) -> str:
    """The configured database, else the embedded one of `lifecycles dev`."""
    from scripts import stack

    return stack.database(settings).url


@asynccontextmanager
async def store() -> AsyncIterator[Database]:
    """The database of one CLI command, disposed when it is done."""
    from models.db import Database

    db = Database(database_url(get_settings()), pool_size=1)
    try:
        yield db
    finally:
        await db.dispose()


async def in_session(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """``await fn(session, *args, **kwargs)`` in one transaction of this command's store."""
    async with store() as db, db.session() as s:
        return await fn(s, *args, **kwargs)


async def temporal() -> Client:
    """A Temporal client with the project's data converter (workers.client.connect)."""
    from workers.client import connect

    return await connect(get_settings())


@app.command()
def dev() -> None:
    """Start the whole system in the foreground on embedded defaults (what `make dev` runs)."""
    from scripts.dev import main as dev_main

    dev_main()


@app.command()
def worker() -> None:
    """Run one production worker (settings from LIFECYCLES_* variables; SIGTERM is graceful)."""
    from workers.logging import configure_logging
    from workers.worker import run_worker

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    asyncio.run(run_worker(settings))
    # Stopped cleanly (activities finished, pool closed, "worker stopped" logged). Leave
    # without interpreter finalization: a thread of the Temporal client's Rust core may still
    # call into Python then, and CPython aborts ("PyGILState_Release ... finalizing",
    # SIGABRT; temporalio/sdk-python#300). Seen here on 2 of 40 SIGTERMs.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@app.command()
def api() -> None:
    """Serve the HTTP API (OpenAPI at /docs)."""
    from api.app import serve

    serve(get_settings())


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply the Alembic migrations."""
    from models.db import upgrade

    upgrade(database_url(get_settings()), revision)
    typer.echo(f"database at {revision}")


def _register_subcommands() -> None:
    from scripts import cli_devices, cli_orgs, cli_trials, demo

    app.add_typer(cli_orgs.partner_app, name="partner")
    app.add_typer(cli_orgs.org_app, name="org")
    app.add_typer(cli_trials.trial_app, name="trial")
    app.add_typer(cli_trials.notices_app, name="notices")
    app.add_typer(cli_devices.devices_app, name="devices")
    app.add_typer(demo.demo_app, name="demo")
    __import__("scripts.cli_wholesale", fromlist=["register"]).register(app)


_register_subcommands()


def main() -> None:
    app(prog_name="lifecycles")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

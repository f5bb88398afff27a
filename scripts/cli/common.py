"""What every CLI module shares: output (``--json``), refusals to exit codes, the store and
the Temporal client of one command."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import typer
from pydantic import BaseModel

from workers.settings import Settings, get_settings

if TYPE_CHECKING:
    from temporalio.client import Client

    from models.common.db import Database

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


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine; print a refusal (``RuleError``, raised here or by a workflow's
    update, details intact) one violation per line and exit 2."""
    from pydantic import ValidationError
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.service import RPCError

    from models.common.refusal import RuleError, Violation

    try:
        return asyncio.run(coro)
    except (RuleError, WorkflowUpdateFailedError, ValidationError) as err:
        refusal: RuleError | None
        if isinstance(err, ValidationError):  # a command the contract refuses (e.g. --note)
            refusal = RuleError(
                [
                    Violation("", ".".join(str(p) for p in e["loc"]) or "input", e["msg"])
                    for e in err.errors()
                ]
            )
        else:
            refusal = err if isinstance(err, RuleError) else RuleError.from_failure(err)
        lines = (
            [str(v) for v in refusal.violations] if refusal else [str(getattr(err, "cause", err))]
        )
        for line in lines:
            typer.echo(f"refused: {line}", err=True)
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
    from models.common.db import Database

    db = Database(database_url(get_settings()), pool_size=1)
    try:
        yield db
    finally:
        await db.dispose()


async def in_session(fn, *args, **kwargs):
    """``await fn(session, *args, **kwargs)`` in one transaction of this command's store."""
    async with store() as db, db.session() as s:
        return await fn(s, *args, **kwargs)


async def temporal() -> Client:
    """A Temporal client with the project's data converter (workers.client.connect)."""
    from workers.client import connect

    return await connect(get_settings())

"""One way for a test to wait for an outcome: ``eventually(probe)`` awaits ``probe()`` until
it returns something truthy and returns that. Bounded by ``within`` seconds, a hang guard and
never a timing check (it returns as soon as the outcome holds). A query the server times out
or cannot deliver yet (a loaded machine, a worker replaying a long history with no cache) is
asked again, never taken as the answer; any other error fails the test at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio.service import RPCError, RPCStatusCode

T = TypeVar("T")

TRANSIENT = {RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNAVAILABLE, RPCStatusCode.CANCELLED}
WITHIN = 300.0


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    what: str | Callable[[], Any] = "the condition",
    within: float = WITHIN,
) -> T:
    """``probe()``'s first truthy value. ``what`` names the outcome in the failure (or is
    called then, e.g. for the last status seen)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            if got := await probe():
                return got
        except RPCError as err:
            if err.status not in TRANSIENT:
                raise
        if loop.time() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"never reached in {within:.0f} s: {said}")
        await asyncio.sleep(0.05)

"""What every activity class is built with: the outside world, given once by the worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity

from models.common.db import Database
from models.common.mail import Mailer
from models.trials.contract import DevicePolicy


@dataclass
class Deps:
    db: Database
    mailer: Mailer
    # The device settings of this worker, for trials started before the device policy was
    # snapshotted in their input (patch ``device-policy-in-trial-input``).
    device_policy: DevicePolicy = field(default_factory=DevicePolicy)


class Activities:
    """Base of each lifecycle's activity class: its ``@activity.defn`` methods share deps."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.db = deps.db
        self.mailer = deps.mailer


@contextlib.asynccontextmanager
async def heartbeating(every: timedelta = timedelta(seconds=5)) -> AsyncIterator[None]:
    """Heartbeat while the body runs, for a long activity with no natural progress points:
    with a heartbeat timeout, a worker that dies mid-way is noticed in seconds and the next
    attempt starts, instead of waiting out the whole start-to-close timeout."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every.total_seconds())

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

"""One phase of a bench run: N lifecycles at C in flight on one worker process, with the CPU
of the worker, the Temporal server and PostgreSQL read over the phase, then what each
lifecycle cost the engine, read from its history."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scripts.bench.stack import Meter

# One lifecycle run: the handles of the workflows it is made of (to count) and its result.
Run = tuple[list[Any], Any]


@dataclass
class Cost:
    """Per lifecycle, averaged over a phase."""

    transitions: float = 0
    events: float = 0
    workflow_tasks: float = 0
    activities: float = 0
    timers: float = 0
    upserts: float = 0
    payload_bytes: float = 0
    history_bytes: float = 0


@dataclass
class Phase:
    name: str
    n: int
    concurrency: int
    wall: float = 0
    latencies: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU s per lifecycle
    rss_mb: dict[str, float] = field(default_factory=dict)  # process -> peak RSS
    cost: Cost = field(default_factory=Cost)
    results: list[Any] = field(default_factory=list)
    handles: list[list[Any]] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.n / self.wall if self.wall else 0.0

    def p(self, q: int) -> float:
        xs = sorted(self.latencies)
        if not xs:
            return float("nan")
        if len(xs) == 1:
            return xs[0]
        return statistics.quantiles(xs, n=100, method="inclusive")[q - 1]


def _payloads(msg: Any) -> int:
    """Bytes of every ``Payload.data`` inside a protobuf message."""
    total = 0
    for fd, value in msg.ListFields():
        if fd.message_type is None:
            continue
        if hasattr(value, "ListFields"):
            items = [value]
        elif hasattr(value, "values"):  # a map
            items = list(value.values())
        else:  # repeated
            items = list(value)
        for item in items:
            if not hasattr(item, "ListFields"):
                continue
            if item.DESCRIPTOR.full_name == "temporal.api.common.v1.Payload":
                total += len(item.data)
            else:
                total += _payloads(item)
    return total


async def cost_of(handle: Any) -> Cost:
    """What one closed workflow cost the engine (state transitions from the server)."""
    from temporalio.api.enums.v1 import EventType as E

    desc = await handle.describe()
    c = Cost(transitions=desc.raw_description.workflow_execution_info.state_transition_count)
    history = await handle.fetch_history()
    for e in history.events:
        c.events += 1
        c.workflow_tasks += e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        c.activities += e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        c.timers += e.event_type == E.EVENT_TYPE_TIMER_STARTED
        if e.event_type == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = e.upsert_workflow_search_attributes_event_attributes.search_attributes
            c.upserts += any(k != "TemporalChangeVersion" for k in fields.indexed_fields)
        c.payload_bytes += _payloads(e)
        c.history_bytes += e.ByteSize()
    return c


async def bounded(n: int, limit: int, job: Callable[[int], Awaitable[Any]]) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def one(i: int) -> Any:
        async with sem:
            return await job(i)

    return await asyncio.gather(*(one(i) for i in range(n)))


async def phase(
    name: str,
    n: int,
    concurrency: int,
    one: Callable[[int], Awaitable[Run]],
    meters: dict[str, Meter],
    *,
    count: bool = True,
) -> Phase:
    """Run ``one(i)`` for i < n, at most ``concurrency`` at once; CPU per lifecycle of each
    metered process, peak RSS, latencies; then (``count``) the engine's cost per lifecycle."""
    ph = Phase(name, n, concurrency)
    peaks = {k: m.rss_mb() for k, m in meters.items()}
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            for k, m in meters.items():
                peaks[k] = max(peaks[k], m.rss_mb())
            try:
                await asyncio.wait_for(stop.wait(), 0.25)
            except TimeoutError:
                pass

    async def timed(i: int) -> Run:
        t0 = time.perf_counter()
        r = await one(i)
        ph.latencies.append(time.perf_counter() - t0)
        return r

    for m in meters.values():
        m.mark()
    sampler = asyncio.create_task(sample())
    t0 = time.perf_counter()
    runs = await bounded(n, concurrency, timed)
    ph.wall = time.perf_counter() - t0
    usage = {k: m.read() for k, m in meters.items()}
    stop.set()
    await sampler
    ph.cpu = {k: u.cpu / n for k, u in usage.items()}
    ph.rss_mb = peaks
    ph.handles = [h for h, _ in runs]
    ph.results = [r for _, r in runs]
    if count:
        costs = await bounded(
            sum(len(h) for h in ph.handles),
            10,
            lambda i: cost_of([h for hs in ph.handles for h in hs][i]),
        )
        for f in Cost.__dataclass_fields__:
            setattr(ph.cost, f, sum(getattr(c, f) for c in costs) / n)
    return ph


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def totals(ph: Phase, keys: Sequence[str]) -> float:
    return sum(ph.cpu.get(k, 0.0) for k in keys)

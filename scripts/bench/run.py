"""A bench run of one lifecycle: the real workflow, then its no-op twin, on one stack."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.bench.lifecycles import LIFECYCLES, twin
from scripts.bench.measure import Cost, Phase, phase
from scripts.bench.shape import counts, script
from scripts.bench.stack import Meter, Worker, postgres, temporal

SWEEP = {1: 3, 10: 10, 50: 50, 100: 100}  # in flight -> lifecycles run at that level


@dataclass
class Result:
    lifecycle: str
    title: str
    day_seconds: float
    calendar_seconds: float
    real: Phase
    noop: Phase
    shape: dict[str, int]
    checks: list[str]
    sweep: dict[str, list[Phase]] = field(default_factory=dict)
    profile: list[tuple[str, float, float]] = field(default_factory=list)


@contextlib.contextmanager
def py_spy(pid: int, out: Path | None) -> Iterator[None]:
    """Sample ``pid`` with py-spy (collapsed stacks in ``out``) while the block runs."""
    if out is None:
        yield
        return
    import shutil
    import sys

    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    proc = subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
         "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


CATEGORIES = (  # the first that a sample's stack matches
    ("PostgreSQL driver (psycopg)", ("psycopg",)),
    ("SQLAlchemy (ORM and Core)", ("sqlalchemy",)),
    ("activities: the project's code, pydantic, the SDK", ("_handle_start_activity_task",)),
    ("workflow tasks: SDK, sandbox, the workflow's code", ("_WorkflowWorker", "workflow_sandbox")),
    ("payload conversion", ("converter", "visit_payload")),
)


def where_the_time_goes(raw: Path, top: int = 12) -> list[tuple[str, float, float]]:
    """From py-spy's raw stacks: (what, % of the busy samples, % of all samples) by
    category, then the project's own frames (% of busy samples inside each)."""
    cats: Counter[str] = Counter()
    own: Counter[str] = Counter()
    busy = total = 0
    if not raw.exists():
        return []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        leaf = frames[-1]
        if (
            "select (selectors" in leaf
            or "EpollSelector.select" in leaf
            or (frames[0].startswith("Thread._bootstrap") and "_worker (concurrent" in leaf)
        ):
            continue  # waiting
        busy += n
        cat = next((c for c, keys in CATEGORIES if any(k in stack for k in keys)), "other")
        cats[cat] += n
        mine = {
            f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0] + ")"
            for f in frames
            if f.split(" (")[-1].startswith(("models/", "activities/", "workflows/"))
        }
        for f in mine:
            own[f] += n
    if not busy:
        return []
    rows = [(c, 100 * v / busy, 100 * v / total) for c, v in cats.most_common()]
    rows += [(f"  {f}", 100 * v / busy, 100 * v / total) for f, v in own.most_common(top)]
    return rows


async def connect(address: str) -> Any:
    """A client of the dev server, once its frontend answers (its port opens before)."""
    import asyncio

    from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    for attempt in range(120):
        try:
            client = await Client.connect(address, data_converter=pydantic_data_converter)
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            return client
        except Exception:
            if attempt == 119:
                raise
            await asyncio.sleep(0.5)


def merge(phases: list[Phase]) -> Phase:
    """Phases of one kind (rounds) as one: sums, and averages weighted by lifecycles."""
    first = phases[0]
    n = sum(p.n for p in phases)
    m = Phase(first.name, n, first.concurrency)
    m.wall = sum(p.wall for p in phases)
    m.latencies = [x for p in phases for x in p.latencies]
    m.cpu = {k: sum(p.cpu[k] * p.n for p in phases) / n for k in first.cpu}
    m.rss_mb = {k: max(p.rss_mb[k] for p in phases) for k in first.rss_mb}
    for f in Cost.__dataclass_fields__:
        setattr(m.cost, f, sum(getattr(p.cost, f) * p.n for p in phases) / n)
    m.results = [r for p in phases for r in p.results]
    m.handles = [h for p in phases for h in p.handles]
    return m


async def bench(
    name: str,
    n: int,
    concurrency: int,
    day_seconds: float,
    *,
    rounds: int = 2,
    sweep: bool = False,
    profile: Path | None = None,
) -> Result:
    """``rounds`` times: n/rounds real lifecycles, then as many of the twin (both workers up
    all along), so that whatever else the machine does weighs on both alike."""
    from models.common.db import Database
    from workers.settings import Settings

    with tempfile.TemporaryDirectory(prefix="bench-") as tmpdir:
        tmp = Path(tmpdir)
        with postgres(tmp) as (db_url, pg_pid), temporal(tmp) as (address, server_pid):
            client = await connect(address)
            db = Database(db_url, pool_size=20)
            settings = Settings(day_seconds=day_seconds, metrics_bind="")
            run = uuid.uuid4().hex[:6]
            real_tq, noop_tq = f"real-{run}", f"noop-{run}"
            lc = LIFECYCLES[name](client, db, settings, real_tq)
            shared = {
                "server": Meter(server_pid),
                "postgres": Meter(pg_pid, tree=True),
                "client": Meter(os.getpid()),
            }
            cfg = dict(address=address, database_url=db_url, day_seconds=day_seconds)
            counter = iter(range(10**9))
            workers: list[Worker] = []
            try:
                await lc.setup()
                real_w = await Worker.start("real", task_queue=real_tq, **cfg)
                workers.append(real_w)
                noop_w = await Worker.start("noop", task_queue=noop_tq, **cfg)
                workers.append(noop_w)
                real_m = {**shared, "worker": real_w.meter}
                noop_m = {**shared, "worker": noop_w.meter}

                async def real_one(i: int) -> Any:
                    return await lc.real(next(counter))

                async def noop_one(i: int) -> Any:
                    return await twin(
                        client, steps, lc.pokes, f"noop-{run}-{next(counter)}", noop_tq
                    )

                warm_handles, _ = await real_one(0)
                steps = script((await warm_handles[0].fetch_history()).events)
                await noop_one(0)
                reals: list[Phase] = []
                noops: list[Phase] = []
                for r in range(rounds):
                    k = n // rounds + (1 if r < n % rounds else 0)
                    with py_spy(real_w.proc.pid, profile if r == 0 else None):
                        reals.append(await phase("real", k, concurrency, real_one, real_m))
                    noops.append(await phase("noop", k, concurrency, noop_one, noop_m))
                real, noop = merge(reals), merge(noops)
                checks = await lc.check(real)
                levels: dict[str, list[Phase]] = {"real": [], "noop": []}
                if sweep:
                    for c, k in SWEEP.items():
                        levels["real"].append(
                            await phase(f"real@{c}", k, c, real_one, real_m, count=False)
                        )
                        levels["noop"].append(
                            await phase(f"noop@{c}", k, c, noop_one, noop_m, count=False)
                        )
            finally:
                for w in workers:
                    await w.stop()
                if hasattr(lc, "http"):
                    await lc.http.aclose()
                await db.dispose()
    return Result(
        lifecycle=name,
        title=lc.title,
        day_seconds=day_seconds,
        calendar_seconds=lc.calendar_days * day_seconds,
        real=real,
        noop=noop,
        shape=counts(steps),
        checks=checks,
        sweep=levels,
        profile=where_the_time_goes(profile) if profile else [],
    )

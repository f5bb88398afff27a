"""Wholesale burst against the engine's ceiling, measured side by side in one run (issue 14, P2).

    python -m scripts.load_wholesale [-n 1000] [-m 10] [-c 50] [--profile DIR]
    python -m scripts.load_wholesale -n 300 --open 0.5 0.8   # open load at 0.5x, 0.8x the ceiling

Everything runs here and is stopped at the end: an embedded PostgreSQL and a Temporal dev
server (file-backed SQLite) in a temp dir, one worker process (``workers.worker.build_worker``,
the project's workflows plus a one-activity workflow) and ``lifecycles api`` (one process:
two measured no better on 2 cores). Three phases, each after a warm-up:

1. ceiling: N one-activity workflows (one no-op activity, then done) started straight on the
   Temporal client, at most C in flight: the engine's workflows/s here, now;
2. burst: N customers × M subscribers through the HTTP API, at most C customers in flight
   (scripts/loadgen.py: POST the customer, poll its GET until ``provisioned``, then POST its
   subscribers one by one): customers/s, subscribers/s, p50/p99 to ``provisioned``;
3. ceiling again (the machine is shared: the ratio uses the mean of both ceilings).

With ``--open F [F ...]`` (or ``--rate R``) the burst is an open load instead: for each F,
N customers arrive at F × the ceiling just measured (one every 1/rate s, whatever is in
flight; nothing waits for a lane), each as in the burst. Its p50/p99 to ``provisioned`` is
the latency at that rate; 50 closed lanes at the ceiling measure their own queue instead.

CPU seconds of each process (API, worker, Temporal, PostgreSQL, this load generator) are read
from /proc per phase. ``--profile DIR`` runs py-spy on the API and the worker during the burst
and writes flame graphs and a text summary of where their time goes. The figures to compare
are the ratios: absolute rates move with whatever else runs on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow

from scripts.argtypes import above

# --- the ceiling's workflow (this module is re-imported in the sandbox: imports stay light) ---


@activity.defn(name="load_noop")
async def load_noop() -> None:
    """Does nothing: the ceiling measures the engine, not the work."""


@workflow.defn(name="LoadOneActivity")
class LoadOneActivity:
    @workflow.run
    async def run(self) -> str:
        await workflow.execute_activity(load_noop, start_to_close_timeout=timedelta(seconds=30))
        return "done"


# --- CPU of processes, from /proc ---------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children(pid: int) -> list[int]:
    """Every live descendant of ``pid``."""
    try:
        kids = [
            int(k)
            for t in os.listdir(f"/proc/{pid}/task")
            for k in Path(f"/proc/{pid}/task/{t}/children").read_text().split()
        ]
    except OSError:
        return []
    return kids + [g for k in kids for g in children(k)]


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid``, its live descendants and its reaped children."""
    total = 0.0
    for i, p in enumerate([pid, *children(pid)]):
        f = _stat(p)
        if f is None:
            continue
        total += int(f[11]) + int(f[12])  # utime, stime
        if i == 0:
            total += int(f[13]) + int(f[14])  # cutime, cstime: children already reaped
    return total / TICK


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants now (MB)."""
    total = 0
    for p in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@dataclass
class Processes:
    """The pids whose CPU is counted, by role."""

    pids: dict[str, int] = field(default_factory=dict)

    def cpu(self) -> dict[str, float]:
        out = {role: tree_cpu(pid) for role, pid in self.pids.items()}
        out["load generator"] = self_cpu()
        return out

    @staticmethod
    def delta(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        return {k: b[k] - a.get(k, 0.0) for k in b}


# --- the stack ----------------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    db_url: str
    address: str
    env: dict[str, str]
    procs: Processes
    children: list[subprocess.Popen] = field(default_factory=list)


@contextlib.contextmanager
def stack(tmp: Path, *, run: str) -> Iterator[Stack]:
    """PostgreSQL, Temporal, a worker and the API, all ours; stopped on the way out."""
    from models.common.db import upgrade
    from scripts import stack as dev
    from workers.settings import Settings

    address = f"127.0.0.1:{_free_port()}"
    settings = Settings(
        data_dir=tmp,
        temporal_address=address,
        ui_port=_free_port(),
        metrics_bind="",
        database_url=None,
    )
    pg = dev.database(settings)
    temporal = dev.temporal_server(settings)
    procs = Processes()
    stack_ = None
    try:
        upgrade(pg.url)
        assert temporal.process is not None and pg.server is not None
        procs.pids["temporal"] = temporal.process.pid
        pm = pg.server.get_pid()  # type: ignore[attr-defined]  # PostgresServer, untyped field
        assert pm is not None
        procs.pids["postgres"] = pm
        port = _free_port()
        env = {
            **os.environ,
            "LIFECYCLES_DATABASE_URL": pg.url,
            "LIFECYCLES_TEMPORAL_ADDRESS": address,
            "LIFECYCLES_TASK_QUEUE": f"load-{run}",
            "LIFECYCLES_API_BIND": f"127.0.0.1:{port}",
            "LIFECYCLES_METRICS_BIND": "",
            "LIFECYCLES_LOG_LEVEL": "WARNING",
            "LIFECYCLES_DATA_DIR": str(tmp),
        }
        stack_ = Stack(pg.url, address, env, procs)
        root = Path(__file__).parent.parent
        exe = str(Path(sys.executable).parent / "lifecycles")
        worker = subprocess.Popen(
            [sys.executable, "-m", "scripts.load_wholesale", "--worker"], env=env, cwd=root
        )
        api = subprocess.Popen([exe, "api"], env=env, cwd=root, stdout=subprocess.DEVNULL)
        stack_.children += [worker, api]
        procs.pids["worker"] = worker.pid
        procs.pids["api"] = api.pid
        deadline = time.monotonic() + 90
        while not dev.port_open(f"127.0.0.1:{port}"):
            if any(p.poll() is not None for p in stack_.children):
                raise RuntimeError("the worker or the API exited at start-up")
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not answer in 90 s")
            time.sleep(0.2)
        stack_.env["base"] = f"http://127.0.0.1:{port}"
        yield stack_
    finally:
        for p in stack_.children if stack_ else []:
            p.terminate()
        for p in stack_.children if stack_ else []:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        temporal.stop()
        if pg.server is not None:
            pg.server.cleanup()  # type: ignore[attr-defined]  # PostgresServer, untyped


async def _worker_main() -> None:
    """The worker process: the project's workflows and activities plus the ceiling's."""
    from activities.common import Deps
    from models.common.db import Database
    from models.common.mail import Mailer
    from workers.client import connect
    from workers.logging import configure_logging
    from workers.settings import Settings
    from workers.worker import build_worker

    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    assert settings.database_url
    client = await connect(settings)
    db = Database(settings.database_url, pool_size=min(settings.max_concurrent_activities, 20))
    worker = build_worker(
        client,
        Deps(db=db, mailer=Mailer.from_settings(settings), device_policy=settings.device_policy()),
        task_queue=settings.task_queue,
        settings=settings,
        extra_workflows=[LoadOneActivity],
        extra_activities=[load_noop],
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    run = asyncio.create_task(worker.run())
    await asyncio.wait([run, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    if not run.done():
        await worker.shutdown()
    await run
    await db.dispose()


# --- profiling ------------------------------------------------------------------------------------


class Profiler:
    """py-spy on the API and the worker while the burst runs (raw stacks and a flame graph)."""

    def __init__(self, out: Path | None, procs: Processes) -> None:
        self.out, self.procs = out, procs
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self) -> None:
        if self.out is None:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        spy = str(Path(sys.executable).parent / "py-spy")
        for role in ("api", "worker"):
            pids = [self.procs.pids[role], *children(self.procs.pids[role])]
            for pid in pids:
                if not _is_python(pid):
                    continue
                for fmt, ext in (("raw", "txt"), ("flamegraph", "svg")):
                    self.running.append(
                        (
                            f"{role}-{pid}.{ext}",
                            subprocess.Popen(
                                [
                                    spy,
                                    "record",
                                    "--pid",
                                    str(pid),
                                    "--rate",
                                    "50",
                                    "--format",
                                    fmt,
                                    "--output",
                                    str(self.out / f"{role}-{pid}.{ext}"),
                                    "--nonblocking",
                                    "--gil",
                                ],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                            ),
                        )
                    )

    def stop(self) -> dict[str, list[tuple[str, float]]]:
        for _, p in self.running:
            p.send_signal(signal.SIGINT)
        for _, p in self.running:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
        summary: dict[str, list[tuple[str, float]]] = {}
        if self.out is None:
            return summary
        for name, _ in self.running:
            if name.endswith(".txt") and (self.out / name).exists():
                summary[name] = where_time_goes(self.out / name)
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary


def _is_python(pid: int) -> bool:
    try:
        return "python" in os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False


OURS = ("api/", "models/", "workers/", "activities/", "workflows/")
TRUNK = ("serve (", "run_worker (")  # every sample of the process is under these


def where_time_goes(raw: Path, top: int = 12) -> list[tuple[str, float]]:
    """From py-spy's collapsed stacks (sampled only while holding the GIL, so the process's
    Python CPU, not its waits): the share of samples per package where the time was spent
    (self), then our own functions' inclusive shares."""
    by_package: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():  # a frame's text may hold a line break
            continue
        count = int(n)
        total += count
        frames = stack.split(";")
        by_package[_package(frames[-1])] += count
        for f in {_function(f) for f in frames if _where(f).startswith(OURS)}:
            if f.startswith(TRUNK):
                continue
            ours[f] += count
    if not total:
        return []
    rows = [(f"self in {k}", round(100 * c / total, 1)) for k, c in by_package.most_common(top)]
    rows += [(f"in {k}", round(100 * c / total, 1)) for k, c in ours.most_common(top)]
    return rows


def _where(frame: str) -> str:
    """``path`` of ``function (path:line)``, from site-packages or this checkout on."""
    where = frame.rpartition(" (")[2].rstrip(")").rpartition(":")[0]
    for cut in ("site-packages/", str(Path(__file__).parent.parent) + "/"):
        where = where.split(cut)[-1]
    return where


def _package(frame: str) -> str:
    where = _where(frame)
    if where.startswith(OURS):
        return where
    if "python3" in where or where.startswith("<"):
        return "stdlib " + where.rpartition("/")[2]
    return where.split("/")[0]


def _function(frame: str) -> str:
    return f"{frame.rpartition(' (')[0]} ({_where(frame)})"


# --- the phases -----------------------------------------------------------------------------------


async def lanes(
    n: int, limit: int, job: Callable[[int], Awaitable[Any]], ramp: float = 0.0
) -> None:
    """Jobs 0..n-1, at most ``limit`` at once: ``limit`` lanes taking the next job in order,
    lane k starting ``k * ramp / limit`` seconds in (so the first wave does not arrive as one
    block)."""
    next_i = 0

    async def lane(k: int) -> None:
        nonlocal next_i
        await asyncio.sleep(k * ramp / limit)
        while next_i < n:
            i, next_i = next_i, next_i + 1
            await job(i)

    await asyncio.gather(*(lane(k) for k in range(min(limit, n))))


async def ceiling(
    client: Any, task_queue: str, n: int, concurrency: int, tag: str, ramp: float
) -> float:
    """Workflows/s of N one-activity workflows (start to result), C in flight."""
    await client.execute_workflow(LoadOneActivity.run, id=f"{tag}-warm", task_queue=task_queue)

    async def one(i: int) -> None:
        await client.execute_workflow(LoadOneActivity.run, id=f"{tag}-{i}", task_queue=task_queue)

    t0 = time.perf_counter()
    await lanes(n, concurrency, one, ramp)
    return n / (time.perf_counter() - t0)


async def burst(
    base: str,
    token: str,
    template: str,
    run: str,
    n: int,
    m: int,
    concurrency: int,
    poll: float,
    ramp: float,
) -> dict[str, Any]:
    from scripts.loadgen import Http, Stats, _pct, one_customer

    stats = Stats()
    async with Http(
        base, {"Authorization": f"Bearer {token}"}, max_connections=concurrency * 2
    ) as http:
        await one_customer(http, -1, run, template, m, Stats(), poll=poll)  # warm-up

        async def one(i: int) -> None:
            await one_customer(http, i, run, template, m, stats, poll=poll)

        t0 = time.perf_counter()
        await lanes(n, concurrency, one, ramp)
        t1 = time.perf_counter()
    after_first_wave = [
        v for i, v in stats.provisioned_after_by_customer.items() if i >= concurrency
    ]
    sub_start = min((a for a, _ in stats.subscriber_spans), default=t0)
    sub_end = max((b for _, b in stats.subscriber_spans), default=t1)
    return {
        "wall_seconds": t1 - t0,
        **_served(stats, t0),
        "subscribers_per_second": n * m / (sub_end - sub_start) if n * m else 0.0,
        "p50_after_first_wave": _pct(after_first_wave, 50),
        "p99_after_first_wave": _pct(after_first_wave, 99),
    }


def _served(stats: Any, t0: float) -> dict[str, Any]:
    """What a phase served from ``t0`` on (closed or open): customers/s, the time to
    ``provisioned`` (p50, p99, max), the requests, retries and first failures."""
    from scripts.loadgen import _pct

    done = stats.customers_done_at
    return {
        "customers_per_second": len(done) / (max(done) - t0) if done else 0.0,
        "p50_seconds_to_provisioned": _pct(stats.provisioned_after, 50),
        "p99_seconds_to_provisioned": _pct(stats.provisioned_after, 99),
        "max_seconds_to_provisioned": max(stats.provisioned_after, default=float("nan")),
        "requests": stats.requests,
        "retries": stats.retries,
        "failures": stats.failures[:10],
    }


async def open_loop(
    base: str,
    token: str,
    template: str,
    run: str,
    n: int,
    m: int,
    rate: float,
    poll: float,
    first: int,
) -> dict[str, Any]:
    """N customers arriving at ``rate`` per second, one every 1/rate s whatever is in flight
    (an open load: nothing waits for a lane), each as in the burst (POST, poll until
    ``provisioned``, then its M subscribers). The time to ``provisioned`` is then the
    system's latency at that rate, not the queue a closed number of lanes builds."""
    from scripts.loadgen import Http, Stats, one_customer

    stats = Stats()
    in_flight = peak = 0
    async with Http(
        base, {"Authorization": f"Bearer {token}"}, max_connections=max(100, int(rate * 60))
    ) as http:
        await one_customer(http, first - 1, run, template, m, Stats(), poll=poll)  # warm-up

        async def one(i: int) -> None:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                await one_customer(http, i, run, template, m, stats, poll=poll)
            finally:
                in_flight -= 1

        t0 = time.perf_counter()
        tasks = []
        for k in range(n):
            delay = t0 + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(first + k)))
        offered = time.perf_counter()
        await asyncio.gather(*tasks)
        t1 = time.perf_counter()
    return {
        "rate_offered": rate,
        "arrivals_seconds": offered - t0,
        "wall_seconds": t1 - t0,
        **_served(stats, t0),
        "customers_in_flight_max": peak,
    }


async def main_async(
    customers: int = 100,
    subscribers: int = 10,
    concurrency: int = 50,
    *,
    poll: float = 0.1,
    ramp: float = 10.0,
    profile: Path | None = None,
    open_fractions: list[float] | None = None,
    rate: float | None = None,
) -> dict[str, Any]:
    """The closed burst between two ceilings; with ``open_fractions`` (of the ceiling just
    measured) or ``rate`` (customers/s), open-load phases instead, one per rate."""
    from scripts.loadgen import count_rows, setup_world
    from workers.client import connect
    from workers.settings import Settings

    run = f"lw{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="load-wholesale-") as tmpdir:
        with stack(Path(tmpdir), run=run) as st:
            client = await connect(
                Settings(temporal_address=st.address, metrics_bind="", database_url=None)
            )
            tq = st.env["LIFECYCLES_TASK_QUEUE"]
            template, token = await setup_world(st.db_url, run)
            procs = st.procs

            c0 = procs.cpu()
            ceiling_before = await ceiling(client, tq, customers, concurrency, f"{run}-a", ramp)
            c1 = procs.cpu()
            profiler = Profiler(profile, procs)
            profiler.start()
            opened: list[dict[str, Any]] = []
            rates = [rate] if rate else [f * ceiling_before for f in open_fractions or []]
            b: dict[str, Any] = {}
            if not rates:
                b = await burst(
                    st.env["base"],
                    token,
                    template,
                    run,
                    customers,
                    subscribers,
                    concurrency,
                    poll,
                    ramp,
                )
            for k, r in enumerate(rates):
                o = await open_loop(
                    st.env["base"],
                    token,
                    template,
                    run,
                    customers,
                    subscribers,
                    r,
                    poll,
                    first=(k + 1) * 1_000_000,
                )
                o["fraction_of_ceiling_before"] = r / ceiling_before
                opened.append(o)
            c2 = procs.cpu()
            hot = profiler.stop()
            ceiling_after = await ceiling(client, tq, customers, concurrency, f"{run}-b", ramp)
            c3 = procs.cpu()
            rss = {role: tree_rss_mb(pid) for role, pid in procs.pids.items()}
            in_store = await count_rows(st.db_url, run)
    mean_ceiling = (ceiling_before + ceiling_after) / 2
    cpu_ceiling = Processes.delta(c0, c1)
    cpu_burst = Processes.delta(c1, c2)
    for o in opened:
        o["ratio_customers_to_ceiling"] = o["customers_per_second"] / mean_ceiling
    warm = 1 if b else 0  # each phase has its warm-up customer
    return {
        "customers": customers,
        "subscribers_per_customer": subscribers,
        "concurrency": concurrency,
        "poll_seconds": poll,
        "ramp_seconds": ramp,
        "ceiling_before_per_second": ceiling_before,
        "ceiling_after_per_second": ceiling_after,
        "burst": b,
        "open": opened,
        "ratio_customers_to_ceiling": b.get("customers_per_second", 0.0) / mean_ceiling,
        "cpu_seconds_ceiling": cpu_ceiling,
        "cpu_seconds_ceiling_after": Processes.delta(c2, c3),
        "cpu_seconds_burst": cpu_burst,
        "rss_mb_at_end": rss,
        "store": {
            "customers": in_store[0] - warm - len(opened),
            "subscribers": in_store[1] - subscribers * (warm + len(opened)),
            "expected_customers": customers * max(1, len(opened)),
        },
        "where_time_goes": hot,
    }


def open_table(d: dict[str, Any]) -> str:
    n, m = d["customers"], d["subscribers_per_customer"]
    lines = [
        f"| open load: {n:,} customers × {m} per rate | "
        + " | ".join(f"{o['fraction_of_ceiling_before']:.2f}× ceiling" for o in d["open"])
        + " |",
        "|---" * (1 + len(d["open"])) + "|",
        "| ceiling: one-activity workflows/s (before / after) | "
        + " | ".join(
            f"{d['ceiling_before_per_second']:.1f} / {d['ceiling_after_per_second']:.1f}"
            for _ in d["open"]
        )
        + " |",
    ]

    def row(label: str, fmt: str, key: str) -> None:
        lines.append(f"| {label} | " + " | ".join(fmt.format(o[key]) for o in d["open"]) + " |")

    row("customers/s offered", "{:.2f}", "rate_offered")
    row("customers/s through the API", "{:.2f}", "customers_per_second")
    row("customers/s ÷ mean ceiling", "{:.2f}×", "ratio_customers_to_ceiling")
    row("p50 to provisioned (s)", "{:.2f}", "p50_seconds_to_provisioned")
    row("**p99 to provisioned (s)**", "**{:.2f}**", "p99_seconds_to_provisioned")
    row("max to provisioned (s)", "{:.2f}", "max_seconds_to_provisioned")
    row("customers in flight, at most", "{}", "customers_in_flight_max")
    row("HTTP requests", "{:,}", "requests")
    row("retries", "{}", "retries")
    s = d["store"]
    lines.append(
        f"\nin the store: {s['customers']:,} customers / {s['subscribers']:,} subscribers "
        f"(expected {s['expected_customers']:,} / {s['expected_customers'] * m:,})"
    )
    cb = d["cpu_seconds_burst"]
    total = n * len(d["open"])
    lines += ["", "| CPU, open phases | seconds | per customer (ms) |", "|---|---|---|"]
    for role in cb:
        lines.append(f"| {role} | {cb[role]:.1f} | {1000 * cb[role] / total:.0f} |")
    return "\n".join(lines)


def table(d: dict[str, Any]) -> str:
    if d["open"]:
        return open_table(d)
    b = d["burst"]
    n, m = d["customers"], d["subscribers_per_customer"]
    mean = (d["ceiling_before_per_second"] + d["ceiling_after_per_second"]) / 2
    lines = [
        f"| {n:,} × {m}, ≤ {d['concurrency']} customers in flight | figure |",
        "|---|---|",
        f"| ceiling: one-activity workflows/s (before / after) | "
        f"{d['ceiling_before_per_second']:.1f} / {d['ceiling_after_per_second']:.1f} |",
        f"| **customers/s through the API** | **{b['customers_per_second']:.1f}** |",
        f"| **customers/s ÷ ceiling** | **{b['customers_per_second'] / mean:.2f}×** |",
        f"| subscribers/s | {b['subscribers_per_second']:.0f} |",
        f"| p50 / **p99** to provisioned (s) | {b['p50_seconds_to_provisioned']:.2f} / "
        f"**{b['p99_seconds_to_provisioned']:.2f}** |",
        f"| p50 / p99 after the first {d['concurrency']} customers (s) | "
        f"{b['p50_after_first_wave']:.2f} / {b['p99_after_first_wave']:.2f} |",
        f"| HTTP requests (retries) | {b['requests']:,} ({b['retries']}) |",
        f"| in the store: customers / subscribers | {d['store']['customers']:,} / "
        f"{d['store']['subscribers']:,} |",
    ]
    cc, cb = d["cpu_seconds_ceiling"], d["cpu_seconds_burst"]
    lines += [
        "",
        "| CPU seconds | ceiling (before) | burst | burst per customer (ms) |",
        "|---|---|---|---|",
    ]
    for role in cb:
        lines.append(
            f"| {role} | {cc.get(role, 0):.1f} | {cb[role]:.1f} | {1000 * cb[role] / n:.0f} |"
        )
    lines.append(
        f"| total | {sum(cc.values()):.1f} | {sum(cb.values()):.1f} |"
        f" {1000 * sum(cb.values()) / n:.0f} |"
    )
    return "\n".join(lines)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options (``python -m scripts.load_wholesale`` and the bench's subcommand)."""
    positive_int, positive = above(int, 0), above(float, 0)
    ap.add_argument("--customers", "-n", type=positive_int, default=100)
    ap.add_argument("--subscribers", "-m", type=above(int, 0, inclusive=True), default=10)
    ap.add_argument("--concurrency", "-c", type=positive_int, default=50, help="In flight.")
    ap.add_argument("--poll", type=positive, default=0.1, help="Seconds between status polls.")
    ap.add_argument(
        "--ramp",
        type=above(float, 0, inclusive=True),
        default=10.0,
        help="Seconds over which the C lanes start (both phases; 0: all at once).",
    )
    ap.add_argument(
        "--open",
        type=positive,
        nargs="+",
        metavar="F",
        help="Open load instead of the closed burst: N customers arriving at F × the ceiling "
        "measured first in this run, one phase per F (e.g. --open 0.5 0.8).",
    )
    ap.add_argument(
        "--rate", type=positive, help="Open load at this many customers/s (instead of --open)."
    )
    ap.add_argument("--profile", type=Path, help="py-spy the API and worker into this folder.")
    ap.add_argument("--json", action="store_true", help="Print the figures as JSON too.")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure, print the tables, return the figures."""
    data = asyncio.run(
        main_async(
            args.customers,
            args.subscribers,
            args.concurrency,
            poll=args.poll,
            ramp=args.ramp,
            profile=args.profile,
            open_fractions=args.open,
            rate=args.rate,
        )
    )
    print(table(data))
    for name, rows in data["where_time_goes"].items():
        print(f"\n{name}: where the Python CPU goes (share of GIL-holding samples)")
        for frame, pct in rows:
            print(f"  {pct:5.1f}%  {frame}")
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_arguments(ap)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        asyncio.run(_worker_main())
        return
    run(args)


if __name__ == "__main__":
    # As the importable module, so the sandbox re-imports `scripts.load_wholesale`, not __main__.
    from scripts.exits import run_then_exit
    from scripts.load_wholesale import main as _main

    run_then_exit(_main)

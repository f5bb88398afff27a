"""Many open trials on the real calendar (issue 14, P3): what each one costs while it waits.

    python -m scripts.scale_trials [--levels 2000 20000] [-c 100] [--idle 60] [--cache 500]

Everything runs here and is stopped at the end: an embedded PostgreSQL and a Temporal dev
server (file-backed SQLite) in a temp dir, and one production worker (``lifecycles worker``,
``LIFECYCLES_MAX_CACHED_WORKFLOWS`` = ``--cache``) on the real calendar (a day is a day). For
each level, cumulatively (2,000, then 18,000 more to 20,000), it

1. starts the new trials through the public starter (``workers.starter.start_trial``: the
   start rules against the store, then the workflow) with ``-c`` in flight: starts/s;
2. waits until every trial is ``active`` in the read model and has done what it does before
   its first deadline (T-7, 23 days away), the worker idle;
3. reads, per open trial, PostgreSQL's database size and the Temporal dev server's SQLite
   (live pages, and its files on disk), the worker's and the server's resident memory, and
   the CPU every process uses over ``--idle`` seconds of waiting (it should not grow with the
   number of trials: nothing polls per trial).

The per-trial figures should be flat from level to level. Absolute rates depend on the
machine and on whatever else runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.bench.lifecycles import trial_request
from scripts.load_wholesale import Processes, _free_port, tree_rss_mb


@dataclass
class Stack:
    db_url: str
    address: str
    task_queue: str
    temporal_db: Path
    procs: Processes
    env: dict[str, str]
    worker: subprocess.Popen | None = None

    def start_worker(self) -> None:
        """The production worker (``lifecycles worker``) on this stack's queue."""
        exe = str(Path(sys.executable).parent / "lifecycles")
        self.worker = subprocess.Popen(
            [exe, "worker"],
            env=self.env,
            cwd=Path(__file__).parent.parent,
            stdout=subprocess.DEVNULL,
        )
        self.procs.pids["worker"] = self.worker.pid

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.terminate()
            try:
                self.worker.wait(60)
            except subprocess.TimeoutExpired:
                self.worker.kill()


@contextlib.contextmanager
def stack(tmp: Path, *, cache: int, run: str) -> Iterator[Stack]:
    """PostgreSQL and Temporal, ours; the worker once ``start_worker`` is called. All stopped
    on the way out."""
    from models.common.db import upgrade
    from scripts import stack as dev
    from workers.settings import Settings

    address = f"127.0.0.1:{_free_port()}"
    settings = Settings(
        data_dir=tmp, temporal_address=address, ui_port=_free_port(), metrics_bind=""
    )
    pg = dev.database(settings)
    temporal = dev.temporal_server(settings)
    st = None
    try:
        upgrade(pg.url)
        assert temporal.process is not None and pg.server is not None
        procs = Processes()
        procs.pids["temporal"] = temporal.process.pid
        pm = pg.server.get_pid()  # type: ignore[attr-defined]  # PostgresServer, untyped
        assert pm is not None
        procs.pids["postgres"] = pm
        task_queue = f"scale-{run}"
        env = {
            **os.environ,
            "LIFECYCLES_DATABASE_URL": pg.url,
            "LIFECYCLES_TEMPORAL_ADDRESS": address,
            "LIFECYCLES_TASK_QUEUE": task_queue,
            "LIFECYCLES_METRICS_BIND": "",
            "LIFECYCLES_LOG_LEVEL": "WARNING",
            "LIFECYCLES_DATA_DIR": str(tmp),
            "LIFECYCLES_MAX_CACHED_WORKFLOWS": str(cache),
        }
        env.pop("LIFECYCLES_DAY_SECONDS", None)  # the real calendar
        st = Stack(pg.url, address, task_queue, tmp / "temporal.db", procs, env)
        yield st
    finally:
        if st is not None:
            st.stop_worker()
        temporal.stop()
        if pg.server is not None:
            pg.server.cleanup()  # type: ignore[attr-defined]  # PostgresServer, untyped


# --- sizes --------------------------------------------------------------------------------------


def sqlite_sizes(path: Path) -> dict[str, int]:
    """Live bytes of the Temporal dev server's SQLite (pages in use, read through a
    read-only connection beside the server) and its files on disk (database + WAL)."""
    files = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        page = con.execute("PRAGMA page_size").fetchone()[0]
        pages = con.execute("PRAGMA page_count").fetchone()[0]
        free = con.execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        con.close()
    return {"live": page * (pages - free), "files": files}


async def pg_sizes(db: Any) -> dict[str, int]:
    """The database's size and its largest tables (with indexes and TOAST), in bytes."""
    async with db.autocommit() as pg:
        total = (
            await (await pg.execute("SELECT pg_database_size(current_database())")).fetchone()
        )[0]
        rows = await (
            await pg.execute(
                "SELECT relname, pg_total_relation_size(oid) FROM pg_class"
                " WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
            )
        ).fetchall()
    return {"database": total, **{f"table {n}": s for n, s in rows}}


async def count_active(db: Any, partner: str) -> int:
    async with db.autocommit() as pg:
        cur = await pg.execute(
            "SELECT count(*) FROM trial WHERE state = 'active' AND partner_org_id = %s", (partner,)
        )
        return int((await cur.fetchone())[0])


async def seed_partner(db: Any, run: str) -> str:
    """A partner whose sales admin starts the trials."""
    from models.common.orgs import create_partner

    async with db.session() as s:
        return await create_partner(s, f"Scale Partner {run}", 1, [(f"sales@{run}.test", "sales")])


async def backlog(client: Any, task_queue: str) -> int:
    """Workflow and activity tasks waiting on the queue (the server's approximate count)."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    total = 0
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        r = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=kind,
                report_stats=True,
            )
        )
        total += r.stats.approximate_backlog_count
    return total


# --- the phases ----------------------------------------------------------------------------------


def request(partner: str, run: str, i: int) -> Any:
    """The bench's trial (a new customer, messaging and calling, one number, set up now);
    numbers +1 415 2xx xxxx, unique up to 8,000,000 trials."""
    number = f"+1415{200 + i // 10_000:03d}{i % 10_000:04d}"
    return trial_request(partner, run, i, company=f"ScaleCo {i}", number=number)


async def start_many(
    client: Any, db: Any, settings: Any, st: Stack, partner: str, run: str, lo: int, hi: int, c: int
) -> dict[str, Any]:
    """Start trials lo..hi-1 through the public starter, c in flight."""
    from workers.starter import start_trial

    latencies: list[float] = []
    failures: list[str] = []
    next_i = lo

    async def lane() -> None:
        nonlocal next_i
        while next_i < hi:
            i, next_i = next_i, next_i + 1
            t = time.perf_counter()
            try:
                await start_trial(
                    client,
                    db,
                    settings,
                    request(partner, run, i),
                    trial_id=f"{run}{i:07d}",
                    task_queue=st.task_queue,
                )
            except Exception as err:  # counted and shown; the run goes on
                failures.append(f"{i}: {type(err).__name__}: {str(err)[:120]}")
                continue
            latencies.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(c)))
    wall = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "started": len(latencies),
        "seconds": wall,
        "starts_per_second": len(latencies) / wall,
        "p50_start_seconds": q[49],
        "p99_start_seconds": q[98],
        "failures": failures[:5],
        "failed": len(failures),
    }


async def settle(client: Any, db: Any, st: Stack, partner: str, n: int, limit: float) -> float:
    """Seconds until every trial is active and the task queue is empty."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        if st.worker is not None and st.worker.poll() is not None:
            raise RuntimeError(f"the worker exited ({st.worker.returncode})")
        if await count_active(db, partner) >= n and await backlog(client, st.task_queue) == 0:
            await asyncio.sleep(5)  # the last workflow tasks after the last activity
            if await backlog(client, st.task_queue) == 0:
                return time.perf_counter() - t0
        await asyncio.sleep(2)
    raise RuntimeError(f"not settled in {limit:.0f} s")


async def main_async(
    levels: list[int],
    concurrency: int,
    idle: float,
    cache: int,
    settle_limit: float,
    where: Path | None = None,
) -> dict[str, Any]:
    from models.common.db import Database
    from workers.client import connect
    from workers.settings import Settings

    run = f"s{uuid.uuid4().hex[:6]}"
    out: dict[str, Any] = {
        "cache": cache,
        "concurrency": concurrency,
        "dir": str(where or tempfile.gettempdir()),
        "levels": [],
    }
    with (
        tempfile.TemporaryDirectory(prefix="scale-trials-", dir=where) as tmpdir,
        stack(Path(tmpdir), cache=cache, run=run) as st,
    ):
        settings = Settings(temporal_address=st.address, metrics_bind="", database_url=st.db_url)
        client = await connect(settings)
        # The starter's pool, as an app that starts trials keeps one: no ping per checkout
        # (start_checks' statement proves its connection and reads again on a dropped one).
        db = Database(st.db_url, pool_size=min(concurrency, 20), pre_ping=False)
        try:
            partner = await seed_partner(db, run)
            st.start_worker()
            await asyncio.sleep(10)  # the worker is up, its schedules ensured
            base_pg, base_t = await pg_sizes(db), sqlite_sizes(st.temporal_db)
            base_rss = {k: tree_rss_mb(p) for k, p in st.procs.pids.items()}
            done = 0
            for level in levels:
                c0 = st.procs.cpu()
                started = await start_many(
                    client, db, settings, st, partner, run, done, level, concurrency
                )
                c1 = st.procs.cpu()
                started["cpu_ms_per_start"] = {
                    k: 1000 * v / max(1, started["started"])
                    for k, v in Processes.delta(c0, c1).items()
                }
                settled = await settle(
                    client, db, st, partner, done + started["started"], settle_limit
                )
                c2 = st.procs.cpu()
                started["cpu_ms_per_trial_until_waiting"] = {
                    k: 1000 * v / max(1, started["started"])
                    for k, v in Processes.delta(c0, c2).items()
                }
                done = level
                a = st.procs.cpu()
                await asyncio.sleep(idle)
                b = st.procs.cpu()
                cpu = Processes.delta(a, b)
                pg, t = await pg_sizes(db), sqlite_sizes(st.temporal_db)
                rss = {k: tree_rss_mb(p) for k, p in st.procs.pids.items()}
                n = level
                out["levels"].append(
                    {
                        "open_trials": n,
                        "start": started,
                        "settle_seconds": settled,
                        "pg_bytes_per_trial": (pg["database"] - base_pg["database"]) / n,
                        "pg_tables_bytes_per_trial": {
                            k.removeprefix("table "): (v - base_pg.get(k, 0)) / n
                            for k, v in sorted(pg.items(), key=lambda kv: -kv[1])
                            if k.startswith("table ") and v - base_pg.get(k, 0) > 0
                        },
                        "temporal_live_bytes_per_trial": (t["live"] - base_t["live"]) / n,
                        "temporal_file_bytes_per_trial": (t["files"] - base_t["files"]) / n,
                        "rss_mb": rss,
                        "rss_growth_kb_per_trial": {
                            k: 1024 * (rss[k] - base_rss[k]) / n for k in ("worker", "temporal")
                        },
                        "idle_cpu_cores": {k: v / idle for k, v in cpu.items()},
                    }
                )
                print(json.dumps(out["levels"][-1], default=str), file=sys.stderr, flush=True)
        finally:
            await db.dispose()
    return out


def table(d: dict[str, Any]) -> str:
    lv = d["levels"]
    rows: list[tuple[str, Any]] = [
        (f"starts/s (public starter, ≤ {d['concurrency']} in flight)",
         lambda x: f"{x['start']['starts_per_second']:.0f}"),
        ("start p50 / p99 (s)",
         lambda x: "{p50_start_seconds:.2f} / {p99_start_seconds:.2f}".format(**x["start"])),
        ("failed starts", lambda x: str(x["start"]["failed"])),
        ("CPU ms / start: Temporal server",
         lambda x: f"{x['start']['cpu_ms_per_start']['temporal']:.1f}"),
        ("CPU ms / start: starter (this process)",
         lambda x: f"{x['start']['cpu_ms_per_start']['load generator']:.1f}"),
        ("CPU ms / start: worker (first steps, while starting)",
         lambda x: f"{x['start']['cpu_ms_per_start']['worker']:.1f}"),
        ("until all active, worker idle (s)", lambda x: f"{x['settle_seconds']:.0f}"),
        ("CPU ms / trial until it waits (worker + server + PostgreSQL)",
         lambda x: "{:.0f}".format(sum(v for k, v in
                   x["start"]["cpu_ms_per_trial_until_waiting"].items() if k != "load generator"))),
        ("**PostgreSQL bytes / open trial**", lambda x: f"**{x['pg_bytes_per_trial']:,.0f}**"),
        ("**Temporal SQLite live bytes / open trial**",
         lambda x: f"**{x['temporal_live_bytes_per_trial']:,.0f}**"),
        ("Temporal SQLite files (db + WAL) bytes / open trial",
         lambda x: f"{x['temporal_file_bytes_per_trial']:,.0f}"),
        ("worker RSS (MB)", lambda x: f"{x['rss_mb']['worker']:.0f}"),
        ("Temporal server RSS (MB)", lambda x: f"{x['rss_mb']['temporal']:.0f}"),
        ("idle CPU, worker (cores)", lambda x: f"{x['idle_cpu_cores']['worker']:.3f}"),
        ("idle CPU, Temporal server (cores)", lambda x: f"{x['idle_cpu_cores']['temporal']:.3f}"),
        ("idle CPU, PostgreSQL (cores)", lambda x: f"{x['idle_cpu_cores']['postgres']:.3f}"),
    ]  # fmt: skip
    tables = sorted(
        {k for x in lv for k in x["pg_tables_bytes_per_trial"]},
        key=lambda k: -lv[-1]["pg_tables_bytes_per_trial"].get(k, 0),
    )[:6]
    for k in tables:
        rows.append(
            (
                f"PostgreSQL {k} bytes / trial",
                lambda x, k=k: f"{x['pg_tables_bytes_per_trial'].get(k, 0):,.0f}",
            )
        )
    lines = [
        "| open trials (cumulative) | " + " | ".join(f"{x['open_trials']:,}" for x in lv) + " |",
        "|---|" + "---:|" * len(lv),
    ]
    lines += [f"| {label} | " + " | ".join(f(x) for x in lv) + " |" for label, f in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--levels", type=int, nargs="+", default=[2000, 20000])
    ap.add_argument("--concurrency", "-c", type=int, default=100, help="Starts in flight.")
    ap.add_argument("--idle", type=float, default=60, help="Seconds of idle CPU measured.")
    ap.add_argument("--cache", type=int, default=500, help="The worker's max_cached_workflows.")
    ap.add_argument("--settle-limit", type=float, default=4 * 3600)
    ap.add_argument(
        "--dir",
        type=Path,
        default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None,
        help="Where PostgreSQL and Temporal keep their files (default /dev/shm: a RAM disk, so "
        "the disk's fsync does not set the pace; see docs/load.md).",
    )
    ap.add_argument("--json", type=Path, help="Write the figures here as JSON.")
    args = ap.parse_args()
    data = asyncio.run(
        main_async(
            sorted(args.levels),
            args.concurrency,
            args.idle,
            args.cache,
            args.settle_limit,
            args.dir,
        )
    )
    print(table(data))
    if args.json:
        args.json.write_text(json.dumps(data, indent=1, default=str))


if __name__ == "__main__":
    from scripts.exits import run_then_exit

    run_then_exit(main)

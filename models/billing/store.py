"""Billing transactions, used by the activities, the HTTP API and the CLI alike.

Usage (WH-B1): closing a day computes, in one SQL statement, each subscriber's and package's
prorated quantity of that day from the assignment intervals: seconds assigned within
[local midnight, next local midnight) divided by the day's length, rounded half away from zero
to six decimals. Closing replaces the day's rows, so it is idempotent and a range can be
closed again (backfill). A period's quantity is the sum of its days; customer and partner
lines sum their users.

Reports (WH-B2..B8, PX-6): a row per report; the file is streamed by PostgreSQL's ``COPY ...
TO STDOUT`` into the report folder in chunks of at most 1 MiB, never the whole report in
memory. Each download URL is signed with a per-report secret: deleting the report (row and
file) revokes every URL at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import text, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.billing import rules as R
from models.billing.contract import (
    SYSTEM_CREATOR,
    BillingPolicy,
    CloseDue,
    CloseResult,
    MonthlyJob,
    MonthlyReport,
    MonthlyResult,
    ReportError,
    ReportOutcome,
)
from models.billing.tables import BillingCharge, BillingReconciliationMonth, BillingReport
from models.common.db import Database
from models.common.refusal import RuleError, Violation
from models.wholesale import problems as P
from models.wholesale.store import Scope
from models.wholesale.tables import WholesaleSubPartner

log = structlog.get_logger(__name__)

REPORT_EXISTS = 10070  # WH-B4: delete the completed report first
CHUNK = 1 << 20  # bytes written to the report file at a time
REPORT_WORK_MEM = "64MB"  # PostgreSQL memory for the report's aggregate, its transaction only


def _now() -> datetime:
    return datetime.now(UTC)


# --- usage: closing days (WH-B1) -------------------------------------------------------------

_CLOSE_SQL = """
WITH days AS (
  SELECT g::date AS day,
         g AT TIME ZONE :tz AS starts,
         (g + interval '1 day') AT TIME ZONE :tz AS ends
  FROM generate_series(CAST(:first AS timestamp), CAST(:last AS timestamp), interval '1 day') g
), spans AS (
  SELECT d.day, extract(epoch FROM d.ends - d.starts) AS len,
         a.subscriber_id, a.package, a.partner_org_id, a.sub_partner_org_id, a.customer_id,
         a.external_customer_id,
         extract(epoch FROM least(coalesce(a.closed_at, d.ends), d.ends)
                            - greatest(a.opened_at, d.starts)) AS secs
  FROM days d
  JOIN wholesale_package_assignment a
    ON a.opened_at < d.ends AND (a.closed_at IS NULL OR a.closed_at > d.starts)
), per_day AS (
  SELECT day, subscriber_id, package, min(len) AS len, sum(secs) AS secs,
         min(partner_org_id) AS partner_org_id, min(sub_partner_org_id) AS sub_partner_org_id,
         min(customer_id) AS customer_id,
         min(external_customer_id COLLATE "C") AS external_customer_id
  FROM spans GROUP BY day, subscriber_id, package HAVING sum(secs) > 0
)
INSERT INTO billing_usage (day, subscriber_id, package, partner_org_id, sub_partner_org_id,
    customer_id, external_customer_id, customer_org_id, subscription_id, user_id, seconds,
    day_seconds, quantity)
SELECT p.day, p.subscriber_id, p.package, p.partner_org_id, p.sub_partner_org_id,
       p.customer_id, p.external_customer_id, cr.org_id, cr.subscription_id, sr.user_id,
       round(p.secs)::int, round(p.len)::int, round(least(p.secs / p.len, 1), 6)
FROM per_day p
LEFT JOIN billing_customer_ref cr ON cr.customer_id = p.customer_id
LEFT JOIN billing_subscriber_ref sr ON sr.subscriber_id = p.subscriber_id
"""

_MARK_DAYS_SQL = """
INSERT INTO billing_usage_day (day, timezone, lines, quantity, closed_at)
SELECT g::date, :tz, count(u.day), coalesce(sum(u.quantity), 0), now()
FROM generate_series(CAST(:first AS timestamp), CAST(:last AS timestamp), interval '1 day') g
LEFT JOIN billing_usage u ON u.day = g::date
GROUP BY g
ON CONFLICT (day) DO UPDATE SET timezone = EXCLUDED.timezone, lines = EXCLUDED.lines,
    quantity = EXCLUDED.quantity, closed_at = EXCLUDED.closed_at
"""


async def close_days(s: AsyncSession, first: date, last: date, tz: str) -> CloseResult:
    """Record the usage of every day from ``first`` to ``last`` (inclusive), replacing what
    was recorded for them: idempotent, and a backfill of a range is the same call."""
    R.zone(tz)  # an unknown zone is refused before any SQL
    if first > last:
        return CloseResult()
    # ignored below: sqlmodel types exec() for ORM statements; text() runs too
    await s.exec(text("SELECT pg_advisory_xact_lock(hashtext('billing_usage_close'))"))  # type: ignore[call-overload]
    params = {"first": first, "last": last, "tz": tz}
    await s.exec(  # type: ignore[call-overload]
        text("DELETE FROM billing_usage WHERE day BETWEEN :first AND :last"), params=params
    )
    inserted = await s.exec(text(_CLOSE_SQL), params=params)  # type: ignore[call-overload]
    await s.exec(text(_MARK_DAYS_SQL), params=params)  # type: ignore[call-overload]
    return CloseResult(
        first=first, last=last, days=(last - first).days + 1, lines=inserted.rowcount or 0
    )


async def close_range(db: Database, first: date, last: date, tz: str, today: date) -> CloseResult:
    """``lifecycles billing close --from --to``: a day is closed only once it is over."""
    if last >= today:
        raise RuleError.one("WH-B1", "to", f"a day is recorded once it is over: before {today}")
    async with db.session() as s:
        return await close_days(s, first, last, tz)


async def last_closed_day(s: AsyncSession) -> date | None:
    # ignored below: sqlmodel types exec() for ORM statements; text() runs too
    return (await s.exec(text("SELECT max(day) FROM billing_usage_day"))).scalar()  # type: ignore[call-overload]


async def close_due(db: Database, job: CloseDue) -> CloseResult:
    """Every day after the last closed one up to yesterday (local to ``job.timezone`` at
    ``job.as_of``), at most ``job.max_days`` of them; ``more`` says days remain."""
    yesterday = R.local_date(job.as_of, job.timezone) - timedelta(days=1)
    async with db.session() as s:
        last = await last_closed_day(s)
        if last is not None:
            first = last + timedelta(days=1)
        else:
            earliest = (
                # ignored below: sqlmodel types exec() for ORM statements; text() runs too
                await s.exec(text("SELECT min(opened_at) FROM wholesale_package_assignment"))  # type: ignore[call-overload]
            ).scalar()
            if earliest is None:
                return CloseResult()
            first = R.local_date(earliest, job.timezone)
        if first > yesterday:
            return CloseResult()
        upto = min(yesterday, first + timedelta(days=job.max_days - 1))
        result = await close_days(s, first, upto, job.timezone)
    result.more = upto < yesterday
    log.info("billing days closed", first=str(first), last=str(upto), lines=result.lines)
    return result


async def ensure_closed(db: Database, first: date, last: date, tz: str) -> CloseResult:
    """Close the days of [first, last] not closed yet (a report never misses a day)."""
    async with db.session() as s:
        row = (
            # ignored below: sqlmodel types exec() for ORM statements; text() runs too
            await s.exec(  # type: ignore[call-overload]
                text(
                    "SELECT min(g)::date, max(g)::date FROM generate_series(CAST(:first AS "
                    "timestamp), CAST(:last AS timestamp), interval '1 day') g "
                    "WHERE NOT EXISTS (SELECT 1 FROM billing_usage_day d WHERE d.day = g::date)"
                ),
                params={"first": first, "last": last},
            )
        ).one()
        if row[0] is None:
            return CloseResult()
        return await close_days(s, row[0], row[1], tz)


# --- WH-A5: one-off charges (the hook for Setup Assist) -----------------------------------


@dataclass(frozen=True)
class ChargeSpec:
    """A billing line other than daily usage. ``source_key`` makes it idempotent: adding
    the same key twice keeps the first line (e.g. ``setup_assist:<project id>``)."""

    source_key: str
    partner_org_id: str
    service_name: str
    sku: str
    description: str
    quantity: Decimal
    day: date
    sub_partner_org_id: str | None = None
    customer_id: str | None = None
    customer_org_id: str | None = None
    external_customer_id: str | None = None
    subscription_id: str | None = None


async def add_charge(s: AsyncSession, c: ChargeSpec) -> bool:
    """WH-A5: record a charge (Setup Assist: Express 1 per location, Standard the location's
    users) in the caller's transaction; it appears in every report whose period holds
    ``c.day``. True when added, False when ``source_key`` was already there."""
    if c.quantity <= 0:
        raise RuleError.one("WH-A5", "quantity", "must be positive")
    row = await s.exec(
        insert(BillingCharge)
        .values(
            source_key=c.source_key,
            partner_org_id=c.partner_org_id,
            sub_partner_org_id=c.sub_partner_org_id,
            customer_id=c.customer_id,
            customer_org_id=c.customer_org_id,
            external_customer_id=c.external_customer_id,
            subscription_id=c.subscription_id,
            service_name=c.service_name,
            sku=c.sku,
            description=c.description,
            quantity=c.quantity,
            day=c.day,
            created_at=_now(),
        )
        .on_conflict_do_nothing(index_elements=["source_key"])
        .returning(col(BillingCharge.id))
    )
    return row.first() is not None


# --- reports: create, read, list, delete (WH-B2, B4, B6..B8, PX-6) ------------------------------


@dataclass(frozen=True)
class ReportSpec:
    partner_org_id: str
    sub_partner_org_id: str | None
    type: str
    start: date
    end: date
    internal: bool
    created_by: str


def _forbidden(message: str) -> Violation:
    return Violation("WH-B8", "subPartnerOrgId", message, P.FORBIDDEN, 403)


def _exists(field: str, message: str) -> Violation:
    return Violation("WH-B4", field, message, REPORT_EXISTS, 409)


def visible(scope: Scope | None, q):
    """WH-B8: a partner sees its own reports and its sub-partners'; a sub-partner its own.
    ``None``: the operator (CLI) sees every report."""
    if scope is None:
        return q
    q = q.where(BillingReport.partner_org_id == scope.partner_org_id)
    if scope.sub_partner_org_id:
        q = q.where(BillingReport.sub_partner_org_id == scope.sub_partner_org_id)
    return q


async def report_sub_partner(s: AsyncSession, scope: Scope, requested: str | None) -> str | None:
    """The sub-partner a new report is for (WH-B8): a sub-partner's own report is always its
    own; a partner names one of its sub-partners, or none for its whole usage."""
    if scope.sub_partner_org_id:
        if requested and requested != scope.sub_partner_org_id:
            raise RuleError([_forbidden("not yours")])
        return scope.sub_partner_org_id
    if requested:
        sp = await s.get(WholesaleSubPartner, requested)
        if sp is None or sp.parent_org_id != scope.partner_org_id:
            raise RuleError([_forbidden("not a sub-partner of yours")])
    return requested


def period_refusal(start: date, end: date, today: date, lookback_years: int) -> None:
    problems = R.period_problems(start, end, today, lookback_years)
    if problems:
        raise RuleError([Violation("WH-B2", f, m) for f, m in problems])


async def create_report(
    s: AsyncSession, spec: ReportSpec, today: date, lookback_years: int
) -> tuple[BillingReport, bool]:
    """WH-B2 and WH-B4: the new report (IN_PROGRESS, True), or the one of the same partner,
    sub-partner, type and period still in progress (False). A COMPLETED one refuses (409):
    delete it first; a FAILED one does not count."""
    period_refusal(spec.start, spec.end, today, lookback_years)
    report_id = R.new_report_id()
    inserted = await s.exec(
        insert(BillingReport)
        .values(
            id=report_id,
            partner_org_id=spec.partner_org_id,
            sub_partner_org_id=spec.sub_partner_org_id,
            type=spec.type,
            category="RECONCILIATION",
            billing_start_date=spec.start,
            billing_end_date=spec.end,
            internal=spec.internal,
            status="IN_PROGRESS",
            errors=[],
            created_at=_now(),
            created_by=spec.created_by[:80],
            file_token=secrets.token_hex(32),
            rows=0,
            bytes=0,
        )
        .on_conflict_do_nothing()
        .returning(col(BillingReport.id))
    )
    if inserted.first() is not None:
        row = await s.get(BillingReport, report_id)
        assert row is not None
        return row, True
    q = select(BillingReport).where(
        BillingReport.partner_org_id == spec.partner_org_id,
        BillingReport.type == spec.type,
        BillingReport.billing_start_date == spec.start,
        BillingReport.billing_end_date == spec.end,
        col(BillingReport.status).in_(("IN_PROGRESS", "COMPLETED")),
    )
    q = q.where(
        col(BillingReport.sub_partner_org_id).is_(None)
        if spec.sub_partner_org_id is None
        else BillingReport.sub_partner_org_id == spec.sub_partner_org_id
    )
    existing = (await s.exec(q)).first()
    if existing is None:  # deleted meanwhile: a rare race, the caller may retry
        raise RuleError([_exists("id", "try again")])
    if existing.status == "IN_PROGRESS":
        return existing, False
    raise RuleError(
        [
            _exists(
                "billingStartDate",
                f"report {existing.id} already covers this period, type and sub-partner: "
                "delete it first to regenerate it",
            )
        ]
    )


async def get_report(s: AsyncSession, scope: Scope | None, report_id: str) -> BillingReport | None:
    return (
        await s.exec(visible(scope, select(BillingReport)).where(BillingReport.id == report_id))
    ).first()


SORTS = {
    "id": col(BillingReport.id),
    "billingStartDate": col(BillingReport.billing_start_date),
    "billingEndDate": col(BillingReport.billing_end_date),
    "status": col(BillingReport.status),
}


async def list_reports(
    s: AsyncSession,
    scope: Scope | None,
    *,
    start: date | None = None,
    end: date | None = None,
    type: str | None = None,
    status: str | None = None,
    sub_partner_org_id: str | None = None,
    sort_by: str = "billingStartDate",
    max_: int = 100,
    offset: int = 0,
) -> list[BillingReport]:
    """WH-B7: exact-match filters (a report inside the period with other dates is not
    returned), sorted (then by id), at most ``max_``."""
    q = visible(scope, select(BillingReport))
    if start is not None:
        q = q.where(BillingReport.billing_start_date == start)
    if end is not None:
        q = q.where(BillingReport.billing_end_date == end)
    if type is not None:
        q = q.where(BillingReport.type == type)
    if status is not None:
        q = q.where(BillingReport.status == status)
    if sub_partner_org_id is not None:
        q = q.where(BillingReport.sub_partner_org_id == sub_partner_org_id)
    q = q.order_by(SORTS[sort_by], col(BillingReport.id)).offset(offset).limit(max_)
    return list((await s.exec(q)).all())


def report_path(report_dir: str | Path, file_name: str) -> Path:
    return Path(report_dir) / file_name


async def delete_report(db: Database, scope: Scope | None, report_id: str, report_dir: str) -> bool:
    """WH-B4: the row and its file go, so every URL signed for it stops working at once."""
    async with db.session() as s:
        row = (
            await s.exec(
                visible(scope, select(BillingReport))
                .where(BillingReport.id == report_id)
                .with_for_update()
            )
        ).first()
        if row is None:
            return False
        file_name = row.file_name
        await s.delete(row)
    if file_name:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(report_path(report_dir, file_name).unlink)
    return True


# --- reports: generating the file ----------------------------------------------------------


def _literal(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


_SERVICES = ", ".join(
    f"({_literal(p)}, {_literal(sv.name)}, {_literal(sv.sku)}, {_literal(sv.description)})"
    for p, sv in R.PACKAGE_SERVICES.items()
)

_FILTER = """partner_org_id = %(partner)s
    AND (%(sub)s::text IS NULL OR sub_partner_org_id = %(sub)s::text)
    AND day BETWEEN %(start)s::date AND %(end)s::date"""

# The columns a line is grouped by, per type (beyond org, subscription and service).
_GROUPS = {"PARTNER": [], "CUSTOMER": ["customer_id"], "USER": ["customer_id", "subscriber_id"]}


def report_sql(report_type: str) -> str:
    """The report's rows, in Cisco's column names (WH-B5), for ``COPY (...) TO STDOUT``.
    Parameters: partner, sub, start, end.

    Usage is summed first on the fewest columns (subscriber and package for USER, customer
    and package for CUSTOMER: a hash aggregate like the bare sum), then each line is named
    from billing's copies of the ids (kept by triggers) and the service catalogue, and only
    the lines are sorted, byte-wise."""
    g = _GROUPS[report_type]
    org = "coalesce(cr.sub_partner_org_id, cr.partner_org_id)"
    if report_type == "USER":
        u_keys = "subscriber_id, package"
        joins = (
            " LEFT JOIN billing_subscriber_ref sr ON sr.subscriber_id = u.subscriber_id"
            " LEFT JOIN billing_customer_ref cr ON cr.customer_id = sr.customer_id"
        )
        u_cols = (
            f"{org} AS org_id, cr.subscription_id, sr.customer_id, u.subscriber_id,"
            " cr.org_id AS customer_org_id, cr.external_id AS external_customer_id, sr.user_id"
        )
    elif report_type == "CUSTOMER":
        u_keys = "customer_id, package"
        joins = " LEFT JOIN billing_customer_ref cr ON cr.customer_id = u.customer_id"
        u_cols = (
            f"{org} AS org_id, cr.subscription_id, u.customer_id,"
            " cr.org_id AS customer_org_id, cr.external_id AS external_customer_id"
        )
    else:
        u_keys = "coalesce(sub_partner_org_id, partner_org_id), subscription_id, package"
        joins = ""
        u_cols = "u.org_id, u.subscription_id"
    u_select = (
        "coalesce(sub_partner_org_id, partner_org_id) AS org_id, subscription_id, package"
        if report_type == "PARTNER"
        else u_keys
    )
    c_keys = "coalesce(sub_partner_org_id, partner_org_id), subscription_id, service_name, sku, "
    c_keys += "description" + (", customer_id" if g else "")
    c_cols = "coalesce(sub_partner_org_id, partner_org_id), subscription_id"
    c_cols += ", customer_id" if g else ""
    c_cols += ", NULL::text" if report_type == "USER" else ""
    c_cols += ", min(customer_org_id), min(external_customer_id)" if g else ""
    c_cols += ", NULL::text" if report_type == "USER" else ""
    cols = [
        'o.name AS "PARTNER_NAME"',
        'a.org_id AS "PARTNER_ORG_ID"',
        'a.subscription_id AS "SUBSCRIPTION_ID"',
        'a.service_name AS "SERVICE_NAME"',
        'a.sku AS "SKU"',
        'a.description AS "DESCRIPTION"',
        "to_char(a.first_day, 'YYYY-MM-DD') AS \"CONSUMPTION_START_DATE\"",
        "to_char(a.last_day, 'YYYY-MM-DD') AS \"CONSUMPTION_END_DATE\"",
        'trim_scale(a.quantity) AS "QUANTITY"',
    ]
    if g:
        cols += [
            'a.customer_org_id AS "CUSTOMER_ORG_ID"',
            'a.external_customer_id AS "CUSTOMER_EXTERNAL_ID"',
        ]
    if report_type == "USER":
        cols += [
            'a.subscriber_id AS "SUBSCRIBER_ID"',
            'a.user_id AS "USER_ID"',
            'NULL::text AS "WORKSPACE_ID"',
        ]
    order = ["org_id", "subscription_id", "service_name", "sku", "description", *g]
    return f"""
WITH svc(package, service_name, sku, description) AS (VALUES {_SERVICES}),
u AS (
  SELECT {u_select}, min(day) AS first_day, max(day) AS last_day, sum(quantity) AS quantity
  FROM billing_usage WHERE {_FILTER}
  GROUP BY {u_keys}
),
lines AS (
  SELECT {u_cols},
         coalesce(s.service_name, upper(u.package)) AS service_name,
         coalesce(s.sku, upper(u.package)) AS sku,
         coalesce(s.description, u.package) AS description,
         u.first_day, u.last_day, u.quantity
  FROM u LEFT JOIN svc s ON s.package = u.package{joins}
  UNION ALL
  SELECT {c_cols}, service_name, sku, description, min(day), max(day), sum(quantity)
  FROM billing_charge WHERE {_FILTER}
  GROUP BY {c_keys}
)
SELECT {", ".join(cols)} FROM lines a LEFT JOIN org o ON o.id = a.org_id
ORDER BY {", ".join(f'a.{c} COLLATE "C" NULLS FIRST' for c in order)}"""


def file_name_of(report_id: str) -> str:
    return hashlib.sha256(report_id.encode()).hexdigest()[:40] + ".csv"


async def stream_csv(db: Database, sql: str, params: dict[str, Any], path: Path) -> tuple[int, int]:
    """``COPY (sql) TO STDOUT`` into ``path`` (written as ``.part``, renamed when complete),
    1 MiB at a time. Returns (data rows, bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    newlines = size = 0
    f = await asyncio.to_thread(open, part, "wb")
    try:
        async with db.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            pg: Any = raw.driver_connection
            async with pg.cursor() as cur:
                # Room for the hash aggregate of a long period (else PostgreSQL sorts on disk).
                await cur.execute(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
                async with cur.copy(
                    f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)", params
                ) as copy:
                    buf = bytearray()
                    async for chunk in copy:
                        buf += chunk
                        if len(buf) >= CHUNK:
                            await asyncio.to_thread(f.write, bytes(buf))
                            newlines += buf.count(b"\n")
                            size += len(buf)
                            buf.clear()
                    if buf:
                        await asyncio.to_thread(f.write, bytes(buf))
                        newlines += buf.count(b"\n")
                        size += len(buf)
            await conn.rollback()
    finally:
        await asyncio.to_thread(f.close)
    await asyncio.to_thread(part.replace, path)
    return max(newlines - 1, 0), size


async def generate_report(db: Database, report_id: str, policy: BillingPolicy) -> ReportOutcome:
    """Close the period's missing days, stream the file, then mark the report COMPLETED in
    one statement. Idempotent: a finished report answers as it is; a report deleted while
    it was generated leaves no file behind."""
    async with db.session() as s:
        r = await s.get(BillingReport, report_id)
    if r is None:
        return ReportOutcome(
            report_id=report_id,
            status="FAILED",
            errors=[ReportError(code=R.GENERATION_FAILED, description="the report was deleted")],
        )
    if r.status != "IN_PROGRESS":
        return outcome_of(r)
    await ensure_closed(db, r.billing_start_date, r.billing_end_date, policy.timezone)
    name = file_name_of(r.id)
    path = report_path(policy.report_dir, name)
    rows, size = await stream_csv(
        db,
        report_sql(r.type),
        {
            "partner": r.partner_org_id,
            "sub": r.sub_partner_org_id,
            "start": r.billing_start_date,
            "end": r.billing_end_date,
        },
        path,
    )
    async with db.session() as s:
        done = await s.exec(
            update(BillingReport)
            .where(col(BillingReport.id) == report_id, col(BillingReport.status) == "IN_PROGRESS")
            .values(status="COMPLETED", completed_at=_now(), file_name=name, rows=rows, bytes=size)
        )
    if not done.rowcount:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(path.unlink)
    log.info("billing report generated", report_id=report_id, rows=rows, bytes=size)
    return ReportOutcome(report_id=report_id, status="COMPLETED", rows=rows, bytes=size)


async def fail_report(db: Database, report_id: str, errors: list[ReportError]) -> ReportOutcome:
    """PX-6: FAILED with ``errors[{code, description}]``; the partner may create it again."""
    async with db.session() as s:
        await s.exec(
            update(BillingReport)
            .where(col(BillingReport.id) == report_id, col(BillingReport.status) == "IN_PROGRESS")
            .values(
                status="FAILED",
                completed_at=_now(),
                errors=[e.model_dump(mode="json") for e in errors],
            )
        )
    return ReportOutcome(report_id=report_id, status="FAILED", errors=errors)


def outcome_of(r: BillingReport) -> ReportOutcome:
    return ReportOutcome(
        report_id=r.id,
        status=r.status,
        rows=r.rows,
        bytes=r.bytes,
        errors=[ReportError.model_validate(e) for e in r.errors],
    )


# --- PX-7: the monthly PARTNER reconciliation ------------------------------------------------


async def monthly_reports(db: Database, job: MonthlyJob) -> MonthlyResult:
    """The month before ``job.as_of``'s (local) month: one PARTNER report per partner with
    usage or charges in it, made once (deterministic ids; a partner's own report of the same
    period stands in for it, WH-B4). Returns the month's system reports still in progress,
    for the caller to start (again)."""
    first, last = R.previous_month(R.local_date(job.as_of, job.timezone))
    await ensure_closed(db, first, last, job.timezone)
    async with db.session() as s:
        if await s.get(BillingReconciliationMonth, first) is None:
            partners = (
                (
                    # ignored below: sqlmodel types exec() for ORM statements; text() runs too
                    await s.exec(  # type: ignore[call-overload]
                        text(
                            "SELECT partner_org_id FROM billing_usage WHERE day BETWEEN :f AND :l "
                            "UNION SELECT partner_org_id FROM billing_charge "
                            "WHERE day BETWEEN :f AND :l"
                        ),
                        params={"f": first, "l": last},
                    )
                )
                .scalars()
                .all()
            )
            now = _now()
            for partner in sorted(partners):
                await s.exec(
                    insert(BillingReport)
                    .values(
                        id=R.new_report_id(f"monthly:{partner}:{first.isoformat()}"),
                        partner_org_id=partner,
                        sub_partner_org_id=None,
                        type="PARTNER",
                        category="RECONCILIATION",
                        billing_start_date=first,
                        billing_end_date=last,
                        internal=False,
                        status="IN_PROGRESS",
                        errors=[],
                        created_at=now,
                        created_by=SYSTEM_CREATOR,
                        file_token=secrets.token_hex(32),
                        rows=0,
                        bytes=0,
                    )
                    .on_conflict_do_nothing()
                )
            s.add(BillingReconciliationMonth(month=first, reports=len(partners), created_at=now))
        pending = (
            await s.exec(
                select(BillingReport).where(
                    BillingReport.created_by == SYSTEM_CREATOR,
                    BillingReport.billing_start_date == first,
                    BillingReport.billing_end_date == last,
                    BillingReport.status == "IN_PROGRESS",
                )
            )
        ).all()
    return MonthlyResult(
        month=first,
        reports=[MonthlyReport(report_id=r.id, partner_org_id=r.partner_org_id) for r in pending],
    )

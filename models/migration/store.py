"""Migration transactions (WH-M1..M3, PX-8, WH-S3), called by the API, the CLI and the
``BroadWorksMigration`` activities alike.

Provisioning goes through the wholesale store: the customer row its workflow provisions (the
org, packages, location), ``provision_subscriber`` per user (WH-S1..S3, PX-2, the package
assignment WH-B1 bills from) and the phone numbers. Everything the migration creates is
recorded on its rows, so a rollback removes exactly that.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common.db import Database
from models.common.mail import Mailer
from models.common.outbox import deliver, put_many
from models.common.tables import Org, OrgUser, PhoneNumber
from models.migration.contract import (
    BatchArg,
    BatchResult,
    CustomerReady,
    CustomerStart,
    PrecheckReport,
    Problem,
    RollbackResult,
    migration_workflow_id,
)
from models.migration.export import BroadWorksExport
from models.migration.rules import (
    CALLING_PACKAGES,
    NOTICE_KIND,
    customer_packages,
    normal_email,
    normal_mac,
    parse_export,
    problem,
    px8_notice,
    user_subject,
)
from models.migration.tables import (
    Migration,
    MigrationDevice,
    MigrationLocation,
    MigrationNumber,
    MigrationSoftClient,
    MigrationUser,
)
from models.wholesale import store as wholesale
from models.wholesale.contract import customer_workflow_id
from models.wholesale.tables import (
    WholesaleCustomer,
    WholesalePackageAssignment,
    WholesaleSubscriber,
    WholesaleTemplate,
)

PROVISIONED = ("provisioned", "provisioned_with_errors")
CHUNK = 1000
Heartbeat = Callable[..., None]


def _now() -> datetime:
    return datetime.now(UTC)


def _chunks(items: list[Any], n: int = CHUNK) -> list[list[Any]]:
    return [items[i : i + n] for i in range(0, len(items), n)]


class MigrationRefused(Exception):
    """The precheck found blocking problems: nothing was written."""

    def __init__(self, report: PrecheckReport) -> None:
        self.report = report
        super().__init__(
            "; ".join(f"{p.subject}: {p.rule} ({p.field}): {p.message}" for p in report.problems)
        )


# --- precheck (before anything is written) -----------------------------------------------


async def conflicts(
    s: AsyncSession,
    x: BroadWorksExport,
    partner_org_id: str,
    provisioning_id: str,
    into: WholesaleCustomer | None = None,
) -> tuple[list[Problem], list[Problem]]:
    """WH-S3: what exists against this export: (blocking problems, warnings). ``into``: the
    existing wholesale customer the users go to (WH-M3), which must hold their packages."""
    p: list[Problem] = []
    warn: list[Problem] = []
    if into is not None:
        held = {x["name"] for x in into.packages if x.get("status") == "provisioned"}
        if into.status not in PROVISIONED or not into.org_id:
            p.append(problem("enterprise", "customerId", "WH-M1", f"the customer is {into.status}"))
        for u in x.users:
            if u.package not in held:
                p.append(
                    problem(
                        user_subject(u.id),
                        "package",
                        "WH-S3",
                        f"the customer has no provisioned {u.package} package",
                    )
                )
    else:
        template = await s.get(WholesaleTemplate, provisioning_id) if provisioning_id else None
        if template is None or template.partner_org_id != partner_org_id:
            p.append(problem("enterprise", "provisioningId", "WH-P2", "no onboarding template"))
        elif not template.pstn_provider and any(u.package in CALLING_PACKAGES for u in x.users):
            p.append(
                problem(
                    "enterprise",
                    "provisioningId",
                    "WH-P2",
                    "the template has no PSTN provider, needed by calling packages",
                )
            )
    ext = x.enterprise.id
    q = select(WholesaleCustomer.id).where(
        WholesaleCustomer.partner_org_id == partner_org_id,
        WholesaleCustomer.external_id == ext,
    )
    if into is not None:
        q = q.where(WholesaleCustomer.id != into.id)
    if (await s.exec(q)).first() is not None:
        p.append(problem("enterprise", "id", "WH-S3", "a wholesale customer has this external ID"))
    if (
        await s.exec(
            select(Migration.id).where(
                Migration.partner_org_id == partner_org_id,
                Migration.external_id == ext,
                Migration.state != "rolled_back",
            )
        )
    ).first() is not None:
        p.append(problem("enterprise", "id", "WH-M1", "this enterprise is already migrating"))

    by_email: dict[str, list[str]] = {}
    for u in x.users:
        by_email.setdefault(normal_email(u.email), []).append(u.id)
    emails = list(by_email)
    for chunk in _chunks(emails):
        for email in (
            await s.exec(
                select(WholesaleSubscriber.email).where(col(WholesaleSubscriber.email).in_(chunk))
            )
        ).all():
            p += [
                problem(
                    user_subject(uid),
                    "email",
                    "WH-S3",
                    "already provisioned as a subscriber of another customer or partner",
                )
                for uid in by_email[email]
            ]
        rows = (
            await s.exec(
                select(OrgUser.email, Org.kind, Org.id)
                .join(Org, col(Org.id) == col(OrgUser.org_id))
                .where(col(OrgUser.email).in_(chunk))
            )
        ).all()
        for email, kind, org_id in rows:
            for uid in by_email[email]:
                if into is not None and org_id == into.org_id:
                    p.append(
                        problem(
                            user_subject(uid), "email", "WH-S3", "already a user of the customer"
                        )
                    )
                elif kind == "free":
                    warn.append(
                        problem(
                            user_subject(uid),
                            "email",
                            "PX-2",
                            "belongs to a free Webex account: the user must consent to the move",
                            blocking=False,
                        )
                    )
                else:
                    p.append(
                        problem(
                            user_subject(uid),
                            "email",
                            "WH-S3",
                            "the email is in use in another org",
                        )
                    )

    owner = {u.number: u.id for u in x.users if u.number}
    numbers = list({n.number for n in x.numbers} | set(owner))
    for chunk in _chunks(numbers):
        taken = (
            await s.exec(
                select(PhoneNumber.number).where(
                    col(PhoneNumber.number).in_(chunk), PhoneNumber.state != "released"
                )
            )
        ).all()
        # the wholesale store has kept numbers as digits and as E.164: match both
        forms = {"".join(ch for ch in n if ch.isdigit()): n for n in chunk}
        forms.update({n: n for n in chunk})
        taken_by_sub = (
            await s.exec(
                select(WholesaleSubscriber.primary_phone_number).where(
                    col(WholesaleSubscriber.primary_phone_number).in_(list(forms))
                )
            )
        ).all()
        for number in sorted(set(taken) | {forms[d] for d in taken_by_sub if d}):
            subject = user_subject(owner[number]) if number in owner else f"number {number}"
            p.append(problem(subject, "number", "WH-S3", "the number belongs to another org"))
    return p, warn


def _summary(x: BroadWorksExport | None) -> dict[str, Any]:
    if x is None:
        return {}
    packages: dict[str, int] = {}
    for u in x.users:
        packages[u.package] = packages.get(u.package, 0) + 1
    return dict(
        external_id=x.enterprise.id,
        users=len(x.users),
        locations=len(x.locations),
        numbers=len(x.numbers),
        devices=len(x.devices),
        soft_clients=len(x.soft_clients),
        packages=packages,
    )


async def precheck(
    s: AsyncSession,
    data: Any,
    partner_org_id: str,
    provisioning_id: str,
    into: WholesaleCustomer | None = None,
) -> tuple[PrecheckReport, BroadWorksExport | None]:
    """Every problem of the file, by user and field, then WH-S3's conflicts with what exists
    (``into``: the existing customer the users would join, WH-M3). Writes nothing."""
    x, problems = parse_export(data)
    warnings: list[Problem] = []
    if x is not None:
        more, warnings = await conflicts(s, x, partner_org_id, provisioning_id, into)
        problems += more
    blocking = [p for p in problems if p.blocking]
    report = PrecheckReport(
        ok=not blocking,
        migration_id=migration_workflow_id(partner_org_id, x.enterprise.id) if x else None,
        problems=blocking,
        warnings=warnings + [p for p in problems if not p.blocking],
        **_summary(x),
    )
    return report, x


# --- start: the export into the store (the workflow carries only the id) ------------------


async def create_migration(
    db: Database,
    data: Any,
    *,
    partner_org_id: str,
    sub_partner_org_id: str | None,
    provisioning_id: str,
    started_by: str = "",
    customer_id: str | None = None,
) -> tuple[Migration, PrecheckReport]:
    """Precheck, then write the migration and its export in one transaction (state
    ``prechecked``). Raises ``MigrationRefused`` (nothing written) on blocking problems.
    The same enterprise again while its migration is open answers that migration.
    ``customer_id``: migrate into that existing wholesale customer (the caller has checked
    it sees it) instead of creating one."""
    async with db.session() as s:
        existing = await open_migration(s, partner_org_id, _external_id(data))
        if existing is not None:
            report = PrecheckReport(ok=True, migration_id=existing.workflow_id)
            return existing, report
        into = await s.get(WholesaleCustomer, customer_id) if customer_id else None
        if customer_id and into is None:
            raise LookupError("customer")
        if into is not None:
            provisioning_id = into.provisioning_id
        report, x = await precheck(s, data, partner_org_id, provisioning_id, into)
        if not report.ok or x is None:
            raise MigrationRefused(report)
        now = _now()
        e = x.enterprise
        m = Migration(
            id=uuid.uuid4().hex,
            workflow_id=migration_workflow_id(partner_org_id, e.id),
            partner_org_id=partner_org_id,
            sub_partner_org_id=sub_partner_org_id,
            external_id=e.id,
            name=e.name,
            country=e.country,
            language=e.language or "en",
            admin_email=normal_email(e.admin_email),
            address=e.address.model_dump(),
            provisioning_id=provisioning_id,
            started_by=started_by,
            state="prechecked",
            customer_id=into.id if into else None,
            existing_customer=into is not None,
            total_users=len(x.users),
            created_at=now,
            updated_at=now,
        )
        s.add(m)
        await s.flush()
        await _insert_many(
            s,
            MigrationUser,
            [
                dict(
                    migration_id=m.id,
                    idx=i,
                    user_id=u.id,
                    email=normal_email(u.email),
                    first_name=u.first_name,
                    last_name=u.last_name,
                    package=u.package,
                    extension=u.extension or None,
                    number=u.number or None,
                    location_id=u.location_id,
                    state="pending",
                    attempts=0,
                    reason="",
                    client=None,
                )
                for i, u in enumerate(x.users)
            ],
        )
        await _insert_many(
            s,
            MigrationLocation,
            [
                dict(
                    migration_id=m.id,
                    location_id=loc.id,
                    name=loc.name,
                    country=loc.country,
                    timezone=loc.timezone,
                    address=loc.address.model_dump(),
                )
                for loc in x.locations
            ],
        )
        numbers = {n.number: n.location_id for n in x.numbers}
        await _insert_many(
            s,
            MigrationNumber,
            [
                dict(migration_id=m.id, number=n, location_id=loc, created=False)
                for n, loc in numbers.items()
            ],
        )
        await _insert_many(
            s,
            MigrationDevice,
            [
                dict(
                    migration_id=m.id,
                    mac=normal_mac(d.mac),
                    model=d.model,
                    owner=d.owner,
                    state="broadworks",
                )
                for d in x.devices
            ],
        )
        await _insert_many(
            s,
            MigrationSoftClient,
            [
                dict(migration_id=m.id, owner=c.owner, platform=c.platform, client=c.client)
                for c in x.soft_clients
            ],
        )
        with_clients = sorted({c.owner for c in x.soft_clients})
        for chunk in _chunks(with_clients):
            await s.exec(
                update(MigrationUser)
                .where(
                    col(MigrationUser.migration_id) == m.id, col(MigrationUser.user_id).in_(chunk)
                )
                .values(client="uc_one")
            )
    return m, report


def _external_id(data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("enterprise"), dict):
        v = data["enterprise"].get("id")
        return v if isinstance(v, str) else ""
    return ""


async def _insert_many(s: AsyncSession, table: type, rows: list[dict[str, Any]]) -> None:
    for chunk in _chunks(rows, 2000):
        if chunk:
            await s.exec(insert(table).values(chunk))


async def open_migration(
    s: AsyncSession, partner_org_id: str, external_id: str
) -> Migration | None:
    return (
        await s.exec(
            select(Migration).where(
                Migration.partner_org_id == partner_org_id,
                Migration.external_id == external_id,
                Migration.state != "rolled_back",
            )
        )
    ).first()


async def find(
    s: AsyncSession,
    key: str,
    partner_org_id: str | None = None,
    sub_partner_org_id: str | None = None,
    customer_id: str | None = None,
) -> Migration | None:
    """By workflow ID (the latest attempt) or row id; limited to a partner (and one of its
    customers) when given."""
    q = select(Migration).where((col(Migration.workflow_id) == key) | (col(Migration.id) == key))
    if partner_org_id:
        q = q.where(Migration.partner_org_id == partner_org_id)
    if sub_partner_org_id:
        q = q.where(Migration.sub_partner_org_id == sub_partner_org_id)
    if customer_id:  # a customer admin: migrations into its own customer only
        q = q.where(Migration.customer_id == customer_id, col(Migration.existing_customer))
    return (await s.exec(q.order_by(col(Migration.created_at).desc()))).first()


async def _locked(s: AsyncSession, migration_id: str) -> Migration:
    m = (
        await s.exec(select(Migration).where(Migration.id == migration_id).with_for_update())
    ).first()
    if m is None:
        raise LookupError(f"no migration {migration_id}")
    return m


async def _set(s: AsyncSession, migration_id: str, **values: Any) -> None:
    await s.exec(
        update(Migration)
        .where(col(Migration.id) == migration_id)
        .values(updated_at=_now(), **values)
    )


async def set_phase(db: Database, migration_id: str, phase: str, reason: str = "") -> None:
    async with db.session() as s:
        values: dict[str, Any] = {"state": phase}
        if reason:
            values["reason"] = reason[:1000]
        await _set(s, migration_id, **values)


async def approve(db: Database, migration_id: str, by: str) -> None:
    async with db.session() as s:
        await _set(s, migration_id, state="cut_over", approved_by=by[:254] or None)


# --- the customer (through the wholesale customer's own workflow) -------------------------


async def begin(db: Database, migration_id: str) -> CustomerStart:
    """The wholesale customer, marked Webex-for-BroadWorks (WH-M2: it comes in only this
    way), its packages those the users hold. Idempotent: a retry finds it."""
    async with db.session() as s:
        m = await _locked(s, migration_id)
        users_packages = (
            await s.exec(
                select(MigrationUser.package).where(MigrationUser.migration_id == m.id).distinct()
            )
        ).all()
        packages = customer_packages(users_packages)
        if m.existing_customer and m.customer_id:  # WH-M3: the customer's own workflow runs
            if m.state == "prechecked":
                await _set(s, m.id, state="provisioning")
            return CustomerStart(
                customer_id=m.customer_id,
                workflow_id=customer_workflow_id(m.customer_id),
                packages=packages,
                total_users=m.total_users,
                existing=True,
            )
        if m.customer_id is None:
            cid = wholesale.new_id()
            address = {
                "addressLine1": m.address.get("line1") or "-",
                "addressLine2": m.address.get("line2") or None,
                "city": m.address.get("city") or "-",
                "stateOrProvince": m.address.get("state") or None,
                "zipOrPostalCode": m.address.get("postal_code") or None,
                "country": m.country,
            }
            address = {k: v for k, v in address.items() if v is not None}
            info = {"name": m.name, "primaryEmail": m.admin_email, "language": m.language}
            params = {"webexForBroadWorks": True, "migration": m.workflow_id}
            now = _now()
            s.add(
                WholesaleCustomer(
                    id=cid,
                    partner_org_id=m.partner_org_id,
                    sub_partner_org_id=m.sub_partner_org_id,
                    external_id=m.external_id,
                    org_id=None,
                    attach=False,
                    provisioning_id=m.provisioning_id,
                    status="provisioning",
                    packages=[
                        {"name": p, "status": "provisioning", "warnings": [], "errors": []}
                        for p in packages
                    ],
                    errors=[],
                    address=address,
                    customer_info=info,
                    provisioning_parameters=params,
                    request_hash=wholesale.request_hash([address, info, params, packages]),
                    workflow_id=customer_workflow_id(cid),
                    created_at=now,
                    status_changed_at=now,
                )
            )
            await s.flush()
            await _set(s, m.id, customer_id=cid, state="provisioning")
            m.customer_id = cid
        return CustomerStart(
            customer_id=m.customer_id,
            workflow_id=customer_workflow_id(m.customer_id),
            packages=packages,
            total_users=m.total_users,
        )


async def customer_ready(
    db: Database, migration_id: str, within: float, heartbeat: Heartbeat, poll: float = 0.1
) -> CustomerReady:
    """Wait (heartbeating) until the customer's workflow has provisioned it, then record its
    org, its numbers (``phone_number`` rows it did not have) and its location."""
    loop = asyncio.get_running_loop()
    until = loop.time() + within
    while True:
        async with db.session() as s:
            m = await _locked(s, migration_id)
            c = await s.get(WholesaleCustomer, m.customer_id) if m.customer_id else None
            status = c.status if c else "missing"
            if c is not None and status in PROVISIONED and c.org_id:
                await _record_org(s, m, c)
                return CustomerReady(status=status, org_id=c.org_id)
            if status in ("error", "pending_rpl_review", "missing") or loop.time() > until:
                message = {
                    "error": "the wholesale customer could not be provisioned",
                    "pending_rpl_review": "the customer is held for compliance review (WH-C2)",
                    "missing": "the wholesale customer is gone",
                }.get(status, f"the customer was still {status} after {within:g} s")
                if c is not None and c.errors:
                    message += ": " + "; ".join(str(e.get("description")) for e in c.errors)
                return CustomerReady(status=status, org_id=c.org_id if c else None, message=message)
        heartbeat(status)
        await asyncio.sleep(poll)


async def _record_org(s: AsyncSession, m: Migration, c: WholesaleCustomer) -> None:
    numbers = (
        await s.exec(select(MigrationNumber.number).where(MigrationNumber.migration_id == m.id))
    ).all()
    created: list[str] = []
    for chunk in _chunks(list(numbers)):
        created += [
            row[0]
            for row in await s.exec(
                insert(PhoneNumber)
                .values([{"number": n, "org_id": c.org_id, "state": "assigned"} for n in chunk])
                .on_conflict_do_nothing(index_elements=["number"])
                .returning(col(PhoneNumber.number))
            )
        ]
    for chunk in _chunks(created):
        await s.exec(
            update(MigrationNumber)
            .where(
                col(MigrationNumber.migration_id) == m.id, col(MigrationNumber.number).in_(chunk)
            )
            .values(created=True)
        )
    # The wholesale customer has one calling location: every BroadWorks site maps to it.
    await s.exec(
        update(MigrationLocation)
        .where(col(MigrationLocation.migration_id) == m.id)
        .values(webex_location_id=c.location_id)
    )
    await _set(s, m.id, org_id=c.org_id)


# --- users, in batches ---------------------------------------------------------------------


async def provision_one(
    db: Database, mailer: Mailer, scope: wholesale.Scope, spec: wholesale.SubscriberSpec
) -> WholesaleSubscriber:
    """One user through the wholesale store (WH-S1..S3, PX-2). Tests replace this to fail."""
    sub, _ = await wholesale.provision_subscriber(db, mailer, scope, spec)
    return sub


async def provision_many(
    db: Database, scope: wholesale.Scope, specs: list[wholesale.SubscriberSpec]
) -> dict[str, WholesaleSubscriber]:
    """A batch's users with nothing to judge, in one transaction of the wholesale store
    (``provision_subscribers``); the others go through ``provision_one``. Tests replace
    this too."""
    return await wholesale.provision_subscribers(db, scope, specs)


def describe(err: BaseException) -> str:
    """A refusal's rules and fields, else the error's kind and text (kept in PostgreSQL)."""
    if problems := getattr(err, "problems", None):
        return "; ".join(getattr(p, "description", str(p)) for p in problems)[:1000]
    if violations := getattr(err, "violations", None):
        return "; ".join(str(v) for v in violations)[:1000]
    return f"{type(err).__name__}: {err}"[:1000]


async def _counts(s: AsyncSession, migration_id: str) -> dict[str, int]:
    rows = (
        await s.exec(
            select(MigrationUser.state, func.count())
            .where(MigrationUser.migration_id == migration_id)
            .group_by(MigrationUser.state)
        )
    ).all()
    return {state: n for state, n in rows}


async def provision_batch(
    db: Database, mailer: Mailer, arg: BatchArg, heartbeat: Heartbeat
) -> BatchResult:
    """The pending users of ``[start, end)``: each tried ``user_attempts`` times, then
    recorded failed with its reason; the others go on. Users done by an earlier attempt of
    this batch are skipped (the wholesale store answers a retried subscriber the same)."""
    async with db.session() as s:
        m = (await s.exec(select(Migration).where(Migration.id == arg.migration_id))).one()
        users = (
            await s.exec(
                select(MigrationUser)
                .where(
                    MigrationUser.migration_id == m.id,
                    col(MigrationUser.idx) >= arg.start,
                    col(MigrationUser.idx) < arg.end,
                    MigrationUser.state == "pending",
                )
                .order_by(col(MigrationUser.idx))
            )
        ).all()
        # whose account was where before (PX-2: a moved account goes back at a rollback)
        before = {
            email: org_id
            for email, org_id in (
                await s.exec(
                    select(OrgUser.email, OrgUser.org_id).where(
                        col(OrgUser.email).in_([u.email for u in users])
                    )
                )
            ).all()
        }
    assert m.customer_id and m.org_id, "the customer is provisioned first"
    scope = wholesale.Scope(m.partner_org_id, m.sub_partner_org_id)
    done = failed = 0
    results: list[dict[str, Any]] = []
    specs = [
        wholesale.SubscriberSpec(
            customer_id=m.customer_id,
            email=u.email,
            package=u.package,
            first_name=u.first_name,
            last_name=u.last_name,
            primary_phone_number=u.number,
            extension=u.extension,
            location_id=None,  # the customer's one location (see _record_org)
        )
        for u in users
    ]
    try:  # the users with nothing to judge at once; the others one by one, below
        at_once = await provision_many(db, scope, specs) if specs else {}
    except Exception as err:  # the batch is tried again user by user
        at_once = {}
        heartbeat(f"one by one: {describe(err)}")
    heartbeat(arg.start)
    for u, spec in zip(users, specs, strict=True):
        previous_org = before.get(u.email)
        previous_org = previous_org if previous_org != m.org_id else None
        reason, sub, attempts = "", at_once.get(u.email), 1 if u.email in at_once else 0
        for attempt in range(1, arg.user_attempts + 1):
            if sub is not None:
                break
            attempts = attempt
            try:
                sub = await provision_one(db, mailer, scope, spec)
                break
            except Exception as err:
                reason = describe(err)
                if attempt < arg.user_attempts:
                    await asyncio.sleep(arg.user_retry_seconds * attempt)
        if sub is not None:
            done += 1
            results.append(
                dict(
                    idx=u.idx,
                    state="provisioned",
                    attempts=attempts,
                    reason="",
                    subscriber_id=sub.id,
                    created_user_id=sub.person_id if previous_org is None else None,
                    previous_org_id=previous_org,
                )
            )
        else:
            failed += 1
            results.append(dict(idx=u.idx, state="failed", attempts=attempts, reason=reason))
        heartbeat(u.idx)
    phase = None
    async with db.session() as s:
        await _locked(s, m.id)
        now = _now()
        if results:  # one UPDATE by primary key for the batch
            await s.exec(
                update(MigrationUser),
                params=[dict(migration_id=m.id, updated_at=now, **r) for r in results],
            )
        counts = await _counts(s, m.id)
        values: dict[str, Any] = dict(
            users_done=counts.get("provisioned", 0), users_failed=counts.get("failed", 0)
        )
        reason = ""
        if arg.last:
            phase = "review" if counts.get("provisioned", 0) else "failed"
            values["state"] = phase
            if phase == "failed":
                reason = values["reason"] = "no user could be provisioned"
        await _set(s, m.id, **values)
    return BatchResult(
        done=done,
        failed=failed,
        total_done=values["users_done"],
        total_failed=values["users_failed"],
        phase=phase,
        reason=reason,
    )


# --- cut-over (WH-M1, PX-8) ---------------------------------------------------------------


async def cut_over_batch(
    db: Database, mailer: Mailer, arg: BatchArg, heartbeat: Heartbeat
) -> BatchResult:
    """The provisioned users of ``[start, end)``: their phones move, UC-One becomes the
    Webex App, and each gets PX-8's notice once (an outbox row under a unique key)."""
    keys: list[str] = []
    async with db.session() as s:
        m = await _locked(s, arg.migration_id)
        template = await s.get(WholesaleTemplate, m.provisioning_id)
        brand = template.brand_name if template else "Your service provider"
        users = (
            await s.exec(
                select(MigrationUser)
                .where(
                    MigrationUser.migration_id == m.id,
                    col(MigrationUser.idx) >= arg.start,
                    col(MigrationUser.idx) < arg.end,
                    col(MigrationUser.state).in_(["provisioned", "moved"]),
                )
                .order_by(col(MigrationUser.idx))
            )
        ).all()
        now = _now()
        rows = []
        ids = [u.user_id for u in users]
        for chunk in _chunks(ids):
            await s.exec(
                update(MigrationDevice)
                .where(
                    col(MigrationDevice.migration_id) == m.id,
                    col(MigrationDevice.owner).in_(chunk),
                    col(MigrationDevice.state) == "broadworks",
                )
                .values(state="moved", moved_at=now)
            )
            await s.exec(
                update(MigrationSoftClient)
                .where(
                    col(MigrationSoftClient.migration_id) == m.id,
                    col(MigrationSoftClient.owner).in_(chunk),
                    col(MigrationSoftClient.client) == "uc_one",
                )
                .values(client="webex_app", upgraded_at=now)
            )
        for u in users:
            key = f"migration:{m.partner_org_id}:{m.external_id}:px8:{u.email}"
            subject, body = px8_notice(
                u.first_name, m.name, brand, u.package, u.number, u.extension
            )
            rows.append(
                dict(
                    key=key,
                    kind=NOTICE_KIND,
                    recipient=u.email,
                    subject=subject,
                    body=body,
                    due_at=now,
                    workflow_id=m.workflow_id,
                )
            )
            keys.append(key)
        await put_many(s, rows, now=now)
        for chunk in _chunks([u.idx for u in users]):
            await s.exec(
                update(MigrationUser)
                .where(col(MigrationUser.migration_id) == m.id, col(MigrationUser.idx).in_(chunk))
                .values(state="moved", updated_at=now)
            )
            await s.exec(
                update(MigrationUser)
                .where(
                    col(MigrationUser.migration_id) == m.id,
                    col(MigrationUser.idx).in_(chunk),
                    col(MigrationUser.client) == "uc_one",
                )
                .values(client="webex_app")
            )
        phase = None
        if arg.last:
            phase = "completed"
            await _set(s, m.id, state="completed")
        moved = (await _counts(s, m.id)).get("moved", 0)
    await _deliver_all(db, mailer, keys, lambda n: heartbeat(arg.start + n))
    return BatchResult(done=len(users), total_done=moved, phase=phase)


DELIVERY_LANES = 4  # notices sent side by side (each its own transaction, row locked)


async def _deliver_all(
    db: Database, mailer: Mailer, keys: list[str], progress: Callable[[int], None]
) -> None:
    """PX-8's notices through the outbox (exactly once: a notice is locked while it is
    sent), in a few lanes at a time; ``progress`` after every chunk of 25."""
    chunks = [keys[i : i + 25] for i in range(0, len(keys), 25)]
    lanes = asyncio.Semaphore(DELIVERY_LANES)
    sent = 0

    async def one(chunk: list[str]) -> None:
        nonlocal sent
        async with lanes:
            await deliver(db, mailer, chunk)
            sent += len(chunk)
            progress(sent)

    await asyncio.gather(*(one(c) for c in chunks))


# --- rollback: what the migration created, and nothing else --------------------------------


async def rollback(
    db: Database,
    migration_id: str,
    stop_customer: Callable[[str], Awaitable[None]],
) -> RollbackResult:
    """Stop the customer's workflow, then in one transaction remove the subscribers and
    their package assignments, the org users and numbers the migration created (accounts it
    moved go back), the customer and its org. Idempotent."""
    async with db.session() as s:
        m = await _locked(s, migration_id)
        customer_id = m.customer_id
        keep_customer = m.existing_customer  # WH-M3: it existed before; it stays
    if customer_id and not keep_customer:
        await stop_customer(customer_workflow_id(customer_id))
    result = RollbackResult()
    async with db.session() as s:
        m = await _locked(s, migration_id)
        users = (
            await s.exec(select(MigrationUser).where(MigrationUser.migration_id == m.id))
        ).all()
        subs = [u.subscriber_id for u in users if u.subscriber_id]
        created = [u.created_user_id for u in users if u.created_user_id]
        for chunk in _chunks(subs):
            await s.exec(
                delete(WholesalePackageAssignment).where(
                    col(WholesalePackageAssignment.subscriber_id).in_(chunk)
                )
            )
            r = await s.exec(
                delete(WholesaleSubscriber).where(col(WholesaleSubscriber.id).in_(chunk))
            )
            result.subscribers += r.rowcount or 0
        if m.customer_id and not keep_customer:  # anything else it held (none expected)
            await s.exec(
                delete(WholesalePackageAssignment).where(
                    col(WholesalePackageAssignment.customer_id) == m.customer_id
                )
            )
            await s.exec(
                delete(WholesaleSubscriber).where(
                    col(WholesaleSubscriber.customer_id) == m.customer_id
                )
            )
        for chunk in _chunks(created):
            r = await s.exec(delete(OrgUser).where(col(OrgUser.id).in_(chunk)))
            result.users += r.rowcount or 0
        for u in users:
            if u.previous_org_id and m.org_id:
                await s.exec(
                    update(OrgUser)
                    .where(col(OrgUser.email) == u.email, col(OrgUser.org_id) == m.org_id)
                    .values(org_id=u.previous_org_id)
                )
        numbers = (
            await s.exec(
                select(MigrationNumber.number).where(
                    MigrationNumber.migration_id == m.id, col(MigrationNumber.created)
                )
            )
        ).all()
        for chunk in _chunks(list(numbers)):
            r = await s.exec(delete(PhoneNumber).where(col(PhoneNumber.number).in_(chunk)))
            result.numbers += r.rowcount or 0
        if m.customer_id and not keep_customer:
            c = await s.get(WholesaleCustomer, m.customer_id)
            if c is not None:
                await s.exec(delete(WholesaleCustomer).where(col(WholesaleCustomer.id) == c.id))
                result.customer_removed = True
                if c.org_id and not c.attach:
                    left = (
                        await s.exec(
                            select(func.count())
                            .select_from(OrgUser)
                            .where(OrgUser.org_id == c.org_id)
                        )
                    ).one()
                    if left == 0:
                        await s.exec(delete(Org).where(col(Org.id) == c.org_id))
        await s.exec(
            update(MigrationUser)
            .where(col(MigrationUser.migration_id) == m.id)
            .values(state="rolled_back", subscriber_id=None, updated_at=_now())
        )
        await _set(s, m.id, state="rolled_back")
    return result


# --- review and the report ------------------------------------------------------------------


async def user_rows(
    db: Database,
    migration_id: str,
    *,
    state: str | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Each user's outcome with its devices and soft clients (what the admin reviews)."""
    async with db.session() as s:
        q = select(MigrationUser).where(MigrationUser.migration_id == migration_id)
        if state:
            q = q.where(MigrationUser.state == state)
        q = q.order_by(col(MigrationUser.idx)).offset(offset)
        if limit is not None:
            q = q.limit(limit)
        users = (await s.exec(q)).all()
        owners = [u.user_id for u in users]
        devices: dict[str, list[str]] = {}
        clients: dict[str, list[str]] = {}
        for chunk in _chunks(owners):
            for d in (
                await s.exec(
                    select(MigrationDevice).where(
                        MigrationDevice.migration_id == migration_id,
                        col(MigrationDevice.owner).in_(chunk),
                    )
                )
            ).all():
                devices.setdefault(d.owner, []).append(f"{d.model} {d.mac} ({d.state})")
            for c in (
                await s.exec(
                    select(MigrationSoftClient).where(
                        MigrationSoftClient.migration_id == migration_id,
                        col(MigrationSoftClient.owner).in_(chunk),
                    )
                )
            ).all():
                clients.setdefault(c.owner, []).append(f"{c.platform}:{c.client}")
    return [
        dict(
            user_id=u.user_id,
            email=u.email,
            package=u.package,
            extension=u.extension,
            number=u.number,
            location_id=u.location_id,
            state=u.state,
            attempts=u.attempts,
            reason=u.reason,
            subscriber_id=u.subscriber_id,
            devices="; ".join(devices.get(u.user_id, [])),
            soft_clients="; ".join(clients.get(u.user_id, [])),
            notice_sent="yes" if u.state == "moved" else "",
        )
        for u in users
    ]

"""The trial's transactions, called by the starter, the CLI and the activities.

Every effect is idempotent: ids are derived from the trial id and writes are upserts, so a
retried activity (or a worker that dies after the commit) never does a thing twice. A row
that should be there and is not, or a value the store cannot hold, raises a non-retryable
``ApplicationError`` (models/common/failures.py): retrying would hold the workflow for ever.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog
from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.exceptions import ApplicationError

from models.common.countries import region_of
from models.common.db import Database
from models.common.failures import NOT_FOUND, not_found, unhealable
from models.common.mail import Mailer
from models.common.outbox import NoticeView, deliver
from models.common.refusal import RuleError
from models.common.tables import License, Org, OrgUser, PartnerCustomer, PhoneNumber
from models.trials import notices
from models.trials.contract import (
    VIEWS_KEPT,
    Conversion,
    EndServices,
    MassNotice,
    NoticeBatch,
    ProvisionPlan,
    StepResult,
    TrialInput,
    TrialPolicy,
    TrialRecord,
    TrialRequest,
    TrialStatus,
    TrialStep,
    no_release,
)
from models.trials.rules import numbers_conflicts, resolve_trial, services_conflicts
from models.trials.tables import Trial

log = structlog.get_logger(__name__)

# What the read model keeps of the workflow's status: the fields both share.
RECORDED = set(TrialStatus.model_fields) & set(Trial.model_fields)


def _now() -> datetime:
    return datetime.now(UTC)


async def start_checks(
    db: Database, req: TrialRequest, trial_id: str, policy: TrialPolicy
) -> TrialInput:
    """The starter's view of the start rules (nothing is written): one statement.

    The statement proves its connection, so a starter's pool needs no ping per checkout
    (``Database(pre_ping=False)``; issue 14, P3): a pooled connection the server has dropped
    fails the statement, goes out of the pool, and the read (nothing written) runs once more
    on a fresh connection."""
    async with db.autocommit() as pg:
        try:
            return await resolve_trial(pg, req, policy, trial_id)
        except psycopg.OperationalError:
            if not pg.closed:
                raise
    async with db.autocommit() as pg:  # the dead connection left the pool: once more
        return await resolve_trial(pg, req, policy, trial_id)


async def _trial(s: AsyncSession, trial_id: str) -> Trial:
    trial = await s.get(Trial, trial_id)
    if trial is None:
        raise not_found("trial", trial_id)
    return trial


async def _opened(s: AsyncSession, trial_id: str) -> Trial:
    """The trial a step acts on. Missing, it is missing for good: a step runs only after the
    trial's first step wrote it (handlers wait for it), so no retry can bring it."""
    trial = await s.get(Trial, trial_id)
    if trial is None:
        raise ApplicationError(f"no trial {trial_id}", type=NOT_FOUND, non_retryable=True)
    return trial


async def _org(s: AsyncSession, org_id: str) -> Org:
    org = await s.get(Org, org_id)
    if org is None:
        raise not_found("org", org_id)
    return org


async def open_trial(db: Database, inp: TrialInput, workflow_id: str) -> None:
    """Write the trial, and for a new customer its org, admin and numbers (TR-S2).

    The start rules that a race could break are checked again in this transaction (TR-S6;
    TR-E5: a number another org holds)."""
    try:
        with unhealable("open_trial", inp.trial_id):
            async with db.session() as s:
                await _open_trial(s, inp, workflow_id)
    except Exception:
        # Two attempts at once (a retry after a timeout): the one that committed wins.
        async with db.session() as s:
            if await s.get(Trial, inp.trial_id) is not None:
                return
        raise
    log.info("trial opened", trial_id=inp.trial_id, new_customer=inp.new_customer)


async def _open_trial(s: AsyncSession, inp: TrialInput, workflow_id: str) -> Trial | None:
    """The new trial (None: it was there already, a retry after the commit)."""
    now = _now()
    if await s.get(Trial, inp.trial_id) is not None:
        return None
    if not inp.new_customer:
        conflicts = await services_conflicts(
            s, inp.customer_org_id, inp.services, partner_org_id=inp.partner_org_id
        )
        if conflicts:
            raise RuleError(conflicts).to_application_error()
    if inp.new_customer and inp.customer is not None:
        c = inp.customer
        if conflicts := await numbers_conflicts(s, c.numbers):
            raise RuleError(conflicts).to_application_error()
        s.add(
            Org(
                id=inp.customer_org_id,
                kind="customer",
                name=c.company_name or "",
                country=c.country,
                region=region_of(c.country or ""),
                vertical=c.vertical,
                created_at=now,
            )
        )
        await s.flush()
        s.add(
            OrgUser(
                id=f"u-{inp.trial_id}",
                org_id=inp.customer_org_id,
                email=c.admin_email or "",
                admin_role="full",
                created_at=now,
            )
        )
        for n in c.numbers:
            existing = await s.get(PhoneNumber, n)
            if existing is None:
                s.add(PhoneNumber(number=n, org_id=inp.customer_org_id, state="assigned"))
            else:  # a released number is back in the pool (numbers_conflicts checked)
                existing.org_id, existing.state, existing.trial_id = (
                    inp.customer_org_id,
                    "assigned",
                    None,
                )
                existing.released_at = existing.retained_until = None
                s.add(existing)
    # TR-C2: a customer asked for consent is *pending customer trial approval*.
    status = "pending_customer_trial_approval" if inp.needs_consent else "active"
    await s.exec(
        insert(PartnerCustomer)
        .values(
            partner_org_id=inp.partner_org_id,
            customer_org_id=inp.customer_org_id,
            status=status,
            since=now,
        )
        .on_conflict_do_nothing()
    )
    trial = Trial(
        id=inp.trial_id,
        workflow_id=workflow_id,
        partner_org_id=inp.partner_org_id,
        customer_org_id=inp.customer_org_id,
        started_by=inp.started_by,
        customer_admin_email=inp.customer_admin_email,
        new_customer=inp.new_customer,
        services=list(inp.services),
        license_count=inp.license_count,
        days=inp.days,
        state="pending_consent" if inp.needs_consent else "awaiting_provisioning",
        created_at=now,
        updated_at=now,
    )
    s.add(trial)
    return trial


async def record_trial(db: Database, status: TrialStatus) -> None:
    """Keep the read model (the ``trial`` row) equal to the workflow's state."""
    with unhealable("record_trial", status.trial_id):
        async with db.session() as s:
            await s.exec(
                update(Trial)
                .where(col(Trial.id) == status.trial_id)
                .values(**status.model_dump(include=RECORDED), updated_at=_now())
            )


async def check_full_admin(db: Database, org_id: str, email: str) -> bool:
    """TR-C3: only a full admin of the customer org can accept."""
    async with db.session() as s:
        return await _is_full_admin(s, org_id, email)


async def _is_full_admin(s: AsyncSession, org_id: str, email: str) -> bool:
    user = (await s.exec(select(OrgUser).where(OrgUser.email == email))).first()
    return user is not None and user.org_id == org_id and user.admin_role == "full"


async def check_services_available(db: Database, trial_id: str, services: Sequence[str]) -> None:
    """TR-S6 for services added to a running trial; raises a RuleViolation."""
    async with db.session() as s:
        await _check_services(s, await _trial(s, trial_id), services)


async def _check_services(s: AsyncSession, trial: Trial, services: Sequence[str]) -> None:
    conflicts = await services_conflicts(
        s,
        trial.customer_org_id,
        services,
        partner_org_id=trial.partner_org_id,
        excluding_trial=trial.id,
    )
    if conflicts:
        raise RuleError(conflicts).to_application_error()


async def record_consent(db: Database, trial_id: str, partner_admin_level: str) -> None:
    """TR-C2/TR-C4: the customer becomes *awaiting provisioning details*."""
    with unhealable("record_consent", trial_id):
        async with db.session() as s:
            await _record_consent(s, await _trial(s, trial_id), partner_admin_level)


async def _record_consent(s: AsyncSession, trial: Trial, partner_admin_level: str) -> None:
    await s.exec(
        update(PartnerCustomer)
        .where(
            col(PartnerCustomer.partner_org_id) == trial.partner_org_id,
            col(PartnerCustomer.customer_org_id) == trial.customer_org_id,
        )
        .values(status="awaiting_provisioning_details", partner_admin_level=partner_admin_level)
    )


async def provision_trial(db: Database, plan: ProvisionPlan) -> None:
    """Make the org's trial licenses equal the plan (TR-S3: devices carry none)."""
    with unhealable("provision_trial", plan.trial_id):
        async with db.session() as s:
            await _provision(s, await _trial(s, plan.trial_id), plan)


async def _provision(s: AsyncSession, trial: Trial, plan: ProvisionPlan) -> None:
    now = _now()
    org = await _org(s, trial.customer_org_id)
    licensed = [svc for svc in plan.services if svc != "devices"]
    await s.exec(
        delete(License).where(
            col(License.trial_id) == plan.trial_id,
            col(License.source) == "trial",
            col(License.service).not_in(licensed),
        )
    )
    for svc in licensed:
        await s.exec(
            insert(License)
            .values(
                org_id=org.id,
                service=svc,
                quantity=plan.license_count,
                source="trial",
                trial_id=plan.trial_id,
                created_at=now,
            )
            .on_conflict_do_update(
                index_elements=["org_id", "service", "source", "trial_id"],
                set_={"quantity": plan.license_count},
            )
        )
    if "meetings" in plan.services:
        org.site_url = plan.site_url or org.site_url
        org.timezone = plan.timezone or org.timezone
    if "calling" in plan.services:
        org.calling_enabled = True
    s.add(org)
    await s.exec(
        update(PartnerCustomer)
        .where(
            col(PartnerCustomer.partner_org_id) == trial.partner_org_id,
            col(PartnerCustomer.customer_org_id) == trial.customer_org_id,
            col(PartnerCustomer.status) != "active",
        )
        .values(status="active")
    )


async def send_notices(
    db: Database, mailer: Mailer, batch: NoticeBatch, workflow_id: str | None
) -> list[NoticeView]:
    """Write the batch to the outbox (once per recipient) and send what is unsent."""
    with unhealable("send_notices", batch.trial_id):
        keys = await notices.enqueue(db, batch, workflow_id)
    sent = await deliver(db, mailer, keys)
    log.info("notices sent", kind=batch.kind, count=len(sent))
    return sent


async def end_trial_services(db: Database, req: EndServices) -> int:
    """Remove the trial's licenses; with calling, stop it and retain the numbers (TR-E5).

    Returns how many numbers are retained: with none, there is nothing to release later."""
    with unhealable("end_trial_services", req.trial_id):
        async with db.session() as s:
            return await _end_services(s, await _trial(s, req.trial_id), req)


async def _end_services(s: AsyncSession, trial: Trial, req: EndServices) -> int:
    await s.exec(
        delete(License).where(col(License.trial_id) == req.trial_id, col(License.source) == "trial")
    )
    if "calling" not in trial.services:
        return 0
    org = await _org(s, trial.customer_org_id)
    org.calling_enabled = False
    s.add(org)
    await s.exec(
        update(PhoneNumber)
        .where(
            col(PhoneNumber.org_id) == trial.customer_org_id,
            col(PhoneNumber.state) == "assigned",
        )
        .values(state="retained", trial_id=req.trial_id, retained_until=req.numbers_release_at)
    )
    # Counted after the update, so a retry after the commit gives the same answer.
    retained = (
        await s.exec(
            select(PhoneNumber.number).where(
                PhoneNumber.trial_id == req.trial_id, PhoneNumber.state == "retained"
            )
        )
    ).all()
    return len(retained)


async def migrate_to_free_org(db: Database, trial_id: str) -> str:
    """TR-E4, irreversible: a new free org takes the users; the trial org loses its
    licenses, site URL, admin roles and calling configuration. Numbers stay retained."""
    with unhealable("migrate_to_free_org", trial_id):
        async with db.session() as s:
            free_id = await _migrate(s, await _trial(s, trial_id))
    log.info("users moved to free org", trial_id=trial_id, free_org_id=free_id)
    return free_id


async def _migrate(s: AsyncSession, trial: Trial) -> str:
    free_id = f"free-{trial.id}"
    org = await _org(s, trial.customer_org_id)
    await s.exec(
        insert(Org)
        .values(
            id=free_id,
            kind="free",
            name=f"{org.name} (free)"[:200],
            country=org.country,
            region=org.region,
            created_at=_now(),
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    await s.exec(
        update(OrgUser).where(col(OrgUser.org_id) == org.id).values(org_id=free_id, admin_role=None)
    )
    await s.exec(delete(License).where(col(License.org_id) == org.id))
    org.site_url = None
    org.timezone = None
    org.calling_enabled = False
    s.add(org)
    return free_id


async def release_numbers(db: Database, trial_id: str) -> int:
    """TR-E5: the retained numbers go back to the pool."""
    async with db.session() as s:
        return await _release_numbers(s, trial_id)


async def _release_numbers(s: AsyncSession, trial_id: str) -> int:
    result = await s.exec(
        update(PhoneNumber)
        .where(col(PhoneNumber.trial_id) == trial_id, col(PhoneNumber.state) == "retained")
        .values(state="released", org_id=None, released_at=_now())
    )
    return result.rowcount or 0


async def convert_trial(db: Database, conv: Conversion) -> None:
    """TR-V1: the trial's licenses become paid; nothing of its usage is deleted."""
    with unhealable("convert_trial", conv.trial_id):
        async with db.session() as s:
            await _convert(s, await _trial(s, conv.trial_id), conv)


async def _convert(s: AsyncSession, trial: Trial, conv: Conversion) -> None:
    await s.exec(
        update(License)
        .where(col(License.trial_id) == conv.trial_id, col(License.source) == "trial")
        .values(source="paid")
    )
    await s.exec(
        update(PartnerCustomer)
        .where(
            col(PartnerCustomer.partner_org_id) == trial.partner_org_id,
            col(PartnerCustomer.customer_org_id) == trial.customer_org_id,
        )
        .values(status="active")
    )


async def remove_pending_customer(db: Database, trial_id: str) -> None:
    """TR-C3/TR-C5: a trial that never got consent leaves the partner's customer list."""
    async with db.session() as s:
        await _remove_pending(s, await _trial(s, trial_id))


async def _remove_pending(s: AsyncSession, trial: Trial) -> None:
    await s.exec(
        delete(PartnerCustomer).where(
            col(PartnerCustomer.partner_org_id) == trial.partner_org_id,
            col(PartnerCustomer.customer_org_id) == trial.customer_org_id,
            col(PartnerCustomer.status) != "active",
        )
    )


# --- one step, one transaction (patch ``trial-one-activity-per-step``) ----------------------


async def step(db: Database, mailer: Mailer, st: TrialStep, workflow_id: str | None) -> StepResult:
    """One step of a trial: its effects, its notices (written to the outbox and sent) and
    the read model's changed fields, in one transaction (``notices.send_in``).

    Every effect is idempotent, so a retried step (or one whose worker died after the
    commit) does nothing twice. A refusal (TR-S6: a service the org cannot trial) or a value
    the store cannot hold writes nothing and fails for good."""
    try:
        with unhealable("trial step", st.trial_id):
            async with db.session() as s:
                result = await _step(s, st, workflow_id, mailer)
    except ApplicationError as err:
        # Two first steps at once (a retry after a timeout): the one that committed wins,
        # and this one does the rest of the step again.
        if st.open is None or err.type == "RuleViolation":
            raise
        async with db.session() as s:
            if await s.get(Trial, st.trial_id) is None:
                raise
        return await step(db, mailer, st.model_copy(update={"open": None}), workflow_id)
    return result


async def _step(
    s: AsyncSession, st: TrialStep, workflow_id: str | None, mailer: Mailer | None = None
) -> StepResult:
    result = StepResult()
    record = dict(st.record)
    created = None
    if st.open is not None:
        created = await _open_trial(s, st.open, workflow_id or f"trial-{st.trial_id}")
        if created is not None:  # the read model written with the row, not updated after
            log.info("trial opened", trial_id=st.trial_id, new_customer=st.open.new_customer)
            for k, v in _record_values(record).items():
                setattr(created, k, v)
            record = {}
        await s.flush()
    trial = created or await _opened(s, st.trial_id)
    # Held for the step: the session's identity map keeps only what is referenced, and
    # several effects and the notices read the customer org.
    org = await s.get(Org, trial.customer_org_id) if _needs_org(st) else None
    if st.consent is not None:
        if not await _is_full_admin(s, trial.customer_org_id, st.consent.accepted_by):
            return StepResult(accepted=False)  # TR-C3: nothing is written
        await _record_consent(s, trial, st.consent.partner_admin_level)
    if st.check_services:
        await _check_services(s, trial, st.check_services)
    if st.remove_pending:
        await _remove_pending(s, trial)
    if st.provision is not None:
        await _provision(s, trial, st.provision)
    if st.convert is not None:
        await _convert(s, trial, st.convert)
    if st.end_services is not None:
        result.retained = await _end_services(s, trial, st.end_services)
        if result.retained == 0:  # nothing retained, nothing to release (the workflow agrees)
            record = no_release(record)
    if st.migrate:
        result.free_org_id = await _migrate(s, trial)
    if st.release_numbers:
        result.released = await _release_numbers(s, trial.id)
    await _record(s, trial.id, record)
    if st.notices:
        assert mailer is not None, "a step with notices is given the mailer"
        views = []
        for b in st.notices:
            views += await notices.send_in(s, mailer, trial, b, workflow_id, org)
        result.notices, result.notices_total = views[:VIEWS_KEPT], len(views)
    return result


def _needs_org(st: TrialStep) -> bool:
    return bool(st.provision or st.end_services or st.migrate)


def _record_values(record: dict[str, Any]) -> dict[str, Any]:
    """The read model's changed fields, validated as ``TrialRecord``."""
    return TrialRecord.model_validate(record).model_dump(include=set(record))


async def _record(s: AsyncSession, trial_id: str, record: dict[str, Any]) -> None:
    """The read model's changed fields."""
    if not record:
        return
    await s.exec(
        update(Trial)
        .where(col(Trial.id) == trial_id)
        .values(**_record_values(record), updated_at=_now())
    )


async def mail_users(
    db: Database,
    mailer: Mailer,
    mass: MassNotice,
    workflow_id: str | None,
    *,
    resume_after: str = "",
    progress: Callable[[str, int], None] | None = None,
) -> StepResult:
    """TR-E3 at any size. An org of one batch at most is told in one transaction with the
    read model (and ``then``), as any step's notices. A bigger one: the notice to every
    user written once per user (one statement), then sent in batches, one SMTP connection
    and one transaction each, with ``progress(last_key, sent)`` after each full batch (the
    activity heartbeats it, so a retry resumes after ``resume_after``); the read model's
    changed fields written with the rows, or, with ``then`` (grace ends at the same
    moment), with its effects in one transaction once every user has been told."""
    with unhealable("trial mail users", mass.trial_id):
        async with db.session() as s:
            trial = await _opened(s, mass.trial_id)
            users = await notices.user_count(s, trial)
            if users <= notices.BATCH:  # one batch: told in one transaction with the rest
                # First: the users are still the org's (``then`` moves them to the free org).
                views = await notices.send_in(s, mailer, trial, mass.notice, workflow_id)
                st = mass.then or TrialStep(trial_id=mass.trial_id)
                st = st.model_copy(update={"record": {**st.record, **mass.record}})
                result = await _step(s, st, workflow_id, mailer)
                result.notices, result.notices_total = views[:VIEWS_KEPT], len(views)
                return result
            await notices.enqueue_users(s, trial, mass.notice, workflow_id)
            if mass.then is None:
                await _record(s, trial.id, mass.record)
    await notices.deliver_kind(
        db,
        mailer,
        mass.trial_id,
        mass.notice.kind,
        mass.notice.round,
        after=resume_after,
        progress=progress,
    )
    result = StepResult()
    with unhealable("trial step", mass.trial_id):
        async with db.session() as s:
            if mass.then is not None:
                record = {**mass.then.record, **mass.record}
                result = await _step(s, mass.then.model_copy(update={"record": record}), None)
            result.notices, result.notices_total = await notices.views(
                s, mass.trial_id, mass.notice.kind, limit=VIEWS_KEPT
            )
    n = result.notices_total
    log.info("users told", trial_id=mass.trial_id, kind=mass.notice.kind, count=n)
    return result

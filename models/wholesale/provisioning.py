"""The customer's provisioning steps and read model (PX-1, PX-4, WH-C2, WH-C5): the
transactions of the ``WholesaleCustomerProvisioning`` activities (activities/wholesale calls
one function each). Each effect and the read-model row it changes are written in one
transaction, under the customer's row lock (``FOR UPDATE``), so the API's subscriber changes
and the workflow's steps never interleave. Every step is idempotent: a retry after the commit
finds the work done and answers the same."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import wraps
from typing import ParamSpec, TypeVar

import structlog
from sqlalchemy import ColumnElement, bindparam, delete, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.exceptions import ApplicationError

from models.common.countries import region_of
from models.common.db import Database
from models.common.failures import unhealable
from models.common.mail import Mailer
from models.common.outbox import deliver, put
from models.common.tables import Org, OrgUser
from models.wholesale import problems as P
from models.wholesale.contract import SETTLED, CustomerChange, Outcome, ProvisionStep
from models.wholesale.rules import (
    CALLING_PACKAGES,
    NEEDS_PSTN,
    call_in_number,
    email_domain,
    meetings_locale,
    name_key,
    resolve_locale,
)
from models.wholesale.tables import (
    OrgDomain,
    RestrictedParty,
    WholesaleCustomer,
    WholesalePackageAssignment,
    WholesaleSubscriber,
    WholesaleTemplate,
)

log = structlog.get_logger(__name__)

ATTACH_APPROVAL_USERS = 100  # PX-4


def _now() -> datetime:
    return datetime.now(UTC)


_LOCKED_CUSTOMER = (  # built once: its cache key is kept with it (issue 14)
    select(WholesaleCustomer).where(WholesaleCustomer.id == bindparam("id")).with_for_update()
)


async def locked_customer(s: AsyncSession, customer_id: str) -> WholesaleCustomer | None:
    return (await s.exec(_LOCKED_CUSTOMER, params={"id": customer_id})).first()


async def set_customer(s: AsyncSession, customer_id: str, **values: object) -> None:
    """Write the read model; ``status_changed_at`` is PostgreSQL's clock (see the table)."""
    await s.exec(
        update(WholesaleCustomer)
        .where(col(WholesaleCustomer.id) == customer_id)
        .values(status_changed_at=func.clock_timestamp(), **values)
    )


async def screen(
    s: AsyncSession, name: str | None, country: str | None, email: str | None
) -> list[RestrictedParty]:
    """WH-C2: the customer's name (in its country, when the entry names one) or its primary
    email's domain on the restricted/denied party list."""
    conditions: list[ColumnElement[bool]] = []
    if name and name_key(name):
        conditions.append(
            (col(RestrictedParty.name_key) == name_key(name))
            & (col(RestrictedParty.country).is_(None) | (col(RestrictedParty.country) == country))
        )
    if domain := email_domain(email):
        conditions.append(col(RestrictedParty.domain) == domain)
    if not conditions:
        return []
    return list((await s.exec(select(RestrictedParty).where(or_(*conditions)))).all())


async def attach_approval_reasons(s: AsyncSession, org_id: str) -> list[str]:
    """PX-4: 100 or more users, a verified domain or a claimed domain."""
    reasons = []
    users = (
        await s.exec(select(func.count()).select_from(OrgUser).where(OrgUser.org_id == org_id))
    ).one()
    if users >= ATTACH_APPROVAL_USERS:
        reasons.append(f"{users} users")
    domains = (await s.exec(select(OrgDomain).where(OrgDomain.org_id == org_id))).all()
    if any(d.verified for d in domains):
        reasons.append("a verified domain")
    if any(d.claimed for d in domains):
        reasons.append("a claimed domain")
    return reasons


def package_entries(
    packages: list[str], template: WholesaleTemplate, previous: list[dict] | None = None
) -> list[dict]:
    """PX-1: each package's status with its warnings and errors."""
    before = {p["name"]: p for p in previous or []}
    out = []
    for name in packages:
        errors, warnings = [], []
        if name in NEEDS_PSTN and not template.pstn_provider:
            errors.append(
                P.error(
                    P.PSTN_MISSING,
                    "WH-P2",
                    f"template {template.id} has no cloud-connected PSTN provider for {name}",
                )
            )
        if name in CALLING_PACKAGES and template.disable_webex_calling:
            warnings.append(
                P.error(P.CALLING_DISABLED, "WH-P2", "the template disables 1:1 Webex calling")
            )
        old = before.get(name)
        if old and old.get("status") == "provisioned" and not errors:
            warnings = old.get("warnings", warnings)
        out.append(
            {
                "name": name,
                "status": "error" if errors else "provisioned",
                "warnings": warnings,
                "errors": errors,
            }
        )
    return out


def overall(entries: list[dict]) -> str:
    failed = sum(1 for e in entries if e["status"] == "error")
    if failed == 0:
        return "provisioned"
    return "error" if failed == len(entries) else "provisioned_with_errors"


def _fail(message: str) -> ApplicationError:
    return ApplicationError(message, type="RuleViolation", non_retryable=True)


# --- the activities' transactions (activities/wholesale calls each) ------------------------

P_ = ParamSpec("P_")
R_ = TypeVar("R_")


def _step(fn: Callable[P_, Awaitable[R_]]) -> Callable[P_, Awaitable[R_]]:
    """A value PostgreSQL cannot hold or a broken constraint fails every retry: it becomes a
    non-retryable error naming the step, the customer's id and the constraint, never the
    values (SQL error texts quote emails and company names; issue 9)."""

    @wraps(fn)
    async def step(*args: P_.args, **kwargs: P_.kwargs) -> R_:
        key = next(
            (a if isinstance(a, str) else str(getattr(a, "customer_id", "?")))
            for a in args
            if isinstance(a, str | ProvisionStep)
        )
        with unhealable(fn.__name__, key):
            return await fn(*args, **kwargs)

    return step


@_step
async def provision_customer(db: Database, mailer: Mailer, step: ProvisionStep) -> Outcome:
    """Template (WH-P2), screening (WH-C2), PX-4 approval, then the org, locale (WH-C4),
    call-in number (WH-C3), packages (PX-1) and restricted mode (WH-C6)."""
    keys: list[str] = []
    async with db.session() as s:
        c = await locked_customer(s, step.customer_id)
        if c is None:
            raise _fail(f"no wholesale customer {step.customer_id}")
        if c.status in SETTLED:
            return Outcome(state=c.status, org_id=c.org_id)
        template = await s.get(WholesaleTemplate, c.provisioning_id)
        if template is None:
            err = P.error(P.TEMPLATE, "WH-P2", f"no onboarding template {c.provisioning_id}")
            await set_customer(s, c.id, status="error", errors=[err])
            return Outcome(state="error", message=str(err["description"]))
        existing = await s.get(Org, c.org_id) if c.attach and c.org_id else None
        if c.attach and (existing is None or existing.kind != "customer"):
            err = P.error(P.ORG_UNKNOWN, "WH-C1", f"no customer org {c.org_id}")
            await set_customer(s, c.id, status="error", errors=[err])
            return Outcome(state="error", message=str(err["description"]))
        info = c.customer_info or {}
        name = existing.name if existing else info.get("name")
        country = (c.address or {}).get("country") or template.country

        if not step.compliance_cleared:  # WH-C2
            hits = await screen(s, name, country, info.get("primaryEmail"))
            if hits:
                err = P.error(P.COMPLIANCE_HOLD, "WH-C2", "pending restricted party list review")
                await set_customer(
                    s,
                    c.id,
                    status="pending_rpl_review",
                    errors=[err],
                    compliance_hit_at=c.compliance_hit_at or _now(),
                )
                log.info("compliance hold", customer_id=c.id, hits=len(hits))
                return Outcome(state="pending_rpl_review", org_id=c.org_id)

        outcome: Outcome | None = None
        if c.attach and existing is not None and not step.attach_approved:  # PX-4
            reasons = await attach_approval_reasons(s, existing.id)
            if reasons:
                # PX-4: still `provisioning` for the API, saying what it waits for, as the
                # compliance hold does (cleared when provisioned, replaced on refusal/lapse)
                waiting = f"waiting for the org admin's approval ({', '.join(reasons)})"
                await set_customer(
                    s,
                    c.id,
                    status="provisioning",
                    errors=[P.error(P.ATTACH_PENDING, "PX-4", waiting)],
                )
                keys = await _ask_attach_approval(s, c, existing, template, reasons)
                outcome = Outcome(
                    state="pending_org_approval",
                    org_id=existing.id,
                    message=f"approval needed: {', '.join(reasons)}",
                )
        if outcome is None:
            outcome = await _provision(s, c, template, existing, name, country)
    if keys:
        await deliver(db, mailer, keys)
    return outcome


async def _provision(
    s: AsyncSession,
    c: WholesaleCustomer,
    template: WholesaleTemplate,
    existing: Org | None,
    name: str | None,
    country: str,
) -> Outcome:
    info = c.customer_info or {}
    locale = resolve_locale(info.get("language"), template.country, template.language)
    org_id = existing.id if existing else f"o-{c.id[:24]}"
    if existing is None and await s.get(Org, org_id) is None:
        s.add(
            Org(
                id=org_id,
                kind="customer",
                name=name or c.external_id,
                country=country,
                region=region_of(country),
                created_at=_now(),
            )
        )
        await s.flush()
    entries = package_entries(list(p["name"] for p in c.packages), template)
    status = overall(entries)
    calling = any(e["name"] in CALLING_PACKAGES for e in entries)
    await set_customer(
        s,
        c.id,
        status=status,
        org_id=org_id,
        packages=entries,
        errors=[],
        locale=locale,
        meetings_locale=meetings_locale(locale),
        call_in_number=call_in_number(country),
        location_id=f"loc-{c.id[:24]}" if calling else None,
        # WH-C6: restricted_by_partner is on from the row's insert; a partner's switch stands
    )
    log.info("wholesale customer provisioned", customer_id=c.id, status=status)
    return Outcome(state=status, org_id=org_id)


async def _ask_attach_approval(
    s: AsyncSession,
    c: WholesaleCustomer,
    org: Org,
    template: WholesaleTemplate,
    reasons: list[str],
    reminder: bool = False,
) -> list[str]:
    admins = (
        await s.exec(
            select(OrgUser.email)
            .where(OrgUser.org_id == org.id, OrgUser.admin_role == "full")
            .order_by(OrgUser.email)
        )
    ).all()
    keys = []
    for email in admins:
        kind = "wholesale_attach_approval" + ("_reminder" if reminder else "")
        key = f"wholesale:{c.id}:{kind.removeprefix('wholesale_')}:{email}"
        subject = f"{template.brand_name} asks to add Webex wholesale services to {org.name}"
        await put(
            s,
            key=key,
            kind=kind,
            recipient=email,
            subject=f"Reminder: {subject}" if reminder else subject,
            body=(
                f"{template.brand_name} would like to provide Webex services to {org.name}\n"
                f"through its wholesale offer. Your approval is needed because the\n"
                f"organisation has {', '.join(reasons)}.\n"
            ),
            due_at=_now(),
            workflow_id=c.workflow_id,
        )
        keys.append(key)
    return keys


@_step
async def remind_attach_approval(db: Database, mailer: Mailer, customer_id: str) -> None:
    """PX-4: the org's admins have not answered; ask them once more."""
    async with db.session() as s:
        c = await locked_customer(s, customer_id)
        if c is None or c.org_id is None:
            return
        org = await s.get(Org, c.org_id)
        template = await s.get(WholesaleTemplate, c.provisioning_id)
        if org is None or template is None:
            return
        reasons = await attach_approval_reasons(s, org.id)
        keys = await _ask_attach_approval(s, c, org, template, reasons, reminder=True)
    await deliver(db, mailer, keys)


@_step
async def lapse_attach(
    db: Database, mailer: Mailer, customer_id: str, operations_email: str, days: float
) -> Outcome:
    """PX-4: no answer in time. The customer ends in `error` (the partner may delete it
    and onboard again), and operations are told."""
    key = f"wholesale:{customer_id}:attach_lapsed"
    async with db.session() as s:
        c = await locked_customer(s, customer_id)
        if c is None:
            raise _fail(f"no wholesale customer {customer_id}")
        err = P.error(
            P.ATTACH_LAPSED,
            "PX-4",
            f"the org's admin did not approve the attachment within {days:g} days",
        )
        await set_customer(s, customer_id, status="error", errors=[err])
        await put(
            s,
            key=key,
            kind="wholesale_attach_lapsed",
            recipient=operations_email,
            subject=f"Wholesale customer {customer_id}: org attachment lapsed",
            body=(
                f"Wholesale customer {customer_id} (partner {c.partner_org_id}) asked to\n"
                f"attach to org {c.org_id}. Its admins were asked and reminded, and did not\n"
                f"answer within {days:g} days, so the customer is in error. Remove it and\n"
                "onboard it again once the org's admin agrees.\n"
            ),
            due_at=_now(),
            workflow_id=c.workflow_id,
        )
    await deliver(db, mailer, [key])
    return Outcome(state="error", org_id=c.org_id, message=str(err["description"]))


@_step
async def refuse_attach(db: Database, customer_id: str) -> Outcome:
    async with db.session() as s:
        err = P.error(P.ATTACH_REFUSED, "PX-4", "the org's admin refused the attachment")
        await set_customer(s, customer_id, status="error", errors=[err])
    return Outcome(state="error", message=str(err["description"]))


@_step
async def escalate_compliance(
    db: Database, mailer: Mailer, customer_id: str, operations_email: str
) -> None:
    """WH-C2: the hold is too old; onboarding stops and operations gets the case."""
    key = f"wholesale:{customer_id}:compliance_escalated"
    async with db.session() as s:
        c = await locked_customer(s, customer_id)
        if c is None:
            return
        err = P.error(
            P.COMPLIANCE_ESCALATED,
            "WH-C2",
            "compliance review not cleared in time: onboarding stopped, handed to operations",
        )
        await set_customer(
            s,
            customer_id,
            errors=[err],
            compliance_escalated_at=c.compliance_escalated_at or _now(),
        )
        await put(
            s,
            key=key,
            kind="wholesale_compliance_escalated",
            recipient=operations_email,
            subject=f"Wholesale customer {customer_id}: compliance hold escalated",
            body=(
                f"Wholesale customer {customer_id} (partner {c.partner_org_id}) matched the\n"
                f"restricted party list on {c.compliance_hit_at:%Y-%m-%d %H:%M} UTC and is\n"
                "still held. Review it; clear it with the `compliance_cleared` signal of\n"
                f"workflow {c.workflow_id}, or remove the customer.\n"
            ),
            due_at=_now(),
            workflow_id=c.workflow_id,
        )
    await deliver(db, mailer, [key])


@_step
async def mark_changing(db: Database, customer_id: str, state: str) -> None:
    """PX-3: the read model shows an accepted change (``updating``) or removal
    (``deleting``) until the step that applies it writes the outcome. Written by the
    workflow's own activity, never by the API behind the workflow's back."""
    if state not in ("updating", "deleting"):
        raise _fail(f"not a change in flight: {state}")
    async with db.session() as s:
        c = await locked_customer(s, customer_id)
        if c is None or c.status == "deleting":
            return  # removed already (a retry), or a removal is shown already
        await set_customer(s, customer_id, status=state)


@_step
async def apply_customer_change(db: Database, customer_id: str, change: CustomerChange) -> Outcome:
    """WH-C5: the complete package list wanted afterwards. A package still held by
    subscribers is kept, with an error saying so."""
    async with db.session() as s:
        c = await locked_customer(s, customer_id)
        if c is None:
            raise _fail(f"no wholesale customer {customer_id}")
        template = await s.get(WholesaleTemplate, c.provisioning_id)
        if template is None:  # a template is never deleted; if one were, no retry heals it
            raise _fail(f"no onboarding template {c.provisioning_id}")
        wanted: list[str] = list(dict.fromkeys(change.packages))
        removed = [p["name"] for p in c.packages if p["name"] not in wanted]
        held = set(
            (
                await s.exec(
                    select(WholesaleSubscriber.package).where(
                        WholesaleSubscriber.customer_id == customer_id,
                        col(WholesaleSubscriber.package).in_(removed),
                    )
                )
            ).all()
        )
        entries = package_entries(wanted, template, c.packages)
        for name in sorted(held):
            entries.append(
                {
                    "name": name,
                    "status": "error",
                    "warnings": [],
                    "errors": [P.error(P.PACKAGE_HELD, "WH-C5", f"subscribers still hold {name}")],
                }
            )
        status = overall(entries)
        values: dict[str, object] = {"status": status, "packages": entries, "errors": []}
        if change.external_id:
            values["external_id"] = change.external_id
        if change.address:
            values["address"] = change.address
            values["call_in_number"] = call_in_number(
                change.address.get("country") or template.country
            )
        if change.provisioning_parameters is not None:
            values["provisioning_parameters"] = change.provisioning_parameters
        if any(e["name"] in CALLING_PACKAGES for e in entries) and not c.location_id:
            values["location_id"] = f"loc-{c.id[:24]}"
        await set_customer(s, customer_id, **values)
    return Outcome(state=status, org_id=c.org_id, message=f"packages: {', '.join(wanted)}")


@_step
async def remove_customer(db: Database, customer_id: str) -> None:
    """WH-C5: the wholesale services go (subscribers, package assignments closed at one
    instant); the org and its users stay."""
    async with db.session() as s:
        c = await locked_customer(s, customer_id)
        if c is None:
            return  # a retry after the commit
        now = _now()
        await s.exec(
            update(WholesalePackageAssignment)
            .where(
                col(WholesalePackageAssignment.customer_id) == customer_id,
                col(WholesalePackageAssignment.closed_at).is_(None),
            )
            .values(closed_at=now)
        )
        await s.exec(
            delete(WholesaleSubscriber).where(col(WholesaleSubscriber.customer_id) == customer_id)
        )
        await s.exec(delete(WholesaleCustomer).where(col(WholesaleCustomer.id) == customer_id))
    log.info("wholesale customer removed", customer_id=customer_id)

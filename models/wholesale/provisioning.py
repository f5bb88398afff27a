"""The customer's provisioning steps and read model (PX-1, PX-4, WH-C2): what the
``WholesaleCustomerProvisioning`` activities do, each under the customer's row lock."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from sqlalchemy import ColumnElement, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.exceptions import ApplicationError

from models.common.tables import OrgUser
from models.wholesale import problems as P
from models.wholesale.rules import (
    CALLING_PACKAGES,
    NEEDS_PSTN,
    email_domain,
    name_key,
)
from models.wholesale.tables import (
    OrgDomain,
    RestrictedParty,
    WholesaleCustomer,
    WholesaleTemplate,
)

log = structlog.get_logger(__name__)

ATTACH_APPROVAL_USERS = 100  # PX-4


def _now() -> datetime:
    return datetime.now(UTC)


async def locked_customer(s: AsyncSession, customer_id: str) -> WholesaleCustomer | None:
    return (
        await s.exec(
            select(WholesaleCustomer).where(WholesaleCustomer.id == customer_id).with_for_update()
        )
    ).first()


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

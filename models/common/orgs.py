"""Org set-up in the store: partners with tier and admins, customer orgs with admins, users,
purchased services and phone numbers. Used by the CLI, the demo and tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common.countries import country_problem, region_of
from models.common.refusal import RuleError, Violation, raise_if
from models.common.tables import License, Org, OrgUser, PartnerCustomer, PhoneNumber
from models.common.types import normalize_email, normalize_phone, normalize_time_zone, problem

PARTNER_ROLES = frozenset({"full", "sales_full", "sales", "read_only", "support"})
CUSTOMER_ROLES = frozenset({"full", "read_only", "support", "user_admin", "device_admin"})
SERVICES = frozenset({"messaging", "meetings", "calling", "devices"})
NAME_MAX = 200  # org.name
MAX_QUANTITY = 100_000  # license.quantity is an int32


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def parse_admins(specs: list[str], roles: frozenset[str], field: str) -> list[tuple[str, str]]:
    """``EMAIL:ROLE`` pairs."""
    out, v = [], []
    for spec in specs:
        email, _, role = spec.rpartition(":")
        if problem(normalize_email, email) or role not in roles:
            v.append(
                Violation("SO-6", field, f"{spec!r}: want EMAIL:ROLE, ROLE in {sorted(roles)}")
            )
        out.append((email, role))
    raise_if(v)
    return out


async def _users_free(s: AsyncSession, emails: list[str]) -> None:
    if len(set(emails)) != len(emails):
        raise RuleError.one("SO-6", "admin", "an email is listed twice")
    taken = (await s.exec(select(OrgUser.email).where(col(OrgUser.email).in_(emails)))).all()
    if taken:
        raise RuleError.one("SO-6", "admin", f"already a user of another org: {', '.join(taken)}")


async def create_partner(
    s: AsyncSession, name: str, tier: int, admins: list[tuple[str, str]]
) -> str:
    if tier not in (1, 2):
        raise RuleError.one("TR-V2", "tier", "a partner is tier 1 or tier 2")
    if not name.strip():
        raise RuleError.one("TR-S2", "name", "a name is required")
    if len(name) > NAME_MAX or not name.isprintable():
        raise RuleError.one("TR-S2", "name", f"at most {NAME_MAX} printable characters")
    await _users_free(s, [e for e, _ in admins])
    now = datetime.now(UTC)
    org_id = new_id("p")
    s.add(Org(id=org_id, kind="partner", name=name, tier=tier, created_at=now))
    await s.flush()
    for email, role in admins:
        s.add(OrgUser(id=new_id("u"), org_id=org_id, email=email, admin_role=role, created_at=now))
    return org_id


def _email(value: str) -> str | None:
    return problem(normalize_email, value)


def _phone(value: str) -> str | None:
    return problem(normalize_phone, value)


async def create_customer_org(
    s: AsyncSession,
    name: str,
    admins: list[tuple[str, str]],
    users: list[str],
    *,
    country: str = "US",
    paid: dict[str, int] | None = None,
    numbers: list[str] | None = None,
    managed_by: str | None = None,
    site_url: str | None = None,
    timezone: str | None = None,
) -> str:
    v: list[Violation] = []
    if not name.strip():
        v.append(Violation("TR-S2", "name", "a name is required"))
    if len(name) > NAME_MAX or not name.isprintable():
        v.append(Violation("TR-S2", "name", f"at most {NAME_MAX} printable characters"))
    if why := country_problem(country):
        v.append(Violation("TR-S2", "country", why))
    v += [Violation("SO-6", "user", f"{u!r}: {why}") for u in users if (why := _email(u))]
    v += [Violation("TR-E5", "number", why) for n in numbers or [] if (why := _phone(n))]
    if timezone and (why := problem(normalize_time_zone, timezone)):
        v.append(Violation("TR-S2", "timezone", why))
    v += [
        Violation("TR-S6", "paid", f"unknown service {k}") for k in paid or {} if k not in SERVICES
    ]
    v += [
        Violation("TR-S6", "paid", f"{k}: 1 to {MAX_QUANTITY} licenses")
        for k, n in (paid or {}).items()
        if not 1 <= n <= MAX_QUANTITY
    ]
    valid = [normalize_phone(n) for n in numbers or [] if not _phone(n)]
    if len(set(valid)) != len(valid):
        v.append(Violation("TR-E5", "number", "a number is listed twice"))
    raise_if(v)
    country = country.strip().upper()
    numbers = [normalize_phone(n) for n in numbers or []]  # E.164: one spelling per number
    timezone = normalize_time_zone(timezone) if timezone else None
    await _users_free(s, [e for e, _ in admins] + users)
    if managed_by is not None:
        partner = await s.get(Org, managed_by)
        if partner is None or partner.kind != "partner":
            raise RuleError.one("TR-S7", "managed_by", f"no partner org {managed_by}")
    for n in numbers or []:
        existing = await s.get(PhoneNumber, n)
        if existing is not None and existing.state != "released":
            raise RuleError.one("TR-E5", "number", f"{n} is {existing.state}, not assignable")
    now = datetime.now(UTC)
    org_id = new_id("o")
    s.add(
        Org(
            id=org_id,
            kind="customer",
            name=name,
            country=country,
            region=region_of(country),
            site_url=site_url,
            timezone=timezone,
            created_at=now,
            calling_enabled=bool(paid and "calling" in paid),
        )
    )
    await s.flush()
    for email, role in admins:
        s.add(OrgUser(id=new_id("u"), org_id=org_id, email=email, admin_role=role, created_at=now))
    for email in users:
        s.add(OrgUser(id=new_id("u"), org_id=org_id, email=email, created_at=now))
    for service, qty in (paid or {}).items():
        s.add(License(org_id=org_id, service=service, quantity=qty, source="paid", created_at=now))
    for n in numbers or []:
        existing = await s.get(PhoneNumber, n)
        if existing is None:
            s.add(PhoneNumber(number=n, org_id=org_id, state="assigned"))
        else:  # a released number is back in the pool
            existing.org_id, existing.state, existing.trial_id = org_id, "assigned", None
            existing.released_at = existing.retained_until = None
            s.add(existing)
    if managed_by is not None:
        s.add(
            PartnerCustomer(
                partner_org_id=managed_by,
                customer_org_id=org_id,
                status="active",
                partner_admin_level="full_admin",
                since=now,
            )
        )
    return org_id

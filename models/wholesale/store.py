"""Wholesale operations that are single transactions of the store, used by the HTTP API and
the CLI: tokens, templates (WH-P2), sub-partners (WH-SP1, PX-6), the restricted party list
(WH-C2), customer prechecks (WH-C1) and subscribers (WH-S1..S3, PX-2).

Subscribers need no workflow: each change is one transaction under the customer's row lock
(the same lock the customer's workflow takes), so a subscriber change never interleaves with
a customer update or deletion, and a burst of subscribers costs no Temporal state transition.
"""

from __future__ import annotations

import csv
import hashlib
import json
import secrets
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import bindparam, delete, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common.countries import country_problem
from models.common.db import Database
from models.common.mail import Mailer
from models.common.orgs import create_partner
from models.common.outbox import deliver, put
from models.common.refusal import RuleError, Violation, raise_if
from models.common.tables import Org, OrgUser
from models.common.types import normalize_email, normalize_phone, problem
from models.wholesale import problems as P
from models.wholesale.problems import bad, conflict
from models.wholesale.provisioning import locked_customer
from models.wholesale.rules import (
    CALLING_PACKAGES,
    CUSTOMER_PACKAGES,
    EXTENSION,
    NEEDS_PSTN,
    PACKAGE_LEVEL,
    SUBSCRIBER_PACKAGES,
    name_key,
)
from models.wholesale.tables import (
    RestrictedParty,
    WholesaleApiToken,
    WholesaleCustomer,
    WholesalePackageAssignment,
    WholesaleSubPartner,
    WholesaleSubscriber,
    WholesaleTemplate,
)

SCOPES = (
    "wholesale_customers_read",
    "wholesale_customers_write",
    "wholesale_subscribers_read",
    "wholesale_subscribers_write",
    "wholesale_billing_reports_read",  # WH-B6
    "wholesale_billing_reports_write",
)
PROVISIONED_CUSTOMER = ("provisioned", "provisioned_with_errors")


def _now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


def request_hash(payload: object) -> str:
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


# --- tokens -----------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    s: AsyncSession,
    *,
    partner_org_id: str,
    admin_email: str,
    scopes: list[str],
    name: str = "",
    sub_partner_org_id: str | None = None,
) -> tuple[str, str]:
    """A bearer token for a partner (or sub-partner) admin; only its hash is stored.
    Returns ``(token_id, token)``: the token is shown once."""
    problems: list[Violation] = []
    if unknown := sorted(set(scopes) - set(SCOPES)):
        problems.append(bad("", "scope", f"unknown scopes {unknown}; choose from {SCOPES}"))
    if not scopes:
        problems.append(bad("", "scope", "at least one scope"))
    partner = await s.get(Org, partner_org_id)
    if partner is None or partner.kind != "partner":
        problems.append(bad("", "partner", f"no partner org {partner_org_id}"))
    owner = partner_org_id
    if sub_partner_org_id:
        sp = await s.get(WholesaleSubPartner, sub_partner_org_id)
        if sp is None or sp.parent_org_id != partner_org_id:
            problems.append(
                bad("WH-SP1", "sub_partner", f"{sub_partner_org_id} is not a sub-partner of it")
            )
        owner = sub_partner_org_id
    admin = (await s.exec(select(OrgUser).where(OrgUser.email == admin_email))).first()
    if admin is None or admin.org_id != owner or not admin.admin_role:
        problems.append(bad("", "admin", f"{admin_email} is not an admin of {owner}"))
    raise_if(problems)
    token = "whk_" + secrets.token_urlsafe(32)
    token_id = "tok-" + new_id()[:16]
    s.add(
        WholesaleApiToken(
            id=token_id,
            token_hash=hash_token(token),
            name=name or admin_email,
            partner_org_id=partner_org_id,
            sub_partner_org_id=sub_partner_org_id,
            admin_email=admin_email,
            scopes=sorted(set(scopes)),
            created_at=_now(),
        )
    )
    return token_id, token


CUSTOMER_ADMIN_SCOPES = (
    "wholesale_customers_read",
    "wholesale_customers_write",  # migrations into its own customer (WH-M3)
    "wholesale_subscribers_read",
    "wholesale_subscribers_write",
)


async def create_customer_admin_token(
    s: AsyncSession,
    *,
    customer_id: str,
    admin_email: str,
    scopes: list[str] | None = None,
    name: str = "",
) -> tuple[str, str]:
    """A bearer token for an admin of one wholesale customer's org (WH-C6): it sees that
    customer only, and is refused what restricted-by-partner mode restricts while it is on.
    Returns ``(token_id, token)``: the token is shown once."""
    problems: list[Violation] = []
    wanted = list(scopes) if scopes else list(CUSTOMER_ADMIN_SCOPES)
    if unknown := sorted(set(wanted) - set(CUSTOMER_ADMIN_SCOPES)):
        problems.append(
            bad(
                "",
                "scope",
                f"not for customer admins: {unknown}; choose from {CUSTOMER_ADMIN_SCOPES}",
            )
        )
    c = await s.get(WholesaleCustomer, customer_id)
    if c is None or not c.org_id or c.status not in PROVISIONED_CUSTOMER:
        problems.append(bad("", "customer", f"no provisioned wholesale customer {customer_id}"))
    else:
        admin = (await s.exec(select(OrgUser).where(OrgUser.email == admin_email))).first()
        if admin is None or admin.org_id != c.org_id or not admin.admin_role:
            problems.append(bad("", "admin", f"{admin_email} is not an admin of the customer"))
    raise_if(problems)
    assert c is not None
    token = "whk_" + secrets.token_urlsafe(32)
    token_id = "tok-" + new_id()[:16]
    s.add(
        WholesaleApiToken(
            id=token_id,
            token_hash=hash_token(token),
            name=name or admin_email,
            partner_org_id=c.partner_org_id,
            sub_partner_org_id=c.sub_partner_org_id,
            kind="customer_admin",
            customer_id=c.id,
            admin_email=admin_email,
            scopes=sorted(set(wanted)),
            created_at=_now(),
        )
    )
    return token_id, token


async def revoke_token(s: AsyncSession, token_id: str) -> bool:
    result = await s.exec(
        update(WholesaleApiToken)
        .where(col(WholesaleApiToken.id) == token_id, col(WholesaleApiToken.revoked_at).is_(None))
        .values(revoked_at=_now())
    )
    return bool(result.rowcount)


# --- templates (WH-P2) ---------------------------------------------------------------------


@dataclass
class TemplateSpec:
    name: str
    country: str
    sp_admin_email: str
    subscription_id: str
    brand_name: str
    language: str = "en"
    auth_mode: str = "webex"
    idp_entity_id: str | None = None
    pstn_provider: str | None = None
    restrict_admin_invites: bool = False
    disable_webex_calling: bool = False


def template_problems(t: TemplateSpec) -> list[Violation]:
    p = []
    for name in ("name", "sp_admin_email", "subscription_id", "brand_name"):
        if not (getattr(t, name) or "").strip():
            p.append(bad("WH-P2", name, f"{name} is required"))
    if why := country_problem(t.country):
        p.append(bad("WH-P2", "country", why))
    if t.sp_admin_email and (why := problem(normalize_email, t.sp_admin_email)):
        p.append(bad("WH-P2", "sp_admin_email", why))
    if t.auth_mode not in ("webex", "partner_sso"):
        p.append(bad("WH-P2", "auth_mode", "webex or partner_sso"))
    if t.auth_mode == "partner_sso" and not t.idp_entity_id:
        p.append(bad("WH-P2", "idp_entity_id", "partner SSO needs the IdP entity ID"))
    return p


async def create_template(s: AsyncSession, partner_org_id: str, t: TemplateSpec) -> str:
    raise_if(template_problems(t))
    template_id = secrets.token_urlsafe(24)
    s.add(
        WholesaleTemplate(
            id=template_id, partner_org_id=partner_org_id, created_at=_now(), **t.__dict__
        )
    )
    return template_id


# --- sub-partners (WH-SP1, PX-6) -----------------------------------------------------------


async def create_sub_partner(
    s: AsyncSession,
    parent_org_id: str,
    name: str,
    subscription_id: str,
    admins: list[tuple[str, str]],
) -> str:
    parent = await s.get(Org, parent_org_id)
    if parent is None or parent.kind != "partner":
        raise RuleError([bad("WH-SP1", "parent", f"no partner org {parent_org_id}")])
    if await s.get(WholesaleSubPartner, parent_org_id) is not None:
        raise RuleError([bad("WH-SP1", "parent", "one level only: a sub-partner has none")])
    org_id = await create_partner(s, name, 1, admins)
    now = _now()
    s.add(
        WholesaleSubPartner(
            org_id=org_id,
            parent_org_id=parent_org_id,
            subscription_id=subscription_id,
            provisioning_state="active",
            created_at=now,
            billing_start_date=now,
        )
    )
    return org_id


async def set_sub_partner_state(s: AsyncSession, org_id: str, state: str) -> None:
    sp = await s.get(WholesaleSubPartner, org_id)
    if sp is None:
        raise LookupError(f"no sub-partner {org_id}")
    if state not in ("active", "suspended"):
        raise RuleError([bad("PX-6", "state", "active or suspended")])
    sp.provisioning_state = state
    s.add(sp)


# --- the restricted party list (WH-C2) -----------------------------------------------------


def read_rpl_csv(path: Path) -> list[dict[str, str]]:
    """Columns: ``name`` and/or ``domain``, optional ``country`` and ``source``."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = [
            {k.strip().lower(): (v or "").strip() for k, v in r.items()} for r in csv.DictReader(f)
        ]
    bad_rows = [i + 2 for i, r in enumerate(rows) if not (r.get("name") or r.get("domain"))]
    if bad_rows:
        raise RuleError([bad("WH-C2", "csv", f"rows without name or domain: {bad_rows[:10]}")])
    return rows


async def load_restricted_parties(
    s: AsyncSession, rows: Iterable[dict[str, str]], *, replace: bool = True
) -> int:
    """Load the list (by default replacing it: a name no longer listed clears its holds at
    the next recheck)."""
    if replace:
        await s.exec(delete(RestrictedParty))
    now, n = _now(), 0
    for r in rows:
        name = r.get("name") or ""
        s.add(
            RestrictedParty(
                name_key=name_key(name) if name else "",
                name=name,
                country=(r.get("country") or "").upper() or None,
                domain=(r.get("domain") or "").lower() or None,
                source=r.get("source") or "",
                loaded_at=now,
            )
        )
        n += 1
    return n


# --- who may see what (WH-SP1) -------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a caller sees: its partner's customers, or only one sub-partner's; a customer
    admin (``customer_id``) only its own customer and that customer's subscribers."""

    partner_org_id: str
    sub_partner_org_id: str | None = None
    customer_id: str | None = None

    def customers(self, q):
        q = q.where(WholesaleCustomer.partner_org_id == self.partner_org_id)
        if self.sub_partner_org_id:
            q = q.where(WholesaleCustomer.sub_partner_org_id == self.sub_partner_org_id)
        if self.customer_id:
            q = q.where(WholesaleCustomer.id == self.customer_id)
        return q

    def subscribers(self, q):
        q = q.where(WholesaleSubscriber.partner_org_id == self.partner_org_id)
        if self.sub_partner_org_id:
            q = q.where(WholesaleSubscriber.sub_partner_org_id == self.sub_partner_org_id)
        if self.customer_id:
            q = q.where(WholesaleSubscriber.customer_id == self.customer_id)
        return q

    def owns(self, c: WholesaleCustomer) -> bool:
        """The caller's own customer: provisioned by this partner itself, or by this very
        sub-partner (an externalId is unique per owner)."""
        return (
            c.partner_org_id == self.partner_org_id
            and c.sub_partner_org_id == self.sub_partner_org_id
            and (not self.customer_id or c.id == self.customer_id)
        )

    def sees(self, c: WholesaleCustomer | WholesaleSubscriber) -> bool:
        if self.customer_id:
            own = c.id if isinstance(c, WholesaleCustomer) else c.customer_id
            if own != self.customer_id:
                return False
        return c.partner_org_id == self.partner_org_id and (
            not self.sub_partner_org_id or c.sub_partner_org_id == self.sub_partner_org_id
        )


async def visible_customer(s: AsyncSession, scope: Scope, customer_id: str):
    c = await s.get(WholesaleCustomer, customer_id)
    return c if c is not None and scope.sees(c) else None


# What GET customer shows (its read model), in one autocommit statement: a burst's clients
# poll it until ``provisioned``, so it is most of the API's requests (issue 14, P2).
_VIEW_COLUMNS = (
    "id",
    "partner_org_id",
    "sub_partner_org_id",
    "org_id",
    "external_id",
    "address",
    "status",
    "packages",
    "errors",
)
_CUSTOMER_VIEW_SQL = f"SELECT {', '.join(_VIEW_COLUMNS)} FROM wholesale_customer WHERE id = %s"


async def customer_view(
    db: Database, scope: Scope, customer_id: str, connect: Connect | None = None
) -> WholesaleCustomer | None:
    """The customer's read model as the caller may see it (only the columns GET shows), or
    None: missing, or another caller's."""
    async with (connect or db.autocommit)() as pg:
        row = await (await pg.execute(_CUSTOMER_VIEW_SQL, (customer_id,))).fetchone()
    if row is None:
        return None
    c = WholesaleCustomer(**dict(zip(_VIEW_COLUMNS, row, strict=True)))
    return c if scope.sees(c) else None


# --- customers: the checks of POST and precheck (WH-C1, WH-P2) ------------------------------


@dataclass
class CustomerSpec:
    provisioning_id: str | None
    packages: list[str]
    external_id: str | None
    org_id: str | None
    address: dict
    customer_info: dict | None
    provisioning_parameters: dict = field(default_factory=dict)


def customer_field_problems(c: CustomerSpec, *, precheck: bool = False) -> list[Violation]:
    p: list[Violation] = []
    if not precheck:
        if not c.provisioning_id:
            p.append(bad("WH-C1", "provisioningId", "a provisioning ID is required"))
        if not c.packages:
            p.append(bad("WH-C1", "packages", "at least one package"))
        if not c.external_id:
            p.append(bad("WH-C1", "externalId", "an external ID is required"))
        if not c.org_id and not c.customer_info:
            p.append(bad("WH-C1", "customerInfo", "a new org needs the customer's name and email"))
    if len(set(c.packages)) != len(c.packages):
        p.append(bad("WH-P1", "packages", "a package is listed twice"))
    if unknown := [x for x in c.packages if x not in CUSTOMER_PACKAGES]:
        p.append(bad("WH-P1", "packages", f"not offered: {', '.join(unknown)}"))
    if why := country_problem((c.address or {}).get("country")):
        p.append(bad("WH-C1", "address.country", why))
    info = c.customer_info or {}
    if c.customer_info is not None and not precheck and not (info.get("name") or "").strip():
        p.append(bad("WH-C1", "customerInfo.name", "the customer's name is required"))
    if c.customer_info is not None and (why := problem(normalize_email, info.get("primaryEmail"))):
        p.append(bad("WH-C1", "customerInfo.primaryEmail", why))
    return p


async def customer_conflicts(
    s: AsyncSession,
    scope: Scope,
    c: CustomerSpec,
    *,
    existing_id: str | None = None,
    precheck: bool = False,
    own_settled: bool = False,
) -> list[Violation]:
    """What the store says against provisioning this customer (nothing is written). A
    missing PSTN provider is only foretold by precheck: provisioning reports it per
    package (PX-1)."""
    p: list[Violation] = []
    if c.provisioning_id:
        t = await s.get(WholesaleTemplate, c.provisioning_id)
        if t is None or t.partner_org_id != scope.partner_org_id:
            p.append(
                conflict(
                    P.TEMPLATE, "WH-P2", "provisioningId", "no onboarding template with this ID"
                )
            )
        elif (
            precheck
            and not t.pstn_provider
            and (needs := [x for x in c.packages if x in NEEDS_PSTN])
        ):
            p.append(
                conflict(
                    P.TEMPLATE,
                    "WH-P2",
                    "packages",
                    f"the template has no PSTN provider, needed by {', '.join(needs)}",
                )
            )
    if c.external_id:
        # Only customers the caller sees: another sub-partner's externalId is answered as
        # an unknown one (issue 9). ``own_settled``: the caller's own twin is settled by the
        # insert (a retried POST finds it), so only someone else's counts.
        others = (
            await s.exec(
                scope.customers(select(WholesaleCustomer)).where(
                    WholesaleCustomer.external_id == c.external_id,
                    col(WholesaleCustomer.id) != (existing_id or ""),
                )
            )
        ).all()
        if any(not (own_settled and scope.owns(o)) for o in others):
            p.append(
                conflict(
                    P.CUSTOMER_EXISTS, "WH-C1", "externalId", "a customer has this external ID"
                )
            )
    if c.org_id:
        org = await s.get(Org, c.org_id)
        if org is None or org.kind != "customer":
            p.append(conflict(P.ORG_UNKNOWN, "WH-C1", "orgId", "no customer org with this ID"))
        else:
            rows = (
                await s.exec(select(WholesaleCustomer).where(WholesaleCustomer.org_id == c.org_id))
            ).all()
            holders = [h for h in rows if h.id != existing_id]
            if any(not scope.sees(h) for h in holders):
                # another partner's (or sub-partner's) customer: answered as an unknown org,
                # so no caller learns which orgs others serve (issue 9)
                p.append(conflict(P.ORG_UNKNOWN, "WH-C1", "orgId", "no customer org with this ID"))
            elif holders:
                p.append(
                    conflict(
                        P.CUSTOMER_EXISTS,
                        "WH-C1",
                        "orgId",
                        "the org already has wholesale services",
                    )
                )
    return p


async def packages_held(s: AsyncSession, customer_id: str, packages: list[str]) -> list[Violation]:
    """WH-C5: a package can only be removed when no subscriber holds it."""
    held = (
        await s.exec(
            select(WholesaleSubscriber.package, func.count())
            .where(
                WholesaleSubscriber.customer_id == customer_id,
                col(WholesaleSubscriber.package).not_in(packages),
            )
            .group_by(WholesaleSubscriber.package)
        )
    ).all()
    return [
        conflict(P.PACKAGE_HELD, "WH-C5", "packages", f"{n} subscribers still hold {pkg}")
        for pkg, n in held
    ]


# --- subscribers (WH-S1..S3, PX-2) -----------------------------------------------------------


@dataclass
class SubscriberSpec:
    customer_id: str | None
    email: str | None
    package: str | None
    first_name: str | None = None
    last_name: str | None = None
    primary_phone_number: str | None = None
    extension: str | None = None
    location_id: str | None = None


def subscriber_field_problems(sp: SubscriberSpec, *, precheck: bool = False) -> list[Violation]:
    """WH-S1: what a subscriber needs. Precheck asks only for what it was given."""
    p: list[Violation] = []
    if not precheck and not sp.customer_id:
        p.append(bad("WH-S1", "customerId", "the customer ID is required"))
    if why := problem(normalize_email, sp.email):
        p.append(bad("WH-S1", "email", f"a valid email address is required: {why}"))
    if sp.package is None:
        if not precheck:
            p.append(bad("WH-P1", "package", "exactly one package is required"))
    elif sp.package not in SUBSCRIBER_PACKAGES:
        p.append(bad("WH-P1", "package", f"not a subscriber package: {sp.package}"))
    if not precheck:
        for name, value in (("firstName", sp.first_name), ("lastName", sp.last_name)):
            if not (value or "").strip():
                p.append(bad("WH-S1", f"provisioningParameters.{name}", f"{name} is required"))
    calling = sp.package in CALLING_PACKAGES
    if calling and not precheck and not (sp.extension or sp.primary_phone_number):
        p.append(
            bad(
                "WH-S1",
                "provisioningParameters.extension",
                "a calling package needs an extension or a primary phone number",
            )
        )
    if sp.package and not calling and sp.location_id:
        p.append(
            bad("WH-S1", "provisioningParameters.locationId", "only calling packages take one")
        )
    if sp.extension and not EXTENSION.match(sp.extension):
        p.append(bad("WH-S1", "provisioningParameters.extension", "2 to 10 digits"))
    if sp.primary_phone_number and (why := problem(normalize_phone, sp.primary_phone_number)):
        p.append(bad("WH-S1", "provisioningParameters.primaryPhoneNumber", why))
    return p


def _e164(number: str | None) -> str | None:
    """WH-S3: a number as stored and compared, in E.164, so that ``+1 (415) 555-0100`` and
    ``+14155550100`` are one number. None if it is not a number (the field check refuses it)."""
    if not number:
        return None
    try:
        return normalize_phone(number)
    except ValueError:
        return None


def _stored_number(number: str | None) -> str | None:
    """A subscriber's stored number; rows written before E.164 hold its bare digits."""
    return f"+{number}" if number and number.isdigit() else number


# A subscriber's hot path (issue 14): statements built once, their cache keys kept with them.
_SUBSCRIBER_BY_EMAIL = select(WholesaleSubscriber).where(
    WholesaleSubscriber.email == bindparam("email")
)
_USER_BY_EMAIL = select(OrgUser).where(OrgUser.email == bindparam("email"))
_SUBSCRIBERS_OF = (
    select(func.count())
    .select_from(WholesaleSubscriber)
    .where(WholesaleSubscriber.customer_id == bindparam("customer_id"))
)
_UNREAD = object()  # a lookup not made yet


async def _subscriber_by_email(s: AsyncSession, email: str) -> WholesaleSubscriber | None:
    return (await s.exec(_SUBSCRIBER_BY_EMAIL, params={"email": email})).first()


async def _user_by_email(s: AsyncSession, email: str) -> OrgUser | None:
    """The user with this email, read once per transaction (the session's identity map keeps
    the object; a change to it is seen by every later reader)."""
    seen = s.info.setdefault("org_user_by_email", {})
    if email not in seen:
        seen[email] = (await s.exec(_USER_BY_EMAIL, params={"email": email})).first()
    return seen[email]


async def subscriber_conflicts(
    s: AsyncSession,
    sp: SubscriberSpec,
    customer: WholesaleCustomer | None,
    *,
    existing: WholesaleSubscriber | None = None,
    holder: WholesaleSubscriber | object | None = _UNREAD,
) -> tuple[list[Violation], bool]:
    """WH-S3: everything that conflicts with what exists, and whether the email belongs to
    an active free account (PX-2: the user must consent to the move). ``holder``: the
    subscriber with this email (or None), when the caller has read it already."""
    p: list[Violation] = []
    free_user = False
    email = (sp.email or "").lower()
    if customer is not None and customer.status not in PROVISIONED_CUSTOMER:
        p.append(
            conflict(
                P.CUSTOMER_BUSY,
                "PX-1",
                "customerId",
                f"the customer is {customer.status}, not provisioned",
            )
        )
    if email and existing is None:
        other = await _subscriber_by_email(s, email) if holder is _UNREAD else holder
        if isinstance(other, WholesaleSubscriber):
            where = (
                "this customer"
                if customer and other.customer_id == customer.id
                else "another customer or partner"
            )
            p.append(
                conflict(
                    P.SUBSCRIBER_ELSEWHERE,
                    "WH-S3",
                    "email",
                    f"already provisioned as a subscriber of {where}",
                )
            )
        else:
            user = await _user_by_email(s, email)
            if user is not None:
                org = await s.get(Org, user.org_id)
                if org is not None and org.kind == "free":
                    free_user = True
                elif customer is None or user.org_id != customer.org_id:
                    p.append(
                        conflict(
                            P.EMAIL_IN_USE, "WH-S3", "email", "the email is in use in another org"
                        )
                    )
    if customer is not None:
        held = [x["name"] for x in customer.packages if x.get("status") == "provisioned"]
        if sp.package and sp.package not in held:
            p.append(
                conflict(
                    P.PARAMETER_CONFLICT,
                    "WH-S3",
                    "package",
                    f"the customer has no provisioned {sp.package} package",
                )
            )
        if sp.location_id and sp.location_id != customer.location_id:
            p.append(
                conflict(
                    P.PARAMETER_CONFLICT,
                    "WH-S3",
                    "provisioningParameters.locationId",
                    "no such location in the customer's org",
                )
            )
        if sp.extension:
            q = select(WholesaleSubscriber.id).where(
                WholesaleSubscriber.customer_id == customer.id,
                WholesaleSubscriber.extension == sp.extension,
            )
            if existing is not None:
                q = q.where(WholesaleSubscriber.id != existing.id)
            if (await s.exec(q)).first() is not None:
                p.append(
                    conflict(
                        P.PARAMETER_CONFLICT,
                        "WH-S3",
                        "provisioningParameters.extension",
                        "the extension is taken in this customer",
                    )
                )
    if number := _e164(sp.primary_phone_number):
        # E.164, or the bare digits rows were stored with before
        q = select(WholesaleSubscriber.id).where(
            col(WholesaleSubscriber.primary_phone_number).in_([number, number[1:]])
        )
        if existing is not None:
            q = q.where(WholesaleSubscriber.id != existing.id)
        if (await s.exec(q)).first() is not None:
            p.append(
                conflict(
                    P.PARAMETER_CONFLICT,
                    "WH-S3",
                    "provisioningParameters.primaryPhoneNumber",
                    "the number belongs to another subscriber",
                )
            )
    return p, free_user


async def _open_assignment(
    s: AsyncSession, sub: WholesaleSubscriber, customer: WholesaleCustomer, at: datetime
) -> None:
    s.add(WholesalePackageAssignment(**_assignment(sub, customer, at)))


def _assignment(
    sub: WholesaleSubscriber, customer: WholesaleCustomer, at: datetime
) -> dict[str, Any]:
    """A package assignment's columns, opened at ``at``."""
    return dict(
        subscriber_id=sub.id,
        customer_id=customer.id,
        external_customer_id=customer.external_id,
        partner_org_id=sub.partner_org_id,
        sub_partner_org_id=sub.sub_partner_org_id,
        package=sub.package,
        opened_at=at,
    )


async def _close_assignment(s: AsyncSession, subscriber_id: str, at: datetime) -> None:
    await s.exec(
        update(WholesalePackageAssignment)
        .where(
            col(WholesalePackageAssignment.subscriber_id) == subscriber_id,
            col(WholesalePackageAssignment.closed_at).is_(None),
        )
        .values(closed_at=at)
    )


def _consent_key(sub_id: str, round_: int) -> str:
    return f"wholesale:subscriber:{sub_id}:consent_move:{round_}"


async def _put_consent(s: AsyncSession, sub: WholesaleSubscriber, org_name: str) -> str:
    key = _consent_key(sub.id, sub.consent_round)
    await put(
        s,
        key=key,
        kind="wholesale_consent_move",
        recipient=sub.email,
        subject=f"Move your Webex account to {org_name}?",
        body=(
            f"Hello {sub.first_name},\n\n{org_name} provides Webex to you. Your email already\n"
            "belongs to a free Webex account; accept this move to join your organisation.\n"
        ),
        due_at=_now(),
        workflow_id=None,
    )
    return key


# The subscriber's hot path in plain SQL (issue 14, P2: the ORM transaction was a quarter of
# the API's CPU in a burst). First the customer's row is locked, then one statement checks
# what WH-S3 asks of the store (no subscriber and no user with the email, the extension free
# in the customer, the number free) and, when nothing is wrong, inserts the user, the
# subscriber and its package assignment (WH-B1), the org's first subscriber as its admin
# (WH-S2). It is a statement of its own so that its snapshot is taken after the lock is held,
# and sees every subscriber committed before it (as the ORM's statements did).
_LOCK_CUSTOMER_SQL = """
SELECT partner_org_id, sub_partner_org_id, external_id, org_id, attach, status, packages,
       location_id
FROM wholesale_customer WHERE id = %s FOR UPDATE
"""
_ADD_SUBSCRIBER_SQL = """
WITH f AS (
  SELECT
    EXISTS (SELECT 1 FROM wholesale_subscriber s WHERE s.email = %(email)s)
    OR EXISTS (SELECT 1 FROM org_user u WHERE u.email = %(email)s)
    OR (%(ext)s::varchar IS NOT NULL AND EXISTS (
          SELECT 1 FROM wholesale_subscriber s
          WHERE s.customer_id = %(customer_id)s AND s.extension = %(ext)s::varchar))
    OR (%(num)s::varchar IS NOT NULL AND EXISTS (
          SELECT 1 FROM wholesale_subscriber s
          WHERE s.primary_phone_number IN (%(num)s::varchar, substr(%(num)s::varchar, 2))))
    AS taken,
    NOT %(attach)s AND NOT EXISTS (
      SELECT 1 FROM wholesale_subscriber s WHERE s.customer_id = %(customer_id)s) AS admin
),
ok AS (SELECT admin FROM f WHERE NOT taken),
u AS (
  INSERT INTO org_user (id, org_id, email, admin_role, created_at)
  SELECT %(person_id)s, %(org_id)s, %(email)s, CASE WHEN admin THEN 'full' END, %(now)s FROM ok
  RETURNING id
),
sub AS (
  INSERT INTO wholesale_subscriber
    (id, customer_id, partner_org_id, sub_partner_org_id, email, first_name, last_name,
     package, primary_phone_number, extension, location_id, status, is_admin, admin_package,
     person_id, consent_round, errors, created_at, last_status_change)
  SELECT %(id)s, %(customer_id)s, %(partner_org_id)s, %(sub_partner_org_id)s, %(email)s,
         %(first_name)s, %(last_name)s, %(package)s, %(num)s::varchar, %(ext)s::varchar,
         %(location_id)s, 'provisioned', admin, CASE WHEN admin THEN %(package)s::varchar END,
         u.id, 0, '[]', %(now)s, %(now)s
  FROM ok, u
  RETURNING id
),
a AS (
  INSERT INTO wholesale_package_assignment
    (subscriber_id, customer_id, external_customer_id, partner_org_id, sub_partner_org_id,
     package, opened_at)
  SELECT sub.id, %(customer_id)s, %(external_id)s, %(partner_org_id)s,
         %(sub_partner_org_id)s, %(package)s, %(now)s
  FROM sub
  RETURNING id
)
SELECT (SELECT admin FROM ok), (SELECT count(*) FROM a)
"""


@dataclass(frozen=True)
class Remembered:
    """A request's answer stored under (owner, Idempotency-Key), for its retries. Written in
    the same transaction as the effect it answers (issue 14, P2): a retry finds both or
    neither, and the request takes one connection from the pool, not two."""

    owner: str
    key: str
    method: str
    path: str
    request_hash: str
    status: int
    body: object
    location: str | None = None

    def params(self) -> tuple[object, ...]:
        return (
            self.owner,
            self.key,
            self.method,
            self.path[:300],
            self.request_hash,
            self.status,
            None if self.body is None else Jsonb(self.body),
            self.location,
            _now(),
        )


REMEMBER_SQL = """
INSERT INTO wholesale_idempotency_key
  (owner, key, method, path, request_hash, status_code, body, location, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
"""

# The answer to remember for a subscriber (and its customer's external ID); None: nothing
Answer = Callable[[WholesaleSubscriber, str], Remembered | None]
# A connection for a hot path's statements (``Database.autocommit`` or one the caller already
# holds, as the API's request does after reading the token: one checkout per request)
Connect = Callable[[], AbstractAsyncContextManager[Any]]


async def _add_subscriber(
    db: Database,
    scope: Scope,
    sp: SubscriberSpec,
    email: str,
    answer: Answer | None = None,
    connect: Connect | None = None,
) -> tuple[WholesaleSubscriber, str] | None:
    """The subscriber added in plain SQL when nothing is to judge; None (nothing written)
    for anything else: a refusal, a retry, a free account (PX-2), an email whose user the
    attached org has, for the full rules to answer. ``answer``'s record is written in the
    same transaction."""
    async with (connect or db.autocommit)() as pg, pg.transaction() as tx:
        cur = await pg.execute(_LOCK_CUSTOMER_SQL, (sp.customer_id,))
        row = await cur.fetchone()
        if row is None:
            return None
        partner, sub_partner, external_id, org_id, attach, status, packages, location = row
        held = {x["name"] for x in packages if x.get("status") == "provisioned"}
        if (
            not org_id
            or status not in PROVISIONED_CUSTOMER
            or sp.package not in held
            or (sp.location_id and sp.location_id != location)
            or partner != scope.partner_org_id
            or (scope.sub_partner_org_id and sub_partner != scope.sub_partner_org_id)
            or (scope.customer_id and sp.customer_id != scope.customer_id)
        ):
            return None
        now = _now()
        sub = WholesaleSubscriber(
            id=new_id(),
            customer_id=sp.customer_id or "",
            partner_org_id=partner,
            sub_partner_org_id=sub_partner,
            email=email,
            first_name=(sp.first_name or "").strip(),
            last_name=(sp.last_name or "").strip(),
            package=sp.package or "",
            primary_phone_number=_e164(sp.primary_phone_number),
            extension=sp.extension,
            location_id=sp.location_id or (location if sp.package in CALLING_PACKAGES else None),
            status="provisioned",
            person_id=f"u-{new_id()[:16]}",
            consent_round=0,
            errors=[],
            created_at=now,
            last_status_change=now,
        )
        cur = await pg.execute(
            _ADD_SUBSCRIBER_SQL,
            {
                **sub.model_dump(include=_ADD_COLUMNS),
                "ext": sub.extension,
                "num": sub.primary_phone_number,
                "attach": attach,
                "org_id": org_id,
                "external_id": external_id,
                "now": now,
            },
        )
        admin, added = (await cur.fetchone()) or (None, 0)
        if not added:
            tx.force_rollback = True  # nothing was written; said plainly
            return None
        sub.is_admin = bool(admin)
        sub.admin_package = sub.package if admin else None
        if answer is not None and (rec := answer(sub, external_id)) is not None:
            await pg.execute(REMEMBER_SQL, rec.params())
    return sub, external_id


_ADD_COLUMNS = {
    "id",
    "customer_id",
    "partner_org_id",
    "sub_partner_org_id",
    "email",
    "first_name",
    "last_name",
    "package",
    "location_id",
    "person_id",
}


async def _remember_in(
    s: AsyncSession, answer: Answer | None, sub: WholesaleSubscriber, ext: str
) -> None:
    if answer is not None and (rec := answer(sub, ext)) is not None:
        await (await s.connection()).exec_driver_sql(REMEMBER_SQL, rec.params())


def _email_raced() -> RuleError:
    """Two requests for one email raced (a unique constraint): the second is refused."""
    return RuleError(
        [conflict(P.SUBSCRIBER_ELSEWHERE, "WH-S3", "email", "already provisioned as a subscriber")]
    )


async def provision_subscriber(
    db: Database,
    mailer: Mailer,
    scope: Scope,
    sp: SubscriberSpec,
    *,
    answer: Answer | None = None,
    connect: Connect | None = None,
) -> tuple[WholesaleSubscriber, str]:
    """WH-S1..S3, PX-2. Returns ``(subscriber, the customer's external ID)``: the same email
    for the same customer with the same package again is the earlier answer (a retry).
    ``answer``: the record an idempotent request stores, written in the subscriber's own
    transaction (nothing is stored for a refusal). ``connect``: the connection for the
    plain-SQL path (given back before the full rules take one of their own)."""
    raise_if(subscriber_field_problems(sp))
    assert sp.customer_id and sp.email and sp.package
    email = sp.email.lower()
    try:
        if (added := await _add_subscriber(db, scope, sp, email, answer, connect)) is not None:
            return added
    except psycopg.IntegrityError:
        raise _email_raced() from None
    keys: list[str] = []
    try:
        async with db.session() as s:
            customer = await locked_customer(s, sp.customer_id)
            if customer is None or not scope.sees(customer):
                raise LookupError("customer")
            same = await _subscriber_by_email(s, email)
            if same is not None and same.customer_id == customer.id and same.package == sp.package:
                await _remember_in(s, answer, same, customer.external_id)
                return same, customer.external_id
            problems, free_user = await subscriber_conflicts(s, sp, customer, holder=same)
            raise_if(problems)
            now = _now()
            first = (await s.exec(_SUBSCRIBERS_OF, params={"customer_id": customer.id})).one() == 0
            is_admin = first and not customer.attach  # WH-S2
            sub = WholesaleSubscriber(
                id=new_id(),
                customer_id=customer.id,
                partner_org_id=customer.partner_org_id,
                sub_partner_org_id=customer.sub_partner_org_id,
                email=email,
                first_name=(sp.first_name or "").strip(),
                last_name=(sp.last_name or "").strip(),
                package=sp.package,
                primary_phone_number=_e164(sp.primary_phone_number),
                extension=sp.extension,
                location_id=sp.location_id
                or (customer.location_id if sp.package in CALLING_PACKAGES else None),
                status="pending_user_migration" if free_user else "provisioned",
                is_admin=is_admin,
                admin_package=sp.package if is_admin else None,
                consent_round=1 if free_user else 0,
                errors=[],
                created_at=now,
                last_status_change=now,
            )
            if free_user:  # PX-2: the user consents first; billing starts then
                s.add(sub)
                org = await s.get(Org, customer.org_id) if customer.org_id else None
                keys.append(await _put_consent(s, sub, org.name if org else "your organisation"))
            else:
                sub.person_id = await _ensure_user(s, customer, email, is_admin, now)
                s.add(sub)
                await s.flush()
                await _open_assignment(s, sub, customer, now)
            await _remember_in(s, answer, sub, customer.external_id)
    except IntegrityError:
        raise _email_raced() from None
    if keys:
        await deliver(db, mailer, keys)
    return sub, customer.external_id


async def provision_subscribers(
    db: Database, scope: Scope, specs: list[SubscriberSpec]
) -> dict[str, WholesaleSubscriber]:
    """Many subscribers of one customer in one transaction (a migration's batch), for those
    with nothing to judge: valid fields (WH-S1), an email no subscriber and no user has, an
    extension and a number free in the store and in the batch, a package the customer holds
    and its own location (WH-S3). Each gets its user in the customer's org, the subscriber
    and its package assignment (WH-B1), as ``provision_subscriber`` would; the first of an
    org without subscribers becomes its admin (WH-S2), and then only if it is the first spec.
    An email already provisioned for this customer with the same package is answered with
    that subscriber (a retry). Returns them by email; every other spec is left out, for
    ``provision_subscriber`` to refuse or handle (PX-2's free accounts) with its full rules."""
    if not specs:
        return {}
    assert len({sp.customer_id for sp in specs}) == 1, "one customer per call"
    out: dict[str, WholesaleSubscriber] = {}
    try:
        async with db.session() as s:
            customer = await locked_customer(s, specs[0].customer_id or "")
            if customer is None or not scope.sees(customer):
                raise LookupError("customer")
            if customer.status not in PROVISIONED_CUSTOMER or not customer.org_id:
                return {}
            held = {x["name"] for x in customer.packages if x.get("status") == "provisioned"}
            emails = [(sp.email or "").lower() for sp in specs]
            numbers = [_e164(sp.primary_phone_number) for sp in specs]
            subs = {
                x.email: x
                for x in (
                    await s.exec(
                        select(WholesaleSubscriber).where(
                            col(WholesaleSubscriber.email).in_(emails)
                        )
                    )
                ).all()
            }
            users = set(
                (await s.exec(select(OrgUser.email).where(col(OrgUser.email).in_(emails)))).all()
            )
            extensions = [sp.extension for sp in specs if sp.extension]
            taken_ext = set(
                (
                    await s.exec(
                        select(WholesaleSubscriber.extension).where(
                            WholesaleSubscriber.customer_id == customer.id,
                            col(WholesaleSubscriber.extension).in_(extensions),
                        )
                    )
                ).all()
            )
            forms = [f for n in numbers if n for f in (n, n[1:])]
            taken_num = set(
                (
                    await s.exec(
                        select(WholesaleSubscriber.primary_phone_number).where(
                            col(WholesaleSubscriber.primary_phone_number).in_(forms)
                        )
                    )
                ).all()
            )
            twice = {
                v
                for v, n in Counter(
                    [f"e:{sp.extension}" for sp in specs if sp.extension]
                    + [f"n:{n}" for n in numbers if n]
                    + [f"m:{e}" for e in emails]
                ).items()
                if n > 1
            }
            clean: list[int] = []
            for i, sp in enumerate(specs):
                email, number = emails[i], numbers[i]
                same = subs.get(email)
                if same is not None:
                    if same.customer_id == customer.id and same.package == sp.package:
                        out[email] = same  # a retry: the earlier answer
                    continue
                if (
                    subscriber_field_problems(sp)
                    or email in users
                    or f"m:{email}" in twice
                    or sp.package not in held
                    or (sp.location_id and sp.location_id != customer.location_id)
                    or (
                        sp.extension and (sp.extension in taken_ext or f"e:{sp.extension}" in twice)
                    )
                    or (number and ({number, number[1:]} & taken_num or f"n:{number}" in twice))
                ):
                    continue
                clean.append(i)
            first = (
                await s.exec(
                    select(func.count())
                    .select_from(WholesaleSubscriber)
                    .where(WholesaleSubscriber.customer_id == customer.id)
                )
            ).one() == 0
            if first and (not clean or clean[0] != 0):
                return out  # the org's admin (WH-S2) is the first spec's, one by one
            now = _now()
            user_rows, sub_rows, assignment_rows = [], [], []
            for i in clean:
                sp, email = specs[i], emails[i]
                is_admin = first and i == 0 and not customer.attach
                person_id = f"u-{new_id()[:16]}"
                user_rows.append(
                    dict(
                        id=person_id,
                        org_id=customer.org_id,
                        email=email,
                        admin_role="full" if is_admin else None,
                        created_at=now,
                    )
                )
                sub = WholesaleSubscriber(
                    id=new_id(),
                    customer_id=customer.id,
                    partner_org_id=customer.partner_org_id,
                    sub_partner_org_id=customer.sub_partner_org_id,
                    email=email,
                    first_name=(sp.first_name or "").strip(),
                    last_name=(sp.last_name or "").strip(),
                    package=sp.package or "",
                    primary_phone_number=numbers[i],
                    extension=sp.extension,
                    location_id=sp.location_id
                    or (customer.location_id if sp.package in CALLING_PACKAGES else None),
                    status="provisioned",
                    is_admin=is_admin,
                    admin_package=sp.package if is_admin else None,
                    consent_round=0,
                    errors=[],
                    person_id=person_id,
                    created_at=now,
                    last_status_change=now,
                )
                sub_rows.append(sub.model_dump())
                assignment_rows.append(_assignment(sub, customer, now))
                out[email] = sub
            for table, rows in (
                (OrgUser, user_rows),
                (WholesaleSubscriber, sub_rows),
                (WholesalePackageAssignment, assignment_rows),
            ):
                for k in range(0, len(rows), 1000):
                    if rows[k : k + 1000]:
                        await s.exec(pg_insert(table).values(rows[k : k + 1000]))
    except IntegrityError:  # a racing request took an email or number: one by one, then
        return {}
    return out


async def _ensure_user(
    s: AsyncSession, customer: WholesaleCustomer, email: str, is_admin: bool, now: datetime
) -> str:
    """The subscriber's user in the customer's org (an attached org may already have it)."""
    user = await _user_by_email(s, email)
    if user is None:
        user = OrgUser(
            id=f"u-{new_id()[:16]}",
            org_id=customer.org_id or "",
            email=email,
            admin_role="full" if is_admin else None,
            created_at=now,
        )
    else:
        user.org_id = customer.org_id or user.org_id
        if is_admin:
            user.admin_role = "full"
    s.add(user)
    await s.flush()
    return user.id


async def accept_user_move(
    db: Database, scope: Scope | None, subscriber_id: str
) -> WholesaleSubscriber:
    """PX-2: the user consented; it moves from its free account into the customer's org and
    its package assignment opens now."""
    async with db.session() as s:
        sub = await s.get(WholesaleSubscriber, subscriber_id)
        if sub is None or (scope and not scope.sees(sub)):
            raise LookupError(f"no subscriber {subscriber_id}")
        customer = await locked_customer(s, sub.customer_id)
        assert customer is not None
        await s.refresh(sub, with_for_update=True)
        if sub.status != "pending_user_migration":
            return sub
        now = _now()
        sub.person_id = await _ensure_user(s, customer, sub.email, sub.is_admin, now)
        sub.status = "provisioned"
        sub.last_status_change = now
        s.add(sub)
        await s.flush()
        await _open_assignment(s, sub, customer, now)
        return sub


async def resend_consent(db: Database, mailer: Mailer, scope: Scope, subscriber_id: str) -> None:
    """PX-2: a new round of the consent email (once per round, however often retried)."""
    async with db.session() as s:
        sub = await s.get(WholesaleSubscriber, subscriber_id, with_for_update=True)
        if sub is None or not scope.sees(sub):
            raise LookupError(f"no subscriber {subscriber_id}")
        if sub.status != "pending_user_migration":
            raise RuleError(
                [conflict(P.NOT_PENDING, "PX-2", "status", f"the subscriber is {sub.status}")]
            )
        sub.consent_round += 1
        s.add(sub)
        customer = await s.get(WholesaleCustomer, sub.customer_id)
        org = await s.get(Org, customer.org_id) if customer and customer.org_id else None
        key = await _put_consent(s, sub, org.name if org else "your organisation")
    await deliver(db, mailer, [key])


async def update_subscriber(
    db: Database, scope: Scope, subscriber_id: str, sp: SubscriberSpec
) -> tuple[WholesaleSubscriber, str]:
    """A new package closes the open assignment and opens the next at the same instant
    (WH-B1); an admin keeps at least its creation level (WH-S2). Returns the subscriber and
    its customer's external ID."""
    async with db.session() as s:
        sub = await s.get(WholesaleSubscriber, subscriber_id)
        if sub is None or not scope.sees(sub):
            raise LookupError(f"no subscriber {subscriber_id}")
        customer = await locked_customer(s, sub.customer_id)
        assert customer is not None
        await s.refresh(sub, with_for_update=True)
        package = sp.package or sub.package
        merged = SubscriberSpec(
            customer_id=sub.customer_id,
            email=sub.email,
            package=package,
            first_name=sub.first_name,
            last_name=sub.last_name,
            primary_phone_number=sp.primary_phone_number
            or _stored_number(sub.primary_phone_number),
            extension=sp.extension or sub.extension,
            location_id=sp.location_id
            or (sub.location_id if package in CALLING_PACKAGES else None),
        )
        problems = subscriber_field_problems(merged)
        changed = SubscriberSpec(
            customer_id=None,
            email=None,
            package=sp.package if sp.package != sub.package else None,
            primary_phone_number=sp.primary_phone_number,
            extension=sp.extension if sp.extension != sub.extension else None,
            location_id=sp.location_id,
        )
        more, _ = await subscriber_conflicts(s, changed, customer, existing=sub)
        problems += more
        if (
            sub.is_admin
            and sub.admin_package
            and PACKAGE_LEVEL.get(package, 0) < PACKAGE_LEVEL.get(sub.admin_package, 0)
        ):
            problems.append(
                conflict(
                    P.ADMIN_DOWNGRADE,
                    "WH-S2",
                    "package",
                    f"the customer's admin keeps at least {sub.admin_package}",
                )
            )
        raise_if(problems)
        if package != sub.package:
            sub.package = package
            if sub.status == "provisioned":
                now = _now()
                await _close_assignment(s, sub.id, now)
                await s.flush()
                await _open_assignment(s, sub, customer, now)
        sub.primary_phone_number = _e164(merged.primary_phone_number)
        sub.extension = merged.extension
        sub.location_id = merged.location_id
        s.add(sub)
        return sub, customer.external_id


async def remove_subscriber(db: Database, scope: Scope, subscriber_id: str) -> None:
    """The wholesale services go (billing stops now, WH-B1); the user stays in the org."""
    async with db.session() as s:
        sub = await s.get(WholesaleSubscriber, subscriber_id)
        if sub is None or not scope.sees(sub):
            raise LookupError(f"no subscriber {subscriber_id}")
        await locked_customer(s, sub.customer_id)
        await _close_assignment(s, sub.id, _now())
        await s.exec(delete(WholesaleSubscriber).where(col(WholesaleSubscriber.id) == sub.id))


# --- restricted-by-partner mode (WH-C6) ------------------------------------------------------


async def set_restricted(
    db: Database, scope: Scope, customer_id: str, on: bool
) -> WholesaleCustomer:
    """WH-C6: the partner switches a customer's restricted-by-partner mode (on by default)
    off or on; one transaction under the customer's row lock. ``LookupError`` when the
    caller does not see the customer."""
    async with db.session() as s:
        c = await locked_customer(s, customer_id)
        if c is None or not scope.sees(c):
            raise LookupError("customer")
        if c.restricted_by_partner != on:
            await s.exec(
                update(WholesaleCustomer)
                .where(col(WholesaleCustomer.id) == c.id)
                .values(restricted_by_partner=on)
            )
            c.restricted_by_partner = on
        return c

"""The rules that decide whether a trial may start (TR-S1..S8, TR-C*), and how it starts.

``resolve_trial`` checks every rule for the starter (CLI, API), in one statement, so the
caller is refused at once; the ``open_trial`` activity checks again, inside the transaction
that writes, the rules a race between two starters could slip past (TR-S6, TR-E5).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common.countries import country_problem
from models.common.refusal import RuleError, Violation, raise_if
from models.common.tables import License, PhoneNumber
from models.common.types import normalize_email, normalize_phone, normalize_time_zone, problem
from models.trials.contract import (
    OPEN_STATES,
    NewCustomer,
    TrialInput,
    TrialPolicy,
    TrialRequest,
    site_url_problem,
)
from models.trials.tables import Trial

TRIAL_STARTER_ROLES = frozenset({"sales", "sales_full"})  # TR-S1


# The rule a malformed field of a start request breaks (default TR-S2, the fields rule).
FIELD_RULES = {"started_by": "TR-S1", "license_count": "TR-S3", "admin_email": "TR-C1"}


def parse_request(data: dict[str, Any]) -> TrialRequest:
    """A start request from what a caller sent (CLI options, JSON): a field the contract
    refuses (too long for its column, 2147483648 licenses, an unknown service) is a
    ``RuleError`` naming the rule and the field, like any other start refusal."""
    try:
        return TrialRequest.model_validate(data)
    except ValidationError as err:
        v = []
        for e in err.errors():
            field = ".".join(str(p) for p in e["loc"]) or "input"
            rule = FIELD_RULES.get(field.split(".")[0], "TR-S2")
            v.append(Violation(rule, field, e["msg"]))
        raise RuleError(v) from None


def check_request(req: TrialRequest, policy: TrialPolicy) -> list[Violation]:
    """The checks that need no store: TR-S2 fields, counts, durations."""
    v: list[Violation] = []
    if not req.services:
        v.append(Violation("TR-S2", "services", "choose at least one trial service"))
    if len(set(req.services)) != len(req.services):
        v.append(Violation("TR-S2", "services", "a service is listed twice"))
    if req.license_count is None:
        v.append(Violation("TR-S2", "license_count", "a license count is required"))
    elif req.license_count < 1:
        v.append(Violation("TR-S3", "license_count", "the license count must be at least 1"))
    if req.days is None:
        v.append(Violation("TR-S2", "days", "a trial duration in days is required"))
    elif not 1 <= req.days <= policy.max_days:
        v.append(Violation("TR-S2", "days", f"the duration must be 1 to {policy.max_days} days"))
    if not (req.started_by or "").strip():
        v.append(Violation("TR-S1", "started_by", "the partner admin's email is required"))
    elif why := problem(normalize_email, req.started_by):
        v.append(Violation("TR-S1", "started_by", why))
    if (req.org_id is None) == (req.customer is None):
        v.append(Violation("TR-S2", "customer", "give either an existing org id or a new customer"))
    if req.customer is not None:
        c = req.customer
        for name in ("company_name", "admin_email", "vertical", "country"):
            if not (getattr(c, name) or "").strip():
                v.append(Violation("TR-S2", f"customer.{name}", f"{name} is required"))
        if c.admin_email and (why := problem(normalize_email, c.admin_email)):
            v.append(Violation("TR-S2", "customer.admin_email", why))
        if c.country and (why := country_problem(c.country)):
            v.append(Violation("TR-S2", "customer.country", why))
        for n in c.numbers:
            if why := problem(normalize_phone, n):
                v.append(Violation("TR-S2", "customer.numbers", why))
        if len({_e164(n) for n in c.numbers}) != len(c.numbers):
            v.append(Violation("TR-S2", "customer.numbers", "a number is listed twice"))
        if c.timezone and (why := problem(normalize_time_zone, c.timezone)):
            v.append(Violation("TR-S2", "customer.timezone", why))
    if req.admin_email and (why := problem(normalize_email, req.admin_email)):
        v.append(Violation("TR-C1", "admin_email", why))
    if req.timezone and (why := problem(normalize_time_zone, req.timezone)):
        v.append(Violation("TR-S2", "timezone", why))
    for name, url in (
        ("site_url", req.site_url),
        ("customer.site_url", req.customer.site_url if req.customer else None),
    ):
        if url and (why := site_url_problem(url)):
            v.append(Violation("TR-S2", name, why))
    for name, text in (
        ("customer.company_name", req.customer.company_name if req.customer else None),
        ("customer.vertical", req.customer.vertical if req.customer else None),
    ):
        if text and not text.isprintable():
            v.append(Violation("TR-S2", name, "control characters are not allowed"))
    if "meetings" in req.services:
        site_url = req.site_url or (req.customer.site_url if req.customer else None)
        tz = req.timezone or (req.customer.timezone if req.customer else None)
        if not site_url:
            v.append(Violation("TR-S2", "site_url", "meetings needs a site URL"))
        if not tz:
            v.append(Violation("TR-S2", "timezone", "meetings needs a time zone"))
    return v


def _services_violations(
    wanted: set[str],
    bought: set[str],
    others: Sequence[tuple[str, Sequence[str], str]],
    partner_org_id: str,
    excluding_trial: str | None,
) -> list[Violation]:
    """TR-S6 from what the store holds: the paid services, and the open trials (id, services,
    partner) of the org."""
    v = [Violation("TR-S6", "services", f"the customer has already bought {svc}") for svc in
         sorted(wanted & bought)]  # fmt: skip
    for trial_id, services, partner in others:
        if trial_id == excluding_trial:
            continue
        for svc in sorted(wanted & set(services)):
            who = "this partner" if partner == partner_org_id else "another partner"
            v.append(
                Violation("TR-S6", "services", f"{svc} is already in a trial of {who} ({trial_id})")
            )
    return v


async def services_conflicts(
    s: AsyncSession,
    org_id: str,
    services: Sequence[str],
    *,
    partner_org_id: str,
    excluding_trial: str | None = None,
) -> list[Violation]:
    """TR-S6: only services the customer has not bought and nobody is trialling."""
    bought = set(
        (
            await s.exec(
                select(License.service).where(License.org_id == org_id, License.source == "paid")
            )
        ).all()
    )
    others = (
        await s.exec(
            select(Trial).where(Trial.customer_org_id == org_id, col(Trial.state).in_(OPEN_STATES))
        )
    ).all()
    return _services_violations(
        set(services) - {"devices"},
        bought,
        [(t.id, t.services, t.partner_org_id) for t in others],
        partner_org_id,
        excluding_trial,
    )


def _numbers_violations(taken: Sequence[tuple[str, str]]) -> list[Violation]:
    return [
        Violation("TR-E5", "customer.numbers", f"{number} is {state} to another org")
        for number, state in sorted(taken)
    ]


async def numbers_conflicts(s: AsyncSession, numbers: Sequence[str]) -> list[Violation]:
    """TR-E5: a new customer's number must be free: never seen, or released to the pool. A
    number assigned to another org, or retained for one, is not the new customer's to take."""
    if not numbers:
        return []
    taken = (
        await s.exec(
            select(PhoneNumber).where(
                col(PhoneNumber.number).in_(list(numbers)), PhoneNumber.state != "released"
            )
        )
    ).all()
    return _numbers_violations([(p.number, p.state) for p in taken])


def _e164(number: str) -> str:
    """A number in E.164 if it is one (else as given: check_request refuses it)."""
    try:
        return normalize_phone(number)
    except ValueError:
        return number


def _zone(name: str | None) -> str | None:
    return normalize_time_zone(name) if name else None


def _normalized(c: NewCustomer | None) -> NewCustomer | None:
    """A new customer as stored: numbers in E.164 (one number, however it was spelled), the
    country code in upper case, the time zone's canonical name. Called after check_request."""
    if c is None:
        return None
    return c.model_copy(
        update={
            "numbers": [normalize_phone(n) for n in c.numbers],
            "country": (c.country or "").strip().upper() or None,
            "timezone": _zone(c.timezone),
        }
    )


# Every fact the start rules need, in one statement (issue 14, P3: the starter read them in
# an ORM transaction of seven round trips, 85% of its CPU per start): the partner, the
# starter, the org (given, or owning the new customer's admin email: SO-6), the new
# customer's numbers already taken (TR-E5), and for an existing org its paid services and
# open trials (TR-S6), the partner's relationship (TR-C*), and its first full admin (TR-C1).
# One statement reads one snapshot, as the transaction did.
START_FACTS_SQL = """
SELECT p.kind, p.tier,
       st.org_id, st.admin_role,
       o.id, o.kind, o.site_url, o.timezone,
       (SELECT coalesce(json_agg(json_build_array(n.number, n.state)), '[]') FROM phone_number n
         WHERE n.number = ANY(%(numbers)s) AND n.state <> 'released'),
       (SELECT coalesce(array_agg(DISTINCT l.service), '{}') FROM license l
         WHERE l.org_id = o.id AND l.source = 'paid'),
       (SELECT coalesce(json_agg(json_build_array(t.id, t.services, t.partner_org_id)
                                 ORDER BY t.created_at, t.id), '[]') FROM trial t
         WHERE t.customer_org_id = o.id AND t.state = ANY(%(open)s)),
       (SELECT r.status FROM partner_customer r
         WHERE r.partner_org_id = %(partner)s AND r.customer_org_id = o.id),
       (SELECT u.email FROM org_user u WHERE u.org_id = o.id AND u.admin_role = 'full'
         ORDER BY u.created_at LIMIT 1)
FROM (SELECT 1) one
LEFT JOIN org p ON p.id = %(partner)s
LEFT JOIN org_user st ON st.email = %(started_by)s
LEFT JOIN org o ON o.id = coalesce(
  %(org_id)s, (SELECT w.org_id FROM org_user w WHERE w.email = %(owner)s))
"""
_OPEN = sorted(OPEN_STATES)


async def resolve_trial(
    pg: Any, req: TrialRequest, policy: TrialPolicy, trial_id: str
) -> TrialInput:
    """Check every start rule against the store (``pg``: a psycopg connection, e.g.
    ``Database.autocommit``); return the workflow input or raise."""
    raise_if(check_request(req, policy))
    v: list[Violation] = []
    customer = _normalized(req.customer)  # check_request: exactly one of org_id and customer
    owner_email = customer.admin_email if req.org_id is None and customer is not None else None
    cur = await pg.execute(
        START_FACTS_SQL,
        {
            "partner": req.partner_org_id,
            "started_by": req.started_by,
            "org_id": req.org_id,
            "owner": owner_email,
            "numbers": list(customer.numbers) if customer is not None else [],
            "open": _OPEN,
        },
    )
    row = await cur.fetchone()
    p_kind, p_tier, st_org, st_role, o_id, o_kind, o_site, o_tz = row[:8]
    taken, bought, others, relation, full_admin = row[8:]

    if p_kind != "partner":
        raise RuleError.one("TR-S1", "partner_org_id", f"no partner org {req.partner_org_id}")
    partner_id = req.partner_org_id
    if st_org is None or st_org != partner_id:
        v.append(Violation("TR-S1", "started_by", "not an admin of this partner org"))
    elif st_role not in TRIAL_STARTER_ROLES:
        v.append(
            Violation(
                "TR-S1",
                "started_by",
                f"role {st_role or 'none'} may not start trials; "
                "only sales or sales_full admins may",
            )
        )

    admin_email = req.admin_email
    if req.org_id is not None:
        if o_id is None:
            raise_if([*v, Violation("TR-S2", "org_id", f"no org {req.org_id}")])
    elif customer is not None:
        admin_email = customer.admin_email  # an email that belongs to an org means it (SO-6)
    if o_id is not None and (o_kind == "partner" or o_id == partner_id):
        v.append(
            Violation("TR-S8", "org_id", "a partner org cannot trial for itself; it must order")
        )
    if o_id is not None and o_kind == "free":
        v.append(Violation("TR-S2", "org_id", "a free org cannot take a trial"))
    raise_if(v)
    tier = p_tier or 1

    if o_id is None and customer is not None:
        raise_if(_numbers_violations([(n, state) for n, state in taken]))
        return TrialInput(
            trial_id=trial_id,
            partner_org_id=partner_id,
            partner_tier=tier,
            customer_org_id=f"org-{trial_id}",
            new_customer=True,
            needs_consent=False,
            paying_customer=False,
            customer_admin_email=customer.admin_email or "",
            started_by=req.started_by,
            services=req.services,
            license_count=req.license_count or 0,
            days=req.days or 0,
            setup=req.setup,
            site_url=req.site_url or customer.site_url,
            timezone=_zone(req.timezone) or customer.timezone,
            customer=customer,
            policy=policy,
        )

    if o_id is None:  # unreachable after check_request; said plainly rather than asserted
        raise RuleError.one("TR-S2", "customer", "give either an existing org id or a new customer")
    wanted = {str(x) for x in req.services} - {"devices"}
    v += _services_violations(
        wanted,
        set(bought),
        [(t[0], t[1], t[2]) for t in others],
        partner_id,
        None,
    )
    raise_if(v)
    if not admin_email:
        if full_admin is None:
            raise RuleError.one("TR-C1", "admin_email", "the org has no full admin to ask")
        admin_email = full_admin
    return TrialInput(
        trial_id=trial_id,
        partner_org_id=partner_id,
        partner_tier=tier,
        customer_org_id=o_id,
        new_customer=False,
        needs_consent=relation != "active",
        paying_customer=bool(bought),
        customer_admin_email=admin_email,
        started_by=req.started_by,
        services=req.services,
        license_count=req.license_count or 0,
        days=req.days or 0,
        setup=req.setup,
        site_url=req.site_url or o_site,
        timezone=_zone(req.timezone) or o_tz,
        customer=None,
        policy=policy,
    )

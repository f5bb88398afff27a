"""The order's transactions, called by the API, the CLI and the activities alike.

- ``create_order``: SO-1 and TR-V1..V3 checks, then the order's row (idempotent per order id).
- ``transition``: one state transition's effects, read model and owed notices, in the
  caller's transaction (the activity delivers the notices after the commit).
- ``check_setup``: the wizard's validating step (SO-3: reads only, writes nothing).
- ``apply_setup``: the wizard's commit: hand-off (SO-4), org mapping (SO-5..SO-7, SO-11,
  SO-12), services (SO-8, SO-9, SO-13), provisioning and billing (SO-10), in one transaction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common.countries import region_of
from models.common.orgs import new_id
from models.common.refusal import RuleError, Violation, raise_if
from models.common.tables import License, Org, OrgUser, PartnerCustomer
from models.orders import rules
from models.orders.contract import (
    SERVICES,
    OrderCreate,
    OrderInput,
    OrderLine,
    OrderPolicy,
    OrgCandidate,
    OrgChoice,
    OrgMatch,
    SetupAnswers,
    SetupCommit,
    SetupOutcome,
    StepResult,
    Transition,
    order_workflow_id,
)
from models.orders.notices import owe, partner_recipients, setup_link
from models.orders.pdf import order_summary_pdf
from models.orders.tables import (
    MeetingSiteRow,
    OrderDocument,
    OrderRecord,
    OrderService,
    OrgSubdomain,
    OrgUserActivity,
)
from models.trials.tables import Trial
from models.wholesale.store import request_hash
from models.wholesale.tables import OrgDomain

ORDER_SCOPES = ("orders_read", "orders_write")
DEV_TOKEN_KEY = "dev-only-order-setup-key-change-me"
TRIAL_CONVERTIBLE = ("active", "grace")  # TR-E2


def setup_token_key() -> str:
    """The HMAC key of set-up links (``LIFECYCLES_ORDER_SETUP_TOKEN_KEY``, the same variable
    ``Settings.order_setup_token_key`` reads): the activities sign with it, the API checks."""
    return os.environ.get("LIFECYCLES_ORDER_SETUP_TOKEN_KEY") or DEV_TOKEN_KEY


class OrderExists(Exception):
    """The order id is taken by a different order (409)."""


def _now() -> datetime:
    return datetime.now(UTC)


# --- SO-1: an order arrives -----------------------------------------------------------------


async def create_order(
    s: AsyncSession, submitted_by_org_id: str, req: OrderCreate, now: datetime | None = None
) -> tuple[OrderRecord, bool]:
    """Check the order and write its row (state ``scheduled``). The same order again
    answers the row already there (``created`` False); another body under the same id
    raises ``OrderExists``. A refusal writes nothing."""
    now = now or _now()
    body = req.model_dump(mode="json")
    digest = request_hash([submitted_by_org_id, body])
    existing = await s.get(OrderRecord, req.order_id)
    if existing is not None:
        if existing.request_hash != digest:
            raise OrderExists(f"order {req.order_id} exists with other details")
        return existing, False
    v = rules.check_order(req, now.date())
    partner = await s.get(Org, submitted_by_org_id)
    if partner is None or partner.kind != "partner":
        v.append(Violation("SO-1", "partner_org_id", f"no partner org {submitted_by_org_id}"))
    contact = rules.normal_email(req.provisioning_contact_email)
    if req.trial_id and partner is not None:
        v += await _trial_checks(s, req, partner, contact)
    raise_if(v)
    assert contact is not None
    rep = rules.normal_email(req.account_rep_email) if req.account_rep_email else None
    row = OrderRecord(
        id=req.order_id,
        workflow_id=order_workflow_id(req.order_id),
        submitted_by_org_id=submitted_by_org_id,
        offer=req.offer,
        lines=[ln.model_dump() for ln in req.lines],
        customer_name=req.customer_name,
        requested_start_date=req.requested_start_date,
        start_at=rules.start_of(req.requested_start_date),
        contact_email=contact,
        account_rep_email=rep or "",
        trial_id=req.trial_id,
        confirm_new_org=req.confirm_new_org,
        through_distributor=req.through_distributor,
        state="scheduled",
        request_hash=digest,
        created_at=now,
        updated_at=now,
    )
    inserted = (
        await s.exec(
            insert(OrderRecord)
            .values(**row.model_dump())
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(col(OrderRecord.id))
        )
    ).first()
    if inserted is None:  # a concurrent create won: same body is the same order
        other = await s.get(OrderRecord, req.order_id, populate_existing=True)
        assert other is not None
        if other.request_hash != digest:
            raise OrderExists(f"order {req.order_id} exists with other details")
        return other, False
    for ln in req.lines:
        s.add(OrderService(order_id=req.order_id, service=ln.service, quantity=ln.quantity))
    return row, True


async def _trial_checks(
    s: AsyncSession, req: OrderCreate, partner: Org, contact: str | None
) -> list[Violation]:
    """TR-V1..V3 as the order desk sees them, before anything is written."""
    trial = await s.get(Trial, req.trial_id)
    if trial is None or trial.partner_org_id != partner.id:
        return [Violation("TR-V1", "trial_id", f"no trial {req.trial_id} of this partner")]
    v = []
    if trial.state not in TRIAL_CONVERTIBLE:
        v.append(Violation("TR-E2", "trial_id", f"the trial is {trial.state}: it cannot convert"))
    if (partner.tier or 1) == 2 and not req.through_distributor:
        v.append(
            Violation(
                "TR-V2", "through_distributor", "a tier-2 partner converts via its distributor"
            )
        )
    if contact and contact != trial.customer_admin_email.lower() and not req.confirm_new_org:
        v.append(
            Violation(
                "TR-V3",
                "provisioning_contact_email",
                "must be the trial's customer admin email (another email would create a new "
                "org); send confirm_new_org=true to proceed anyway",
            )
        )
    other = (
        await s.exec(
            select(OrderRecord.id).where(
                OrderRecord.trial_id == req.trial_id,
                col(OrderRecord.state).not_in(("closed", "cancelled")),
            )
        )
    ).first()
    if other is not None:
        v.append(Violation("TR-V1", "trial_id", f"order {other} already converts this trial"))
    return v


def order_input(row: OrderRecord, policy: OrderPolicy) -> OrderInput:
    return OrderInput(
        order_id=row.id,
        submitted_by_org_id=row.submitted_by_org_id,
        offer=row.offer,
        lines=[OrderLine(**ln) for ln in row.lines],
        start_at=row.start_at,
        trial_id=row.trial_id,
        policy=policy,
    )


async def locked_order(s: AsyncSession, order_id: str) -> OrderRecord:
    row = (
        await s.exec(
            select(OrderRecord)
            .where(OrderRecord.id == order_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise LookupError(f"no order {order_id}")
    return row


# --- transitions ----------------------------------------------------------------------------


async def transition(s: AsyncSession, t: Transition, policy: OrderPolicy, key: str) -> list[str]:
    """The effects of one transition and the read model; returns the notice keys owed."""
    row = await locked_order(s, t.order_id)
    keys: list[str] = []
    if t.kind == "email":  # SO-1; PX-5's clock starts with the first email of a schedule
        row.email_sent_at = row.email_sent_at or t.at
        row.close_at = t.close_at
        row.email_round = t.round
        keys = await _provisioning_email(s, row, policy, key, t.at, t.round)
    elif t.kind == "rep_alert":  # SO-2
        row.rep_alerted_at = row.rep_alerted_at or t.at
        keys = await owe(
            s,
            row,
            "order_rep_alert",
            [(row.account_rep_email or policy.account_rep_email, "rep")],
            due_at=t.at,
            context={"sent": f"{row.email_sent_at:%Y-%m-%d}"},
        )
    elif t.kind == "close":  # PX-5
        row.closed_at = row.closed_at or t.at
        keys = await owe(
            s,
            row,
            "order_closed",
            await partner_recipients(s, row),
            due_at=t.at,
            context={
                "days": f"{policy.close_days(row.offer):g}",
                "sent": f"{row.email_sent_at:%Y-%m-%d}",
            },
        )
    elif t.kind == "begin":
        row.setup_started_at = row.setup_started_at or t.at
    elif t.kind == "contact":
        assert t.contact_email is not None
        if row.contact_email != t.contact_email:  # a retry finds it done
            row.contact_email = t.contact_email
            row.contact_version += 1
        if row.email_sent_at is not None and t.state != "scheduled":
            row.email_round = t.round
            keys = await _provisioning_email(s, row, policy, key, t.at, t.round)
    elif t.kind == "reschedule":
        assert t.start_at is not None
        row.start_at = t.start_at
        row.requested_start_date = t.start_at.date()
        row.email_sent_at = None  # the next email starts PX-5's clock again
        row.close_at = None
    elif t.kind == "resend":
        row.email_round = t.round
        keys = await _provisioning_email(s, row, policy, key, t.at, t.round)
    elif t.kind == "cancel":
        row.cancelled_at = row.cancelled_at or t.at
        row.cancel_reason = t.reason or None
        keys = await owe(
            s,
            row,
            "order_cancelled",
            await partner_recipients(s, row),
            due_at=t.at,
            context={"reason": t.reason},
        )
    row.state = t.state
    row.next_deadline_at = t.next_deadline_at
    row.next_deadline_kind = t.next_deadline_kind
    row.updated_at = _now()
    s.add(row)
    return keys


async def _provisioning_email(
    s: AsyncSession,
    row: OrderRecord,
    policy: OrderPolicy,
    key: str,
    at: datetime,
    round_: int,
    kind: str = "order_provisioning",
) -> list[str]:
    link, expires = setup_link(row, policy, key)
    return await owe(
        s,
        row,
        kind,
        [(row.contact_email, "contact")],
        due_at=at,
        round_=round_,
        context={"link": link, "expires": expires},
    )


# --- SO-5: which org is it ------------------------------------------------------------------


async def describe_orgs(
    s: AsyncSession, org_ids: list[str], policy: OrderPolicy, now: datetime
) -> list[OrgCandidate]:
    """Each org with its verified/claimed domains, active users and last user activity, and
    whether it is likely the right one (SO-5: the seeds give these as aids; the ranking is
    ours: an org with no verified or claimed domain and no activity for a year is unlikely)."""
    if not org_ids:
        return []
    orgs = (await s.exec(select(Org).where(col(Org.id).in_(org_ids)))).all()
    domains = (await s.exec(select(OrgDomain).where(col(OrgDomain.org_id).in_(org_ids)))).all()
    active_since = now - timedelta(days=policy.active_user_days)
    stats = (
        await s.exec(
            select(
                OrgUser.org_id,
                func.count().filter(col(OrgUserActivity.last_active_at) >= active_since),
                func.max(OrgUserActivity.last_active_at),
            )
            .join(OrgUserActivity, col(OrgUserActivity.email) == col(OrgUser.email), isouter=True)
            .where(col(OrgUser.org_id).in_(org_ids))
            .group_by(OrgUser.org_id)
        )
    ).all()
    by_org = {org_id: (active, last) for org_id, active, last in stats}
    out = []
    for org in orgs:
        verified = sorted(d.domain for d in domains if d.org_id == org.id and d.verified)
        claimed = sorted(d.domain for d in domains if d.org_id == org.id and d.claimed)
        active, last = by_org.get(org.id, (0, None))
        stale = last is None or last < now - timedelta(days=policy.unlikely_after_days)
        reasons = []
        if verified:
            reasons.append(f"verified domain {', '.join(verified)}")
        if claimed:
            reasons.append(f"claimed domain {', '.join(claimed)}")
        reasons.append(f"{active} active users")
        reasons.append(f"last activity {last:%Y-%m-%d}" if last else "no user activity")
        likely = bool(verified or claimed) or not stale
        why = "; ".join(reasons)
        if not likely:
            why = f"unlikely: no verified or claimed domain and no activity for a year ({why})"
        out.append(
            OrgCandidate(
                org_id=org.id,
                name=org.name,
                verified_domains=verified,
                claimed_domains=claimed,
                active_users=active or 0,
                last_activity_at=last,
                likely=likely,
                why=why,
            )
        )
    floor = datetime.min.replace(tzinfo=UTC)
    out.sort(
        key=lambda c: (
            not c.likely,
            -c.active_users,
            -(c.last_activity_at or floor).timestamp(),
            c.name,
        )
    )
    return out


async def org_match(
    s: AsyncSession,
    email: str,
    kinds: tuple[str, ...],
    policy: OrderPolicy,
    now: datetime,
    search: str | None = None,
) -> OrgMatch:
    """SO-5: the org the email belongs to (exact, to confirm), else orgs of its domain (or
    of a global domain search), else none (create one)."""
    user = (await s.exec(select(OrgUser).where(func.lower(OrgUser.email) == email))).first()
    if user is not None:
        proposed = (await describe_orgs(s, [user.org_id], policy, now))[0]
        org = await s.get(Org, user.org_id)
        if org is not None and org.kind not in kinds:
            proposed.likely = False
            proposed.why = f"a {org.kind} org, not a {' or '.join(kinds)} org ({proposed.why})"
        return OrgMatch(kind="exact", email=email, proposed=proposed)
    domain = rules.email_domain(email)
    ids = set(
        (await s.exec(select(OrgDomain.org_id).where(OrgDomain.domain == domain))).all()
    ) | set(
        (
            await s.exec(
                select(OrgUser.org_id).where(
                    col(OrgUser.email).endswith("@" + domain, autoescape=True)
                )
            )
        ).all()
    )
    if search and search.strip():
        term = search.strip().lower()
        ids |= set(
            (
                await s.exec(
                    select(OrgDomain.org_id).where(
                        col(OrgDomain.domain).contains(term, autoescape=True)
                    )
                )
            ).all()
        )
    if ids:
        wanted = (
            await s.exec(select(Org.id).where(col(Org.id).in_(ids), col(Org.kind).in_(kinds)))
        ).all()
        candidates = await describe_orgs(s, list(wanted), policy, now)
        if candidates:
            return OrgMatch(kind="candidates", email=email, candidates=candidates)
    return OrgMatch(kind="none", email=email)


async def _resolve(
    s: AsyncSession,
    choice: OrgChoice,
    match: OrgMatch,
    field: str,
    kinds: tuple[str, ...],
) -> tuple[list[Violation], str | None]:
    """The org a choice names (None: a new org), or why it cannot be."""
    if choice.action == "confirm":
        p = match.proposed
        if match.kind != "exact" or p is None or p.org_id != choice.org_id:
            return [
                Violation("SO-5", f"{field}.org_id", "not the org proposed for this email")
            ], None
        org = await s.get(Org, p.org_id)
        if org is None or org.kind not in kinds:
            return [Violation("SO-5", f"{field}.org_id", f"not a {' or '.join(kinds)} org")], None
        return [], p.org_id
    if choice.action == "choose":
        if match.kind == "exact":
            return [
                Violation(
                    "SO-6",
                    f"{field}.org_id",
                    "the email belongs to one org (proposed): confirm it, or say it is not yours",
                )
            ], None
        if choice.org_id not in {c.org_id for c in match.candidates}:
            return [Violation("SO-5", f"{field}.org_id", "not one of the orgs found")], None
        return [], choice.org_id
    # create
    if match.kind == "exact":
        return [
            Violation(
                "SO-6",
                field,
                f"{match.email} already belongs to an org: a user belongs to one org at a time",
            )
        ], None
    return [], None


@dataclass
class Resolved:
    result: StepResult
    partner_org_id: str | None = None
    customer_org_id: str | None = None
    existing_customer: bool = False


def asks_for_orgs(c: OrgChoice | None) -> bool:
    """SO-5: the step asks which orgs match: no choice yet, or a global domain search
    (``choose`` with ``domain_search`` and no org yet) whose results the next screen shows."""
    if c is None:
        return True
    return c.action == "choose" and not c.org_id and bool((c.domain_search or "").strip())


def purchased_of(row: OrderRecord) -> dict[str, int]:
    return {ln["service"]: ln["quantity"] for ln in row.lines}


async def check_setup(
    s: AsyncSession,
    row: OrderRecord,
    step: str,
    a: SetupAnswers,
    policy: OrderPolicy,
    now: datetime,
) -> Resolved:
    """One wizard step: the answers up to ``step`` checked against the rules and the store,
    and what the next screen shows. Reads only (SO-3). Raises ``RuleError``."""
    purchased = purchased_of(row)
    res = Resolved(
        StepResult(step=step, services=[n for n in SERVICES if n in purchased])  # SO-12
    )
    wants_partner_match = step == "partner-org" and asks_for_orgs(a.partner_org)
    wants_customer_match = step == "customer-org" and asks_for_orgs(a.customer_org)
    check_upto = {"partner-org": "purpose", "customer-org": "partner-org"}
    upto = check_upto[step] if (wants_partner_match or wants_customer_match) else step
    raise_if(
        rules.check_answers(
            upto, a, offer=row.offer, purchased=purchased, contact_email=row.contact_email
        )
    )
    res.result.next_step = rules.next_step(upto, a)
    if a.purpose == "my_company":
        res.result.info.append(
            "SO-11: Cisco recommends that partners provision for the customer, so they can "
            "keep supporting it"
        )
    if rules.handed_off(a) or rules.step_index(step) < rules.step_index("partner-org"):
        return res
    v: list[Violation] = []
    if a.purpose == "customer":
        pm = await org_match(
            s,
            row.contact_email,
            ("partner",),
            policy,
            now,
            a.partner_org.domain_search if a.partner_org else None,
        )
        res.result.partner_org = pm
        if wants_partner_match:
            res.result.next_step = "partner-org"
            return res
        assert a.partner_org is not None
        pv, res.partner_org_id = await _resolve(s, a.partner_org, pm, "partner_org", ("partner",))
        raise_if(pv)
        if step == "partner-org":
            return res
        if wants_customer_match and not rules.normal_email(a.customer_admin_email):
            raise RuleError.one(
                "SO-5", "customer_admin_email", "the customer admin's email is required"
            )
    customer_email = (
        rules.normal_email(a.customer_admin_email) if a.purpose == "customer" else row.contact_email
    )
    assert customer_email is not None
    kinds = ("customer",) if a.purpose == "customer" else ("customer", "partner")
    cm = await org_match(
        s,
        customer_email,
        kinds,
        policy,
        now,
        a.customer_org.domain_search if a.customer_org else None,
    )
    res.result.customer_org = cm
    if wants_customer_match:
        res.result.next_step = "customer-org"
        return res
    assert a.customer_org is not None
    cv, res.customer_org_id = await _resolve(s, a.customer_org, cm, "customer_org", kinds)
    v += cv
    if res.customer_org_id and res.customer_org_id == res.partner_org_id:
        v.append(Violation("SO-6", "customer_org.org_id", "the customer org is the partner org"))
    res.existing_customer = res.customer_org_id is not None
    raise_if(v)
    if rules.step_index(step) >= rules.step_index("services") and a.services is not None:
        raise_if(await taken_names(s, a, row.id))
    if a.customer_sets_up_services:
        res.result.info.append("SO-4: the customer admin gets the service set-up; you keep access")
    return res


async def taken_names(s: AsyncSession, a: SetupAnswers, order_id: str) -> list[Violation]:
    """SO-8: site URL names and the enterprise subdomain must be free across every org."""
    v = []
    svc = a.services
    assert svc is not None
    if svc.meetings is not None and svc.meetings.setup == "now":
        for i, site in enumerate(svc.meetings.sites):
            taken = await s.get(MeetingSiteRow, site.name)
            in_org = (
                await s.exec(
                    select(Org.id).where(
                        func.lower(Org.site_url).in_([site.name, f"{site.name}.webex.com"])
                    )
                )
            ).first()
            if (taken is not None and taken.order_id != order_id) or in_org is not None:
                v.append(
                    Violation(
                        "SO-8",
                        f"services.meetings.sites[{i}].name",
                        f"{site.name}.webex.com is taken",
                    )
                )
    if svc.subdomain:
        taken_sub = await s.get(OrgSubdomain, svc.subdomain)
        if taken_sub is not None and taken_sub.order_id != order_id:
            v.append(Violation("SO-8", "services.subdomain", f"{svc.subdomain} is not available"))
    return v


# --- the commit ----------------------------------------------------------------------------


async def apply_setup(
    s: AsyncSession, c: SetupCommit, policy: OrderPolicy, key: str
) -> tuple[SetupOutcome, list[str]]:
    """The wizard's answers, all at once (or none: a refusal rolls everything back)."""
    row = await locked_order(s, c.order_id)
    a = c.answers
    if c.resume:
        return await _resume(s, row, c, policy)
    if row.state in ("mapped", "provisioned"):  # a retry after the commit
        return _outcome(row, await _services(s, row.id), "already set up"), []
    handoff_to = rules.normal_email(
        a.handoff_email if a.who == "colleague" else a.customer_admin_email
    )
    if rules.handed_off(a) and row.state == "awaiting_setup" and row.contact_email == handoff_to:
        return _outcome(row, await _services(s, row.id), "already handed off"), []
    if row.state != "setup_in_progress":
        raise RuleError.one("SO-3", "state", f"the order is {row.state}, not in set-up")
    res = await check_setup(s, row, "review", a, policy, c.at)
    if rules.handed_off(a):  # SO-4: a colleague, or the customer, finishes the set-up
        assert handoff_to is not None
        row.contact_email = handoff_to
        row.contact_version += 1
        row.setup_by = a.who
        if a.who == "customer":
            row.partner_access = rules.partner_access(row.offer, "customer", False)
        row.email_round = c.round
        row.state = "awaiting_setup"
        row.next_deadline_at, row.next_deadline_kind = row.close_at, "close"
        row.updated_at = _now()
        s.add(row)
        keys = await _provisioning_email(s, row, policy, key, c.at, c.round, "order_handoff")
        return _outcome(row, await _services(s, row.id), f"handed off ({a.who})"), keys
    await _map(s, row, a, res, c.at)
    services = await _services(s, row.id)
    keys = []
    if a.customer_sets_up_services:  # SO-4 (Suite flow): the customer sets up, partner stays
        for svc in services:
            svc.status = "deferred"
            s.add(svc)
        row.contact_email = rules.normal_email(a.customer_admin_email) or row.contact_email
        row.contact_version += 1
        row.email_round = c.round
        keys = await _provisioning_email(s, row, policy, key, c.at, c.round, "order_customer_setup")
    else:
        assert a.services is not None
        if a.services.subdomain:
            await _claim_subdomain(s, row, a.services.subdomain, c.at)
        keys = await _set_up_services(s, row, services, a, c, policy)
    row.next_deadline_at, row.next_deadline_kind = (
        (row.close_at, "close") if row.state == "mapped" else (None, None)
    )
    row.updated_at = _now()
    s.add(row)
    return _outcome(row, services, f"order set up successfully ({row.state})"), keys


async def _map(
    s: AsyncSession, row: OrderRecord, a: SetupAnswers, res: Resolved, at: datetime
) -> None:
    """SO-5..SO-7, SO-11, SO-12: the orgs, created where none matched; the point of no
    return (PX-5)."""
    partner_id = res.partner_org_id
    if a.purpose == "customer":
        assert a.partner_org is not None
        if partner_id is None:  # SO-1/SO-5: a first order creates the partner org
            partner_id = await _new_org(s, a.partner_org, "partner", row.contact_email, at)
            row.partner_password_hash = rules.hash_password(
                a.partner_password or "", os.urandom(16)
            )
    customer_id = res.customer_org_id
    assert a.customer_org is not None
    if customer_id is None:
        admin = rules.normal_email(a.customer_admin_email) if a.purpose == "customer" else None
        customer_id = await _new_org(s, a.customer_org, "customer", admin or row.contact_email, at)
    row.purpose = a.purpose
    row.setup_by = row.setup_by or a.who
    row.partner_org_id = partner_id
    row.customer_org_id = customer_id
    if a.purpose == "customer":
        assert partner_id is not None
        row.partner_access = await _partner_customer(
            s,
            partner_id,
            customer_id,
            rules.partner_access(row.offer, "me", res.existing_customer),
            at,
        )
    elif row.partner_access != "none":  # handed to the customer: Suite flow keeps access
        if row.setup_by == "customer":
            row.partner_access = await _partner_customer(
                s,
                row.submitted_by_org_id,
                customer_id,
                rules.partner_access(row.offer, "me", res.existing_customer),
                at,
            )
    row.mapped_at = at
    row.state = "mapped"


async def _new_org(s: AsyncSession, c: OrgChoice, kind: str, admin: str, at: datetime) -> str:
    owner = (await s.exec(select(OrgUser).where(func.lower(OrgUser.email) == admin))).first()
    if owner is not None:  # SO-6: raced in since the check
        raise RuleError.one("SO-6", "customer_admin_email", f"{admin} belongs to another org")
    org_id = new_id("p" if kind == "partner" else "o")
    s.add(
        Org(
            id=org_id,
            kind=kind,
            name=(c.company_name or "").strip(),
            tier=1 if kind == "partner" else None,
            country=c.country,
            region=region_of(c.country or ""),
            vertical=c.vertical,
            created_at=at,
        )
    )
    await s.flush()
    s.add(OrgUser(id=new_id("u"), org_id=org_id, email=admin, admin_role="full", created_at=at))
    return org_id


async def _partner_customer(
    s: AsyncSession, partner_id: str, customer_id: str, level: str, at: datetime
) -> str:
    """SO-7: a partner provisioning an existing customer is its *provisioning admin* (an
    existing relationship keeps its level)."""
    await s.exec(
        insert(PartnerCustomer)
        .values(
            partner_org_id=partner_id,
            customer_org_id=customer_id,
            status="active",
            partner_admin_level=level,
            since=at,
        )
        .on_conflict_do_nothing()
    )
    pc = await s.get(PartnerCustomer, (partner_id, customer_id), populate_existing=True)
    return (pc.partner_admin_level if pc else None) or level


async def _claim_subdomain(s: AsyncSession, row: OrderRecord, sub: str, at: datetime) -> None:
    assert row.customer_org_id is not None
    inserted = (
        await s.exec(
            insert(OrgSubdomain)
            .values(subdomain=sub, org_id=row.customer_org_id, order_id=row.id, created_at=at)
            .on_conflict_do_nothing()
            .returning(col(OrgSubdomain.subdomain))
        )
    ).first()
    if inserted is None:
        other = await s.get(OrgSubdomain, sub)
        if other is None or other.order_id != row.id:
            raise RuleError.one("SO-8", "services.subdomain", f"{sub} is not available")


async def _set_up_services(
    s: AsyncSession,
    row: OrderRecord,
    services: list[OrderService],
    a: SetupAnswers,
    c: SetupCommit,
    policy: OrderPolicy,
) -> list[str]:
    """SO-8 settings of the services set up now, SO-9/SO-13 the others deferred, then SO-10
    when asked: provision, start billing, make the summary PDF, tell the contact."""
    assert a.services is not None
    now_names = []
    for svc in services:
        answer = getattr(a.services, svc.service, None)
        if answer is None:
            continue
        if answer.setup == "later":
            svc.status = "deferred"  # SO-13: unprovisioned and unbilled until set-up resumes
        else:
            svc.settings = answer.model_dump(exclude={"setup"})
            # ignored below: a meetings answer exists whenever a meetings service is set up
            if svc.service == "meetings" and len(a.services.meetings.sites) == 1:  # type: ignore[union-attr]
                svc.settings["sites"][0]["licenses"] = svc.quantity
            now_names.append(svc.service)
        s.add(svc)
    if not a.provision_and_start_billing:
        return []
    return await _provision(s, row, services, now_names, c.at, c.round, policy)


async def _provision(
    s: AsyncSession,
    row: OrderRecord,
    services: list[OrderService],
    names: list[str],
    at: datetime,
    round_: int,
    policy: OrderPolicy,
) -> list[str]:
    """SO-10: the subscription is active; each service set up is provisioned and billed."""
    assert row.customer_org_id is not None
    org = await s.get(Org, row.customer_org_id)
    assert org is not None
    for svc in services:
        if svc.service not in names:
            continue
        svc.status = "provisioned"
        svc.provisioned_at = svc.billing_started_at = at
        s.add(svc)
        await _paid_license(s, row, svc.service, svc.quantity, at)
        if svc.service == "meetings":
            for site in svc.settings.get("sites", []):
                s.add(
                    MeetingSiteRow(
                        name=site["name"],
                        order_id=row.id,
                        org_id=org.id,
                        timezone=site["timezone"],
                        early_adopter=site.get("early_adopter", False),
                        licenses=site["licenses"],
                    )
                )
            first = svc.settings["sites"][0]
            org.site_url = org.site_url or f"{first['name']}.webex.com"
            org.timezone = org.timezone or first["timezone"]
        if svc.service == "calling":
            org.calling_enabled = True
    s.add(org)
    row.subscription_status = "active"
    row.provisioned_at = row.provisioned_at or at
    row.state = "provisioned"
    await s.flush()
    await _summary(s, row, services, at)
    deferred = [x.service for x in services if x.status == "deferred"]
    return await owe(
        s,
        row,
        "order_provisioned",
        [(row.contact_email, "contact")],
        due_at=at,
        round_=round_,
        context={"provisioned": ", ".join(names), "deferred": ", ".join(deferred) or "none"},
    )


async def _paid_license(
    s: AsyncSession, row: OrderRecord, service: str, quantity: int, at: datetime
) -> None:
    """Billing starts: the org holds ``quantity`` paid licenses of the service. A converted
    trial's licenses (TR-V1, paid since the conversion) are that subscription's."""
    assert row.customer_org_id is not None
    q = select(License).where(
        License.org_id == row.customer_org_id,
        License.service == service,
        License.source == "paid",
    )
    if row.trial_id:
        q = q.where(col(License.trial_id) == row.trial_id)
    else:
        q = q.where(col(License.trial_id).is_(None))
    lic = (await s.exec(q)).first()
    if lic is None:
        s.add(
            License(
                org_id=row.customer_org_id,
                service=service,
                quantity=quantity,
                source="paid",
                trial_id=row.trial_id,
                created_at=at,
            )
        )
    else:
        lic.quantity = quantity
        s.add(lic)


async def _summary(
    s: AsyncSession, row: OrderRecord, services: list[OrderService], at: datetime
) -> None:
    ids = [x for x in (row.partner_org_id, row.customer_org_id) if x]
    names = {o.id: o.name for o in (await s.exec(select(Org).where(col(Org.id).in_(ids)))).all()}
    content = order_summary_pdf(row, services, names, at)
    await s.exec(
        insert(OrderDocument)
        .values(
            order_id=row.id,
            filename=f"order-{row.id}-summary.pdf",
            media_type="application/pdf",
            content=content,
            created_at=at,
        )
        .on_conflict_do_update(
            index_elements=["order_id"], set_={"content": content, "created_at": at}
        )
    )


async def _resume(
    s: AsyncSession, row: OrderRecord, c: SetupCommit, policy: OrderPolicy
) -> tuple[SetupOutcome, list[str]]:
    """SO-9/SO-13: the services left for later, set up at a later sign-in."""
    services = await _services(s, row.id)
    a = c.answers
    assert a.services is not None
    answered = [n for n in SERVICES if getattr(a.services, n) is not None]
    by_name = {x.service: x for x in services}
    if answered and all(
        by_name.get(n) is not None and by_name[n].provisioned_at == c.at for n in answered
    ):
        return _outcome(row, services, "already set up"), []  # a retry after the commit
    if row.state not in ("mapped", "provisioned"):
        raise RuleError.one("SO-9", "state", f"the order is {row.state}: nothing to resume")
    deferred = {x.service: x.quantity for x in services if x.status in ("deferred", "pending")}
    v = rules.check_services(a.services, purchased_of(row), deferred)
    v += rules.check_provision_choice(a.services, c.answers.provision_and_start_billing)
    raise_if(v)
    raise_if(await taken_names(s, a, row.id))
    if a.services.subdomain:
        await _claim_subdomain(s, row, a.services.subdomain, c.at)
    keys = await _set_up_services(s, row, services, a, c, policy)
    row.next_deadline_at, row.next_deadline_kind = (
        (row.close_at, "close") if row.state == "mapped" else (None, None)
    )
    row.updated_at = _now()
    s.add(row)
    return _outcome(row, services, f"services set up ({row.state})"), keys


async def _services(s: AsyncSession, order_id: str) -> list[OrderService]:
    return list(
        (
            await s.exec(
                select(OrderService)
                .where(OrderService.order_id == order_id)
                .order_by(col(OrderService.service))
            )
        ).all()
    )


def _outcome(row: OrderRecord, services: list[OrderService], message: str) -> SetupOutcome:
    return SetupOutcome(
        state=row.state,
        partner_org_id=row.partner_org_id,
        customer_org_id=row.customer_org_id,
        deferred_services=[x.service for x in services if x.status in ("deferred", "pending")]
        if row.state in ("mapped", "provisioned")
        else [],
        provisioned=[x.service for x in services if x.status == "provisioned"],
        message=message,
    )


async def mark_trial_converted(s: AsyncSession, order_id: str, at: datetime) -> None:
    row = await locked_order(s, order_id)
    row.trial_converted_at = row.trial_converted_at or at
    s.add(row)


# --- SO-7: full admin, asked for after set-up ----------------------------------------------------


async def request_full_admin(s: AsyncSession, order_id: str, now: datetime) -> list[str]:
    row = await locked_order(s, order_id)
    services = await _services(s, order_id)
    if row.state != "provisioned" or any(x.status != "provisioned" for x in services):
        raise RuleError.one(
            "SO-7", "state", "full admin can be requested once the service set-up is finished"
        )
    if row.partner_access != "provisioning_admin":
        raise RuleError.one(
            "SO-7", "partner_access", f"the partner is {row.partner_access}, not provisioning admin"
        )
    assert row.customer_org_id is not None
    from models.common.outbox import org_emails

    admins = await org_emails(s, row.customer_org_id, True, role="full")
    row.full_admin_requested_at = row.full_admin_requested_at or now
    s.add(row)
    return await owe(
        s, row, "order_full_admin_request", [(e, "customer_admin") for e in admins], due_at=now
    )


# --- reads ------------------------------------------------------------------------------------


async def get_order(s: AsyncSession, order_id: str) -> OrderRecord | None:
    return await s.get(OrderRecord, order_id)


async def list_orders(
    s: AsyncSession,
    *,
    submitted_by_org_id: str | None = None,
    state: list[str] | None = None,
    offer: str | None = None,
    customer_org_id: str | None = None,
    trial_id: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[OrderRecord]:
    """Exact-match filters, oldest first, ``offset``/``limit`` paging."""
    q = select(OrderRecord)
    if submitted_by_org_id is not None:
        q = q.where(OrderRecord.submitted_by_org_id == submitted_by_org_id)
    if state:
        q = q.where(col(OrderRecord.state).in_(state))
    if offer is not None:
        q = q.where(OrderRecord.offer == offer)
    if customer_org_id is not None:
        q = q.where(OrderRecord.customer_org_id == customer_org_id)
    if trial_id is not None:
        q = q.where(OrderRecord.trial_id == trial_id)
    q = q.order_by(col(OrderRecord.created_at), col(OrderRecord.id))
    return list((await s.exec(q.offset(offset).limit(limit))).all())


async def order_services(s: AsyncSession, order_id: str) -> list[OrderService]:
    return await _services(s, order_id)


async def order_document(s: AsyncSession, order_id: str) -> OrderDocument | None:
    return await s.get(OrderDocument, order_id)


async def create_order_token(
    s: AsyncSession, *, partner_org_id: str, admin_email: str, scopes: list[str], name: str = ""
) -> tuple[str, str]:
    """A bearer token with order scopes (the wholesale token table; only its hash is kept)."""
    import secrets

    from models.wholesale.store import hash_token
    from models.wholesale.tables import WholesaleApiToken

    unknown = sorted(set(scopes) - set(ORDER_SCOPES))
    if unknown or not scopes:
        raise RuleError.one(
            "SO-1", "scope", f"unknown scopes {unknown}; choose from {ORDER_SCOPES}"
        )
    partner = await s.get(Org, partner_org_id)
    if partner is None or partner.kind != "partner":
        raise RuleError.one("SO-1", "partner_org_id", f"no partner org {partner_org_id}")
    token = f"lco_{secrets.token_urlsafe(32)}"
    token_id = new_id("tok")
    s.add(
        WholesaleApiToken(
            id=token_id,
            token_hash=hash_token(token),
            name=name or "orders",
            partner_org_id=partner_org_id,
            admin_email=admin_email,
            scopes=list(scopes),
            created_at=_now(),
        )
    )
    return token_id, token

"""Everything about one customer org in one place (issue 15): every lifecycle of the org, from
each lifecycle's own read model (one query per table), with its state and next deadline.

No lifecycle writes here; this store only reads what the lifecycles' activities wrote. An
operator (``scope=None``) sees every lifecycle; a partner sees the lifecycles it runs for the
org, a sub-partner only those of its own (the tables that know sub-partners); an org the
caller has nothing to do with is unknown (``None``), as another partner's ids are elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, null, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.billing.tables import BillingCustomerRef, BillingUsage
from models.common.tables import Org, PartnerCustomer
from models.devices.tables import DeviceTrialRow
from models.migration.tables import Migration
from models.orders.tables import OrderRecord
from models.setup_assist.tables import SetupAssistProject
from models.trials.tables import Trial
from models.wholesale.tables import WholesaleCustomer

# The lifecycle kinds, in the order a customer's lifecycles are listed when no deadline orders them.
KINDS = ("trial", "devices", "order", "wholesale", "setup_assist", "migration", "billing")


class LifecycleRow(BaseModel):
    """One lifecycle of a customer, as its read model has it."""

    lifecycle: str = Field(description="trial, devices, order, wholesale, setup_assist, ...")
    id: str
    workflow_id: str | None = None
    state: str
    partner_org_id: str | None = None
    sub_partner_org_id: str | None = None
    next_deadline_at: datetime | None = None
    next_deadline_kind: str | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    note: str = Field("", description="what the row adds: a code, what it waits for")


class PartnerRef(BaseModel):
    org_id: str
    name: str | None = None
    status: str | None = None


class CustomerLifecycles(BaseModel):
    org_id: str
    name: str | None = None
    kind: str | None = None
    partners: list[PartnerRef] = Field(default_factory=list)
    lifecycles: list[LifecycleRow] = Field(default_factory=list)


class CustomerSummary(BaseModel):
    """A line of the customer list: the org, its company name, and its lifecycles."""

    org_id: str
    name: str | None = None
    lifecycles: dict[str, int] = Field(default_factory=dict)
    next_deadline_at: datetime | None = None
    next_deadline_kind: str | None = None


@dataclass(frozen=True)
class Scope:
    """Who asks: a partner, or one of its sub-partners. ``None`` where a scope is taken:
    the operator, who sees everything."""

    partner_org_id: str
    sub_partner_org_id: str | None = None


def _scoped(q: Any, partner: Any, sub_partner: Any | None, scope: Scope | None) -> Any | None:
    """``q`` limited to what ``scope`` sees; ``None`` when it sees nothing of this table
    (a sub-partner and a table that does not know sub-partners)."""
    if scope is None:
        return q
    q = q.where(partner == scope.partner_org_id)
    if scope.sub_partner_org_id:
        if sub_partner is None:
            return None
        q = q.where(sub_partner == scope.sub_partner_org_id)
    return q


def _by_deadline(row: LifecycleRow) -> tuple[int, datetime, int, str]:
    far = datetime.max.replace(tzinfo=None)
    at = row.next_deadline_at.replace(tzinfo=None) if row.next_deadline_at else far
    return (row.next_deadline_at is None, at, KINDS.index(row.lifecycle), row.id)


@dataclass(frozen=True)
class _ReadModel:
    """One lifecycle's read-model table as a customer's lifecycles are read from it: the
    org column(s) that name the customer, whether it knows sub-partners and keeps a next
    deadline, the columns that differ by name, and what its row adds."""

    lifecycle: str
    table: Any
    org: Any
    note: Callable[[Any], str]
    id: str = "id"
    state: str = "state"
    updated: str = "updated_at"
    sub_partners: bool = False
    deadlines: bool = True
    also_org: Any = None  # trials: the free org (TR-E4) is the customer's too

    def scoped(self, q: Any, scope: Scope | None) -> Any | None:
        sub = self.table.sub_partner_org_id if self.sub_partners else None
        return _scoped(q, self.table.partner_org_id, sub, scope)

    def of_orgs(self, org_ids: list[str]) -> Any:
        cond = col(self.org).in_(org_ids)
        return or_(cond, col(self.also_org).in_(org_ids)) if self.also_org is not None else cond

    def row(self, x: Any) -> LifecycleRow:
        return LifecycleRow(
            lifecycle=self.lifecycle,
            id=getattr(x, self.id),
            workflow_id=x.workflow_id,
            state=getattr(x, self.state),
            partner_org_id=x.partner_org_id,
            sub_partner_org_id=x.sub_partner_org_id if self.sub_partners else None,
            next_deadline_at=x.next_deadline_at if self.deadlines else None,
            next_deadline_kind=x.next_deadline_kind if self.deadlines else None,
            started_at=x.created_at,
            updated_at=getattr(x, self.updated),
            note=self.note(x),
        )


READ_MODELS = (
    _ReadModel(
        "trial",
        Trial,
        Trial.customer_org_id,
        lambda t: f"{t.license_count} licenses, {', '.join(t.services)}; ends {_day(t.ends_at)}",
        also_org=Trial.free_org_id,
    ),
    _ReadModel(
        "devices",
        DeviceTrialRow,
        DeviceTrialRow.customer_org_id,
        lambda d: f"return due {_day(d.return_due_at)}" if d.return_due_at else "",
        id="trial_id",
    ),
    _ReadModel(
        "order",
        OrderRecord,
        OrderRecord.customer_org_id,
        lambda o: f"{o.offer}, starts {_day(o.start_at)}",
    ),
    _ReadModel(
        "wholesale",
        WholesaleCustomer,
        WholesaleCustomer.org_id,
        lambda c: "; ".join(f"{e.get('errorCode')} {e.get('description')}" for e in c.errors or []),
        state="status",
        updated="status_changed_at",
        sub_partners=True,
        deadlines=False,
    ),
    _ReadModel(
        "setup_assist",
        SetupAssistProject,
        SetupAssistProject.customer_org_id,
        lambda p: f"{p.flow}, phase {p.current_phase or '-'}, done by {p.completion_date}",
        sub_partners=True,
    ),
    _ReadModel(
        "migration",
        Migration,
        Migration.org_id,
        lambda m: f"{m.users_done}/{m.total_users} users migrated, {m.users_failed} failed",
        sub_partners=True,
        deadlines=False,
    ),
)


async def _read(
    s: AsyncSession, model: _ReadModel, org_ids: list[str], scope: Scope | None
) -> list[LifecycleRow]:
    q = model.scoped(select(model.table).where(model.of_orgs(org_ids)), scope)
    return [] if q is None else [model.row(x) for x in (await s.exec(q)).all()]


async def _billing(s: AsyncSession, org_ids: list[str], scope: Scope | None) -> list[LifecycleRow]:
    """Billing of the org's wholesale customers: usage is closed day by day (PX-7); the row
    says up to which day (one query: the last closed day per customer as a subquery)."""
    last_day = (
        select(func.max(BillingUsage.day))
        .where(BillingUsage.customer_id == BillingCustomerRef.customer_id)
        .scalar_subquery()
    )
    q = _scoped(
        select(BillingCustomerRef, last_day).where(col(BillingCustomerRef.org_id).in_(org_ids)),
        BillingCustomerRef.partner_org_id,
        BillingCustomerRef.sub_partner_org_id,
        scope,
    )
    if q is None:
        return []
    rows: list[tuple[BillingCustomerRef, date | None]] = list((await s.exec(q)).all())
    return [
        LifecycleRow(
            lifecycle="billing",
            id=ref.customer_id,
            state="billed" if day else "no usage yet",
            partner_org_id=ref.partner_org_id,
            sub_partner_org_id=ref.sub_partner_org_id,
            updated_at=ref.updated_at,
            note=f"usage closed through {day}" if day else "",
        )
        for ref, day in rows
    ]


async def customer_lifecycles(
    s: AsyncSession, org_id: str, scope: Scope | None = None
) -> CustomerLifecycles | None:
    """Every lifecycle of ``org_id`` that ``scope`` sees, soonest next deadline first;
    ``None`` for an org that does not exist or that ``scope`` has nothing to do with."""
    org = await s.get(Org, org_id)
    if org is None or org.kind == "partner":
        return None
    rows: list[LifecycleRow] = []
    for model in READ_MODELS:
        rows += await _read(s, model, [org_id], scope)
    rows += await _billing(s, [org_id], scope)
    links = (
        await s.exec(
            select(PartnerCustomer, Org.name)
            .join(Org, col(Org.id) == PartnerCustomer.partner_org_id)
            .where(PartnerCustomer.customer_org_id == org_id)
            .order_by(col(PartnerCustomer.since))
        )
    ).all()
    partners = [
        PartnerRef(org_id=link.partner_org_id, name=name, status=link.status)
        for link, name in links
        if scope is None or link.partner_org_id == scope.partner_org_id
    ]
    if scope is not None and not rows and (scope.sub_partner_org_id or not partners):
        return None  # not one of this caller's customers: unknown, as any unknown id
    return CustomerLifecycles(
        org_id=org.id,
        name=org.name,
        kind=org.kind,
        partners=partners,
        lifecycles=sorted(rows, key=_by_deadline),
    )


async def customer_list(s: AsyncSession, scope: Scope | None = None) -> list[CustomerSummary]:
    """Every customer org with a lifecycle that ``scope`` sees, its company name from the
    ``org`` table, a count of its lifecycles by kind and its soonest deadline; soonest
    first. One query per read-model table, then one for the names."""
    found: dict[str, CustomerSummary] = {}
    for model in READ_MODELS:
        at_column, kind_column = (
            (model.table.next_deadline_at, model.table.next_deadline_kind)
            if model.deadlines
            else (null(), null())
        )
        q = model.scoped(
            select(model.org, at_column, kind_column).where(col(model.org).is_not(None)), scope
        )
        if q is None:
            continue  # a sub-partner and a lifecycle that does not know sub-partners
        for org_id, at, what in (await s.exec(q)).all():
            summary = found.setdefault(org_id, CustomerSummary(org_id=org_id))
            kind = model.lifecycle
            summary.lifecycles[kind] = summary.lifecycles.get(kind, 0) + 1
            if at is not None and (
                summary.next_deadline_at is None or at < summary.next_deadline_at
            ):
                summary.next_deadline_at, summary.next_deadline_kind = at, what
    if not found:
        return []
    names = dict((await s.exec(select(Org.id, Org.name).where(col(Org.id).in_(list(found))))).all())
    for summary in found.values():
        summary.name = names.get(summary.org_id)
    far = datetime.max.replace(tzinfo=None)
    return sorted(
        found.values(),
        key=lambda c: (
            c.next_deadline_at is None,
            c.next_deadline_at.replace(tzinfo=None) if c.next_deadline_at else far,
            c.name or "",
            c.org_id,
        ),
    )


def _day(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d}" if at else "-"


class WholesaleCustomerLine(BaseModel):
    """A line of the operator's wholesale customer list, named."""

    id: str
    company: str | None = None
    status: str
    external_id: str
    org_id: str | None = None
    partner_org_id: str
    sub_partner_org_id: str | None = None
    codes: list[int] = Field(default_factory=list, description="errorCodes on the customer")
    status_changed_at: datetime


async def wholesale_customers(
    s: AsyncSession, partner_org_id: str | None = None, status: str | None = None
) -> list[WholesaleCustomerLine]:
    """Every wholesale customer (of one partner, in one status), oldest first, with the
    company's name: its org's name once provisioned, else the name it was requested with."""
    q = (
        select(WholesaleCustomer, Org.name)
        .outerjoin(Org, col(Org.id) == WholesaleCustomer.org_id)
        .order_by(col(WholesaleCustomer.created_at), col(WholesaleCustomer.id))
    )
    if partner_org_id:
        q = q.where(WholesaleCustomer.partner_org_id == partner_org_id)
    if status:
        q = q.where(WholesaleCustomer.status == status)
    return [
        WholesaleCustomerLine(
            id=c.id,
            company=name or (c.customer_info or {}).get("name"),
            status=c.status,
            external_id=c.external_id,
            org_id=c.org_id,
            partner_org_id=c.partner_org_id,
            sub_partner_org_id=c.sub_partner_org_id,
            codes=[e["errorCode"] for e in c.errors or [] if "errorCode" in e],
            status_changed_at=c.status_changed_at,
        )
        for c, name in (await s.exec(q)).all()
    ]

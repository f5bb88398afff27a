"""``/v1/customers``: everything about one customer org in one place (issue 15), the partner's
view of ``lifecycles customer show``: every lifecycle the caller runs for the org (trials,
devices, orders, wholesale, Setup Assist, migrations, billing) with its state and next
deadline, from the read models. Bearer tokens with the customers-read scope; an org the
caller has nothing to do with (another partner's) is answered as unknown (404)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from api.auth import Actor, acting, db_of
from api.errors import ERROR_RESPONSES, not_found
from models.customers import store

router = APIRouter(prefix="/v1/customers", tags=["Customers"], responses=ERROR_RESPONSES)

READ = "wholesale_customers_read"
OrgId = Annotated[
    str, Path(alias="orgId", min_length=1, max_length=256, pattern=r"^[A-Za-z0-9._:=+/-]+$")
]


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class LifecycleOut(_Out):
    lifecycle: str = Field(
        description="trial, devices, order, wholesale, setup_assist, migration or billing"
    )
    id: str
    workflow_id: str | None = None
    state: str
    partner_org_id: str | None = None
    sub_partner_org_id: str | None = None
    next_deadline_at: datetime | None = None
    next_deadline_kind: str | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    note: str = ""


class PartnerOut(_Out):
    org_id: str
    name: str | None = None
    status: str | None = None


class CustomerLifecyclesOut(_Out):
    org_id: str
    name: str | None = None
    partners: list[PartnerOut]
    lifecycles: list[LifecycleOut]


class CustomerSummaryOut(_Out):
    org_id: str
    name: str | None = None
    lifecycles: dict[str, int]
    next_deadline_at: datetime | None = None
    next_deadline_kind: str | None = None


class CustomerSummaries(_Out):
    items: list[CustomerSummaryOut]


def _scope(actor: Actor) -> store.Scope:
    return store.Scope(actor.partner_org_id, actor.sub_partner_org_id)


@router.get(
    "/{orgId}/lifecycles",
    response_model=CustomerLifecyclesOut,
    response_model_exclude_none=True,
    summary="Every lifecycle of one customer org",
)
async def customer_lifecycles(
    request: Request, org_id: OrgId, actor: Actor = Depends(acting(READ))
) -> CustomerLifecyclesOut:
    """The caller's lifecycles of the org, soonest next deadline first (read models)."""
    async with db_of(request).session() as s:
        found = await store.customer_lifecycles(s, org_id, _scope(actor))
    if found is None:
        raise not_found("customer org")  # another partner's customer: never its data
    return CustomerLifecyclesOut.model_validate(found.model_dump(exclude={"kind"}))


@router.get("", response_model=CustomerSummaries, summary="The caller's customer orgs, named")
async def customer_list(
    request: Request, actor: Actor = Depends(acting(READ))
) -> CustomerSummaries:
    """Every customer org the caller runs a lifecycle for, with its company name, a count
    of its lifecycles by kind and its soonest deadline."""
    async with db_of(request).session() as s:
        rows = await store.customer_list(s, _scope(actor))
    return CustomerSummaries(
        items=[CustomerSummaryOut.model_validate(r.model_dump()) for r in rows]
    )

"""``/v1/wholesale/customers/{customerId}/restrictedByPartner``: WH-C6's restricted-by-partner
mode, on by default for every wholesale customer. The partner (or the sub-partner that
provisioned the customer) switches it off and on; while it is on, the customer's admins
(customer admin tokens, api/auth.py) are refused adding, modifying and removing users,
resetting packages and starting migrations (WH-M3), each refusal naming the rule and field.
A customer admin may read its own customer's mode; another customer is unknown to it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from pydantic.alias_generators import to_camel

from api.auth import ALLOWED, Actor, acting, db_of
from api.errors import ERROR_RESPONSES, not_found
from models.wholesale.store import set_restricted, visible_customer

router = APIRouter(prefix="/v1/wholesale", tags=["Wholesale Customers"], responses=ERROR_RESPONSES)

READ, WRITE = "wholesale_customers_read", "wholesale_customers_write"
CustomerId = Annotated[str, Path(alias="customerId", max_length=200)]


class RestrictedMode(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    restricted_by_partner: StrictBool = Field(
        description="WH-C6: true restricts the customer's admins (the default); false lets "
        "them add and modify users, reset packages and start migrations."
    )


class RestrictedOut(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    customer_id: str
    restricted_by_partner: bool


@router.get(
    "/customers/{customerId}/restrictedByPartner",
    response_model=RestrictedOut,
    summary="Get a customer's restricted-by-partner mode",
)
async def get_restricted(
    request: Request,
    customer_id: CustomerId,
    actor: Actor = Depends(acting(READ, customer_admin=ALLOWED)),
) -> RestrictedOut:
    """WH-C6: whether the customer's admins are restricted (on by default)."""
    async with db_of(request).session() as s:
        c = await visible_customer(s, actor.scope, customer_id)
    if c is None:
        raise not_found("customer")
    return RestrictedOut(customer_id=c.id, restricted_by_partner=c.restricted_by_partner)


@router.put(
    "/customers/{customerId}/restrictedByPartner",
    response_model=RestrictedOut,
    summary="Switch a customer's restricted-by-partner mode",
)
async def put_restricted(
    request: Request,
    customer_id: CustomerId,
    body: RestrictedMode,
    actor: Actor = Depends(acting(WRITE, change=True)),
) -> RestrictedOut:
    """WH-C6: partners only (a customer admin's token answers 403). Takes effect on the
    customer admins' next request."""
    try:
        c = await set_restricted(
            db_of(request), actor.scope, customer_id, body.restricted_by_partner
        )
    except LookupError:
        raise not_found("customer") from None
    return RestrictedOut(customer_id=c.id, restricted_by_partner=c.restricted_by_partner)

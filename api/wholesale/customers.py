"""``/v1/wholesale/customers``: provision (202 + Location at once, PX-3), list, get, update,
remove, precheck. Every change of a customer goes through its workflow."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy import delete, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import (
    ALLOWED,
    Actor,
    acting,
    db_of,
    idempotency_key,
    lease_of,
    remember,
    replay,
)
from api.errors import ERROR_RESPONSES, not_found, unavailable
from api.wholesale.schemas import (
    WEBEX_ID,
    CustomerCreate,
    CustomerList,
    CustomerOut,
    CustomerPrecheck,
    CustomerUpdate,
    PrecheckOut,
    ResourceUrl,
)
from models.common.refusal import RuleError, raise_if
from models.wholesale import problems as P
from models.wholesale.contract import (
    CustomerChange,
    DeleteRequest,
    customer_workflow_id,
)
from models.wholesale.problems import conflict
from models.wholesale.provisioning import attach_approval_reasons
from models.wholesale.store import (
    CustomerSpec,
    customer_conflicts,
    customer_field_problems,
    customer_view,
    new_id,
    packages_held,
    request_hash,
    visible_customer,
)
from models.wholesale.tables import WholesaleCustomer
from workers.starter import start_customer
from workflows.wholesale.workflow import WholesaleCustomerProvisioning

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/v1/wholesale", tags=["Wholesale Customers"], responses=ERROR_RESPONSES)

READ, WRITE = "wholesale_customers_read", "wholesale_customers_write"
SHOWS_ORG = ("provisioned", "provisioned_with_errors", "updating")


def customer_out(c: WholesaleCustomer) -> CustomerOut:
    return CustomerOut.model_validate(
        {
            "id": c.id,
            "orgId": c.org_id if c.status in SHOWS_ORG else None,
            "externalId": c.external_id,
            "address": c.address,
            "status": c.status,
            "packages": [p["name"] for p in c.packages],
            "resourceDetails": {"packages": c.packages},
            "errors": c.errors,
        }
    )


def location(request: Request, customer_id: str) -> str:
    # what url_for("get_customer") gives, without walking every route (issue 14)
    return f"{request.base_url}v1/wholesale/customers/{customer_id}"


def accepted(url: str) -> JSONResponse:
    return JSONResponse({"url": url}, status_code=202, headers={"Location": url})


def customer_spec(body: CustomerCreate | CustomerPrecheck, payload: dict) -> CustomerSpec:
    return CustomerSpec(
        provisioning_id=body.provisioning_id,
        packages=list(body.packages),
        external_id=body.external_id,
        org_id=body.org_id,
        address=payload["address"],
        customer_info=payload.get("customerInfo"),
        provisioning_parameters=payload.get("provisioningParameters", {}),
    )


async def _start(request: Request, c: WholesaleCustomer) -> None:
    st = request.app.state
    await start_customer(
        st.client,
        customer_id=c.id,
        partner_org_id=c.partner_org_id,
        sub_partner_org_id=c.sub_partner_org_id,
        policy=st.settings.wholesale_policy(),
        task_queue=st.task_queue,
        packages=[p["name"] for p in c.packages],
    )


@router.post(
    "/customers",
    status_code=202,
    response_model=ResourceUrl,
    summary="Provision a Wholesale Customer",
    responses={202: {"headers": {"Location": {"schema": {"type": "string"}}}}},
)
async def create_customer(
    request: Request,
    body: CustomerCreate,
    actor: Actor = Depends(acting(WRITE, change=True)),
) -> JSONResponse:
    """Accepted at once (PX-3); the customer's workflow provisions it. The same request
    again (same externalId and body, or the same Idempotency-Key) gets the same answer and
    provisions nothing twice."""
    if body.webex_for_broadworks:  # WH-M2
        raise RuleError.one("WH-M2", "webexForBroadWorks", "it comes in only through migration")
    payload = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    if (earlier := await replay(request, actor, payload)) is not None:
        return earlier
    spec = customer_spec(body, payload)
    raise_if(customer_field_problems(spec))
    rh = request_hash(payload)
    async with db_of(request).session() as s:
        existing = await _by_external_id(s, actor, body.external_id)
        if existing is None:
            # the caller's own externalId is settled by the insert below (a racing retry
            # finds its twin); another owner's that the caller sees is a conflict
            raise_if(await customer_conflicts(s, actor.scope, spec, own_settled=True))
            cid = new_id()
            inserted = (
                await s.exec(
                    insert(WholesaleCustomer)
                    .values(
                        id=cid,
                        partner_org_id=actor.partner_org_id,
                        sub_partner_org_id=actor.sub_partner_org_id,
                        external_id=body.external_id,
                        org_id=body.org_id,
                        attach=body.org_id is not None,
                        provisioning_id=body.provisioning_id,
                        status="provisioning",
                        packages=[
                            {"name": p, "status": "provisioning", "warnings": [], "errors": []}
                            for p in body.packages
                        ],
                        errors=[],
                        address=spec.address,
                        customer_info=spec.customer_info or {},
                        provisioning_parameters=spec.provisioning_parameters,
                        request_hash=rh,
                        workflow_id=customer_workflow_id(cid),
                        created_at=text("clock_timestamp()"),
                        status_changed_at=text("clock_timestamp()"),
                    )
                    .on_conflict_do_nothing()  # uq_wholesale_customer_owner_external_id
                    .returning(col(WholesaleCustomer.id))
                )
            ).first()
            if inserted is None:  # a concurrent request with this externalId won
                existing = await _by_external_id(s, actor, body.external_id)
        if existing is not None and (not actor.scope.sees(existing) or existing.request_hash != rh):
            raise RuleError(
                [
                    conflict(
                        P.CUSTOMER_EXISTS, "WH-C1", "externalId", "a customer has this external ID"
                    )
                ]
            )
        customer = existing or await s.get(WholesaleCustomer, cid)
    assert customer is not None
    try:
        await _start(request, customer)  # idempotent: the retry of a crashed request starts it
    except RPCError as err:
        # Temporal is not answering: the row and the start succeed together or not at all
        # (issue 9). A row of an earlier request is left for its retry or the reconciler.
        log.warning("customer workflow not started", customer_id=customer.id, rpc=err.status)
        if existing is None:
            await _forget(request, customer.id)
        raise unavailable("the workflow service") from None
    url = location(request, customer.id)
    await remember(request, actor, payload, 202, {"url": url}, url)
    return accepted(url)


async def _forget(request: Request, customer_id: str) -> None:
    """Delete the row this request wrote, if its workflow has not written to it since."""
    async with db_of(request).session() as s:
        await s.exec(
            delete(WholesaleCustomer).where(
                col(WholesaleCustomer.id) == customer_id,
                col(WholesaleCustomer.status) == "provisioning",
            )
        )


async def _by_external_id(s, actor: Actor, external_id: str) -> WholesaleCustomer | None:
    return (
        await s.exec(
            select(WholesaleCustomer).where(
                WholesaleCustomer.partner_org_id == actor.partner_org_id,
                col(WholesaleCustomer.sub_partner_org_id).is_not_distinct_from(
                    actor.sub_partner_org_id
                ),
                WholesaleCustomer.external_id == external_id,
            )
        )
    ).first()


@router.get("/customers", response_model=CustomerList, response_model_exclude_none=True)
async def list_customers(
    request: Request,
    external_id: Annotated[str | None, Query(alias="externalId", max_length=256)] = None,
    org_id: Annotated[str | None, Query(alias="orgId", max_length=WEBEX_ID)] = None,
    status: Annotated[
        list[Annotated[str, Field(max_length=64)]] | None,
        Query(
            max_length=16,
            description="Any of provisioning, provisioned, provisioned_with_errors, updating, "
            "deleting, error, pending_rpl_review. Cisco types it as free strings: a value "
            "that is none of these matches no customer (not a 400).",
        ),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    max_: Annotated[int, Query(alias="max", ge=1, le=1000)] = 100,
    actor: Actor = Depends(acting(READ, customer_admin=ALLOWED)),
) -> CustomerList:
    """WH-C5: exact-match filters, ``offset``/``max`` paging, from the read model."""
    q = actor.scope.customers(select(WholesaleCustomer))
    if external_id is not None:
        q = q.where(WholesaleCustomer.external_id == external_id)
    if org_id is not None:
        q = q.where(WholesaleCustomer.org_id == org_id)
    if status:
        q = q.where(col(WholesaleCustomer.status).in_(status))
    q = q.order_by(col(WholesaleCustomer.created_at), col(WholesaleCustomer.id))
    async with db_of(request).session() as s:
        rows = (await s.exec(q.offset(offset).limit(max_))).all()
    return CustomerList(items=[customer_out(c) for c in rows])


@router.get(
    "/customers/{customerId}",
    response_model=CustomerOut,
    response_model_exclude_none=True,
    name="get_customer",
)
async def get_customer(
    request: Request,
    customer_id: Annotated[str, Path(alias="customerId", max_length=200)],
    include_package_license_info: Annotated[bool, Query(alias="includePackageLicenseInfo")] = False,
    actor: Actor = Depends(acting(READ, customer_admin=ALLOWED, keep=True)),
) -> CustomerOut:
    """WH-C5: org ID, address, provisioning state, packages (PX-1 per-package status)."""
    lease = lease_of(request)  # the token's connection: one checkout for the request
    c = await customer_view(db_of(request), actor.scope, customer_id, lease.use if lease else None)
    if c is None:
        raise not_found("customer")  # another partner's customer: never its data
    return customer_out(c)


async def _send_change(request: Request, c: WholesaleCustomer, update, arg, verb: str) -> None:
    key = idempotency_key(request)
    handle = request.app.state.client.get_workflow_handle(c.workflow_id)
    try:
        # The handler only queues the change (the workflow applies it), so waiting for the
        # update's completion answers at once, or once the step in flight has settled (a
        # status the read model already shows); a refusal raises here (PX-3).
        await handle.execute_update(update, arg, id=f"{verb}-{key}" if key else None)
    except WorkflowUpdateFailedError as err:
        refusal = RuleError.from_failure(
            err, rule="PX-3", field="status", code=P.CUSTOMER_BUSY, status=409
        )
        raise refusal or RuleError(
            [conflict(P.CUSTOMER_BUSY, "PX-3", "status", str(err.cause))]
        ) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise not_found("customer") from None
        raise unavailable("the workflow service") from None


@router.put(
    "/customers/{customerId}",
    status_code=202,
    response_model=ResourceUrl,
    responses={202: {"headers": {"Location": {"schema": {"type": "string"}}}}},
)
async def update_customer(
    request: Request,
    customer_id: Annotated[str, Path(alias="customerId", max_length=200)],
    body: CustomerUpdate,
    actor: Actor = Depends(acting(WRITE, change=True)),
) -> JSONResponse:
    """WH-C5: the complete package list wanted afterwards. Accepted at once (PX-3); a
    second change while one is in flight answers 409."""
    payload = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    if (earlier := await replay(request, actor, [customer_id, payload])) is not None:
        return earlier
    async with db_of(request).session() as s:
        c = await visible_customer(s, actor.scope, customer_id)
        if c is None:
            raise not_found("customer")
        spec = CustomerSpec(
            provisioning_id=None,
            packages=list(body.packages),
            external_id=body.external_id,
            org_id=None,
            address=payload.get("address") or c.address,
            customer_info=None,
        )
        problems = customer_field_problems(spec, precheck=True)
        problems += await customer_conflicts(s, actor.scope, spec, existing_id=c.id)
        problems += await packages_held(s, c.id, list(body.packages))
        raise_if(problems)
    change = CustomerChange(
        packages=list(body.packages),
        external_id=body.external_id,
        address=payload.get("address"),
        provisioning_parameters=payload.get("provisioningParameters"),
    )
    await _send_change(request, c, WholesaleCustomerProvisioning.update_customer, change, "put")
    url = location(request, c.id)
    await remember(request, actor, [customer_id, payload], 202, {"url": url}, url)
    return accepted(url)


@router.delete("/customers/{customerId}", status_code=202, response_class=Response)
async def delete_customer(
    request: Request,
    customer_id: Annotated[str, Path(alias="customerId", max_length=200)],
    actor: Actor = Depends(acting(WRITE, change=True, delete=True)),
) -> Response:
    """Removes the wholesale services, not the org (WH-C5). Accepted at once (PX-3);
    a suspended sub-partner may still do this (PX-6)."""
    if (earlier := await replay(request, actor, [customer_id])) is not None:
        return Response(status_code=earlier.status_code)
    async with db_of(request).session() as s:
        c = await visible_customer(s, actor.scope, customer_id)
    if c is None:
        raise not_found("customer")
    await _send_change(
        request, c, WholesaleCustomerProvisioning.delete_customer, DeleteRequest(), "delete"
    )
    await remember(request, actor, [customer_id], 202, None)
    return Response(status_code=202)


@router.post("/customers/validate", response_model=PrecheckOut)
async def precheck_customer(
    request: Request,
    body: CustomerPrecheck,
    actor: Actor = Depends(acting(WRITE)),
) -> PrecheckOut:
    """Every problem at once, each with its field; nothing is written."""
    payload = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    spec = customer_spec(body, payload)
    problems = customer_field_problems(spec, precheck=True)
    info = [{"infoCode": 100, "description": "Provisioning preCheck validation successful."}]
    async with db_of(request).session() as s:
        problems += await customer_conflicts(s, actor.scope, spec, precheck=True)
        if (
            body.org_id
            and not problems
            and (reasons := await attach_approval_reasons(s, body.org_id))
        ):
            info.append(
                {
                    "infoCode": 101,
                    "description": f"PX-4: the org's admin must approve ({', '.join(reasons)})",
                }
            )
    raise_if(problems)
    return PrecheckOut.model_validate({"message": "success", "info": info})

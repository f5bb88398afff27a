"""``/v1/orders``: subscription orders beside the wholesale API, with its conventions
(camelCase JSON, ``{errorCode, description, errors[].field}``, bearer tokens with scopes).

- ``POST /v1/orders`` accepts an order (idempotent per order id: the same order again
  answers 200 with it, another order under the same id 409).
- ``GET /v1/orders`` (exact filters, ``offset``/``max``), ``GET /v1/orders/{orderId}``,
  ``GET /v1/orders/{orderId}/summary.pdf`` (SO-10).
- ``POST .../contact``, ``.../start-date``, ``.../resend``, ``.../cancel`` (PX-5).
- The wizard: ``POST .../setup/begin``, ``POST .../setup/{step}`` (validating: nothing is
  saved, SO-3), ``POST .../setup/commit``, ``POST .../setup/resume`` (SO-9/SO-13),
  ``POST .../full-admin-request`` (SO-7). Wizard calls take a bearer token with
  ``orders_write`` or the set-up link's signed token in ``X-Setup-Token``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Actor, acting, authenticate, db_of, require
from api.errors import ERROR_RESPONSES, ApiError, not_found
from api.orders.service import accept_order
from models.common.outbox import deliver
from models.common.refusal import RuleError, Violation
from models.common.types import WEBEX_ID_MAX
from models.orders.contract import (
    STEPS,
    CancelOrder,
    ChangeContact,
    ChangeStartDate,
    OrderCreate,
    ServicesResume,
    SetupAnswers,
)
from models.orders.rules import BadToken, read_setup_token
from models.orders.store import (
    OrderExists,
    get_order,
    list_orders,
    order_document,
    order_services,
    request_full_admin,
)
from models.orders.tables import OrderRecord
from models.wholesale import problems as P
from workflows.orders.workflow import SubscriptionOrder

router = APIRouter(prefix="/v1/orders", tags=["Subscription Orders"], responses=ERROR_RESPONSES)

READ, WRITE = "orders_read", "orders_write"
ORDER_EXISTS = 10070  # another order under this id
ORDER_STATE = 10071  # the order's state refuses the change (PX-5, SO-3, SO-9)
ORDER_REFUSED = 10072  # an answer or a change a rule refuses

OrderId = Annotated[str, Path(alias="orderId", max_length=64)]


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def camelize(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {camel(k) if isinstance(k, str) else k: camelize(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [camelize(v) for v in obj]
    return obj


def camel_field(field: str) -> str:
    """``services.meetings.sites[0].licenses`` as the API spells it."""
    return re.sub(r"[a-z0-9]+(?:_[a-z0-9]+)+", lambda m: camel(m.group(0)), field)


def api_refusal(err: RuleError) -> RuleError:
    """Each violation with the API's errorCode and status and a camelCase field: a state
    that refuses the change is 409, a wrong answer 400."""
    out = []
    for v in err.violations:
        state = v.field == "state" or (v.rule == "PX-5" and v.message.startswith("the order is"))
        out.append(
            Violation(
                v.rule,
                camel_field(v.field),
                v.message,
                code=ORDER_STATE if state else (v.code or ORDER_REFUSED),
                status=409 if state else (v.status or 400),
            )
        )
    return RuleError(out)


async def _services(request: Request, order_id: str) -> list[dict[str, Any]]:
    async with db_of(request).session() as s:
        rows = await order_services(s, order_id)
    return [
        {
            "service": x.service,
            "quantity": x.quantity,
            "status": x.status,
            "settings": camelize(x.settings),
            "billingStartedAt": x.billing_started_at.isoformat() if x.billing_started_at else None,
        }
        for x in rows
    ]


def order_out(row: OrderRecord, services: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    data = row.model_dump(
        mode="json",
        exclude={"request_hash", "partner_password_hash", "contact_version", "workflow_id"},
    )
    out = camelize(data)
    if services is not None:
        out["services"] = services
    return out


def _visible(actor: Actor, row: OrderRecord | None) -> OrderRecord:
    if row is None or actor.partner_org_id not in (row.submitted_by_org_id, row.partner_org_id):
        raise not_found("order")  # another partner's order: never its data
    return row


async def _order(request: Request, actor: Actor, order_id: str) -> OrderRecord:
    async with db_of(request).session() as s:
        return _visible(actor, await get_order(s, order_id))


@router.post("", status_code=201, summary="Accept a subscription order (SO-1)")
async def create(
    request: Request, body: OrderCreate, actor: Actor = Depends(acting(WRITE, change=True))
) -> JSONResponse:
    """Idempotent per ``orderId``: the same order again answers 200 with it and starts
    nothing twice; another order under the same id answers 409. Refusals name the rule
    and the field (an unknown offer, a start date in the past, an email that is not one)
    and write nothing."""
    st = request.app.state
    try:
        row, created = await accept_order(
            st.client,
            db_of(request),
            st.settings.order_policy(),
            actor.partner_org_id,
            body,
            task_queue=st.task_queue,
        )
    except RuleError as err:
        raise api_refusal(err) from None
    except OrderExists as err:
        raise ApiError(409, ORDER_EXISTS, f"SO-1 (orderId): {err}") from None
    url = str(request.url_for("get_order", orderId=row.id))
    return JSONResponse(
        order_out(row), status_code=201 if created else 200, headers={"Location": url}
    )


@router.get("", summary="List orders (exact filters, paging)")
async def list_(
    request: Request,
    state: Annotated[list[str] | None, Query(max_length=8)] = None,
    offer: Annotated[str | None, Query(max_length=16)] = None,
    customer_org_id: Annotated[
        str | None, Query(alias="customerOrgId", max_length=WEBEX_ID_MAX)
    ] = None,
    trial_id: Annotated[str | None, Query(alias="trialId", max_length=40)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    max_: Annotated[int, Query(alias="max", ge=1, le=1000)] = 100,
    actor: Actor = Depends(acting(READ)),
) -> JSONResponse:
    async with db_of(request).session() as s:
        rows = await list_orders(
            s,
            submitted_by_org_id=actor.partner_org_id,
            state=state,
            offer=offer,
            customer_org_id=customer_org_id,
            trial_id=trial_id,
            offset=offset,
            limit=max_,
        )
    return JSONResponse({"items": [order_out(r) for r in rows]})


@router.get("/{orderId}", name="get_order", summary="An order, its services and state")
async def get(request: Request, order_id: OrderId, actor: Actor = Depends(acting(READ))):
    row = await _order(request, actor, order_id)
    return JSONResponse(order_out(row, await _services(request, row.id)))


@router.get("/{orderId}/summary.pdf", summary="The order summary (SO-10)")
async def summary_pdf(
    request: Request, order_id: OrderId, actor: Actor = Depends(acting(READ))
) -> Response:
    await _order(request, actor, order_id)
    async with db_of(request).session() as s:
        doc = await order_document(s, order_id)
    if doc is None:
        raise not_found("order summary (the order is not provisioned)")
    return Response(
        doc.content,
        media_type=doc.media_type,
        headers={"Content-Disposition": f'attachment; filename="{doc.filename}"'},
    )


async def _update(request: Request, row: OrderRecord, update: Any, arg: Any) -> JSONResponse:
    handle = request.app.state.client.get_workflow_handle(row.workflow_id)
    try:
        result = await handle.execute_update(update, arg)
    except WorkflowUpdateFailedError as err:
        refusal = RuleError.from_failure(err)
        if refusal is None:
            raise
        raise api_refusal(refusal) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise api_refusal(  # the lifecycle has ended: closed, cancelled or provisioned
                RuleError.one("PX-5", "state", f"the order is {row.state}: it has ended")
            ) from None
        raise
    return JSONResponse(camelize(result.model_dump(mode="json", exclude_none=True)))


@router.post("/{orderId}/contact", summary="Change the provisioning contact (PX-5)")
async def change_contact(
    request: Request,
    order_id: OrderId,
    body: ChangeContact,
    actor: Actor = Depends(acting(WRITE, change=True)),
) -> JSONResponse:
    row = await _order(request, actor, order_id)
    return await _update(request, row, SubscriptionOrder.change_contact, body)


@router.post("/{orderId}/start-date", summary="Change the requested start date (PX-5)")
async def change_start_date(
    request: Request,
    order_id: OrderId,
    body: ChangeStartDate,
    actor: Actor = Depends(acting(WRITE, change=True)),
) -> JSONResponse:
    row = await _order(request, actor, order_id)
    return await _update(request, row, SubscriptionOrder.change_start_date, body)


@router.post("/{orderId}/resend", summary="Send the provisioning email again (PX-5)")
async def resend(
    request: Request, order_id: OrderId, actor: Actor = Depends(acting(WRITE, change=True))
) -> JSONResponse:
    row = await _order(request, actor, order_id)
    return await _update(request, row, SubscriptionOrder.resend, {})


@router.post("/{orderId}/cancel", summary="Cancel an order not yet provisioned")
async def cancel(
    request: Request,
    order_id: OrderId,
    body: CancelOrder | None = None,
    actor: Actor = Depends(acting(WRITE, change=True)),
) -> JSONResponse:
    row = await _order(request, actor, order_id)
    return await _update(request, row, SubscriptionOrder.cancel, body or CancelOrder())


# --- the wizard ---------------------------------------------------------------------------------


async def order_of_link(request: Request, token: str) -> OrderRecord:
    """The order a set-up link's token opens (SO-1): signed, unexpired, and sent to the
    order's current contact (a changed contact or a hand-off retires older links). Raises
    ``BadToken``. The HTTP wizard and the web pages (api/orders/web.py) share it."""
    key = request.app.state.settings.order_setup_token_key.get_secret_value()
    order_id, version = read_setup_token(key, token, datetime.now(UTC))
    async with db_of(request).session() as s:
        row = await get_order(s, order_id)
    if row is None or version != row.contact_version:
        raise BadToken("this set-up link was replaced by a newer one")
    return row


async def setup_caller(
    request: Request,
    order_id: OrderId,
    setup_token: Annotated[str | None, Header(alias="X-Setup-Token", max_length=400)] = None,
) -> OrderRecord:
    """The set-up link's signed token (for the person who clicked it), else a bearer token
    with ``orders_write`` of the order's partner."""
    if setup_token:
        try:
            row = await order_of_link(request, setup_token)
        except BadToken as err:
            raise ApiError(401, P.UNAUTHORIZED, f"SO-1 (X-Setup-Token): {err}") from None
        if row.id != order_id:
            raise ApiError(401, P.UNAUTHORIZED, "SO-1 (X-Setup-Token): not this order's link")
        return row
    actor = await authenticate(request, await _bearer(request))
    require(actor, WRITE, change=True)
    return await _order(request, actor, order_id)


async def _bearer(request: Request):
    from api.auth import bearer

    return await bearer(request)


@router.post("/{orderId}/setup/begin", summary="Open the wizard (set-up has started)")
async def setup_begin(request: Request, row: OrderRecord = Depends(setup_caller)) -> JSONResponse:
    return await _update(request, row, SubscriptionOrder.begin_setup, {})


@router.post("/{orderId}/setup/commit", summary="Commit every answer at once (SO-3..SO-13)")
async def setup_commit(
    request: Request, body: SetupAnswers, row: OrderRecord = Depends(setup_caller)
) -> JSONResponse:
    return await _update(request, row, SubscriptionOrder.commit_setup, body)


@router.post("/{orderId}/setup/resume", summary="Resume service set-up (SO-9, SO-13)")
async def setup_services(
    request: Request, body: ServicesResume, row: OrderRecord = Depends(setup_caller)
) -> JSONResponse:
    return await _update(request, row, SubscriptionOrder.setup_services, body)


@router.post("/{orderId}/setup/{step}", summary="Check one wizard step; saves nothing (SO-3)")
async def setup_step(
    request: Request,
    step: Annotated[str, Path(pattern="^(" + "|".join(STEPS) + ")$")],
    body: SetupAnswers,
    row: OrderRecord = Depends(setup_caller),
) -> JSONResponse:
    """The answers so far (the caller carries them: nothing is kept between steps);
    answers what the next screen shows (SO-5's orgs, SO-12's services)."""
    payload = {"step": step, "answers": body.model_dump(mode="json", exclude_none=True)}
    return await _update(request, row, SubscriptionOrder.check_setup, payload)


@router.post("/{orderId}/full-admin-request", summary="Ask the customer for full admin (SO-7)")
async def full_admin_request(
    request: Request, order_id: OrderId, actor: Actor = Depends(acting(WRITE, change=True))
) -> JSONResponse:
    await _order(request, actor, order_id)
    db = db_of(request)
    try:
        async with db.session() as s:
            keys = await request_full_admin(s, order_id, datetime.now(UTC))
    except RuleError as err:
        raise api_refusal(err) from None
    sent = await deliver(db, request.app.state.mailer, keys)
    return JSONResponse({"asked": [n.recipient for n in sent]})

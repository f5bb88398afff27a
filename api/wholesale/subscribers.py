"""``/v1/wholesale/subscribers`` (WH-S1..S3, PX-2) and the consent-move email
(``/v1/subscribers/{id}/emails/consentMove``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlmodel import col, select

from api.auth import (
    ALLOWED,
    Actor,
    acting,
    db_of,
    lease_of,
    replay,
    restricted,
    to_remember,
)
from api.errors import ERROR_RESPONSES, not_found
from api.wholesale.schemas import (
    WEBEX_ID,
    PrecheckOut,
    SubscriberCreate,
    SubscriberList,
    SubscriberOut,
    SubscriberPrecheck,
    SubscriberUpdate,
    SubscriberUpdateParams,
)
from models.common.refusal import RuleError, Violation, raise_if
from models.wholesale.problems import bad
from models.wholesale.store import (
    Remembered,
    SubscriberSpec,
    provision_subscriber,
    remove_subscriber,
    resend_consent,
    subscriber_conflicts,
    subscriber_field_problems,
    update_subscriber,
    visible_customer,
)
from models.wholesale.tables import WholesaleCustomer, WholesaleSubscriber

router = APIRouter(tags=["Wholesale Subscribers"], responses=ERROR_RESPONSES)
READ, WRITE = "wholesale_subscribers_read", "wholesale_subscribers_write"
INSTANT = (
    "Only subscribers %s after this instant: epoch milliseconds (preferred) or ISO 8601 "
    "(a date alone is its midnight UTC; no zone is UTC)."
)


def _instant(text: str) -> datetime:
    """Cisco's list filters: epoch milliseconds, or an ISO 8601 date or date and time."""
    if text.strip().lstrip("-").isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _bad_instant(field: str, text: str) -> Violation | None:
    try:
        _instant(text)
    except (ValueError, OverflowError, OSError):
        return bad("PX-2", field, "an instant: epoch milliseconds or ISO 8601")
    return None


# WH-C6: what a customer admin's token is refused while its customer is restricted
ADD = restricted("WH-C6", "customerId", "add users")
MODIFY = restricted("WH-C6", "package", "modify users or reset their packages")
REMOVE = restricted("WH-C6", "subscriberId", "remove users")
CLAIM = restricted("WH-C6", "subscriberId", "claim users (the consent to move)")


def subscriber_out(sub: WholesaleSubscriber, external_customer_id: str) -> SubscriberOut:
    return SubscriberOut(
        id=sub.id,
        person_id=sub.person_id if sub.status == "provisioned" else None,
        email=sub.email,
        customer_id=sub.customer_id,
        external_customer_id=external_customer_id,
        package=sub.package,
        packages=[sub.package],
        status=sub.status,
        is_admin=sub.is_admin,
        errors=sub.errors,
        created=sub.created_at,
        last_status_change=sub.last_status_change,
    )


def one_package(package: str | None, packages: Sequence[str] | None) -> str | None:
    """WH-P1: every subscriber has exactly one package (``package`` or ``packages: [one]``)."""
    if packages is not None and len(set(packages)) != 1:
        raise RuleError([bad("WH-P1", "packages", "exactly one package per subscriber")])
    wanted = {p for p in [package, *(packages or [])] if p}
    if len(wanted) > 1:
        raise RuleError([bad("WH-P1", "package", "package and packages disagree")])
    return wanted.pop() if wanted else None


def subscriber_spec(
    body: SubscriberCreate | SubscriberPrecheck | SubscriberUpdate,
) -> SubscriberSpec:
    """The store's view of a request body; an update names no customer, email or name."""
    params = body.provisioning_parameters or SubscriberUpdateParams()
    return SubscriberSpec(
        customer_id=getattr(body, "customer_id", None),
        email=getattr(body, "email", None),
        package=one_package(body.package, body.packages),
        first_name=getattr(params, "first_name", None),
        last_name=getattr(params, "last_name", None),
        primary_phone_number=params.primary_phone_number,
        extension=params.extension,
        location_id=params.location_id,
    )


def _url(request: Request, sub_id: str) -> str:
    # what url_for("get_subscriber") gives, without walking every route (issue 14)
    return f"{request.base_url}v1/wholesale/subscribers/{sub_id}"


@router.post(
    "/v1/wholesale/subscribers",
    response_model=SubscriberOut,
    responses={
        202: {"model": SubscriberOut, "description": "PX-2: pending_user_migration"},
    },
)
async def create_subscriber(
    request: Request,
    body: SubscriberCreate,
    actor: Actor = Depends(acting(WRITE, change=True, customer_admin=ADD, keep=True)),
) -> JSONResponse:
    """200 provisioned; 202 ``pending_user_migration`` when the email belongs to an active
    free account (PX-2). The first subscriber of a new org becomes its admin (WH-S2)."""
    payload = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    if (earlier := await replay(request, actor, payload)) is not None:
        return earlier
    spec = subscriber_spec(body)
    answered: list[tuple[dict[str, object], int, str]] = []

    def answer(sub: WholesaleSubscriber, external_id: str) -> Remembered | None:
        """The answer, built once, and its record for the subscriber's own transaction."""
        out = subscriber_out(sub, external_id).model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        status = 202 if sub.status == "pending_user_migration" else 200
        answered.append((out, status, _url(request, sub.id)))
        return to_remember(request, actor, payload, status, out, answered[-1][2])

    try:
        await provision_subscriber(
            db_of(request),
            request.app.state.mailer,
            actor.scope,
            spec,
            answer=answer,
            connect=lease.use if (lease := lease_of(request)) else None,
        )
    except LookupError:
        raise not_found("customer") from None
    body_json, status, url = answered[-1]
    return JSONResponse(body_json, status_code=status, headers={"Location": url})


@router.get(
    "/v1/wholesale/subscribers", response_model=SubscriberList, response_model_exclude_none=True
)
async def list_subscribers(
    request: Request,
    customer_id: Annotated[str | None, Query(alias="customerId", max_length=WEBEX_ID)] = None,
    person_id: Annotated[str | None, Query(alias="personId", max_length=WEBEX_ID)] = None,
    external_customer_id: Annotated[
        str | None, Query(alias="externalCustomerId", max_length=256)
    ] = None,
    email: Annotated[str | None, Query(max_length=254)] = None,
    status: Annotated[
        str | None,
        Query(
            max_length=64,
            description="provisioned or pending_user_migration; Cisco types it as a free "
            "string, so another value matches no subscriber (an empty list, not a 400).",
        ),
    ] = None,
    after: Annotated[str | None, Query(max_length=64, description=INSTANT % "created")] = None,
    last_status_change: Annotated[
        str | None,
        Query(alias="lastStatusChange", max_length=64, description=INSTANT % "status changed"),
    ] = None,
    sort_by: Annotated[
        str | None,
        Query(
            alias="sortBy",
            max_length=64,
            description="created (the default) or lastStatusChange; Cisco types it as a free "
            "string, so another value sorts by created (not a 400).",
        ),
    ] = None,
    sort_order: Annotated[
        str | None,
        Query(
            alias="sortOrder",
            max_length=64,
            description="ASC (the default) or DESC, in any case; another value sorts ASC.",
        ),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    max_: Annotated[int, Query(alias="max", ge=1, le=1000)] = 50,
    actor: Actor = Depends(acting(READ, customer_admin=ALLOWED)),
) -> SubscriberList:
    q = actor.scope.subscribers(
        select(WholesaleSubscriber, WholesaleCustomer.external_id).join(
            WholesaleCustomer, col(WholesaleCustomer.id) == col(WholesaleSubscriber.customer_id)
        )
    )
    if customer_id is not None:
        q = q.where(WholesaleSubscriber.customer_id == customer_id)
    if person_id is not None:
        q = q.where(WholesaleSubscriber.person_id == person_id)
    if external_customer_id is not None:
        q = q.where(WholesaleCustomer.external_id == external_customer_id)
    if email is not None:
        q = q.where(WholesaleSubscriber.email == email.lower())
    if status is not None:
        q = q.where(WholesaleSubscriber.status == status)
    since = {"after": after, "lastStatusChange": last_status_change}
    raise_if([v for k, text in since.items() if text is not None and (v := _bad_instant(k, text))])
    if after is not None:
        q = q.where(col(WholesaleSubscriber.created_at) > _instant(after))
    if last_status_change is not None:
        q = q.where(col(WholesaleSubscriber.last_status_change) > _instant(last_status_change))
    key = col(
        WholesaleSubscriber.last_status_change
        if sort_by == "lastStatusChange"
        else WholesaleSubscriber.created_at
    )
    descending = (sort_order or "").upper() == "DESC"
    ident = col(WholesaleSubscriber.id)
    q = q.order_by(key.desc(), ident.desc()) if descending else q.order_by(key, ident)
    async with db_of(request).session() as s:
        rows = (await s.exec(q.offset(offset).limit(max_))).all()
    return SubscriberList(items=[subscriber_out(sub, ext) for sub, ext in rows])


@router.get(
    "/v1/wholesale/subscribers/{subscriberId}",
    response_model=SubscriberOut,
    response_model_exclude_none=True,
    name="get_subscriber",
)
async def get_subscriber(
    request: Request,
    subscriber_id: Annotated[str, Path(alias="subscriberId", max_length=200)],
    actor: Actor = Depends(acting(READ, customer_admin=ALLOWED)),
) -> SubscriberOut:
    async with db_of(request).session() as s:
        sub = await s.get(WholesaleSubscriber, subscriber_id)
        if sub is None or not actor.scope.sees(sub):
            raise not_found("subscriber")
        c = await s.get(WholesaleCustomer, sub.customer_id)
    return subscriber_out(sub, c.external_id if c else "")


@router.put(
    "/v1/wholesale/subscribers/{subscriberId}",
    response_model=SubscriberOut,
    response_model_exclude_none=True,
)
async def update_subscriber_route(
    request: Request,
    subscriber_id: Annotated[str, Path(alias="subscriberId", max_length=200)],
    body: SubscriberUpdate,
    actor: Actor = Depends(acting(WRITE, change=True, customer_admin=MODIFY)),
) -> SubscriberOut:
    """A package change closes the old assignment and opens the new one at the same
    instant (WH-B1); an admin keeps its level (WH-S2)."""
    spec = subscriber_spec(body)
    try:
        sub, external_id = await update_subscriber(db_of(request), actor.scope, subscriber_id, spec)
    except LookupError:
        raise not_found("subscriber") from None
    return subscriber_out(sub, external_id)


@router.delete("/v1/wholesale/subscribers/{subscriberId}", status_code=204, response_class=Response)
async def delete_subscriber(
    request: Request,
    subscriber_id: Annotated[str, Path(alias="subscriberId", max_length=200)],
    actor: Actor = Depends(acting(WRITE, change=True, delete=True, customer_admin=REMOVE)),
) -> Response:
    try:
        await remove_subscriber(db_of(request), actor.scope, subscriber_id)
    except LookupError:
        raise not_found("subscriber") from None
    return Response(status_code=204)


@router.post("/v1/wholesale/subscribers/validate", response_model=PrecheckOut)
async def precheck_subscriber(
    request: Request,
    body: SubscriberPrecheck,
    actor: Actor = Depends(acting(WRITE, customer_admin=ALLOWED)),
) -> PrecheckOut:
    """WH-S3: every conflict at once, each with its field; nothing is written."""
    spec = subscriber_spec(body)
    problems = subscriber_field_problems(spec, precheck=True)
    async with db_of(request).session() as s:
        customer = None
        if body.customer_id:
            customer = await visible_customer(s, actor.scope, body.customer_id)
            if customer is None:
                raise not_found("customer")
        more, free_user = await subscriber_conflicts(s, spec, customer)
    raise_if(problems + more)
    info = [{"infoCode": 100, "description": "Provisioning preCheck validation successful."}]
    if free_user:
        info.append(
            {
                "infoCode": 102,
                "description": "PX-2: the email has a free account; the user must consent",
            }
        )
    return PrecheckOut.model_validate({"message": "success", "info": info})


@router.post(
    "/v1/subscribers/{subscriberId}/emails/consentMove", status_code=204, response_class=Response
)
async def consent_move(
    request: Request,
    subscriber_id: Annotated[str, Path(alias="subscriberId", max_length=200)],
    actor: Actor = Depends(acting(WRITE, change=True, customer_admin=CLAIM)),
) -> Response:
    """PX-2: send the consent email again to a ``pending_user_migration`` subscriber."""
    try:
        await resend_consent(db_of(request), request.app.state.mailer, actor.scope, subscriber_id)
    except LookupError:
        raise not_found("subscriber") from None
    return Response(status_code=204)

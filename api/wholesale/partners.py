"""``/v1/wholesale/subPartners`` (WH-SP1, PX-6) and onboarding templates (WH-P2) under
``/v1/wholesale/templates``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel import col, select

from api.auth import Actor, authenticate, db_of, require
from api.errors import ERROR_RESPONSES, ApiError, not_found
from api.wholesale.schemas import (
    SubPartnerList,
    SubPartnerOut,
    TemplateCreate,
    TemplateList,
    TemplateOut,
)
from models.wholesale import problems as P
from models.wholesale.store import TemplateSpec, create_template
from models.wholesale.tables import WholesaleSubPartner, WholesaleTemplate

router = APIRouter(prefix="/v1/wholesale", responses=ERROR_RESPONSES)


@router.get(
    "/subPartners",
    response_model=SubPartnerList,
    response_model_exclude_none=True,
    tags=["Wholesale Sub-partners"],
)
async def list_sub_partners(
    request: Request,
    provisioning_state: Annotated[
        str | None,
        Query(
            alias="provisioningState",
            max_length=64,
            description="active or suspended; Cisco types it as a free string, so another "
            "value matches no sub-partner (not a 400).",
        ),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    max_: Annotated[int, Query(alias="max", ge=1, le=1000)] = 100,
    actor: Actor = Depends(authenticate),
) -> SubPartnerList:
    """WH-SP1: the caller's sub-partners (one level: a sub-partner has none)."""
    require(actor, "wholesale_customers_read")
    q = select(WholesaleSubPartner).where(WholesaleSubPartner.parent_org_id == actor.owner)
    if provisioning_state:
        q = q.where(WholesaleSubPartner.provisioning_state == provisioning_state)
    q = q.order_by(col(WholesaleSubPartner.created_at), col(WholesaleSubPartner.org_id))
    async with db_of(request).session() as s:
        rows = (await s.exec(q.offset(offset).limit(max_))).all()
    return SubPartnerList(
        items=[
            SubPartnerOut(
                org_id=r.org_id,
                subscription_id=r.subscription_id,
                provisioning_state=r.provisioning_state,
                created=r.created_at,
                billing_start_date=r.billing_start_date,
            )
            for r in rows
        ]
    )


def template_out(t: WholesaleTemplate) -> TemplateOut:
    return TemplateOut(
        id=t.id,
        name=t.name,
        country=t.country,
        language=t.language,
        sp_admin_email=t.sp_admin_email,
        subscription_id=t.subscription_id,
        auth_mode=t.auth_mode,
        idp_entity_id=t.idp_entity_id,
        pstn_provider=t.pstn_provider,
        brand_name=t.brand_name,
        restrict_admin_invite_emails=t.restrict_admin_invites,
        disable_webex_calling=t.disable_webex_calling,
        created=t.created_at,
    )


@router.post(
    "/templates", status_code=201, response_model=TemplateOut, tags=["Wholesale Templates"]
)
async def create_template_route(
    request: Request, body: TemplateCreate, actor: Actor = Depends(authenticate)
) -> JSONResponse:
    """WH-P2: a template (its id is the provisioning ID) comes before any customer."""
    require(actor, "wholesale_customers_write", change=True)
    if actor.sub_partner_org_id:
        raise ApiError(403, P.FORBIDDEN, "WH-P2: templates belong to the partner")
    spec = TemplateSpec(
        name=body.name,
        country=body.country.upper(),
        language=body.language,
        sp_admin_email=body.sp_admin_email,
        subscription_id=body.subscription_id,
        brand_name=body.brand_name,
        auth_mode=body.auth_mode,
        idp_entity_id=body.idp_entity_id,
        pstn_provider=body.pstn_provider,
        restrict_admin_invites=body.restrict_admin_invite_emails,
        disable_webex_calling=body.disable_webex_calling,
    )
    async with db_of(request).session() as s:
        t = await s.get(WholesaleTemplate, await create_template(s, actor.partner_org_id, spec))
    assert t is not None
    url = str(request.url_for("get_template", templateId=t.id))
    return JSONResponse(
        template_out(t).model_dump(mode="json", by_alias=True),
        status_code=201,
        headers={"Location": url},
    )


@router.get(
    "/templates",
    response_model=TemplateList,
    response_model_exclude_none=True,
    tags=["Wholesale Templates"],
)
async def list_templates(
    request: Request,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    max_: Annotated[int, Query(alias="max", ge=1, le=1000)] = 100,
    actor: Actor = Depends(authenticate),
) -> TemplateList:
    """The partner's templates (a sub-partner uses its parent's)."""
    require(actor, "wholesale_customers_read")
    q = (
        select(WholesaleTemplate)
        .where(WholesaleTemplate.partner_org_id == actor.partner_org_id)
        .order_by(col(WholesaleTemplate.created_at), col(WholesaleTemplate.id))
    )
    async with db_of(request).session() as s:
        rows = (await s.exec(q.offset(offset).limit(max_))).all()
    return TemplateList(items=[template_out(t) for t in rows])


@router.get(
    "/templates/{templateId}",
    response_model=TemplateOut,
    response_model_exclude_none=True,
    name="get_template",
    tags=["Wholesale Templates"],
)
async def get_template(
    request: Request,
    template_id: Annotated[str, Path(alias="templateId", max_length=200)],
    actor: Actor = Depends(authenticate),
) -> TemplateOut:
    require(actor, "wholesale_customers_read")
    async with db_of(request).session() as s:
        t = await s.get(WholesaleTemplate, template_id)
    if t is None or t.partner_org_id != actor.partner_org_id:
        raise not_found("template")
    return template_out(t)

"""``/v1/wholesale/billing/reports`` as Cisco's Webex Wholesale API has it (WH-B2..B8, PX-6):
create (200 with the id at once; a ``BillingReport`` workflow generates the file), get (with a
``tempDownloadURL`` valid 30 minutes after that GET, WH-B3), list (exact filters, WH-B7) and
delete (204; every URL of the report stops working at once). The download URL is served here
too: an HMAC-signed, expiring link needing no token, like a pre-signed object-store URL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlmodel import select

from api.auth import Actor, authenticate, db_of, require
from api.errors import ERROR_RESPONSES, ApiError, not_found
from models.billing import rules as R
from models.billing import store
from models.billing.contract import BillingPolicy, ReportCategory, ReportStatus, ReportType
from models.billing.tables import BillingReport
from models.common.refusal import RuleError, Violation
from models.common.tables import OrgUser
from models.wholesale import problems as P
from models.wholesale.tables import WholesaleApiToken
from workers.billing import signing_key, start_report

router = APIRouter(
    prefix="/v1/wholesale/billing", tags=["Wholesale Billing Reports"], responses=ERROR_RESPONSES
)

READ, WRITE = "wholesale_billing_reports_read", "wholesale_billing_reports_write"  # WH-B6
ReportId = Annotated[str, Path(min_length=1, max_length=120, description="The report's id.")]
DateText = Annotated[str, Field(min_length=1, max_length=32, examples=["2021-05-21"])]


# --- wire models (Cisco's names) ---------------------------------------------------------------


class ReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    billingStartDate: DateText = Field(description="`YYYY-MM-DD`, within the last five years.")
    billingEndDate: DateText = Field(description="`YYYY-MM-DD`, before today.")
    type: ReportType = Field("PARTNER", description="`PARTNER` (default), `CUSTOMER`, `USER`.")
    subPartnerOrgId: str | None = Field(None, min_length=1, max_length=256)  # a Webex id
    internal: StrictBool = Field(False, description="Include internal orgs (there are none).")


class ReportIdOut(BaseModel):
    id: str
    billingStartDate: str
    billingEndDate: str
    type: ReportType
    category: ReportCategory
    internal: bool


class ReportErrorOut(BaseModel):
    code: int
    description: str


class ReportOut(BaseModel):
    id: str
    billingStartDate: str
    billingEndDate: str
    type: ReportType
    category: ReportCategory
    subPartnerOrgId: str | None = None
    created: str
    createdBy: str
    status: ReportStatus
    tempDownloadURL: str | None = Field(
        None, description="WH-B3: valid 30 minutes after this GET; COMPLETED reports only."
    )
    errors: list[ReportErrorOut] = Field(default_factory=list)


class ListReportOut(BaseModel):
    id: str
    billingStartDate: str
    billingEndDate: str
    status: ReportStatus
    type: ReportType
    category: ReportCategory


class ReportList(BaseModel):
    items: list[ListReportOut]


# --- helpers ---------------------------------------------------------------------------------


def _clock(request: Request) -> datetime:
    """The API's clock: ``app.state.clock`` (a test's) or the real one."""
    clock: Callable[[], datetime] | None = getattr(request.app.state, "clock", None)
    return clock() if clock is not None else datetime.now(UTC)


def _policy(request: Request) -> BillingPolicy:
    return request.app.state.settings.billing_policy()


def _date(value: str, field: str) -> date:
    d = R.parse_date(value)
    if d is None:
        raise RuleError([Violation("WH-B2", field, "must be a date YYYY-MM-DD")])
    return d


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _id_out(r: BillingReport) -> ReportIdOut:
    return ReportIdOut(
        id=r.id,
        billingStartDate=r.billing_start_date.isoformat(),
        billingEndDate=r.billing_end_date.isoformat(),
        type=r.type,
        category=r.category,
        internal=r.internal,
    )


async def _creator(request: Request, actor: Actor) -> str:
    """``createdBy``: the person id of the admin the token acts for."""
    async with db_of(request).session() as s:
        tok = await s.get(WholesaleApiToken, actor.token_id)
        if tok is None:
            return actor.token_id
        user = (await s.exec(select(OrgUser).where(OrgUser.email == tok.admin_email))).first()
    return user.id if user is not None else actor.token_id


# --- routes ----------------------------------------------------------------------------------


@router.post("/reports", response_model=ReportIdOut)
async def create_billing_report(
    request: Request, body: ReportCreate, actor: Actor = Depends(authenticate)
) -> ReportIdOut:
    """Generate a billing reconciliation report (WH-B2, PX-6): answers with its id at once.
    The same period, type and sub-partner again: the report still in progress, or 409 when
    it is COMPLETED (delete it first, WH-B4); a FAILED one does not count."""
    require(actor, WRITE, change=True)
    start = _date(body.billingStartDate, "billingStartDate")
    end = _date(body.billingEndDate, "billingEndDate")
    policy = _policy(request)
    today = R.local_date(_clock(request), policy.timezone)
    created_by = await _creator(request, actor)
    db = db_of(request)
    async with db.session() as s:
        sub = await store.report_sub_partner(s, actor.scope, body.subPartnerOrgId)
        row, new = await store.create_report(
            s,
            store.ReportSpec(
                partner_org_id=actor.partner_org_id,
                sub_partner_org_id=sub,
                type=body.type,
                start=start,
                end=end,
                internal=body.internal,
                created_by=created_by,
            ),
            today,
            policy.lookback_years,
        )
    if new:
        await start_report(request.app.state.client, db, row, policy, request.app.state.task_queue)
    return _id_out(row)


@router.get("/reports", response_model=ReportList)
async def list_billing_reports(
    request: Request,
    response: Response,
    billing_start_date: Annotated[
        str | None, Query(alias="billingStartDate", max_length=10, description="Exact match.")
    ] = None,
    billing_end_date: Annotated[
        str | None, Query(alias="billingEndDate", max_length=10, description="Exact match.")
    ] = None,
    type: Annotated[ReportType | None, Query()] = None,
    sort_by: Annotated[
        Literal["id", "billingStartDate", "billingEndDate", "status"], Query(alias="sortBy")
    ] = "billingStartDate",
    status: Annotated[ReportStatus | None, Query()] = None,
    max_: Annotated[int, Query(alias="max", ge=1, le=100, description="At most 100.")] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Reports to skip.")] = 0,
    sub_partner_org_id: Annotated[
        str | None, Query(alias="subPartnerOrgId", max_length=256)
    ] = None,
    actor: Actor = Depends(authenticate),
) -> ReportList:
    """WH-B7: exact-match filters, sorted by ``sortBy`` (then id), at most 100 per page (a
    ``Link: rel="next"`` header when there may be more). WH-B8: a partner's reports and its
    sub-partners'; a sub-partner's own."""
    require(actor, READ)
    start = _date(billing_start_date, "billingStartDate") if billing_start_date else None
    end = _date(billing_end_date, "billingEndDate") if billing_end_date else None
    async with db_of(request).session() as s:
        rows = await store.list_reports(
            s,
            actor.scope,
            start=start,
            end=end,
            type=type,
            status=status,
            sub_partner_org_id=sub_partner_org_id,
            sort_by=sort_by,
            max_=max_,
            offset=offset,
        )
    if len(rows) == max_:
        nxt = request.url.include_query_params(offset=offset + max_)
        response.headers["Link"] = f'<{nxt}>; rel="next"'
    return ReportList(
        items=[
            ListReportOut(
                id=r.id,
                billingStartDate=r.billing_start_date.isoformat(),
                billingEndDate=r.billing_end_date.isoformat(),
                status=r.status,
                type=r.type,
                category=r.category,
            )
            for r in rows
        ]
    )


@router.get("/reports/{id}", response_model=ReportOut, response_model_exclude_none=True)
async def get_billing_report(
    request: Request, id: ReportId, actor: Actor = Depends(authenticate)
) -> ReportOut:
    """A report; COMPLETED ones carry a ``tempDownloadURL`` valid 30 minutes from now (WH-B3).
    Another partner's report is 404."""
    require(actor, READ)
    async with db_of(request).session() as s:
        r = await store.get_report(s, actor.scope, id)
    if r is None:
        raise not_found("billing report")
    url = None
    if r.status == "COMPLETED":
        policy = _policy(request)
        expires = R.expires_at(_clock(request), policy.download_minutes)
        sig = R.sign(signing_key(request.app.state.settings), r.id, r.file_token, expires)
        base = str(request.url_for("download_billing_report", id=r.id))
        url = f"{base}?Expires={expires}&Signature={sig}"
    return ReportOut(
        id=r.id,
        billingStartDate=r.billing_start_date.isoformat(),
        billingEndDate=r.billing_end_date.isoformat(),
        type=r.type,
        category=r.category,
        subPartnerOrgId=r.sub_partner_org_id,
        created=_iso(r.created_at),
        createdBy=r.created_by,
        status=r.status,
        tempDownloadURL=url,
        errors=[ReportErrorOut(code=e["code"], description=e["description"]) for e in r.errors],
    )


@router.delete("/reports/{id}", status_code=204, response_class=Response)
async def delete_billing_report(
    request: Request, id: ReportId, actor: Actor = Depends(authenticate)
) -> Response:
    """WH-B4: the report and its file go; every download URL of it stops working at once."""
    require(actor, WRITE, change=True, delete=True)
    if not await store.delete_report(db_of(request), actor.scope, id, _policy(request).report_dir):
        raise not_found("billing report")
    return Response(status_code=204)


@router.get(
    "/reports/{id}/download",
    response_class=FileResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The report (CSV)."}},
)
async def download_billing_report(
    request: Request,
    id: ReportId,
    expires: Annotated[int, Query(alias="Expires", ge=0, le=2**40)],
    signature: Annotated[str, Query(alias="Signature", min_length=1, max_length=100)],
) -> FileResponse:
    """The file behind a ``tempDownloadURL`` (no token: the signature is the permission).
    403 when the signature does not match or has expired; 404 once the report is deleted."""
    async with db_of(request).session() as s:
        r = await s.get(BillingReport, id)
    if r is None or r.status != "COMPLETED" or not r.file_name:
        raise not_found("billing report")
    why = R.verify(
        signing_key(request.app.state.settings),
        r.id,
        r.file_token,
        expires,
        signature,
        _clock(request),
    )
    if why:
        raise ApiError(403, P.FORBIDDEN, f"WH-B3: {why}")
    path = store.report_path(_policy(request).report_dir, r.file_name)
    if not path.is_file():
        raise ApiError(410, P.NOT_FOUND, "the report file is no longer stored")
    name = f"billing-{r.type.lower()}-{r.billing_start_date}-{r.billing_end_date}.csv"
    return FileResponse(path, media_type="text/csv", filename=name)

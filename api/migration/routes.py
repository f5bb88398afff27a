"""``/v1/migrations``: BroadWorks customers migrated to wholesale (WH-M1..M3, PX-8).

Precheck a file (every problem by user and field, nothing written), start (202 at once; a
file with blocking problems answers 409 with all of them), follow (the workflow's
``progress`` query), review the users, approve the cut-over or roll back (workflow updates:
a refusal names its rule), and the per-user report as CSV. The migration's ID is its
workflow ID, ``migration-<partner>-<external id>``.

A customer admin's token (api/auth.py) migrates users into its own wholesale customer only,
and sees only those migrations; while its partner keeps the customer restricted (WH-C6) it
cannot start, approve or roll one back (WH-M3: 403 naming the rule, nothing written).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import ALLOWED, Actor, acting, db_of, restricted
from api.errors import ERROR_RESPONSES, ApiError, not_found
from models.common.contract import Command
from models.common.db import Database
from models.common.refusal import RuleError
from models.migration import store
from models.migration.contract import MigrationInput, MigrationProgress, PrecheckReport
from models.migration.rules import to_csv
from models.migration.tables import Migration
from models.wholesale.problems import bad
from models.wholesale.store import visible_customer
from models.wholesale.tables import WholesaleCustomer
from workers.settings import Settings
from workers.starter import start_lifecycle
from workflows.migration.workflow import BroadWorksMigration

router = APIRouter(
    prefix="/v1/migrations", tags=["BroadWorks Migration"], responses=ERROR_RESPONSES
)

READ, WRITE = "wholesale_customers_read", "wholesale_customers_write"
REFUSED = 10070  # errorCode of a file with blocking problems
PHASE = 10071  # errorCode of a decision the migration's phase refuses
# WH-M3: what a customer admin's token is refused while its customer is restricted (WH-C6)
START = restricted("WH-M3", "export", "start a migration")
DECIDE = restricted("WH-M3", "migrationId", "approve or roll back a migration")


class MigrationRequest(Command):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    provisioning_id: str | None = Field(
        None,
        max_length=64,
        description="The onboarding template the customer is created from (needed unless "
        "customerId names an existing customer).",
    )
    customer_id: str | None = Field(
        None,
        max_length=200,
        description="Migrate the users into this existing wholesale customer instead of "
        "creating one (a customer admin's token: its own customer, the default).",
    )
    export: dict[str, Any] = Field(
        description="The BroadWorks export (models/migration/export.py; PX-8: one customer)."
    )


class Decision(Command):
    by: str = Field("", max_length=254)
    note: str = Field("", max_length=500)


# --- the start (also used by the CLI) ----------------------------------------------------


async def start_migration(
    client: Client,
    db: Database,
    settings: Settings,
    data: Any,
    *,
    partner_org_id: str,
    sub_partner_org_id: str | None,
    provisioning_id: str,
    task_queue: str,
    started_by: str = "",
    customer_id: str | None = None,
) -> tuple[Migration, PrecheckReport]:
    """Precheck and store the export (``MigrationRefused`` when blocked: nothing written),
    then start its workflow. Idempotent: the same enterprise again while its migration is
    open answers that migration (and starts it, if a crash came between). ``customer_id``:
    into that existing customer (WH-M3)."""
    m, report = await store.create_migration(
        db,
        data,
        partner_org_id=partner_org_id,
        sub_partner_org_id=sub_partner_org_id,
        provisioning_id=provisioning_id,
        started_by=started_by,
        customer_id=customer_id,
    )
    if m.state == "prechecked":
        await start_lifecycle(
            client,
            BroadWorksMigration.run,
            MigrationInput(
                migration_id=m.id,
                partner_org_id=m.partner_org_id,
                sub_partner_org_id=m.sub_partner_org_id,
                external_id=m.external_id,
                total_users=m.total_users,
                policy=settings.migration_policy(),
                task_queue=task_queue,
                wholesale_policy=settings.wholesale_policy().model_dump(),
            ),
            id=m.workflow_id,
            task_queue=task_queue,
            state="prechecked",
            partner_org_id=m.partner_org_id,
            summary=f"BroadWorks migration: {m.total_users} users (WH-M1, PX-8)",
        )
    return m, report


async def status_of(client: Client, db: Database, m: Migration) -> MigrationProgress:
    """The workflow's ``progress`` query, or the read model when the workflow cannot answer."""
    try:
        p: MigrationProgress = await client.get_workflow_handle(m.workflow_id).query(
            BroadWorksMigration.progress
        )
        if p.migration_id == m.id:
            return p
    except RPCError:
        pass
    except Exception:  # a query the server could not deliver (no worker): the read model
        pass
    return MigrationProgress(
        migration_id=m.id,
        workflow_id=m.workflow_id,
        phase=m.state,
        total=m.total_users,
        done=m.users_done,
        failed=m.users_failed,
        customer_id=m.customer_id,
        org_id=m.org_id,
        reason=m.reason,
    )


async def decide(client: Client, m: Migration, update: Any, arg: Any) -> Any:
    """Send a decision; a refusal of the workflow's validator answers 409 naming its rule,
    and so does a migration whose workflow has ended (completed or rolled back)."""
    handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(m.workflow_id)
    try:
        return await handle.execute_update(update, arg)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        msg = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise ApiError(409, PHASE, msg) from None
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        raise ApiError(
            409, PHASE, f"WH-M1 (phase): the migration is {m.state}; its workflow has ended"
        ) from None


def refused_body(report: PrecheckReport) -> dict[str, Any]:
    return {
        "errorCode": REFUSED,
        "description": f"PX-8: the file has {len(report.problems)} blocking problems; "
        "nothing was written",
        "errors": [
            {
                "errorCode": REFUSED,
                "description": f"{p.subject}: {p.rule} ({p.field}): {p.message}",
                "field": p.field,
            }
            for p in report.problems
        ],
        "report": report.model_dump(mode="json"),
    }


# --- routes -----------------------------------------------------------------------------


async def _mine(request: Request, actor: Actor, migration_id: str) -> Migration:
    async with db_of(request).session() as s:
        m = await store.find(
            s, migration_id, actor.partner_org_id, actor.sub_partner_org_id, actor.customer_id
        )
    if m is None:
        raise not_found("migration")
    return m


async def _into(request: Request, actor: Actor, body: MigrationRequest) -> WholesaleCustomer | None:
    """The existing customer the users go to: ``customerId`` (one the caller sees), a
    customer admin's own by default; none: a new customer from ``provisioningId``."""
    wanted = body.customer_id or actor.customer_id
    if wanted is None:
        if not body.provisioning_id:
            raise RuleError([bad("PX-8", "provisioningId", "an onboarding template is needed")])
        return None
    async with db_of(request).session() as s:
        c = await visible_customer(s, actor.scope, wanted)
    if c is None:
        raise not_found("customer")  # another partner's, or another customer's for an admin
    return c


@router.post("/precheck", response_model=PrecheckReport)
async def precheck(
    request: Request,
    body: MigrationRequest,
    actor: Actor = Depends(acting(WRITE, customer_admin=ALLOWED)),
) -> PrecheckReport:
    """Every problem of the file, by user and field, and its conflicts with what exists
    (WH-S3); nothing is written. ``ok`` false: the file would not start."""
    into = await _into(request, actor, body)
    async with db_of(request).session() as s:
        report, _ = await store.precheck(
            s, body.export, actor.partner_org_id, body.provisioning_id or "", into
        )
    return report


@router.post("", status_code=202)
async def start(
    request: Request,
    body: MigrationRequest,
    actor: Actor = Depends(acting(WRITE, change=True, customer_admin=START)),
) -> JSONResponse:
    """Start a migration: 202 with its ID at once; 409 with every blocking problem. A
    customer admin's token of a restricted customer: 403 WH-M3, nothing written."""
    st = request.app.state
    into = await _into(request, actor, body)
    try:
        m, _ = await start_migration(
            st.client,
            db_of(request),
            st.settings,
            body.export,
            partner_org_id=actor.partner_org_id,
            sub_partner_org_id=into.sub_partner_org_id if into else actor.sub_partner_org_id,
            provisioning_id=into.provisioning_id if into else body.provisioning_id or "",
            task_queue=st.task_queue,
            started_by=actor.token_id,
            customer_id=into.id if into else None,
        )
    except store.MigrationRefused as err:
        return JSONResponse(refused_body(err.report), status_code=409)
    url = str(request.url_for("get_migration", migrationId=m.workflow_id))
    return JSONResponse(
        {"id": m.workflow_id, "url": url}, status_code=202, headers={"Location": url}
    )


MigrationId = Annotated[str, Path(alias="migrationId", max_length=200)]
Reader = Depends(acting(READ, customer_admin=ALLOWED))


@router.get("/{migrationId}", response_model=MigrationProgress, name="get_migration")
async def get_migration(
    request: Request, migration_id: MigrationId, actor: Actor = Reader
) -> MigrationProgress:
    """Phase, users done / failed / left, rate and time left (the ``progress`` query)."""
    m = await _mine(request, actor, migration_id)
    return await status_of(request.app.state.client, db_of(request), m)


@router.get("/{migrationId}/users")
async def list_users(
    request: Request,
    migration_id: MigrationId,
    state: Annotated[str | None, Query(max_length=16)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    max_: Annotated[int, Query(alias="max", ge=1, le=1000)] = 100,
    actor: Actor = Reader,
) -> dict[str, Any]:
    """WH-M1's review: each user's package, number, state and reason, phones and clients."""
    m = await _mine(request, actor, migration_id)
    rows = await store.user_rows(db_of(request), m.id, state=state, offset=offset, limit=max_)
    return {"items": rows}


@router.get("/{migrationId}/report", response_class=PlainTextResponse)
async def report(
    request: Request, migration_id: MigrationId, actor: Actor = Reader
) -> PlainTextResponse:
    """The per-user result report (CSV)."""
    m = await _mine(request, actor, migration_id)
    rows = await store.user_rows(db_of(request), m.id)
    return PlainTextResponse(
        to_csv(rows),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{m.external_id}.csv"'},
    )


@router.post("/{migrationId}/approve", status_code=202)
async def approve(
    request: Request,
    migration_id: MigrationId,
    body: Decision | None = None,
    actor: Actor = Depends(acting(WRITE, change=True, customer_admin=DECIDE)),
) -> dict[str, Any]:
    """WH-M1: the admin reviewed the provisioned data; cut over."""
    m = await _mine(request, actor, migration_id)
    b = body or Decision()
    res = await decide(
        request.app.state.client, m, BroadWorksMigration.approve, {"by": b.by or actor.token_id}
    )
    return res.model_dump(mode="json")


@router.post("/{migrationId}/rollback", status_code=202)
async def rollback(
    request: Request,
    migration_id: MigrationId,
    body: Decision | None = None,
    actor: Actor = Depends(acting(WRITE, change=True, customer_admin=DECIDE)),
) -> dict[str, Any]:
    """Remove what the migration created, and nothing else."""
    m = await _mine(request, actor, migration_id)
    b = body or Decision()
    res = await decide(
        request.app.state.client,
        m,
        BroadWorksMigration.rollback,
        {"by": b.by or actor.token_id, "reason": b.note},
    )
    return res.model_dump(mode="json")

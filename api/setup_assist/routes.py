"""``/v1/wholesale/setupAssist/projects``: submit a Setup Assist request for one customer
location (WH-A1, WH-A2, WH-A7), read and list projects, complete a task (WH-A3, WH-A6),
request information from the partner and answer it (WH-A4), and the project's timeline as
a PNG. Same conventions as the wholesale API: bearer tokens with the customer scopes,
camelCase fields, ``{errorCode, description, errors[].field}`` refusals naming the rule."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from api.auth import Actor, acting, db_of
from api.errors import ERROR_RESPONSES, not_found
from api.setup_assist.service import (
    camel,
    camel_fields,
    parse,
    project_view,
    submit_project,
    update_project,
)
from models.common.types import WEBEX_ID_MAX
from models.setup_assist import store
from models.setup_assist.contract import (
    ID_PATTERN,
    AnswerInformation,
    CamelCommand,
    CompleteTask,
    Owner,
    RequestInformation,
    SubmitRequest,
)

router = APIRouter(
    prefix="/v1/wholesale/setupAssist", tags=["Setup Assist"], responses=ERROR_RESPONSES
)

READ, WRITE = "wholesale_customers_read", "wholesale_customers_write"
LocationId = Annotated[
    str, Path(alias="locationId", min_length=1, max_length=WEBEX_ID_MAX, pattern=ID_PATTERN)
]


class TaskDone(CamelCommand):
    """Body of a completed task: who did it, a note, the Express call's minutes."""

    who: Owner
    note: str = Field(min_length=1, max_length=2000)
    call_minutes: int | None = Field(None, ge=1, le=1440)


class Answer(CamelCommand):
    note: str = Field(min_length=1, max_length=2000)


def _scope(actor: Actor) -> store.Scope:
    return store.Scope(actor.partner_org_id, actor.sub_partner_org_id)


async def _view(request: Request, actor: Actor, location_id: str) -> dict[str, Any]:
    async with db_of(request).session() as s:
        row = await store.get_project(s, _scope(actor), location_id)
    if row is None:
        raise not_found("Setup Assist project")
    return camel(project_view(row))


async def _visible(request: Request, actor: Actor, location_id: str) -> None:
    async with db_of(request).session() as s:
        if await store.get_project(s, _scope(actor), location_id) is None:
            raise not_found("Setup Assist project")


@router.post("/projects", status_code=201, summary="Submit a Setup Assist request")
async def submit(
    request: Request,
    payload: Annotated[dict[str, Any], Body(description="SubmitRequest (camelCase).")],
    actor: Actor = Depends(acting(WRITE, change=True)),
) -> JSONResponse:
    """WH-A2: partnerOrgId, customerOrgId, subscriptionId, numberOfLocations, locationId,
    completionDate (at least six business days away in the location's country),
    optionally requesterEmail and sendCopy. Express or Standard follows from the seats the
    store knows (WH-A1); one project per location (WH-A7)."""
    st = request.app.state
    with camel_fields():
        req = parse(SubmitRequest, payload, "WH-A2")
        inp = await submit_project(
            st.client,
            db_of(request),
            st.settings.setup_assist_policy(),
            req,
            _scope(actor),
            task_queue=st.task_queue,
        )
    url = str(request.url_for("get_setup_assist_project", locationId=inp.location_id))
    body = await _view(request, actor, inp.location_id)
    return JSONResponse(body, status_code=201, headers={"Location": url})


@router.get("/projects", summary="List Setup Assist projects")
async def list_projects(
    request: Request,
    customer_org_id: Annotated[
        str | None, Query(alias="customerOrgId", max_length=WEBEX_ID_MAX)
    ] = None,
    state: Annotated[str | None, Query(max_length=16)] = None,
    flow: Annotated[str | None, Query(max_length=16)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    max_: Annotated[int, Query(alias="max", ge=1, le=100)] = 100,
    actor: Actor = Depends(acting(READ)),
) -> JSONResponse:
    async with db_of(request).session() as s:
        rows = await store.list_projects(
            s,
            _scope(actor),
            customer_org_id=customer_org_id,
            state=state,
            flow=flow,
            offset=offset,
            max_=max_,
        )
    return JSONResponse({"items": [camel(project_view(r)) for r in rows]})


@router.get("/projects/{locationId}", name="get_setup_assist_project", summary="Get a project")
async def get_project(
    request: Request, location_id: LocationId, actor: Actor = Depends(acting(READ))
) -> JSONResponse:
    """Phases planned against actual, the open tasks and who owes each, information
    requests and their due dates."""
    return JSONResponse(await _view(request, actor, location_id))


@router.post("/projects/{locationId}/tasks/{taskId}/complete", summary="Complete a task")
async def complete_task(
    request: Request,
    location_id: LocationId,
    task_id: Annotated[str, Path(alias="taskId", max_length=8)],
    payload: Annotated[dict[str, Any], Body(description="{who, note, callMinutes?}")],
    actor: Actor = Depends(acting(WRITE, change=True)),
) -> JSONResponse:
    """WH-A3: only the current phase's tasks, by the one who owes it; WH-A6: the Express
    customer call is at most one hour (``callMinutes``)."""
    await _visible(request, actor, location_id)
    with camel_fields():
        body = parse(TaskDone, payload, "WH-A3")
        cmd = parse(CompleteTask, {"taskId": task_id, **body.model_dump(by_alias=True)}, "WH-A3")
        result = await update_project(request.app.state.client, location_id, "complete_task", cmd)
    return JSONResponse(
        {
            "result": camel(result.model_dump(mode="json")),
            **await _view(request, actor, location_id),
        }
    )


@router.post(
    "/projects/{locationId}/informationRequests",
    status_code=201,
    summary="Request information from the partner",
)
async def request_information(
    request: Request,
    location_id: LocationId,
    payload: Annotated[dict[str, Any], Body(description="{topic}")],
    actor: Actor = Depends(acting(WRITE, change=True)),
) -> JSONResponse:
    """WH-A4: due in two business days of the location's country; a reminder on the due
    day, an escalation after it."""
    await _visible(request, actor, location_id)
    cmd = parse(RequestInformation, payload, "WH-A4")
    result = await update_project(request.app.state.client, location_id, "request_information", cmd)
    return JSONResponse(camel(result.model_dump(mode="json")), status_code=201)


@router.post(
    "/projects/{locationId}/informationRequests/{number}/answer",
    summary="Answer an information request",
)
async def answer_information(
    request: Request,
    location_id: LocationId,
    number: Annotated[int, Path(ge=1, le=10_000)],
    payload: Annotated[dict[str, Any], Body(description="{note}")],
    actor: Actor = Depends(acting(WRITE, change=True)),
) -> JSONResponse:
    await _visible(request, actor, location_id)
    body = parse(Answer, payload, "WH-A4")
    cmd = AnswerInformation(number=number, note=body.note)
    cmd = parse(AnswerInformation, cmd.model_dump(mode="json"), "WH-A4")
    result = await update_project(request.app.state.client, location_id, "answer_information", cmd)
    return JSONResponse(camel(result.model_dump(mode="json")))


@router.get(
    "/projects/{locationId}/timeline.png",
    summary="The project's timeline (PNG)",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
async def timeline(
    request: Request, location_id: LocationId, actor: Actor = Depends(acting(READ))
) -> Response:
    """Phases planned against actual in business days, what is late, the information
    requests' due dates."""
    from models.setup_assist.timeline import render_png

    async with db_of(request).session() as s:
        row = await store.get_project(s, _scope(actor), location_id)
    if row is None or not row.status:
        raise not_found("Setup Assist project")
    return Response(render_png(row.status), media_type="image/png")

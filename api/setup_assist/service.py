"""What the API, the CLI and the demo do with a Setup Assist project: submit it (the store's
rules, then the workflow's start), send it an update, read it. Refusals are ``RuleError``s
naming rule and field, whichever layer refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from models.common.db import Database
from models.common.refusal import RuleError, Violation
from models.setup_assist import store
from models.setup_assist.contract import (
    ProjectInput,
    SetupAssistPolicy,
    SubmitRequest,
    UpdateResult,
    setup_assist_workflow_id,
)
from models.setup_assist.tables import SetupAssistProject
from workers.starter import start_lifecycle
from workflows.setup_assist.workflow import SetupAssistProject as ProjectWorkflow

# Workflow refusals about what the caller sent (400); the others are about the project's
# state (409).
REQUEST_FIELDS = frozenset({"who", "call_minutes", "note", "topic", "input"})


def parse(model: type[BaseModel], payload: Any, rule: str) -> Any:
    """A command from JSON, strictly; every bad field is a violation of ``rule``."""
    try:
        return model.model_validate_json(json.dumps(payload, default=str), strict=True)
    except ValidationError as err:
        raise RuleError(
            [
                Violation(
                    rule,
                    ".".join(str(p) for p in e["loc"]) or "body",
                    "unknown field" if e["type"] == "extra_forbidden" else e["msg"],
                    store.REFUSED,
                    400,
                )
                for e in err.errors()
            ]
        ) from None


@contextmanager
def camel_fields() -> Iterator[None]:
    """A refusal leaving the HTTP API names its fields as the API's bodies do (camelCase)."""
    try:
        yield
    except RuleError as err:
        raise RuleError(
            [
                Violation(
                    v.rule,
                    ".".join(_camel(p) for p in v.field.split(".")),
                    v.message,
                    v.code,
                    v.status,
                )
                for v in err.violations
            ]
        ) from None


async def submit_project(
    client: Client,
    db: Database,
    policy: SetupAssistPolicy,
    req: SubmitRequest,
    scope: store.Scope,
    *,
    task_queue: str,
    today: date | None = None,
) -> ProjectInput:
    """WH-A1/A2/A7 checked and the location reserved in one transaction, then the project's
    workflow started (a retried start attaches to the running one)."""
    inp = await store.submit(db, req, scope, policy, today)
    try:
        await start_lifecycle(
            client,
            ProjectWorkflow.run,
            inp,
            id=setup_assist_workflow_id(inp.location_id),
            task_queue=task_queue,
            state="in_progress",
            partner_org_id=inp.partner_org_id,
            customer_org_id=inp.customer_org_id,
            summary=(
                f"Setup Assist {inp.flow}: location {inp.location_id}, {inp.seats} seats, "
                f"{inp.country}, completion {inp.completion_date}"
            ),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:  # a closed project of this location (WH-A7)
        raise RuleError.one(
            "WH-A7",
            "location_id",
            "this location already had a project",
            code=store.PROJECT_EXISTS,
            status=409,
        ) from None
    return inp


async def update_project(
    client: Client, location_id: str, update: str, payload: BaseModel
) -> UpdateResult:
    """Send one update; a refusal comes back as a ``RuleError`` with its rule and field."""
    handle = client.get_workflow_handle(setup_assist_workflow_id(location_id))
    try:
        return await handle.execute_update(
            update, payload.model_dump(mode="json"), result_type=UpdateResult
        )
    except WorkflowUpdateFailedError as err:
        refusal = RuleError.from_failure(err, code=store.NOT_NOW, status=409)
        if refusal is None:
            raise
        raise RuleError(
            [
                Violation(
                    v.rule,
                    v.field,
                    v.message,
                    store.REFUSED if v.field in REQUEST_FIELDS else store.NOT_NOW,
                    400 if v.field in REQUEST_FIELDS else 409,
                )
                for v in refusal.violations
            ]
        ) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise RuleError.one(
                "WH-A3",
                "state",
                "the project is closed (or was never started)",
                code=store.NOT_NOW,
                status=409,
            ) from None
        raise


def project_view(row: SetupAssistProject) -> dict[str, Any]:
    """The project as the read model has it (the workflow's last published status)."""
    if row.status:
        return dict(row.status)
    return {
        "project_id": row.id,
        "location_id": row.location_id,
        "flow": row.flow,
        "seats": row.seats,
        "state": row.state,
        "partner_org_id": row.partner_org_id,
        "customer_org_id": row.customer_org_id,
        "customer_id": row.customer_id,
        "country": row.country,
        "submitted_on": row.submitted_on.isoformat(),
        "completion_date": row.completion_date.isoformat(),
        "owed_by": list(row.owed_by),
    }


def camel(obj: Any) -> Any:
    """snake_case keys to camelCase, recursively (the API's field names)."""
    if isinstance(obj, dict):
        return {_camel(k): camel(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [camel(v) for v in obj]
    return obj


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)

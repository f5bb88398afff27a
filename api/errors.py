"""Error bodies as Webex answers them: ``{errorCode, description}``, plus ``errors`` (each
with the ``field`` it is about) when there are several, and a ``trackingId``.

The one place a refusal (``RuleError``, models/common/refusal.py) becomes an HTTP answer:
its status, the first violation's errorCode, every violation's description and field."""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Mapping

import psycopg
import sqlalchemy.exc
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from temporalio.service import RPCError, RPCStatusCode

from models.common.refusal import RuleError, Violation
from models.wholesale import problems as P

log = structlog.get_logger("api")


class ErrorItem(BaseModel):
    errorCode: int = Field(description="Identifies the reason for the error.")
    description: str
    field: str | None = Field(None, description="The request field the error is about.")


class ErrorBody(BaseModel):
    model_config = ConfigDict(title="Error")

    errorCode: int = Field(description="Identifies the reason for the error.")
    description: str = Field(description="What went wrong, naming the rule and the field.")
    errors: list[ErrorItem] = Field(default_factory=list)
    trackingId: str = ""


ERROR_RESPONSES: dict[int | str, dict] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "The request is invalid: the description names the field."),
        (401, "No valid bearer token."),
        (403, "The token lacks the scope, or the sub-partner is suspended (PX-6)."),
        (404, "No such resource visible to this token."),
        (409, "The request conflicts with what exists."),
        (429, "Too many requests: retry after the Retry-After seconds."),
        (503, "A service the request needs is not answering: retry after Retry-After."),
    )
}


class ApiError(Exception):
    def __init__(
        self, status: int, code: int, description: str, headers: dict | None = None
    ) -> None:
        self.status, self.code, self.description, self.headers = status, code, description, headers
        super().__init__(description)


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, P.NOT_FOUND, f"no such {what}")


RETRY_AFTER_SECONDS = 5
# Errors that mean "not now": the database's connection lost or refused (a restart), a
# serialization failure or deadlock (psycopg's TransactionRollback is an OperationalError).
UNAVAILABLE: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)
TEMPORAL_AWAY = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)


def unavailable(what: str) -> ApiError:
    """503: nothing was changed; the same request may be sent again."""
    return ApiError(
        503,
        P.UNAVAILABLE,
        f"{what} is not answering; nothing was changed, retry later",
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def error_response(
    status: int,
    code: int,
    description: str,
    problems: list[Violation] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(
        errorCode=code,
        description=description,
        errors=[
            ErrorItem(errorCode=p.error_code, description=p.description, field=p.field)
            for p in problems or []
        ],
        trackingId=f"LC_{uuid.uuid4()}",
    )
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def refused_response(err: RuleError) -> JSONResponse:
    first = err.violations[0]
    return error_response(err.status, first.error_code, str(err), err.violations)


def _field(loc: tuple) -> str:
    parts = [str(x) for x in loc if x not in ("body", "query", "path", "header")]
    return ".".join(parts) or (loc[0] if loc else "body")


def validation_problems(exc: RequestValidationError) -> list[Violation]:
    out = []
    for e in exc.errors():
        loc = tuple(e.get("loc", ()))
        name = _field(loc) if e.get("type") != "json_invalid" else "body"
        msg = e.get("msg", "invalid")
        if e.get("type") == "extra_forbidden":
            msg = "unknown field"
        out.append(P.bad("", name, msg))
    return out or [P.bad("", "body", "invalid request")]


def crash_fields(exc: BaseException) -> dict[str, object]:
    """What a log may say of an unexpected error: its type, where it happened, and for a
    database error its SQLSTATE and constraint. Never its text: SQL errors quote the
    statement's values (customers' emails and company names), validation errors the input
    (issue 9)."""
    fields: dict[str, object] = {
        "error": type(exc).__name__,
        "at": [
            f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}"
            for f in traceback.extract_tb(exc.__traceback__)[-4:]
        ],
    }
    orig = getattr(exc, "orig", None)
    if orig is not None:
        fields["sqlstate"] = getattr(orig, "sqlstate", None)
        fields["constraint"] = getattr(getattr(orig, "diag", None), "constraint_name", None)
    return fields


def allowed_methods(request: Request) -> str:
    """RFC 9110: a 405 names the methods the target resource supports. Starlette names only
    those of the first route whose path matched; a path may have several routes."""
    allowed = []
    for method in ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"):
        scope = {**request.scope, "method": method}
        if any(r.matches(scope)[0] == Match.FULL for r in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.description, headers=exc.headers)

    @app.exception_handler(RuleError)
    async def _refused(request: Request, exc: RuleError) -> JSONResponse:
        return refused_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            # FastAPI decodes the body before any dependency runs: a route that needs a
            # token answers 401 before it says anything of a body it should not read.
            from api.auth import refused_before_body

            if (refusal := await refused_before_body(request)) is not None:
                return error_response(
                    refusal.status, refusal.code, refusal.description, headers=refusal.headers
                )
        problems = validation_problems(exc)
        return error_response(400, P.INVALID, "; ".join(p.description for p in problems), problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: P.NOT_FOUND, 401: P.UNAUTHORIZED, 403: P.FORBIDDEN}.get(
            exc.status_code, P.INVALID
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method the path serves, not one route's
            headers["Allow"] = allowed_methods(request)
        return error_response(exc.status_code, code, str(exc.detail), headers=headers)

    async def _away(request: Request, exc: Exception) -> JSONResponse:
        """PostgreSQL or Temporal not answering (a restart, a failover): 503 with
        Retry-After, as a client should retry, never a 500 (issue 9, the fault campaign)."""
        log.warning("dependency unavailable", path=request.url.path, **crash_fields(exc))
        return error_response(
            503,
            P.UNAVAILABLE,
            "a service this API needs is not answering; retry later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    for away in UNAVAILABLE:
        app.add_exception_handler(away, _away)

    @app.exception_handler(RPCError)
    async def _rpc(request: Request, exc: RPCError) -> JSONResponse:
        if exc.status in TEMPORAL_AWAY:
            return await _away(request, exc)
        return await _crash(request, exc)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.error("request failed", path=request.url.path, **crash_fields(exc))
        return error_response(500, 10500, "internal error")

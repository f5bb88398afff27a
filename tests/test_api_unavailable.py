"""PostgreSQL or Temporal away (a restart, as the fault campaign makes one): the API answers
503 with Retry-After, as a client should retry, never a 500 (issue 9)."""

from __future__ import annotations

import socket

import httpx
from fastapi import FastAPI
from temporalio.service import RPCError, RPCStatusCode

from api import errors
from api.app import create_app
from models.common.db import Database
from workers.settings import Settings


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once closed


async def test_px_3_database_away_is_503_with_retry_after() -> None:
    """PX-3 (the API answers what it can): a database that refuses connections."""
    url = f"postgresql://nobody@127.0.0.1:{_closed_port()}/nothing"
    db = Database(url, pool_size=1)
    app = create_app(Settings(), url, db=db, client=object())  # type: ignore[arg-type]  # unused
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test"
        ) as http:
            r = await http.get(
                "/v1/wholesale/customers", headers={"Authorization": "Bearer whatever"}
            )
    finally:
        await db.dispose()
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == str(errors.RETRY_AFTER_SECONDS)
    assert r.json()["errorCode"] == errors.P.UNAVAILABLE


async def test_px_3_temporal_away_is_503_and_another_rpc_error_500() -> None:
    """PX-3: Temporal unreachable (UNAVAILABLE, DEADLINE_EXCEEDED) is 503 wherever a route
    did not answer it itself; any other RPC error stays an internal error."""
    app = FastAPI()
    errors.install(app)

    @app.get("/away")
    async def away() -> None:
        raise RPCError("tcp connect error", RPCStatusCode.UNAVAILABLE, b"")

    @app.get("/broken")
    async def broken() -> None:
        raise RPCError("bad", RPCStatusCode.INVALID_ARGUMENT, b"")

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://api.test",
    ) as http:
        r = await http.get("/away")
        assert r.status_code == 503 and r.headers["Retry-After"], r.text
        r = await http.get("/broken")
        assert r.status_code == 500, r.text

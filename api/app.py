"""The HTTP API (FastAPI): Webex-Wholesale-shaped endpoints in front of the lifecycles.

``create_app(settings, db_url)`` builds it (``lifecycles dev`` serves it beside the worker);
``serve(settings)`` runs it alone (``lifecycles api``). Swagger UI at ``/docs``, offline
(api/docs.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.client import Client

from api import codec, docs, errors
from api.auth import RateLimiter
from api.billing import routes as billing_routes
from api.customers import routes as customers_routes
from api.migration import routes as migration
from api.orders import routes as orders_routes
from api.orders import web as orders_web
from api.setup_assist import routes as setup_assist_routes
from api.wholesale import customers, partners, restricted, subscribers
from models.common.db import Database
from models.common.mail import Mailer
from models.wholesale import problems as P
from workers.settings import Settings

DESCRIPTION = """\
Machine-to-machine provisioning for a service provider's back office, shaped like Cisco's
Webex Wholesale API (paths, camelCase fields, status values, `{errorCode, description}`
errors). Every call carries `Authorization: Bearer <token>` (`lifecycles token create`).
Customer provisioning, update and removal answer 202 with a `Location` at once and finish
in the customer's Temporal workflow (PX-3). Retried requests are safe: the same `externalId`
(customers), email (subscribers) or `Idempotency-Key` header never provisions twice.
"""


def create_app(
    settings: Settings,
    db_url: str,
    *,
    client: Client | None = None,
    db: Database | None = None,
    mailer: Mailer | None = None,
    task_queue: str | None = None,
) -> FastAPI:
    """The app. ``client``/``db`` are made at start-up unless given (tests give them)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned_db = owned_client = False
        if getattr(app.state, "db", None) is None:
            # 40 kept, none opened and closed again: under a burst's 50 requests in flight,
            # 20 + 20 overflow opened a PostgreSQL backend per checkout (issue 14, P2)
            app.state.db = Database(db_url, pool_size=40, max_overflow=0)
            owned_db = True
        if getattr(app.state, "client", None) is None:
            from workers.client import connect

            app.state.client = await connect(settings)
            owned_client = True
        reconciler = asyncio.create_task(_reconcile_forever(app))  # issue 9: no orphan rows
        try:
            yield
        finally:
            reconciler.cancel()
            if owned_db:
                await app.state.db.dispose()
                app.state.db = None
            if owned_client:
                app.state.client = None

    app = FastAPI(
        title="webex-lifecycles wholesale API",
        version="1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # api/docs.py serves /docs from local assets (offline)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.client = client
    app.state.mailer = mailer or Mailer.from_settings(settings)
    app.state.task_queue = task_queue or settings.task_queue
    app.state.limiter = RateLimiter(
        settings.wholesale_api_rate_per_second, settings.wholesale_api_burst
    )
    errors.install(app)
    docs.install(app)

    app.add_middleware(RefuseNul)

    app.include_router(customers.router)
    app.include_router(restricted.router)  # WH-C6
    app.include_router(subscribers.router)
    app.include_router(partners.router)
    app.include_router(migration.router)
    app.include_router(billing_routes.router)
    app.include_router(orders_routes.router)
    app.include_router(orders_web.router)  # the set-up link's web wizard (SO-3..SO-13)
    app.include_router(setup_assist_routes.router)
    app.include_router(customers_routes.router)
    app.mount("/codec", codec.create(settings))  # the Temporal UI's / CLI's remote codec
    return app


class RefuseNul:
    """PostgreSQL text cannot hold NUL: refuse it in the path or query (400). Plain ASGI: an
    ``@app.middleware("http")`` runs every request through a task and streams of its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")
        ):
            response = errors.error_response(400, P.INVALID, "the URL contains a NUL character")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _reconcile_forever(app: FastAPI) -> None:
    """Start the workflow of any wholesale customer row a crashed request left without one
    (api/wholesale/reconcile.py), every minute while the API runs."""
    from api.wholesale.reconcile import RECONCILE_EVERY, reconcile_customers

    while True:
        await asyncio.sleep(RECONCILE_EVERY)
        try:
            st = app.state
            await reconcile_customers(st.client, st.db, st.settings, st.task_queue)
        except Exception as err:  # Temporal or PostgreSQL away: try again next minute
            structlog.get_logger("api").warning("reconcile failed", error=type(err).__name__)


def serve(settings: Settings, database_url: str) -> None:
    """Run the API alone (``lifecycles api``) against ``database_url``."""
    import uvicorn

    from workers.logging import configure_logging

    configure_logging(settings.log_format, settings.log_level)
    host, _, port = settings.api_bind.rpartition(":")
    app = create_app(settings, database_url)
    uvicorn.run(app, host=host or "127.0.0.1", port=int(port), log_config=None)

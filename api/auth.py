"""Bearer tokens (stored hashed, with scopes) of partner admins and of customer admins,
sub-partner scoping (WH-SP1, PX-6), restricted-by-partner mode (WH-C6, WH-M3), a per-token
rate limit (429) and idempotent retries (``Idempotency-Key``).

A customer admin's token (``lifecycles token create --customer``) sees its own wholesale
customer only (another one is answered as unknown), reaches only the routes that say how
they treat it (``CustomerAdmin``; every other route answers 403), and is refused, naming
the rule and the field, what WH-C6 restricts while the customer's partner keeps the
customer restricted.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from models.common.db import Database
from models.common.refusal import RuleError, Violation
from models.wholesale import problems as P
from models.wholesale.store import REMEMBER_SQL, Remembered, Scope, hash_token, request_hash
from models.wholesale.tables import WholesaleSubPartner

bearer = HTTPBearer(auto_error=False, description="A token from `lifecycles token create`.")


@dataclass
class Actor:
    token_id: str
    partner_org_id: str
    sub_partner_org_id: str | None
    scopes: frozenset[str]
    suspended: bool = False
    customer_id: str | None = None  # a customer admin's token: its one customer
    restricted: bool = False  # WH-C6: that customer's restricted-by-partner mode, now

    @property
    def customer_admin(self) -> bool:
        return self.customer_id is not None

    @property
    def owner(self) -> str:
        return self.customer_id or self.sub_partner_org_id or self.partner_org_id

    @property
    def scope(self) -> Scope:
        return Scope(self.partner_org_id, self.sub_partner_org_id, self.customer_id)


@dataclass(frozen=True)
class CustomerAdmin:
    """How a route treats a customer admin's token: allowed (``rule`` empty), or refused
    while its customer is restricted by its partner, naming ``rule`` and ``field`` (the
    request field that would change what the rule restricts)."""

    rule: str = ""
    field: str = ""
    action: str = ""


ALLOWED = CustomerAdmin()  # e.g. reads of its own customer


def restricted(rule: str, field: str, action: str) -> CustomerAdmin:
    return CustomerAdmin(rule, field, action)


@dataclass
class Bucket:
    tokens: float
    at: float = field(default_factory=time.monotonic)


class RateLimiter:
    """A token bucket per API token, in memory (one per API process)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.buckets: dict[str, Bucket] = {}

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds to wait."""
        now = time.monotonic()
        b = self.buckets.setdefault(key, Bucket(float(self.burst), now))
        b.tokens = min(self.burst, b.tokens + (now - b.at) * self.rate)
        b.at = now
        if b.tokens >= 1:
            b.tokens -= 1
            return 0.0
        return (1 - b.tokens) / self.rate


def db_of(request: Request) -> Database:
    return request.app.state.db


# One round trip per request (autocommit, no ORM): the token, its sub-partner's state, a
# customer admin's customer, and the stored answer of an earlier request with the same
# Idempotency-Key under the token's own owner (``replay`` then needs no query of its own).
AUTH_SQL = """
SELECT t.id, t.partner_org_id, t.sub_partner_org_id, t.scopes, t.kind,
       t.revoked_at IS NOT NULL, sp.provisioning_state,
       c.id, c.org_id IS NOT NULL, c.status, c.restricted_by_partner,
       k.request_hash, k.status_code, k.body, k.location
FROM wholesale_api_token t
LEFT JOIN wholesale_sub_partner sp ON sp.org_id = t.sub_partner_org_id
LEFT JOIN wholesale_customer c ON t.kind = 'customer_admin' AND c.id = t.customer_id
LEFT JOIN wholesale_idempotency_key k
  ON k.key = %(key)s AND k.owner = coalesce(c.id, t.sub_partner_org_id, t.partner_org_id)
WHERE t.token_hash = %(hash)s
"""


@dataclass(frozen=True)
class StoredAnswer:
    """An earlier request's answer under (owner, Idempotency-Key)."""

    owner: str
    key: str
    request_hash: str | None = None  # None: no earlier request with this key
    status_code: int = 0
    body: object = None
    location: str | None = None


def _not_valid() -> ApiError:
    return ApiError(401, P.UNAUTHORIZED, "the token is not valid", {"WWW-Authenticate": "Bearer"})


class Lease:
    """The connection the token was read on, kept for the route's one statement or
    transaction (issue 14, P2): one pool checkout per request instead of two. ``use()``
    hands it out once and gives it back after; whatever happens, the request's end gives it
    back (``leased``). Never held while another checkout is awaited: ``on_behalf`` gives it
    back before its own query, and a store function that needs more takes its own after."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cm: AbstractAsyncContextManager[Any] | None = None
        self._pg: Any = None

    async def open(self) -> Any:
        cm = self.db.autocommit()
        self._pg = await cm.__aenter__()
        self._cm = cm
        return self._pg

    async def release(self) -> None:
        cm, self._cm, self._pg = self._cm, None, None
        if cm is not None:
            await cm.__aexit__(None, None, None)

    @asynccontextmanager
    async def use(self) -> AsyncIterator[Any]:
        """The kept connection (autocommit, as ``Database.autocommit``), or a checkout of its
        own when it was given back already; back in the pool afterwards."""
        if self._cm is None:
            async with self.db.autocommit() as pg:
                yield pg
            return
        try:
            yield self._pg
        finally:
            await self.release()


async def leased(request: Request) -> AsyncIterator[Lease]:
    lease = Lease(db_of(request))
    request.state.lease = lease
    try:
        yield lease
    finally:
        await lease.release()


def lease_of(request: Request) -> Lease | None:
    """The request's kept connection (routes built with ``acting(..., keep=True)``)."""
    return getattr(request.state, "lease", None)


async def authenticate(
    request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Actor:
    return await _authenticate(request, creds, None)


async def authenticate_keeping(
    request: Request,
    creds: HTTPAuthorizationCredentials | None = Depends(bearer),
    lease: Lease = Depends(leased),
) -> Actor:
    """``authenticate``, keeping its connection for the route (``lease_of``)."""
    return await _authenticate(request, creds, lease)


async def _authenticate(
    request: Request, creds: HTTPAuthorizationCredentials | None, lease: Lease | None
) -> Actor:
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise ApiError(
            401, P.UNAUTHORIZED, "a bearer token is required", {"WWW-Authenticate": "Bearer"}
        )
    key = idempotency_key(request) if request.method != "GET" else None
    params = {"hash": hash_token(creds.credentials), "key": key}
    if lease is None:
        async with db_of(request).autocommit() as pg:
            row = await (await pg.execute(AUTH_SQL, params)).fetchone()
    else:
        try:
            pg = await lease.open()
            row = await (await pg.execute(AUTH_SQL, params)).fetchone()
        except BaseException:
            await lease.release()
            raise
    try:
        return _actor(request, row, key)
    except BaseException:
        if lease is not None:
            await lease.release()  # refused: nothing more to read
        raise


def _needs_token(dependant: Any) -> bool:
    return any(
        d.call in (authenticate, authenticate_keeping) or _needs_token(d)
        for d in dependant.dependencies
    )


async def refused_before_body(request: Request) -> ApiError | None:
    """The refusal a route's token check gives this request (no token, an unknown or revoked
    one), or None: asked when the body could not be decoded, which FastAPI does before the
    route's dependencies, so that an unauthenticated caller learns nothing of the body."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None or not _needs_token(dependant):
        return None
    try:
        await _authenticate(request, await bearer(request), None)
    except ApiError as err:
        return err
    return None


def _actor(request: Request, row: Any, key: str | None) -> Actor:
    if row is None:
        raise _not_valid()
    (tok_id, partner, sub_partner, scopes, kind, revoked, sp_state) = row[:7]
    (customer_id, has_org, customer_status, restricted_mode) = row[7:11]
    if revoked:
        raise _not_valid()
    if kind == "customer_admin" and (
        customer_id is None or not has_org or customer_status == "deleting"
    ):
        raise _not_valid()  # its customer was removed (or is being removed): the token is spent
    wait = request.app.state.limiter.take(tok_id)
    if wait:
        raise ApiError(
            429, P.RATE_LIMITED, "too many requests", {"Retry-After": str(max(1, round(wait)))}
        )
    actor = Actor(
        token_id=tok_id,
        partner_org_id=partner,
        sub_partner_org_id=sub_partner,
        scopes=frozenset(scopes),
        suspended=sp_state == "suspended",
        customer_id=customer_id,
        restricted=bool(customer_id and restricted_mode),
    )
    if key is not None:
        request.state.stored_answer = StoredAnswer(actor.owner, key, *row[11:15])
    return actor


async def on_behalf(request: Request, actor: Actor, sub_partner_org_id: str | None) -> Actor:
    """``onBehalfOfSubPartnerOrgId``: a partner acts as one of its sub-partners."""
    if not sub_partner_org_id or sub_partner_org_id == actor.sub_partner_org_id:
        return actor
    if actor.customer_admin:
        raise ApiError(
            403, P.PARTNER_ONLY, "onBehalfOfSubPartnerOrgId: a customer admin acts only for itself"
        )
    if actor.sub_partner_org_id:
        raise ApiError(403, P.FORBIDDEN, "WH-SP1: a sub-partner acts only for itself")
    if (lease := lease_of(request)) is not None:
        await lease.release()  # never held while waiting for another checkout
    async with db_of(request).session() as s:
        sp = await s.get(WholesaleSubPartner, sub_partner_org_id)
    if sp is None or sp.parent_org_id != actor.partner_org_id:
        raise ApiError(
            403, P.FORBIDDEN, "WH-SP1 (onBehalfOfSubPartnerOrgId): not a sub-partner of yours"
        )
    return Actor(
        token_id=actor.token_id,
        partner_org_id=actor.partner_org_id,
        sub_partner_org_id=sp.org_id,
        scopes=actor.scopes,
        suspended=sp.provisioning_state == "suspended",
    )


def require(
    actor: Actor,
    scope: str,
    *,
    change: bool = False,
    delete: bool = False,
    customer_admin: CustomerAdmin | None = None,
) -> None:
    """The token holds ``scope``; a suspended sub-partner only deletes (PX-6); a customer
    admin's token only where ``customer_admin`` says how, and not what its customer's
    restricted-by-partner mode refuses (WH-C6, WH-M3)."""
    if actor.customer_admin:
        if customer_admin is None:
            raise ApiError(
                403, P.PARTNER_ONLY, "a customer admin's token cannot do this: partner admins only"
            )
        if customer_admin.rule and actor.restricted:
            raise RuleError(
                [
                    Violation(
                        customer_admin.rule,
                        customer_admin.field,
                        "the customer is in restricted-by-partner mode: its admins cannot "
                        f"{customer_admin.action}; only its partner can, or switch the mode off",
                        P.RESTRICTED_BY_PARTNER,
                        403,
                    )
                ]
            )
    if scope not in actor.scopes:
        raise ApiError(403, P.FORBIDDEN, f"the token lacks the {scope} scope")
    if actor.suspended and change and not delete:  # PX-6
        raise ApiError(
            403, P.SUB_PARTNER_SUSPENDED, "PX-6: a suspended sub-partner can only delete"
        )


OnBehalf = Annotated[
    str | None,
    Query(
        alias="onBehalfOfSubPartnerOrgId",
        max_length=256,  # a Webex org id (about 88 characters) is answered, not refused
        description="A partner acts for one of its sub-partners.",
    ),
]


def acting(
    scope: str,
    *,
    change: bool = False,
    delete: bool = False,
    customer_admin: CustomerAdmin | None = None,
    keep: bool = False,
) -> Callable[..., Awaitable[Actor]]:
    """The dependency of a route that may act for a sub-partner: the token's actor, as the
    sub-partner named by ``onBehalfOfSubPartnerOrgId`` if any, holding ``scope`` (PX-6 for
    changes). A customer admin's token passes only where ``customer_admin`` is given, and
    not while its customer's restricted mode refuses it (``restricted(...)``). ``keep``:
    the token's connection stays checked out for the route's own statement (``lease_of``)."""

    async def actor(
        request: Request,
        on_behalf_of: OnBehalf = None,
        actor: Actor = Depends(authenticate_keeping if keep else authenticate),
    ) -> Actor:
        try:
            actor = await on_behalf(request, actor, on_behalf_of)
            require(actor, scope, change=change, delete=delete, customer_admin=customer_admin)
        except BaseException:
            if (lease := lease_of(request)) is not None:
                await lease.release()
            raise
        return actor

    return actor


# --- idempotent retries -----------------------------------------------------------------------

IDEMPOTENCY_HEADERS = ("idempotency-key", "x-request-id")


def idempotency_key(request: Request) -> str | None:
    for h in IDEMPOTENCY_HEADERS:
        if v := request.headers.get(h):
            return v[:200]
    return None


async def replay(request: Request, actor: Actor, payload: object) -> JSONResponse | None:
    """The stored answer of an earlier request with the same key, if any (read along with
    the token when the actor is the token's own)."""
    key = idempotency_key(request)
    if key is None:
        return None
    found: StoredAnswer | None = getattr(request.state, "stored_answer", None)
    if found is None or (found.owner, found.key) != (actor.owner, key):
        async with db_of(request).autocommit() as pg:
            cur = await pg.execute(
                "SELECT request_hash, status_code, body, location"
                " FROM wholesale_idempotency_key WHERE owner = %s AND key = %s",
                (actor.owner, key),
            )
            found = StoredAnswer(actor.owner, key, *((await cur.fetchone()) or ()))
    if found.request_hash is None:
        return None
    if found.request_hash != request_hash([request.method, request.url.path, payload]):
        raise ApiError(
            409, P.IDEMPOTENCY_MISMATCH, "Idempotency-Key reused for a different request"
        )
    headers = {"Location": found.location} if found.location else None
    return JSONResponse(found.body, status_code=found.status_code, headers=headers)


def to_remember(
    request: Request,
    actor: Actor,
    payload: object,
    status: int,
    body: object,
    location: str | None = None,
) -> Remembered | None:
    """The record of this request's answer for its retries; None without an Idempotency-Key.
    A route whose effect is one transaction writes it there (``provision_subscriber``)."""
    key = idempotency_key(request)
    if key is None:
        return None
    return Remembered(
        actor.owner,
        key,
        request.method,
        request.url.path,
        request_hash([request.method, request.url.path, payload]),
        status,
        body,
        location,
    )


async def remember(
    request: Request,
    actor: Actor,
    payload: object,
    status: int,
    body: object,
    location: str | None = None,
) -> None:
    """The record written on its own (a checkout of its own), after an effect that is not one
    transaction of ours (a customer's row and its workflow's start)."""
    rec = to_remember(request, actor, payload, status, body, location)
    if rec is None:
        return
    async with db_of(request).autocommit() as pg:
        await pg.execute(REMEMBER_SQL, rec.params())

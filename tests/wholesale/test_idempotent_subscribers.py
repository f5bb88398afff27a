"""POST subscriber with an Idempotency-Key: its answer is stored in the subscriber's own
transaction (issue 14, P2: one checkout fewer per request), so a retry finds the subscriber
and its answer together or neither of them."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event
from sqlmodel import select

from api import auth
from models.wholesale.store import Remembered, Scope, SubscriberSpec, provision_subscriber
from models.wholesale.tables import IdempotencyKey, WholesaleSubscriber


async def _customer(wh):
    return await wh.customer(
        packages=["webex_calling", "webex_meetings"], wait_for=("provisioned",)
    )


def _body(cid: str, email: str, extension: str = "4401") -> dict[str, object]:
    return {
        "customerId": cid,
        "email": email,
        "package": "webex_calling",
        "provisioningParameters": {"firstName": "Ann", "lastName": "Lee", "extension": extension},
    }


async def _keys(wh) -> list[IdempotencyKey]:
    async with wh.db.session() as s:
        return list((await s.exec(select(IdempotencyKey))).all())


async def test_keyed_subscriber_retry_gets_the_stored_answer(wh):
    """A retry with the same key is the first answer (status, body, Location), one subscriber;
    the key with another body is a 409; a refused request (WH-S3) stores no answer."""
    cid = await _customer(wh)
    h = {**wh.auth(), "Idempotency-Key": "sub-1"}
    first = await wh.http.post("/v1/wholesale/subscribers", json=_body(cid, "a@k.test"), headers=h)
    again = await wh.http.post("/v1/wholesale/subscribers", json=_body(cid, "a@k.test"), headers=h)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert first.headers["Location"] == again.headers["Location"]
    assert first.headers["Location"].endswith(f"/v1/wholesale/subscribers/{first.json()['id']}")
    [key] = await _keys(wh)
    assert (key.owner, key.key, key.status_code) == (wh.partner, "sub-1", 200)
    assert key.body == first.json() and key.location == first.headers["Location"]

    other = await wh.http.post("/v1/wholesale/subscribers", json=_body(cid, "b@k.test"), headers=h)
    assert other.status_code == 409  # the key was used for another request

    h2 = {**wh.auth(), "Idempotency-Key": "sub-2"}
    taken = await wh.http.post(  # WH-S3: the extension is taken in this customer
        "/v1/wholesale/subscribers", json=_body(cid, "c@k.test"), headers=h2
    )
    assert taken.status_code == 409 and taken.json()["errors"][0]["field"].endswith("extension")
    assert [k.key for k in await _keys(wh)] == ["sub-1"]
    async with wh.db.session() as s:
        subs = (await s.exec(select(WholesaleSubscriber.email))).all()
    assert sorted(subs) == ["a@k.test"]


@pytest.mark.parametrize("retry", [False, True])
async def test_subscriber_and_its_answer_commit_together(wh, retry):
    """The record is written in the subscriber's transaction: a record that cannot be
    written leaves no subscriber (the plain-SQL path) and no answer (the ORM path a retry
    takes) - there is no moment where the effect is committed and its key is not."""
    cid = await _customer(wh)
    spec = SubscriberSpec(
        customer_id=cid,
        email="t@k.test",
        package="webex_calling",
        first_name="Ann",
        last_name="Lee",
        extension="4402",
    )
    scope = Scope(wh.partner)
    if retry:  # the subscriber exists: the retry's answer is written by the ORM path
        await provision_subscriber(wh.db, None, scope, spec)  # type: ignore[arg-type]  # no mail: no PX-2 here

    def broken(sub: WholesaleSubscriber, external_id: str) -> Remembered:
        return Remembered(wh.partner, "k-broken", "POST", "/x", "h", 200, {"bad": object()})

    with pytest.raises(TypeError):
        await provision_subscriber(wh.db, None, scope, spec, answer=broken)  # type: ignore[arg-type]  # no mail
    assert await _keys(wh) == []
    async with wh.db.session() as s:
        subs = (await s.exec(select(WholesaleSubscriber.email))).all()
    assert subs == (["t@k.test"] if retry else [])


async def test_kept_connection_goes_back_on_every_answer(wh, monkeypatch):
    """The token's connection kept for POST subscriber and GET customer (one checkout per
    request) goes back to the pool whatever the answer: 200, a replay, 400, 401, 403, 404,
    409, a bad body, and acting on behalf of a sub-partner. (A forgotten connection would
    come back only when garbage-collected: each lease is checked here, not the pool.)"""
    leases: list[Tracked] = []

    class Tracked(auth.Lease):
        opened = released = 0

        def __init__(self, db) -> None:
            super().__init__(db)
            leases.append(self)

        async def open(self):
            self.opened += 1
            return await super().open()

        async def release(self) -> None:
            if self._cm is not None:
                self.released += 1
            await super().release()

    monkeypatch.setattr(auth, "Lease", Tracked)
    cid = await _customer(wh)
    h = {**wh.auth(), "Idempotency-Key": "lease-1"}
    post = "/v1/wholesale/subscribers"
    calls = [
        ("POST", post, _body(cid, "l@k.test"), h),  # 200
        ("POST", post, _body(cid, "l@k.test"), h),  # the replay
        ("POST", post, _body(cid, "m@k.test", "4401"), wh.auth()),  # 409
        ("POST", post, {**_body(cid, "n@k.test"), "package": None}, wh.auth()),  # 400
        ("POST", post, _body(cid, "o@k.test"), {"Authorization": "Bearer x"}),  # 401
        ("POST", post, _body(cid, "p@k.test"), wh.auth("read_only")),  # 403
        ("POST", post, {"customerId": 3}, wh.auth()),  # a bad body
        ("POST", post, _body("nope", "q@k.test", "4403"), wh.auth()),  # 404
        ("GET", f"/v1/wholesale/customers/{cid}", None, wh.auth()),
        ("GET", "/v1/wholesale/customers/nope", None, wh.auth()),
        ("GET", f"/v1/wholesale/customers/{cid}?onBehalfOfSubPartnerOrgId={wh.sub_a}", None,
         wh.auth()),
    ]  # fmt: skip
    codes = []
    for method, url, body, headers in calls:
        r = await wh.http.request(method, url, json=body, headers=headers)
        codes.append(r.status_code)
        if url.endswith(cid) and method == "GET":
            assert r.json()["id"] == cid
    assert codes == [200, 200, 409, 400, 401, 403, 400, 404, 200, 404, 404]
    assert [x.opened for x in leases] == [1] * len(leases) and len(leases) >= 9
    assert [x.released for x in leases] == [1] * len(leases)
    assert all(x._cm is None for x in leases)


async def test_one_pool_checkout_per_subscriber_post_and_customer_get(wh):
    """Issue 14, P2: POST subscriber (with its Idempotency-Key's answer) and GET customer take
    one connection from the pool each, the one the token was read on; POST customer still
    takes three (the token, the row, the answer after the workflow's start). Counted for
    this test's own task: the worker's activities share the pool."""
    cid = await _customer(wh)
    me = asyncio.current_task()
    mine: list[int] = []

    def checkout(*_: object) -> None:
        if asyncio.current_task() is me:
            mine.append(1)

    pool = wh.db.engine.sync_engine.pool
    event.listen(pool, "checkout", checkout)
    try:
        counts: list[int] = []
        for method, url, body in [
            ("POST", "/v1/wholesale/subscribers", _body(cid, "one@k.test")),
            ("GET", f"/v1/wholesale/customers/{cid}", None),
            ("POST", "/v1/wholesale/customers", wh.customer_body()),
        ]:
            mine.clear()
            h = {**wh.auth(), "Idempotency-Key": f"count-{len(counts)}"}
            r = await wh.http.request(method, url, json=body, headers=h)
            assert r.status_code in (200, 202)
            counts.append(len(mine))
    finally:
        event.remove(pool, "checkout", checkout)
    assert counts == [1, 1, 3]

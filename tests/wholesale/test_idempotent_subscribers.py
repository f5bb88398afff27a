"""POST subscriber with an Idempotency-Key: its answer is stored in the subscriber's own
transaction (issue 14, P2: one checkout fewer per request), so a retry finds the subscriber
and its answer together or neither of them."""

from __future__ import annotations

import pytest
from sqlmodel import select

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

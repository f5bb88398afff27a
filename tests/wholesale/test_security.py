"""Tokens (hashed, scoped), sub-partner isolation through the HTTP API (WH-SP1), suspended
sub-partners (PX-6), and another partner's customer answering 404."""

from __future__ import annotations

from sqlmodel import select

from models.wholesale.store import hash_token, set_sub_partner_state
from models.wholesale.tables import WholesaleApiToken


async def test_tokens_are_hashed_and_scoped(wh):
    """Bearer tokens of partner admins, stored hashed, with scopes."""
    r = await wh.http.get("/v1/wholesale/customers")
    assert r.status_code == 401 and r.json()["errorCode"] == 10010
    r = await wh.http.get("/v1/wholesale/customers", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    async with wh.db.session() as s:
        rows = (await s.exec(select(WholesaleApiToken))).all()
    stored = {t.token_hash for t in rows}
    assert hash_token(wh.tokens["partner"]) in stored
    assert not any(tok in stored for tok in wh.tokens.values())
    r = await wh.post_customer(who="read_only")
    assert r.status_code == 403 and "wholesale_customers_write" in r.json()["description"]
    r = await wh.http.get("/v1/wholesale/customers", headers=wh.auth("read_only"))
    assert r.status_code == 200


async def test_a_bad_token_is_refused_before_a_malformed_body_is_read(wh):
    """A POST whose body is not JSON: without a valid token it is 401 (FastAPI reads the body
    before the token check; the answer must not depend on it), with one it is 400."""
    body, json_type = b'{"orgName": ', {"Content-Type": "application/json"}
    r = await wh.http.post("/v1/wholesale/customers", content=body, headers=json_type)
    assert r.status_code == 401 and r.json()["errorCode"] == 10010
    assert r.headers["WWW-Authenticate"] == "Bearer"
    r = await wh.http.post(
        "/v1/wholesale/customers",
        content=body,
        headers={**json_type, "Authorization": "Bearer nope"},
    )
    assert r.status_code == 401
    r = await wh.http.post(
        "/v1/wholesale/customers",
        content=body,
        headers={**json_type, **wh.auth("partner")},
    )
    assert r.status_code == 400 and "body" in r.json()["description"].lower()


async def test_wh_sp1_sub_partner_sees_and_changes_only_its_customers(wh):
    """WH-SP1: a sub-partner sees and manages only the customers it onboarded, never its
    parent's or siblings'; the parent sees them all; another partner gets 404."""
    mine = await wh.customer("sub_a", wait_for=("provisioned",))
    sibling = await wh.customer("sub_b", wait_for=("provisioned",))
    parents = await wh.customer("partner", wait_for=("provisioned",))

    def ids(r):
        return sorted(i["id"] for i in r.json()["items"])

    r = await wh.http.get("/v1/wholesale/customers", headers=wh.auth("sub_a"))
    assert ids(r) == [mine]
    r = await wh.http.get("/v1/wholesale/customers", headers=wh.auth("partner"))
    assert ids(r) == sorted([mine, sibling, parents])
    r = await wh.http.get(
        "/v1/wholesale/customers",
        params={"onBehalfOfSubPartnerOrgId": wh.sub_b},
        headers=wh.auth("partner"),
    )
    assert ids(r) == [sibling]
    for other in (sibling, parents):
        for method in ("GET", "DELETE"):
            r = await wh.http.request(
                method, f"/v1/wholesale/customers/{other}", headers=wh.auth("sub_a")
            )
            assert r.status_code == 404 and other not in r.text
        r = await wh.http.put(
            f"/v1/wholesale/customers/{other}",
            json={"packages": ["webex_suite"]},
            headers=wh.auth("sub_a"),
        )
        assert r.status_code == 404
        r = await wh.subscriber(other, who="sub_a")
        assert r.status_code == 404
    r = await wh.http.get(f"/v1/wholesale/customers/{mine}", headers=wh.auth("other"))
    assert r.status_code == 404 and r.json()["description"] == "no such customer"
    r = await wh.http.get(
        "/v1/wholesale/customers",
        params={"onBehalfOfSubPartnerOrgId": wh.sub_b},
        headers=wh.auth("sub_a"),
    )
    assert r.status_code == 403
    sub = (await wh.subscriber(mine, who="sub_a")).json()
    r = await wh.http.get(f"/v1/wholesale/subscribers/{sub['id']}", headers=wh.auth("sub_b"))
    assert r.status_code == 404
    r = await wh.http.get("/v1/wholesale/subscribers", headers=wh.auth("sub_b"))
    assert r.json()["items"] == []


async def test_wh_sp1_sub_partners_listed_with_state_filter_and_paging(wh):
    """WH-SP1: sub-partners listed with a provisioning-state filter and offset/max."""
    async with wh.db.session() as s:
        await set_sub_partner_state(s, wh.sub_b, "suspended")
    r = await wh.http.get("/v1/wholesale/subPartners", headers=wh.auth())
    assert sorted(i["orgId"] for i in r.json()["items"]) == sorted([wh.sub_a, wh.sub_b])
    r = await wh.http.get(
        "/v1/wholesale/subPartners", params={"provisioningState": "suspended"}, headers=wh.auth()
    )
    assert [(i["orgId"], i["provisioningState"]) for i in r.json()["items"]] == [
        (wh.sub_b, "suspended")
    ]
    r = await wh.http.get(
        "/v1/wholesale/subPartners", params={"max": 1, "offset": 1}, headers=wh.auth()
    )
    assert len(r.json()["items"]) == 1
    r = await wh.http.get("/v1/wholesale/subPartners", headers=wh.auth("sub_a"))
    assert r.json()["items"] == []  # one level only


async def test_px6_suspended_sub_partner_can_only_delete(wh):
    """PX-6: a suspended sub-partner cannot provision or update, but can delete."""
    cid = await wh.customer("sub_a", wait_for=("provisioned",))
    sub = (await wh.subscriber(cid, who="sub_a")).json()
    async with wh.db.session() as s:
        await set_sub_partner_state(s, wh.sub_a, "suspended")
    r = await wh.post_customer("sub_a")
    assert r.status_code == 403 and "PX-6" in r.json()["description"]
    r = await wh.http.put(
        f"/v1/wholesale/customers/{cid}",
        json={"packages": ["webex_suite"]},
        headers=wh.auth("sub_a"),
    )
    assert r.status_code == 403
    assert (await wh.subscriber(cid, who="sub_a")).status_code == 403
    r = await wh.http.get(f"/v1/wholesale/customers/{cid}", headers=wh.auth("sub_a"))
    assert r.status_code == 200
    r = await wh.http.delete(f"/v1/wholesale/subscribers/{sub['id']}", headers=wh.auth("sub_a"))
    assert r.status_code == 204
    r = await wh.http.delete(f"/v1/wholesale/customers/{cid}", headers=wh.auth("sub_a"))
    assert r.status_code == 202

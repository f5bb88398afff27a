"""Against Cisco's Webex Wholesale spec (issue 9): every operation it defines is served here,
with every parameter it declares; ids of Webex's shape and length are stored, not only
accepted; the subscriber list's time filters and sort order answer as Cisco's do."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import SQLModel, col, update

import models.all_tables  # noqa: F401  # every table in the metadata
from api.app import create_app
from models.wholesale.contract import WEBEX_ID_MAX
from models.wholesale.tables import WholesaleCustomer, WholesaleSubscriber
from tests.webex import webex_id
from workers.settings import Settings

CISCO_SPEC = Path("/work/shared/reference/webex-wholesale.openapi.json")
METHODS = {"get", "post", "put", "delete", "patch"}


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_wh_c5_every_operation_and_parameter_of_ciscos_spec_is_served() -> None:
    """Each (method, path) of Cisco's spec is an operation of ours under /v1, and declares
    every query and path parameter Cisco's does (headers aside)."""
    if not CISCO_SPEC.exists():
        pytest.skip(f"no {CISCO_SPEC}")
    ours = create_app(Settings(), "postgresql://unused/unused").openapi()
    served = {
        (method, _shape(path)): {(p["name"], p["in"]) for p in op.get("parameters", [])}
        for path, ops in ours["paths"].items()
        for method, op in ops.items()
        if method in METHODS
    }
    cisco = json.loads(CISCO_SPEC.read_text())
    missing, unparametered = [], []
    count = 0
    for path, ops in cisco["paths"].items():
        for method, op in ops.items():
            if method not in METHODS:
                continue
            count += 1
            key = (method, _shape("/v1" + path))
            if key not in served:
                missing.append(f"{method.upper()} {path}")
                continue
            wanted = {(p["name"], p["in"]) for p in op.get("parameters", []) if p["in"] != "header"}
            unparametered += [f"{method.upper()} {path} {p}" for p in wanted - served[key]]
    assert count == 18
    assert missing == []
    assert unparametered == []


WEBEX_ID_COLUMNS = {
    "id",
    "org_id",
    "parent_org_id",
    "partner_org_id",
    "sub_partner_org_id",
    "customer_org_id",
    "customer_id",
    "subscriber_id",
    "person_id",
    "user_id",
    "location_id",
    "owner",
}
OUR_OWN = {("wholesale_api_token", "id"), ("wholesale_template", "id")}  # ours, never Webex's


def test_wh_c5_id_columns_hold_webex_ids() -> None:
    """The contract and every id column of the wholesale tables, and of billing's copies of
    them, hold a Webex id (migration 0011)."""
    assert 86 <= len(webex_id()) <= 88 <= WEBEX_ID_MAX
    short = []
    for table in SQLModel.metadata.tables.values():
        if not table.name.startswith(("wholesale_", "billing_")) and table.name != "org_domain":
            continue
        for column in table.columns:
            length = getattr(column.type, "length", None)
            if column.name not in WEBEX_ID_COLUMNS or (table.name, column.name) in OUR_OWN:
                continue
            if length is not None and length < 88:
                short.append(f"{table.name}.{column.name} ({length})")
    assert short == []


async def test_wh_c5_webex_ids_are_stored_and_found(wh) -> None:
    """A customer whose org, location and subscriber's person carry Webex ids (87, 79 and
    longer): stored as they are, and found by them (orgId, personId)."""
    cid = await wh.customer(wait_for=("provisioned",))
    r = await wh.subscriber(cid)
    assert r.status_code in (200, 202), r.text
    sid = r.json()["id"]
    org, person, location = webex_id(), webex_id("PEOPLE"), webex_id("LOCATION") + "x" * 40
    async with wh.db.session() as s:
        await s.exec(
            update(WholesaleCustomer)
            .where(col(WholesaleCustomer.id) == cid)
            .values(org_id=org, location_id=location)
        )
        await s.exec(
            update(WholesaleSubscriber)
            .where(col(WholesaleSubscriber.id) == sid)
            .values(person_id=person, location_id=location)
        )
    r = await wh.http.get("/v1/wholesale/customers", params={"orgId": org}, headers=wh.auth())
    assert r.status_code == 200 and [c["id"] for c in r.json()["items"]] == [cid]
    r = await wh.http.get(
        "/v1/wholesale/subscribers", params={"personId": person}, headers=wh.auth()
    )
    assert r.status_code == 200 and [s["id"] for s in r.json()["items"]] == [sid]


async def test_px_2_subscriber_list_after_last_status_change_and_sort(wh) -> None:
    """Cisco's list parameters: `after` (created after), `lastStatusChange` (status changed
    after), epoch milliseconds or ISO 8601; `sortBy` created | lastStatusChange and
    `sortOrder` ASC | DESC; free strings, so another sort value sorts as the default, while
    an instant that is none is refused naming its field."""
    cid = await wh.customer(wait_for=("provisioned",))
    ids = []
    for _ in range(3):
        r = await wh.subscriber(cid)
        assert r.status_code in (200, 202), r.text
        ids.append(r.json()["id"])
    base = datetime(2026, 1, 1, tzinfo=UTC)
    async with wh.db.session() as s:  # created a day apart; status changes in reverse order
        for i, sid in enumerate(ids):
            await s.exec(
                update(WholesaleSubscriber)
                .where(col(WholesaleSubscriber.id) == sid)
                .values(
                    created_at=base + timedelta(days=i),
                    last_status_change=base + timedelta(days=10 - i),
                )
            )

    async def listed(**params: str) -> list[str]:
        r = await wh.http.get("/v1/wholesale/subscribers", params=params, headers=wh.auth())
        assert r.status_code == 200, r.text
        return [s["id"] for s in r.json()["items"]]

    millis = str(int((base + timedelta(hours=12)).timestamp() * 1000))
    assert await listed() == ids
    assert await listed(after=millis) == ids[1:]
    assert await listed(after="2026-01-02T12:00:00Z") == ids[2:]
    assert await listed(after="2026-01-02") == ids[2:]  # midnight UTC: strictly after
    assert await listed(lastStatusChange="2026-01-09T12:00:00+00:00") == ids[:2]
    assert await listed(sortOrder="DESC") == ids[::-1]
    assert await listed(sortBy="lastStatusChange") == ids[::-1]
    assert await listed(sortBy="lastStatusChange", sortOrder="desc") == ids
    assert await listed(sortBy="userCreationTimestamp") == ids  # Cisco's own example value
    for field in ("after", "lastStatusChange"):
        r = await wh.http.get(
            "/v1/wholesale/subscribers", params={field: "yesterday"}, headers=wh.auth()
        )
        assert r.status_code == 400, r.text
        assert r.json()["errors"][0]["field"] == field, r.text


async def test_wh_c5_every_id_parameter_of_ciscos_spec_takes_a_webex_id(wh) -> None:
    """Every operation of Cisco's spec without a body, with each of its id parameters (path
    or query) given a Webex id in turn: the id is unknown here, so the answer is an empty
    list, 404 or 403 (an unknown sub-partner), never a 400 for the id's shape or length."""
    if not CISCO_SPEC.exists():
        pytest.skip(f"no {CISCO_SPEC}")
    cisco = json.loads(CISCO_SPEC.read_text())
    tried = []
    for path, ops in cisco["paths"].items():
        for method, op in ops.items():
            if method not in METHODS or "requestBody" in op:
                continue
            params = [p for p in op.get("parameters", []) if p["in"] in ("path", "query")]
            ids = [p for p in params if p["name"] == "id" or p["name"].endswith("Id")]
            url = "/v1" + re.sub(r"\{[^}]+\}", lambda _: webex_id(), path)
            for p in [None, *[p for p in ids if p["in"] == "query"]]:
                query = {p["name"]: webex_id()} if p else {}
                r = await wh.http.request(method.upper(), url, params=query, headers=wh.auth())
                tried.append((method.upper(), path, p and p["name"], r.status_code))
                assert r.status_code in (200, 204, 403, 404), (method, path, query, r.text)
                if query and r.status_code == 200 and "items" in r.json():
                    assert r.json()["items"] == [], (path, query)
    assert len({(m, p) for m, p, _, _ in tried}) == 11

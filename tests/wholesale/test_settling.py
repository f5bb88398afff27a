"""PX-3 when the read model is ahead of the workflow: an activity commits the customer's new
status (the API shows it) before the workflow has taken the activity's result. A command
sent then is judged against that outcome, not refused against the state before it.

The window is held open on purpose: the store call behind the activity is wrapped (in
process) so that it commits, then waits for the test to release it. No timing: the tests
poll for outcomes (a response, or the workflow saying it holds the command)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from models.wholesale import provisioning
from workers.settings import Settings
from workflows.wholesale.workflow import WholesaleCustomerProvisioning

BOUND = 15.0  # seconds: a bound for an outcome, never a timing


class Gate:
    """The first call of ``provisioning.<name>`` commits, then waits for ``release``."""

    def __init__(self, monkeypatch: Any, name: str) -> None:
        self.committed, self.released = asyncio.Event(), asyncio.Event()
        real = getattr(provisioning, name)

        async def held(*args: Any, **kwargs: Any) -> Any:
            result = await real(*args, **kwargs)
            if not self.committed.is_set():
                self.committed.set()
                await self.released.wait()
            return result

        monkeypatch.setattr(provisioning, name, held)

    async def wait_committed(self) -> None:
        await asyncio.wait_for(self.committed.wait(), BOUND)


async def _sent_meanwhile(wh, cid: str, call: asyncio.Task[httpx.Response]) -> str:
    """Until the call is answered or the workflow says it holds a command sent while a step
    settles; the workflow's `waiting_for` then."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND
    while True:
        st = await wh.handle(cid).query(WholesaleCustomerProvisioning.status)
        if call.done() or "sent meanwhile" in st.waiting_for:
            return st.waiting_for
        assert loop.time() < deadline, f"neither answered nor held: {st.waiting_for}"
        await asyncio.sleep(0.05)


async def _status(wh, cid: str) -> dict[str, Any]:
    r = await wh.http.get(f"/v1/wholesale/customers/{cid}", headers=wh.auth())
    assert r.status_code == 200, r.text
    return r.json()


async def test_px3_put_and_delete_accepted_once_the_api_shows_provisioned(wh, monkeypatch):
    """PX-3: a PUT sent as soon as GET says `provisioned` (the provisioning activity has
    committed, the workflow has not yet taken its result) is accepted (202), not refused as
    `provisioning`; likewise a DELETE sent as soon as GET shows the applied change. Before
    the fix both answered 409 (23 of 40 bench runs for the DELETE)."""
    provisioned = Gate(monkeypatch, "provision_customer")
    changed = Gate(monkeypatch, "apply_customer_change")
    cid = await wh.customer()
    await provisioned.wait_committed()
    assert (await _status(wh, cid))["status"] == "provisioned"

    put = asyncio.create_task(
        wh.http.put(
            f"/v1/wholesale/customers/{cid}", json={"packages": ["webex_suite"]}, headers=wh.auth()
        )
    )
    try:
        waiting = await _sent_meanwhile(wh, cid, put)
        assert not put.done(), put.result().text  # before the fix: 409, `provisioning`
        assert waiting == "provisioning to finish, then the package change sent meanwhile"
    finally:
        provisioned.released.set()
    assert (r := await put).status_code == 202, r.text

    await changed.wait_committed()
    shown = await _status(wh, cid)
    assert (shown["status"], shown["packages"]) == ("provisioned", ["webex_suite"])
    delete = asyncio.create_task(
        wh.http.delete(f"/v1/wholesale/customers/{cid}", headers=wh.auth())
    )
    try:
        waiting = await _sent_meanwhile(wh, cid, delete)
        assert not delete.done(), delete.result().text  # before: 409, change in flight
        assert waiting == "the package change to finish, then the removal sent meanwhile"
    finally:
        changed.released.set()
    assert (r := await delete).status_code == 202, r.text
    result = await wh.handle(cid).result()
    assert (result["state"], result["changes"]) == ("deleted", 1)
    assert await wh.row(cid) is None


async def test_px3_command_sent_while_settling_is_judged_by_the_outcome(wh, monkeypatch):
    """PX-3: a command held while provisioning settles is judged against the outcome: a
    package change for a customer whose screening held it (WH-C2) is still refused (409,
    `status`); one change waits at a time, a second sent meanwhile is refused at once."""
    await wh.restricted({"name": "Held Co"})
    gate = Gate(monkeypatch, "provision_customer")
    cid = await wh.customer(customerInfo={"name": "Held Co", "primaryEmail": "a@held.test"})
    await gate.wait_committed()
    assert (await _status(wh, cid))["status"] == "pending_rpl_review"

    def put(packages: list[str]) -> asyncio.Task[httpx.Response]:
        return asyncio.create_task(
            wh.http.put(
                f"/v1/wholesale/customers/{cid}", json={"packages": packages}, headers=wh.auth()
            )
        )

    first = put(["webex_suite"])
    try:
        await _sent_meanwhile(wh, cid, first)
        assert not first.done(), first.result().text
        second = await put(["webex_meetings"])  # answered while the first one waits
        assert second.status_code == 409 and "already in flight" in second.text
    finally:
        gate.released.set()
    r = await first
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["field"] == "status"
    assert "PX-3" in r.json()["description"] and "pending_rpl_review" in r.text
    st = await wh.handle(cid).query(WholesaleCustomerProvisioning.status)
    assert (st.state, st.changes) == ("pending_rpl_review", 0)


async def test_px3_command_waits_for_a_step_only_so_long(wh, wh_settings, monkeypatch):
    """PX-3: a step that does not settle (its activity retrying; here held) keeps a command
    waiting at most the policy's `settle_wait_seconds`: then it is refused (409, `status`,
    still provisioning) and nothing is applied; once the step settles, the PUT is accepted."""
    policy = wh_settings.wholesale_policy().model_copy(update={"settle_wait_seconds": 1.0})
    monkeypatch.setattr(Settings, "wholesale_policy", lambda self: policy)
    gate = Gate(monkeypatch, "provision_customer")
    cid = await wh.customer()
    await gate.wait_committed()
    url = f"/v1/wholesale/customers/{cid}"
    try:
        r = await asyncio.wait_for(
            wh.http.put(url, json={"packages": ["webex_suite"]}, headers=wh.auth()), BOUND
        )
    finally:
        gate.released.set()
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["field"] == "status"
    assert "PX-3" in r.text and "still provisioning" in r.text
    st = await wh.wait_state(cid, "provisioned")
    assert st.changes == 0 and st.waiting_for == "an update or a deletion"
    r = await wh.http.put(url, json={"packages": ["webex_suite"]}, headers=wh.auth())
    assert r.status_code == 202, r.text

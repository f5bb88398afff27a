"""Everything about one customer in one place (issue 15): `lifecycles customer show ORG`,
`lifecycles customer list` and `GET /v1/customers/{orgId}/lifecycles`, from the read
models; a partner sees its own lifecycles of the org, another partner's org is unknown."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from typer.testing import CliRunner

from api.app import create_app
from models.common.db import Database
from models.customers import store
from scripts.cli.main import app as cli
from workers.settings import Settings, get_settings

from .conftest import NOW, Customers

# Soonest next deadline first; those without one after, in the order of store.KINDS.
ALL = [
    ("order", "ord-1", "awaiting_setup", "setup_reminder", NOW + timedelta(days=1)),
    ("setup_assist", "loc-1", "in_progress", "phase_2_due", NOW + timedelta(days=2)),
    ("trial", "tr-globex", "active", "expiry_t_minus_7", NOW + timedelta(days=3)),
    ("devices", "tr-globex", "shipped", "devices_expire", NOW + timedelta(days=15)),
    ("wholesale", "wc-1", "pending_rpl_review", None, None),
    ("migration", "mig-1", "review", None, None),
    ("billing", "wc-1", "billed", None, None),
]


def _rows(found: store.CustomerLifecycles | None) -> list[tuple]:
    assert found is not None
    return [
        (r.lifecycle, r.id, r.state, r.next_deadline_kind, r.next_deadline_at)
        for r in found.lifecycles
    ]


async def test_customer_show_lists_every_lifecycle_of_the_org(db: Database, customers):
    async with db.session() as s:
        found = await store.customer_lifecycles(s, customers.org)
    assert _rows(found) == ALL
    assert found is not None and found.name == "Globex Corporation"
    assert [(p.name, p.status) for p in found.partners] == [("Acme Partner", "trial")]
    notes = {r.lifecycle: r.note for r in found.lifecycles}
    assert notes["wholesale"] == "4300 WH-C2: pending review"
    assert notes["billing"] == "usage closed through 2026-03-01"
    assert notes["migration"] == "4/10 users migrated, 0 failed"


async def test_a_partner_sees_its_lifecycles_and_another_partners_org_is_unknown(
    db: Database, customers: Customers
):
    async with db.session() as s:
        mine = await store.customer_lifecycles(s, customers.org, store.Scope(customers.partner))
        theirs = await store.customer_lifecycles(
            s, customers.other_org, store.Scope(customers.partner)
        )
        as_other = await store.customer_lifecycles(
            s, customers.org, store.Scope(customers.other_partner)
        )
        sub = await store.customer_lifecycles(
            s, customers.org, store.Scope(customers.partner, customers.sub_partner)
        )
        partner_org = await store.customer_lifecycles(s, customers.partner)
        missing = await store.customer_lifecycles(s, "o-nope")
    assert _rows(mine) == ALL
    assert theirs is None and as_other is None  # never an oracle of another partner's orgs
    # a sub-partner: only the lifecycles that know sub-partners, and only its own
    assert [r[0] for r in _rows(sub)] == ["setup_assist", "wholesale", "billing"]
    assert partner_org is None and missing is None


async def test_customer_list_names_the_companies(db: Database, customers: Customers):
    async with db.session() as s:
        everyone = await store.customer_list(s)
        acme = await store.customer_list(s, store.Scope(customers.partner))
        reseller = await store.customer_list(
            s, store.Scope(customers.partner, customers.sub_partner)
        )
    assert [(c.name, c.next_deadline_kind) for c in everyone] == [
        ("Initech", "expiry_t_minus_7"),  # due now
        ("Globex Corporation", "setup_reminder"),  # due tomorrow
    ]
    (globex,) = acme
    assert globex.org_id == customers.org and globex.name == "Globex Corporation"
    assert globex.lifecycles == {
        "trial": 1,
        "devices": 1,
        "order": 1,
        "wholesale": 1,
        "setup_assist": 1,
        "migration": 1,
    }
    assert [(c.name, c.lifecycles) for c in reseller] == [
        ("Globex Corporation", {"wholesale": 1, "setup_assist": 1})
    ]


# --- the CLI -----------------------------------------------------------------------------


@pytest.fixture
def cli_db(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("LIFECYCLES_DATABASE_URL", database_url)
    monkeypatch.setenv("LIFECYCLES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LIFECYCLES_UI_PORT", "8233")  # the links below name it
    monkeypatch.setenv("LIFECYCLES_TEMPORAL_NAMESPACE", "default")
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


async def _cli(*args: str):
    """The command in a thread: it runs its own event loop, as from a shell."""
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))


async def test_cli_customer_show_prints_every_lifecycle(customers: Customers, cli_db: str):
    shown = await _cli("customer", "show", customers.org, "--json")
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert [(r["lifecycle"], r["id"], r["state"]) for r in data["lifecycles"]] == [
        (kind, lid, state) for kind, lid, state, _, _ in ALL
    ]
    human = await _cli("customer", "show", customers.org)
    assert human.exit_code == 0, human.output
    lines = human.stdout.splitlines()
    assert lines[0] == f"Globex Corporation  org {customers.org} (customer)"
    assert lines[2].split()[:7] == ["LIFECYCLE", "ID", "STATE", "NEXT", "DEADLINE", "AT", "PARTNER"]
    assert lines[3].split()[:6] == [
        "order",
        "ord-1",
        "awaiting_setup",
        "setup_reminder",
        "2026-03-03",
        "09:00",
    ]
    assert len(lines) == 3 + len(ALL) + 1
    assert lines[-1] == (
        "Temporal UI: http://127.0.0.1:8233/namespaces/default/workflows?query="
        f"CustomerOrgId+%3D+%22{customers.org}%22"
    )

    scoped = await _cli("customer", "show", customers.org, "--partner", customers.other_partner)
    assert scoped.exit_code == 1 and "no customer org" in scoped.output
    unknown = await _cli("customer", "show", "o-nope")
    assert unknown.exit_code == 1 and "no customer org o-nope" in unknown.output


async def test_cli_customer_list_names_the_companies(customers: Customers, cli_db: str):
    listed = await _cli("customer", "list", "--partner", customers.partner, "--json")
    assert listed.exit_code == 0, listed.output
    assert [(r["org_id"], r["name"]) for r in json.loads(listed.stdout)] == [
        (customers.org, "Globex Corporation")
    ]
    human = await _cli("customer", "list")
    assert human.exit_code == 0, human.output
    rows = human.stdout.splitlines()
    assert rows[0].split() == ["ORG", "COMPANY", "LIFECYCLES", "NEXT", "DEADLINE", "AT"]
    assert rows[1].startswith(customers.other_org) and "Initech" in rows[1]
    assert "Globex Corporation" in rows[2] and "1 trial, 1 devices" in rows[2]


# --- HTTP ---------------------------------------------------------------------------------


@pytest.fixture
async def http(db: Database, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(), database_url, db=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as client:
        yield client


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_http_customer_lifecycles_partner_scoped(http: httpx.AsyncClient, customers):
    r = await http.get(f"/v1/customers/{customers.org}/lifecycles", headers=_auth(customers.token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "Globex Corporation"
    assert [
        (x["lifecycle"], x["id"], x["state"], x.get("nextDeadlineKind")) for x in body["lifecycles"]
    ] == [(kind, lid, state, what) for kind, lid, state, what, _ in ALL]
    assert body["lifecycles"][0]["nextDeadlineAt"].startswith("2026-03-03T09:00:00")

    # another partner's customer is an unknown org, the same answer as a made-up id
    theirs = await http.get(
        f"/v1/customers/{customers.org}/lifecycles", headers=_auth(customers.other_token)
    )
    made_up = await http.get("/v1/customers/o-nope/lifecycles", headers=_auth(customers.token))
    assert theirs.status_code == made_up.status_code == 404
    same = lambda body: {k: v for k, v in body.items() if k != "trackingId"}  # noqa: E731
    assert same(theirs.json()) == same(made_up.json())

    sub = await http.get(
        f"/v1/customers/{customers.org}/lifecycles", headers=_auth(customers.sub_token)
    )
    assert [x["lifecycle"] for x in sub.json()["lifecycles"]] == [
        "setup_assist",
        "wholesale",
        "billing",
    ]
    assert (await http.get(f"/v1/customers/{customers.org}/lifecycles")).status_code == 401


async def test_http_customer_list(http: httpx.AsyncClient, customers: Customers):
    r = await http.get("/v1/customers", headers=_auth(customers.other_token))
    assert r.status_code == 200, r.text
    assert [(c["orgId"], c["name"], c["lifecycles"]) for c in r.json()["items"]] == [
        (customers.other_org, "Initech", {"trial": 1})
    ]


async def test_lists_name_the_companies_trials_and_wholesale(customers: Customers, cli_db: str):
    """Issue 15: `trial list` and `wholesale customer list` name each customer's company
    (from our org table, not from search attributes)."""
    trials = await _cli("trial", "list", "--json")
    assert trials.exit_code == 0, trials.output
    assert [(t["id"], t["company"]) for t in json.loads(trials.stdout)] == [
        ("tr-globex", "Globex Corporation"),
        ("tr-initech", "Initech"),
    ]
    human = await _cli("trial", "list", "--partner", customers.partner)
    assert human.exit_code == 0, human.output
    (line,) = human.stdout.splitlines()
    assert line.split()[:4] == ["tr-globex", "active", "Globex", "Corporation"]

    wholesale = await _cli("wholesale", "customer", "list", "--json")
    assert wholesale.exit_code == 0, wholesale.output
    assert [
        (c["id"], c["company"], c["status"], c["codes"]) for c in json.loads(wholesale.stdout)
    ] == [("wc-1", "Globex Corporation", "pending_rpl_review", [4300])]
    printed = await _cli("wholesale", "customer", "list", "--status", "pending_rpl_review")
    assert printed.exit_code == 0, printed.output
    assert printed.stdout.split()[:4] == ["wc-1", "pending_rpl_review", "Globex", "Corporation"]
    assert "codes=4300" in printed.stdout
    none = await _cli("wholesale", "customer", "list", "--partner", customers.other_partner)
    assert none.exit_code == 0 and none.stdout.strip() == "no wholesale customers"


async def test_ui_views_ships_the_columns_and_saved_views(cli_db: str):
    """The Temporal UI (2.54) keeps columns and saved views per browser: `lifecycles
    ui-views` gives a link per view (opened once, `savedQuery` saves it) and the columns'
    snippet for the page's console, from the search attributes of the code."""
    from urllib.parse import parse_qs, urlsplit

    from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

    out = await _cli("ui-views", "--customer", "o-123", "--json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert {key.name for key in SEARCH_ATTRIBUTES} <= set(data["columns"])
    assert "namespace-workflow-table-columns" in data["columns_snippet"]
    assert '"label": "NextDeadlineAt"' in data["columns_snippet"]
    views = {v["name"]: v for v in data["views"]}
    customer = urlsplit(views["Customer o-123"]["link"])
    assert (customer.netloc, customer.path) == ("127.0.0.1:8233", "/namespaces/default/workflows")
    assert parse_qs(customer.query) == {
        "query": ['CustomerOrgId = "o-123"'],
        "savedQuery": ["Customer o-123"],
    }
    assert views["Lifecycles in error"]["query"] == 'LifecycleState = "error"'
    printed = await _cli("ui-views")
    assert printed.exit_code == 0 and "Trials in grace" in printed.stdout

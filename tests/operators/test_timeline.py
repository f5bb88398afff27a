"""`lifecycles timeline ID` (issue 15): a lifecycle's past and planned deadlines with the
notices sent on each, printed, as JSON, and drawn (`--png`). Real trials on the time-skipping
server: halfway (T-7 next, the rest planned) and run to the end (every deadline done, the
outbox's notices on their deadlines); a converted trial's later deadlines are void."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.common.tables import Notice
from models.customers import timeline as tl
from models.trials.tables import Trial
from scripts.cli.main import app as cli
from tests.trials.helpers import tid, until
from workers.settings import get_settings

DAY = timedelta(days=1)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def cli_env(database_url: str, env, monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("LIFECYCLES_DATABASE_URL", database_url)
    monkeypatch.setenv("LIFECYCLES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LIFECYCLES_TEMPORAL_ADDRESS", env.client.service_client.config.target_host)
    monkeypatch.setenv("LIFECYCLES_TEMPORAL_NAMESPACE", env.client.namespace)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def _cli(*args: str):
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))


def _kinds(data: dict) -> list[tuple[str, str]]:
    return [(m["kind"], m["status"]) for m in data["moments"]]


async def test_timeline_of_a_trial_halfway_prints_t7_next_and_draws_it(
    world, run_worker, cli_env, tmp_path: Path
):
    async with run_worker():
        h = await world.start(setup="now", days=30)
        st = await until(h, lambda s: s.state == "active" and s.next_deadline_at is not None)
    assert st.ends_at is not None and st.grace_ends_at is None  # set at T
    out = await _cli("timeline", tid(h), "--json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert (data["lifecycle"], data["id"], data["state"]) == ("trial", tid(h), "active")
    kinds = _kinds(data)
    assert sorted(kinds[:2]) == [("activated", "done"), ("start", "done")]
    assert kinds[2:] == [
        ("expiry_t_minus_7", "next"),
        ("trial_expires", "planned"),
        ("services_ended_notice", "planned"),
        ("grace_ends", "planned"),
    ]
    at = {m["kind"]: datetime.fromisoformat(m["at"]) for m in data["moments"]}
    assert at["expiry_t_minus_7"] == st.ends_at - 7 * DAY
    assert at["trial_expires"] == st.ends_at
    assert at["services_ended_notice"] == at["grace_ends"] == st.ends_at + 30 * DAY  # planned

    drawn = tmp_path / "trial.png"
    printed = await _cli("timeline", tid(h), "--png", str(drawn))
    assert printed.exit_code == 0, printed.output
    lines = printed.stdout.splitlines()
    assert lines[0] == (
        f"trial {tid(h)}: active (next: expiry_t_minus_7 at "
        f"{(st.ends_at - 7 * DAY).isoformat()[:16]})"
    )
    moments = [line for line in lines[1:-1] if not line.startswith("      ✉")]
    assert [line.split()[3:5] for line in moments[2:]] == [
        ["next", "expiry_t_minus_7"],
        ["planned", "trial_expires"],
        ["planned", "services_ended_notice"],
        ["planned", "grace_ends"],
    ]
    assert moments[2].startswith(f"→ {(st.ends_at - 7 * DAY):%Y-%m-%d %H:%M}")
    assert lines[-1] == f"drawn: {drawn}"
    assert drawn.read_bytes().startswith(PNG) and drawn.stat().st_size > 10_000


async def test_timeline_of_a_finished_trial_shows_every_deadline_with_its_notices(
    world, run_worker, cli_env, db, tmp_path: Path
):
    """TR-E1..E5 on one line: T-7 and T each notified every admin (2 customer, 4 partner),
    the users told at T+30, grace ended, the retained numbers released 15 days later."""
    org = await world.org(
        admins=[("boss@existing.test", "full"), ("it@existing.test", "user_admin")],
        users=["u1@existing.test", "u2@existing.test"],
        numbers=["+4721000000", "+4721000001"],
        managed_by=world.partner_id,
    )
    async with run_worker():
        h = await world.start(
            org_id=org,
            customer=None,
            services=["calling", "meetings"],
            site_url="existing.webex.com",
            timezone="Europe/Oslo",
            setup="now",
        )
        result = await h.result()
    assert result.state == "migrated_to_free_org" and result.numbers_released_at is not None
    out = await _cli("timeline", f"trial-{tid(h)}", "--json", "--png", str(tmp_path / "t.png"))
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["next_deadline_kind"] is None
    kinds = _kinds(data)
    assert sorted(kinds[:2]) == [("activated", "done"), ("start", "done")]
    assert kinds[2:] == [
        ("expiry_t_minus_7", "done"),
        ("trial_expires", "done"),
        ("services_ended_notice", "done"),  # T+30 is grace's end: the users hear first
        ("grace_ends", "done"),
        ("numbers_release", "done"),
    ]
    notices = {
        m["kind"]: {g["kind"]: (g["count"], g["sent"]) for g in m["notices"]}
        for m in data["moments"]
    }
    assert notices["expiry_t_minus_7"] == {"expiry_t_minus_7": (6, 6)}
    assert notices["trial_expires"] == {"expiry_today": (6, 6)}
    told = notices["grace_ends"] | notices["services_ended_notice"]
    assert told == {"services_ended": (4, 4)}
    assert notices["numbers_release"] == {}
    at = {m["kind"]: datetime.fromisoformat(m["at"]) for m in data["moments"]}
    assert at["numbers_release"] == result.numbers_released_at
    assert result.numbers_release_at == at["grace_ends"] + 15 * DAY <= at["numbers_release"]
    assert (tmp_path / "t.png").read_bytes().startswith(PNG)

    # the same org in `customer show`: the trial, ended, with no deadline left
    shown = await _cli("customer", "show", org, "--json")
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.stdout)["lifecycles"]
    assert [(r["lifecycle"], r["id"], r["state"], r["next_deadline_at"]) for r in rows] == [
        ("trial", tid(h), "migrated_to_free_org", None)
    ]


def test_a_converted_trial_never_expires_void_after_conversion() -> None:
    """Pure: converted on day 10, T-7, T and grace end are void; the welcome notice sits on
    the start, the conversion is the last moment done."""
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    row = Trial(
        id="tr-1",
        workflow_id="trial-tr-1",
        partner_org_id="p",
        customer_org_id="o",
        started_by="s@p.test",
        customer_admin_email="a@o.test",
        new_customer=True,
        services=["messaging"],
        license_count=5,
        days=30,
        state="converted",
        created_at=start,
        activated_at=start + timedelta(minutes=1),
        ends_at=start + 30 * DAY,
        grace_ends_at=start + 60 * DAY,
        converted_at=start + 10 * DAY,
        updated_at=start + 10 * DAY,
    )
    welcome = Notice(
        key="k",
        kind="welcome",
        recipient="a@o.test",
        subject="s",
        body="b",
        due_at=start + timedelta(minutes=1),
        created_at=start,
        sent_at=start,
    )
    t = tl.build("trial", row, [welcome])
    assert [(m.kind, m.status) for m in t.moments] == [
        ("start", "done"),
        ("activated", "done"),
        ("converted", "done"),
        ("expiry_t_minus_7", "void"),
        ("trial_expires", "void"),
        ("services_ended_notice", "void"),
        ("grace_ends", "void"),
    ]
    assert t.moments[1].notices == [
        tl.NoticeGroup(kind="welcome", count=1, sent=1, recipients=["a@o.test"])
    ]
    assert tl.render_png(t).startswith(PNG)


async def test_timeline_of_an_unknown_id_exits_1(cli_env):
    out = await _cli("timeline", "nope")
    assert out.exit_code == 1 and "no lifecycle nope" in out.output
    bad = await _cli("timeline", "nope", "--lifecycle", "widgets")
    assert bad.exit_code == 2 and "--lifecycle" in bad.output

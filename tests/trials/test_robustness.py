"""Issues 8 and 9 for trials: an update racing the opening waits for it; a trial row that is
gone fails for good into `error` (no retries); validators judge deadlines by workflow time
while the state lags behind a failing step; TR-E3 reaches every user of a big org once, in
batches over one SMTP connection each, and a retry resumes where the last batch ended."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col
from temporalio.api.enums.v1 import EventType

from activities.common import Deps
from models.common.mail import Mailer, Outgoing
from models.common.tables import OrgUser
from models.trials import notices as trial_notices
from models.trials import store
from models.trials.contract import (
    ChangeServicesRequest,
    ConvertRequest,
    ExtendRequest,
    MassNotice,
    NoticeBatch,
    ProvisionRequest,
)
from models.trials.tables import Trial
from tests.polling import eventually
from tests.trials.helpers import notices, refused, tid, until
from workers.worker import build_worker
from workflows.trials.workflow import TrialLifecycle

DAY = timedelta(days=1)


async def _attempts(handle) -> list[tuple[str, int]]:
    """(activity, attempt) of every activity that started, from the history."""
    out, names = [], {}
    async for e in handle.fetch_history_events():
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            a = e.activity_task_scheduled_event_attributes
            names[e.event_id] = a.activity_type.name
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            a = e.activity_task_started_event_attributes
            out.append((names[a.scheduled_event_id], a.attempt))
    return out


async def test_tr_s5_update_racing_the_opening_waits_for_it(world, run_worker):
    """Issue 8: `provision` sent before the worker ran the trial's first step is handled once
    the trial is written: no activity finds its row missing (every one on its 1st attempt)."""
    h = await world.start(setup="later")  # no worker yet: the update lands with the start
    update = asyncio.create_task(h.execute_update(TrialLifecycle.provision, ProvisionRequest()))
    await asyncio.sleep(0.5)
    async with run_worker():
        r = await update
        assert r.state == "active"
        extended = await h.execute_update(TrialLifecycle.extend, ExtendRequest(days=40))
        assert extended.state == "active"
    assert await _attempts(h) == [("trial_step", 1)] * 3  # open, provision, extend


async def test_tr_e1_missing_trial_row_fails_for_good_into_error(world, run_worker, env, db):
    """Issue 8/9: a trial row that is gone is not retried: the T-7 step fails at its 1st
    attempt and the trial waits in `error`, saying what failed."""
    async with run_worker():
        h = await world.start(setup="now", days=30)
        await until(h, lambda s: s.state == "active")
        async with db.session() as s:
            await s.exec(delete(Trial).where(col(Trial.id) == tid(h)))
        await env.sleep(23 * DAY + timedelta(hours=1))
        st = await until(h, lambda s: s.state == "error")
    assert st.failure is not None and st.failure.state == "active"
    assert f"no trial {tid(h)}" in st.failure.message
    assert (await _attempts(h))[-1] == ("trial_step", 1)


class _FlakyMailer(Mailer):
    """A relay that refuses, retryably, the notices of ``kinds`` while ``down``."""

    def __init__(self) -> None:
        super().__init__(smtp_url=None, mail_from="x@test")
        self.down: tuple[str, ...] = ()
        self.refused: Counter[str] = Counter()

    async def send_many(self, messages: Sequence[Outgoing]) -> str:
        for kind in self.down:
            if any(f":{kind}:" in m.message_id for m in messages):
                self.refused[kind] += 1
                raise ConnectionError("relay unreachable")  # retryable
        return await super().send_many(messages)


async def _until(pred: Callable[[], bool], what: str) -> None:
    async def probe() -> bool:
        return pred()

    await eventually(probe, what)


async def _sleep_past(env, at: datetime) -> None:
    """Skip the server's clock to one second past ``at`` (not further: a failing step's
    retries must stay in real time)."""
    now = await env.get_current_time()
    await env.sleep(max(at - now, timedelta(0)) + timedelta(seconds=1))


async def test_tr_e2_validators_judge_deadlines_by_workflow_time_while_state_lags(
    world, env, db, task_queue
):
    """Issue 9 item 6: the expiry step (T) keeps failing, so the state still says `active`
    after T: extend and change_services are refused (TR-E2) by workflow time. Then the TR-E3
    mail keeps failing past grace end, the state still says `grace`: a conversion is refused
    (TR-E2), nothing converts, and once the relay is back the trial moves to a free org."""
    mailer = _FlakyMailer()
    h = await world.start(setup="now", days=30)
    async with build_worker(env.client, Deps(db=db, mailer=mailer), task_queue=task_queue):
        st = await until(h, lambda s: s.state == "active" and bool(s.notices))
        assert st.ends_at is not None
        mailer.down = ("expiry_today",)
        await _sleep_past(env, st.ends_at)
        await _until(lambda: mailer.refused["expiry_today"] >= 1, "T step failing")
        assert (await h.query(TrialLifecycle.status)).state == "active"  # lagging
        with refused("TR-E2", "state"):
            await h.execute_update(TrialLifecycle.extend, ExtendRequest(days=10))
        with refused("TR-E2", "state"):
            await h.execute_update(
                TrialLifecycle.change_services, ChangeServicesRequest(license_count=30)
            )
        mailer.down = ("services_ended",)
        await env.sleep(timedelta(minutes=10))  # the next attempt, now let through
        st = await until(h, lambda s: s.state == "grace")
        assert st.grace_ends_at is not None and st.license_count == 25
        await _sleep_past(env, st.grace_ends_at)
        await _until(lambda: mailer.refused["services_ended"] >= 1, "TR-E3 step failing")
        assert (await h.query(TrialLifecycle.status)).state == "grace"  # lagging
        with refused("TR-E2", "state"):
            await h.execute_update(
                TrialLifecycle.convert,
                ConvertRequest(order_id="SO-LATE", provisioning_contact_email="admin@newco.test"),
            )
        mailer.down = ()
        await env.sleep(timedelta(minutes=10))
        st = await until(h, lambda s: s.state == "migrated_to_free_org")
    assert st.converted_at is None and st.order_id is None
    sent = await notices(db, tid(h), "services_ended")
    assert [n.recipient for n in sent] == ["admin@newco.test"] and sent[0].sent_at


# --- TR-E3 at scale -------------------------------------------------------------------------


class _SmtpServer:
    """A minimal SMTP server: counts connections and the recipients of what it accepted;
    refuses (554) the message number ``fail_at`` (1-based, once)."""

    def __init__(self) -> None:
        self.connections = 0
        self.accepted: list[str] = []
        self.fail_at: int | None = None
        self._seen = 0
        self.port = 0

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.connections += 1
        w.write(b"220 test\r\n")
        rcpt, data = "", False
        while line := await r.readline():
            if data:
                if line == b".\r\n":
                    data = False
                    self._seen += 1
                    if self._seen == self.fail_at:
                        w.write(b"554 no\r\n")
                    else:
                        self.accepted.append(rcpt)
                        w.write(b"250 ok\r\n")
                    await w.drain()
                continue
            cmd = line[:4].upper()
            if cmd == b"RCPT":
                rcpt = line.decode().split(":", 1)[1].strip().strip("<>")
            if cmd == b"DATA":
                data = True
                w.write(b"354 go\r\n")
            elif cmd == b"QUIT":
                w.write(b"221 bye\r\n")
                await w.drain()
                break
            else:
                w.write(b"250 ok\r\n")
            await w.drain()
        w.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[_SmtpServer]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()


async def _add_users(db, org_id: str, n: int) -> list[str]:
    emails = [f"user{i:04d}@big.test" for i in range(n)]
    now = datetime.now(UTC)
    async with db.session() as s:
        await s.exec(
            insert(OrgUser).values(
                [
                    dict(id=f"u-{uuid.uuid4().hex[:12]}", org_id=org_id, email=e, created_at=now)
                    for e in emails
                ]
            )
        )
    return emails


async def test_tr_e3_every_user_of_a_big_org_told_once_in_batches(world, env, db, task_queue):
    """TR-E3 at scale: 450 users (and the admin) are told their services ended, each exactly
    once, in batches of 200 over one SMTP connection each; an SMTP failure in the second
    batch fails that attempt, and the retry resumes after the first batch."""
    async with _SmtpServer().running() as smtp:
        mailer = Mailer(smtp_url=f"smtp://127.0.0.1:{smtp.port}", mail_from="x@test")
        h = await world.start(setup="now", days=30, services=["messaging"])
        async with build_worker(env.client, Deps(db=db, mailer=mailer), task_queue=task_queue):
            st = await until(h, lambda s: s.state == "active" and bool(s.notices))
            users = await _add_users(db, st.customer_org_id, 450)
            before = (smtp.connections, len(smtp.accepted))
            smtp.fail_at = smtp._seen + 10 + 200 + 1  # T-7 and T: 5 each; then batch 2
            result = await h.result()
    assert result.state == "migrated_to_free_org"
    told = smtp.accepted[before[1] + 10 :]
    assert sorted(told) == sorted(["admin@newco.test", *users])  # each exactly once
    # 3 batches (200, 200, 51) and the failed 2nd one: 4 connections for TR-E3
    assert smtp.connections - before[0] == 2 + 4
    rows = await notices(db, tid(h), "services_ended")
    assert len(rows) == 451 and all(r.sent_at and r.transport == "smtp" for r in rows)
    assert result.notices and len([v for v in result.notices if v.kind == "services_ended"]) == 100
    attempts = [a for name, a in await _attempts(h) if name == "trial_mail_users"]
    assert attempts == [2]  # the history keeps the last attempt: the 2nd


async def test_tr_e3_a_retry_resumes_after_the_last_batch_heartbeated(world, run_worker, db):
    """The TR-E3 activity's progress (the last key of each batch) is what a retry resumes
    from: sending after a key leaves the users before it to the attempt that sent them."""
    async with run_worker():
        h = await world.start(setup="now", days=30, services=["messaging"])
        st = await until(h, lambda s: s.state == "active")
    await _add_users(db, st.customer_org_id, 300)
    batch = NoticeBatch(
        trial_id=tid(h),
        kind="services_ended",
        due_at=datetime.now(UTC),
        context={"days_after": "30"},
    )
    progress: list[tuple[str, int]] = []
    mailer = Mailer(smtp_url=None, mail_from="x@test")
    async with db.session() as s:
        trial = await s.get(Trial, tid(h))
        assert trial is not None
        await trial_notices.enqueue_users(s, trial, batch, "wf")
    resume = trial_notices.notice_key(tid(h), "services_ended", 0, "user0099@big.test")
    res = await store.mail_users(
        db,
        mailer,
        MassNotice(trial_id=tid(h), notice=batch),
        "wf",
        resume_after=resume,
        progress=lambda last, n: progress.append((last, n)),
    )
    rows = await notices(db, tid(h), "services_ended")
    unsent = sorted(r.recipient for r in rows if r.sent_at is None)
    assert unsent == ["admin@newco.test"] + [f"user{i:04d}@big.test" for i in range(100)]
    assert [n for _, n in progress] == [200] and progress[0][0].endswith("user0299@big.test")
    assert res.notices_total == len(rows) == 301  # written once (the second enqueue added none)

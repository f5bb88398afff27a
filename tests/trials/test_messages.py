"""Issue 9: no message wedges a trial. Signals with no input, two inputs, a malformed payload
or an unknown name are recorded for operators (status and current details) and the trial
goes on; updates with the same mistakes are refused naming rule and field, changing nothing;
validators judge deadlines by workflow time, not by a state that may lag."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from models.common.mail import Mailer, Outgoing
from models.trials.contract import AcceptConsent, ExtendRequest
from tests.trials.helpers import refused, until
from workflows.trials.workflow import TrialLifecycle

DAY = timedelta(days=1)


async def test_bad_signals_are_recorded_and_the_trial_goes_on(world, run_worker, env):
    """No input, two inputs, a wrong type, an unknown field, a bad enum, an unknown name."""
    async with run_worker():
        h = await world.start(setup="now")
        before = await until(h, lambda s: s.state == "active")
        await h.signal("cancel")  # no input: `by` is required
        await h.signal("cancel", args=[{"by": "partner"}, {"by": "customer"}])
        await h.signal("cancel", {"by": 5})
        await h.signal("cancel", {"by": "partner", "typo": 1})
        await h.signal("cancel", {"by": "nobody"})
        await h.signal("cancel_trial", {"by": "partner"})  # no such signal
        st = await until(h, lambda s: len(s.rejected) == 6)
        assert st.state == "active" and st.ends_at == before.ends_at
        assert [r.name for r in st.rejected] == ["cancel"] * 5 + ["cancel_trial"]
        reasons = [r.reason for r in st.rejected]
        assert reasons[0].startswith("TR-D4 (by)")
        assert reasons[1].startswith("TR-D4 (input)") and "2 inputs" in reasons[1]
        assert reasons[2].startswith("TR-D4 (by)")
        assert reasons[3].startswith("TR-D4 (typo)")
        assert reasons[4].startswith("TR-D4 (by)")
        assert "no signal of that name" in reasons[5]
        # The trial still answers and acts: a valid cancel is taken.
        await h.signal(TrialLifecycle.cancel, {"by": "partner"})
        assert (await until(h, lambda s: s.state == "cancelled")).cancelled_by == "partner"


async def test_resend_consent_with_no_input_is_taken(world, run_worker):
    """A signal whose payload has no required field reads no input as ``{}`` (issue 9, 1)."""
    async with run_worker():
        org = await world.org()
        h = await world.start(org_id=org, customer=None, services=["calling"])
        first = await until(h, lambda s: any(n.kind == "consent_request" for n in s.notices))
        sent = sum(n.kind == "consent_request" for n in first.notices)
        await h.signal("resend_consent")
        st = await until(
            h, lambda s: sum(n.kind == "consent_request" for n in s.notices) == 2 * sent
        )
        assert st.state == "pending_consent" and st.rejected == []


async def test_updates_with_bad_payloads_are_refused_naming_rule_and_field(world, run_worker):
    """Strict types: ``"5"`` or ``true`` is not a number of days; nothing changes."""
    async with run_worker():
        h = await world.start(setup="now")
        before = await until(h, lambda s: s.state == "active")
        for payload, field in (
            ({"days": "5"}, "days"),
            ({"days": True}, "days"),
            ({"days": 5, "typo": 1}, "typo"),
            ({}, "days"),
        ):
            with refused("TR-D1", field):
                await h.execute_update("extend", payload)
        with refused("TR-D1", "input"):
            await h.execute_update("extend", args=[{"days": 5}, {"days": 6}])
        after = await h.query(TrialLifecycle.status)
        assert after.ends_at == before.ends_at and after.state == "active"
        ok = await h.execute_update(TrialLifecycle.extend, ExtendRequest(days=60))
        assert ok.state == "active"


async def test_tr_c3_give_consent_refuses_someone_not_a_full_admin(world, run_worker, db):
    """TR-C3 as an update: the caller hears the refusal; a full admin's consent is taken."""
    async with run_worker():
        org = await world.org()
        h = await world.start(org_id=org, customer=None, services=["calling"])
        await until(h, lambda s: s.state == "pending_consent")
        with refused("TR-C3", "accepted_by"):
            await h.execute_update(
                TrialLifecycle.give_consent, AcceptConsent(accepted_by="ro@existing.test")
            )
        assert (await h.query(TrialLifecycle.status)).state == "pending_consent"
        res = await h.execute_update(
            TrialLifecycle.give_consent,
            AcceptConsent(accepted_by="boss@existing.test", grant_full_admin=True),
        )
        assert res.state == "awaiting_provisioning"
        with refused("TR-C2", "state"):
            await h.execute_update(
                TrialLifecycle.give_consent, AcceptConsent(accepted_by="boss@existing.test")
            )


class _Mailer(Mailer):
    """A mail relay that refuses while ``down`` (for good, or, ``retryable``, for now), the
    notices whose outbox key holds one of ``kinds`` (all of them when empty)."""

    def __init__(self, retryable: bool = False, kinds: tuple[str, ...] = ()) -> None:
        super().__init__(smtp_url=None, mail_from="x@test")
        self.down, self.retryable, self.kinds = False, retryable, kinds
        self.refused = 0

    async def send_many(self, messages: Sequence[Outgoing]) -> str:
        from temporalio.exceptions import ApplicationError

        hit = [m for m in messages if not self.kinds or any(k in m.message_id for k in self.kinds)]
        if self.down and hit:
            self.refused += 1
            raise ApplicationError("relay refused the sender", non_retryable=not self.retryable)
        return await super().send_many(messages)


def test_activity_retries_are_bounded():
    """No activity retries for ever (issue 8): the shared policy has a limit."""
    from workflows.common import RETRY

    assert RETRY.maximum_attempts == 12


async def test_a_step_that_fails_for_good_waits_in_error_until_retry(world, env, db, task_queue):
    """Issue 8/9: a step that cannot succeed (the mail relay refuses the T-7 notices) leaves
    the trial in `error`, still answering queries and saying what failed; once the cause is
    fixed the operator's `retry` resumes it and each notice goes once."""
    from activities.common import Deps
    from tests.trials.helpers import notices
    from workers.worker import build_worker

    mailer = _Mailer()
    h = await world.start(setup="now", days=30)
    async with build_worker(env.client, Deps(db=db, mailer=mailer), task_queue=task_queue):
        await until(h, lambda s: any(n.kind == "welcome" for n in s.notices))
        with refused("OPS", "state"):
            await h.execute_update(TrialLifecycle.retry)
        mailer.down = True
        await env.sleep(23 * DAY + timedelta(hours=1))  # T-7 is due
        st = await until(h, lambda s: s.state == "error")
        assert st.failure is not None and st.failure.state == "active"
        assert "expiry_t_minus_7" in st.failure.step and "relay refused" in st.failure.message
        mailer.down = False
        assert await h.execute_update(TrialLifecycle.retry) == "resumed in active"
        st = await until(h, lambda s: any(n.kind == "expiry_t_minus_7" for n in s.notices))
        assert st.state == "active" and st.failure is None
        sent = [n for n in await notices(db, st.trial_id, "expiry_t_minus_7") if n.sent_at]
        assert sent and len(sent) == len({n.recipient for n in sent})

"""The trial CLI's commands that talk to a running TrialLifecycle (query, update, signal)
through the workflow's typed methods: same output and exit codes as before."""

from __future__ import annotations

import asyncio
import json

from tests.trials.helpers import until
from tests.trials.test_cli import _run
from workflows.trials.workflow import TrialLifecycle


async def test_tr_d1_cli_status_extend_cancel(world, run_worker, env, database_url, task_queue):
    """TR-D1 through the CLI: `trial status --json` is the `status` query; `trial extend
    --days 40` is the `extend` update (exit 0, "active: trial now ends ..."), `--days 10`
    would shorten the trial and is refused naming TR-D1 (exit 2, end unchanged); `trial
    cancel` is the `cancel` signal ("sent cancel") and the trial ends cancelled (TR-D4)."""
    async with run_worker():
        h = await world.start(setup="now", services=["messaging"])
        tid = h.id.removeprefix("trial-")
        await until(h, lambda s: s.state == "active")

        def cli(*args: str):
            return _run(env, database_url, task_queue, "trial", *args)

        st = await asyncio.to_thread(cli, "status", tid, "--json")
        assert st.returncode == 0, st.stderr
        assert json.loads(st.stdout)["state"] == "active"

        ok = await asyncio.to_thread(cli, "extend", tid, "--days", "40")
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.startswith("active: trial now ends ")
        extended = (await h.query(TrialLifecycle.status)).ends_at

        short = await asyncio.to_thread(cli, "extend", tid, "--days", "10")
        assert short.returncode == 2
        assert "refused: TR-D1 (days)" in short.stderr
        assert (await h.query(TrialLifecycle.status)).ends_at == extended

        gone = await asyncio.to_thread(cli, "cancel", tid, "--json")
        assert gone.returncode == 0, gone.stderr
        assert json.loads(gone.stdout) == {"signalled": "cancel", "trial_id": tid}
        done = await until(h, lambda s: s.state == "cancelled")
        assert done.cancelled_by == "partner"


async def test_tr_c3_cli_accept_consent_is_the_update_and_a_refusal_is_heard(
    world, run_worker, env, database_url, task_queue
):
    """TR-C3/TR-C4 through the CLI: `trial accept-consent` is the `give_consent` update, so an
    acceptance by someone who is not a full admin is refused naming TR-C3 (exit 2, still
    pending consent) instead of a signal silently ignored; a full admin's acceptance answers
    exit 0 and the trial awaits provisioning with the partner a provisioning admin."""
    from tests.trials.test_consent import _pending

    async with run_worker():
        _, h = await _pending(world, admin_email="boss@existing.test")
        tid = h.id.removeprefix("trial-")

        def cli(*args: str):
            return _run(env, database_url, task_queue, "trial", *args)

        no = await asyncio.to_thread(cli, "accept-consent", tid, "--by", "ro@existing.test")
        assert no.returncode == 2, no.stdout + no.stderr
        assert "TR-C3" in no.stderr and "accepted_by" in no.stderr
        assert (await h.query(TrialLifecycle.status)).state == "pending_consent"

        yes = await asyncio.to_thread(cli, "accept-consent", tid, "--by", "cfo@existing.test")
        assert yes.returncode == 0, yes.stderr
        assert yes.stdout.startswith("awaiting_provisioning: consent given")
        st = await until(h, lambda s: s.state == "awaiting_provisioning")
        assert st.partner_admin_level == "provisioning_admin"

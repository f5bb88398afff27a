from models.trials.contract import ProvisionRequest
from workflows.trials.workflow import TrialLifecycle


async def test_new_customer_trial_runs_to_free_org(world, run_worker):
    """TR-E4 smoke: a new-customer trial, provisioned, expires and is migrated."""
    async with run_worker():
        h = await world.start(setup="later")
        st = await h.query(TrialLifecycle.status)
        assert st.state == "awaiting_provisioning"
        r = await h.execute_update(TrialLifecycle.provision, ProvisionRequest())
        assert r.state == "active"
        res = await h.result()
        assert res.state == "migrated_to_free_org"
        assert res.numbers_release_at is None  # calling, but no number to hold (issue 9, 11)
        kinds = sorted({n.kind for n in res.notices})
        assert kinds == ["expiry_t_minus_7", "expiry_today", "services_ended", "welcome"]

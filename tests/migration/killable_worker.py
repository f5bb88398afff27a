"""A real worker process (``workers.worker.run_worker``, as ``lifecycles worker``) whose
migration provisioning stalls for good once ``H6_STALL_AFTER`` users are provisioned, so a
test can SIGKILL it in the middle of a batch: the batch's users provisioned in the
wholesale store, none of them yet recorded on the migration's rows.

    python -m tests.migration.killable_worker     (LIFECYCLES_* from the environment)
"""

from __future__ import annotations

import asyncio
import os
import sys


def main() -> None:
    from models.migration import store
    from workers.settings import get_settings
    from workers.worker import run_worker

    stall_after = int(os.environ["H6_STALL_AFTER"])
    real_one, real_many = store.provision_one, store.provision_many
    provisioned: set[str] = set()  # distinct users: a retried batch does not count twice

    async def stall_if_due() -> None:
        if len(provisioned) >= stall_after:
            print("stalled", flush=True)
            await asyncio.sleep(3600)  # SIGKILL lands here

    async def one(db, mailer, scope, spec):
        if spec.email not in provisioned:
            await stall_if_due()
        sub = await real_one(db, mailer, scope, spec)
        provisioned.add(spec.email)
        return sub

    async def many(db, scope, specs):
        """The batch's users committed at once, then (when due) stalled before the
        migration's rows record them."""
        done = await real_many(db, scope, specs)
        provisioned.update(done)
        await stall_if_due()
        return done

    store.provision_one = one
    store.provision_many = many
    print("worker up", flush=True)
    asyncio.run(run_worker(get_settings()))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

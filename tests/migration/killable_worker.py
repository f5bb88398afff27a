"""A real worker process (``workers.worker.run_worker``, as ``lifecycles worker``) whose
migration provisioning stalls for good after ``H6_STALL_AFTER`` users, so a test can
SIGKILL it in the middle of a batch: some users of the batch provisioned in the wholesale
store, none of them yet recorded on the migration's rows.

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
    real = store.provision_one
    provisioned: set[str] = set()  # distinct users: a retried batch does not count twice

    async def stalling(db, mailer, scope, spec):
        if len(provisioned) >= stall_after and spec.email not in provisioned:
            print("stalled", flush=True)
            await asyncio.sleep(3600)  # SIGKILL lands here
        sub = await real(db, mailer, scope, spec)
        provisioned.add(spec.email)
        return sub

    store.provision_one = stalling
    print("worker up", flush=True)
    asyncio.run(run_worker(get_settings()))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

"""Activities of the Setup Assist lifecycle: thin, each one store transaction."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.common import Activities
from models.setup_assist.contract import NoticeSent, Step
from models.setup_assist.store import apply_step


class SetupAssistActivities(Activities):
    @activity.defn
    async def setup_assist_apply(self, step: Step) -> list[NoticeSent]:
        """One state transition: read model, charge (at opening) and outbox rows in one
        transaction, then the notices sent (each once)."""
        try:
            return await apply_step(self.db, self.mailer, step, activity.info().workflow_id)
        except LookupError as err:  # no project row: asking again will not create it
            raise ApplicationError(str(err), type="MissingProject", non_retryable=True) from err

"""Activities of ``WholesaleCustomerProvisioning``: each calls one transaction of
models/wholesale/provisioning.py (effects and read model together, under the customer's row
lock) and returns its result."""

from __future__ import annotations

from temporalio import activity

from activities.common import Activities
from models.wholesale import provisioning as store
from models.wholesale.contract import CustomerChange, Outcome, ProvisionStep


class WholesaleActivities(Activities):
    @activity.defn
    async def provision_customer(self, step: ProvisionStep) -> Outcome:
        """Template (WH-P2), screening (WH-C2), PX-4 approval, then the org, locale (WH-C4),
        call-in number (WH-C3), packages (PX-1) and restricted mode (WH-C6)."""
        return await store.provision_customer(self.db, self.mailer, step)

    @activity.defn
    async def remind_attach_approval(self, customer_id: str) -> None:
        """PX-4: the org's admins have not answered; ask them once more."""
        await store.remind_attach_approval(self.db, self.mailer, customer_id)

    @activity.defn
    async def lapse_attach(self, customer_id: str, operations_email: str, days: float) -> Outcome:
        """PX-4: no answer in time: the customer ends in `error`, operations are told."""
        return await store.lapse_attach(self.db, self.mailer, customer_id, operations_email, days)

    @activity.defn
    async def refuse_attach(self, customer_id: str) -> Outcome:
        """PX-4: the org's admin refused."""
        return await store.refuse_attach(self.db, customer_id)

    @activity.defn
    async def escalate_compliance(self, customer_id: str, operations_email: str) -> None:
        """WH-C2: the hold is too old; onboarding stops and operations gets the case."""
        await store.escalate_compliance(self.db, self.mailer, customer_id, operations_email)

    @activity.defn(name="wholesale_mark_changing")
    async def mark_changing(self, customer_id: str, state: str) -> None:
        """PX-3: show the accepted change (``updating``/``deleting``) in the read model."""
        await store.mark_changing(self.db, customer_id, state)

    @activity.defn
    async def apply_customer_change(self, customer_id: str, change: CustomerChange) -> Outcome:
        """WH-C5: the complete package list wanted afterwards."""
        return await store.apply_customer_change(self.db, customer_id, change)

    @activity.defn
    async def remove_customer(self, customer_id: str) -> None:
        """WH-C5: the wholesale services go; the org and its users stay."""
        await store.remove_customer(self.db, customer_id)
